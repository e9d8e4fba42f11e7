"""Build model objects for tests with sensible defaults; every call commits."""

import datetime
import functools
import itertools

import bcrypt

from jobrunner.accounts.models import AdminKey, Group, User
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    KillRequest,
    Project,
    RescheduleExclude,
    Run,
    RunLog,
)
from jobrunner.workers.models import Worker, WorkerPool


UTC = datetime.UTC
T0 = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

# Every resource of the read API, with the key of its object in each side of
# Factory.world().
WORLD_KEYS = {
    "project": "project",
    "worker_pool": "pool",
    "worker": "worker",
    "job_template": "template",
    "job": "job",
    "reschedule_exclude": "exclude",
    "run": "run",
    "run_log": "run_log",
    "kill_request": "kill_request",
}
RESOURCES = list(WORLD_KEYS)


@functools.cache
def password_hash(password: str) -> str:
    """Hash ``password`` once, at bcrypt's lowest cost, so logins in tests are fast.

    The stored hash names its own cost, so the application checks it exactly
    as it checks a production hash.
    """
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


class Factory:
    """One method per model; keyword arguments override the defaults."""

    def __init__(self, dbsession):
        self.dbsession = dbsession
        self.counter = itertools.count(1)

    def _save(self, obj):
        self.dbsession.add(obj)
        self.dbsession.commit()
        return obj

    def group(self, **kw):
        return self._save(Group(**{"name": f"group-{next(self.counter)}", **kw}))

    def user(self, password="secret-password", **kw):
        kw.setdefault("username", f"user-{next(self.counter)}")
        kw.setdefault("is_active", True)
        kw.setdefault("is_superuser", False)
        return self._save(User(password_hash=password_hash(password), **kw))

    def admin_key(self, **kw):
        n = next(self.counter)
        values = {
            "title": f"admin {n}",
            "api_key": f"admin-key-{n}",
            "secret": f"admin-secret-{n}",
            "is_active": True,
        }
        return self._save(AdminKey(**{**values, **kw}))

    def pool(self, **kw):
        return self._save(WorkerPool(**{"title": f"pool-{next(self.counter)}", **kw}))

    def worker(self, pools=(), **kw):
        n = next(self.counter)
        values = {
            "title": f"worker {n}",
            "api_key": f"worker-key-{n}",
            "secret": f"worker-secret-{n}",
        }
        return self._save(Worker(pools=list(pools), **{**values, **kw}))

    def project(self, pools=(), groups=(), **kw):
        return self._save(
            Project(
                worker_pools=list(pools),
                viewer_groups=list(groups),
                **{"title": f"project-{next(self.counter)}", **kw},
            )
        )

    def template(self, project, **kw):
        values = {
            "title": f"template-{next(self.counter)}",
            "body": "#!/bin/sh\n{{ content }}\n",
        }
        return self._save(JobTemplate(project=project, **{**values, **kw}))

    def job(self, template, pool, **kw):
        kw.setdefault("title", f"job-{next(self.counter)}")
        kw.setdefault("script_content_partial", "echo hello")
        kw.setdefault(
            "script_content",
            template.body.replace("{{ content }}", kw["script_content_partial"]),
        )
        return self._save(Job(job_template=template, worker_pool=pool, **kw))

    def exclude(self, job, **kw):
        values = {"start_time": datetime.time(1, 0), "end_time": datetime.time(2, 0)}
        return self._save(RescheduleExclude(job=job, **{**values, **kw}))

    def run(self, job, state="scheduled", worker=None, **kw):
        """A run in one of the six states, with times that make sense for it."""
        times = {"schedule_dts": T0}
        if state != "scheduled":
            times["enqueue_dts"] = T0 + datetime.timedelta(seconds=1)
        if state in ("started", "completed_successful", "completed_with_errors"):
            times["start_dts"] = T0 + datetime.timedelta(seconds=2)
        if state.startswith("completed"):
            times["return_dts"] = T0 + datetime.timedelta(seconds=30)
            times["return_success"] = state == "completed_successful"
        return self._save(Run(job=job, worker=worker, **{**times, **kw}))

    def run_log(self, run, content="output\n"):
        return self._save(RunLog(run=run, content=content))

    def kill_request(self, run, **kw):
        return self._save(KillRequest(run=run, **{"schedule_dts": T0, **kw}))

    def world(self):
        """Two projects with separate groups, pools, workers, jobs and runs."""
        world = {}
        for side in ("a", "b"):
            group = self.group(name=f"group-{side}")
            pool = self.pool(title=f"pool-{side}")
            worker = self.worker(
                pools=[pool], api_key=f"key-{side}", secret=f"secret-{side}"
            )
            project = self.project(
                pools=[pool], groups=[group], title=f"project-{side}"
            )
            template = self.template(project, title=f"template-{side}")
            job = self.job(template, pool, title=f"job-{side}")
            run = self.run(job, "completed_successful", worker=worker)
            world[side] = {
                "group": group,
                "pool": pool,
                "worker": worker,
                "project": project,
                "template": template,
                "job": job,
                "run": run,
                "run_log": self.run_log(run),
                "exclude": self.exclude(job),
                "kill_request": self.kill_request(run),
                "user": self.user(username=f"user-{side}", groups=[group]),
            }
        world["admin"] = self.admin_key(api_key="admin-key", secret="admin-secret")
        world["superuser"] = self.user(username="root", is_superuser=True)
        return world
