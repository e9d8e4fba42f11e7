"""Server processes, throwaway PostgreSQL servers and signed HTTP clients.

The scale and fault tests need the application in processes of its own (to
run two, or to SIGKILL one) and, for the restart test, a PostgreSQL server of
their own (so that stopping it disturbs no other test).
"""

import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import time

import requests

from jobrunner import signing


ROOT = pathlib.Path(__file__).resolve().parents[2]
API = "/api/job_runner/v1"

# Run by ``python -c``: the application with the settings given as JSON in the
# environment, in one process served by threads, as each of production.ini's
# gunicorn workers serves it.
_SERVE = """
import json, os, waitress
from jobrunner.app import main
settings = json.loads(os.environ["JOBRUNNER_TEST_SETTINGS"])
waitress.serve(main({}, **settings), listen=os.environ["JOBRUNNER_TEST_LISTEN"],
               threads=8, _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str, attempts: int = 300, interval: float = 0.1):
    """Poll ``predicate`` until it returns something true, a bounded number of times.

    The bound only keeps a broken test from hanging; no test asserts speed.
    """
    for _ in range(attempts):
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}")


class ServerProcess:
    """The application in a process of its own, on a free loopback port.

    Starting returns at once; ``wait_ready`` waits for ``/health``, so that
    several servers can start side by side.
    """

    def __init__(self, settings: dict, log_path: pathlib.Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        env = {
            **os.environ,
            "JOBRUNNER_TEST_SETTINGS": json.dumps(settings),
            "JOBRUNNER_TEST_LISTEN": f"127.0.0.1:{self.port}",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> "ServerProcess":
        try:
            wait_for(self._healthy, f"the server on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}")
        try:
            return requests.get(self.url + "/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finished responses, as a crash would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class Client:
    """A worker's (or an admin key's) signed HTTP client."""

    def __init__(self, base_url: str, credential, timeout: float = 30):
        self.base_url = base_url
        self.api_key = credential.api_key
        self.secret = credential.secret
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, body=None) -> requests.Response:
        data = json.dumps(body).encode() if body is not None else b""
        prepared = requests.Request(
            method,
            self.base_url + path,
            data=data,
            headers={"Content-Type": "application/json"},
        ).prepare()
        prepared.headers["Authorization"] = signing.authorization_header(
            self.api_key, self.secret, method, prepared.path_url, data
        )
        return self.session.send(prepared, timeout=self.timeout)


def _pg_bindir() -> pathlib.Path | None:
    for candidate in sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin")):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


class ThrowawayPostgres:
    """A PostgreSQL server of the test's own, from bin/postgres, to stop and start."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.url = subprocess.run(
            [str(ROOT / "bin" / "postgres"), "start", str(folder)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.port = int((folder / "port").read_text())

    def _pg_ctl(self, *args: str) -> None:
        bindir = _pg_bindir()
        command = [str(bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; bin/postgres uses this user.
            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True)

    def stop_server(self) -> None:
        """Stop the server, closing every connection, as a restart does."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        # The options bin/postgres starts it with.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        log = self.folder / "server.log"
        self._pg_ctl("-l", str(log), "-w", "-o", options, "start")

    def remove(self) -> None:
        subprocess.run([str(ROOT / "bin" / "postgres"), "stop", str(self.folder)])


def postgresql_available() -> bool:
    return _pg_bindir() is not None
