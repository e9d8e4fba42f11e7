"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Before merging a migration, check two things. Locks: an ALTER on the run table
locks it for as long as the change takes, so add indexes CONCURRENTLY (outside
the transaction) and columns without a volatile default. Compatibility: the
previous release keeps running during a deploy, so the schema must work for
both versions until the old one is gone.
"""

from alembic import op
import sqlalchemy as sa
import jobrunner.db
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
