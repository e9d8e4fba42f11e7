"""Who sees what: workers, users, superusers and admin keys on every resource.

``Factory.world()`` builds two sides, a and b, each with its own group, pool,
worker, project, template, job, run, log, exclude, kill request and user. A
worker of pool a and a user of group a see side a only; a superuser and an
admin key see both. Whatever is out of scope answers 404 as if it did not
exist, and is absent from every list.
"""

import pytest

from tests.conftest import Signer
from tests.factories import RESOURCES, WORLD_KEYS


API = "/api/job_runner/v1"
# The sides each caller sees.
CALLERS = {
    "worker-a": "a",
    "user-a": "a",
    "superuser": "ab",
    "admin-key": "ab",
}


class Caller:
    """Read the API as one kind of caller, the way that caller really would."""

    def __init__(self, testapp, world, kind, login):
        self.testapp = testapp
        self.signer = None
        if kind == "worker-a":
            worker = world["a"]["worker"]
            self.signer = Signer(testapp, worker.api_key, worker.secret)
        elif kind == "admin-key":
            key = world["admin"]
            self.signer = Signer(testapp, key.api_key, key.secret)
        else:
            username = "root" if kind == "superuser" else "user-a"
            testapp.set_cookie("jobrunner_auth", login(username))

    def get(self, path, status=None):
        if self.signer is not None:
            return self.signer.get(path, status=status)
        return self.testapp.get(path, status=status)


def not_found(name, object_id):
    return {
        "status": "error",
        "errors": [
            {
                "location": "url",
                "name": "id",
                "description": f"No {name} with id {object_id}.",
            }
        ],
    }


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("name", RESOURCES)
class TestMatrix:
    @pytest.mark.parametrize("side", ["a", "b"])
    def test_detail_is_found_only_in_scope(
        self, shared_world, shared_testapp, shared_login, caller, name, side
    ):
        obj = shared_world[side][WORLD_KEYS[name]]
        reader = Caller(shared_testapp, shared_world, caller, shared_login)
        visible = side in CALLERS[caller]

        response = reader.get(f"{API}/{name}/{obj.id}/", status=200 if visible else 404)

        if visible:
            assert response.json["id"] == obj.id
        else:
            assert response.json == not_found(name, obj.id)

    def test_list_holds_only_what_is_in_scope(
        self, shared_world, shared_testapp, shared_login, caller, name
    ):
        reader = Caller(shared_testapp, shared_world, caller, shared_login)
        expected = sorted(
            shared_world[side][WORLD_KEYS[name]].id for side in CALLERS[caller]
        )

        response = reader.get(f"{API}/{name}/")

        assert [o["id"] for o in response.json["objects"]] == expected
        assert response.json["meta"]["total_count"] == len(expected)

    def test_filtering_by_id_does_not_reach_out_of_scope(
        self, shared_world, shared_testapp, shared_login, caller, name
    ):
        reader = Caller(shared_testapp, shared_world, caller, shared_login)
        other = shared_world["b"][WORLD_KEYS[name]]

        response = reader.get(f"{API}/{name}/?id={other.id}")

        expected = [other.id] if "b" in CALLERS[caller] else []
        assert [o["id"] for o in response.json["objects"]] == expected


class TestProjectFilters:
    @pytest.mark.parametrize("caller", ["worker-a", "user-a"])
    @pytest.mark.parametrize("name", ["job", "run"])
    def test_project_id_of_another_side_finds_nothing(
        self, shared_world, shared_testapp, shared_login, caller, name
    ):
        reader = Caller(shared_testapp, shared_world, caller, shared_login)
        project = shared_world["b"]["project"]

        response = reader.get(f"{API}/{name}/?project_id={project.id}")

        assert response.json["objects"] == []
        assert response.json["meta"]["total_count"] == 0

    @pytest.mark.parametrize("caller", ["worker-a", "user-a"])
    def test_a_related_filter_does_not_reach_another_side(
        self, shared_world, shared_testapp, shared_login, caller
    ):
        reader = Caller(shared_testapp, shared_world, caller, shared_login)
        job = shared_world["b"]["job"]

        response = reader.get(f"{API}/run/?job={job.id}")

        assert response.json["objects"] == []


def visible_ids(caller_get, name):
    return [o["id"] for o in caller_get(f"{API}/{name}/").json["objects"]]


class TestEdges:
    def test_a_user_without_groups_sees_nothing(self, factory, testapp, login):
        world = factory.world()
        factory.user(username="loner")
        login("loner")

        for name in RESOURCES:
            assert visible_ids(testapp.get, name) == []
        project = world["a"]["project"]
        testapp.get(f"{API}/project/{project.id}/", status=404)

    def test_a_worker_without_pools_sees_only_itself(self, factory, sign):
        world = factory.world()
        worker = factory.worker(pools=[])
        idle = sign(worker)

        for name in RESOURCES:
            expected = [worker.id] if name == "worker" else []
            assert visible_ids(idle.get, name) == expected
        idle.get(f"{API}/run/{world['a']['run'].id}/", status=404)

    def test_a_user_in_both_groups_sees_both_sides(self, factory, testapp, login):
        world = factory.world()
        factory.user(username="both", groups=[world["a"]["group"], world["b"]["group"]])
        login("both")

        projects = visible_ids(testapp.get, "project")

        assert projects == [world["a"]["project"].id, world["b"]["project"].id]

    def test_a_worker_in_both_pools_sees_both_sides(self, factory, sign):
        world = factory.world()
        both = sign(factory.worker(pools=[world["a"]["pool"], world["b"]["pool"]]))

        runs = visible_ids(both.get, "run")

        assert runs == [world["a"]["run"].id, world["b"]["run"].id]

    def test_a_worker_sees_only_its_pools_jobs_in_a_shared_project(self, factory, sign):
        pool_a, pool_b = factory.pool(), factory.pool()
        project = factory.project(pools=[pool_a, pool_b])
        template = factory.template(project)
        job_a = factory.job(template, pool_a)
        job_b = factory.job(template, pool_b)
        run_b = factory.run(job_b, "completed_successful")
        worker = sign(factory.worker(pools=[pool_a]))

        jobs = visible_ids(worker.get, "job")
        projects = visible_ids(worker.get, "project")

        assert jobs == [job_a.id]
        assert projects == [project.id]
        worker.get(f"{API}/job/{job_b.id}/", status=404)
        worker.get(f"{API}/run/{run_b.id}/", status=404)

    def test_a_user_sees_every_job_of_a_project_of_his_group(
        self, factory, testapp, login
    ):
        group = factory.group()
        pool_a, pool_b = factory.pool(), factory.pool()
        project = factory.project(pools=[pool_a, pool_b], groups=[group])
        template = factory.template(project)
        jobs = [factory.job(template, pool_a), factory.job(template, pool_b)]
        factory.user(username="viewer", groups=[group])
        login("viewer")

        visible = visible_ids(testapp.get, "job")
        pools = visible_ids(testapp.get, "worker_pool")

        assert visible == [job.id for job in jobs]
        assert pools == [pool_a.id, pool_b.id]

    def test_a_superuser_who_is_not_active_sees_nothing(self, factory, testapp):
        factory.world()
        factory.user(username="old-root", is_superuser=True, is_active=False)
        form = testapp.get("/login").forms[0]
        form["username"] = "old-root"
        form["password"] = "secret-password"

        form.submit(status=400)

        testapp.get(f"{API}/project/", status=401)
