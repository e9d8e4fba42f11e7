"""log byte counts in 64 bits

Revision ID: 5b0d2e7a9c31
Revises: 1c917a6b74ff
Create Date: 2026-12-04 05:10:00

Locks: widening an integer column rewrites run_log on PostgreSQL, under an
exclusive lock for as long as that takes (seconds per million logs); run it
while the workers are quiet, or after pruning. Compatibility: the previous
release reads and writes the wider columns unchanged.
"""

from alembic import op
import sqlalchemy as sa


revision = "5b0d2e7a9c31"
down_revision = "1c917a6b74ff"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    # SQLite's integers are 64-bit whatever the column says; rebuilding the
    # table (its only way to alter a column) would gain nothing.
    return op.get_bind().dialect.name == "sqlite"


def _retype(old, new) -> None:
    if _sqlite():
        return
    with op.batch_alter_table("run_log") as batch_op:
        for column in ("received_bytes", "omitted_bytes"):
            batch_op.alter_column(
                column,
                existing_type=old,
                type_=new,
                existing_nullable=False,
                existing_server_default="0",
            )


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
