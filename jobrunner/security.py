"""Who is calling and what they may do.

Two kinds of credential reach the application:

* worker daemons and admin keys sign each request with HMAC-SHA1
  (:mod:`jobrunner.signing`) and get every method a resource offers;
* people log in to the dashboard and carry an AuthTkt cookie; they may only look.

:class:`MultiSecurityPolicy` asks its policies in order; the first that
recognises the request decides, and the choice is cached for the request. Each
route's context names the authentication methods it accepts
(``auth_methods``), so API endpoints and dashboard pages never confuse one
credential for another.
"""

import enum
import functools
import logging
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from pyramid.authentication import AuthTktCookieHelper
from pyramid.authorization import ACLHelper, Allow, Authenticated, Everyone
from pyramid.interfaces import ISecurityPolicy
from sqlalchemy import bindparam, select
from zope.interface import implementer

from jobrunner import signing
from jobrunner.accounts.models import AdminKey, User, user_group
from jobrunner.workers.models import Worker, worker_pool_worker


log = logging.getLogger(__name__)

HMAC = "hmac"
SESSION = "session"


class Permission(enum.StrEnum):
    """What a principal may do; each view requires one of these."""

    READ = "api:read"
    WRITE = "api:write"
    CLAIM = "runs:claim"
    MANAGE = "admin:manage"


@dataclass(frozen=True)
class WorkerIdentity:
    """A worker daemon, authenticated by HMAC; it sees what its pools hold."""

    worker_id: int
    pool_ids: tuple[int, ...]
    kind: str = field(default="worker", init=False)

    @property
    def principals(self) -> list[str]:
        return [Everyone, Authenticated, "role:worker", f"worker:{self.worker_id}"]

    @property
    def log_id(self) -> str:
        return f"worker:{self.worker_id}"


@dataclass(frozen=True)
class AdminKeyIdentity:
    """An automation key with every right on every object."""

    admin_key_id: int
    kind: str = field(default="admin", init=False)

    @property
    def principals(self) -> list[str]:
        return [Everyone, Authenticated, "role:admin"]

    @property
    def log_id(self) -> str:
        return f"admin_key:{self.admin_key_id}"


@dataclass(frozen=True)
class UserIdentity:
    """A dashboard user; sees the projects of his groups, or all as superuser."""

    user_id: int
    username: str
    group_ids: tuple[int, ...]
    is_superuser: bool
    kind: str = field(default="user", init=False)

    @property
    def principals(self) -> list[str]:
        return [Everyone, Authenticated, "role:user", f"user:{self.user_id}"]

    @property
    def log_id(self) -> str:
        return f"user:{self.user_id}"


Identity = WorkerIdentity | AdminKeyIdentity | UserIdentity

# Sessions look; HMAC credentials act. Scoping to a caller's objects happens
# in the queries, on top of these rights.
ROOT_ACL = [
    (Allow, "role:user", (Permission.READ,)),
    (Allow, "role:worker", (Permission.READ, Permission.WRITE, Permission.CLAIM)),
    (Allow, "role:admin", (Permission.READ, Permission.WRITE, Permission.MANAGE)),
]


def accepted_methods(request) -> tuple[str, ...]:
    """Return the authentication methods the matched route accepts."""
    context = getattr(request, "context", None)
    return getattr(context, "auth_methods", (HMAC, SESSION))


def _candidate_paths(request) -> list[str]:
    """Return the spellings of the request's path and query that a client may
    have signed: the raw URI when the server passes it on, and the path
    rebuilt from the WSGI environment otherwise."""
    candidates = []
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw:
            parts = urlsplit(raw)
            raw = parts.path + (f"?{parts.query}" if parts.query else "")
        candidates.append(raw)
    path = quote(
        (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode(
            "latin-1"
        ),
        safe="/:@!$&'()*+,;=-._~",
    )
    query = environ.get("QUERY_STRING", "")
    rebuilt = path + (f"?{query}" if query else "")
    if rebuilt not in candidates:
        candidates.append(rebuilt)
    return candidates


@functools.cache
def _worker_credentials():
    """A worker's id, secret and pools by api key: asked on every signed request,
    so built once, from the tables (plain SQL, no ORM entities to load)."""
    worker = Worker.__table__
    member = worker_pool_worker.c
    return (
        select(worker.c.id, worker.c.secret, member.worker_pool_id)
        .outerjoin(worker_pool_worker, member.worker_id == worker.c.id)
        .where(worker.c.api_key == bindparam("api_key"))
    )


class HMACSecurityPolicy:
    """Authenticate worker daemons and admin keys by their request signature."""

    def identity(self, request) -> Identity | None:
        header = request.headers.get("Authorization") or request.headers.get(
            "Authentication"
        )
        if header is None:
            return None
        request.hmac_attempted = True
        parsed = signing.parse_authorization(header)
        if parsed is None:
            log.warning("malformed HMAC authorization header")
            return None
        api_key, given = parsed
        found = self._lookup(request.dbsession, api_key)
        if found is None:
            # Verify against a dummy secret so that an unknown key costs the
            # same as a wrong signature.
            signing.verify(
                "-", given, request.method, _candidate_paths(request), request.body
            )
            log.warning("HMAC authentication failed: unknown key")
            return None
        secret, identity = found
        if not signing.verify(
            secret, given, request.method, _candidate_paths(request), request.body
        ):
            log.warning("HMAC authentication failed for %s", identity.log_id)
            return None
        return identity

    def _lookup(self, dbsession, api_key):
        rows = dbsession.execute(_worker_credentials(), {"api_key": api_key}).all()
        if rows:
            pool_ids = tuple(sorted(r.worker_pool_id for r in rows if r.worker_pool_id))
            return rows[0].secret, WorkerIdentity(rows[0].id, pool_ids)
        admin = dbsession.execute(
            select(AdminKey.id, AdminKey.secret).where(
                AdminKey.api_key == api_key, AdminKey.is_active.is_(True)
            )
        ).first()
        if admin is not None:
            return admin.secret, AdminKeyIdentity(admin.id)
        return None

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


class SessionSecurityPolicy:
    """Authenticate dashboard users by their AuthTkt cookie."""

    def __init__(self, helper: AuthTktCookieHelper):
        self.helper = helper

    def identity(self, request) -> UserIdentity | None:
        ticket = self.helper.identify(request)
        if ticket is None:
            return None
        try:
            user_id = int(ticket["userid"])
        except (TypeError, ValueError):
            return None
        user = request.dbsession.execute(
            select(User.id, User.username, User.is_superuser).where(
                User.id == user_id, User.is_active.is_(True)
            )
        ).first()
        if user is None:
            return None
        group_ids = request.dbsession.scalars(
            select(user_group.c.group_id).where(user_group.c.user_id == user_id)
        ).all()
        return UserIdentity(user.id, user.username, tuple(group_ids), user.is_superuser)

    def remember(self, request, userid, **kw):
        return self.helper.remember(request, str(userid), **kw)

    def forget(self, request, **kw):
        return self.helper.forget(request, **kw)


@implementer(ISecurityPolicy)
class MultiSecurityPolicy:
    """Ask each policy in turn; the first to return an identity wins."""

    def __init__(self, policies: dict[str, object]):
        self.policies = policies
        self.acl = ACLHelper()

    def _resolve(self, request):
        cached = request.environ.get("jobrunner.identity")
        if cached is not None:
            return cached
        if getattr(request, "context", None) is None:
            # Before routing nobody knows which credentials the route accepts,
            # so there is no identity yet; resolve (and cache) once there is.
            return (None, None)
        resolved = (None, None)
        for method in accepted_methods(request):
            identity = self.policies[method].identity(request)
            if identity is not None:
                resolved = (method, identity)
                break
            if getattr(request, "hmac_attempted", False):
                # A signature that does not verify fails the request, even
                # when a session cookie rides along: a bad key must answer
                # 401, whatever else the client sent.
                break
        request.environ["jobrunner.identity"] = resolved
        request.authentication_method = resolved[0]
        return resolved

    def identity(self, request):
        return self._resolve(request)[1]

    def authenticated_userid(self, request):
        identity = self.identity(request)
        return None if identity is None else identity.log_id

    def permits(self, request, context, permission):
        method, identity = self._resolve(request)
        principals = [Everyone] if identity is None else identity.principals
        if method == SESSION and permission != Permission.READ:
            # A session is for looking; it never writes, whatever the ACL says.
            principals = [Everyone]
        return self.acl.permits(context, principals, permission)

    def remember(self, request, userid, **kw):
        headers = []
        for policy in self.policies.values():
            headers.extend(policy.remember(request, userid, **kw))
        return headers

    def forget(self, request, **kw):
        headers = []
        for policy in self.policies.values():
            headers.extend(policy.forget(request, **kw))
        return headers


def includeme(config):
    """Install the combined policy; the AuthTkt secret must come from settings."""
    settings = config.get_settings()
    secret = settings.get("auth.secret")
    if not secret:
        raise ValueError(
            "auth.secret is not set: put it in the ini file for development, "
            "or in JOBRUNNER_AUTH_SECRET"
        )
    helper = AuthTktCookieHelper(
        secret,
        cookie_name="jobrunner_auth",
        secure=settings.get("auth.secure_cookie", False),
        http_only=True,
        samesite="Lax",
        hashalg="sha512",
        wild_domain=False,
        timeout=int(settings.get("auth.timeout", 12 * 3600)),
        reissue_time=int(settings.get("auth.reissue_time", 3600)),
    )
    # pyramid_tm would ask who is calling before routing, to annotate a
    # transaction log that SQLAlchemy never reads.
    settings["tm.annotate_user"] = False
    config.set_security_policy(
        MultiSecurityPolicy(
            {HMAC: HMACSecurityPolicy(), SESSION: SessionSecurityPolicy(helper)}
        )
    )
