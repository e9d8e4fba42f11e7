"""The migration chain builds exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from jobrunner.db import Base


# SQLite cannot reflect the expression in uq_run_pending_scheduled, so that
# index goes uncompared there; PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_migrated_database_matches_the_models(dbengine):
    with dbengine.connect() as connection:
        # SQLite stores by type affinity, whatever a column's declared type,
        # so only PostgreSQL's column types are worth comparing.
        postgresql = dbengine.dialect.name == "postgresql"
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": postgresql, "compare_server_default": False},
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
