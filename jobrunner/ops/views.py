"""``/health``, ``/ready`` and ``/metrics``."""

import hmac
import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pyramid import httpexceptions as exc
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.exc import SQLAlchemyError

from jobrunner.db import utcnow
from jobrunner.errors import json_error
from jobrunner.ops import metrics, operations


log = logging.getLogger(__name__)

RETRY_AFTER = "5"


class OpsContext:
    """The context of the operational routes: no credential is looked at.

    With no authentication method accepted, the security policy never reads
    a header or the database for these routes, so a probe costs nothing and
    works while the database is down.
    """

    auth_methods = ()

    def __init__(self, request):
        self.request = request


@view_config(route_name="ops.health", renderer="json", request_method=("GET", "HEAD"))
def health(request):
    """Liveness: the process answers. Never touches the database."""
    return {"status": "ok"}


@view_config(route_name="ops.ready", renderer="json", request_method=("GET", "HEAD"))
def ready(request):
    """Readiness: 200 when the database answers, else 503 with Retry-After."""
    try:
        operations.check_database(request.dbsession)
    except SQLAlchemyError as error:
        log.warning("not ready: database unavailable: %s", error)
        # The failed transaction must not be committed by pyramid_tm.
        request.tm.doom()
        response = json_error(
            exc.HTTPServiceUnavailable,
            "The database is unavailable.",
            name="database",
        )
        response.headers["Retry-After"] = RETRY_AFTER
        return response
    return {"status": "ok", "database": "ok"}


def _authorized(request) -> bool:
    token = request.registry.settings.get("metrics.token")
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    return hmac.compare_digest(given.encode(), expected.encode())


class _Snapshot:
    """A collector of values read once, at scrape time.

    Metric families rather than Gauge objects: in multiprocess mode a Gauge
    keeps its value in a file of the shared folder, where the next scrape
    would find it again.
    """

    def __init__(self, stats: operations.RunStats | None):
        self.stats = stats

    def collect(self):
        up = GaugeMetricFamily(
            "jobrunner_database_up",
            "Whether the database answered the queries of this scrape.",
            value=0 if self.stats is None else 1,
        )
        yield up
        if self.stats is None:
            return
        runs = GaugeMetricFamily(
            "jobrunner_runs",
            "Unfinished runs by state, counted exactly.",
            labels=["state"],
        )
        for state in ("scheduled", "in_queue", "started"):
            runs.add_metric([state], getattr(self.stats, state))
        yield runs
        if self.stats.completed_estimate is not None:
            yield GaugeMetricFamily(
                "jobrunner_runs_completed_estimate",
                "Completed runs, as estimated by PostgreSQL's planner (not counted).",
                value=self.stats.completed_estimate,
            )
        yield GaugeMetricFamily(
            "jobrunner_dispatch_lag_seconds",
            "How long the oldest due run that may be handed out has been waiting.",
            value=self.stats.dispatch_lag,
        )


def _run_gauges(stats: operations.RunStats | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(stats))
    return generate_latest(registry)


@view_config(route_name="ops.metrics", request_method="GET")
def metrics_view(request):
    """Prometheus metrics: this process's counters and the run gauges."""
    if not _authorized(request):
        response = json_error(
            exc.HTTPUnauthorized,
            "Send the metrics token as a Bearer token.",
            location="header",
            name="Authorization",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="jobrunner-metrics"'
        return response
    try:
        stats = operations.run_stats(request.dbsession, utcnow())
    except SQLAlchemyError as error:
        # The counters are still worth having while the database is down.
        log.warning("metrics without run gauges: database unavailable: %s", error)
        request.tm.doom()
        stats = None
    body = metrics.exposition() + _run_gauges(stats)
    response = Response(body=body)
    response.headers["Content-Type"] = metrics.CONTENT_TYPE
    return response
