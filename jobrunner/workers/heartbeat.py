"""Workers report that they are alive, with their version and concurrency."""

import datetime

from pyramid import httpexceptions as exc

from jobrunner.api.resource import matched_id
from jobrunner.api.validation import colander_body
from jobrunner.db import utcnow
from jobrunner.errors import json_error
from jobrunner.security import Permission
from jobrunner.workers.models import Worker
from jobrunner.workers.schemas import HeartbeatSchema


def heartbeat(request):
    """Record a heartbeat; a worker may only speak for itself."""
    worker_id = matched_id(request, "worker")
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


def validate_patch(request, schema=None, **kwargs):
    """Check a PATCH of a worker: a heartbeat from a worker, a change from an admin."""
    identity = request.identity
    if identity is not None and identity.kind == "worker":
        schema = HeartbeatSchema()
    colander_body(request, schema=schema, **kwargs)


def either(admin_update):
    """A PATCH view: heartbeats for workers, ``admin_update`` for admin keys."""

    def view(request):
        if request.identity.kind == "worker":
            return heartbeat(request)
        if not request.has_permission(Permission.MANAGE):
            raise json_error(exc.HTTPForbidden, "Only admin keys change workers.")
        return admin_update(request)

    return view
