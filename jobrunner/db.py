"""Database plumbing: the declarative base, UTC datetimes, engines and sessions.

Every request gets one session joined to the request's transaction manager
(pyramid_tm), so a view never commits: the whole request commits or rolls back
as one unit.
"""

import datetime
import os

import zope.sqlalchemy
from sqlalchemy import Integer, MetaData, engine_from_config, event, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.types import DateTime, TypeDecorator


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model, with a constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={getattr(self, 'id', None)!r}>"


class Versioned:
    """A version number that every update increments.

    It is the object's ETag: an update that names an old version (If-Match)
    is refused, and two updates racing on one row cannot both win, because
    SQLAlchemy adds ``WHERE version = <old>`` to every UPDATE.
    """

    version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default="1"
    )

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored in UTC on every backend.

    SQLite has no time zone type, so values are normalised to UTC on the way in
    and get their UTC zone back on the way out; PostgreSQL stores timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(datetime.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


def utcnow() -> datetime.datetime:
    """Return the current time, aware and in UTC."""
    return datetime.datetime.now(datetime.UTC)


def sqlite_pragmas(dbapi_connection, connection_record=None):
    """Per-connection SQLite settings the application relies on."""
    # SQLite only enforces foreign keys when asked, per connection. The busy
    # timeout lets concurrent writers wait for the lock instead of failing, and
    # the write-ahead log lets readers go on while someone writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn):
    # pysqlite starts transactions lazily and only for writes, which lets two
    # writers read the same row before either locks it. BEGIN IMMEDIATE takes
    # the write lock up front, so SQLite serialises writers correctly.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(settings: dict, prefix: str = "sqlalchemy."):
    """Build the engine from ``sqlalchemy.*`` settings."""
    options = {}
    if make_url(settings[f"{prefix}url"]).get_backend_name() == "postgresql":
        timeout = settings.get("database.connect_timeout", 5)
        options["connect_args"] = {"connect_timeout": int(timeout)}
    engine = engine_from_config(settings, prefix, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection, connection_record):
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
    return engine


def get_session_factory(engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(session_factory, transaction_manager, request=None) -> Session:
    """Return a session joined to ``transaction_manager``.

    Scripts use it as::

        with transaction.manager as tm:
            dbsession = get_tm_session(session_factory, tm)
    """
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def includeme(config):
    """Set up pyramid_tm, pyramid_retry and ``request.dbsession``."""
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")
    config.include("pyramid_retry")

    # Tests hand in an engine (and a session) of their own through these hooks.
    dbengine = settings.get("dbengine") or get_engine(settings)
    # A server that forks its workers after loading the application (gunicorn
    # under pserve) must not share pooled connections across processes: each
    # child starts with an empty pool and leaves the parent's sockets alone.
    os.register_at_fork(after_in_child=lambda: dbengine.dispose(close=False))
    session_factory = get_session_factory(dbengine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["dbengine"] = dbengine

    def dbsession(request):
        session = request.environ.get("app.dbsession")
        if session is None:
            session = get_tm_session(session_factory, request.tm, request=request)
        return session

    config.add_request_method(dbsession, reify=True)
