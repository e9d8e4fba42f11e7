"""The worker's settings: an ini file's ``[worker]`` section, then the environment.

Every setting may come from the ini file or from an environment variable named
``JOBRUNNER_WORKER_`` plus the setting's name in capitals; the environment
wins, so the secret can stay out of the file::

    [worker]
    server_url = http://localhost:6543
    api_key = 3b6c...
    concurrent_jobs = 4

    JOBRUNNER_WORKER_SECRET=... jobrunner-worker worker.ini
"""

import configparser
import dataclasses
import os
import stat
import tempfile
from collections.abc import Mapping


SECTION = "worker"
ENV_PREFIX = "JOBRUNNER_WORKER_"


class ConfigError(ValueError):
    """The configuration is missing a value or has a wrong one."""


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """Everything the daemon needs to know; times are in seconds."""

    server_url: str
    api_key: str
    secret: str = dataclasses.field(repr=False)
    concurrent_jobs: int = 4
    script_temp_path: str = dataclasses.field(default_factory=tempfile.gettempdir)
    log_level: str = "INFO"
    heartbeat_interval: float = 30.0
    # How long a claim request may wait on the server for a run to become due.
    claim_wait: float = 10.0
    # Pause between claims when the server gave nothing and cannot long-poll.
    poll_interval: float = 5.0
    kill_poll_interval: float = 5.0
    log_ship_interval: float = 2.0
    # The most output kept while it waits to be shipped; past it the oldest
    # unshipped output is dropped and a marker says how much.
    log_max_bytes: int = 1024 * 1024
    log_chunk_bytes: int = 32 * 1024
    kill_grace_period: float = 10.0
    shutdown_grace_period: float = 60.0
    # After the shutdown grace period and the kills, how long to keep trying
    # to report the last results before exiting without them.
    shutdown_report_timeout: float = 30.0
    request_timeout: float = 30.0
    retry_base_delay: float = 0.5
    retry_max_delay: float = 30.0

    def __post_init__(self):
        for name in ("server_url", "api_key", "secret"):
            if not getattr(self, name):
                raise ConfigError(
                    f"{name} is not set: put it in the [{SECTION}] section "
                    f"or in {ENV_PREFIX}{name.upper()}"
                )
        if not self.server_url.startswith(("http://", "https://")):
            raise ConfigError(f"server_url must be an http(s) URL: {self.server_url!r}")
        if self.concurrent_jobs < 1:
            raise ConfigError("concurrent_jobs must be at least 1")
        if not 0 <= self.claim_wait <= 30:
            raise ConfigError("claim_wait must be between 0 and 30 seconds")
        if self.log_chunk_bytes < 1024 or self.log_max_bytes < self.log_chunk_bytes:
            raise ConfigError("need 1024 <= log_chunk_bytes <= log_max_bytes")
        positive = (
            "heartbeat_interval",
            "poll_interval",
            "kill_poll_interval",
            "log_ship_interval",
            "request_timeout",
            "retry_base_delay",
            "retry_max_delay",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")

    @property
    def api_root(self) -> str:
        """The URL of the API's root, with a trailing slash."""
        return self.server_url.rstrip("/") + "/api/job_runner/v1/"


def _convert(field: dataclasses.Field, value: str):
    kind = field.type  # str, int or float: the module has no postponed annotations
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{field.name}: not a valid {kind.__name__}: {value!r}"
        ) from None


def _read_ini(path: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path, encoding="utf-8"):
        raise ConfigError(f"cannot read the configuration file {path!r}")
    if not parser.has_section(SECTION):
        raise ConfigError(f"{path}: no [{SECTION}] section")
    return dict(parser.items(SECTION))


def secret_in_file(path: str) -> bool:
    """Whether the ini file holds the secret itself."""
    return bool(_read_ini(path).get("secret"))


def secret_file_is_exposed(path: str) -> bool:
    """Whether other users may read the file."""
    return bool(os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH))


def load(
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides,
) -> WorkerConfig:
    """Build the configuration from an ini file, the environment and overrides."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(WorkerConfig)}
    raw: dict[str, str] = {}
    if path is not None:
        for name, value in _read_ini(path).items():
            if name not in fields:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            raw[name] = value
    for name in fields:
        if environ.get(ENV_PREFIX + name.upper()):
            raw[name] = environ[ENV_PREFIX + name.upper()]
    values = {name: _convert(fields[name], value) for name, value in raw.items()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.setdefault("server_url", "")
    values.setdefault("api_key", "")
    values.setdefault("secret", "")
    return WorkerConfig(**values)
