"""Every error answers in Cornice's JSON shape, with the right status code."""

import io
import json

import pytest
import sqlalchemy as sa
import webtest

from jobrunner.jobs import management
from tests.conftest import Signer
from tests.factories import RESOURCES


API = "/api/job_runner/v1"
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
BODY_LIMIT = 65536  # api.max_body_size in the tests' settings


@pytest.fixture(scope="class")
def admin_key(shared_factory):
    return shared_factory.admin_key()


@pytest.fixture
def admin(admin_key, shared_testapp):
    return Signer(shared_testapp, admin_key.api_key, admin_key.secret)


def querystring_errors(response):
    assert response.status_int == 400
    assert response.content_type == "application/json"
    assert response.json["status"] == "error"
    for error in response.json["errors"]:
        assert set(error) == {"location", "name", "description"}
        assert error["location"] == "querystring"
        assert error["description"]
    return {e["name"]: e["description"] for e in response.json["errors"]}


class TestBadRequest:
    @pytest.mark.parametrize(
        ("query", "name"),
        [
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("limit=1.5", "limit"),
            ("limit=2147483648", "limit"),
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
            ("offset=99999999999999999999", "offset"),
            ("id=abc", "id"),
            ("id=2147483648", "id"),
            ("job=xyz", "job"),
            ("job=2147483648", "job"),
            ("job=/api/job_runner/v1/project/1/", "job"),
            ("worker=-3", "worker"),
            ("project_id=abc", "project_id"),
            ("project_id=2147483648", "project_id"),
            ("is_manual=maybe", "is_manual"),
            ("return_success=2", "return_success"),
            ("return_dts__isnull=perhaps", "return_dts__isnull"),
            ("state=bogus", "state"),
            ("state=COMPLETED", "state"),
            ("order_by=bogus", "order_by"),
            ("format=xml", "format"),
        ],
    )
    def test_an_invalid_value_is_named(self, admin, query, name):
        response = admin.get(f"{API}/run/?{query}", status=400)

        assert list(querystring_errors(response)) == [name]

    @pytest.mark.parametrize(
        "value",
        [
            "yesterday",
            "2024-13-01T00:00:00",
            "2024-01-32",
            "2024-01-01T25:00:00",
            "2024-01-01T12:00:00+25:00",
            "2024-01-01T12:00:00%2Bxx",
            "12:00:00",
            "9999-12-31T23:59:59-01:00",
            "1",
        ],
    )
    def test_an_invalid_date_is_named(self, admin, value):
        response = admin.get(f"{API}/run/?schedule_dts__gte={value}", status=400)

        errors = querystring_errors(response)
        assert list(errors) == ["schedule_dts__gte"]
        assert "is not an ISO 8601 datetime" in errors["schedule_dts__gte"]

    @pytest.mark.parametrize("name", ["project", "job", "worker"])
    def test_a_nul_character_in_a_text_filter_is_refused(self, admin, name):
        response = admin.get(f"{API}/{name}/?title=a%00b", status=400)

        assert querystring_errors(response) == {
            "title": "NUL characters are not allowed"
        }

    @pytest.mark.parametrize(
        "name",
        [
            "bogus",
            "title__contains",
            "schedule_dts__range",
            "return_success__isnull",
            "limit__gt",
            "state__in",
            "secret",
            "pid",
        ],
    )
    def test_an_unknown_query_parameter_is_refused(self, admin, name):
        response = admin.get(f"{API}/run/?{name}=1", status=400)

        assert querystring_errors(response) == {
            name: f"{name!r} is not a filter of run"
        }

    def test_the_body_is_cornices(self, admin):
        response = admin.get(f"{API}/run/?limit=-1", status=400)

        assert response.json == {
            "status": "error",
            "errors": [
                {
                    "location": "querystring",
                    "name": "limit",
                    "description": "-1 is less than minimum value 0",
                }
            ],
        }

    def test_every_problem_is_reported_at_once(self, admin):
        response = admin.get(
            f"{API}/run/?bogus=1&limit=x&schedule_dts=never&state=nope", status=400
        )

        assert set(querystring_errors(response)) == {
            "bogus",
            "limit",
            "schedule_dts",
            "state",
        }

    @pytest.mark.parametrize("name", RESOURCES)
    def test_every_list_validates_its_query(self, admin, name):
        response = admin.get(f"{API}/{name}/?limit=none&nonsense=1", status=400)

        assert set(querystring_errors(response)) == {"limit", "nonsense"}


class TestNotFound:
    @pytest.mark.parametrize("name", RESOURCES)
    def test_an_unknown_id(self, admin, name):
        response = admin.get(f"{API}/{name}/424242/", status=404)

        assert response.content_type == "application/json"
        assert response.json == {
            "status": "error",
            "errors": [
                {
                    "location": "url",
                    "name": "id",
                    "description": f"No {name} with id 424242.",
                }
            ],
        }

    @pytest.mark.parametrize("name", RESOURCES)
    @pytest.mark.parametrize(
        "object_id",
        [2**31 - 1, 2**31, 2**32 + 1, 2**63, 10**30],
        ids=["max-int32", "int32-overflow", "uint32-overflow", "int64", "huge"],
    )
    def test_an_id_beyond_32_bits_is_not_found(self, admin, name, object_id):
        response = admin.get(f"{API}/{name}/{object_id}/", status=404)

        assert response.json["status"] == "error"
        assert response.json["errors"][0]["name"] == "id"

    @pytest.mark.parametrize(
        "path",
        [
            f"{API}/nothing/",
            f"{API}/run/abc/",
            f"{API}/run/-1/",
            f"{API}/run/1.5/",
            f"{API}/run/1/extra/",
            f"{API}/run",
            "/api/job_runner/v2/run/",
            "/nothing",
        ],
    )
    def test_an_unknown_route(self, admin, path):
        response = admin.get(path, status=404)

        assert response.content_type == "application/json"
        assert response.json == {
            "status": "error",
            "errors": [
                {"location": "url", "name": "path", "description": "Not found."}
            ],
        }

    def test_an_unknown_route_is_404_without_credentials_too(self, shared_testapp):
        response = shared_testapp.get(f"{API}/nothing/", status=404)

        assert response.json["errors"][0]["description"] == "Not found."


def _paths(name):
    return {
        "list": f"{API}/{name}/",
        "detail": f"{API}/{name}/1/",
        "schema": f"{API}/{name}/schema/",
    }


class TestMethodNotAllowed:
    @pytest.mark.parametrize("name", RESOURCES)
    @pytest.mark.parametrize("kind", ["list", "detail", "schema"])
    def test_answers_405_with_the_allowed_methods(self, admin, name, kind):
        schema = admin.get(f"{API}/{name}/schema/").json
        if kind == "schema":
            allowed = ["get"]
        else:
            allowed = schema[f"allowed_{kind}_http_methods"]
        refused = [m for m in WRITE_METHODS if m.lower() not in allowed]

        responses = [
            admin.request(method, _paths(name)[kind], status=405) for method in refused
        ]

        assert refused
        for method, response in zip(refused, responses, strict=True):
            assert response.json == {
                "status": "error",
                "errors": [
                    {
                        "location": "method",
                        "name": method,
                        "description": f"Method {method} is not allowed here.",
                    }
                ],
            }
            allow = {m.strip() for m in response.headers["Allow"].split(",")}
            assert allow == {m.upper() for m in allowed} | {"HEAD"}

    @pytest.mark.parametrize("method", WRITE_METHODS)
    def test_the_root_only_reads(self, admin, method):
        response = admin.request(method, f"{API}/", status=405)

        assert response.headers["Allow"] == "GET, HEAD"
        assert response.json["errors"][0]["location"] == "method"


def close_spooled_body(response):
    """Close the temporary file pyramid_retry copied the request body into.

    To replay a request, pyramid_retry copies any body over 10 KiB into a
    temporary file before the application sees it, and leaves closing it to
    the garbage collector; closing it here keeps the ResourceWarning from
    surfacing in whichever test happens to run the collector.
    """
    body = response.request.environ["wsgi.input"]
    if isinstance(body, io.BufferedRandom):
        body.close()


class TestBodyTooLarge:
    def test_a_body_at_the_limit_is_read(self, admin):
        response = admin.request("GET", f"{API}/run/", body=b"x" * BODY_LIMIT)
        close_spooled_body(response)

        assert response.status_int == 200

    def test_a_body_over_the_limit_answers_413(self, admin):
        response = admin.request(
            "GET", f"{API}/run/", body=b"x" * (BODY_LIMIT + 1), status=413
        )
        close_spooled_body(response)

        assert response.json == {
            "status": "error",
            "errors": [
                {
                    "location": "body",
                    "name": "",
                    "description": f"The request body is larger than {BODY_LIMIT} "
                    "bytes.",
                }
            ],
        }

    def test_the_limit_holds_before_authentication(self, shared_testapp):
        response = shared_testapp.post(
            f"{API}/run/", b"x" * (BODY_LIMIT + 1), status=413
        )
        close_spooled_body(response)

        assert response.json["errors"][0]["location"] == "body"

    @pytest.mark.parametrize(
        ("size", "status"), [(BODY_LIMIT, 200), (BODY_LIMIT + 1, 413)]
    )
    def test_a_chunked_body_is_measured_as_it_is_read(
        self, admin, admin_key, shared_testapp, size, status
    ):
        body = b"x" * size
        request = webtest.TestRequest.blank(f"{API}/run/", method="GET", body=body)
        # Chunked transfer: no Content-Length, the server marks the input
        # as ending by itself.
        del request.environ["CONTENT_LENGTH"]
        request.environ["wsgi.input_terminated"] = True
        request.headers.update(admin.headers("GET", f"{API}/run/", body))

        response = shared_testapp.do_request(request, status=status)
        close_spooled_body(response)

        assert response.content_type == "application/json"


class TestDatabaseUnavailable:
    def test_a_lost_connection_answers_503_and_the_retry_succeeds(
        self, admin, dbengine
    ):
        if dbengine.dialect.name != "postgresql":
            pytest.skip("needs a database server whose connections can be cut")
        admin.get(f"{API}/run/")
        killer = sa.create_engine(
            dbengine.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with killer.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            )
        killer.dispose()

        response = admin.get(f"{API}/run/", status=503)
        retried = admin.get(f"{API}/run/")

        assert response.headers["Retry-After"] == "5"
        assert response.json["errors"][0]["name"] == "database"
        assert retried.status_int == 200


class TestConstraintConflict:
    def test_a_constraint_that_still_fails_after_the_retries_answers_409(
        self, factory, sign, monkeypatch
    ):
        # Without the title check, the unique constraint is what refuses the
        # second project, on every attempt of the request.
        monkeypatch.setattr(management, "ensure_unique", lambda *args: None)
        admin = sign(factory.admin_key())
        body = json.dumps({"title": "twice"})
        admin.request("POST", f"{API}/project/", body, status=201)

        response = admin.request("POST", f"{API}/project/", body, status=409)

        assert response.content_type == "application/json"
        assert response.json["status"] == "error"
        (error,) = response.json["errors"]
        assert error["location"] == "body"
        assert "conflicts" in error["description"]
        listed = admin.get(f"{API}/project/").json
        assert listed["meta"]["total_count"] == 1


class TestMalformedJson:
    DEEP = "[" * 5000 + "]" * 5000

    @pytest.fixture
    def world(self, factory):
        return factory.world()

    @pytest.mark.parametrize(
        "body",
        [
            DEEP,
            '{"title": ' + DEEP + "}",
            '{"title": "x", "description": NaN}',
            '{"title": "x", "concurrent_jobs": Infinity}',
            '{"title": "x", "concurrent_jobs": -Infinity}',
            '{"limit": 1, "wait": 1e999}',
            b'{"title": "\xff"}',
        ],
    )
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "project/"),
            ("PATCH", "project/{project}/"),
            ("POST", "worker/"),
            ("POST", "run/claim/"),
            ("PATCH", "run/{run}/"),
        ],
    )
    def test_is_refused_with_400(self, world, factory, sign, method, path, body):
        signer = sign(factory.admin_key())
        if path.startswith("run/"):
            signer = sign(world["a"]["worker"])
        path = path.format(project=world["a"]["project"].id, run=world["a"]["run"].id)

        response = signer.request(method, f"{API}/{path}", body, status=400)

        assert response.json["status"] == "error"
        assert response.json["errors"] == [
            {
                "location": "body",
                "name": "",
                "description": "The body is not valid JSON.",
            }
        ]

    @pytest.mark.parametrize("wait", ['"nan"', '"inf"', '"-inf"'])
    def test_a_claim_waits_a_finite_time(self, world, sign, wait):
        worker = sign(world["a"]["worker"])

        response = worker.request(
            "POST", f"{API}/run/claim/", '{"wait": ' + wait + "}", status=400
        )

        assert [e["name"] for e in response.json["errors"]] == ["wait"]


class TestNotUtf8:
    @pytest.mark.parametrize(
        ("query", "name"),
        [
            ("title=x%F0", "title"),
            ("title=%FF&limit=2", "title"),
            ("limit=2&title=ok%C3", "title"),
            ("ti%FFtle=1", "ti\ufffdtle"),
        ],
    )
    def test_a_query_string_answers_400(self, admin, query, name):
        response = admin.get(f"{API}/project/?{query}", status=400)

        assert response.json["errors"] == [
            {
                "location": "querystring",
                "name": name,
                "description": "The query string is not valid UTF-8.",
            }
        ]

    @pytest.mark.parametrize(
        "path", [f"{API}/proj%FFect/", f"{API}/project/%FF/", "/%FF", "/x%C3/"]
    )
    def test_a_path_answers_404(self, admin, path):
        response = admin.get(path, status=404)

        assert response.json["errors"] == [
            {"location": "url", "name": "path", "description": "Not found."}
        ]

    def test_the_login_page_answers_400(self, shared_testapp):
        response = shared_testapp.get("/login?came_from=%FF", status=400)

        assert response.json["errors"][0]["name"] == "came_from"
