"""The reference worker daemon, ``jobrunner-worker``.

It is a client of the server's HTTP API and nothing more: it imports
:mod:`jobrunner.signing` and no other part of the server, so it can be
installed on hosts that never see the database.
"""

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("jobrunner")
    except metadata.PackageNotFoundError:  # running from a bare source tree
        return "0+unknown"


__version__ = _version()
