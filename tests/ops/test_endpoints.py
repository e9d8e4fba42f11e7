"""/health, /ready and /metrics, with the database up and down."""

import datetime
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from jobrunner import signing
from jobrunner.app import main
from jobrunner.db import utcnow


API = "/api/job_runner/v1"


def samples(text: str) -> dict:
    """{(name, sorted label items): value} of a Prometheus exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture(scope="module")
def unreachable_app(tmp_path_factory, mail_dir):
    """The application over a database that cannot be opened."""
    missing = tmp_path_factory.mktemp("gone") / "no-such-dir" / "db.sqlite"
    app = main(
        {},
        **{
            "sqlalchemy.url": f"sqlite:///{missing}",
            "auth.secret": "test",
            "mail.debug_dir": str(mail_dir),
        },
    )
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})


def test_health_answers_without_a_database(unreachable_app):
    response = unreachable_app.get("/health", status=200)

    assert response.json == {"status": "ok"}


def test_ready_answers_when_the_database_does(testapp):
    response = testapp.get("/ready", status=200)

    assert response.json["database"] == "ok"


def test_ready_is_503_with_retry_after_when_the_database_is_unreachable(
    unreachable_app,
):
    response = unreachable_app.get("/ready", status=503)

    assert response.headers["Retry-After"] == "5"
    assert response.json["errors"][0]["name"] == "database"


def test_an_api_request_is_503_with_retry_after_when_the_database_is_unreachable(
    unreachable_app,
):
    path = f"{API}/run/"
    header = signing.authorization_header("some-key", "some-secret", "GET", path)

    response = unreachable_app.get(path, headers={"Authorization": header}, status=503)

    assert response.headers["Retry-After"] == "5"
    assert response.json["status"] == "error"


@pytest.fixture
def silent_database():
    """A PostgreSQL URL whose server takes the connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    # The kernel completes each handshake from the backlog; nobody accepts.
    listener.listen(16)
    yield f"postgresql+psycopg://jobrunner@127.0.0.1:{listener.getsockname()[1]}/x"
    listener.close()


def test_a_database_that_never_answers_gives_503_after_the_connect_timeout(
    silent_database, mail_dir
):
    app = main(
        {},
        **{
            "sqlalchemy.url": silent_database,
            "database.connect_timeout": "1",
            "auth.secret": "test",
            "mail.debug_dir": str(mail_dir),
        },
    )
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    answers = []
    asking = threading.Thread(
        target=lambda: answers.append(client.get("/ready", expect_errors=True)),
        daemon=True,
    )

    asking.start()
    # Without a connect timeout the request would wait for the server for
    # as long as the socket stays open: here, for ever.
    asking.join(timeout=20)

    assert not asking.is_alive(), "the request hangs"
    (response,) = answers
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "5"


def test_metrics_without_a_database_still_give_the_counters(unreachable_app):
    unreachable_app.get("/health")

    found = samples(unreachable_app.get("/metrics", status=200).text)

    assert found[("jobrunner_database_up", ())] == 0
    assert ("jobrunner_runs", (("state", "scheduled"),)) not in found
    health = (("method", "GET"), ("route", "ops.health"), ("status", "200"))
    assert found[("jobrunner_http_requests_total", health)] >= 1


@pytest.fixture
def world(factory):
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    template = factory.template(factory.project(pools=[pool]))
    # Manual runs: a job may have any number of them pending.
    job = factory.job(template, pool)
    disabled = factory.job(template, pool, enqueue_is_enabled=False)
    return {"pool": pool, "worker": worker, "job": job, "disabled": disabled}


def test_metrics_count_runs_by_state_and_measure_the_dispatch_lag(
    world, factory, testapp, dialect
):
    now = utcnow()
    for _ in range(3):
        factory.run(world["job"], "scheduled", is_manual=True, schedule_dts=now)
    factory.run(world["job"], "in_queue", worker=world["worker"])
    factory.run(world["job"], "started", worker=world["worker"])
    factory.run(world["job"], "completed_successful", worker=world["worker"])
    hour_ago = now - datetime.timedelta(hours=1)
    oldest = factory.run(
        world["job"], "scheduled", is_manual=True, schedule_dts=hour_ago
    )
    # Waiting on purpose: its job is disabled, so it is no dispatch backlog.
    factory.run(
        world["disabled"],
        "scheduled",
        is_manual=True,
        schedule_dts=now - datetime.timedelta(days=1),
    )
    factory.run(
        world["job"],
        "scheduled",
        is_manual=True,
        schedule_dts=now + datetime.timedelta(days=1),
    )

    found = samples(testapp.get("/metrics", status=200).text)

    assert found[("jobrunner_database_up", ())] == 1
    assert found[("jobrunner_runs", (("state", "scheduled"),))] == 6
    assert found[("jobrunner_runs", (("state", "in_queue"),))] == 1
    assert found[("jobrunner_runs", (("state", "started"),))] == 1
    lag = found[("jobrunner_dispatch_lag_seconds", ())]
    assert lag >= (now - oldest.schedule_dts).total_seconds()
    assert lag < datetime.timedelta(days=1).total_seconds()
    estimate = ("jobrunner_runs_completed_estimate", ())
    if dialect == "postgresql":
        assert found[estimate] >= 0
    else:
        assert estimate not in found


def test_no_due_run_is_no_lag(world, factory, testapp):
    factory.run(
        world["job"],
        "scheduled",
        is_manual=True,
        schedule_dts=utcnow() + datetime.timedelta(hours=1),
    )

    found = samples(testapp.get("/metrics").text)

    assert found[("jobrunner_dispatch_lag_seconds", ())] == 0


def test_metrics_count_claims_and_requests_by_route_and_status(
    world, factory, sign, testapp
):
    factory.run(world["job"], "scheduled", is_manual=True, schedule_dts=utcnow())
    factory.run(world["job"], "scheduled", is_manual=True, schedule_dts=utcnow())
    claimed = ("jobrunner_runs_claimed_total", (("via", "claim"),))
    listed = (
        "jobrunner_http_requests_total",
        (("method", "GET"), ("route", "api.run.list"), ("status", "200")),
    )
    before = samples(testapp.get("/metrics").text)
    worker = sign(world["worker"])

    worker.request("POST", f"{API}/run/claim/", json.dumps({"limit": 5}), status=200)
    worker.get(f"{API}/run/?limit=1", status=200)
    worker.get(f"{API}/run/999999/", status=404)
    after = samples(testapp.get("/metrics").text)

    assert after[claimed] - before.get(claimed, 0) == 2
    assert after[listed] - before.get(listed, 0) == 1
    missing = (
        "jobrunner_http_requests_total",
        (("method", "GET"), ("route", "api.run.detail"), ("status", "404")),
    )
    assert after[missing] >= 1


def test_metrics_count_finished_runs_by_outcome(world, factory, sign, testapp):
    worker = sign(world["worker"])
    succeeded = ("jobrunner_runs_finished_total", (("outcome", "succeeded"),))
    failed = ("jobrunner_runs_finished_total", (("outcome", "failed"),))
    before = samples(testapp.get("/metrics").text)

    for success in (True, False, False):
        run = factory.run(world["job"], "started", worker=world["worker"])
        body = {"return_dts": utcnow().isoformat(), "return_success": success}
        worker.request("PATCH", f"{API}/run/{run.id}/", json.dumps(body), status=202)
    after = samples(testapp.get("/metrics").text)

    assert after[succeeded] - before.get(succeeded, 0) == 1
    assert after[failed] - before.get(failed, 0) == 2


@pytest.fixture(scope="module")
def guarded_app(app_settings, dbengine):
    app = main({}, dbengine=dbengine, **{**app_settings, "metrics.token": "s3cret"})
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})


def test_metrics_ask_for_the_token_when_one_is_set(guarded_app):
    refused = guarded_app.get("/metrics", status=401)
    wrong = guarded_app.get(
        "/metrics", headers={"Authorization": "Bearer nope"}, status=401
    )
    allowed = guarded_app.get(
        "/metrics", headers={"Authorization": "Bearer s3cret"}, status=200
    )

    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.json["errors"][0]["name"] == "Authorization"
    assert allowed.content_type == "text/plain"
    # Probes stay open: the token guards only the metrics.
    guarded_app.get("/health", status=200)


_MULTIPROCESS = """
import webtest
from jobrunner.app import main
settings = {"sqlalchemy.url": "sqlite://", "auth.secret": "test"}
app = webtest.TestApp(main({}, **settings))
app.get("/health")
app.get("/metrics")
print(app.get("/metrics").text)
"""


def test_multiprocess_mode_adds_up_the_files_and_keeps_no_gauge_there(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    output = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _MULTIPROCESS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    found = samples(output)
    health = (("method", "GET"), ("route", "ops.health"), ("status", "200"))
    assert found[("jobrunner_http_requests_total", health)] == 1
    # Scrape-time values are not stored, so no scrape sees an old one again.
    up = [
        line for line in output.splitlines() if line.startswith("jobrunner_database_up")
    ]
    assert len(up) == 1
    assert not list(tmp_path.glob("gauge_*"))
