"""``jobrunner-worker [CONFIG]``: claim due runs, execute them, report back.

The main thread claims runs (long polling the claim endpoint, or the seed-era
protocol against older servers) while it has free slots. Each run gets a
thread that starts the script, reports ``start_dts`` and ``pid``, ships the
output as it comes, and reports the result; it keeps retrying the report until
the server takes it. Two more threads send heartbeats and look for kill
requests.

SIGTERM or SIGINT stops claiming; running scripts get ``shutdown_grace_period``
seconds to finish, then they are killed and reported failed. A second signal
cuts the grace period short; reports the server could not take before the
worker exits are kept on disk (:mod:`jobrunner.worker.outbox`). On start-up,
runs the server believes this worker holds get their kept result, or, left
over from a crash, are reported failed so they are rescheduled.
"""

import argparse
import contextlib
import datetime
import glob
import logging
import os
import signal
import socket
import sys
import threading
import time

from jobrunner.worker import __version__, outbox
from jobrunner.worker import config as config_module
from jobrunner.worker.client import (
    ApiClient,
    Backoff,
    GaveUp,
    ProtocolError,
    Response,
    isoformat,
    parse_datetime,
    utcnow,
)
from jobrunner.worker.runner import (
    ExecError,
    Execution,
    LogBuffer,
    describe_status,
    write_script,
)


log = logging.getLogger(__name__)

MISSING = (404, 405)  # an older server without the endpoint
NOTE = "[jobrunner-worker: {}]\n"
# Tries answered with HTTP 500 before the last of a log is given up, so that
# the run's result can still be reported (about a minute of backing off).
FINAL_LOG_INTERNAL_ERRORS = 8


def _not_before(moment: datetime.datetime, *earlier: datetime.datetime | None):
    """``moment``, moved up to the latest of ``earlier`` (clocks differ a little
    between the worker and the server, which checks enqueue <= start <= return)."""
    return max([moment, *(e for e in earlier if e is not None)])


class RunTask:
    """One claimed run, from its script to its reported result, in a thread."""

    def __init__(self, daemon: "Daemon", run: dict, script: str | None, title: str):
        self.daemon = daemon
        self.run = run
        self.run_id: int = run["id"]
        self.uri: str = run["resource_uri"]
        self.title = title
        self.script = script
        self.enqueue_dts = parse_datetime(run.get("enqueue_dts"))
        self.start_dts: datetime.datetime | None = None
        self.buffer = LogBuffer(daemon.config.log_max_bytes)
        self.live_log = True
        self.chunk_bytes = daemon.config.log_chunk_bytes
        self.execution: Execution | None = None
        self.kill_reason: str | None = None
        # Whether the script was killed: a kill asked for after it ended (at
        # shutdown, while its report waits for the server) changes nothing.
        self.killed = False
        self.kill_request_uris: list[str] = []
        self.start_reported = False
        self._kill = threading.Event()
        self.thread = threading.Thread(
            target=self._main, name=f"run-{self.run_id}", daemon=True
        )

    def __str__(self) -> str:
        return f'run {self.run_id} "{self.title}"'

    def request_kill(self, reason: str, kill_request_uri: str | None = None) -> None:
        if kill_request_uri is not None:
            self.kill_request_uris.append(kill_request_uri)
        if self.kill_reason is None:
            self.kill_reason = reason
        self._kill.set()

    # The life of the run -----------------------------------------------------

    def _main(self) -> None:
        try:
            self._execute()
        except Exception:
            # A bug must not take the daemon down or keep the slot forever;
            # the run stays started and is reconciled at the next start.
            log.exception("%s: unexpected error", self)
        finally:
            if self.execution is not None:
                self.execution.cleanup()
            self.daemon.task_done(self)

    def _execute(self) -> None:
        config = self.daemon.config
        if self.script is None:
            self._fail_unstarted("the worker could not get the job's script")
            return
        if self._kill.is_set():
            self._fail_unstarted(f"killed before it started: {self.kill_reason}")
            return
        try:
            path = write_script(config.script_temp_path, self.run_id, self.script)
        except OSError as error:
            self._fail_unstarted(f"cannot write the script: {error}")
            return
        self.execution = Execution(path, self.buffer, env=self._environment())
        try:
            pid = self.execution.start()
        except ExecError as error:
            self._fail_unstarted(str(error))
            return
        self.start_dts = _not_before(utcnow(), self.enqueue_dts)
        log.info("%s: started, pid %d", self, pid)
        response = self._report({"start_dts": isoformat(self.start_dts), "pid": pid})
        if response is not None and response.status == 409:
            # The server has given up on this run (for instance the monitor
            # thought this worker dead and rescheduled it): running it on
            # would run the job twice.
            self.request_kill("the server no longer expects this run (409 on start)")
        status = self._supervise()
        self._ship(final=True)
        self._finish(status)

    def _supervise(self) -> int:
        """Wait for the script, shipping output and honouring kill requests."""
        config = self.daemon.config
        next_ship = time.monotonic() + config.log_ship_interval
        while True:
            status = self.execution.wait(timeout=0.2)
            if status is not None:
                return status
            if self._kill.is_set():
                return self._kill_now()
            if time.monotonic() >= next_ship:
                self._ship(final=False)
                next_ship = time.monotonic() + config.log_ship_interval

    def _kill_now(self) -> int:
        grace = self.daemon.config.kill_grace_period
        log.info("%s: killing (%s)", self, self.kill_reason)
        self.killed = True
        status = self.execution.kill(grace)
        self.buffer.append(
            "\n"
            + NOTE.format(
                f"killed: {self.kill_reason}; SIGTERM to the process group, "
                f"SIGKILL after {grace:g} s; {describe_status(status)}"
            )
        )
        for uri in self.kill_request_uris:
            self.daemon.patch_quietly(uri, {"execute_dts": isoformat(utcnow())})
        return status

    def _finish(self, status: int | None) -> None:
        """Report the result; ``status`` None means the script never ran."""
        success = status == 0 and not self.killed
        fields = {
            "return_dts": isoformat(_not_before(utcnow(), self.start_dts)),
            "return_success": success,
        }
        if not self.live_log:
            fields["return_log"] = self.buffer.text()
        response = self._report(fields)
        if response is None:
            self._keep(fields)
        elif response.status == 202:
            log.info(
                "%s: returned, %s (%s)",
                self,
                "success" if success else "failed",
                "not run" if status is None else describe_status(status),
            )

    def _fail_unstarted(self, reason: str) -> None:
        """Report a run that never ran as failed, so the server reschedules it."""
        log.warning("%s: not run: %s", self, reason)
        self.buffer.append(NOTE.format(reason))
        self.start_dts = _not_before(utcnow(), self.enqueue_dts)
        response = self._report({"start_dts": isoformat(self.start_dts)})
        if response is None:
            self._keep(
                {"return_dts": isoformat(self.start_dts), "return_success": False}
            )
            return
        if response.status != 202:
            return
        for uri in self.kill_request_uris:
            self.daemon.patch_quietly(uri, {"execute_dts": isoformat(utcnow())})
        self._ship(final=True)
        self._finish(status=None)

    def _environment(self) -> dict:
        # The worker's own settings (its secret above all) are not the job's.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(config_module.ENV_PREFIX)
        }
        env["JOBRUNNER_RUN_ID"] = str(self.run_id)
        env["JOBRUNNER_RUN_URI"] = self.uri
        if self.run.get("job"):
            env["JOBRUNNER_JOB_URI"] = self.run["job"]
        return env

    def _keep(self, result: dict) -> None:
        """Keep what the server has not got for the next start to deliver."""
        start = None
        if not self.start_reported and self.start_dts is not None:
            start = {"start_dts": isoformat(self.start_dts)}
            if self.execution is not None and self.execution.pid is not None:
                start["pid"] = self.execution.pid
        pending = self.buffer.take(len(self.buffer)) if self.live_log else None
        self.daemon.keep_result(
            {
                "run_id": self.run_id,
                "resource_uri": self.uri,
                "title": self.title,
                "start": start,
                "log": pending and {"offset": pending[0], "text": pending[1]},
                "result": result,
            }
        )
        log.warning("%s: result kept for the next start to report", self)

    # Talking to the server ---------------------------------------------------

    def _report(self, fields: dict) -> Response | None:
        """PATCH the run until the server answers; None if the daemon gave up.

        A retry is safe: the server takes an identical repeat as harmless.
        """
        try:
            response = self.daemon.client.patch(
                self.uri, fields, attempts=None, give_up=self.daemon.abandoned.is_set
            )
        except GaveUp as error:
            log.error(
                "%s: could not report %s before exiting: %s",
                self,
                sorted(fields),
                error,
            )
            return None
        if response.status == 202 and "start_dts" in fields:
            self.start_reported = True
        if response.status == 409:
            log.warning(
                "%s: the server refused %s as a conflict (already reported?): %s",
                self,
                sorted(fields),
                response.data,
            )
        elif response.status != 202:
            log.error(
                "%s: the server refused %s: HTTP %d %s",
                self,
                sorted(fields),
                response.status,
                response.data,
            )
        return response

    def _ship(self, final: bool) -> None:
        """Send pending output to the run's log, in offset-checked chunks."""
        while self.live_log:
            chunk = self.buffer.take(self.chunk_bytes)
            if chunk is None:
                return
            offset, text = chunk
            try:
                response = self.daemon.client.append_log(
                    self.run_id,
                    offset,
                    text,
                    attempts=None if final else 3,
                    give_up=self.daemon.abandoned.is_set,
                    # The result waits for the last of the log while the
                    # server is away, but not for a server that keeps failing
                    # the append itself: then the result goes without it.
                    internal_errors=FINAL_LOG_INTERNAL_ERRORS if final else None,
                )
            except GaveUp as error:
                self.buffer.release()
                if final:
                    log.error("%s: the end of the log is lost: %s", self, error)
                return
            if not self._handle_append(response, offset, text):
                return

    def _handle_append(self, response: Response, offset: int, text: str) -> bool:
        """Act on the answer to an append; False to stop shipping for now."""
        data = response.data if isinstance(response.data, dict) else {}
        if response.status == 202 and isinstance(data.get("length"), int):
            self.buffer.acknowledge(data["length"])
            return True
        if response.status == 416 and isinstance(data.get("length"), int):
            length = data["length"]
            if length >= offset:
                # Most often our own retried append, which the server took the
                # first time; otherwise the server is ahead and we follow it.
                if length > offset + len(text.encode("utf-8")):
                    log.warning(
                        "%s: the server's log is longer than what was "
                        "sent (%d > %d); continuing from its length",
                        self,
                        length,
                        offset,
                    )
                self.buffer.acknowledge(length)
            else:
                log.warning(
                    "%s: the server lost %d bytes of the log", self, offset - length
                )
                self.buffer.note_gap(length)
            return True
        self.buffer.release()
        if response.status == 413 and self.chunk_bytes > 1024:
            self.chunk_bytes = max(1024, self.chunk_bytes // 2)
            return True
        if response.status in MISSING or response.status == 413:
            log.info(
                "%s: no live log on this server (HTTP %d); the log goes "
                "with the result",
                self,
                response.status,
            )
            self.live_log = False
        else:
            log.warning(
                "%s: log append refused: HTTP %d %s",
                self,
                response.status,
                response.data,
            )
        return False


class Daemon:
    """The worker daemon: claims, runs, heartbeats, kills and shutdown."""

    def __init__(
        self, config: config_module.WorkerConfig, client: ApiClient | None = None
    ):
        self.config = config
        self.client = client or ApiClient(
            config.server_url,
            config.api_key,
            config.secret,
            timeout=config.request_timeout,
            backoff=Backoff(config.retry_base_delay, config.retry_max_delay),
            user_agent=f"jobrunner-worker/{__version__}",
        )
        self.worker: dict | None = None
        self.use_claim_endpoint = True
        self.stopping = threading.Event()  # no more claims
        self.finished = threading.Event()  # no more runs; helpers stop
        self.abandoned = threading.Event()  # stop retrying reports, exit now
        self._grace_deadline: float | None = None
        self._tasks: dict[int, RunTask] = {}
        # Every run this process has taken on, so that none is started twice
        # even if the server still lists it as waiting.
        self._taken: set[int] = set()
        self._changed = threading.Condition()
        self._claims_uncertain = False
        self._helpers: list[threading.Thread] = []
        # Results an earlier process could not deliver, and this one's.
        self._outbox = outbox.path_for(config.script_temp_path, config.api_key)
        self._kept: dict[int, dict] = {}

    # Life ----------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit status."""
        log.info(
            "jobrunner-worker %s: server %s, %d concurrent jobs",
            __version__,
            self.config.server_url,
            self.config.concurrent_jobs,
        )
        try:
            self.worker = self.client.find_worker(
                attempts=None, give_up=self.stopping.is_set
            )
        except GaveUp:
            return 0
        except ProtocolError as error:
            log.error(
                "cannot find this worker on the server (check api_key and secret): %s",
                error,
            )
            return 1
        log.info("worker %s (%s)", self.worker["id"], self.worker.get("title", ""))
        # Heartbeats first, so the monitor sees the worker alive while it
        # reconciles.
        for target in (self._heartbeat_loop, self._kill_loop):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self._helpers.append(thread)
        self._kept = outbox.load(self._outbox)
        try:
            self.reconcile()
            self._claim_loop()
        finally:
            self._shutdown()
        return 0

    def stop(self, hurry: bool = False) -> None:
        """Stop claiming; with ``hurry``, also end the grace period now."""
        if hurry or self.stopping.is_set():
            self._grace_deadline = time.monotonic()
        self.stopping.set()
        with self._changed:
            self._changed.notify_all()

    def _shutdown(self) -> None:
        config = self.config
        self.stopping.set()
        if self._grace_deadline is None:
            self._grace_deadline = time.monotonic() + config.shutdown_grace_period
        if self._tasks:
            log.info("stopping: waiting for %d running jobs", len(self._tasks))
        while self._tasks and time.monotonic() < self._grace_deadline:
            with self._changed:
                self._changed.wait(min(1.0, self._grace_deadline - time.monotonic()))
        for task in self.tasks():
            task.request_kill("the worker shut down before the run finished")
        last_call = (
            time.monotonic()
            + config.kill_grace_period
            + (config.shutdown_report_timeout)
        )
        while self._tasks and time.monotonic() < last_call:
            with self._changed:
                self._changed.wait(min(1.0, max(0.0, last_call - time.monotonic())))
        self.abandoned.set()
        for task in self.tasks():
            task.thread.join(5)
        self.finished.set()
        for thread in self._helpers:
            thread.join(5)
        self._save_kept()
        log.info("stopped")

    def keep_result(self, entry: dict) -> None:
        """Keep a run's undelivered report for the next start."""
        with self._changed:
            self._kept[entry["run_id"]] = entry

    def _save_kept(self) -> None:
        with self._changed:
            entries = list(self._kept.values())
        try:
            outbox.save(self._outbox, entries)
        except OSError as error:
            log.error(
                "cannot keep %d results in %s: %s", len(entries), self._outbox, error
            )
            return
        if entries:
            log.warning(
                "%d results kept in %s for the next start", len(entries), self._outbox
            )

    def tasks(self) -> list[RunTask]:
        with self._changed:
            return list(self._tasks.values())

    def task_done(self, task: RunTask) -> None:
        with self._changed:
            self._tasks.pop(task.run_id, None)
            if task.start_reported:
                # The server no longer lists it as in_queue; forget it.
                self._taken.discard(task.run_id)
            self._changed.notify_all()

    def _start(self, run: dict, script: str | None, title: str) -> None:
        task = RunTask(self, run, script, title)
        with self._changed:
            if run["id"] in self._taken:
                log.warning("%s: already taken by this worker; not run again", task)
                return
            self._taken.add(run["id"])
            self._tasks[run["id"]] = task
        log.info("%s: claimed", task)
        task.thread.start()

    # Claiming ------------------------------------------------------------------

    def _claim_loop(self) -> None:
        config = self.config
        while not self.stopping.is_set():
            with self._changed:
                free = config.concurrent_jobs - len(self._tasks)
                if free <= 0:
                    self._changed.wait(1.0)
                    continue
            began = time.monotonic()
            try:
                if self._claims_uncertain:
                    self._adopt_lost_claims()
                got = self._claim(free)
            except (GaveUp, ProtocolError) as error:
                log.warning("claiming failed: %s", error)
                got = 0
            if not got:
                # Long polling already waited; this covers servers that answer
                # at once, and errors.
                self._idle(config.poll_interval - (time.monotonic() - began))

    def _idle(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)

    def _claim(self, free: int) -> int:
        if self.use_claim_endpoint:
            try:
                response = self.client.claim(
                    min(free, 100),
                    self.config.claim_wait,
                    attempts=3,
                    give_up=self.stopping.is_set,
                )
            except GaveUp:
                self._claims_uncertain = True
                raise
            if response.retried:
                self._claims_uncertain = True
            if response.status in MISSING:
                log.info(
                    "the server has no claim endpoint (HTTP %d); using the "
                    "seed-era protocol",
                    response.status,
                )
                self.use_claim_endpoint = False
            elif response.status == 200:
                runs = response.data.get("objects", [])
                for run in runs:
                    self._start(
                        run,
                        run.get("script_content"),
                        run.get("job_title") or run.get("job", ""),
                    )
                return len(runs)
            else:
                raise ProtocolError(f"claim: HTTP {response.status} {response.data}")
        return self._claim_seed_era(free)

    def _claim_seed_era(self, free: int) -> int:
        """Poll due runs and claim each by PATCHing ``enqueue_dts``."""
        now = isoformat(utcnow())
        response = self.client.get(
            "run/",
            params={"state": "scheduled", "schedule_dts__lte": now, "limit": free},
            give_up=self.stopping.is_set,
        )
        if response.status != 200:
            raise ProtocolError(f"run list: HTTP {response.status} {response.data}")
        claimed = 0
        for run in response.data.get("objects", []):
            try:
                answer = self.client.patch(
                    run["resource_uri"],
                    {"enqueue_dts": isoformat(utcnow())},
                    give_up=self.stopping.is_set,
                )
            except GaveUp:
                # A try whose answer was lost may have claimed the run for us.
                self._claims_uncertain = True
                raise
            if answer.status == 409 and answer.retried:
                # Our first try may have been the one that took it.
                answer = self.client.get(run["resource_uri"])
                if answer.status != 200 or not self._holds(answer.data):
                    continue
            elif answer.status != 202:
                continue
            claimed_run = answer.data if isinstance(answer.data, dict) else run
            self._start_with_job(claimed_run)
            claimed += 1
        return claimed

    def _holds(self, run: dict) -> bool:
        return run.get("worker") == self.worker["resource_uri"]

    def _start_with_job(self, run: dict) -> None:
        """Start a run whose script is not in hand yet: fetch its job first."""
        script, title = None, run.get("job", "")
        try:
            job = self.client.get(
                run["job"], attempts=None, give_up=self.stopping.is_set
            )
        except GaveUp:
            job = None
        if job is not None and job.status == 200:
            script = job.data.get("script_content")
            title = job.data.get("title", title)
        self._start(run, script, title)

    def _adopt_lost_claims(self) -> None:
        """Run the runs a claim took for us whose answer never arrived.

        Only the claiming thread calls this, between claims, so every run it
        finds in_queue for this worker and not held is one of those.
        """
        lost = [
            run for run in self._own_runs("in_queue") if run["id"] not in self._taken
        ]
        for run in lost:
            log.info(
                "run %s: claimed by an answer that was lost; running it", run["id"]
            )
            self._start_with_job(run)
        self._claims_uncertain = False

    def _own_runs(self, state: str) -> list[dict]:
        params = {"worker": self.worker["id"], "state": state, "limit": 100}
        return list(
            self.client.iterate(
                "run/", params, attempts=None, give_up=self.stopping.is_set
            )
        )

    # Reconciliation ------------------------------------------------------------

    def reconcile(self) -> None:
        """Settle the runs the server thinks we hold: a fresh process holds
        none. Those whose result an earlier process kept get that result; the
        others are left over from a crash and are reported failed."""
        try:
            leftovers = self._own_runs("in_queue") + self._own_runs("started")
        except (GaveUp, ProtocolError) as error:
            log.warning("could not list left-over runs: %s", error)
            return
        listed = {run["id"] for run in leftovers}
        for run_id in sorted(set(self._kept) - listed):
            # Failed by the monitor or closed by hand meanwhile.
            log.warning(
                "run %s: kept result dropped: the server no longer expects it", run_id
            )
            self._kept.pop(run_id)
        for run in leftovers:
            try:
                if run["id"] in self._kept:
                    self._deliver_kept(run, self._kept[run["id"]])
                    self._kept.pop(run["id"])
                else:
                    self._reconcile_run(run)
            except GaveUp as error:  # stopped while the server was away
                log.warning("run %s: not reconciled: %s", run["id"], error)
                break
        self._save_kept()

    def _deliver_kept(self, run: dict, entry: dict) -> None:
        """Report what an earlier process kept: start, rest of the log, result."""
        uri = run["resource_uri"]
        if run.get("start_dts") is None:
            start = entry.get("start") or {
                "start_dts": isoformat(
                    _not_before(utcnow(), parse_datetime(run.get("enqueue_dts")))
                )
            }
            answer = self.client.patch(
                uri, start, attempts=None, give_up=self.stopping.is_set
            )
            if answer.status != 202:
                log.warning(
                    "run %s: kept start refused: HTTP %d %s",
                    run["id"],
                    answer.status,
                    answer.data,
                )
                return
        if entry.get("log"):
            self._deliver_log(run["id"], entry["log"]["offset"], entry["log"]["text"])
        answer = self.client.patch(
            uri, entry["result"], attempts=None, give_up=self.stopping.is_set
        )
        if answer.status == 202:
            log.info(
                'run %s "%s": kept result reported, %s',
                run["id"],
                entry.get("title", ""),
                "success" if entry["result"].get("return_success") else "failed",
            )
        else:
            log.warning(
                "run %s: kept result refused: HTTP %d %s",
                run["id"],
                answer.status,
                answer.data,
            )

    def _deliver_log(self, run_id: int, offset: int, text: str) -> None:
        """Append kept output at ``offset``, skipping what the server has."""
        data = text.encode("utf-8")
        for _ in range(3):
            answer = self.client.append_log(
                run_id,
                offset,
                data.decode("utf-8", errors="ignore"),
                attempts=None,
                give_up=self.stopping.is_set,
            )
            length = (
                answer.data.get("length") if isinstance(answer.data, dict) else None
            )
            if answer.status != 416 or not isinstance(length, int):
                return
            if length >= offset + len(data):
                return  # It arrived before the worker stopped.
            if length >= offset:
                data = data[length - offset :]
            else:
                lost = offset - length
                data = NOTE.format(f"{lost} bytes of output were lost").encode() + data
            offset = length

    def _reconcile_run(self, run: dict) -> None:
        reason = (
            f"the worker restarted (host {socket.gethostname()}, "
            f"pid {os.getpid()}) and no longer holds this run; reported failed "
            f"so that it is rescheduled"
        )
        killed = self._kill_orphan(run)
        if killed:
            reason += f"; its script, still running as pid {run['pid']}, was killed"
        now = utcnow()
        start = parse_datetime(run.get("start_dts"))
        if start is None:
            start = _not_before(now, parse_datetime(run.get("enqueue_dts")))
            answer = self.client.patch(
                run["resource_uri"],
                {"start_dts": isoformat(start)},
                attempts=None,
                give_up=self.stopping.is_set,
            )
            if answer.status != 202:
                log.warning(
                    "run %s: could not mark it started: HTTP %d %s",
                    run["id"],
                    answer.status,
                    answer.data,
                )
                return
        fields = {
            "return_dts": isoformat(_not_before(now, start)),
            "return_success": False,
        }
        if not self._append_note(run["id"], NOTE.format(reason)):
            fields["return_log"] = NOTE.format(reason)
        answer = self.client.patch(
            run["resource_uri"], fields, attempts=None, give_up=self.stopping.is_set
        )
        if answer.status == 202:
            log.info(
                "run %s: left over from an earlier worker process; reported failed",
                run["id"],
            )
        else:
            log.warning(
                "run %s: could not report it failed: HTTP %d %s",
                run["id"],
                answer.status,
                answer.data,
            )

    def _append_note(self, run_id: int, text: str) -> bool:
        """Append a line to a run's log, wherever it ends; False if no log endpoint."""
        offset = 0
        for _ in range(3):
            answer = self.client.append_log(
                run_id, offset, text, attempts=None, give_up=self.stopping.is_set
            )
            data = answer.data if isinstance(answer.data, dict) else {}
            if answer.status == 202:
                return True
            if answer.status == 416 and isinstance(data.get("length"), int):
                offset = data["length"]
                continue
            return False
        return False

    def _kill_orphan(self, run: dict) -> bool:
        """Kill a left-over run's script if it still runs here.

        The pid is trusted only if that process is still running this run's
        script file, so a reused pid is never killed.
        """
        pid = run.get("pid")
        if not pid:
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            return False
        folder = os.path.join(self.config.script_temp_path, "")
        marker = f"{folder}jobrunner-run-{run['id']}-".encode()
        if marker not in cmdline:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        for path in glob.glob(f"{folder}jobrunner-run-{run['id']}-*"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return True

    # Helpers -------------------------------------------------------------------

    def patch_quietly(self, uri: str, fields: dict) -> None:
        try:
            answer = self.client.patch(uri, fields, give_up=self.abandoned.is_set)
        except GaveUp as error:
            log.warning("%s: %s", uri, error)
            return
        if answer.status != 202:
            log.warning("%s: HTTP %d %s", uri, answer.status, answer.data)

    def _heartbeat_loop(self) -> None:
        while not self.finished.is_set():
            try:
                answer = self.client.heartbeat(
                    self.worker["id"],
                    __version__,
                    self.config.concurrent_jobs,
                    attempts=2,
                    give_up=self.finished.is_set,
                )
                if answer.status != 202:
                    log.warning(
                        "heartbeat refused: HTTP %d %s", answer.status, answer.data
                    )
            except GaveUp as error:
                log.warning("heartbeat failed: %s", error)
            self.finished.wait(self.config.heartbeat_interval)

    def _kill_loop(self) -> None:
        while not self.finished.wait(self.config.kill_poll_interval):
            try:
                self.poll_kill_requests()
            except (GaveUp, ProtocolError) as error:
                log.warning("looking for kill requests failed: %s", error)

    def poll_kill_requests(self) -> None:
        held = {task.uri: task for task in self.tasks()}
        if not held:
            return
        pending = self.client.iterate(
            "kill_request/",
            {"execute_dts__isnull": "true", "limit": 100},
            attempts=2,
            give_up=self.finished.is_set,
        )
        for request in pending:
            task = held.get(request.get("run"))
            if task is None or request["resource_uri"] in task.kill_request_uris:
                continue
            if not request.get("enqueue_dts"):
                self.patch_quietly(
                    request["resource_uri"], {"enqueue_dts": isoformat(utcnow())}
                )
            log.info("%s: kill request %s", task, request["id"])
            task.request_kill(f"kill request {request['id']}", request["resource_uri"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobrunner-worker",
        description="Claim due runs from a jobrunner server, execute them and "
        "report back.",
        epilog="Every setting can also come from the environment as "
        "JOBRUNNER_WORKER_<NAME>, e.g. JOBRUNNER_WORKER_SECRET; see "
        "worker.ini.example.",
    )
    parser.add_argument("config", nargs="?", help="ini file with a [worker] section")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_module.load(args.config, log_level=args.log_level)
    except config_module.ConfigError as error:
        print(f"jobrunner-worker: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)-7s [%(name)s][%(threadName)s] %(message)s",
    )
    # requests' own loggers would repeat every retry at INFO.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    if args.config and config_module.secret_in_file(args.config):
        if config_module.secret_file_is_exposed(args.config):
            log.warning(
                "%s holds the secret and other users can read it; "
                "chmod 600 it or use JOBRUNNER_WORKER_SECRET",
                args.config,
            )
    daemon = Daemon(config)

    def on_signal(signum, frame):
        log.info(
            "%s: %s",
            signal.Signals(signum).name,
            "hurrying up" if daemon.stopping.is_set() else "stopping",
        )
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return daemon.run()


if __name__ == "__main__":
    sys.exit(main())
