"""The worker signs what it sends, and the server's verification agrees."""

import json

import pytest

from jobrunner import signing
from jobrunner.worker.client import ApiClient


def test_fixed_vector():
    assert (
        signing.signature("foobar", "POST", "full_request_path", b"raw_post_data")
        == "9bfd7ed2a963182c4005c851f5f862cc97607f7b"
    )


def _parse(prepared):
    value = prepared.headers["Authorization"]
    api_key, given = signing.parse_authorization(value)
    return api_key, given


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "worker/", {"api_key": "key-1"}, None),
        (
            "GET",
            "run/",
            {"state": "scheduled", "schedule_dts__lte": "2024-01-01T12:00:00+00:00"},
            None,
        ),
        ("PATCH", "run/7/", None, {"return_log": "héllo ✓\n", "pid": 3}),
        ("POST", "run/7/log/", None, {"offset": 0, "content": "x" * 10}),
        ("GET", "/api/job_runner/v1/run/?limit=20&offset=20&state=started", None, None),
    ],
)
def test_client_signature_verifies_with_the_servers_check(method, path, params, body):
    client = ApiClient("http://example.test", "key-1", "secret-1")

    prepared = client.prepare(method, path, params, body)
    api_key, given = _parse(prepared)

    assert api_key == "key-1"
    raw_body = prepared.body or b""
    assert signing.verify("secret-1", given, method, [prepared.path_url], raw_body)
    assert not signing.verify("secret-2", given, method, [prepared.path_url], raw_body)
    if body is not None:
        assert json.loads(raw_body) == body


def test_the_signature_covers_the_query_and_body():
    client = ApiClient("http://example.test", "key-1", "secret-1")

    first = client.prepare("PATCH", "run/7/", {"a": "1"}, {"pid": 1})
    other_query = client.prepare("PATCH", "run/7/", {"a": "2"}, {"pid": 1})
    other_body = client.prepare("PATCH", "run/7/", {"a": "1"}, {"pid": 2})

    signatures = {_parse(p)[1] for p in (first, other_query, other_body)}
    assert len(signatures) == 3
    assert first.path_url == "/api/job_runner/v1/run/7/?a=1"


def test_a_server_under_a_prefix_gets_the_prefixed_path_signed():
    client = ApiClient("http://example.test/jobs/", "key-1", "secret-1")

    prepared = client.prepare("GET", "run/", {"limit": 1})

    assert prepared.url == "http://example.test/jobs/api/job_runner/v1/run/?limit=1"
    _, given = _parse(prepared)
    assert signing.verify("secret-1", given, "GET", [prepared.path_url])


def test_the_fake_server_rejects_a_wrong_secret(fake, worker_id):
    wrong = ApiClient(fake.url, "key-1", "not-the-secret")
    right = ApiClient(fake.url, "key-1", "secret-1")

    assert wrong.get("worker/").status == 401
    assert right.get("worker/").status == 200
