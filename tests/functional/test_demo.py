"""The demo data that ``bin/serve`` plants: jobs with runs and a working worker."""

import configparser
import stat

import pytest
from sqlalchemy import select

from jobrunner.accounts.models import User
from jobrunner.jobs.models import Job, Run
from jobrunner.scripts import demo
from tests.conftest import Signer, login_with_form


API = "/api/job_runner/v1"


@pytest.fixture
def config_uri(tmp_path, database_url, mail_dir):
    """An ini file like development.ini, pointing at the test database."""
    path = tmp_path / "demo.ini"
    path.write_text(
        "[app:main]\n"
        "use = call:jobrunner.app:main\n"
        f"sqlalchemy.url = {database_url.replace('%', '%%')}\n"
        "auth.secret = demo-test-secret\n"
        f"mail.debug_dir = {mail_dir}\n"
    )
    return str(path)


def test_the_demo_has_scheduled_jobs_a_chain_and_a_worker_that_can_claim(
    config_uri, tmp_path, dbsession, testapp
):
    worker_ini = tmp_path / "var" / "worker.ini"

    assert demo.main([config_uri, str(worker_ini)]) == 0

    jobs = {job.title: job for job in dbsession.scalars(select(Job))}
    assert set(jobs) == {job["title"] for job in demo.JOBS} | {"After hello"}
    assert jobs["After hello"].parent_id == jobs["Say hello"].id
    pending = dbsession.scalars(select(Run.job_id)).all()
    assert sorted(pending) == sorted(jobs[j["title"]].id for j in demo.JOBS)
    assert stat.S_IMODE(worker_ini.stat().st_mode) == 0o600
    ini = configparser.ConfigParser()
    ini.read(worker_ini)
    worker = Signer(testapp, ini["worker"]["api_key"], ini["worker"]["secret"])
    listed = worker.get(f"{API}/run/?state=scheduled", status=200).json
    assert listed["meta"]["total_count"] == len(demo.JOBS)
    login_with_form(testapp, demo.DEMO_USERNAME, demo.DEMO_PASSWORD)
    assert "Say hello" in testapp.get("/", status=200).text


def test_running_it_again_changes_nothing(config_uri, tmp_path, dbsession):
    worker_ini = tmp_path / "worker.ini"
    demo.main([config_uri, str(worker_ini)])
    written = worker_ini.read_text()

    assert demo.main([config_uri, str(worker_ini)]) == 0

    assert dbsession.scalar(select(Job.id).where(Job.title == "Say hello"))
    assert len(dbsession.scalars(select(Job)).all()) == len(demo.JOBS) + 1
    assert len(dbsession.scalars(select(Run)).all()) == len(demo.JOBS)
    assert worker_ini.read_text() == written


def test_a_database_with_real_users_is_left_alone(
    config_uri, tmp_path, factory, dbsession
):
    factory.user(username="alice")

    with pytest.raises(SystemExit, match="real users"):
        demo.main([config_uri, str(tmp_path / "worker.ini")])

    assert dbsession.scalars(select(User.username)).all() == ["alice"]
    assert not (tmp_path / "worker.ini").exists()
