"""A run's way through the API: claimed, started, returned, rescheduled."""

import datetime

import pytest

from jobrunner.db import utcnow
from jobrunner.jobs.models import Run
from tests.functional.lifecycle_helpers import (
    patch,
    pending_runs,
    post,
    schedule_first_run,
)


API = "/api/job_runner/v1"
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def setup(factory, dbsession):
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    other = factory.worker(pools=[pool])
    project = factory.project(pools=[pool])
    template = factory.template(project, notification_addresses=["team@example.com"])
    job = factory.job(
        template,
        pool,
        reschedule_interval=5,
        reschedule_interval_type="MINUTE",
        reschedule_type="AFTER_SCHEDULE_DTS",
    )
    return {
        "pool": pool,
        "worker": worker,
        "other": other,
        "project": project,
        "template": template,
        "job": job,
    }


def _due_run(dbsession, job):
    run = schedule_first_run(
        dbsession, job, now=utcnow() - datetime.timedelta(minutes=1)
    )[0]
    return run


class TestSeedEraProtocol:
    def test_run_goes_through_every_state_and_the_job_is_rescheduled(
        self, setup, dbsession, sign
    ):
        run = _due_run(dbsession, setup["job"])
        worker = sign(setup["worker"])
        now = utcnow()

        listed = worker.get(
            f"{API}/run/?state=scheduled&schedule_dts__lte={now.isoformat(' ')}"
            "&limit=1".replace("+", "%2B")
        ).json["objects"]
        enqueued = patch(worker, run.id, enqueue_dts=now)
        started = patch(worker, run.id, start_dts=now + SECOND, pid=1234)
        returned = patch(
            worker,
            run.id,
            return_dts=now + 2 * SECOND,
            return_success=True,
            return_log="all good\n",
        )

        assert [r["id"] for r in listed] == [run.id]
        assert enqueued.json["state"] == "in_queue"
        assert enqueued.json["worker"] == f"{API}/worker/{setup['worker'].id}/"
        assert started.json["state"] == "started"
        assert started.json["pid"] == 1234
        assert returned.json["state"] == "completed_successful"
        log = worker.get(f"{API}/run_log/?run={run.id}").json["objects"]
        assert log[0]["content"] == "all good\n"
        (next_run,) = pending_runs(dbsession, setup["job"])
        assert next_run.schedule_dts == run.schedule_dts + datetime.timedelta(minutes=5)
        assert next_run.schedule_dts > now

    def test_a_second_worker_cannot_enqueue_a_claimed_run(self, setup, dbsession, sign):
        run = _due_run(dbsession, setup["job"])
        now = utcnow()
        patch(sign(setup["worker"]), run.id, enqueue_dts=now)

        response = patch(
            sign(setup["other"]), run.id, status=409, enqueue_dts=now + SECOND
        )

        assert response.json["status"] == "error"
        dbsession.expire_all()
        assert dbsession.get(Run, run.id).worker_id == setup["worker"].id

    def test_a_retried_enqueue_by_the_same_worker_is_harmless(
        self, setup, dbsession, sign
    ):
        run = _due_run(dbsession, setup["job"])
        now = utcnow()
        worker = sign(setup["worker"])

        patch(worker, run.id, enqueue_dts=now)
        again = patch(worker, run.id, enqueue_dts=now)

        assert again.json["state"] == "in_queue"

    def test_another_worker_cannot_report_on_a_claimed_run(
        self, setup, dbsession, sign
    ):
        run = _due_run(dbsession, setup["job"])
        now = utcnow()
        patch(sign(setup["worker"]), run.id, enqueue_dts=now)

        patch(sign(setup["other"]), run.id, status=409, start_dts=now)

    def test_repeating_the_same_return_is_accepted_once_and_reschedules_once(
        self, setup, dbsession, sign
    ):
        run = _due_run(dbsession, setup["job"])
        worker = sign(setup["worker"])
        now = utcnow()
        patch(worker, run.id, enqueue_dts=now, start_dts=now)
        report = {
            "return_dts": now + SECOND,
            "return_success": False,
            "return_log": "boom",
        }

        patch(worker, run.id, **report)
        patch(worker, run.id, **report)

        assert len(pending_runs(dbsession, setup["job"])) == 1
        dbsession.expire_all()
        assert setup["job"].fail_times == 1

    def test_a_different_report_on_a_returned_run_is_a_conflict(
        self, setup, dbsession, sign
    ):
        run = _due_run(dbsession, setup["job"])
        worker = sign(setup["worker"])
        now = utcnow()
        patch(
            worker,
            run.id,
            enqueue_dts=now,
            start_dts=now,
            return_dts=now,
            return_success=True,
        )

        response = patch(worker, run.id, status=409, return_success=False)

        assert response.json["errors"][0]["name"] == "return_dts"
        dbsession.expire_all()
        assert dbsession.get(Run, run.id).return_success is True


class TestReportValidation:
    @pytest.mark.parametrize(
        ("values", "name"),
        [
            ({"start_dts": "NOW"}, "start_dts"),
            ({"enqueue_dts": "NOW", "start_dts": "BEFORE"}, "start_dts"),
            ({"enqueue_dts": "NOW", "return_dts": "NOW"}, "return_success"),
            ({"enqueue_dts": "NOW", "return_success": True}, "return_success"),
            ({"enqueue_dts": "FUTURE"}, "enqueue_dts"),
            ({"enqueue_dts": "yesterday"}, "enqueue_dts"),
            ({"pid": -1}, "pid"),
            ({"pid": "many"}, "pid"),
            ({"return_success": "maybe"}, "return_success"),
            ({"state": "completed"}, "state"),
            ({"enqueue_dts": None}, "enqueue_dts"),
        ],
    )
    def test_invalid_reports_are_refused_and_change_nothing(
        self, setup, dbsession, sign, values, name
    ):
        run = _due_run(dbsession, setup["job"])
        now = utcnow()
        times = {
            "NOW": now,
            "BEFORE": now - datetime.timedelta(minutes=1),
            "FUTURE": now + datetime.timedelta(days=2),
        }
        values = {
            k: times.get(v, v) if isinstance(v, str) else v for k, v in values.items()
        }

        response = patch(sign(setup["worker"]), run.id, status=400, **values)

        assert name in [e["name"] for e in response.json["errors"]]
        dbsession.expire_all()
        stored = dbsession.get(Run, run.id)
        assert (stored.enqueue_dts, stored.start_dts, stored.pid) == (None, None, None)

    def test_a_body_that_is_not_json_is_refused(self, setup, dbsession, sign):
        run = _due_run(dbsession, setup["job"])

        response = sign(setup["worker"]).request(
            "PATCH", f"{API}/run/{run.id}/", b"{not json", status=400
        )

        assert response.json["errors"][0]["location"] == "body"

    def test_a_session_cannot_report(self, setup, dbsession, factory, login, testapp):
        run = _due_run(dbsession, setup["job"])
        factory.user(username="viewer", is_superuser=True)
        login("viewer")

        testapp.patch_json(f"{API}/run/{run.id}/", {"pid": 1}, status=403)

    def test_a_run_outside_the_workers_pools_is_not_found(
        self, setup, dbsession, factory, sign
    ):
        run = _due_run(dbsession, setup["job"])
        stranger = factory.worker(pools=[factory.pool()])

        patch(sign(stranger), run.id, status=404, enqueue_dts=utcnow())


def test_a_run_that_is_not_due_cannot_be_claimed_by_patch(setup, dbsession, sign):
    run = _due_run(dbsession, setup["job"])
    run.schedule_dts = utcnow() + datetime.timedelta(minutes=10)
    dbsession.commit()

    refused = patch(sign(setup["worker"]), run.id, status=409, enqueue_dts=utcnow())

    assert refused.json["errors"][0]["name"] == "enqueue_dts"
    assert "not due" in refused.json["errors"][0]["description"]
    dbsession.expire_all()
    assert (run.enqueue_dts, run.worker_id) == (None, None)


class TestEnqueueDisabled:
    @pytest.mark.parametrize("level", ["job", "template", "project", "pool", "worker"])
    def test_runs_under_a_disabled_level_are_not_handed_out(
        self, setup, dbsession, sign, level
    ):
        run = _due_run(dbsession, setup["job"])
        setup[level if level != "template" else "template"].enqueue_is_enabled = False
        dbsession.commit()
        worker = sign(setup["worker"])

        claimed = post(worker, f"{API}/run/claim/", limit=5).json["objects"]
        listed = worker.get(f"{API}/run/?state=scheduled").json["objects"]
        patched = patch(worker, run.id, status=409, enqueue_dts=utcnow())

        assert claimed == []
        assert listed == []
        assert patched.json["errors"][0]["name"] == "enqueue_dts"


class TestClaimEndpoint:
    def test_claim_returns_due_runs_with_their_script(self, setup, dbsession, sign):
        run = _due_run(dbsession, setup["job"])

        response = post(sign(setup["worker"]), f"{API}/run/claim/", limit=3)

        (claimed,) = response.json["objects"]
        assert claimed["id"] == run.id
        assert claimed["state"] == "in_queue"
        assert claimed["script_content"] == setup["job"].script_content
        assert claimed["job_title"] == setup["job"].title
        assert claimed["worker"] == f"{API}/worker/{setup['worker'].id}/"

    def test_a_claimed_run_is_not_claimed_again(self, setup, dbsession, sign):
        _due_run(dbsession, setup["job"])
        post(sign(setup["worker"]), f"{API}/run/claim/")

        again = post(sign(setup["other"]), f"{API}/run/claim/").json["objects"]

        assert again == []

    def test_runs_not_yet_due_are_not_claimed(self, setup, dbsession, sign):
        schedule_first_run(
            dbsession, setup["job"], now=utcnow() + datetime.timedelta(hours=1)
        )

        claimed = post(sign(setup["worker"]), f"{API}/run/claim/").json["objects"]

        assert claimed == []

    def test_limit_bounds_the_batch_and_oldest_come_first(
        self, setup, dbsession, factory, sign
    ):
        jobs = [factory.job(setup["template"], setup["pool"]) for _ in range(4)]
        base = utcnow() - datetime.timedelta(minutes=10)
        runs = [
            factory.run(job, schedule_dts=base + i * SECOND)
            for i, job in enumerate(jobs)
        ]

        claimed = post(sign(setup["worker"]), f"{API}/run/claim/", limit=3)

        assert [r["id"] for r in claimed.json["objects"]] == [r.id for r in runs[:3]]

    def test_long_polling_hands_out_a_run_that_becomes_due_while_waiting(
        self, setup, dbsession, sign
    ):
        (run,) = schedule_first_run(
            dbsession, setup["job"], now=utcnow() + datetime.timedelta(seconds=1)
        )

        claimed = post(sign(setup["worker"]), f"{API}/run/claim/", wait=10)

        assert [r["id"] for r in claimed.json["objects"]] == [run.id]

    def test_long_polling_returns_empty_when_nothing_comes(self, setup, sign):
        claimed = post(sign(setup["worker"]), f"{API}/run/claim/", wait=0.3)

        assert claimed.json == {"meta": {"count": 0}, "objects": []}

    @pytest.mark.parametrize(
        "body",
        [
            {"limit": 0},
            {"limit": 101},
            {"wait": -1},
            {"wait": 31},
            {"limit": "x"},
            {"color": "red"},
        ],
    )
    def test_bad_claims_are_refused(self, setup, sign, body):
        post(sign(setup["worker"]), f"{API}/run/claim/", status=400, **body)

    def test_only_workers_claim(self, setup, factory, sign):
        admin = factory.admin_key()

        post(sign(admin), f"{API}/run/claim/", status=403)
