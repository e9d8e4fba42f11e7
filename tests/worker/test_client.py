"""Retries with backoff and jitter, and the list and endpoint helpers."""

import random
import socket

import pytest

from jobrunner.worker.client import (
    ApiClient,
    Backoff,
    GaveUp,
    ProtocolError,
    id_from_uri,
    parse_datetime,
)


class TestBackoff:
    def test_delays_double_with_jitter_up_to_the_cap(self):
        backoff = Backoff(base_delay=1.0, max_delay=8.0, rng=random.Random(1))

        delays = [backoff.delay(attempt) for attempt in range(1, 8)]

        ceilings = [1, 2, 4, 8, 8, 8, 8]
        for delay, ceiling in zip(delays, ceilings, strict=True):
            assert ceiling / 2 <= delay <= ceiling

    def test_jitter_spreads_workers_apart(self):
        delays = {
            Backoff(1.0, 30.0, random.Random(seed)).delay(5) for seed in range(20)
        }

        assert len(delays) == 20

    def test_huge_attempt_numbers_stay_at_the_cap(self):
        assert 15 <= Backoff(0.5, 30.0).delay(10_000) <= 30


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def retrying_client(fake, worker_id, sleeps):
    return ApiClient(
        fake.url,
        "key-1",
        "secret-1",
        timeout=5,
        backoff=Backoff(1.0, 4.0),
        sleep=sleeps.append,
    )


class TestRetries:
    def test_5xx_is_retried_until_it_works(self, fake, retrying_client, sleeps):
        fake.fail("GET", r"/worker/", times=3, status=503)

        response = retrying_client.get("worker/")

        assert response.status == 200
        assert response.attempts == 4
        assert len(sleeps) == 3
        assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4

    def test_429_is_transient_too(self, fake, retrying_client):
        fake.fail("GET", r"/worker/", status=429)

        assert retrying_client.get("worker/").status == 200

    def test_a_dropped_connection_is_retried(self, fake, retrying_client, caplog):
        fake.fail("GET", r"/worker/", drop=True, times=2)

        response = retrying_client.get("worker/")

        assert (response.status, response.attempts) == (200, 3)
        assert "the server closed the connection without answering" in caplog.text

    def test_client_errors_are_answers_not_retried(self, fake, retrying_client, sleeps):
        response = retrying_client.get("nothing-here/")

        assert response.status == 404
        assert response.attempts == 1
        assert sleeps == []

    def test_gives_up_after_the_attempts(self, fake, retrying_client, sleeps):
        fake.fail("GET", r"/worker/", times=10, status=500)

        with pytest.raises(GaveUp, match="HTTP 500.*after 3 tries"):
            retrying_client.get("worker/", attempts=3)

        assert len(sleeps) == 2

    def test_give_up_cuts_a_pause_short(self, fake, retrying_client, sleeps):
        fake.fail("GET", r"/worker/", times=10, status=500)
        calls = []

        def give_up():
            calls.append(1)
            return len(calls) > 3

        with pytest.raises(GaveUp):
            retrying_client.get("worker/", attempts=None, give_up=give_up)

        # Slices of at most 0.25 s, stopped as soon as give_up said so.
        assert sum(sleeps) < 1
        assert all(s <= 0.25 for s in sleeps)

    def test_connection_refused_is_retried_and_reported(self, sleeps):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = ApiClient(
            f"http://127.0.0.1:{port}",
            "k",
            "s",
            backoff=Backoff(0.01, 0.01),
            sleep=sleeps.append,
        )

        with pytest.raises(GaveUp) as raised:
            client.get("worker/", attempts=4)

        assert str(raised.value) == (
            "GET /api/job_runner/v1/worker/: ConnectionError: [Errno 111] "
            "Connection refused (after 4 tries)"
        )

        assert len(sleeps) == 3

    def test_a_retried_post_carries_the_same_signed_body(self, fake, retrying_client):
        run = fake.add_run(fake.add_job())
        fake.fail("POST", r"/log/", status=502)

        response = retrying_client.append_log(run.id, 0, "once\n")

        assert response.status == 202
        assert run.log == b"once\n"


class TestEndpoints:
    def test_iterate_follows_next_pages(self, fake, client):
        job = fake.add_job()
        runs = [fake.add_run(job) for _ in range(7)]

        found = list(client.iterate("run/", {"limit": 3}))

        assert [r["id"] for r in found] == [r.id for r in runs]
        assert len(fake.calls("GET", r"/run/")) == 3

    def test_find_worker(self, fake, client, worker_id):
        fake.add_worker(api_key="key-2", secret="secret-2")

        assert client.find_worker()["id"] == worker_id

    def test_find_worker_without_a_match(self, fake, client, worker_id):
        fake.workers[worker_id]["api_key"] = "renamed"
        fake.add_worker(api_key="key-1", secret="other")

        with pytest.raises(ProtocolError, match="401"):
            client.find_worker()

    def test_heartbeat_sends_version_and_concurrency(self, fake, client, worker_id):
        response = client.heartbeat(worker_id, "1.2.3", 6)

        assert response.status == 202
        worker = fake.workers[worker_id]
        assert worker["worker_version"] == "1.2.3"
        assert worker["concurrent_jobs"] == 6
        assert parse_datetime(worker["ping_response_dts"]).utcoffset().seconds == 0

    def test_claim_waits_on_the_server(self, fake, client):
        response = client.claim(3, 0)

        assert response.status == 200 and response.data == {"objects": []}
        assert fake.calls("POST", r"/run/claim/")[0][2] == {"limit": 3, "wait": 0}


def test_id_from_uri():
    assert id_from_uri("/api/job_runner/v1/run/17/") == 17
    assert id_from_uri("/api/job_runner/v1/run/17") == 17


def test_naive_datetimes_are_taken_as_utc():
    assert parse_datetime("2024-01-01T12:00:00").tzinfo is not None
    assert parse_datetime(None) is None
