"""Shared set-up for console scripts: settings, logging and a database session."""

import contextlib

import transaction
from pyramid.paster import get_appsettings, setup_logging

# Every model, so the mappers resolve their relations whatever a script uses.
from jobrunner import models  # noqa: F401
from jobrunner import settings as settings_module
from jobrunner.db import get_engine, get_session_factory, get_tm_session


def load_settings(config_uri: str) -> dict:
    setup_logging(config_uri)
    return settings_module.load(get_appsettings(config_uri))


@contextlib.contextmanager
def dbsession_for(settings: dict):
    """Yield a session whose work commits on success and rolls back on error."""
    engine = get_engine(settings)
    session_factory = get_session_factory(engine)
    try:
        tm = transaction.TransactionManager(explicit=True)
        with tm:
            yield get_tm_session(session_factory, tm)
    finally:
        engine.dispose()
