"""Faults on PostgreSQL: a server SIGKILLed, PostgreSQL restarted, a worker killed.

Nothing here measures time: bounded waits only keep a broken test from
hanging, and a request that hangs fails by its client's timeout.
"""

import concurrent.futures
import datetime
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select

from jobrunner.db import get_engine, get_session_factory, utcnow
from jobrunner.jobs.models import Run, RunLog
from jobrunner.scripts import monitor as monitor_script
from tests import factories
from tests.functional.lifecycle_helpers import schedule_first_run
from tests.ops.servers import (
    API,
    ROOT,
    Client,
    ServerProcess,
    ThrowawayPostgres,
    postgresql_available,
    wait_for,
)


pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]


@pytest.fixture
def postgresql(dialect):
    if dialect != "postgresql":
        pytest.skip("row locks, SKIP LOCKED and server processes: PostgreSQL only")


# -- the server killed during a burst of reports -----------------------------------

JOBS = 60


@pytest.fixture
def claimed_runs(postgresql, factory, dbsession):
    """A worker and one claimed, started run for each of JOBS hourly jobs."""
    pool = factory.pool()
    worker = factory.worker(pools=[pool], ping_response_dts=utcnow())
    template = factory.template(factory.project(pools=[pool]))
    due = utcnow() - datetime.timedelta(minutes=1)
    runs = []
    for _ in range(JOBS):
        job = factory.job(
            template, pool, reschedule_interval=1, reschedule_interval_type="HOUR"
        )
        runs += schedule_first_run(dbsession, job, due)
    for run in runs:
        run.enqueue_dts = run.start_dts = due
        run.worker_id = worker.id
    dbsession.commit()
    return worker, [(run.id, run.job_id) for run in runs]


def _report(client, run_id, returned):
    # The same report every time, as a worker retrying after a timeout sends.
    return client.request(
        "PATCH",
        f"{API}/run/{run_id}/",
        {
            "return_dts": returned,
            "return_success": True,
            "return_log": f"output of {run_id}\n",
        },
    )


def _pending_job_ids(dbsession) -> set[int]:
    return set(
        dbsession.scalars(
            select(Run.job_id).where(
                Run.enqueue_dts.is_(None), Run.return_dts.is_(None)
            )
        )
    )


def test_a_server_killed_during_a_burst_of_reports_loses_no_acknowledged_report(
    claimed_runs, app_settings, dbsession, tmp_path
):
    worker, runs = claimed_runs
    returned = utcnow().isoformat()
    server = ServerProcess(app_settings, tmp_path / "server.log").wait_ready()
    client_of = threading.local()
    acknowledged, failed = set(), set()
    lock = threading.Lock()

    def send(run_id):
        if not hasattr(client_of, "client"):
            client_of.client = Client(server.url, worker, timeout=20)
        try:
            response = _report(client_of.client, run_id, returned)
        except requests.RequestException:
            with lock:
                failed.add(run_id)
            return
        with lock:
            (acknowledged if response.status_code == 202 else failed).add(run_id)
            if len(acknowledged) == JOBS // 3:
                # Mid-burst: the next reports are in flight or not sent yet.
                server.kill()

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(send, [run_id for run_id, _ in runs]))
    finally:
        server.stop()

    assert len(acknowledged) >= JOBS // 3
    assert failed, "the server was killed after the last report"
    dbsession.expire_all()
    stored = {
        run.id: run
        for run in dbsession.scalars(
            select(Run).where(Run.id.in_([run_id for run_id, _ in runs]))
        )
    }
    pending = _pending_job_ids(dbsession)
    for run_id, job_id in runs:
        run = stored[run_id]
        done = run.return_dts is not None
        if run_id in acknowledged:
            assert done, f"run {run_id} was acknowledged with 202 but is lost"
        # All of a report or none of it: the return, its log, the next run.
        assert (run.run_log is not None) == done
        assert (job_id in pending) == done
        if done:
            assert run.run_log.content == f"output of {run_id}\n"

    # The worker retries what was not acknowledged; a fresh server takes it.
    again = ServerProcess(app_settings, tmp_path / "server-again.log").wait_ready()
    try:
        client = Client(again.url, worker)
        statuses = {_report(client, run_id, returned).status_code for run_id in failed}
    finally:
        again.stop()
    assert statuses == {202}
    dbsession.expire_all()
    assert _pending_job_ids(dbsession) == {job_id for _, job_id in runs}


# -- PostgreSQL restarted under load ---------------------------------------------------


@pytest.fixture
def own_postgres(postgresql):
    """A PostgreSQL server for this test alone, migrated, with a worker and jobs."""
    if not postgresql_available():
        pytest.skip("no PostgreSQL binaries to start a server of our own")
    # Not under pytest's tmp_path: as root, the server runs as the postgres
    # user, who cannot enter pytest's private folders.
    pg = ThrowawayPostgres(pathlib.Path(tempfile.mkdtemp(prefix="jobrunner-restart-")))
    try:
        alembic = Config(str(ROOT / "development.ini"))
        alembic.set_main_option("script_location", str(ROOT / "alembic"))
        alembic.attributes["sqlalchemy.url"] = pg.url
        command.upgrade(alembic, "head")
        engine = get_engine({"sqlalchemy.url": pg.url})
        session = get_session_factory(engine)()
        factory = factories.Factory(session)
        pool = factory.pool()
        worker = factory.worker(pools=[pool], ping_response_dts=utcnow())
        admin = factory.admin_key()
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        session.execute(
            insert(Run),
            [
                {
                    "job_id": job.id,
                    "schedule_dts": utcnow(),
                    "is_manual": True,
                    "schedule_children": False,
                }
                for _ in range(500)
            ],
        )
        session.commit()
        session.close()
        engine.dispose()
        yield pg, worker, admin
    finally:
        pg.remove()


def test_postgresql_restarted_under_load_answers_503_then_recovers(
    own_postgres, app_settings, tmp_path
):
    pg, worker, admin = own_postgres
    settings = {
        **app_settings,
        "sqlalchemy.url": pg.url,
        # As production.ini: a pooled connection is checked before use.
        "sqlalchemy.pool_pre_ping": "true",
    }
    server = ServerProcess(settings, tmp_path / "server.log").wait_ready()
    answers = []  # (phase, path, status, Retry-After)
    phase = ["before"]
    stop = threading.Event()

    def load(credential, method, path, body=None):
        # A hang would raise a timeout here and fail the test.
        client = Client(server.url, credential, timeout=20)
        while not stop.is_set():
            response = client.request(method, path, body)
            answers.append(
                (
                    phase[0],
                    path,
                    response.status_code,
                    response.headers.get("Retry-After"),
                )
            )

    loads = [
        (admin, "GET", f"{API}/run/?limit=5"),
        (worker, "POST", f"{API}/run/claim/", {"limit": 1}),
        (admin, "GET", "/ready"),
    ]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(loads)) as pool:
            futures = [pool.submit(load, *spec) for spec in loads]
            wait_for(lambda: len(answers) > 30, "answers before the restart")
            pg.stop_server()
            phase[0] = "down"
            seen = len(answers)
            wait_for(lambda: len(answers) > seen + 30, "answers during the outage")
            pg.start_server()
            phase[0] = "back"
            wait_for(
                lambda: (
                    sum(1 for a in answers[seen:] if a[0] == "back" and a[2] == 200)
                    > 30
                ),
                "the application to recover by itself",
            )
            stop.set()
            for future in futures:
                future.result()
    finally:
        stop.set()
        server.stop()

    statuses = {status for _, _, status, _ in answers}
    assert statuses <= {200, 503}, statuses
    down = [a for a in answers if a[0] == "down"]
    assert any(status == 503 for _, _, status, _ in down)
    assert all(retry == "5" for _, _, status, retry in answers if status == 503)
    back_paths = {
        path for when, path, status, _ in answers if when == "back" and status == 200
    }
    assert back_paths == {path for _, _, path, *_ in loads}


# -- a worker killed mid-run --------------------------------------------------------

# A worker that claims one run, starts it, logs a line and then only sends
# heartbeats, until it is killed. Arguments: URL, API key, secret, worker id.
_WORKER = """
import os, sys, time
from tests.ops.servers import API, Client
url, api_key, secret, worker_id = sys.argv[1:]
class Credential:
    pass
Credential.api_key, Credential.secret = api_key, secret
client = Client(url, Credential)
run = client.request("POST", f"{API}/run/claim/", {"limit": 1}).json()["objects"][0]
now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
path = f"{API}/run/{run['id']}/"
client.request("PATCH", path, {"start_dts": now, "pid": os.getpid()})
client.request("POST", path + "log/", {"offset": 0, "content": "working\\n"})
print(run["id"], flush=True)
while True:
    client.request("PATCH", f"{API}/worker/{worker_id}/", {})
    time.sleep(0.1)
"""


def test_a_worker_killed_mid_run_is_failed_once_by_two_monitors_and_rescheduled(
    postgresql, factory, dbsession, app_settings, tmp_path
):
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(
        template, pool, reschedule_interval=1, reschedule_interval_type="HOUR"
    )
    schedule_first_run(dbsession, job, utcnow() - datetime.timedelta(minutes=1))
    server = ServerProcess(app_settings, tmp_path / "server.log").wait_ready()
    monitors = [
        monitor_script.Monitor(
            {
                **app_settings,
                "monitor.ping_interval": "0.2",
                "monitor.silent_pings": "2",
            }
        )
        for _ in range(2)
    ]
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WORKER,
            server.url,
            worker.api_key,
            worker.secret,
            str(worker.id),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    failed = []

    def both_monitors_pass():
        # Two monitors at once, as on two hosts: the run is failed only once.
        with concurrent.futures.ThreadPoolExecutor(2) as passes:
            results = list(passes.map(lambda duties: duties.run_once(), monitors))
        failed.extend(r for result in results for r in result["failed_runs"])
        return failed

    try:
        run_id = int(process.stdout.readline())
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for(both_monitors_pass, "a monitor to fail the run of the killed worker")
        both_monitors_pass()
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        for duties in monitors:
            duties.close()
        server.stop()

    assert failed == [run_id]
    dbsession.expire_all()
    run = dbsession.get(Run, run_id)
    assert run.return_success is False
    log = dbsession.scalar(select(RunLog.content).where(RunLog.run_id == run_id))
    assert log.startswith("working\n") and "sent no heartbeat" in log
    (next_run,) = dbsession.scalars(
        select(Run).where(Run.job_id == job.id, Run.return_dts.is_(None))
    ).all()
    assert next_run.schedule_dts > utcnow()
    assert next_run.enqueue_dts is None
