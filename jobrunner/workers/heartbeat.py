"""Workers report that they are alive, with their version and concurrency."""

import datetime
import logging

from pyramid import httpexceptions as exc
from sqlalchemy import update

from jobrunner.api.resource import matched_id
from jobrunner.api.validation import colander_body
from jobrunner.db import utcnow
from jobrunner.errors import json_error
from jobrunner.security import Permission
from jobrunner.workers.models import Worker
from jobrunner.workers.schemas import HeartbeatSchema


log = logging.getLogger(__name__)

# A worker's clock this far off the server's is worth a line in the log: its
# reported run times are off by as much.
CLOCK_SKEW_WARNING = datetime.timedelta(minutes=1)


def heartbeat(request):
    """Record a heartbeat, at the server's time; a worker speaks for itself only."""
    worker_id = matched_id(request, "worker")
    identity = request.identity
    if identity.kind != "worker" or identity.worker_id != worker_id:
        raise json_error(
            exc.HTTPForbidden, "A worker may only update itself.", name="id"
        )
    values = request.validated
    # The server's clock, not the worker's: the monitor judges silence by the
    # server's clock, and a worker whose clock is slow would otherwise look
    # silent right after each heartbeat (and have its runs failed).
    now = utcnow()
    sent = values.get("ping_response_dts")
    if sent is not None and abs(sent - now) > CLOCK_SKEW_WARNING:
        log.warning(
            "worker %s's clock is %+.0f s off the server's",
            worker_id,
            (sent - now).total_seconds(),
        )
    reported = {
        n: values[n] for n in ("worker_version", "concurrent_jobs") if n in values
    }
    # An UPDATE statement, not a change to a loaded object: a heartbeat is no
    # edit, so it leaves the version (the ETag) alone. Otherwise every ping
    # would make an admin's If-Match stale, and a ping racing an admin's
    # change would fail the version check instead of waiting for the row.
    request.dbsession.execute(
        update(Worker)
        .where(Worker.id == worker_id)
        .values(ping_response_dts=now, **reported)
        .execution_options(synchronize_session=False)
    )
    worker = request.dbsession.get(Worker, worker_id, populate_existing=True)
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
