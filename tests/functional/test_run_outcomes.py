"""What follows a returned run: siblings, chains, failures, mail, logs, kills."""

import datetime
import json

import pytest

from jobrunner.db import utcnow
from jobrunner.jobs.models import Job, KillRequest, Run, RunLog
from jobrunner.jobs.operations import LOG_TRUNCATION_MARKER
from tests.functional.lifecycle_helpers import (
    patch,
    pending_runs,
    post,
    schedule_first_run,
)


API = "/api/job_runner/v1"
EARLIER = datetime.timedelta(minutes=1)


@pytest.fixture
def setup(factory):
    pool = factory.pool(notification_addresses=["pool@example.com"])
    workers = [factory.worker(pools=[pool]) for _ in range(2)]
    project = factory.project(pools=[pool], notification_addresses=["p@example.com"])
    template = factory.template(project, notification_addresses=["t@example.com"])
    job = factory.job(
        template,
        pool,
        reschedule_interval=1,
        reschedule_interval_type="HOUR",
        notification_addresses=["job@example.com"],
    )
    return {
        "pool": pool,
        "workers": workers,
        "project": project,
        "template": template,
        "job": job,
    }


def run_to_end(signer, run_id, success=True, log="done\n"):
    now = utcnow()
    return patch(
        signer,
        run_id,
        enqueue_dts=now,
        start_dts=now,
        return_dts=now,
        return_success=success,
        return_log=log,
    )


class TestRunOnAllWorkers:
    def test_each_enabled_worker_gets_a_sibling_run(self, setup, dbsession, factory):
        disabled = factory.worker(pools=[setup["pool"]], enqueue_is_enabled=False)
        setup["job"].run_on_all_workers = True
        dbsession.commit()

        runs = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        assert sorted(r.worker_id for r in runs) == sorted(
            w.id for w in setup["workers"]
        )
        assert disabled.id not in [r.worker_id for r in runs]
        assert len({r.schedule_id for r in runs}) == 1
        assert runs[0].schedule_id is not None

    def test_a_sibling_run_is_only_handed_to_its_worker(self, setup, dbsession, sign):
        setup["job"].run_on_all_workers = True
        dbsession.commit()
        schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        first, second = setup["workers"]

        claimed = post(sign(first), f"{API}/run/claim/", limit=10).json["objects"]

        assert [r["worker"] for r in claimed] == [f"{API}/worker/{first.id}/"]
        listed = sign(second).get(f"{API}/run/?state=scheduled").json["objects"]
        assert [r["worker"] for r in listed] == [f"{API}/worker/{second.id}/"]

    def test_a_polling_worker_sees_only_the_scheduled_runs_it_may_take(
        self, setup, dbsession, sign
    ):
        setup["job"].run_on_all_workers = True
        dbsession.commit()
        schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        first, second = setup["workers"]

        listed = sign(first).get(f"{API}/run/?state=scheduled").json["objects"]
        everything = sign(first).get(f"{API}/run/").json["objects"]

        assert [r["worker"] for r in listed] == [f"{API}/worker/{first.id}/"]
        assert len(everything) == 2

    def test_the_job_is_rescheduled_once_when_the_last_sibling_returns(
        self, setup, dbsession, sign
    ):
        setup["job"].run_on_all_workers = True
        dbsession.commit()
        runs = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        by_worker = {r.worker_id: r for r in runs}
        first, second = setup["workers"]

        first_schedule = runs[0].schedule_id

        def next_runs():
            return [
                r
                for r in pending_runs(dbsession, setup["job"])
                if r.schedule_id != first_schedule
            ]

        run_to_end(sign(first), by_worker[first.id].id)
        after_first = next_runs()
        run_to_end(sign(second), by_worker[second.id].id)
        after_both = next_runs()

        assert after_first == []
        assert len(after_both) == 2
        assert len({r.schedule_id for r in after_both}) == 1


class TestRunOnAllWorkersAfterEdits:
    """Admin edits hand the pending sibling runs to the workers of today."""

    @pytest.fixture
    def admin(self, factory, sign):
        return sign(factory.admin_key())

    @pytest.fixture
    def due(self, setup, dbsession):
        """When the job's first occurrence, one run per worker, is due."""
        setup["job"].run_on_all_workers = True
        dbsession.commit()
        runs = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        assert len(runs) == 2
        return runs[0].schedule_dts

    def edit(self, admin, path, **values):
        return admin.request("PATCH", f"{API}/{path}", json.dumps(values), status=200)

    def claim(self, signer):
        return post(signer, f"{API}/run/claim/", limit=10).json["objects"]

    def claim_and_return(self, signer):
        (claimed,) = self.claim(signer)
        now = utcnow()
        patch(signer, claimed["id"], start_dts=now, return_dts=now, return_success=True)

    def test_moving_the_job_to_another_pool_gives_its_workers_the_run(
        self, setup, due, factory, dbsession, admin, sign
    ):
        other_pool = factory.pool()
        newcomer = factory.worker(pools=[other_pool])
        setup["project"].worker_pools.append(other_pool)
        dbsession.commit()

        self.edit(admin, f"job/{setup['job'].id}/", worker_pool=other_pool.id)

        (run,) = pending_runs(dbsession, setup["job"])
        assert run.worker_id == newcomer.id
        assert run.schedule_dts == due
        assert all(self.claim(sign(w)) == [] for w in setup["workers"])
        assert [r["id"] for r in self.claim(sign(newcomer))] == [run.id]

    def test_a_worker_leaving_the_pool_no_longer_holds_up_the_schedule(
        self, setup, due, dbsession, admin, sign
    ):
        first, second = setup["workers"]

        self.edit(admin, f"worker/{second.id}/", worker_pools=[])
        self.claim_and_return(sign(first))

        (next_run,) = pending_runs(dbsession, setup["job"])
        assert next_run.worker_id == first.id
        assert next_run.schedule_dts > due
        assert self.claim(sign(second)) == []

    def test_the_schedule_ends_when_the_last_waiting_worker_is_disabled(
        self, setup, due, dbsession, admin, sign
    ):
        first, second = setup["workers"]
        self.claim_and_return(sign(first))
        assert [r.worker_id for r in pending_runs(dbsession, setup["job"])] == [
            second.id
        ]

        self.edit(admin, f"worker/{second.id}/", enqueue_is_enabled=False)

        (next_run,) = pending_runs(dbsession, setup["job"])
        assert next_run.worker_id == first.id
        assert next_run.schedule_dts > due

    def test_a_lone_worker_leaving_gives_the_run_to_whoever_joins(
        self, setup, dbsession, admin, sign, factory
    ):
        first, second = setup["workers"]
        second.pools = []
        setup["job"].run_on_all_workers = True
        dbsession.commit()
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        due = run.schedule_dts

        self.edit(admin, f"worker/{first.id}/", worker_pools=[])

        (waiting,) = pending_runs(dbsession, setup["job"])
        assert waiting.worker_id is None
        assert waiting.schedule_dts == due

    def test_running_on_one_worker_again_leaves_one_pending_run(
        self, setup, due, dbsession, admin
    ):
        self.edit(admin, f"job/{setup['job'].id}/", run_on_all_workers=False)

        (run,) = pending_runs(dbsession, setup["job"])
        assert (run.worker_id, run.schedule_id) == (None, None)
        assert run.schedule_dts == due

    def test_running_on_all_workers_gives_each_worker_a_run(
        self, setup, dbsession, admin
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        due = run.schedule_dts

        self.edit(admin, f"job/{setup['job'].id}/", run_on_all_workers=True)

        runs = pending_runs(dbsession, setup["job"])
        assert sorted(r.worker_id for r in runs) == sorted(
            w.id for w in setup["workers"]
        )
        assert {r.schedule_dts for r in runs} == {due}

    def test_a_worker_with_a_waiting_run_may_be_deleted(
        self, setup, due, dbsession, admin
    ):
        first, second = setup["workers"]

        admin.request("DELETE", f"{API}/worker/{second.id}/", status=204)

        runs = pending_runs(dbsession, setup["job"])
        assert [r.worker_id for r in runs] == [first.id]


class TestChains:
    @pytest.fixture
    def child(self, setup, factory):
        return factory.job(
            setup["template"], setup["pool"], parent_id=setup["job"].id, title="child"
        )

    def test_a_successful_run_starts_the_children_now(
        self, setup, child, dbsession, sign
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        run_to_end(sign(setup["workers"][0]), run.id, success=True)

        (child_run,) = pending_runs(dbsession, child)
        assert child_run.is_manual is True
        assert child_run.schedule_dts <= utcnow()

    def test_a_failed_run_starts_no_children_unless_asked(
        self, setup, child, dbsession, sign
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        run_to_end(sign(setup["workers"][0]), run.id, success=False)

        assert pending_runs(dbsession, child) == []

    def test_schedule_children_on_error_starts_them_after_a_failure(
        self, setup, child, dbsession, sign
    ):
        setup["job"].schedule_children_on_error = True
        dbsession.commit()
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        run_to_end(sign(setup["workers"][0]), run.id, success=False)

        assert len(pending_runs(dbsession, child)) == 1

    def test_a_run_marked_not_to_schedule_children_starts_none(
        self, setup, child, dbsession, sign
    ):
        signer = sign(setup["workers"][0])
        manual = post(
            signer,
            f"{API}/run/",
            status=201,
            job=setup["job"].id,
            schedule_children=False,
        ).json

        run_to_end(signer, manual["id"], success=True)

        assert pending_runs(dbsession, child) == []


class TestFailures:
    def test_a_failed_run_mails_everyone_concerned(
        self, setup, dbsession, sign, mailbox
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        run_to_end(
            sign(setup["workers"][0]),
            run.id,
            success=False,
            log="Traceback: disk full\n",
        )

        (mail,) = mailbox()
        assert "failed" in mail["Subject"]
        assert setup["job"].title in mail["Subject"]
        recipients = {a.strip() for a in mail["To"].split(",")}
        assert recipients == {
            "job@example.com",
            "t@example.com",
            "p@example.com",
            "pool@example.com",
            "ops@example.com",
        }
        assert "disk full" in mail.get_payload(decode=True).decode()

    def test_a_successful_run_sends_no_mail(self, setup, dbsession, sign, mailbox):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        run_to_end(sign(setup["workers"][0]), run.id, success=True)

        assert mailbox() == []

    def test_fail_times_counts_consecutive_failures_and_success_resets_it(
        self, setup, dbsession, sign
    ):
        signer = sign(setup["workers"][0])
        job_id = setup["job"].id
        outcomes = []
        for success in (False, False, True, False):
            run = post(signer, f"{API}/run/", status=201, job=job_id).json
            run_to_end(signer, run["id"], success=success)
            dbsession.expire_all()
            outcomes.append(dbsession.get(Job, job_id).fail_times)

        assert outcomes == [1, 2, 0, 1]

    def test_the_job_is_disabled_after_its_failure_limit_and_people_are_told(
        self, setup, dbsession, sign, mailbox
    ):
        setup["job"].disable_enqueue_after_fails = 2
        dbsession.commit()
        signer = sign(setup["workers"][0])
        for _ in range(2):
            run = post(signer, f"{API}/run/", status=201, job=setup["job"].id).json
            run_to_end(signer, run["id"], success=False)

        dbsession.expire_all()
        assert dbsession.get(Job, setup["job"].id).enqueue_is_enabled is False
        subjects = [m["Subject"] for m in mailbox()]
        assert any("disabled after 2 failures" in s for s in subjects)


class TestManualRuns:
    def test_a_manual_run_is_due_now_and_leaves_the_schedule_alone(
        self, setup, dbsession, sign
    ):
        (scheduled,) = schedule_first_run(
            dbsession, setup["job"], utcnow() + datetime.timedelta(hours=1)
        )
        signer = sign(setup["workers"][0])

        created = post(signer, f"{API}/run/", status=201, job=setup["job"].id)
        run_to_end(signer, created.json["id"])

        assert created.json["is_manual"] is True
        assert created.headers["Location"].endswith(f"/run/{created.json['id']}/")
        assert [r.id for r in pending_runs(dbsession, setup["job"])] == [scheduled.id]

    def test_a_job_given_by_uri_works_too(self, setup, sign):
        created = post(
            sign(setup["workers"][0]),
            f"{API}/run/",
            status=201,
            job=f"{API}/job/{setup['job'].id}/",
        )

        assert created.json["job"] == f"{API}/job/{setup['job'].id}/"

    @pytest.mark.parametrize("job", [None, "abc", 999999, f"{API}/project/1/"])
    def test_a_bad_job_is_refused(self, setup, sign, job, dbsession):
        post(sign(setup["workers"][0]), f"{API}/run/", status=400, job=job)

        assert dbsession.query(Run).count() == 0


class TestLogAppends:
    @pytest.fixture
    def started(self, setup, dbsession, sign):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        signer = sign(setup["workers"][0])
        now = utcnow()
        patch(signer, run.id, enqueue_dts=now, start_dts=now)
        return run, signer

    def append(self, signer, run_id, offset, content, status=202):
        return post(
            signer,
            f"{API}/run/{run_id}/log/",
            status=status,
            offset=offset,
            content=content,
        )

    def test_appends_at_the_right_offset_build_the_log(self, started, dbsession):
        run, signer = started

        first = self.append(signer, run.id, 0, "héllo\n")
        second = self.append(signer, run.id, first.json["length"], "world\n")

        assert first.json["length"] == len("héllo\n".encode())
        assert second.json["length"] == len("héllo\nworld\n".encode())
        log = signer.get(f"{API}/run_log/?run={run.id}").json["objects"][0]
        assert log["content"] == "héllo\nworld\n"

    def test_a_retried_append_is_refused_with_the_current_length(
        self, started, dbsession
    ):
        run, signer = started
        self.append(signer, run.id, 0, "once\n")

        retry = self.append(signer, run.id, 0, "once\n", status=416)

        assert retry.json["length"] == 5
        assert retry.headers["Content-Range"] == "bytes */5"
        dbsession.expire_all()
        assert dbsession.query(RunLog).one().content == "once\n"

    def test_a_gap_is_refused(self, started):
        run, signer = started

        self.append(signer, run.id, 10, "later\n", status=416)

    def test_the_log_keeps_head_and_tail_past_its_cap(
        self, started, dbsession, wsgi_app
    ):
        run, signer = started
        cap = wsgi_app.registry.settings["runs.log_max_bytes"]
        chunk = "x" * 1000 + "\n"
        offset = self.append(signer, run.id, 0, "FIRST LINE\n").json["length"]
        for _ in range(cap // len(chunk) + 50):
            offset = self.append(signer, run.id, offset, chunk).json["length"]
        self.append(signer, run.id, offset, "LAST LINE\n")

        dbsession.expire_all()
        stored = dbsession.query(RunLog).one()
        assert stored.content.startswith("FIRST LINE\n")
        assert stored.content.endswith("LAST LINE\n")
        assert LOG_TRUNCATION_MARKER in stored.content
        assert len(stored.content.encode()) <= cap
        total = offset + len("LAST LINE\n")
        assert stored.received_bytes == total
        kept = len(stored.content.encode()) - len(LOG_TRUNCATION_MARKER.encode())
        assert stored.omitted_bytes == total - kept

    def test_nul_characters_are_stored_safely(self, started, dbsession):
        run, signer = started

        self.append(signer, run.id, 0, "a\x00b")

        dbsession.expire_all()
        assert dbsession.query(RunLog).one().content == "a\ufffdb"

    def test_no_appends_after_the_run_returned(self, started):
        run, signer = started
        now = utcnow()
        patch(signer, run.id, return_dts=now, return_success=True)

        self.append(signer, run.id, 0, "late", status=409)


class TestKillRequests:
    def test_an_admin_asks_and_the_worker_reports(
        self, setup, dbsession, factory, sign
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)
        worker = sign(setup["workers"][0])
        patch(worker, run.id, enqueue_dts=utcnow())
        admin = sign(factory.admin_key())

        created = post(admin, f"{API}/kill_request/", status=201, run=run.id)
        pending = worker.get(f"{API}/kill_request/?execute_dts__isnull=true")
        done = worker.request(
            "PATCH",
            f"{API}/kill_request/{created.json['id']}/",
            f'{{"execute_dts": "{utcnow().isoformat()}"}}',
            status=202,
        )

        assert [k["id"] for k in pending.json["objects"]] == [created.json["id"]]
        assert done.json["execute_dts"] is not None

    def test_a_worker_cannot_ask_for_a_kill(self, setup, dbsession, sign):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        post(sign(setup["workers"][0]), f"{API}/kill_request/", status=403, run=run.id)

    def test_a_run_that_is_not_active_cannot_be_killed(
        self, setup, dbsession, factory, sign
    ):
        (run,) = schedule_first_run(dbsession, setup["job"], utcnow() - EARLIER)

        post(sign(factory.admin_key()), f"{API}/kill_request/", status=409, run=run.id)

        assert dbsession.query(KillRequest).count() == 0


class TestHeartbeat:
    def test_a_worker_reports_itself_alive(self, setup, sign):
        worker = setup["workers"][0]
        now = utcnow().replace(microsecond=0)

        response = sign(worker).request(
            "PATCH",
            f"{API}/worker/{worker.id}/",
            f'{{"ping_response_dts": "{now.isoformat()}", "worker_version": "1.2",'
            ' "concurrent_jobs": 3}',
            status=202,
        )

        assert response.json["ping_response_dts"] >= now.isoformat()
        assert response.json["worker_version"] == "1.2"
        assert response.json["concurrent_jobs"] == 3
        assert "secret" not in response.json

    def test_a_worker_cannot_speak_for_another(self, setup, sign):
        first, second = setup["workers"]

        sign(first).request(
            "PATCH", f"{API}/worker/{second.id}/", '{"worker_version": "x"}', status=403
        )

    def test_unknown_fields_are_refused(self, setup, sign):
        worker = setup["workers"][0]

        response = sign(worker).request(
            "PATCH", f"{API}/worker/{worker.id}/", '{"secret": "x"}', status=400
        )

        assert response.json["errors"][0]["name"] == "secret"
