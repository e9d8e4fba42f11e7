"""The combining security policy, its two sub-policies and their identities."""

import pytest
from pyramid import testing
from pyramid.authentication import AuthTktCookieHelper
from pyramid.authorization import Authenticated, Everyone
from pyramid.interfaces import ISecurityPolicy
from zope.interface.verify import verifyClass, verifyObject

from jobrunner import security
from jobrunner.security import (
    HMAC,
    ROOT_ACL,
    SESSION,
    AdminKeyIdentity,
    HMACSecurityPolicy,
    MultiSecurityPolicy,
    Permission,
    SessionSecurityPolicy,
    UserIdentity,
    WorkerIdentity,
)


WORKER = WorkerIdentity(worker_id=7, pool_ids=(1, 2))
ADMIN = AdminKeyIdentity(admin_key_id=3)
USER = UserIdentity(user_id=5, username="ann", group_ids=(1,), is_superuser=False)


class Context:
    """A route context: the root ACL and the auth methods the route accepts."""

    __acl__ = ROOT_ACL

    def __init__(self, auth_methods=(HMAC, SESSION)):
        self.auth_methods = auth_methods


class StubPolicy:
    """A sub-policy that answers a fixed identity and counts the questions."""

    def __init__(self, identity=None, headers=(), attempted=False):
        self.answer = identity
        self.headers = list(headers)
        self.attempted = attempted
        self.calls = 0

    def identity(self, request):
        self.calls += 1
        if self.attempted:
            request.hmac_attempted = True
        return self.answer

    def remember(self, request, userid, **kw):
        return [("Set-Cookie", f"remember={userid}"), *self.headers]

    def forget(self, request, **kw):
        return [("Set-Cookie", "forget="), *self.headers]


def make_request(context=None, **kw):
    request = testing.DummyRequest(environ={}, **kw)
    request.context = Context() if context is None else context
    return request


def cookie_helper():
    return AuthTktCookieHelper(
        "unit-test-secret",
        cookie_name="jobrunner_auth",
        http_only=True,
        samesite="Lax",
        hashalg="sha512",
    )


class TestInterface:
    def test_the_class_implements_pyramids_security_policy(self):
        assert verifyClass(ISecurityPolicy, MultiSecurityPolicy)

    def test_an_instance_provides_pyramids_security_policy(self):
        policy = MultiSecurityPolicy(
            {
                HMAC: HMACSecurityPolicy(),
                SESSION: SessionSecurityPolicy(cookie_helper()),
            }
        )

        assert verifyObject(ISecurityPolicy, policy)


class TestIdentity:
    def test_the_first_policy_with_an_identity_wins(self):
        hmac, session = StubPolicy(WORKER), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})

        identity = policy.identity(make_request())

        assert identity == WORKER
        assert session.calls == 0

    def test_falls_through_to_the_session_without_a_signature(self):
        hmac, session = StubPolicy(None), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = make_request()

        identity = policy.identity(request)

        assert identity == USER
        assert request.authentication_method == SESSION

    def test_a_failed_signature_does_not_fall_through_to_the_session(self):
        hmac, session = StubPolicy(None, attempted=True), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = make_request()

        identity = policy.identity(request)

        assert identity is None
        assert request.authentication_method is None
        assert session.calls == 0

    def test_asks_only_the_policies_the_route_accepts(self):
        hmac, session = StubPolicy(WORKER), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = make_request(Context(auth_methods=(SESSION,)))

        identity = policy.identity(request)

        assert identity == USER
        assert hmac.calls == 0

    def test_a_route_without_auth_methods_accepts_both(self):
        hmac, session = StubPolicy(None), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = make_request()
        request.context = object()

        identity = policy.identity(request)

        assert identity == USER
        assert hmac.calls == 1

    def test_there_is_no_identity_before_routing(self):
        hmac, session = StubPolicy(WORKER), StubPolicy(USER)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = testing.DummyRequest(environ={})
        early = policy.identity(request)
        request.context = Context(auth_methods=(SESSION,))

        identity = policy.identity(request)

        assert early is None
        assert identity == USER
        assert hmac.calls == 0

    def test_is_resolved_once_per_request(self):
        hmac, session = StubPolicy(None), StubPolicy(None)
        policy = MultiSecurityPolicy({HMAC: hmac, SESSION: session})
        request = make_request()

        policy.identity(request)
        policy.identity(request)
        policy.permits(request, request.context, Permission.READ)

        assert (hmac.calls, session.calls) == (1, 1)

    def test_records_the_winning_method(self):
        policy = MultiSecurityPolicy({HMAC: StubPolicy(ADMIN), SESSION: StubPolicy()})
        request = make_request()

        policy.identity(request)

        assert request.authentication_method == HMAC

    @pytest.mark.parametrize(
        ("identity", "userid"),
        [(WORKER, "worker:7"), (ADMIN, "admin_key:3"), (USER, "user:5"), (None, None)],
        ids=["worker", "admin", "user", "anonymous"],
    )
    def test_authenticated_userid_names_the_caller(self, identity, userid):
        policy = MultiSecurityPolicy(
            {HMAC: StubPolicy(identity), SESSION: StubPolicy()}
        )

        result = policy.authenticated_userid(make_request())

        assert result == userid


class TestPermits:
    @pytest.mark.parametrize(
        ("method", "identity", "permission", "allowed"),
        [
            (SESSION, USER, Permission.READ, True),
            (SESSION, USER, Permission.WRITE, False),
            (SESSION, USER, Permission.CLAIM, False),
            (SESSION, USER, Permission.MANAGE, False),
            (HMAC, WORKER, Permission.READ, True),
            (HMAC, WORKER, Permission.WRITE, True),
            (HMAC, WORKER, Permission.CLAIM, True),
            (HMAC, WORKER, Permission.MANAGE, False),
            (HMAC, ADMIN, Permission.READ, True),
            (HMAC, ADMIN, Permission.WRITE, True),
            (HMAC, ADMIN, Permission.CLAIM, False),
            (HMAC, ADMIN, Permission.MANAGE, True),
            (None, None, Permission.READ, False),
            (None, None, Permission.WRITE, False),
        ],
    )
    def test_grants_by_identity_and_method(self, method, identity, permission, allowed):
        stubs = {HMAC: StubPolicy(), SESSION: StubPolicy()}
        if method is not None:
            stubs[method] = StubPolicy(identity)
        policy = MultiSecurityPolicy(stubs)
        request = make_request()

        result = policy.permits(request, request.context, permission)

        assert bool(result) is allowed

    def test_a_session_never_writes_even_where_the_acl_would_allow(self):
        # A superuser, and an ACL that grants writing to every user: the
        # session still only reads.
        superuser = UserIdentity(1, "root", (), is_superuser=True)
        context = Context()
        context.__acl__ = [("Allow", "role:user", (Permission.WRITE,))]
        policy = MultiSecurityPolicy(
            {HMAC: StubPolicy(), SESSION: StubPolicy(superuser)}
        )
        request = make_request(context)

        result = policy.permits(request, context, Permission.WRITE)

        assert not result

    def test_the_same_grant_over_hmac_is_allowed(self):
        context = Context()
        context.__acl__ = [("Allow", "role:user", (Permission.WRITE,))]
        policy = MultiSecurityPolicy({HMAC: StubPolicy(USER), SESSION: StubPolicy()})
        request = make_request(context)

        result = policy.permits(request, context, Permission.WRITE)

        assert result


class TestRememberAndForget:
    def test_remember_combines_the_headers_of_every_policy(self):
        policy = MultiSecurityPolicy(
            {HMAC: StubPolicy(headers=[("X-A", "1")]), SESSION: StubPolicy()}
        )

        headers = policy.remember(make_request(), 5)

        assert headers == [
            ("Set-Cookie", "remember=5"),
            ("X-A", "1"),
            ("Set-Cookie", "remember=5"),
        ]

    def test_forget_combines_the_headers_of_every_policy(self):
        policy = MultiSecurityPolicy({HMAC: StubPolicy(), SESSION: StubPolicy()})

        headers = policy.forget(make_request())

        assert headers == [("Set-Cookie", "forget="), ("Set-Cookie", "forget=")]

    def test_remember_sets_an_httponly_lax_session_cookie(self):
        policy = MultiSecurityPolicy(
            {
                HMAC: HMACSecurityPolicy(),
                SESSION: SessionSecurityPolicy(cookie_helper()),
            }
        )

        headers = policy.remember(make_request(), 5)

        cookies = [value for name, value in headers if name == "Set-Cookie"]
        assert cookies
        assert all(c.startswith("jobrunner_auth=") for c in cookies)
        assert all("HttpOnly" in c and "SameSite=Lax" in c for c in cookies)

    def test_forget_expires_the_session_cookie(self):
        policy = MultiSecurityPolicy(
            {
                HMAC: HMACSecurityPolicy(),
                SESSION: SessionSecurityPolicy(cookie_helper()),
            }
        )

        headers = policy.forget(make_request())

        cookies = [value for name, value in headers if name == "Set-Cookie"]
        assert cookies
        assert all(c.startswith("jobrunner_auth=;") for c in cookies)
        assert all("Max-Age=0" in c for c in cookies)

    def test_the_hmac_policy_remembers_and_forgets_nothing(self):
        policy = HMACSecurityPolicy()

        assert policy.remember(make_request(), 5) == []
        assert policy.forget(make_request()) == []


class TestSubPolicies:
    def test_hmac_ignores_a_request_without_the_header(self):
        request = make_request()

        identity = HMACSecurityPolicy().identity(request)

        assert identity is None
        assert not getattr(request, "hmac_attempted", False)

    @pytest.mark.parametrize("header", ["Authorization", "Authentication"])
    def test_hmac_refuses_a_malformed_header_before_any_lookup(self, header):
        # No database session on the request: a lookup would fail loudly.
        request = make_request(headers={header: "ApiKey nothing-to-see"})

        identity = HMACSecurityPolicy().identity(request)

        assert identity is None
        assert request.hmac_attempted is True

    def test_session_ignores_a_request_without_the_cookie(self):
        request = make_request()

        identity = SessionSecurityPolicy(cookie_helper()).identity(request)

        assert identity is None

    def test_session_ignores_a_ticket_whose_userid_is_not_a_number(self):
        helper = cookie_helper()
        cookie = helper.remember(make_request(), "not-a-number")[0][1]
        request = make_request(
            cookies={"jobrunner_auth": cookie.split(";")[0].split("=", 1)[1]}
        )

        identity = SessionSecurityPolicy(helper).identity(request)

        assert identity is None


class TestIdentities:
    def test_a_worker_is_an_authenticated_worker(self):
        assert WORKER.principals == [Everyone, Authenticated, "role:worker", "worker:7"]
        assert WORKER.kind == "worker"

    def test_an_admin_key_is_an_authenticated_admin(self):
        assert ADMIN.principals == [Everyone, Authenticated, "role:admin"]
        assert ADMIN.kind == "admin"

    def test_a_user_is_an_authenticated_user(self):
        assert USER.principals == [Everyone, Authenticated, "role:user", "user:5"]
        assert USER.kind == "user"


class TestCandidatePaths:
    def test_rebuilds_path_and_raw_query_from_the_environment(self):
        request = make_request()
        request.environ.update(
            {
                "SCRIPT_NAME": "",
                "PATH_INFO": "/api/job_runner/v1/run/",
                "QUERY_STRING": "schedule_dts__gte=2024-01-01T12%3A00%3A00%2B00%3A00",
            }
        )

        paths = security._candidate_paths(request)

        assert paths == [
            "/api/job_runner/v1/run/?schedule_dts__gte=2024-01-01T12%3A00%3A00%2B00%3A00"
        ]

    def test_prefers_the_raw_uri_the_server_passes_on(self):
        request = make_request()
        request.environ.update(
            {
                "RAW_URI": "/api/job_runner/v1/run/?a=%7E",
                "PATH_INFO": "/api/job_runner/v1/run/",
                "QUERY_STRING": "a=%7E",
            }
        )

        paths = security._candidate_paths(request)

        assert paths == ["/api/job_runner/v1/run/?a=%7E"]

    def test_strips_scheme_and_host_from_an_absolute_request_uri(self):
        request = make_request()
        request.environ.update(
            {
                "REQUEST_URI": "http://example.com/api/job_runner/v1/%7Erun/?a=1",
                "PATH_INFO": "/api/job_runner/v1/~run/",
                "QUERY_STRING": "a=1",
            }
        )

        paths = security._candidate_paths(request)

        assert paths == [
            "/api/job_runner/v1/%7Erun/?a=1",
            "/api/job_runner/v1/~run/?a=1",
        ]

    def test_quotes_characters_the_server_decoded_in_the_path(self):
        request = make_request()
        request.environ.update({"PATH_INFO": "/a b/\u00c3\u00a9/", "QUERY_STRING": ""})

        paths = security._candidate_paths(request)

        assert paths == ["/a%20b/%C3%A9/"]


class TestIncludeme:
    def test_refuses_to_start_without_a_cookie_secret(self):
        config = testing.setUp(settings={})
        try:
            with pytest.raises(ValueError, match="auth.secret"):
                security.includeme(config)
        finally:
            testing.tearDown()

    def test_installs_the_combined_policy(self):
        config = testing.setUp(settings={"auth.secret": "s"})
        try:
            security.includeme(config)
            config.commit()

            policy = config.registry.getUtility(ISecurityPolicy)
        finally:
            testing.tearDown()

        assert isinstance(policy, MultiSecurityPolicy)
        assert list(policy.policies) == [HMAC, SESSION]

    def test_keeps_pyramid_tm_from_asking_before_routing(self):
        config = testing.setUp(settings={"auth.secret": "s"})
        try:
            security.includeme(config)

            annotate = config.get_settings()["tm.annotate_user"]
        finally:
            testing.tearDown()

        assert annotate is False
