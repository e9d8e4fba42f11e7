"""Counters shared by the processes of one server, for Prometheus.

production.ini runs several gunicorn workers, forked from one loaded
application, and a scrape of ``/metrics`` reaches any one of them. For the
counters to add up across them, prometheus_client must keep them in files in
a folder shared by the processes, named by ``PROMETHEUS_MULTIPROC_DIR``
before prometheus_client is first imported. This module imports nothing of
it, so the application factory can arrange that first.
"""

import logging
import os
import sys
import tempfile


log = logging.getLogger(__name__)

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_counters(enabled: bool) -> str | None:
    """Give this server's processes a fresh shared counter folder; return it.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept as it is. Otherwise
    a new, empty folder is made, so no counts are left over from an earlier
    run, and the forked workers inherit its name.
    """
    if not enabled:
        return None
    if os.environ.get(VARIABLE):
        return os.environ[VARIABLE]
    if "prometheus_client" in sys.modules:
        log.warning(
            "metrics.multiprocess is set, but prometheus_client was imported "
            "first: each process reports only its own counters"
        )
        return None
    folder = tempfile.mkdtemp(prefix="jobrunner-metrics-")
    os.environ[VARIABLE] = folder
    return folder
