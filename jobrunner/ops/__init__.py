"""Operational endpoints: liveness, readiness and Prometheus metrics.

``/health`` answers as long as the process serves requests and touches no
database; ``/ready`` answers 200 only when the database answers ``SELECT 1``;
``/metrics`` is the Prometheus text format. None of them needs a credential,
except ``/metrics`` when ``metrics.token`` (``JOBRUNNER_METRICS_TOKEN``) is
set: then it asks for ``Authorization: Bearer <token>``, which Prometheus
sends with its ``authorization`` scrape option.
"""


def includeme(config):
    """Add the three routes, their views and the request-counting tween."""
    from jobrunner.ops.views import OpsContext

    config.add_route("ops.health", "/health", factory=OpsContext)
    config.add_route("ops.ready", "/ready", factory=OpsContext)
    config.add_route("ops.metrics", "/metrics", factory=OpsContext)
    # Right under the ingress, so that it sees the final status of every
    # response, errors turned into JSON by the exception views included.
    config.add_tween("jobrunner.ops.metrics.tween_factory", under="INGRESS")
    config.scan("jobrunner.ops.views")
