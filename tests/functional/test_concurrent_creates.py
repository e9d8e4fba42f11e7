"""Creates racing over real HTTP: one wins, the others are told why, no 500."""

import concurrent.futures
import json
import threading

import pytest
import requests

from jobrunner import signing


API = "/api/job_runner/v1"
CLIENTS = 8


def create_at_once(base_url, credential, path, body):
    """POST the same body from many threads at the same moment."""
    data = json.dumps(body).encode()
    barrier = threading.Barrier(CLIENTS)

    def post(_):
        headers = {
            # The server closes each connection itself once it has answered,
            # so none is left open for the fixture to close at the end.
            "Connection": "close",
            "Content-Type": "application/json",
            "Authorization": signing.authorization_header(
                credential.api_key, credential.secret, "POST", path, data
            ),
        }
        barrier.wait()
        return requests.post(base_url + path, data=data, headers=headers, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(CLIENTS)))


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("project", {"title": "same"}, "title"),
        ("worker_pool", {"title": "same"}, "title"),
        ("group", {"name": "same"}, "name"),
    ],
)
def test_one_of_many_identical_creates_wins_and_the_others_get_400(
    factory, live_server, dbsession, resource, body, field
):
    admin = factory.admin_key()

    responses = create_at_once(live_server, admin, f"{API}/{resource}/", body)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (CLIENTS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            (error,) = response.json()["errors"]
            assert error["name"] == field
    listed = requests.get(
        f"{live_server}{API}/{resource}/",
        headers={
            "Connection": "close",
            "Authorization": signing.authorization_header(
                admin.api_key, admin.secret, "GET", f"{API}/{resource}/", b""
            ),
        },
        timeout=30,
    ).json()
    assert listed["meta"]["total_count"] == 1
