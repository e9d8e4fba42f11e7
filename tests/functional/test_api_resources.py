"""Every resource's list, detail and schema, and how objects are rendered."""

import datetime

import pytest

from tests.conftest import Signer
from tests.factories import RESOURCES, WORLD_KEYS


API = "/api/job_runner/v1"
UTC = datetime.UTC
T0 = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def uri(name, obj):
    return f"{API}/{name}/{obj.id}/"


@pytest.fixture
def world(shared_world):
    return shared_world


@pytest.fixture
def admin(shared_world, shared_testapp):
    key = shared_world["admin"]
    return Signer(shared_testapp, key.api_key, key.secret)


class TestRoot:
    def test_lists_every_resource_with_its_list_and_schema_urls(self, admin):
        response = admin.get(f"{API}/")

        assert set(RESOURCES) <= set(response.json)
        assert response.json == {
            name: {"list_endpoint": f"{API}/{name}/", "schema": f"{API}/{name}/schema/"}
            for name in response.json
        }

    def test_every_listed_url_answers(self, admin):
        listing = admin.get(f"{API}/").json

        for urls in listing.values():
            assert admin.get(urls["list_endpoint"]).status_int == 200
            assert admin.get(urls["schema"]).status_int == 200


@pytest.mark.parametrize("name", RESOURCES)
class TestEveryResource:
    def test_list_is_the_tastypie_envelope(self, admin, world, name):
        response = admin.get(f"{API}/{name}/")

        assert response.content_type == "application/json"
        assert response.json["meta"] == {
            "limit": 20,
            "offset": 0,
            "total_count": 2,
            "next": None,
            "previous": None,
        }
        assert [o["id"] for o in response.json["objects"]] == sorted(
            world[side][WORLD_KEYS[name]].id for side in "ab"
        )

    def test_every_object_has_id_and_its_resource_uri(self, admin, name):
        objects = admin.get(f"{API}/{name}/").json["objects"]

        for obj in objects:
            assert obj["resource_uri"] == f"{API}/{name}/{obj['id']}/"

    def test_detail_renders_the_object_as_the_list_does(self, admin, world, name):
        obj = world["b"][WORLD_KEYS[name]]
        listed = admin.get(f"{API}/{name}/").json["objects"]

        detail = admin.get(f"{API}/{name}/{obj.id}/")

        assert detail.json == next(o for o in listed if o["id"] == obj.id)

    def test_detail_is_reached_through_its_resource_uri(self, admin, name):
        listed = admin.get(f"{API}/{name}/").json["objects"][0]

        detail = admin.get(listed["resource_uri"])

        assert detail.json["id"] == listed["id"]

    def test_schema_describes_exactly_the_rendered_fields(self, admin, name):
        rendered = admin.get(f"{API}/{name}/").json["objects"][0]

        schema = admin.get(f"{API}/{name}/schema/").json

        assert set(schema["fields"]) == set(rendered)
        for description in schema["fields"].values():
            assert set(description) >= {
                "type",
                "help_text",
                "nullable",
                "readonly",
                "unique",
            }
            assert description["help_text"]

    def test_schema_names_methods_limits_filters_and_ordering(self, admin, name):
        schema = admin.get(f"{API}/{name}/schema/").json

        assert "get" in schema["allowed_list_http_methods"]
        assert "get" in schema["allowed_detail_http_methods"]
        assert schema["default_limit"] == 20
        assert schema["max_limit"] == 1000
        assert schema["filtering"]["id"] == ["exact"]
        assert "id" in schema["ordering"]
        assert schema["fields"]["id"]["primary_key"] is True
        assert schema["fields"]["resource_uri"]["readonly"] is True

    def test_relations_are_described_with_their_resource(self, admin, name):
        fields = admin.get(f"{API}/{name}/schema/").json["fields"]
        listed = admin.get(f"{API}/").json

        for description in fields.values():
            if description["type"] in ("related", "to_many"):
                assert description["related_resource"] in listed
            else:
                assert "related_resource" not in description

    def test_rendered_relations_point_at_their_resource(self, admin, name):
        fields = admin.get(f"{API}/{name}/schema/").json["fields"]
        obj = admin.get(f"{API}/{name}/").json["objects"][0]

        for field, description in fields.items():
            related = description.get("related_resource")
            if description["type"] == "related" and obj[field] is not None:
                assert obj[field].startswith(f"{API}/{related}/")
                assert admin.get(obj[field]).status_int == 200
            if description["type"] == "to_many":
                assert obj[field]
                assert all(u.startswith(f"{API}/{related}/") for u in obj[field])

    def test_rendered_datetimes_are_iso_8601_in_utc(self, admin, name):
        fields = admin.get(f"{API}/{name}/schema/").json["fields"]
        objects = admin.get(f"{API}/{name}/").json["objects"]

        for obj in objects:
            for field, description in fields.items():
                if description["type"] == "datetime" and obj[field] is not None:
                    parsed = datetime.datetime.fromisoformat(obj[field])
                    assert parsed.utcoffset() == datetime.timedelta(0)
                    assert obj[field].endswith("+00:00")


class TestRendering:
    def test_a_project_with_its_pools_and_viewer_groups(self, factory, sign):
        pools = [factory.pool(title="p1"), factory.pool(title="p2")]
        groups = [factory.group(), factory.group()]
        project = factory.project(
            pools=pools,
            groups=groups,
            title="Billing",
            description="Invoices",
            notification_addresses=["ops@example.com", "dev@example.com"],
            enqueue_is_enabled=False,
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/project/{project.id}/")

        assert response.json == {
            "id": project.id,
            "title": "Billing",
            "description": "Invoices",
            "notification_addresses": ["ops@example.com", "dev@example.com"],
            "enqueue_is_enabled": False,
            "worker_pools": [uri("worker_pool", p) for p in pools],
            "viewer_groups": [uri("group", g) for g in groups],
            "resource_uri": uri("project", project),
        }

    def test_a_worker_pool_with_its_workers(self, factory, sign):
        pool = factory.pool(
            title="batch", description="Night", notification_addresses=["a@b.c"]
        )
        workers = [factory.worker(pools=[pool]), factory.worker(pools=[pool])]
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/worker_pool/{pool.id}/")

        assert response.json == {
            "id": pool.id,
            "title": "batch",
            "description": "Night",
            "notification_addresses": ["a@b.c"],
            "enqueue_is_enabled": True,
            "workers": [uri("worker", w) for w in workers],
            "resource_uri": uri("worker_pool", pool),
        }

    def test_a_worker_without_its_secret(self, factory, sign):
        pools = [factory.pool(), factory.pool()]
        worker = factory.worker(
            pools=pools,
            title="host-1",
            description="rack 4",
            api_key="public-key",
            secret="never-shown",
            ping_response_dts=datetime.datetime(
                2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC
            ),
            worker_version="3.1",
            concurrent_jobs=8,
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/worker/{worker.id}/")

        assert response.json == {
            "id": worker.id,
            "title": "host-1",
            "description": "rack 4",
            "api_key": "public-key",
            "enqueue_is_enabled": True,
            "ping_response_dts": "2024-03-01T12:00:00.250000+00:00",
            "worker_version": "3.1",
            "concurrent_jobs": 8,
            "worker_pools": [uri("worker_pool", p) for p in pools],
            "resource_uri": uri("worker", worker),
        }

    def test_a_job_template(self, factory, sign):
        project = factory.project()
        template = factory.template(
            project,
            title="bash",
            description="Plain shell",
            body="#!/bin/bash\n{{ content }}\n",
            notification_addresses=["x@y.z"],
            enqueue_is_enabled=False,
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/job_template/{template.id}/")

        assert response.json == {
            "id": template.id,
            "project": uri("project", project),
            "title": "bash",
            "description": "Plain shell",
            "body": "#!/bin/bash\n{{ content }}\n",
            "notification_addresses": ["x@y.z"],
            "enqueue_is_enabled": False,
            "resource_uri": uri("job_template", template),
        }

    def test_a_job_with_an_interval_schedule_and_a_parent(self, factory, sign):
        pool = factory.pool()
        template = factory.template(
            factory.project(pools=[pool]), body="A\n{{ content }}"
        )
        parent = factory.job(template, pool)
        job = factory.job(
            template,
            pool,
            parent=parent,
            title="nightly",
            description="Backs up",
            script_content_partial="backup --all",
            reschedule_interval=2,
            reschedule_interval_type="HOUR",
            reschedule_type="AFTER_COMPLETE_DTS",
            schedule_anchor_dts=datetime.datetime(
                2024, 1, 1, 13, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
            ),
            run_on_all_workers=True,
            schedule_children_on_error=True,
            notification_addresses=["n@example.com"],
            fail_times=2,
            disable_enqueue_after_fails=5,
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/job/{job.id}/")

        assert response.json == {
            "id": job.id,
            "job_template": uri("job_template", template),
            "worker_pool": uri("worker_pool", pool),
            "parent": uri("job", parent),
            "title": "nightly",
            "description": "Backs up",
            "script_content_partial": "backup --all",
            "script_content": "A\nbackup --all",
            "script_content_rendered": "A\nbackup --all",
            "enqueue_is_enabled": True,
            "reschedule_interval": 2,
            "reschedule_interval_type": "HOUR",
            "reschedule_type": "AFTER_COMPLETE_DTS",
            "cron_expression": None,
            "timezone": "UTC",
            "schedule_anchor_dts": "2024-01-01T12:00:00+00:00",
            "run_on_all_workers": True,
            "schedule_children_on_error": True,
            "notification_addresses": ["n@example.com"],
            "fail_times": 2,
            "disable_enqueue_after_fails": 5,
            "resource_uri": uri("job", job),
        }

    def test_a_job_with_a_cron_schedule_and_no_parent(self, factory, sign):
        pool = factory.pool()
        template = factory.template(factory.project(pools=[pool]))
        job = factory.job(
            template, pool, cron_expression="0 3 * * 1-5", timezone="Europe/Amsterdam"
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/job/{job.id}/")

        assert response.json["parent"] is None
        assert response.json["cron_expression"] == "0 3 * * 1-5"
        assert response.json["timezone"] == "Europe/Amsterdam"
        assert response.json["reschedule_interval"] is None
        assert response.json["schedule_anchor_dts"] is None

    def test_a_reschedule_exclude_with_local_times_of_day(self, factory, sign):
        pool = factory.pool()
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        exclude = factory.exclude(
            job,
            start_time=datetime.time(22, 30),
            end_time=datetime.time(23, 59, 59),
            note="backups",
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/reschedule_exclude/{exclude.id}/")

        assert response.json == {
            "id": exclude.id,
            "job": uri("job", job),
            "start_time": "22:30:00",
            "end_time": "23:59:59",
            "note": "backups",
            "resource_uri": uri("reschedule_exclude", exclude),
        }

    def test_a_completed_run_in_utc_whatever_zone_it_was_stored_in(self, factory, sign):
        pool = factory.pool()
        worker = factory.worker(pools=[pool])
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        plus_two = datetime.timezone(datetime.timedelta(hours=2))
        run = factory.run(
            job,
            "completed_with_errors",
            worker=worker,
            schedule_id="5f0c6b1e-0000-4000-8000-000000000001",
            schedule_dts=datetime.datetime(2024, 6, 1, 14, 0, tzinfo=plus_two),
            pid=4242,
            is_manual=True,
            schedule_children=False,
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/run/{run.id}/")

        assert response.json == {
            "id": run.id,
            "job": uri("job", job),
            "worker": uri("worker", worker),
            "schedule_id": "5f0c6b1e-0000-4000-8000-000000000001",
            "schedule_dts": "2024-06-01T12:00:00+00:00",
            "enqueue_dts": "2024-01-01T12:00:01+00:00",
            "start_dts": "2024-01-01T12:00:02+00:00",
            "return_dts": "2024-01-01T12:00:30+00:00",
            "return_success": False,
            "pid": 4242,
            "is_manual": True,
            "schedule_children": False,
            "state": "completed_with_errors",
            "resource_uri": uri("run", run),
        }

    def test_a_scheduled_run_has_null_times_and_no_worker(self, factory, sign):
        pool = factory.pool()
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        run = factory.run(job, "scheduled")
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/run/{run.id}/")

        assert response.json["worker"] is None
        assert response.json["enqueue_dts"] is None
        assert response.json["start_dts"] is None
        assert response.json["return_dts"] is None
        assert response.json["return_success"] is None
        assert response.json["state"] == "scheduled"

    def test_a_run_log(self, factory, sign):
        pool = factory.pool()
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        run = factory.run(job, "completed_successful")
        log = factory.run_log(run, content="line 1\nline 2 \u2713\n")
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/run_log/{log.id}/")

        assert response.json["run"] == uri("run", run)
        assert response.json["content"] == "line 1\nline 2 \u2713\n"
        assert response.json["resource_uri"] == uri("run_log", log)

    def test_a_kill_request(self, factory, sign):
        pool = factory.pool()
        job = factory.job(factory.template(factory.project(pools=[pool])), pool)
        run = factory.run(job, "started")
        kill = factory.kill_request(
            run,
            enqueue_dts=T0 + datetime.timedelta(minutes=1),
            execute_dts=T0 + datetime.timedelta(minutes=2),
        )
        admin = sign(factory.admin_key())

        response = admin.get(f"{API}/kill_request/{kill.id}/")

        assert response.json == {
            "id": kill.id,
            "run": uri("run", run),
            "schedule_dts": "2024-01-01T12:00:00+00:00",
            "enqueue_dts": "2024-01-01T12:01:00+00:00",
            "execute_dts": "2024-01-01T12:02:00+00:00",
            "resource_uri": uri("kill_request", kill),
        }


class TestSchemas:
    def test_run_schema_offers_the_state_and_project_filters(self, admin):
        filtering = admin.get(f"{API}/run/schema/").json["filtering"]

        assert set(filtering) >= {"state", "project_id"}
        for state in ("scheduled", "completed_with_errors", "last_completed"):
            assert state in filtering["state"]["help_text"]
        assert filtering["schedule_dts"] == ["exact", "lt", "lte", "gt", "gte"]
        assert filtering["return_dts"] == ["exact", "lt", "lte", "gt", "gte", "isnull"]

    def test_run_schema_orders_by_its_times(self, admin):
        schema = admin.get(f"{API}/run/schema/").json

        assert set(schema["ordering"]) >= {
            "id",
            "schedule_dts",
            "enqueue_dts",
            "start_dts",
            "return_dts",
        }
        assert schema["default_ordering"] == ["schedule_dts"]

    def test_job_schema_marks_computed_fields_read_only(self, admin):
        fields = admin.get(f"{API}/job/schema/").json["fields"]

        assert fields["script_content"]["readonly"] is True
        assert fields["script_content_rendered"]["readonly"] is True
        assert fields["fail_times"]["readonly"] is True
        assert fields["script_content_partial"]["readonly"] is False
        assert fields["parent"]["nullable"] is True
        assert fields["parent"]["related_resource"] == "job"

    def test_job_schema_offers_the_project_filter(self, admin):
        filtering = admin.get(f"{API}/job/schema/").json["filtering"]

        assert "project_id" in filtering

    def test_worker_schema_has_no_secret(self, admin):
        fields = admin.get(f"{API}/worker/schema/").json["fields"]

        assert "secret" not in fields
        assert fields["api_key"]["unique"] is True


class TestSecrets:
    def test_no_response_contains_a_secret_or_a_password_hash(self, world, admin):
        secrets = [world[s]["worker"].secret for s in "ab"] + [world["admin"].secret]
        hashes = [world[s]["user"].password_hash for s in "ab"]
        urls = [f"{API}/"]
        for name, endpoints in admin.get(f"{API}/").json.items():
            objects = admin.get(endpoints["list_endpoint"]).json["objects"]
            assert objects, name
            urls += [endpoints["list_endpoint"], endpoints["schema"]]
            urls += [obj["resource_uri"] for obj in objects]

        bodies = [admin.get(url).text for url in urls]

        for body in bodies:
            assert not any(secret in body for secret in secrets + hashes)
            assert '"secret"' not in body
            assert '"password' not in body
            assert "$2b$" not in body

    def test_a_worker_reading_itself_does_not_see_its_secret(
        self, world, shared_testapp
    ):
        worker = world["a"]["worker"]
        signer = Signer(shared_testapp, worker.api_key, worker.secret)

        response = signer.get(f"{API}/worker/{worker.id}/")

        assert "secret" not in response.json
        assert worker.secret not in response.text
