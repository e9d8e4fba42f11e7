"""Settings from the ini file, with secrets and URLs from the environment.

The environment wins over the ini file, so that production.ini can be shared
while each deployment keeps its database URL and secrets to itself.
"""

import os


ENVIRONMENT_OVERRIDES = {
    "JOBRUNNER_DATABASE_URL": "sqlalchemy.url",
    "JOBRUNNER_AUTH_SECRET": "auth.secret",
    "JOBRUNNER_ADMIN_ADDRESSES": "jobrunner.admin_addresses",
    "JOBRUNNER_MAIL_HOST": "mail.host",
    "JOBRUNNER_MAIL_PORT": "mail.port",
    "JOBRUNNER_MAIL_USERNAME": "mail.username",
    "JOBRUNNER_MAIL_PASSWORD": "mail.password",
    "JOBRUNNER_MAIL_SENDER": "mail.default_sender",
}

DEFAULTS = {
    "api.default_limit": 20,
    "api.max_limit": 1000,
    # Lists count matching rows up to this many; past it ``total_count`` is an
    # estimate and ``meta.total_count_is_estimate`` says so.
    # A thousand keeps the first page of a job's years of history as cheap as
    # a young one's: counting 10,000 index entries cost ~5 ms a request.
    "api.count_limit": 1000,
    "api.max_body_size": 1024 * 1024,
    # Each run's log keeps at most this many bytes: the head and the tail.
    "runs.log_max_bytes": 1024 * 1024,
    # Reported times may be this far ahead of the server's clock.
    "runs.max_clock_skew": 300,
    # Long-polling claims check for new runs this often (seconds) ...
    "runs.claim_poll_interval": 0.5,
    # ... and wait at most this long, whatever the worker asks for.
    "runs.max_wait": 30,
    # Seconds to wait for PostgreSQL to answer a new connection: a database
    # host that drops packets gives 503s after this, not hanging requests.
    "database.connect_timeout": 5,
}

_INTEGERS = (
    "api.default_limit",
    "api.max_limit",
    "api.count_limit",
    "api.max_body_size",
    "runs.log_max_bytes",
    "runs.max_clock_skew",
    "database.connect_timeout",
)
_FLOATS = ("runs.claim_poll_interval", "runs.max_wait")
_BOOLEANS = ("auth.secure_cookie", "metrics.multiprocess")


def _as_bool(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load(settings: dict, environ=None) -> dict:
    """Return ``settings`` with environment overrides, defaults and types applied."""
    environ = os.environ if environ is None else environ
    result = dict(DEFAULTS)
    result.update(settings)
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            result[key] = environ[variable]
    if not result.get("sqlalchemy.url"):
        raise ValueError(
            "no database: set sqlalchemy.url in the ini file or JOBRUNNER_DATABASE_URL"
        )
    for key in _INTEGERS:
        result[key] = int(result[key])
    for key in _FLOATS:
        result[key] = float(result[key])
    for key in _BOOLEANS:
        result[key] = _as_bool(result.get(key, False))
    return result
