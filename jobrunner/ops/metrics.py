"""Prometheus counters of this process, fed with plain values.

The run life cycle calls :func:`count` with a counter's name and a number, so
it needs neither Pyramid nor this module's counters to be set up.

Counters live in the process. With several server processes on one host,
``PROMETHEUS_MULTIPROC_DIR`` names a folder they share (see
:mod:`jobrunner.ops.multiprocess`, which production.ini turns on):
prometheus_client then keeps the counters in files there, and ``/metrics``
adds them up across the processes (:func:`exposition`).
"""

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)


REQUESTS = Counter(
    "jobrunner_http_requests",
    "HTTP requests answered, by route, method and status code.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "jobrunner_http_request_duration_seconds",
    "Time spent answering HTTP requests, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COUNTERS = {
    "runs_claimed": Counter(
        "jobrunner_runs_claimed",
        "Runs handed to workers, by the claim endpoint or by a PATCH.",
        ["via"],
    ),
    "runs_finished": Counter(
        "jobrunner_runs_finished",
        "Runs that returned (or were failed for a silent worker), by outcome.",
        ["outcome"],
    ),
}
CONTENT_TYPE = CONTENT_TYPE_LATEST


def count(name: str, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to the counter called ``name`` (see ``COUNTERS``)."""
    counter = COUNTERS[name]
    (counter.labels(**labels) if labels else counter).inc(amount)


def exposition() -> bytes:
    """The counters in Prometheus text format; every process's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _route_of(request) -> str:
    route = request.matched_route
    return route.name if route is not None else "unmatched"


def tween_factory(handler, registry):
    """Count every request by route and status, and time it."""

    def tween(request):
        started = time.perf_counter()
        status = 500  # What the server answers when an exception escapes.
        try:
            response = handler(request)
            status = response.status_code
            return response
        finally:
            route = _route_of(request)
            REQUESTS.labels(route, request.method, str(status)).inc()
            REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)

    return tween
