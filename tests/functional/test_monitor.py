"""The monitor fails the runs of silent workers and reports silent pools."""

import concurrent.futures
import datetime
import json
import signal
import subprocess
import sys
import time

import pytest

from jobrunner.db import utcnow
from jobrunner.jobs.models import Run
from jobrunner.scripts import monitor as monitor_script
from tests.functional.lifecycle_helpers import pending_runs


API = "/api/job_runner/v1"
LONG_AGO = datetime.timedelta(hours=1)


@pytest.fixture
def monitor(app_settings):
    duties = monitor_script.Monitor(
        {**app_settings, "monitor.ping_interval": "10", "monitor.silent_pings": "3"}
    )
    yield duties
    duties.close()


@pytest.fixture
def setup(factory):
    pool = factory.pool(title="batch", notification_addresses=["pool@example.com"])
    silent = factory.worker(pools=[pool], ping_response_dts=utcnow() - LONG_AGO)
    alive = factory.worker(pools=[pool], ping_response_dts=utcnow())
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(
        template, pool, reschedule_interval=1, reschedule_interval_type="HOUR"
    )
    return {"pool": pool, "silent": silent, "alive": alive, "job": job}


def _active_run(factory, job, worker, claimed_ago=LONG_AGO, **kw):
    return factory.run(
        job,
        "started",
        worker=worker,
        schedule_dts=utcnow() - claimed_ago,
        enqueue_dts=utcnow() - claimed_ago,
        start_dts=utcnow() - claimed_ago,
        **kw,
    )


def test_a_silent_workers_run_is_failed_and_the_job_rescheduled(
    setup, factory, dbsession, monitor, mailbox
):
    run = _active_run(factory, setup["job"], setup["silent"])
    factory.run_log(run, "partial output\n")

    result = monitor.run_once()

    assert result["failed_runs"] == [run.id]
    dbsession.expire_all()
    failed = dbsession.get(Run, run.id)
    assert failed.return_success is False
    assert failed.return_dts is not None
    assert failed.run_log.content.startswith("partial output\n")
    assert "sent no heartbeat" in failed.run_log.content
    (next_run,) = pending_runs(dbsession, setup["job"])
    assert next_run.schedule_dts > utcnow()
    assert any(f"Run {run.id}" in m["Subject"] for m in mailbox())


def test_runs_of_responsive_workers_and_fresh_claims_are_left_alone(
    setup, factory, dbsession, monitor
):
    busy = _active_run(factory, setup["job"], setup["alive"], is_manual=True)
    fresh = _active_run(
        factory,
        setup["job"],
        setup["silent"],
        is_manual=True,
        claimed_ago=datetime.timedelta(seconds=5),
    )

    result = monitor.run_once()

    assert result["failed_runs"] == []
    dbsession.expire_all()
    assert dbsession.get(Run, busy.id).return_dts is None
    assert dbsession.get(Run, fresh.id).return_dts is None


def test_a_run_meant_for_a_silent_worker_is_failed_and_its_siblings_go_on(
    setup, factory, dbsession, monitor
):
    job = factory.job(
        setup["job"].job_template,
        setup["pool"],
        run_on_all_workers=True,
        reschedule_interval=1,
        reschedule_interval_type="HOUR",
    )
    due = utcnow() - LONG_AGO
    schedule = "all-workers-1"
    meant_for_silent = factory.run(
        job, worker=setup["silent"], schedule_id=schedule, schedule_dts=due
    )
    done = factory.run(
        job,
        "completed_successful",
        worker=setup["alive"],
        schedule_id=schedule,
        schedule_dts=due,
        return_dts=utcnow(),
    )
    not_yet_due = factory.run(
        setup["job"], worker=setup["silent"], is_manual=True, schedule_dts=utcnow()
    )

    result = monitor.run_once()

    assert result["failed_runs"] == [meant_for_silent.id]
    dbsession.expire_all()
    failed = dbsession.get(Run, meant_for_silent.id)
    assert failed.return_success is False and failed.start_dts is None
    assert "meant for it" in failed.run_log.content
    assert dbsession.get(Run, not_yet_due.id).return_dts is None
    # The occurrence is over, so the job has its next one, for both workers.
    later = [r for r in pending_runs(dbsession, job) if r.id not in (done.id,)]
    assert {r.worker_id for r in later} == {setup["silent"].id, setup["alive"].id}
    assert all(r.schedule_dts > utcnow() for r in later)


def test_a_pool_whose_workers_are_all_silent_is_reported_once(
    setup, dbsession, monitor, mailbox
):
    setup["alive"].ping_response_dts = utcnow() - LONG_AGO
    dbsession.commit()

    first = monitor.run_once()
    second = monitor.run_once()

    assert first["silent_pools"] == [setup["pool"].id]
    assert second["silent_pools"] == []
    mails = [m for m in mailbox() if "not responding" in m["Subject"]]
    assert len(mails) == 1
    assert "pool@example.com" in mails[0]["To"]


def test_a_pass_that_leaves_pools_unjudged_reports_none_and_tells_nobody(
    setup, dbsession, monitor, mailbox
):
    setup["alive"].ping_response_dts = utcnow() - LONG_AGO
    dbsession.commit()

    starting = monitor.run_once(report_pools=False)
    later = monitor.run_once()

    assert starting["silent_pools"] == []
    assert later["silent_pools"] == [setup["pool"].id]
    assert len([m for m in mailbox() if "not responding" in m["Subject"]]) == 1


def test_a_pool_is_reported_again_after_it_recovered_and_fell_silent(
    setup, dbsession, monitor
):
    setup["alive"].ping_response_dts = utcnow() - LONG_AGO
    dbsession.commit()
    monitor.run_once()
    setup["alive"].ping_response_dts = utcnow()
    dbsession.commit()
    monitor.run_once()
    setup["alive"].ping_response_dts = utcnow() - LONG_AGO
    dbsession.commit()

    result = monitor.run_once()

    assert result["silent_pools"] == [setup["pool"].id]


def test_concurrent_monitors_fail_each_run_once(
    setup, factory, dbsession, app_settings
):
    runs = [
        _active_run(factory, setup["job"], setup["silent"], is_manual=True)
        for _ in range(30)
    ]
    monitors = [
        monitor_script.Monitor({**app_settings, "monitor.ping_interval": "10"})
        for _ in range(3)
    ]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda m: m.run_once(), monitors))
    for duties in monitors:
        duties.close()

    failed = [run_id for result in results for run_id in result["failed_runs"]]
    assert sorted(failed) == sorted(run.id for run in runs)


@pytest.fixture
def monitor_ini(app_settings, tmp_path):
    """``monitor_ini(extra)``: an ini file for the command, on the test database."""

    def write(extra: str = ""):
        ini = tmp_path / "monitor.ini"
        ini.write_text(
            "[app:main]\nuse = egg:jobrunner\n"
            f"sqlalchemy.url = {app_settings['sqlalchemy.url']}\n"
            f"mail.debug_dir = {app_settings['mail.debug_dir']}\n"
            "monitor.ping_interval = 10\n" + extra
        )
        return ini

    return write


def test_the_command_runs_once_in_a_process_of_its_own(monitor_ini, setup, factory):
    ini = monitor_ini()
    run = _active_run(factory, setup["job"], setup["silent"])

    # A process of its own imports only what the command imports, as in
    # production, so a model it forgets to load shows here.
    done = subprocess.run(
        [sys.executable, "-m", "jobrunner.scripts.monitor", str(ini), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert str(run.id) in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_loops_until_a_signal_stops_it(
    monitor_ini, setup, factory, dbsession, signum
):
    ini = monitor_ini("monitor.interval = 0.2\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "jobrunner.scripts.monitor", str(ini)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Arranged after the start: the run is failed by a later pass.
        first = _active_run(factory, setup["job"], setup["silent"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dbsession.expire_all()
            if dbsession.get(Run, first.id).return_dts is not None:
                break
            time.sleep(0.1)
    finally:
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert dbsession.get(Run, first.id).return_success is False
    assert f"run {first.id} of silent worker" in err


# Heartbeats are timed by the server's clock, whatever the worker's says.
@pytest.mark.parametrize(
    "skew", [-datetime.timedelta(minutes=4), datetime.timedelta(minutes=6)]
)
def test_a_worker_with_a_wrong_clock_stays_alive_and_keeps_its_runs(
    factory, sign, monitor, skew, caplog
):
    pool = factory.pool()
    worker = factory.worker(pools=[pool], ping_response_dts=utcnow() - skew)
    job = factory.job(factory.template(factory.project(pools=[pool])), pool)
    factory.run(job, "started", worker=worker)
    before = utcnow()

    response = sign(worker).request(
        "PATCH",
        f"{API}/worker/{worker.id}/",
        json.dumps({"ping_response_dts": (utcnow() + skew).isoformat()}),
        status=202,
    )
    result = monitor.run_once()

    stored = datetime.datetime.fromisoformat(response.json["ping_response_dts"])
    assert before <= stored <= utcnow()
    assert result == {"failed_runs": [], "silent_pools": []}
    assert "clock is" in caplog.text
