"""End-to-end fixtures: the real server and real workers, as separate processes.

The server is ``pserve`` on a free port over the suite's database (SQLite by
default, PostgreSQL when ``JOBRUNNER_TEST_DATABASE_URL`` is set; see
``tests/conftest.py``). Workers are ``jobrunner-worker`` processes. The test
arranges data with the factories and looks at the database through short
sessions of its own: on SQLite every transaction holds the write lock, so a
check must never leave one open while the server works.
"""

import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import select

from jobrunner.db import get_session_factory
from jobrunner.jobs.models import Run


BIN = pathlib.Path(sys.executable).parent

SERVER_INI = """\
[app:main]
use = egg:jobrunner
auth.secret = e2e-auth-secret
retry.attempts = 3
mail.debug_dir = {mail_dir}
jobrunner.admin_addresses = ops@example.com
runs.claim_poll_interval = 0.1
runs.log_max_bytes = {log_max_bytes}
monitor.ping_interval = 0.5
monitor.silent_pings = 4

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = 16

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""

WORKER_SETTINGS = {
    "concurrent_jobs": 2,
    "heartbeat_interval": 0.5,
    "claim_wait": 1,
    "poll_interval": 0.2,
    "kill_poll_interval": 0.3,
    "log_ship_interval": 0.3,
    "kill_grace_period": 2,
    "shutdown_grace_period": 3,
    "shutdown_report_timeout": 3,
    "request_timeout": 5,
    "retry_base_delay": 0.1,
    "retry_max_delay": 0.5,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class ServerProcess:
    """``pserve`` on a fixed port, so that it can be stopped and started again."""

    def __init__(self, folder: pathlib.Path, database_url: str, log_max_bytes: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ini = folder / "server.ini"
        mail_dir = folder / "mail"
        mail_dir.mkdir()
        self.ini.write_text(
            SERVER_INI.format(
                port=self.port, mail_dir=mail_dir, log_max_bytes=log_max_bytes
            )
        )
        # The URL goes in the environment: it may hold a password, and "%".
        self.env = {**os.environ, "JOBRUNNER_DATABASE_URL": database_url}
        self.log_path = folder / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [BIN / "pserve", str(self.ini)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Generous: imports alone take seconds on a loaded machine.
        wait_for(self._answers, 60, "the server to answer")
        return self

    def _answers(self) -> bool:
        assert self.process.poll() is None, "the server exited:\n" + self.log()
        try:
            requests.get(f"{self.url}/api/job_runner/v1/run/", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def monitor_once(self) -> subprocess.CompletedProcess:
        """One pass of the ``jobrunner-monitor`` console script."""
        command = [BIN / "jobrunner-monitor"]
        return subprocess.run(
            [*command, str(self.ini), "--once"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class WorkerProcess:
    """A ``jobrunner-worker`` process with its own ini file and log."""

    def __init__(self, name, folder, server, credential, scripts, **settings):
        self.name = name
        self.credential_id = credential.id
        self.ini = folder / f"{name}.ini"
        values = {**WORKER_SETTINGS, **settings}
        lines = [
            "[worker]",
            f"server_url = {server.url}",
            f"api_key = {credential.api_key}",
            f"script_temp_path = {scripts}",
            *(f"{key} = {value}" for key, value in values.items()),
        ]
        self.ini.write_text("\n".join(lines) + "\n")
        self.env = {**os.environ, "JOBRUNNER_WORKER_SECRET": credential.secret}
        self.log_path = folder / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.killed_at: float | None = None

    def start(self) -> "WorkerProcess":
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [BIN / "jobrunner-worker", str(self.ini)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, as an init system would; return the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.killed_at = time.monotonic()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclasses.dataclass
class RunView:
    """What the database says about a run, read in one short transaction."""

    id: int
    job_id: int
    worker_id: int | None
    state: str
    start_dts: object
    return_dts: object
    return_success: bool | None
    pid: int | None
    log: str
    received_bytes: int
    omitted_bytes: int

    @property
    def returned(self) -> bool:
        return self.return_dts is not None


class World:
    """The server, the workers and a view of the database for one test."""

    def __init__(self, folder, dbengine, server: ServerProcess):
        self.folder = folder
        self.scripts = folder / "scripts"
        self.scripts.mkdir()
        self.session_factory = get_session_factory(dbengine)
        self.server = server
        self.workers: list[WorkerProcess] = []

    def start_worker(self, credential, name=None, **settings) -> WorkerProcess:
        name = name or f"worker-{len(self.workers) + 1}"
        worker = WorkerProcess(
            name, self.folder, self.server, credential, self.scripts, **settings
        )
        self.workers.append(worker.start())
        return worker

    def query(self, function):
        """Run ``function(session)`` in a transaction that ends at once."""
        session = self.session_factory()
        try:
            return function(session)
        finally:
            session.rollback()
            session.close()

    def run(self, run_id: int) -> RunView:
        def read(session):
            from jobrunner.jobs.states import state_of

            run = session.get(Run, run_id)
            log = run.run_log
            return RunView(
                id=run.id,
                job_id=run.job_id,
                worker_id=run.worker_id,
                state=state_of(run),
                start_dts=run.start_dts,
                return_dts=run.return_dts,
                return_success=run.return_success,
                pid=run.pid,
                log=log.content if log else "",
                received_bytes=log.received_bytes if log else 0,
                omitted_bytes=log.omitted_bytes if log else 0,
            )

        return self.query(read)

    def runs_of(self, job_id: int) -> list[RunView]:
        ids = self.query(
            lambda s: s.scalars(
                select(Run.id).where(Run.job_id == job_id).order_by(Run.id)
            ).all()
        )
        return [self.run(run_id) for run_id in ids]

    def wait_returned(self, run_id: int, timeout: float = 15) -> RunView:
        return wait_for(
            lambda: (view := self.run(run_id)).returned and view,
            timeout,
            f"run {run_id} to return",
        )

    def kill_leftover_scripts(self) -> None:
        """SIGKILL the process groups of any script still running from this test."""
        marker = str(self.scripts).encode()
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    os.killpg(int(entry.name), signal.SIGKILL)

    def logs(self, server_log_start: int = 0) -> str:
        server_log = self.server.log_path.read_bytes()[server_log_start:]
        parts = [f"==== server ====\n{server_log.decode(errors='replace')[-20000:]}"]
        for worker in self.workers:
            parts.append(f"==== {worker.name} ====\n{worker.log()[-20000:]}")
        return "\n".join(parts)


LOG_MAX_BYTES = 65536


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory, database_url, dbengine):
    """One server per test module, on the suite's database.

    Starting one costs seconds (mostly imports), so the tests share it; the
    database is emptied between tests as usual.
    """
    server = ServerProcess(
        tmp_path_factory.mktemp("server"), database_url, LOG_MAX_BYTES
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(tmp_path, dbengine, e2e_server, dbsession):
    """The shared server and this test's workers, stopped after the test."""
    world = World(tmp_path, dbengine, e2e_server)
    log_start = e2e_server.log_path.stat().st_size
    yield world
    for worker in world.workers:
        if worker.process.poll() is None:
            try:
                worker.stop(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
    # NOTE: a claim of a SIGKILLed worker may still be waiting on the server;
    # if it outlived the test it could claim the next test's runs, whose
    # workers reuse the same ids. Let such claims run out first.
    killed = [w.killed_at for w in world.workers if w.killed_at is not None]
    if killed:
        time.sleep(
            max(0.0, max(killed) + WORKER_SETTINGS["claim_wait"] + 1 - time.monotonic())
        )
    world.kill_leftover_scripts()
    if e2e_server.process.poll() is not None:  # a test stopped it
        e2e_server.start()
    print(world.logs(log_start))  # shown by pytest when the test failed
    # The factory's session may hold a transaction (and on SQLite the lock).
    dbsession.rollback()
