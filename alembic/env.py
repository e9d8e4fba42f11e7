"""Alembic environment: the database URL comes from the ini file or environment."""

from alembic import context
from sqlalchemy import pool

from jobrunner import models
from jobrunner.db import get_engine
from jobrunner.settings import load


config = context.config
target_metadata = models.Base.metadata


def _settings() -> dict:
    app_section = dict(config.get_section("app:main", {}))
    # Tests and scripts may hand over a URL directly.
    url = config.attributes.get("sqlalchemy.url")
    if url:
        app_section["sqlalchemy.url"] = url
    return load(app_section)


def run_migrations_offline() -> None:
    context.configure(
        url=_settings()["sqlalchemy.url"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = _settings()
    # A migration needs one connection. NullPool refuses the pool sizes that
    # production.ini gives the application, so they are left out here.
    for key in (
        "sqlalchemy.pool_size",
        "sqlalchemy.max_overflow",
        "sqlalchemy.pool_timeout",
        "sqlalchemy.pool_recycle",
    ):
        settings.pop(key, None)
    settings["sqlalchemy.poolclass"] = pool.NullPool
    engine = get_engine(settings)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
