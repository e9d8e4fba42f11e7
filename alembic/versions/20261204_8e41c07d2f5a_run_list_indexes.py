"""indexes for every run list

Revision ID: 8e41c07d2f5a
Revises: 5b0d2e7a9c31
Create Date: 2026-12-04 06:45:00

Locks: on PostgreSQL the indexes are built CONCURRENTLY, outside the
migration's transaction, so workers keep claiming and reporting while they
are built (a few seconds per million runs). If a build is interrupted it
leaves an invalid index behind: drop it and run the upgrade again.
Compatibility: the previous release runs unchanged beside these indexes.
"""

from alembic import op


revision = "8e41c07d2f5a"
down_revision = "5b0d2e7a9c31"
branch_labels = None
depends_on = None


INDEXES = {
    "ix_run_schedule_dts": ["schedule_dts", "id"],
    "ix_run_enqueue_dts": ["enqueue_dts"],
    "ix_run_start_dts": ["start_dts"],
    "ix_run_worker_schedule_dts": ["worker_id", "schedule_dts"],
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            op.create_index(
                name,
                "run",
                columns,
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.drop_index(
                name, table_name="run", postgresql_concurrently=True, if_exists=True
            )
