"""Property-based fuzzing of the whole API from its own OpenAPI document.

Schemathesis generates requests for every operation, valid and invalid, and
sends them signed with an admin key, signed with a worker key, and with a
dashboard session. No answer may be a server error, and every answer must
match what the document says.
"""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from jobrunner import signing


API = "/api/job_runner/v1"
# Examples per operation and caller: enough to reach every validation path
# of an operation without making the suite slow.
EXAMPLES = 6
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


class HmacAuth(requests.auth.AuthBase):
    """Sign each prepared request exactly as it goes out."""

    def __init__(self, api_key, secret):
        self.api_key = api_key
        self.secret = secret

    def __call__(self, prepared):
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        prepared.headers["Authorization"] = signing.authorization_header(
            self.api_key, self.secret, prepared.method, prepared.path_url, body
        )
        return prepared


@pytest.fixture
def world(factory):
    return factory.world()


@pytest.fixture
def sessions(world, live_server):
    admin = requests.Session()
    admin.auth = HmacAuth(world["admin"].api_key, world["admin"].secret)
    worker = requests.Session()
    worker.auth = HmacAuth(world["a"]["worker"].api_key, world["a"]["worker"].secret)
    user = requests.Session()
    page = user.get(f"{live_server}/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    logged_in = user.post(
        f"{live_server}/login",
        data={
            "username": "user-a",
            "password": "secret-password",
            "csrf_token": token,
            "came_from": "/",
        },
        allow_redirects=False,
    )
    assert logged_in.status_code == 303
    return {"admin": admin, "worker": worker, "session": user}


@pytest.fixture
def api_schema(live_server, sessions):
    document = sessions["admin"].get(f"{live_server}{API}/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


def _operations(api_schema):
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.parametrize("caller", ["admin", "worker", "session"])
def test_no_request_gets_a_server_error_and_answers_match_the_document(
    api_schema, sessions, live_server, caller
):
    failures = []
    for operation in _operations(api_schema):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=live_server, session=sessions[caller])
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as error:  # every operation is tried; all failures shown
            failures.append(f"{operation.label}: {error}")
    assert failures == []
