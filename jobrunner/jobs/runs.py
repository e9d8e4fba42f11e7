"""The write side of runs: reports, claims, log appends, manual runs, kills.

The views read ``request.validated``, make one call into
:mod:`jobrunner.jobs.operations` and render the result; every rule lives in
the operations module.
"""

import datetime
import time

from cornice import Service
from pyramid import httpexceptions as exc
from sqlalchemy import select

from jobrunner import scopes
from jobrunner.api.resource import API_PREFIX, ApiContext, matched_id
from jobrunner.api.validation import colander_body
from jobrunner.db import utcnow
from jobrunner.errors import json_error
from jobrunner.jobs import operations, schemas
from jobrunner.jobs.models import Job, KillRequest, Run
from jobrunner.jobs.operations import LifecycleError
from jobrunner.notifications import notifier_from_settings
from jobrunner.security import Permission


def _resources(request):
    return request.registry["api.resources"]


def _worker_id(request) -> int | None:
    identity = request.identity
    return identity.worker_id if identity.kind == "worker" else None


def _not_found(name: str, object_id) -> exc.HTTPError:
    return json_error(exc.HTTPNotFound, f"No {name} with id {object_id}.", name="id")


def _locked_run(request, run_id: int) -> Run:
    """The run, row-locked.

    Its log is loaded afterwards, when needed, on purpose: joined to the
    locking query, it would be read from before the lock was granted, and a
    report that waited for a concurrent one would see that report's run but
    not its log.
    """
    query = scopes.run(select(Run), request.identity).where(Run.id == run_id)
    run = operations.lock_run(request.lifecycle, query)
    if run is None:
        raise _not_found("run", run_id)
    return run


def report_run(request):
    """Record a worker's report; returning reschedules in this transaction.

    Answers 202 with the run, as workers written for the original API expect.
    """
    run = _locked_run(request, matched_id(request, "run"))
    operations.report(request.lifecycle, run, request.validated, _worker_id(request))
    request.response.status = 202
    return _resources(request)["run"].render(run)


def create_manual_run(request):
    """Start a job now, outside its schedule."""
    job_id = request.validated["job"]
    job = request.dbsession.scalars(
        scopes.job(select(Job), request.identity).where(Job.id == job_id)
    ).first()
    if job is None:
        raise json_error(exc.HTTPBadRequest, f"No job with id {job_id}.", "body", "job")
    runs = operations.create_manual_run(
        request.lifecycle, job, request.validated.get("schedule_children", True)
    )
    run_resource = _resources(request)["run"]
    request.response.status = 201
    request.response.headers["Location"] = request.route_url(
        "api.run.detail", id=runs[0].id
    )
    return run_resource.render(runs[0])


claim_service = Service(
    name="api.run.claim",
    path=f"{API_PREFIX}/run/claim/",
    factory=ApiContext,
    description="Claim due runs for the calling worker, waiting for them if asked.",
)


@claim_service.post(
    permission=Permission.CLAIM,
    validators=(colander_body,),
    schema=schemas.ClaimSchema(),
)
def claim_runs(request):
    """Claim up to ``limit`` due runs, holding the request up to ``wait`` seconds.

    While waiting no transaction or connection is held: each attempt is its
    own short transaction, and between attempts the request sleeps until the
    next run it could take is due, or for the poll interval, whichever is
    sooner, so a run that becomes due is handed out within milliseconds.
    """
    identity = request.identity
    settings = request.registry.settings
    poll = settings["runs.claim_poll_interval"]
    deadline = time.monotonic() + min(
        request.validated["wait"], settings["runs.max_wait"]
    )
    while True:
        lc = request.lifecycle
        claimed = operations.claim(
            lc, identity.worker_id, identity.pool_ids, request.validated["limit"]
        )
        remaining = deadline - time.monotonic()
        if claimed or remaining <= 0:
            break
        next_due = operations.next_due_dts(lc, identity.worker_id, identity.pool_ids)
        pause = min(remaining, poll)
        if next_due is not None:
            until_due = (next_due - utcnow()).total_seconds()
            pause = min(pause, max(until_due, 0.01))
        # Let go of the connection while sleeping, then start afresh.
        request.tm.abort()
        request.tm.begin()
        del request.lifecycle
        time.sleep(pause)

    run_resource = _resources(request)["run"]
    objects = [
        {**run_resource.render(run), "job_title": title, "script_content": script}
        for run, title, script in claimed
    ]
    return {"meta": {"count": len(objects)}, "objects": objects}


log_service = Service(
    name="api.run.log",
    path=f"{API_PREFIX}/run/{{id:[0-9]+}}/log/",
    factory=ApiContext,
    description="Append output to a running run's log at a byte offset.",
)


@log_service.post(
    permission=Permission.WRITE,
    validators=(colander_body,),
    schema=schemas.LogAppendSchema(),
)
def append_log(request):
    """Append at ``offset``; a wrong offset is 416 with the server's length."""
    run = _locked_run(request, matched_id(request, "run"))
    worker_id = _worker_id(request)
    if worker_id is not None and run.worker_id != worker_id:
        raise LifecycleError("conflict", "run", "This run is not yours.")
    run_log = operations.append_log(
        request.lifecycle,
        run,
        request.validated["offset"],
        request.validated["content"],
    )
    request.response.status = 202
    return {"length": run_log.received_bytes, "omitted_bytes": run_log.omitted_bytes}


def create_kill_request(request):
    """Ask the worker running a run to kill it."""
    run_id = request.validated["run"]
    run = operations.lock_run(
        request.lifecycle,
        scopes.run(select(Run), request.identity).where(Run.id == run_id),
    )
    if run is None:
        raise json_error(exc.HTTPBadRequest, f"No run with id {run_id}.", "body", "run")
    kill = operations.request_kill(request.lifecycle, run)
    request.response.status = 201
    request.response.headers["Location"] = request.route_url(
        "api.kill_request.detail", id=kill.id
    )
    return _resources(request)["kill_request"].render(kill)


def report_kill_request(request):
    """A worker says it picked up (``enqueue_dts``) or did (``execute_dts``) a kill."""
    kill_id = matched_id(request, "kill_request")
    kill = request.dbsession.scalars(
        scopes.kill_request(select(KillRequest), request.identity)
        .where(KillRequest.id == kill_id)
        .with_for_update(of=KillRequest)
    ).first()
    if kill is None:
        raise _not_found("kill_request", kill_id)
    worker_id = _worker_id(request)
    if worker_id is not None and kill.run.worker_id != worker_id:
        raise LifecycleError("conflict", "run", "This run is not yours.")
    for name in ("enqueue_dts", "execute_dts"):
        if name in request.validated:
            value = request.validated[name]
            if value > utcnow() + datetime.timedelta(minutes=5):
                raise LifecycleError("invalid", name, f"{name} is in the future.")
            setattr(kill, name, value)
    request.response.status = 202
    return _resources(request)["kill_request"].render(kill)


def extra_views(resource_name: str):
    """Write methods added to the read resources of :mod:`jobrunner.jobs.views`."""
    if resource_name == "run":
        return (
            (
                "detail",
                "PATCH",
                report_run,
                {
                    "permission": Permission.WRITE,
                    "validators": (colander_body,),
                    "schema": schemas.RunReportSchema(),
                },
            ),
            (
                "list",
                "POST",
                create_manual_run,
                {
                    "permission": Permission.WRITE,
                    "validators": (colander_body,),
                    "schema": schemas.ManualRunSchema(),
                },
            ),
        )
    if resource_name == "kill_request":
        return (
            (
                "list",
                "POST",
                create_kill_request,
                {
                    "permission": Permission.MANAGE,
                    "validators": (colander_body,),
                    "schema": schemas.KillRequestCreateSchema(),
                },
            ),
            (
                "detail",
                "PATCH",
                report_kill_request,
                {
                    "permission": Permission.WRITE,
                    "validators": (colander_body,),
                    "schema": schemas.KillRequestReportSchema(),
                },
            ),
        )
    return ()


def _lifecycle(request) -> operations.Lifecycle:
    settings = request.registry.settings
    return operations.Lifecycle(
        dbsession=request.dbsession,
        now=utcnow(),
        notifier=request.registry["notifier"].bind(request.tm),
        log_max_bytes=settings["runs.log_max_bytes"],
        max_clock_skew=datetime.timedelta(seconds=settings["runs.max_clock_skew"]),
    )


def includeme(config):
    config.registry["notifier"] = notifier_from_settings(config.get_settings())
    config.add_request_method(_lifecycle, "lifecycle", reify=True)
    config.scan(".runs")
