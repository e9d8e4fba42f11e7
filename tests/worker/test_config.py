"""Settings from the ini file and the environment."""

import os
import subprocess
import sys

import pytest

from jobrunner.worker import config as config_module
from jobrunner.worker.config import ConfigError, load


@pytest.fixture
def ini(tmp_path):
    def write(text):
        path = tmp_path / "worker.ini"
        path.write_text(text)
        return str(path)

    return write


def test_ini_values_are_typed(ini):
    path = ini(
        "[worker]\nserver_url = http://h:1\napi_key = k\nsecret = s\n"
        "concurrent_jobs = 7\nheartbeat_interval = 2.5\n"
    )

    config = load(path, environ={})

    assert config.concurrent_jobs == 7
    assert config.heartbeat_interval == 2.5
    assert config.api_root == "http://h:1/api/job_runner/v1/"


def test_the_environment_wins(ini):
    path = ini("[worker]\nserver_url = http://h:1\napi_key = k\nsecret = s\n")
    environ = {
        "JOBRUNNER_WORKER_SECRET": "from-env",
        "JOBRUNNER_WORKER_CONCURRENT_JOBS": "3",
    }

    config = load(path, environ=environ)

    assert (config.secret, config.concurrent_jobs) == ("from-env", 3)


def test_environment_alone_is_enough():
    environ = {
        "JOBRUNNER_WORKER_SERVER_URL": "https://h",
        "JOBRUNNER_WORKER_API_KEY": "k",
        "JOBRUNNER_WORKER_SECRET": "s",
    }

    assert load(None, environ=environ).server_url == "https://h"


def test_the_secret_is_not_in_the_repr():
    config = load(None, environ={}, server_url="http://h", api_key="k", secret="hush")

    assert "hush" not in repr(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[worker]\napi_key = k\nsecret = s\n", "server_url is not set"),
        ("[worker]\nserver_url = http://h\nsecret = s\n", "api_key is not set"),
        ("[worker]\nserver_url = ftp://h\napi_key = k\nsecret = s\n", "http"),
        (
            "[worker]\nserver_url = http://h\napi_key = k\nsecret = s\n"
            "concurrent_jobs = many\n",
            "concurrent_jobs: not a valid int",
        ),
        (
            "[worker]\nserver_url = http://h\napi_key = k\nsecret = s\n"
            "concurrent_jobs = 0\n",
            "at least 1",
        ),
        (
            "[worker]\nserver_url = http://h\napi_key = k\nsecret = s\n"
            "claim_wait = 60\n",
            "claim_wait",
        ),
        (
            "[worker]\nserver_url = http://h\napi_key = k\nsecret = s\ncolour = blue\n",
            "unknown setting 'colour'",
        ),
        ("[other]\nx = 1\n", r"no \[worker\] section"),
    ],
)
def test_mistakes_are_reported(ini, text, message):
    with pytest.raises(ConfigError, match=message):
        load(ini(text), environ={})


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "nope.ini"), environ={})


def test_exposed_secret_file(ini):
    path = ini("[worker]\nsecret = s\n")
    os.chmod(path, 0o644)
    assert config_module.secret_in_file(path)
    assert config_module.secret_file_is_exposed(path)

    os.chmod(path, 0o600)
    assert not config_module.secret_file_is_exposed(path)


def test_the_example_file_loads():
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

    config = load(
        os.path.join(root, "worker.ini.example"),
        environ={"JOBRUNNER_WORKER_SECRET": "s"},
    )

    assert config.server_url.startswith("http")


def test_the_worker_imports_nothing_of_the_server_but_signing():
    code = (
        "import sys, jobrunner.worker.daemon\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jobrunner', 'pyramid', 'sqlalchemy', 'cornice', 'colander', "
        "'transaction', 'alembic'))))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    modules = set(result.stdout.split())
    assert modules == {
        "jobrunner",
        "jobrunner.signing",
        "jobrunner.worker",
        "jobrunner.worker.client",
        "jobrunner.worker.config",
        "jobrunner.worker.daemon",
        "jobrunner.worker.outbox",
        "jobrunner.worker.runner",
    }
