"""Fixtures for the worker's unit tests: a fake server and a daemon in a thread."""

import threading

import pytest

from jobrunner.worker import config as config_module
from jobrunner.worker.client import ApiClient, Backoff
from jobrunner.worker.daemon import Daemon
from tests.worker.fakeserver import FakeServer


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.close()


@pytest.fixture
def worker_id(fake):
    return fake.add_worker(api_key="key-1", secret="secret-1")


@pytest.fixture
def make_config(fake, tmp_path):
    """A configuration for the fake server with short intervals."""

    def make(**kw):
        values = {
            "server_url": fake.url,
            "api_key": "key-1",
            "secret": "secret-1",
            "concurrent_jobs": 2,
            "script_temp_path": str(tmp_path),
            "heartbeat_interval": 0.5,
            "claim_wait": 0,
            "poll_interval": 0.1,
            "kill_poll_interval": 0.1,
            "log_ship_interval": 0.1,
            "kill_grace_period": 1.0,
            "shutdown_grace_period": 5.0,
            "shutdown_report_timeout": 5.0,
            "request_timeout": 5.0,
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.05,
        }
        values.update(kw)
        return config_module.WorkerConfig(**values)

    return make


@pytest.fixture
def client(fake, worker_id):
    return ApiClient(
        fake.url, "key-1", "secret-1", timeout=5, backoff=Backoff(0.01, 0.05)
    )


class DaemonThread:
    """A daemon running in a thread, stopped (and checked) at the end of a test."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.status = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.status = self.daemon.run()

    def start(self):
        self.thread.start()
        return self

    def stop(self, hurry=False, timeout=20):
        self.daemon.stop(hurry=hurry)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not stop"
        return self.status


@pytest.fixture
def run_daemon(make_config, worker_id):
    """``run_daemon(**config)`` starts a daemon; it is stopped after the test."""
    started = []

    def start(**kw):
        daemon_thread = DaemonThread(Daemon(make_config(**kw))).start()
        started.append(daemon_thread)
        return daemon_thread

    yield start
    for daemon_thread in started:
        if daemon_thread.thread.is_alive():
            daemon_thread.stop(hurry=True)
