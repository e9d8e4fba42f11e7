"""Workers report that they are alive, with their version and concurrency."""

import datetime

from pyramid import httpexceptions as exc

from jobrunner.api.validation import colander_body
from jobrunner.db import utcnow
from jobrunner.errors import json_error
from jobrunner.security import Permission
from jobrunner.workers.models import Worker
from jobrunner.workers.schemas import HeartbeatSchema


def heartbeat(request):
    """Record a heartbeat; a worker may only speak for itself."""
    worker_id = int(request.matchdict["id"])
    identity = request.identity
    if identity.kind != "worker" or identity.worker_id != worker_id:
        raise json_error(
            exc.HTTPForbidden, "A worker may only update itself.", name="id"
        )
    worker = request.dbsession.get(Worker, worker_id)
    values = request.validated
    ping = values.get("ping_response_dts", utcnow())
    if ping > utcnow() + datetime.timedelta(minutes=5):
        raise json_error(
            exc.HTTPBadRequest,
            "ping_response_dts is in the future.",
            "body",
            "ping_response_dts",
        )
    worker.ping_response_dts = ping
    for name in ("worker_version", "concurrent_jobs"):
        if name in values:
            setattr(worker, name, values[name])
    request.dbsession.flush()
    request.response.status = 202
    return request.registry["api.resources"]["worker"].render(worker)


EXTRA_VIEWS = (
    (
        "detail",
        "PATCH",
        heartbeat,
        {
            "permission": Permission.WRITE,
            "validators": (colander_body,),
            "schema": HeartbeatSchema(),
        },
    ),
)
