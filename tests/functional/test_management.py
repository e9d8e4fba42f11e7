"""The management API: admin keys create, change and delete everything."""

import datetime
import json

import pytest

from jobrunner.db import utcnow
from jobrunner.jobs.models import Job, JobTemplate, Project, Run
from jobrunner.workers.models import Worker
from tests.functional.lifecycle_helpers import pending_runs


API = "/api/job_runner/v1"


@pytest.fixture
def admin(factory, sign):
    return sign(factory.admin_key())


def send(signer, method, path, body=None, status=None, headers=None):
    data = json.dumps(body) if body is not None else b""
    return signer.request(method, path, data, status=status, headers=headers or {})


@pytest.fixture
def base(factory):
    pool = factory.pool(title="default")
    other_pool = factory.pool(title="other")
    project = factory.project(pools=[pool], title="ops")
    template = factory.template(
        project, title="shell", body="#!/bin/sh\n{{ content }}\n"
    )
    return {
        "pool": pool,
        "other_pool": other_pool,
        "project": project,
        "template": template,
    }


def job_body(base, **overrides):
    body = {
        "job_template": f"{API}/job_template/{base['template'].id}/",
        "worker_pool": base["pool"].id,
        "title": "backup",
        "script_content_partial": "echo backup",
        "reschedule_interval": 1,
        "reschedule_interval_type": "HOUR",
    }
    return {**body, **overrides}


def create_parent_and_child(admin, base) -> dict:
    """A job and a child job that runs after it; return the parent."""
    parent = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
    send(
        admin,
        "POST",
        f"{API}/job/",
        job_body(base, title="child", parent=parent["id"]),
        201,
    )
    return parent


class TestCreate:
    def test_a_new_team_goes_from_nothing_to_a_scheduled_job(self, admin, dbsession):
        pool = send(admin, "POST", f"{API}/worker_pool/", {"title": "batch"}, 201)
        worker = send(
            admin,
            "POST",
            f"{API}/worker/",
            {"title": "host-1", "worker_pools": [pool.json["id"]]},
            201,
        )
        project = send(
            admin,
            "POST",
            f"{API}/project/",
            {"title": "data", "worker_pools": [pool.json["resource_uri"]]},
            201,
        )
        template = send(
            admin,
            "POST",
            f"{API}/job_template/",
            {
                "project": project.json["id"],
                "title": "sh",
                "body": "set -e\n{{ content }}",
            },
            201,
        )
        job = send(
            admin,
            "POST",
            f"{API}/job/",
            {
                "job_template": template.json["id"],
                "worker_pool": pool.json["id"],
                "title": "nightly",
                "script_content_partial": "make export",
                "cron_expression": "0 2 * * *",
                "timezone": "Europe/Amsterdam",
            },
            201,
        )

        assert job.headers["Location"].endswith(f"/job/{job.json['id']}/")
        assert job.headers["ETag"] == '"1"'
        assert job.json["script_content"] == "set -e\nmake export"
        assert "secret" in worker.json
        (run,) = pending_runs(dbsession, dbsession.get(Job, job.json["id"]))
        local = run.schedule_dts.astimezone(datetime.timezone(datetime.timedelta(0)))
        assert run.schedule_dts > utcnow()
        assert local.minute == 0

    def test_the_worker_secret_is_shown_once_and_works(self, admin, testapp, sign):
        created = send(admin, "POST", f"{API}/worker/", {"title": "w"}, 201).json

        shown_again = send(admin, "GET", f"{API}/worker/{created['id']}/").json
        worker = type(
            "Credential",
            (),
            {"api_key": created["api_key"], "secret": created["secret"]},
        )

        assert "secret" not in shown_again
        sign(worker).get(f"{API}/worker/{created['id']}/", status=200)

    def test_rotating_a_secret_invalidates_the_old_one(self, admin, factory, sign):
        worker = factory.worker()
        old = type(
            "Credential", (), {"api_key": worker.api_key, "secret": worker.secret}
        )

        rotated = send(
            admin, "POST", f"{API}/worker/{worker.id}/rotate_secret/", status=200
        ).json
        new = type(
            "Credential", (), {"api_key": worker.api_key, "secret": rotated["secret"]}
        )

        sign(old).get(f"{API}/worker/", status=401)
        sign(new).get(f"{API}/worker/", status=200)

    def test_a_users_password_is_set_but_never_shown(self, admin, login):
        created = send(
            admin,
            "POST",
            f"{API}/user/",
            {"username": "carol", "password": "long enough"},
            201,
        ).json

        assert "password" not in created
        assert "password_hash" not in created
        login("carol", "long enough")

    def test_groups_and_viewer_groups(self, admin, base, dbsession):
        group = send(admin, "POST", f"{API}/group/", {"name": "data-team"}, 201).json

        project = send(
            admin,
            "PATCH",
            f"{API}/project/{base['project'].id}/",
            {"viewer_groups": [group["resource_uri"]]},
            200,
        ).json

        assert project["viewer_groups"] == [group["resource_uri"]]


class TestValidation:
    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("project", {}, "title"),
            ("project", {"title": ""}, "title"),
            ("project", {"title": "x" * 256}, "title"),
            (
                "project",
                {"title": "ok", "notification_addresses": ["nope"]},
                "notification_addresses.0",
            ),
            ("project", {"title": "ok", "worker_pools": [99999]}, "worker_pools"),
            ("project", {"title": "ok", "colour": "red"}, "colour"),
            ("project", {"title": 5}, "title"),
            (
                "worker_pool",
                {"title": "ok", "enqueue_is_enabled": "maybe"},
                "enqueue_is_enabled",
            ),
            ("worker", {"title": "ok", "concurrent_jobs": 0}, "concurrent_jobs"),
            ("worker", {"title": "ok", "api_key": "mine"}, "api_key"),
            ("job_template", {"title": "t"}, "project"),
            ("job_template", {"title": "t", "project": 424242}, "project"),
            ("user", {"username": "u"}, "password"),
            ("user", {"username": "u", "password": "short"}, "password"),
            ("group", {"name": ""}, "name"),
        ],
    )
    def test_invalid_bodies_are_refused_naming_the_field(
        self, admin, base, dbsession, path, body, field
    ):
        before = dbsession.query(Project).count()

        response = send(admin, "POST", f"{API}/{path}/", body, 400)

        assert field in [e["name"] for e in response.json["errors"]]
        assert dbsession.query(Project).count() == before

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"worker_pool": "OTHER"}, "worker_pool"),
            ({"cron_expression": "0 2 * * *"}, "cron_expression"),
            ({"reschedule_interval": 0}, "reschedule_interval"),
            ({"reschedule_interval_type": None}, "reschedule_interval_type"),
            ({"reschedule_interval_type": "WEEK"}, "reschedule_interval_type"),
            (
                {
                    "reschedule_interval": None,
                    "reschedule_interval_type": None,
                    "cron_expression": "61 * * * *",
                },
                "cron_expression",
            ),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": "America"}, "timezone"),
            ({"timezone": "Europe"}, "timezone"),
            ({"timezone": "Etc"}, "timezone"),
            ({"timezone": "posixrules"}, "timezone"),
            ({"timezone": "../zoneinfo/UTC"}, "timezone"),
            ({"reschedule_type": "SOMETIMES"}, "reschedule_type"),
            ({"title": ""}, "title"),
            ({"parent": 999999}, "parent"),
            ({"disable_enqueue_after_fails": 0}, "disable_enqueue_after_fails"),
            ({"schedule_anchor_dts": "soon"}, "schedule_anchor_dts"),
        ],
    )
    def test_invalid_jobs_are_refused(self, admin, base, dbsession, overrides, field):
        if overrides.get("worker_pool") == "OTHER":
            overrides["worker_pool"] = base["other_pool"].id

        response = send(admin, "POST", f"{API}/job/", job_body(base, **overrides), 400)

        assert field in [e["name"] for e in response.json["errors"]]
        assert dbsession.query(Job).count() == 0
        assert dbsession.query(Run).count() == 0

    def test_a_time_zone_folder_is_refused_on_change_too(self, admin, base):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json

        response = send(
            admin, "PATCH", f"{API}/job/{job['id']}/", {"timezone": "Europe"}, 400
        )

        assert [e["name"] for e in response.json["errors"]] == ["timezone"]

    def test_titles_are_unique_where_the_model_says_so(self, admin, base):
        send(admin, "POST", f"{API}/job/", job_body(base), 201)

        again = send(admin, "POST", f"{API}/job/", job_body(base), 400)
        project = send(admin, "POST", f"{API}/project/", {"title": "ops"}, 400)

        assert again.json["errors"][0]["name"] == "title"
        assert project.json["errors"][0]["name"] == "title"

    def test_a_chain_may_not_loop(self, admin, base):
        first = send(admin, "POST", f"{API}/job/", job_body(base, title="a"), 201).json
        second = send(
            admin,
            "POST",
            f"{API}/job/",
            job_body(base, title="b", parent=first["id"]),
            201,
        ).json

        looped = send(
            admin, "PATCH", f"{API}/job/{first['id']}/", {"parent": second["id"]}, 400
        )
        itself = send(
            admin, "PATCH", f"{API}/job/{first['id']}/", {"parent": first["id"]}, 400
        )

        assert looped.json["errors"][0]["name"] == "parent"
        assert itself.json["errors"][0]["name"] == "parent"

    @pytest.mark.parametrize("value", ["25:00", "10", "ten", 1000, None])
    def test_exclude_windows_need_valid_times(self, admin, base, value):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json

        response = send(
            admin,
            "POST",
            f"{API}/reschedule_exclude/",
            {"job": job["id"], "start_time": value, "end_time": "02:00"},
            400,
        )

        assert response.json["errors"][0]["name"] == "start_time"

    @pytest.mark.parametrize("method", ["POST", "PATCH"])
    def test_an_exclude_window_may_not_be_empty(self, admin, base, method):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
        window = {"job": job["id"], "start_time": "10:00", "end_time": "11:00"}
        path = f"{API}/reschedule_exclude/"
        if method == "PATCH":
            path += f"{send(admin, 'POST', path, window, 201).json['id']}/"

        response = send(
            admin, method, path, {**window, "end_time": "10:00"}, status=400
        )

        assert [e["name"] for e in response.json["errors"]] == ["end_time"]

    @pytest.mark.parametrize("method", ["POST", "PATCH"])
    def test_a_template_body_needs_the_placeholder(self, admin, base, method):
        path = f"{API}/job_template/"
        if method == "PATCH":
            path += f"{base['template'].id}/"

        response = send(
            admin,
            method,
            path,
            {"project": base["project"].id, "title": "np", "body": "echo hi"},
            status=400,
        )

        assert [e["name"] for e in response.json["errors"]] == ["body"]

    def test_a_parent_must_be_in_the_same_project(self, admin, base, factory):
        other_project = factory.project(pools=[base["pool"]])
        other_template = factory.template(other_project)
        stranger = factory.job(other_template, base["pool"])
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json

        created = send(
            admin,
            "POST",
            f"{API}/job/",
            job_body(base, title="child", parent=stranger.id),
            400,
        )
        changed = send(
            admin, "PATCH", f"{API}/job/{job['id']}/", {"parent": stranger.id}, 400
        )

        assert [e["name"] for e in created.json["errors"]] == ["parent"]
        assert [e["name"] for e in changed.json["errors"]] == ["parent"]

    def test_a_parent_cannot_move_away_from_its_children(self, admin, base, factory):
        other_template = factory.template(factory.project(pools=[base["pool"]]))
        parent = create_parent_and_child(admin, base)

        moved = send(
            admin,
            "PATCH",
            f"{API}/job/{parent['id']}/",
            {"job_template": other_template.id},
            400,
        )

        assert [e["name"] for e in moved.json["errors"]] == ["job_template"]


class TestChanges:
    def test_put_replaces_and_patch_updates(self, admin, base):
        url = f"{API}/project/{base['project'].id}/"
        patched = send(admin, "PATCH", url, {"description": "ours"}, 200).json
        replaced = send(
            admin, "PUT", url, {"title": "ops", "worker_pools": [base["pool"].id]}, 200
        ).json

        assert patched["description"] == "ours"
        assert replaced["description"] == ""
        assert replaced["title"] == "ops"

    def test_changing_a_template_body_re_renders_its_jobs(self, admin, base):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json

        send(
            admin,
            "PATCH",
            f"{API}/job_template/{base['template'].id}/",
            {"body": "#!/bin/bash\n{{ content }}\nexit 0"},
            200,
        )

        shown = send(admin, "GET", f"{API}/job/{job['id']}/").json
        assert shown["script_content"] == "#!/bin/bash\necho backup\nexit 0"
        assert shown["script_content_rendered"] == shown["script_content"]

    def test_changing_a_schedule_moves_the_pending_run(self, admin, base, dbsession):
        job = send(
            admin,
            "POST",
            f"{API}/job/",
            job_body(
                base,
                reschedule_interval=None,
                reschedule_interval_type=None,
                cron_expression="0 3 * * *",
            ),
            201,
        ).json
        model = dbsession.get(Job, job["id"])
        (before,) = pending_runs(dbsession, model)
        before_time = (before.schedule_dts.hour, before.schedule_dts.minute)

        send(
            admin,
            "PATCH",
            f"{API}/job/{job['id']}/",
            {"cron_expression": "30 4 * * *"},
            200,
        )

        (after,) = pending_runs(dbsession, model)
        assert before_time == (3, 0)
        assert (after.schedule_dts.hour, after.schedule_dts.minute) == (4, 30)

    def test_an_exclude_window_moves_the_pending_run(self, admin, base, dbsession):
        job = send(
            admin,
            "POST",
            f"{API}/job/",
            job_body(
                base,
                reschedule_interval=None,
                reschedule_interval_type=None,
                cron_expression="0 * * * *",
            ),
            201,
        ).json
        model = dbsession.get(Job, job["id"])
        (before,) = pending_runs(dbsession, model)
        hour = before.schedule_dts.hour
        dbsession.expunge(before)

        send(
            admin,
            "POST",
            f"{API}/reschedule_exclude/",
            {
                "job": job["id"],
                "start_time": f"{hour:02d}:00",
                "end_time": f"{(hour + 1) % 24:02d}:30",
            },
            201,
        )

        (after,) = pending_runs(dbsession, model)
        assert after.schedule_dts.hour == (hour + 2) % 24

    def test_re_enabling_a_job_without_a_run_schedules_one(
        self, admin, base, dbsession
    ):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
        dbsession.query(Run).delete()
        dbsession.query(Job).update({"enqueue_is_enabled": False})
        dbsession.commit()

        send(
            admin, "PATCH", f"{API}/job/{job['id']}/", {"enqueue_is_enabled": True}, 200
        )

        assert len(pending_runs(dbsession, dbsession.get(Job, job["id"]))) == 1

    def test_if_match_guards_against_lost_updates(self, admin, base):
        url = f"{API}/project/{base['project'].id}/"
        etag = send(admin, "GET", url).headers["ETag"]
        send(
            admin,
            "PATCH",
            url,
            {"description": "first"},
            200,
            headers={"If-Match": etag},
        )

        late = send(
            admin,
            "PATCH",
            url,
            {"description": "second"},
            412,
            headers={"If-Match": etag},
        )
        gone = send(admin, "DELETE", url, None, 412, headers={"If-Match": etag})

        assert late.json["errors"][0]["name"] == "If-Match"
        assert gone.status_code == 412
        assert send(admin, "GET", url).json["description"] == "first"

    def test_a_put_with_a_stale_if_match_changes_nothing(self, admin, base):
        url = f"{API}/project/{base['project'].id}/"
        etag = send(admin, "GET", url).headers["ETag"]
        send(admin, "PATCH", url, {"description": "first"}, 200)

        late = send(
            admin,
            "PUT",
            url,
            {"title": "ops", "description": "second"},
            412,
            headers={"If-Match": etag},
        )

        assert late.json["errors"][0]["name"] == "If-Match"
        assert send(admin, "GET", url).json["description"] == "first"

    @pytest.mark.parametrize(
        ("resource", "field"),
        [
            ("project", "viewer_groups"),
            ("project", "worker_pools"),
            ("user", "groups"),
            ("worker", "worker_pools"),
        ],
    )
    def test_changing_only_a_relation_gives_a_new_version(
        self, admin, base, factory, resource, field
    ):
        group = factory.group()
        objects = {
            "project": base["project"],
            "user": factory.user(),
            "worker": factory.worker(pools=[base["pool"]]),
        }
        values = {
            "viewer_groups": [group.id],
            "groups": [group.id],
            # The project keeps its pool, which its jobs may use, and gains one.
            "worker_pools": [base["pool"].id, base["other_pool"].id],
        }
        url = f"{API}/{resource}/{objects[resource].id}/"
        etag = send(admin, "GET", url).headers["ETag"]

        changed = send(
            admin, "PATCH", url, {field: values[field]}, 200, headers={"If-Match": etag}
        )
        late = send(admin, "PATCH", url, {field: []}, 412, headers={"If-Match": etag})
        same = send(admin, "PATCH", url, {field: values[field]}, 200)

        assert changed.headers["ETag"] != etag
        assert late.json["errors"][0]["name"] == "If-Match"
        assert len(send(admin, "GET", url).json[field]) == len(values[field])
        assert same.headers["ETag"] == changed.headers["ETag"]


class TestSendingBackWhatWasRead:
    @pytest.fixture
    def urls(self, admin, base, factory):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
        exclude = send(
            admin,
            "POST",
            f"{API}/reschedule_exclude/",
            {"job": job["id"], "start_time": "01:00", "end_time": "02:00"},
            201,
        ).json
        return {
            "job": job["resource_uri"],
            "project": f"{API}/project/{base['project'].id}/",
            "job_template": f"{API}/job_template/{base['template'].id}/",
            "worker_pool": f"{API}/worker_pool/{base['pool'].id}/",
            "worker": f"{API}/worker/{factory.worker(pools=[base['pool']]).id}/",
            "reschedule_exclude": exclude["resource_uri"],
            "group": f"{API}/group/{factory.group().id}/",
        }

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize(
        "resource",
        [
            "job",
            "project",
            "job_template",
            "worker_pool",
            "worker",
            "reschedule_exclude",
            "group",
        ],
    )
    def test_the_body_of_a_get_is_taken_back_unchanged(
        self, admin, urls, resource, method
    ):
        read = send(admin, "GET", urls[resource])

        written = send(admin, method, urls[resource], read.json, 200)

        assert written.json == read.json

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("id", 4242),
            ("resource_uri", f"{API}/job/4242/"),
            ("fail_times", 3),
            ("script_content", "rm -rf /"),
        ],
    )
    def test_a_read_only_field_with_another_value_is_refused(
        self, admin, urls, field, value
    ):
        read = send(admin, "GET", urls["job"]).json

        response = send(admin, "PATCH", urls["job"], {**read, field: value}, 400)

        assert [e["name"] for e in response.json["errors"]] == [field]
        assert "read-only" in response.json["errors"][0]["description"]
        assert send(admin, "GET", urls["job"]).json == read

    def test_an_unknown_field_is_still_refused(self, admin, urls):
        read = send(admin, "GET", urls["job"]).json

        response = send(admin, "PUT", urls["job"], {**read, "colour": "red"}, 400)

        assert [e["name"] for e in response.json["errors"]] == ["colour"]


class TestDelete:
    def test_deleting_answers_204_and_the_object_is_gone(self, admin, factory):
        pool = factory.pool()

        response = send(admin, "DELETE", f"{API}/worker_pool/{pool.id}/", None, 204)

        assert response.body == b""
        send(admin, "GET", f"{API}/worker_pool/{pool.id}/", None, 404)

    def test_a_template_with_jobs_cannot_be_deleted(self, admin, base, dbsession):
        send(admin, "POST", f"{API}/job/", job_body(base), 201)

        response = send(
            admin, "DELETE", f"{API}/job_template/{base['template'].id}/", None, 409
        )

        assert "jobs" in response.json["errors"][0]["description"]
        assert dbsession.query(JobTemplate).count() == 1

    def test_a_job_with_a_run_in_progress_cannot_be_deleted(
        self, admin, base, factory, dbsession
    ):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
        model = dbsession.get(Job, job["id"])
        factory.run(model, "started", is_manual=True)

        send(admin, "DELETE", f"{API}/job/{job['id']}/", None, 409)

    def test_a_job_and_its_history_are_deleted_together(
        self, admin, base, factory, dbsession
    ):
        job = send(admin, "POST", f"{API}/job/", job_body(base), 201).json
        run = factory.run(
            dbsession.get(Job, job["id"]), "completed_successful", is_manual=True
        )
        factory.run_log(run)

        send(admin, "DELETE", f"{API}/job/{job['id']}/", None, 204)

        assert dbsession.query(Run).count() == 0

    def test_a_worker_holding_runs_cannot_be_deleted(self, admin, base, factory):
        worker = factory.worker(pools=[base["pool"]])
        job = factory.job(base["template"], base["pool"])
        factory.run(job, "started", worker=worker)

        send(admin, "DELETE", f"{API}/worker/{worker.id}/", None, 409)

    def test_a_project_with_templates_cannot_be_deleted(self, admin, base, dbsession):
        url = f"{API}/project/{base['project'].id}/"

        response = send(admin, "DELETE", url, None, 409)

        assert "templates" in response.json["errors"][0]["description"]
        assert dbsession.query(Project).count() == 1

    def test_a_pool_that_jobs_use_cannot_be_deleted(self, admin, base, dbsession):
        send(admin, "POST", f"{API}/job/", job_body(base), 201)

        response = send(
            admin, "DELETE", f"{API}/worker_pool/{base['pool'].id}/", None, 409
        )

        assert "Jobs use this worker pool" in response.json["errors"][0]["description"]
        send(admin, "GET", f"{API}/worker_pool/{base['pool'].id}/", None, 200)

    def test_a_parent_job_cannot_be_deleted(self, admin, base, dbsession):
        parent = create_parent_and_child(admin, base)

        response = send(admin, "DELETE", f"{API}/job/{parent['id']}/", None, 409)

        assert "parent" in response.json["errors"][0]["description"]
        assert dbsession.query(Job).count() == 2

    def test_a_project_keeps_the_pools_its_jobs_use(self, admin, base, dbsession):
        send(admin, "POST", f"{API}/job/", job_body(base), 201)
        url = f"{API}/project/{base['project'].id}/"

        response = send(
            admin, "PATCH", url, {"worker_pools": [base["other_pool"].id]}, 409
        )

        assert response.json["errors"][0]["name"] == "worker_pools"
        pools = send(admin, "GET", url).json["worker_pools"]
        assert pools == [f"{API}/worker_pool/{base['pool'].id}/"]


class TestWhoMayManage:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "project/"),
            ("PATCH", "project/{project}/"),
            ("PUT", "project/{project}/"),
            ("DELETE", "project/{project}/"),
            ("POST", "job/"),
            ("DELETE", "job_template/{template}/"),
            ("POST", "user/"),
            ("POST", "worker/"),
            ("POST", "worker/{worker}/rotate_secret/"),
        ],
    )
    def test_a_worker_cannot_manage(self, base, factory, sign, dbsession, method, path):
        worker = factory.worker(pools=[base["pool"]])
        path = path.format(
            project=base["project"].id, template=base["template"].id, worker=worker.id
        )

        response = send(sign(worker), method, f"{API}/{path}", {"title": "x"}, "*")

        assert response.status_code in (403, 404)
        dbsession.expire_all()
        assert dbsession.get(Project, base["project"].id).title == "ops"
        assert dbsession.get(Worker, worker.id).secret == worker.secret

    def test_a_session_cannot_manage(self, base, factory, login, testapp, dbsession):
        factory.user(username="boss", is_superuser=True)
        login("boss")

        testapp.post_json(f"{API}/project/", {"title": "x"}, status=403)
        testapp.delete(f"{API}/project/{base['project'].id}/", status=403)

        assert dbsession.query(Project).count() == 1

    def test_a_heartbeat_leaves_the_version_an_admin_edits_against(
        self, base, factory, sign, dbsession
    ):
        admin = sign(factory.admin_key())
        worker = factory.worker(pools=[base["pool"]])
        url = f"{API}/worker/{worker.id}/"
        etag = send(admin, "GET", url).headers["ETag"]

        beat = send(sign(worker), "PATCH", url, {"concurrent_jobs": 7}, 202)
        changed = send(
            admin, "PATCH", url, {"title": "renamed"}, 200, headers={"If-Match": etag}
        )

        assert beat.headers.get("ETag") in (None, etag)
        assert changed.json["title"] == "renamed"
        assert changed.json["concurrent_jobs"] == 7
        assert changed.json["ping_response_dts"] is not None

    def test_a_worker_may_still_send_heartbeats(self, base, factory, sign):
        worker = factory.worker(pools=[base["pool"]])

        send(
            sign(worker),
            "PATCH",
            f"{API}/worker/{worker.id}/",
            {"worker_version": "2.0"},
            202,
        )
