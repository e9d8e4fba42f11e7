"""Logging in to and out of the dashboard."""

import logging

import colander
from pyramid.csrf import CookieCSRFStoragePolicy, check_csrf_token, get_csrf_token
from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.security import forget, remember
from pyramid.view import view_config

from jobrunner.accounts import operations
from jobrunner.accounts.schemas import LoginSchema
from jobrunner.api.validation import parse_json
from jobrunner.errors import error_body
from jobrunner.security import ROOT_ACL


log = logging.getLogger(__name__)


class DashboardContext:
    """The context of dashboard routes: sessions only."""

    __acl__ = ROOT_ACL
    auth_methods = ("session",)

    def __init__(self, request):
        self.request = request


def _wants_json(request) -> bool:
    return request.content_type == "application/json"


def _safe_came_from(came_from) -> str:
    """Return ``came_from`` when it is a path on this site, and "/" otherwise."""
    try:
        return LoginSchema().get("came_from").deserialize(came_from)
    except colander.Invalid:
        return "/"


# The flag the logout redirect sets, so the login form can say it worked.
LOGGED_OUT = "logged_out"


def _login_form(request, came_from: str, message: str = "", username: str = ""):
    # Someone still logged in who follows an old link is not told otherwise.
    logged_out = LOGGED_OUT in request.GET and request.identity is None
    return {
        "came_from": came_from,
        "message": message,
        "notice": "You are logged out." if logged_out else "",
        "username": username,
        "csrf_token": get_csrf_token(request),
    }


@view_config(
    route_name="login",
    request_method="GET",
    renderer="jobrunner:templates/login.jinja2",
)
def login_form(request):
    """Show the login form."""
    return _login_form(request, _safe_came_from(request.params.get("came_from", "/")))


@view_config(route_name="login", request_method="POST")
def login(request):
    """Check a username and password and set the session cookie.

    The form needs its CSRF token; a JSON body does not, since browsers send
    cross-site JSON only after a CORS preflight that this site never allows.
    """
    as_json = _wants_json(request)
    if as_json:
        try:
            data = parse_json(request.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            response = HTTPBadRequest(json_body=error_body("body", "", "Invalid JSON."))
            return response
    else:
        data = dict(request.POST)
        check_csrf_token(request, raises=True)
    # An off-site came_from is dropped, not an error: the user still logs in
    # and lands on the dashboard instead of the other site.
    data["came_from"] = _safe_came_from(data.get("came_from", "/"))
    try:
        values = LoginSchema().deserialize(data)
    except colander.Invalid as error:
        errors = error.asdict()
        if as_json:
            body = {
                "status": "error",
                "errors": [
                    {"location": "body", "name": k, "description": v}
                    for k, v in sorted(errors.items())
                ],
            }
            return HTTPBadRequest(json_body=body)
        request.response.status = 400
        return _render_form(request, "Enter a username and a password.", data)

    user = operations.authenticate(
        request.dbsession, values["username"], values["password"]
    )
    if user is None:
        log.warning("failed login for username %r", values["username"])
        description = "Invalid username or password."
        if as_json:
            return HTTPBadRequest(json_body=error_body("body", "password", description))
        request.response.status = 400
        return _render_form(request, description, data)

    log.info("user %s logged in", user.id)
    headers = remember(request, user.id)
    if as_json:
        request.response.headerlist.extend(headers)
        request.response.content_type = "application/json"
        request.response.json_body = {"username": user.username}
        return request.response
    return HTTPSeeOther(location=values["came_from"], headers=headers)


def _render_form(request, message, data):
    came_from = _safe_came_from(data.get("came_from", "/"))
    response = render_to_response(
        "jobrunner:templates/login.jinja2",
        _login_form(request, came_from, message, data.get("username", "")),
        request=request,
    )
    response.status = 400
    return response


@view_config(
    route_name="logout",
    request_method="GET",
    renderer="jobrunner:templates/logout.jinja2",
)
def logout_form(request):
    """Ask before logging out: a link must not end a session, the button does."""
    request.response.headers["Cache-Control"] = "no-store"
    return {"identity": request.identity, "csrf_token": get_csrf_token(request)}


@view_config(route_name="logout", request_method="POST")
def logout(request):
    """Forget the session cookie."""
    if not _wants_json(request):
        check_csrf_token(request, raises=True)
    headers = forget(request)
    if _wants_json(request):
        request.response.headerlist.extend(headers)
        request.response.content_type = "application/json"
        request.response.json_body = {"status": "ok"}
        return request.response
    location = request.route_url("login", _query={LOGGED_OUT: "1"})
    return HTTPSeeOther(location=location, headers=headers)


def includeme(config):
    config.set_default_csrf_options(require_csrf=False)
    config.set_csrf_storage_policy(
        CookieCSRFStoragePolicy(
            cookie_name="jobrunner_csrf",
            secure=config.get_settings().get("auth.secure_cookie", False),
            httponly=True,
            samesite="Lax",
        )
    )
    config.add_route("login", "/login", factory=DashboardContext)
    config.add_route("logout", "/logout", factory=DashboardContext)
    config.add_static_view("static", "jobrunner:static", cache_max_age=3600)
    config.scan(".views")
