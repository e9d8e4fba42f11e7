"""HMAC signatures, dashboard sessions, and what each may do."""

import json

import pytest

from jobrunner import signing
from jobrunner.workers.models import Worker
from tests.conftest import Signer, login_with_form
from tests.factories import RESOURCES, WORLD_KEYS


API = "/api/job_runner/v1"
UNAUTHORIZED = {
    "status": "error",
    "errors": [
        {
            "location": "header",
            "name": "Authorization",
            "description": (
                "Authentication required: sign the request with an API key, or log in."
            ),
        }
    ],
}
FORBIDDEN = {
    "status": "error",
    "errors": [
        {
            "location": "header",
            "name": "Authorization",
            "description": "Your credentials do not allow this action.",
        }
    ],
}


def assert_unauthorized(response):
    assert response.status_int == 401
    assert response.content_type == "application/json"
    assert response.json == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == 'ApiKey realm="jobrunner"'


def auth_cookie(response):
    cookies = response.headers.getall("Set-Cookie")
    return next((c for c in cookies if c.startswith("jobrunner_auth=")), None)


def sign_as(testapp, credential, header="Authorization"):
    return Signer(testapp, credential.api_key, credential.secret, header)


class TestSignedReads:
    @pytest.mark.parametrize("header", ["Authorization", "Authentication"])
    @pytest.mark.parametrize("caller", ["worker", "admin"])
    def test_a_signed_request_reads_with_either_header_name(
        self, shared_world, shared_testapp, header, caller
    ):
        world = shared_world
        credential = world["a"]["worker"] if caller == "worker" else world["admin"]

        response = sign_as(shared_testapp, credential, header).get(f"{API}/project/")

        assert response.status_int == 200
        assert world["a"]["project"].id in [o["id"] for o in response.json["objects"]]

    @pytest.mark.parametrize(
        "query",
        [
            "limit=1",
            "title=project-a&limit=5",
            "schedule_dts__gte=2024-01-01T12:00:00+00:00",
            "schedule_dts__gte=2024-01-01T12%3A00%3A00%2B00%3A00",
            "schedule_dts__gte=2024-01-01%2012:00:00",
            "schedule_dts__gte=2024-01-01+12:00:00",
            "schedule_dts__gte=2024-01-01 12:00:00",
            "limit=1&limit=2",
            "order_by=-id",
        ],
    )
    def test_a_query_string_is_signed_as_sent(
        self, shared_world, shared_testapp, query
    ):
        resource = "project" if "title" in query else "run"
        admin = sign_as(shared_testapp, shared_world["admin"])

        response = admin.get(f"{API}/{resource}/?{query}")

        assert response.status_int == 200
        assert response.json["objects"]

    def test_a_body_is_signed_with_the_request(self, shared_world, shared_testapp):
        admin = sign_as(shared_testapp, shared_world["admin"])

        response = admin.request("GET", f"{API}/run/?limit=1", body=b'{"a": true}')

        assert response.status_int == 200


class TestSignedWrites:
    def test_a_signed_write_with_a_body_is_carried_out(self, factory, sign, dbsession):
        world = factory.world()
        worker = world["a"]["worker"]
        body = json.dumps({"worker_version": "9.9", "concurrent_jobs": 3})

        response = sign(worker).request("PATCH", f"{API}/worker/{worker.id}/", body)

        assert response.status_int == 202
        dbsession.expire_all()
        stored = dbsession.get(Worker, worker.id)
        assert (stored.worker_version, stored.concurrent_jobs) == ("9.9", 3)

    def test_a_tampered_write_changes_nothing(self, factory, testapp, dbsession):
        world = factory.world()
        worker = world["a"]["worker"]
        path = f"{API}/worker/{worker.id}/"
        signed = json.dumps({"worker_version": "1.0"}).encode()
        sent = json.dumps({"worker_version": "6.6"}).encode()
        headers = Signer(testapp, worker.api_key, worker.secret).headers(
            "PATCH", path, signed
        )

        response = testapp.patch(
            path,
            sent,
            headers={**headers, "Content-Type": "application/json"},
            status=401,
        )

        assert_unauthorized(response)
        dbsession.expire_all()
        assert dbsession.get(Worker, worker.id).worker_version == ""


def _tampered(testapp, world, case):
    """Send a request whose credential is wrong in the way ``case`` names."""
    admin = world["admin"]
    path = f"{API}/run/?limit=1"
    method, sent_path, body, sent_body = "GET", path, b"", b""
    api_key, secret = admin.api_key, admin.secret
    header_name, header = "Authorization", None
    if case == "method":
        method = "POST"
    elif case == "path":
        sent_path = f"{API}/job/?limit=1"
    elif case == "query":
        sent_path = f"{API}/run/?limit=2"
    elif case == "query-dropped":
        sent_path = f"{API}/run/"
    elif case == "query-encoding":
        path = f"{API}/run/?schedule_dts__gte=2024-01-01T12:00:00%2B00:00"
        sent_path = f"{API}/run/?schedule_dts__gte=2024-01-01T12:00:00+00:00"
    elif case == "body":
        body, sent_body = b'{"a": 1}', b'{"a": 2}'
    elif case == "body-added":
        sent_body = b'{"a": 1}'
    elif case == "unknown-key":
        api_key = "no-such-key"
    elif case == "wrong-secret":
        secret = "not-the-secret"
    elif case == "other-callers-secret":
        secret = world["a"]["worker"].secret
    elif case == "lower-case-header-scheme":
        header = (
            "apikey "
            + signing.authorization_header(api_key, secret, method, path, body).split(
                " ", 1
            )[1]
        )
    elif case == "no-signature":
        header = f"ApiKey {api_key}:"
    elif case == "garbage":
        header = "Bearer abc.def"
    elif case == "empty":
        header = ""
    elif case == "authentication-header-tampered":
        header_name = "Authentication"
        sent_path = f"{API}/run/?limit=3"
    if header is None:
        header = signing.authorization_header(api_key, secret, method, path, body)
    return testapp.request(
        sent_path,
        method="GET",
        body=sent_body,
        headers={header_name: header},
        expect_errors=True,
    )


TAMPERINGS = [
    "method",
    "path",
    "query",
    "query-dropped",
    "query-encoding",
    "body",
    "body-added",
    "unknown-key",
    "wrong-secret",
    "other-callers-secret",
    "lower-case-header-scheme",
    "no-signature",
    "garbage",
    "empty",
    "authentication-header-tampered",
]


class TestRefusedSignatures:
    @pytest.mark.parametrize("case", TAMPERINGS)
    def test_answers_401_with_the_same_body_as_no_credentials(
        self, shared_world, shared_testapp, case
    ):
        response = _tampered(shared_testapp, shared_world, case)

        assert_unauthorized(response)

    def test_every_refusal_is_byte_for_byte_the_same(
        self, shared_world, shared_testapp
    ):
        anonymous = shared_testapp.get(f"{API}/run/", status=401)

        responses = [
            _tampered(shared_testapp, shared_world, case) for case in TAMPERINGS
        ]

        assert {(r.status, r.body) for r in responses} == {
            (anonymous.status, anonymous.body)
        }
        assert {r.headers["WWW-Authenticate"] for r in responses} == {
            anonymous.headers["WWW-Authenticate"]
        }

    def test_a_bad_signature_is_refused_even_with_a_session(
        self, shared_world, shared_testapp, shared_login
    ):
        shared_testapp.set_cookie("jobrunner_auth", shared_login("user-a"))
        header = signing.authorization_header("key-a", "wrong", "GET", f"{API}/run/")

        response = shared_testapp.get(
            f"{API}/run/", headers={"Authorization": header}, status=401
        )

        assert_unauthorized(response)
        assert shared_testapp.get(f"{API}/run/").status_int == 200

    def test_a_signature_does_not_open_the_dashboard(
        self, shared_world, shared_testapp
    ):
        admin = sign_as(shared_testapp, shared_world["admin"])

        response = admin.get("/", status=303)

        assert response.location == "http://localhost/login?came_from=%2F"


class TestInactiveKey:
    def test_an_inactive_admin_key_is_refused(self, factory, sign):
        key = factory.admin_key(is_active=False)

        response = sign(key).get(f"{API}/run/", status=401)

        assert_unauthorized(response)


class TestAnonymous:
    @pytest.mark.parametrize("name", RESOURCES)
    @pytest.mark.parametrize("kind", ["list", "detail", "schema"])
    def test_the_api_answers_401(self, shared_world, shared_testapp, name, kind):
        obj = shared_world["a"][WORLD_KEYS[name]]
        path = {
            "list": f"{API}/{name}/",
            "detail": f"{API}/{name}/{obj.id}/",
            "schema": f"{API}/{name}/schema/",
        }[kind]

        response = shared_testapp.get(path, status=401)

        assert_unauthorized(response)

    def test_the_api_root_answers_401(self, shared_world, shared_testapp):
        response = shared_testapp.get(f"{API}/", status=401)

        assert_unauthorized(response)

    def test_a_write_answers_401(self, shared_world, shared_testapp):
        run = shared_world["a"]["run"]

        response = shared_testapp.patch_json(
            f"{API}/run/{run.id}/", {"pid": 1}, status=401
        )

        assert_unauthorized(response)

    def test_the_dashboard_redirects_to_the_login_form(
        self, shared_world, shared_testapp
    ):
        response = shared_testapp.get("/", status=303)

        assert response.location == "http://localhost/login?came_from=%2F"
        assert shared_testapp.get(response.location).forms[0]["came_from"].value == "/"


class TestLogin:
    def test_the_form_logs_in_and_redirects_home(self, factory, testapp):
        factory.world()

        response = login_with_form(testapp, "user-a")

        assert response.location == "http://localhost/"
        cookie = auth_cookie(response)
        assert cookie is not None
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert testapp.get(f"{API}/project/").status_int == 200

    def test_a_logged_in_user_reads_the_api(self, factory, testapp, login):
        world = factory.world()
        login("user-a")

        response = testapp.get(f"{API}/project/")

        assert [o["id"] for o in response.json["objects"]] == [world["a"]["project"].id]

    @pytest.mark.parametrize(
        ("username", "password"),
        [("user-a", "wrong"), ("nobody", "secret-password"), ("USER-A", None)],
        ids=["wrong-password", "unknown-user", "wrong-case"],
    )
    def test_wrong_credentials_show_one_message(
        self, factory, testapp, username, password
    ):
        factory.world()
        form = testapp.get("/login").forms[0]
        form["username"] = username
        form["password"] = password or "secret-password"

        response = form.submit(status=400)

        assert "Invalid username or password." in response.text
        assert response.forms[0]["username"].value == username
        assert auth_cookie(response) is None
        testapp.get(f"{API}/project/", status=401)

    def test_an_inactive_user_cannot_log_in(self, factory, testapp):
        factory.user(username="gone", is_active=False)
        form = testapp.get("/login").forms[0]
        form["username"] = "gone"
        form["password"] = "secret-password"

        response = form.submit(status=400)

        assert "Invalid username or password." in response.text
        assert auth_cookie(response) is None

    def test_an_empty_form_asks_for_both_fields(self, testapp):
        form = testapp.get("/login").forms[0]

        response = form.submit(status=400)

        assert "Enter a username and a password." in response.text

    @pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
    def test_the_form_needs_its_csrf_token(self, factory, testapp, token):
        factory.world()
        testapp.get("/login")
        fields = {"username": "user-a", "password": "secret-password"}
        if token:
            fields["csrf_token"] = token

        response = testapp.post("/login", fields, status=400)

        assert response.json["status"] == "error"
        assert auth_cookie(response) is None
        testapp.get(f"{API}/project/", status=401)

    def test_came_from_brings_the_user_back(self, factory, testapp):
        factory.world()
        target = f"{API}/run/?state=completed"
        form = testapp.get("/login", {"came_from": target}).forms[0]
        form["username"] = "user-a"
        form["password"] = "secret-password"

        response = form.submit(status=303)

        assert response.location == f"http://localhost{target}"
        assert testapp.get(response.location).status_int == 200

    def test_a_redirect_to_login_comes_back_after_logging_in(self, factory, testapp):
        factory.world()
        form = testapp.get("/", status=303).follow().forms[0]
        form["username"] = "user-a"
        form["password"] = "secret-password"

        response = form.submit(status=303)

        assert response.location == "http://localhost/"

    @pytest.mark.parametrize(
        "came_from",
        [
            "//evil.example/",
            "https://evil.example/",
            "http:/evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil",
        ],
    )
    def test_an_off_site_came_from_is_refused(self, factory, testapp, came_from):
        factory.world()
        form = testapp.get("/login", {"came_from": came_from}).forms[0]
        shown = form["came_from"].value
        form["username"] = "user-a"
        form["password"] = "secret-password"
        form["came_from"].force_value(came_from)

        response = form.submit(status=303)

        assert shown == "/"
        assert response.location == "http://localhost/"
        assert auth_cookie(response) is not None


class TestJSONLogin:
    def test_logs_in_and_answers_json(self, factory, testapp):
        world = factory.world()

        response = testapp.post_json(
            "/login", {"username": "user-a", "password": "secret-password"}
        )

        assert response.content_type == "application/json"
        assert response.json == {"username": "user-a"}
        assert auth_cookie(response) is not None
        projects = testapp.get(f"{API}/project/").json["objects"]
        assert [p["id"] for p in projects] == [world["a"]["project"].id]

    def test_a_wrong_password_answers_400_in_json(self, factory, testapp):
        factory.world()

        response = testapp.post_json(
            "/login", {"username": "user-a", "password": "nope"}, status=400
        )

        assert response.json == {
            "status": "error",
            "errors": [
                {
                    "location": "body",
                    "name": "password",
                    "description": "Invalid username or password.",
                }
            ],
        }
        assert auth_cookie(response) is None

    def test_a_nul_character_in_the_username_is_refused(self, factory, testapp):
        factory.world()

        response = testapp.post_json(
            "/login", {"username": "user-a\x00", "password": "nope"}, status=400
        )

        assert [e["name"] for e in response.json["errors"]] == ["username"]
        assert auth_cookie(response) is None

    @pytest.mark.parametrize(
        "body", [b"[" * 5000 + b"]" * 5000, b'{"username": NaN}', b"\xff"]
    )
    def test_a_body_that_is_not_strict_json_answers_400(self, testapp, body):
        response = testapp.post(
            "/login", body, content_type="application/json", status=400
        )

        assert response.json["errors"][0]["location"] == "body"

    def test_missing_fields_are_named(self, factory, testapp):
        response = testapp.post_json("/login", {}, status=400)

        assert response.json["status"] == "error"
        assert {(e["location"], e["name"]) for e in response.json["errors"]} == {
            ("body", "username"),
            ("body", "password"),
        }

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
    def test_a_body_that_is_not_an_object_answers_400(self, testapp, body):
        response = testapp.post(
            "/login", body, content_type="application/json", status=400
        )

        assert response.json["status"] == "error"
        assert response.json["errors"][0]["location"] == "body"


class TestUsernames:
    @pytest.mark.parametrize("username", ["", "   ", "\t"])
    def test_a_blank_username_is_refused(self, factory, sign, username):
        admin = sign(factory.admin_key())

        response = admin.request(
            "POST",
            f"{API}/user/",
            json.dumps({"username": username, "password": "long enough password"}),
            status=400,
        )

        assert [e["name"] for e in response.json["errors"]] == ["username"]


class TestLogout:
    def test_the_form_logs_out(self, factory, testapp, login):
        factory.world()
        login("user-a")
        # The form's token, as any page with a logout button carries it.
        token = testapp.get("/login").forms[0]["csrf_token"].value

        response = testapp.post("/logout", {"csrf_token": token}, status=303)

        assert response.location == "http://localhost/login?logged_out=1"
        assert "Max-Age=0" in auth_cookie(response)
        testapp.get(f"{API}/project/", status=401)
        testapp.get("/", status=303)

    def test_get_shows_a_form_that_logs_out(self, factory, testapp, login):
        factory.world()
        login("user-a")

        page = testapp.get("/logout", status=200)
        form = page.forms[0]
        response = form.submit(status=303)

        assert form.method.upper() == "POST" and form.action == "/logout"
        assert form["csrf_token"].value
        assert "Signed in as user-a" not in page.text
        assert "You are signed in as user-a." in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert "Max-Age=0" in auth_cookie(response)
        testapp.get("/", status=303)

    def test_get_alone_does_not_log_out(self, factory, testapp, login):
        factory.world()
        login("user-a")

        testapp.get("/logout", status=200)

        testapp.get("/", status=200)

    def test_get_says_so_when_nobody_is_logged_in(self, testapp):
        page = testapp.get("/logout", status=200)

        assert "You are not logged in." in page.text
        assert not page.forms

    def test_the_login_form_then_says_you_are_logged_out(self, factory, testapp, login):
        factory.world()
        login("user-a")
        form = testapp.get("/logout").forms[0]

        page = form.submit(status=303).follow()

        notice = page.html.find("p", class_="notice")
        assert notice.text == "You are logged out."
        assert notice["role"] == "status"
        assert "You are logged out." not in testapp.get("/login").text

    def test_the_flag_says_nothing_to_someone_still_logged_in(
        self, factory, testapp, login
    ):
        factory.world()
        login("user-a")

        page = testapp.get("/login", {"logged_out": "1"})

        assert "You are logged out." not in page.text

    def test_json_logs_out(self, factory, testapp, login):
        factory.world()
        login("user-a")

        response = testapp.post_json("/logout", {})

        assert response.content_type == "application/json"
        assert response.json == {"status": "ok"}
        testapp.get(f"{API}/project/", status=401)

    def test_the_form_needs_its_csrf_token(self, factory, testapp, login):
        factory.world()
        login("user-a")

        testapp.post("/logout", {"csrf_token": "forged"}, status=400)

        testapp.get(f"{API}/project/", status=200)

    def test_a_deactivated_users_cookie_stops_working(
        self, factory, testapp, login, dbsession
    ):
        world = factory.world()
        login("user-a")
        world["a"]["user"].is_active = False
        dbsession.commit()

        response = testapp.get(f"{API}/project/", status=401)

        assert_unauthorized(response)

    def test_a_session_write_changes_nothing(self, factory, testapp, login, dbsession):
        world = factory.world()
        worker = world["a"]["worker"]
        login("root")

        testapp.patch_json(
            f"{API}/worker/{worker.id}/", {"worker_version": "7"}, status=403
        )

        dbsession.expire_all()
        assert dbsession.get(Worker, worker.id).worker_version == ""

    def test_a_tampered_cookie_is_ignored(self, factory, testapp, login):
        factory.world()
        login("user-a")
        value = testapp.cookies["jobrunner_auth"]
        flipped = "1" if value[0] == "0" else "0"
        testapp.set_cookie("jobrunner_auth", flipped + value[1:])

        response = testapp.get(f"{API}/project/", status=401)

        assert_unauthorized(response)


WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


class TestSessionIsReadOnly:
    """A session looks (GET and HEAD); any other method answers 403."""

    @pytest.mark.parametrize("method", WRITE_METHODS)
    @pytest.mark.parametrize("name", RESOURCES)
    @pytest.mark.parametrize("kind", ["list", "detail"])
    def test_a_session_cannot_write(
        self, shared_world, shared_testapp, shared_login, method, name, kind
    ):
        shared_testapp.set_cookie("jobrunner_auth", shared_login("root"))
        obj = shared_world["a"][WORLD_KEYS[name]]
        path = f"{API}/{name}/" if kind == "list" else f"{API}/{name}/{obj.id}/"

        response = shared_testapp.request(
            path,
            method=method,
            body=b"{}",
            content_type="application/json",
            expect_errors=True,
        )

        assert response.status_int == 403
        assert response.json == FORBIDDEN

    @pytest.mark.parametrize("method", WRITE_METHODS)
    def test_a_session_cannot_write_to_the_root(
        self, shared_world, shared_testapp, shared_login, method
    ):
        shared_testapp.set_cookie("jobrunner_auth", shared_login("root"))

        response = shared_testapp.request(
            f"{API}/", method=method, body=b"{}", expect_errors=True
        )

        assert response.status_int == 403
        assert response.json == FORBIDDEN

    @pytest.mark.parametrize("name", RESOURCES)
    def test_a_session_may_ask_for_headers_only(
        self, shared_world, shared_testapp, shared_login, name
    ):
        shared_testapp.set_cookie("jobrunner_auth", shared_login("root"))

        response = shared_testapp.head(f"{API}/{name}/")

        assert response.status_int == 200
        assert response.body == b""
