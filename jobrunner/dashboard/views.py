"""The dashboard's pages and the small JSON endpoints that keep them live.

Each page has a twin under ``/live/`` that the page's script polls. It
answers the fragments of the page that change ("regions"), rendered by the
same templates as the page, so a page and its updates never disagree.
"""

import colander
from pyramid.csrf import get_csrf_token
from pyramid.renderers import render, render_to_response
from pyramid.view import view_config

from jobrunner.dashboard import queries
from jobrunner.db import utcnow
from jobrunner.security import Permission


TEMPLATES = "jobrunner:templates/dashboard"

_READ = {"permission": Permission.READ, "request_method": "GET"}

_REGIONS = {
    "overview": ("failures", "projects"),
    "job": ("job_now", "upcoming", "chart", "history"),
    "run": ("run_facts",),
    "workers": ("pools", "workers"),
}


class CursorSchema(colander.MappingSchema):
    """The run ids that page through a job's history."""

    before = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=1), missing=None
    )
    after = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=1), missing=None
    )


class LogOffsetSchema(colander.MappingSchema):
    """How much of a run's log the page already shows."""

    length = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=0), missing=0
    )
    omitted = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=0), missing=0
    )


def _params(request, schema: colander.Schema) -> dict | None:
    """Read a page's query string; None when it makes no sense."""
    given = {
        node.name: request.GET[node.name]
        for node in schema.children
        if node.name in request.GET
    }
    try:
        return schema.deserialize(given)
    except colander.Invalid:
        return None


def _private(request) -> None:
    # Pages show what only this user may see: keep them out of shared caches
    # and out of the back button after logging out.
    request.response.headers["Cache-Control"] = "no-store"


def _page(request, name: str, page, **extra) -> dict:
    """The values every dashboard template gets."""
    _private(request)
    live = request.route_path(f"dashboard.live.{name}", **request.matchdict)
    if request.query_string:
        live += f"?{request.query_string}"
    return {
        "page": page,
        "identity": request.identity,
        "csrf_token": get_csrf_token(request),
        "live_url": live,
        "poll_interval": request.registry.settings["dashboard.poll_interval"],
        "section": name,
        **extra,
    }


def _live(request, name: str, page, **extra) -> dict:
    """The regions of a page, rendered again for its script."""
    _private(request)
    values = {"page": page, **extra}
    return {
        "now": page.now.isoformat(),
        "regions": {
            region: render(f"{TEMPLATES}/_{region}.jinja2", values, request=request)
            for region in _REGIONS[name]
        },
        **extra,
    }


def _not_found(request, what: str):
    """A 404 page for an object that does not exist or is out of the user's sight."""
    _private(request)
    response = render_to_response(
        f"{TEMPLATES}/not_found.jinja2",
        {
            "identity": request.identity,
            "csrf_token": get_csrf_token(request),
            "what": what,
        },
        request=request,
    )
    response.status = 404
    response.headers["Cache-Control"] = "no-store"
    return response


def _job_page(request):
    cursor = _params(request, CursorSchema())
    if cursor is None:
        return None
    return queries.job_page(
        request.dbsession,
        request.identity,
        int(request.matchdict["job_id"]),
        utcnow(),
        **cursor,
    )


def _silent_after(request):
    return request.registry["dashboard.silent_after"]


# -- pages -----------------------------------------------------------------------


@view_config(
    route_name="dashboard.overview",
    renderer=f"{TEMPLATES}/overview.jinja2",
    **_READ,
)
def overview(request):
    """Every project the user may see, with its jobs' last and next runs."""
    page = queries.overview(request.dbsession, request.identity, now=utcnow())
    return _page(request, "overview", page)


@view_config(route_name="dashboard.job", renderer=f"{TEMPLATES}/job.jinja2", **_READ)
def job(request):
    """A job: its schedule, script, chain, chart and run history."""
    page = _job_page(request)
    if page is None:
        return _not_found(request, "job")
    return _page(request, "job", page)


@view_config(route_name="dashboard.run", renderer=f"{TEMPLATES}/run.jinja2", **_READ)
def run(request):
    """A run: its times, worker, state and log."""
    page = queries.run_page(
        request.dbsession, request.identity, int(request.matchdict["run_id"]), utcnow()
    )
    if page is None:
        return _not_found(request, "run")
    return _page(request, "run", page)


@view_config(
    route_name="dashboard.workers", renderer=f"{TEMPLATES}/workers.jinja2", **_READ
)
def workers(request):
    """The worker pools and workers, their heartbeats and current runs."""
    page = queries.workers_page(
        request.dbsession, request.identity, utcnow(), _silent_after(request)
    )
    return _page(request, "workers", page)


# -- live updates -----------------------------------------------------------------


@view_config(route_name="dashboard.live.overview", renderer="json", **_READ)
def live_overview(request):
    """The overview's changing parts."""
    page = queries.overview(request.dbsession, request.identity, now=utcnow())
    return _live(request, "overview", page)


@view_config(route_name="dashboard.live.job", renderer="json", **_READ)
def live_job(request):
    """The job page's changing parts, for the history page being shown."""
    page = _job_page(request)
    if page is None:
        return _not_found(request, "job")
    return _live(request, "job", page)


@view_config(route_name="dashboard.live.run", renderer="json", **_READ)
def live_run(request):
    """The run's state and times, and the log text the page does not have yet."""
    offset = _params(request, LogOffsetSchema())
    page = queries.run_page(
        request.dbsession, request.identity, int(request.matchdict["run_id"]), utcnow()
    )
    if page is None or offset is None:
        return _not_found(request, "run")
    update = queries.log_since(
        request.dbsession, page.run.id, offset["length"], offset["omitted"]
    )
    return _live(
        request,
        "run",
        page,
        state=page.run.state,
        finished=page.run.is_finished,
        log={
            "mode": update.mode,
            "text": update.text,
            "length": update.length,
            "omitted": update.omitted_bytes,
        },
    )


@view_config(route_name="dashboard.live.workers", renderer="json", **_READ)
def live_workers(request):
    """The workers page's changing parts."""
    page = queries.workers_page(
        request.dbsession, request.identity, utcnow(), _silent_after(request)
    )
    return _live(request, "workers", page)
