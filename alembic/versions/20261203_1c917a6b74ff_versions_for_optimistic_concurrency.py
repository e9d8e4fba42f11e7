"""versions for optimistic concurrency

Revision ID: 1c917a6b74ff
Revises: 12c2b65e84b4
Create Date: 2026-12-03 19:47:20.292984

Before merging a migration, check two things. Locks: an ALTER on the run table
locks it for as long as the change takes, so add indexes CONCURRENTLY (outside
the transaction) and columns without a volatile default. Compatibility: the
previous release keeps running during a deploy, so the schema must work for
both versions until the old one is gone.
"""

from alembic import op
import sqlalchemy as sa
import jobrunner.db


revision = '1c917a6b74ff'
down_revision = '12c2b65e84b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('account_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('job_template', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('reschedule_exclude', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('worker_pool', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('worker_pool', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('reschedule_exclude', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('job_template', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('account_user', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('account_group', schema=None) as batch_op:
        batch_op.drop_column('version')

