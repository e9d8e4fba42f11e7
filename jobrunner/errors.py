"""Every error answers with Cornice's JSON body and the right status code.

The body is the one Cornice gives validation failures::

    {"status": "error", "errors": [{"location": ..., "name": ..., "description": ...}]}

and the exception views below give 401, 403, 404, 405, 409, 412, 413 and 503
the same shape, so a client parses one format whatever went wrong.
"""

import logging
import urllib.parse

from pyramid import httpexceptions as exc
from pyramid.exceptions import URLDecodeError
from pyramid.view import (
    exception_view_config,
    forbidden_view_config,
    notfound_view_config,
)
from pyramid_retry import mark_error_retryable
from sqlalchemy import exc as db_exc

from jobrunner import signing
from jobrunner.exceptions import DomainError
from jobrunner.security import SESSION


log = logging.getLogger(__name__)


def error_body(location: str, name: str, description: str) -> dict:
    return {
        "status": "error",
        "errors": [{"location": location, "name": name, "description": description}],
    }


def json_error(
    http_error: type[exc.HTTPError],
    description: str,
    location: str = "url",
    name: str = "",
    **kw,
) -> exc.HTTPError:
    """Build an HTTP error response carrying Cornice's JSON error body."""
    response = http_error(**kw)
    response.json_body = error_body(location, name, description)
    response.content_type = "application/json"
    return response


def _is_dashboard(request) -> bool:
    return not request.path.startswith("/api/")


@forbidden_view_config()
def forbidden(request):
    """401 without valid credentials, 403 when they do not allow the action."""
    if request.identity is None:
        if _is_dashboard(request) and not getattr(request, "hmac_attempted", False):
            login = request.route_url("login", _query={"came_from": request.path_qs})
            return exc.HTTPSeeOther(location=login)
        response = json_error(
            exc.HTTPUnauthorized,
            "Authentication required: sign the request with an API key, or log in.",
            location="header",
            name="Authorization",
        )
        challenge = f'{signing.AUTH_SCHEME} realm="jobrunner"'
        response.headers["WWW-Authenticate"] = challenge
        return response
    return json_error(
        exc.HTTPForbidden,
        "Your credentials do not allow this action.",
        location="header",
        name="Authorization",
    )


@notfound_view_config()
def notfound(context, request):
    if isinstance(context, exc.HTTPNotFound) and context.content_type == (
        "application/json"
    ):
        # A view's own 404 already names what was missing ("No run with id 7").
        return context
    return json_error(exc.HTTPNotFound, "Not found.", name="path")


def _undecodable_parameter(query_string: str) -> str | None:
    """The name of the first query parameter that is not UTF-8, if any."""
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        raw_key, raw_value = (
            urllib.parse.unquote_to_bytes(part.replace("+", " "))
            for part in (key, value)
        )
        for raw in (raw_key, raw_value):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw_key.decode("utf-8", "replace")
    return None


@exception_view_config(URLDecodeError)
def undecodable_path(context, request):
    """A path that is not UTF-8 names nothing here."""
    return json_error(exc.HTTPNotFound, "Not found.", name="path")


@exception_view_config(UnicodeDecodeError)
def undecodable_query(context, request):
    """A query string that is not UTF-8 is the client's mistake: 400."""
    name = _undecodable_parameter(request.environ.get("QUERY_STRING", ""))
    if name is None:
        raise context
    return json_error(
        exc.HTTPBadRequest,
        "The query string is not valid UTF-8.",
        location="querystring",
        name=name,
    )


@exception_view_config(exc.HTTPMethodNotAllowed)
def method_not_allowed(context, request):
    # Reading the identity resolves it and records how the caller signed in.
    if request.identity is not None and request.authentication_method == SESSION:
        # A session may only look (GET and HEAD); any other method is refused
        # as such, whether or not the resource offers it to HMAC callers.
        return forbidden(request)
    response = json_error(
        exc.HTTPMethodNotAllowed,
        f"Method {request.method} is not allowed here.",
        location="method",
        name=request.method,
    )
    if "Allow" in context.headers:
        response.headers["Allow"] = context.headers["Allow"]
    return response


@exception_view_config(exc.HTTPError)
def http_error(context, request):
    """Give any other HTTP error raised in a view the JSON error shape."""
    if context.content_type == "application/json" and context.body:
        return context
    response = json_error(type(context), context.explanation or context.title, name="")
    for header in ("Allow", "Location", "Retry-After", "Content-Range"):
        if header in context.headers:
            response.headers[header] = context.headers[header]
    return response


def database_unreachable(error: Exception) -> bool:
    """Whether ``error`` means the database cannot be used now, not a bug."""
    if isinstance(error, db_exc.DBAPIError) and error.connection_invalidated:
        return True
    # A server that is down or restarting refuses new connections: psycopg
    # raises OperationalError while the pool opens one, before any statement
    # ran, so SQLAlchemy does not flag it as an invalidated connection. A
    # pool with no connection left to give raises TimeoutError.
    return isinstance(
        error, (db_exc.OperationalError, db_exc.InterfaceError, db_exc.TimeoutError)
    )


@exception_view_config(db_exc.DBAPIError)
@exception_view_config(db_exc.TimeoutError)
def database_unavailable(context, request):
    """A lost database connection is a 503 the client may retry, not a 500."""
    if not database_unreachable(context):
        raise context
    log.warning("database unavailable: %s", getattr(context, "orig", context))
    response = json_error(
        exc.HTTPServiceUnavailable,
        "The database is unavailable; try again shortly.",
        name="database",
    )
    response.headers["Retry-After"] = "5"
    return response


@exception_view_config(db_exc.IntegrityError)
def integrity_error(context, request):
    """A constraint refused the change: 409, never a 500.

    Almost always two requests raced past the same check (two creates with one
    title): the request has been retried already (see :func:`includeme`) and
    still conflicts, or it is on its last attempt.
    """
    log.warning("integrity error: %s", getattr(context, "orig", context))
    return json_error(
        exc.HTTPConflict,
        "The change conflicts with data stored meanwhile; read it and try again.",
        location="body",
    )


STATUS_OF_KIND = {
    "invalid": exc.HTTPBadRequest,
    "conflict": exc.HTTPConflict,
    "not_found": exc.HTTPNotFound,
    "forbidden": exc.HTTPForbidden,
    "precondition": exc.HTTPPreconditionFailed,
    "range": exc.HTTPRequestRangeNotSatisfiable,
}


@exception_view_config(DomainError)
def domain_error(context, request):
    """Answer a refused operation with its status and Cornice's body."""
    location = "body" if context.kind in ("invalid", "range") else "url"
    if context.kind == "precondition":
        location = "header"
    response = json_error(
        STATUS_OF_KIND[context.kind], context.description, location, context.name
    )
    if context.kind == "range":
        length = context.extra["length"]
        response.json_body = {**response.json_body, "length": length}
        response.headers["Content-Range"] = f"bytes */{length}"
    return response


def body_size_limit_tween_factory(handler, registry):
    """Refuse bodies over ``api.max_body_size`` before anything reads them."""
    limit = registry.settings["api.max_body_size"]

    def tween(request):
        length = request.content_length
        if length is not None and length > limit:
            return json_error(
                exc.HTTPRequestEntityTooLarge,
                f"The request body is larger than {limit} bytes.",
                location="body",
            )
        if length is None and request.is_body_readable:
            body = request.body_file.read(limit + 1)
            if len(body) > limit:
                return json_error(
                    exc.HTTPRequestEntityTooLarge,
                    f"The request body is larger than {limit} bytes.",
                    location="body",
                )
            request.body = body
        return handler(request)

    return tween


def includeme(config):
    # A unique or foreign key constraint that fails after the operation's own
    # check passed means another request committed in between (two creates
    # with the same title, a delete of a referenced object). pyramid_retry
    # then runs the request again from the start, where the check sees the
    # other request's data and answers 400 or 409 as usual. Retrying is safe:
    # pyramid_tm has rolled the whole transaction back, so nothing of the
    # first attempt is stored, and mails wait for the commit. Claiming and
    # reporting runs are conditional updates made again from the stored
    # state, so a second attempt cannot hand out a run twice or reschedule
    # twice; only the in-process metrics may count the first attempt too.
    # The exception view below answers whatever still fails.
    mark_error_retryable(db_exc.IntegrityError)
    config.add_tween("jobrunner.errors.body_size_limit_tween_factory")
    config.scan("jobrunner.errors")
