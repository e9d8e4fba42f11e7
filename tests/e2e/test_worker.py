"""The server and two ``jobrunner-worker`` processes, end to end.

Every job script appends its run id to a ledger file, so each test can check
that no run was executed twice, whatever happened in between.
"""

import datetime
import json
import os
import time

import pytest
import requests
from sqlalchemy import select

from jobrunner import signing
from jobrunner.jobs.models import Job, KillRequest, Run
from jobrunner.worker import __version__
from jobrunner.workers.models import Worker
from tests.e2e.conftest import LOG_MAX_BYTES, wait_for


pytestmark = pytest.mark.e2e

UTC = datetime.UTC


def now():
    return datetime.datetime.now(UTC)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def ledger(tmp_path):
    return tmp_path / "ledger"


def executions(ledger) -> list[int]:
    if not ledger.exists():
        return []
    return [int(line) for line in ledger.read_text().split()]


@pytest.fixture
def setup(factory, dbsession, ledger):
    """A pool with two workers, a project and a template that keeps the ledger."""
    pool = factory.pool(title="e2e")
    workers = [factory.worker(pools=[pool]) for _ in range(2)]
    project = factory.project(pools=[pool])
    template = factory.template(
        project,
        body=f'#!/bin/sh\necho "$JOBRUNNER_RUN_ID" >> {ledger}\n{{{{ content }}}}\n',
    )

    def job(content, **kw):
        return factory.job(template, pool, script_content_partial=content, **kw)

    def run(job, **kw):
        kw.setdefault("schedule_dts", now())
        kw.setdefault("is_manual", True)
        return factory.run(job, **kw).id

    yield {"pool": pool, "workers": workers, "job": job, "run": run}
    dbsession.rollback()


def test_runs_succeed_or_fail_exactly_once_across_two_workers(world, setup, ledger):
    ok = setup["job"]('sleep 0.5\necho "all good"')
    bad = setup["job"]('echo "it broke" >&2\nexit 3', disable_enqueue_after_fails=None)
    ok_runs = [setup["run"](ok) for _ in range(8)]
    bad_runs = [setup["run"](bad) for _ in range(2)]
    ok_id, bad_id = ok.id, bad.id

    for credential in setup["workers"]:
        world.start_worker(credential)
    views = [world.wait_returned(run_id) for run_id in ok_runs + bad_runs]

    assert sorted(executions(ledger)) == sorted(ok_runs + bad_runs)
    for view in views[:8]:
        assert view.state == "completed_successful"
        assert view.log == "all good\n"
        assert view.pid
    for view in views[8:]:
        assert view.state == "completed_with_errors"
        assert view.log == "it broke\n"
    assert {v.worker_id for v in views} == {w.id for w in setup["workers"]}
    jobs = world.query(lambda s: {j.id: j.fail_times for j in s.scalars(select(Job))})
    assert jobs == {ok_id: 0, bad_id: 2}
    heartbeats = world.query(
        lambda s: s.execute(
            select(
                Worker.ping_response_dts, Worker.worker_version, Worker.concurrent_jobs
            ).where(Worker.id.in_([w.id for w in setup["workers"]]))
        ).all()
    )
    assert all(row.ping_response_dts for row in heartbeats)
    assert {(row.worker_version, row.concurrent_jobs) for row in heartbeats} == {
        (__version__, 2)
    }
    for worker in world.workers:
        assert worker.stop() == 0
        assert "Traceback" not in worker.log()
        assert "WARNING" not in worker.log()


def test_big_output_is_shipped_whole_and_capped_by_the_server(world, setup):
    lines = 60000
    job = setup["job"](
        f"python3 -c \"for n in range({lines}): print(f'line {{n}} ' + 'x' * 30)\""
    )
    run_id = setup["run"](job)
    expected = "".join(f"line {n} " + "x" * 30 + "\n" for n in range(lines))

    world.start_worker(setup["workers"][0], log_max_bytes=16 * 1024 * 1024)
    view = world.wait_returned(run_id, timeout=20)

    assert view.return_success is True
    # Everything arrived once: the server counted every byte, and kept the
    # head and the tail with its marker between them.
    assert view.received_bytes == len(expected.encode())
    assert view.log.startswith("line 0 ")
    assert view.log.endswith(f"line {lines - 1} " + "x" * 30 + "\n")
    assert 0 < view.omitted_bytes < view.received_bytes
    assert len(view.log.encode()) <= LOG_MAX_BYTES


def test_a_long_run_is_killed_on_request(world, setup, factory, ledger):
    job = setup["job"]('echo "working"\nsleep 60\necho "never printed"')
    run_id = setup["run"](job)
    admin = factory.admin_key()
    world.start_worker(setup["workers"][0])
    world.start_worker(setup["workers"][1])
    wait_for(lambda: "working" in world.run(run_id).log, 15, "the run's output")

    body = json.dumps({"run": f"/api/job_runner/v1/run/{run_id}/"}).encode()
    path = "/api/job_runner/v1/kill_request/"
    header = signing.authorization_header(
        admin.api_key, admin.secret, "POST", path, body
    )
    answer = requests.post(
        world.server.url + path,
        data=body,
        headers={"Authorization": header, "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    began = time.monotonic()
    view = world.wait_returned(run_id)

    assert time.monotonic() - began < 8
    assert view.state == "completed_with_errors"
    assert "killed: kill request" in view.log
    assert "never printed" not in view.log
    kill = world.query(
        lambda s: s.execute(
            select(KillRequest.enqueue_dts, KillRequest.execute_dts)
        ).one()
    )
    assert kill.enqueue_dts is not None
    assert kill.execute_dts is not None
    assert executions(ledger) == [run_id]


def test_a_chain_runs_the_child_after_the_parent(world, setup, ledger):
    parent = setup["job"]('echo "parent"')
    child = setup["job"]('echo "child"', parent=parent)
    child_id = child.id
    run_id = setup["run"](parent)
    for credential in setup["workers"]:
        world.start_worker(credential)

    assert world.wait_returned(run_id).return_success is True
    child_runs = wait_for(lambda: world.runs_of(child_id), 10, "the child's run")
    child_view = world.wait_returned(child_runs[0].id)

    assert child_view.return_success is True
    assert child_view.log == "child\n"
    assert executions(ledger) == [run_id, child_view.id]


def test_a_worker_killed_mid_run_is_failed_by_the_monitor_and_rescheduled(
    world, setup, ledger
):
    job = setup["job"](
        'echo "started"\nsleep 60',
        reschedule_interval=1,
        reschedule_interval_type="HOUR",
    )
    job_id = job.id
    run_id = setup["run"](job, is_manual=False)
    workers = [world.start_worker(c) for c in setup["workers"]]
    wait_for(lambda: "started" in world.run(run_id).log, 15, "the run to start")
    holder = world.run(run_id).worker_id
    victim = next(w for w in workers if w.credential_id == holder)

    victim.kill()
    # Silent for monitor.ping_interval x monitor.silent_pings = 2 s.
    time.sleep(2.5)
    result = world.server.monitor_once()

    assert result.returncode == 0, result.stderr
    assert str(run_id) in result.stdout
    view = world.run(run_id)
    assert view.state == "completed_with_errors"
    assert f"worker {holder} sent no heartbeat" in view.log
    pending = [r for r in world.runs_of(job_id) if r.state == "scheduled"]
    assert len(pending) == 1
    next_due = world.query(lambda s: s.get(Run, pending[0].id).schedule_dts)
    assert now() < next_due <= now() + datetime.timedelta(hours=1)
    # The surviving worker neither ran it again nor touched it.
    time.sleep(1)
    assert executions(ledger) == [run_id]
    assert world.run(run_id).return_dts == view.return_dts


def test_the_result_survives_a_server_restart(world, setup, ledger, tmp_path):
    done = tmp_path / "done"
    job = setup["job"](f'echo "before"\nsleep 1.5\necho "after"\ntouch {done}')
    run_id = setup["run"](job)
    world.start_worker(setup["workers"][0])
    wait_for(lambda: "before" in world.run(run_id).log, 15, "the run's output")

    world.server.stop()
    wait_for(done.exists, 10, "the script to finish while the server is away")
    time.sleep(1)  # and the worker to try to report, and fail
    world.server.start()
    view = world.wait_returned(run_id, timeout=15)

    assert view.return_success is True
    assert view.log == "before\nafter\n"
    assert executions(ledger) == [run_id]


def test_sigterm_lets_the_run_finish(world, setup, ledger):
    job = setup["job"]('echo "slow"\nsleep 1\necho "finished"')
    run_id = setup["run"](job)
    worker = world.start_worker(setup["workers"][0])
    wait_for(lambda: "slow" in world.run(run_id).log, 15, "the run to start")

    assert worker.stop() == 0
    view = world.run(run_id)

    assert view.return_success is True
    assert view.log == "slow\nfinished\n"
    assert executions(ledger) == [run_id]
    assert list(world.scripts.iterdir()) == []


def test_a_restarted_worker_fails_the_runs_it_lost(world, setup, ledger):
    job = setup["job"]('echo "long"\nsleep 60')
    run_id = setup["run"](job)
    first = world.start_worker(setup["workers"][0], name="first")
    wait_for(lambda: "long" in world.run(run_id).log, 15, "the run to start")
    pid = world.run(run_id).pid

    first.kill()
    world.start_worker(setup["workers"][0], name="second")
    view = world.wait_returned(run_id)

    assert view.state == "completed_with_errors"
    assert "long\n" in view.log
    assert "the worker restarted" in view.log
    assert f"still running as pid {pid}, was killed" in view.log
    wait_for(lambda: gone(pid), 5, "the old script to be gone")


def test_the_monitor_console_script_runs(world):
    result = world.server.monitor_once()

    assert result.returncode == 0, result.stderr
