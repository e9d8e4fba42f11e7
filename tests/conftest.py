"""Fixtures: a migrated database, the real WSGI app, signed requests, logins.

The suite runs on SQLite by default and on PostgreSQL when
``JOBRUNNER_TEST_DATABASE_URL`` names a server (``bin/test`` starts a
throwaway one). Each xdist worker gets a database of its own; each test starts
from empty tables, and the app commits for real, so a test sees exactly what
a client would.
"""

import email
import os
import pathlib
import threading

import pytest
import sqlalchemy as sa
import waitress.server
import waitress.trigger
import webtest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from jobrunner import signing
from jobrunner.app import main
from jobrunner.db import Base, get_engine, get_session_factory, sqlite_pragmas
from tests import factories


ROOT = pathlib.Path(__file__).resolve().parent.parent
AUTH_SECRET = "test-auth-secret"


def pytest_report_header(config):
    url = os.environ.get("JOBRUNNER_TEST_DATABASE_URL")
    return f"database: {make_url(url).render_as_string() if url else 'sqlite'}"


def _database_url(tmp_path_factory, worker_id: str) -> str:
    server = os.environ.get("JOBRUNNER_TEST_DATABASE_URL")
    if not server:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    name = f"jobrunner_test_{worker_id}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id):
    return _database_url(tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def mail_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="session")
def app_settings(database_url, mail_dir):
    return {
        "sqlalchemy.url": database_url,
        "mail.debug_dir": str(mail_dir),
        "jobrunner.admin_addresses": "ops@example.com",
        "auth.secret": AUTH_SECRET,
        "retry.attempts": "3",
        "api.max_body_size": "65536",
        "runs.log_max_bytes": "16384",
        # Long polls in tests wait two seconds at most, whatever is asked.
        "runs.max_wait": "2",
    }


@pytest.fixture(scope="session")
def dbengine(app_settings):
    """The engine, with the schema built by the migration chain from empty."""
    engine = get_engine(app_settings)
    alembic_config = Config(str(ROOT / "development.ini"))
    alembic_config.set_main_option("script_location", str(ROOT / "alembic"))
    alembic_config.attributes["sqlalchemy.url"] = app_settings["sqlalchemy.url"]
    command.upgrade(alembic_config, "head")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def dialect(dbengine) -> str:
    return dbengine.dialect.name


@pytest.fixture(scope="session")
def wsgi_app(app_settings, dbengine):
    return main({}, dbengine=dbengine, **app_settings)


def _empty_tables(engine):
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(sa.text(f'DELETE FROM "{name}"'))


@pytest.fixture(scope="session")
def arrange_engine(dbengine):
    """The engine of the tests' own session.

    On SQLite it begins transactions lazily, unlike the application's, so a
    test that has just read something does not hold the write lock while the
    application answers its next request.
    """
    if dbengine.dialect.name != "sqlite":
        yield dbengine
        return
    engine = sa.create_engine(dbengine.url)
    sa.event.listen(engine, "connect", sqlite_pragmas)
    yield engine
    engine.dispose()


@pytest.fixture
def dbsession(dbengine, arrange_engine):
    """A plain session for arranging and checking data; tests commit it."""
    session = get_session_factory(arrange_engine)()
    yield session
    session.close()
    _empty_tables(dbengine)


@pytest.fixture
def mailbox(mail_dir):
    """The mails the application sent during the test, parsed."""
    for path in mail_dir.glob("*.eml"):
        path.unlink()

    def read():
        return [
            email.message_from_string(path.read_text())
            for path in sorted(mail_dir.glob("*.eml"))
        ]

    return read


@pytest.fixture
def factory(dbsession):
    return factories.Factory(dbsession)


@pytest.fixture
def testapp(wsgi_app, dbsession):
    return webtest.TestApp(wsgi_app, extra_environ={"HTTP_HOST": "localhost"})


@pytest.fixture
def live_server(wsgi_app):
    """The application served over real HTTP on a free loopback port."""
    server = waitress.server.create_server(
        wsgi_app, host="127.0.0.1", port=0, threads=12
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"

    def close_everything():
        # Every socket: the listener, keep-alive connections, the trigger.
        # The serving loop ends once none is left.
        for channel in list(server._map.values()):
            channel.close()

    # Run in the serving loop's own thread, through its trigger: closed from
    # this thread, a socket can vanish under the loop's select() (EBADF).
    try:
        server.trigger.pull_trigger(close_everything)
    except OSError:
        # The trigger's pipe is gone already. A new trigger joins the loop's
        # map, which the loop reads again within its timeout (a second).
        waitress.trigger.trigger(server._map).pull_trigger(close_everything)
    thread.join(timeout=5)
    if not thread.is_alive():
        # Whatever the loop left open (nothing, once the thunk ran) can be
        # closed from here now that no select() watches it.
        close_everything()
    server.task_dispatcher.shutdown(timeout=5)


class Signer:
    """Make HMAC-signed requests the way a worker daemon does."""

    def __init__(self, testapp, api_key, secret, header="Authorization"):
        self.testapp = testapp
        self.api_key = api_key
        self.secret = secret
        self.header = header

    def headers(self, method, full_path, body=b""):
        value = signing.authorization_header(
            self.api_key, self.secret, method, full_path, body
        )
        return {self.header: value}

    def request(self, method, full_path, body=b"", status=None, **kw):
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {**self.headers(method, full_path, body), **kw.pop("headers", {})}
        if body:
            headers.setdefault("Content-Type", "application/json")
        return self.testapp.request(
            full_path,
            method=method,
            body=body,
            headers=headers,
            # WebTest checks ``status`` only when errors are not expected.
            status=status,
            **kw,
        )

    def get(self, full_path, status=None, **kw):
        return self.request("GET", full_path, status=status, **kw)


@pytest.fixture
def sign(testapp):
    """``sign(credential)`` returns a signer for a worker or admin key."""

    def make(credential, header="Authorization"):
        return Signer(testapp, credential.api_key, credential.secret, header)

    return make


def login_with_form(testapp, username, password="secret-password"):
    """Log ``testapp`` in through the real login form, CSRF token and all."""
    form = testapp.get("/login").forms[0]
    form["username"] = username
    form["password"] = password
    return form.submit(status=303)


@pytest.fixture
def login(testapp):
    """``login(username, password)`` logs in through the real form."""

    def do_login(username, password="secret-password"):
        return login_with_form(testapp, username, password)

    return do_login


@pytest.fixture(scope="class")
def shared_factory(dbengine, arrange_engine):
    """A factory for data that every test of a class reads and none changes.

    Building the data once per class keeps long read-only matrices fast. Such
    tests must not ask for ``dbsession`` (nor ``factory``, ``testapp``,
    ``sign`` or ``login``), whose teardown empties the tables; they use
    ``shared_testapp`` instead.
    """
    session = get_session_factory(arrange_engine)()
    yield factories.Factory(session)
    session.close()
    _empty_tables(dbengine)


@pytest.fixture(scope="class")
def shared_world(shared_factory):
    """``Factory.world()``, built once for a class of read-only tests."""
    return shared_factory.world()


@pytest.fixture(scope="class")
def shared_login(wsgi_app, shared_factory):
    """``shared_login(username)``: a session cookie, logged in once per class.

    The first call for a username logs in through the real form; later tests
    of the class reuse the cookie with ``testapp.set_cookie``.
    """
    cookies = {}

    def cookie(username, password="secret-password"):
        if username not in cookies:
            app = webtest.TestApp(wsgi_app, extra_environ={"HTTP_HOST": "localhost"})
            login_with_form(app, username, password)
            cookies[username] = app.cookies["jobrunner_auth"]
        return cookies[username]

    return cookie


@pytest.fixture
def shared_testapp(wsgi_app, shared_factory):
    """A client without cookies over the data of ``shared_factory``."""
    return webtest.TestApp(wsgi_app, extra_environ={"HTTP_HOST": "localhost"})
