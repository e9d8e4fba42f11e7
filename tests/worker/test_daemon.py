"""The daemon against the fake server: claim, run, ship, report, kill, stop."""

import datetime
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from jobrunner.worker import __version__, outbox
from jobrunner.worker.daemon import main


def returned(run):
    return lambda: run.return_dts is not None


def started(run):
    return lambda: run.start_dts is not None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestRunning:
    def test_a_successful_run(self, fake, run_daemon, worker_id):
        job = fake.add_job("#!/bin/sh\necho hello\necho world >&2\n", title="greet")
        run = fake.add_run(job)

        daemon = run_daemon()
        fake.wait_for(returned(run), what="the result")

        assert run.return_success is True
        assert run.worker_id == worker_id
        assert run.enqueue_dts <= run.start_dts <= run.return_dts
        assert run.pid and run.pid != os.getpid()
        assert run.log == b"hello\nworld\n"
        start, *_, final = run.reports
        assert set(start) == {"start_dts", "pid"}
        assert set(final) == {"return_dts", "return_success"}  # the log went live
        assert daemon.stop() == 0
        assert list(os.scandir(daemon.daemon.config.script_temp_path)) == []

    def test_a_failing_run(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho oops\nexit 3\n"))

        run_daemon()
        fake.wait_for(returned(run))

        assert run.return_success is False
        assert run.log == b"oops\n"

    def test_a_script_that_cannot_start_is_reported_failed(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/no/such/interpreter\n"))

        run_daemon()
        fake.wait_for(returned(run))

        assert run.return_success is False
        assert b"cannot start the script" in run.log

    def test_an_unwritable_script_folder_fails_the_run(
        self, fake, run_daemon, tmp_path
    ):
        run = fake.add_run(fake.add_job())

        run_daemon(script_temp_path=str(tmp_path / "missing"))
        fake.wait_for(returned(run))

        assert run.return_success is False
        assert b"cannot write the script" in run.log

    def test_output_is_shipped_while_the_run_goes(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho early\nsleep 3\necho late\n"))

        run_daemon()
        fake.wait_for(lambda: run.log == b"early\n", what="early output")
        assert run.return_dts is None
        fake.wait_for(returned(run))

        assert run.log == b"early\nlate\n"

    def test_big_output_arrives_whole_and_in_order(self, fake, run_daemon):
        script = (
            "#!/usr/bin/env python3\n"
            "for n in range(40000):\n"
            "    print(f'line {n} ' + '€' * 5)\n"
        )
        run = fake.add_run(fake.add_job(script))
        fake.max_body = 20000  # the worker halves its chunks on 413

        run_daemon(log_max_bytes=16 * 1024 * 1024)
        fake.wait_for(returned(run), timeout=30)

        expected = "".join(f"line {n} " + "€" * 5 + "\n" for n in range(40000))
        assert run.log.decode() == expected
        assert run.return_success is True

    def test_output_beyond_the_buffer_is_dropped_with_a_marker(
        self, fake, run_daemon, tmp_path
    ):
        done = tmp_path / "done"
        script = (
            "#!/usr/bin/env python3\nimport pathlib\n"
            "for n in range(200000):\n    print(n)\n"
            f"pathlib.Path('{done}').touch()\n"
        )
        run = fake.add_run(fake.add_job(script))
        fake.fail("POST", r"/log/", times=10**6)  # the server takes no log

        run_daemon(log_max_bytes=64 * 1024, log_chunk_bytes=8 * 1024)
        fake.wait_for(done.exists, timeout=20, what="the script to finish")
        fake.faults.clear()
        fake.wait_for(returned(run), timeout=30)

        text = run.log.decode()
        assert re.search(r"\[jobrunner-worker: \d+ bytes of output dropped here", text)
        assert text.endswith("199998\n199999\n")
        # The buffer's bound, plus at most what was still in the pipe.
        assert len(run.log) < 64 * 1024 + 64 * 1024 + 1024

    def test_concurrency_is_limited(self, fake, run_daemon):
        job = fake.add_job("#!/bin/sh\nsleep 0.5\n")
        runs = [fake.add_run(job) for _ in range(5)]

        run_daemon(concurrent_jobs=2)
        for run in runs:
            fake.wait_for(returned(run), timeout=20)

        assert fake.peak_running == 2
        assert all(r.return_success for r in runs)

    def test_long_polling(self, fake, run_daemon):
        daemon = run_daemon(claim_wait=2)
        fake.wait_for(lambda: fake.calls("POST", r"/run/claim/"), what="a claim")

        run = fake.add_run(fake.add_job())
        fake.wait_for(returned(run))

        assert fake.calls("POST", r"/run/claim/")[0][2] == {"limit": 2, "wait": 2}
        began = time.monotonic()
        daemon.stop()
        assert time.monotonic() - began < 5

    def test_a_run_due_later_waits(self, fake, run_daemon):
        later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1.5)
        run = fake.add_run(fake.add_job(), schedule_dts=later)

        run_daemon()
        fake.wait_for(returned(run))

        assert run.enqueue_dts >= later

    def test_the_server_clock_ahead_does_not_break_the_order(self, fake, run_daemon):
        fake.clock_skew = datetime.timedelta(seconds=30)
        run = fake.add_run(fake.add_job())

        run_daemon()
        fake.wait_for(returned(run))

        assert run.enqueue_dts <= run.start_dts <= run.return_dts
        assert run.return_success is True

    def test_the_script_gets_the_run_but_not_the_secret(
        self, fake, run_daemon, monkeypatch
    ):
        monkeypatch.setenv("JOBRUNNER_WORKER_SECRET", "hush")
        run = fake.add_run(
            fake.add_job(
                "#!/bin/sh\necho run=$JOBRUNNER_RUN_ID "
                "secret=$JOBRUNNER_WORKER_SECRET\n"
            )
        )

        run_daemon()
        fake.wait_for(returned(run))

        assert run.log == f"run={run.id} secret=\n".encode()

    def test_heartbeats(self, fake, run_daemon, worker_id):
        run_daemon(concurrent_jobs=3)
        fake.wait_for(lambda: fake.workers[worker_id]["heartbeats"] >= 2)

        worker = fake.workers[worker_id]
        assert worker["worker_version"] == __version__
        assert worker["concurrent_jobs"] == 3
        assert worker["ping_response_dts"]


class TestFaults:
    def test_the_result_is_reported_once_the_server_is_back(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho done\n"))
        fake.fail("PATCH", rf"/run/{run.id}/$", times=30, status=503, after=False)
        fake.fail("POST", r"/log/", times=30, drop=True)
        # The start report gets through; then the server goes away.
        fake.faults[0].times = 0

        run_daemon()
        fake.wait_for(started(run))
        fake.faults[0].times = 30
        fake.wait_for(returned(run), timeout=20)

        assert run.return_success is True
        assert run.log == b"done\n"
        assert fake.faults[0].times == 0 and fake.faults[1].times == 0

    def test_a_log_append_taken_but_unanswered_is_not_doubled(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho one\nsleep 0.5\necho two\n"))
        fake.fail("POST", r"/log/", times=2, drop=True, after=True)

        run_daemon()
        fake.wait_for(returned(run))

        assert run.log == b"one\ntwo\n"

    def test_a_server_failing_every_append_still_gets_the_result(
        self, fake, run_daemon
    ):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho lost\n"))
        failing = fake.fail("POST", r"/log/$", times=10**6, status=500)

        run_daemon()
        fake.wait_for(returned(run), timeout=20)

        assert run.return_success is True
        # The appends were tried, and given up after a bounded number of tries.
        assert 0 < 10**6 - failing.times < 100

    def test_a_lost_claim_answer_is_recovered(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho adopted\n"))
        fake.fail("POST", r"/run/claim/", drop=True, after=True)

        run_daemon()
        fake.wait_for(returned(run))

        assert run.return_success is True
        assert run.log == b"adopted\n"
        assert [r for r in run.reports if "start_dts" in r][0]["pid"]

    def test_a_run_left_in_queue_is_not_adopted_twice(self, fake, run_daemon, tmp_path):
        ledger = tmp_path / "ledger"
        job = fake.add_job(f"#!/bin/sh\necho $JOBRUNNER_RUN_ID >> {ledger}\n")
        first = fake.add_run(job)
        # The claim's answer is lost, and the server refuses every report of
        # the run, so it stays in_queue for this worker.
        fake.fail("POST", r"/run/claim/", drop=True, after=True)
        fake.fail("PATCH", rf"/run/{first.id}/$", status=400, times=10**6)

        run_daemon()
        fake.wait_for(lambda: ledger.exists(), what="the first run")
        second = fake.add_run(job)
        fake.fail("POST", r"/run/claim/", drop=True, after=True)
        fake.wait_for(returned(second))
        time.sleep(0.5)

        assert ledger.read_text().split() == [str(first.id), str(second.id)]
        assert first.state == "in_queue"

    def test_a_409_on_start_kills_the_script(self, fake, run_daemon, tmp_path):
        marker = tmp_path / "ran-on"
        run = fake.add_run(fake.add_job(f"#!/bin/sh\nsleep 2\ntouch {marker}\n"))
        fake.fail("PATCH", rf"/run/{run.id}/$", status=409)

        run_daemon()
        fake.wait_for(returned(run))
        time.sleep(2.5)

        assert run.return_success is False
        assert b"the server no longer expects this run" in run.log
        assert not marker.exists()

    def test_an_unknown_key_stops_the_daemon(self, fake, make_config):
        from jobrunner.worker.daemon import Daemon

        status = Daemon(make_config(secret="wrong")).run()

        assert status == 1


class TestOlderServer:
    def test_seed_era_claiming(self, fake, run_daemon, worker_id):
        fake.claim_endpoint = False
        run = fake.add_run(fake.add_job("#!/bin/sh\necho seed\n", title="old"))

        run_daemon()
        fake.wait_for(returned(run))

        assert run.return_success is True
        assert run.worker_id == worker_id
        assert len(fake.calls("POST", r"/run/claim/")) == 1
        patches = fake.calls("PATCH", rf"/run/{run.id}/")
        assert set(patches[0][2]) == {"enqueue_dts"}
        assert fake.calls("GET", rf"/job/{run.job_id}/")

    def test_seed_era_409_means_someone_else_has_it(self, fake, run_daemon):
        fake.claim_endpoint = False
        job = fake.add_job()
        taken = fake.add_run(job)
        fake.stolen.add(taken.id)
        mine = fake.add_run(job)

        run_daemon()
        fake.wait_for(returned(mine))
        time.sleep(0.5)

        assert taken.worker_id == 999
        assert taken.start_dts is None
        assert fake.calls("GET", rf"/job/{job}/")  # only for the run it got

    def test_seed_era_409_after_a_lost_answer_is_ours(self, fake, run_daemon):
        fake.claim_endpoint = False
        run = fake.add_run(fake.add_job("#!/bin/sh\necho mine\n"))
        fake.fail("PATCH", rf"/run/{run.id}/$", drop=True, after=True)

        run_daemon()
        fake.wait_for(returned(run))

        assert run.return_success is True
        assert run.log == b"mine\n"

    def test_a_seed_era_claim_applied_while_the_server_went_away_is_run(
        self, fake, run_daemon, worker_id
    ):
        fake.claim_endpoint = False
        run = fake.add_run(fake.add_job("#!/bin/sh\necho recovered\n"))
        # The first PATCH of enqueue_dts is applied but its answer is lost;
        # then the server is away for every remaining try of that request.
        fake.fail("PATCH", rf"/run/{run.id}/$", drop=True, after=True)
        fake.fail("PATCH", rf"/run/{run.id}/$", times=4, drop=True)

        run_daemon()
        fake.wait_for(returned(run), timeout=20)

        assert run.worker_id == worker_id
        assert run.return_success is True
        assert run.log == b"recovered\n"

    def test_without_a_log_endpoint_the_log_goes_with_the_result(
        self, fake, run_daemon
    ):
        fake.log_endpoint = False
        run = fake.add_run(fake.add_job("#!/bin/sh\necho all at once\n"))

        run_daemon()
        fake.wait_for(returned(run))

        assert run.reports[-1]["return_log"] == "all at once\n"
        assert run.log == b"all at once\n"


class TestKill:
    def test_a_kill_request_ends_the_run(self, fake, run_daemon, tmp_path):
        pidfile = tmp_path / "child.pid"
        script = f"#!/bin/sh\necho working\nsleep 60 &\necho $! > {pidfile}\nwait\n"
        run = fake.add_run(fake.add_job(script))
        earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        other = fake.add_run(
            fake.add_job(),
            worker_id=999,
            schedule_dts=earlier,
            enqueue_dts=earlier,
            start_dts=earlier,
        )

        run_daemon(kill_grace_period=2)
        fake.wait_for(lambda: b"working" in run.log)
        unrelated = fake.add_kill_request(other.id)
        kill_id = fake.add_kill_request(run.id)
        fake.wait_for(returned(run))

        assert run.return_success is False
        text = run.log.decode()
        assert f"killed: kill request {kill_id}" in text
        assert "SIGTERM" in text
        request = fake.kill_requests[kill_id]
        assert request["enqueue_dts"] <= request["execute_dts"]
        assert fake.kill_requests[unrelated]["enqueue_dts"] is None
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)


class TestStartAndStop:
    def test_left_over_runs_are_reported_failed(self, fake, run_daemon, worker_id):
        job = fake.add_job()
        earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        queued = fake.add_run(
            job, enqueue_dts=earlier, worker_id=worker_id, schedule_dts=earlier
        )
        going = fake.add_run(
            job,
            enqueue_dts=earlier,
            start_dts=earlier,
            worker_id=worker_id,
            schedule_dts=earlier,
            pid=1,
        )
        going.log = b"partial output\n"
        others = fake.add_run(
            job, enqueue_dts=earlier, worker_id=999, schedule_dts=earlier
        )

        run_daemon()
        fake.wait_for(lambda: returned(queued)() and returned(going)())

        for run in (queued, going):
            assert run.return_success is False
            assert b"the worker restarted" in run.log
            assert run.enqueue_dts <= run.start_dts <= run.return_dts
        assert going.log.startswith(b"partial output\n")
        assert going.start_dts == earlier
        assert others.start_dts is None
        assert [set(r) for r in queued.reports] == [
            {"start_dts"},
            {"return_dts", "return_success"},
        ]

    def test_left_over_script_still_running_is_killed(
        self, fake, run_daemon, worker_id, tmp_path
    ):
        from jobrunner.worker.runner import write_script

        earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        run = fake.add_run(
            fake.add_job(),
            enqueue_dts=earlier,
            start_dts=earlier,
            worker_id=worker_id,
            schedule_dts=earlier,
        )
        path = write_script(str(tmp_path), run.id, "#!/bin/sh\nsleep 60\n")
        orphan = subprocess.Popen([path], start_new_session=True)
        run.pid = orphan.pid
        # A process that is not the run's script, even with the run's pid
        # recorded, is never killed; see the check of its command line.
        bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
        decoy = fake.add_run(
            fake.add_job(),
            enqueue_dts=earlier,
            start_dts=earlier,
            worker_id=worker_id,
            schedule_dts=earlier,
            pid=bystander.pid,
        )

        try:
            run_daemon()
            fake.wait_for(lambda: returned(run)() and returned(decoy)())

            assert orphan.wait(5) == -9
            assert bystander.poll() is None
            assert b"was killed" in run.log
            assert b"was killed" not in decoy.log
        finally:
            bystander.kill()
            bystander.wait()
            orphan.kill()
            orphan.wait()

    def test_stop_lets_running_scripts_finish(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\nsleep 1\necho finished\n"))
        daemon = run_daemon()
        fake.wait_for(started(run))

        status = daemon.stop()

        assert status == 0
        assert run.return_success is True
        assert run.log == b"finished\n"

    def test_stop_after_the_grace_period_kills_and_reports(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho begun\nsleep 60\n"))
        daemon = run_daemon(shutdown_grace_period=0.5, kill_grace_period=0.5)
        fake.wait_for(lambda: b"begun" in run.log)

        began = time.monotonic()
        daemon.stop()

        assert time.monotonic() - began < 5
        assert run.return_success is False
        assert b"killed: the worker shut down" in run.log

    def test_no_claims_after_stop(self, fake, run_daemon):
        daemon = run_daemon()
        fake.wait_for(lambda: fake.calls("POST", r"/run/claim/"))
        daemon.stop()

        run = fake.add_run(fake.add_job())
        time.sleep(0.3)

        assert run.enqueue_dts is None

    def test_a_result_undelivered_at_stop_is_reported_by_the_next_start(
        self, fake, run_daemon, tmp_path
    ):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho done\n"))
        reports = fake.fail("PATCH", rf"/run/{run.id}/$", times=0, status=503)
        appends = fake.fail("POST", r"/log/", times=10**6, drop=True)
        first = run_daemon(shutdown_grace_period=0.2, shutdown_report_timeout=0.5)
        fake.wait_for(started(run))
        # The server goes away before the result and the log reach it.
        reports.times = 10**6
        fake.wait_for(lambda: appends.times < 10**6 - 5)

        first.stop()
        kept = list(tmp_path.glob("jobrunner-worker-*.results.json"))
        fake.faults.clear()
        second = run_daemon()
        fake.wait_for(returned(run))
        second.stop()

        assert len(kept) == 1
        assert run.return_success is True
        assert run.log == b"done\n"
        assert b"the worker restarted" not in run.log
        assert run.start_dts <= run.return_dts
        assert not kept[0].exists()

    def test_a_kept_result_the_server_no_longer_expects_is_dropped(
        self, fake, run_daemon, tmp_path, worker_id
    ):
        earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        # The monitor failed it while the worker was away.
        closed = fake.add_run(
            fake.add_job(),
            worker_id=worker_id,
            schedule_dts=earlier,
            enqueue_dts=earlier,
            start_dts=earlier,
            return_dts=earlier,
            return_success=False,
        )
        path = outbox.path_for(str(tmp_path), "key-1")
        outbox.save(
            path,
            [
                {
                    "run_id": closed.id,
                    "resource_uri": f"/api/job_runner/v1/run/{closed.id}/",
                    "start": None,
                    "log": None,
                    "result": {
                        "return_dts": "2026-01-01T00:00:00+00:00",
                        "return_success": True,
                    },
                }
            ],
        )

        daemon = run_daemon()
        fake.wait_for(lambda: fake.calls("POST", r"/run/claim/"))
        daemon.stop()

        assert (closed.return_dts, closed.return_success) == (earlier, False)
        assert fake.calls("PATCH", rf"/run/{closed.id}/$") == []
        assert not path.exists()

    def test_a_second_stop_hurries(self, fake, run_daemon):
        run = fake.add_run(fake.add_job("#!/bin/sh\nsleep 60\n"))
        daemon = run_daemon(shutdown_grace_period=60, kill_grace_period=0.5)
        fake.wait_for(started(run))

        daemon.daemon.stop()
        began = time.monotonic()
        daemon.stop()

        assert time.monotonic() - began < 5
        assert run.return_success is False


class TestCommandLine:
    def test_bad_configuration_exits_2(self, capsys, tmp_path, monkeypatch):
        monkeypatch.delenv("JOBRUNNER_WORKER_SECRET", raising=False)
        path = tmp_path / "w.ini"
        path.write_text("[worker]\nserver_url = http://h\napi_key = k\n")

        assert main([str(path)]) == 2
        assert "secret is not set" in capsys.readouterr().err

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_runs_as_a_module_and_stops_on_a_signal(
        self, fake, worker_id, tmp_path, signum
    ):
        run = fake.add_run(fake.add_job("#!/bin/sh\necho via main\n"))
        path = tmp_path / "w.ini"
        path.write_text(
            f"[worker]\nserver_url = {fake.url}\napi_key = key-1\n"
            f"script_temp_path = {tmp_path}\nclaim_wait = 0\npoll_interval = 0.1\n"
        )
        env = {**os.environ, "JOBRUNNER_WORKER_SECRET": "secret-1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "jobrunner.worker", str(path)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            fake.wait_for(returned(run))
        finally:
            process.send_signal(signum)
            _, err = process.communicate(timeout=20)

        assert process.returncode == 0
        assert run.log == b"via main\n"
        assert f'run {run.id} "job {run.job_id}": claimed' in err
        assert f"{signal.Signals(signum).name}: stopping" in err
        assert "WARNING" not in err and "ERROR" not in err
        assert "secret-1" not in err
