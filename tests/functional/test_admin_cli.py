"""``jobrunner-admin CONFIG_URI SUBCOMMAND`` against the test database."""

import io
import json

import pytest
from sqlalchemy import select

from jobrunner.accounts.models import User
from jobrunner.scripts import admin
from tests.conftest import Signer, login_with_form


API = "/api/job_runner/v1"


@pytest.fixture
def config_uri(tmp_path, database_url):
    """An ini file like development.ini, pointing at the test database."""
    path = tmp_path / "admin.ini"
    path.write_text(
        "[app:main]\n"
        "use = call:jobrunner.app:main\n"
        f"sqlalchemy.url = {database_url.replace('%', '%%')}\n"
        "auth.secret = cli-test-secret\n"
    )
    return str(path)


@pytest.fixture
def run_admin(config_uri, dbsession):
    """Run the command line; return (exit status, printed JSON or None)."""

    def run(*argv, stdin=""):
        stdout = io.StringIO()
        status = admin.main(
            [config_uri, *argv], stdin=io.StringIO(stdin), stdout=stdout
        )
        lines = stdout.getvalue().splitlines()
        assert len(lines) == (1 if status == 0 else 0)
        return status, json.loads(lines[0]) if lines else None

    return run


def sign_as(testapp, printed):
    """Sign requests with the credentials the command printed."""
    return Signer(testapp, printed["api_key"], printed["secret"])


class TestCreateAdminKey:
    def test_prints_the_credentials_as_json(self, run_admin):
        status, printed = run_admin("create-admin-key", "deploys")

        assert status == 0
        assert set(printed) == {"id", "api_key", "secret"}
        assert printed["api_key"] and printed["secret"]

    def test_the_key_reads_everything(self, run_admin, factory, testapp):
        world = factory.world()
        _, printed = run_admin("create-admin-key", "deploys")
        signer = sign_as(testapp, printed)

        projects = signer.get(f"{API}/project/")

        assert signer.get(f"{API}/").status_int == 200
        assert [p["id"] for p in projects.json["objects"]] == [
            world["a"]["project"].id,
            world["b"]["project"].id,
        ]

    def test_every_key_is_new(self, run_admin):
        _, first = run_admin("create-admin-key", "one")
        _, second = run_admin("create-admin-key", "two")

        assert first["api_key"] != second["api_key"]
        assert first["secret"] != second["secret"]


class TestCreateWorker:
    def test_the_worker_authenticates_and_sees_its_pools(self, run_admin, testapp):
        status, printed = run_admin(
            "create-worker", "host-1", "--pool", "night", "--pool", "day"
        )
        signer = sign_as(testapp, printed)

        pools = signer.get(f"{API}/worker_pool/").json["objects"]
        itself = signer.get(f"{API}/worker/{printed['id']}/").json

        assert status == 0
        assert set(printed) == {"id", "api_key", "secret"}
        assert sorted(p["title"] for p in pools) == ["day", "night"]
        assert itself["title"] == "host-1"
        assert itself["api_key"] == printed["api_key"]
        assert printed["secret"] not in json.dumps(itself)

    def test_an_existing_pool_is_joined_not_duplicated(
        self, run_admin, factory, testapp
    ):
        pool = factory.pool(title="night")

        _, printed = run_admin("create-worker", "host-2", "--pool", "night")

        pools = sign_as(testapp, printed).get(f"{API}/worker_pool/").json["objects"]
        assert [p["id"] for p in pools] == [pool.id]

    def test_a_worker_without_a_pool_sees_nothing(self, run_admin, factory, testapp):
        factory.world()

        _, printed = run_admin("create-worker", "idle")

        runs = sign_as(testapp, printed).get(f"{API}/run/").json
        assert runs["objects"] == []


class TestCreateUserAndGroup:
    def test_a_user_logs_in_with_the_password_from_stdin(
        self, run_admin, factory, testapp
    ):
        world = factory.world()

        status, printed = run_admin(
            "create-user", "ann", "--group", "group-b", stdin="a long password\n"
        )
        login_with_form(testapp, "ann", "a long password")

        assert status == 0
        assert printed == {
            "id": printed["id"],
            "username": "ann",
            "groups": ["group-b"],
        }
        projects = testapp.get(f"{API}/project/").json["objects"]
        assert [p["id"] for p in projects] == [world["b"]["project"].id]

    def test_a_new_group_is_created_with_the_user(self, run_admin, dbsession):
        run_admin("create-user", "fay", "--group", "fresh", stdin="pw\n")

        user = dbsession.scalars(select(User).where(User.username == "fay")).one()

        assert [group.name for group in user.groups] == ["fresh"]
        assert user.is_superuser is False

    def test_superuser_makes_a_superuser(self, run_admin, dbsession):
        run_admin("create-user", "chief", "--superuser", stdin="pw\n")

        user = dbsession.scalars(select(User).where(User.username == "chief")).one()

        assert user.is_superuser is True
        assert user.is_active is True

    def test_a_group_is_created_once(self, run_admin):
        status, first = run_admin("create-group", "ops")
        _, again = run_admin("create-group", "ops")

        assert status == 0
        assert first == {"id": first["id"], "name": "ops"}
        assert again == first

    @pytest.mark.parametrize(
        ("stdin", "message"),
        [("\n", "the password is empty"), ("x" * 73 + "\n", "longer than 72 bytes")],
        ids=["empty", "too-long"],
    )
    def test_a_bad_password_is_refused(self, run_admin, capsys, stdin, message):
        status, printed = run_admin("create-user", "dan", stdin=stdin)

        assert status == 1
        assert printed is None
        assert message in capsys.readouterr().err

    def test_an_existing_username_is_refused_and_nothing_changes(
        self, run_admin, capsys, dbsession
    ):
        run_admin("create-user", "eve", stdin="first\n")
        before = dbsession.scalars(select(User.password_hash)).all()

        status, printed = run_admin("create-user", "eve", stdin="second\n")

        assert status == 1
        assert printed is None
        assert "exists already" in capsys.readouterr().err
        dbsession.rollback()
        assert dbsession.scalars(select(User.password_hash)).all() == before

    def test_an_unknown_subcommand_is_a_usage_error(self, run_admin, capsys):
        with pytest.raises(SystemExit) as exit_info:
            run_admin("create-nothing")

        assert exit_info.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
