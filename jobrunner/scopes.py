"""Which rows a caller may see.

* an admin key and a superuser see everything;
* a worker sees what belongs to the worker pools it is in: the pools, their
  workers, the projects that use them, those projects' templates, the jobs
  assigned to the pools and those jobs' runs, logs and kill requests;
* a dashboard user sees the projects his groups may view and everything under
  them, and the pools (and workers) those projects use.

Each function narrows a ``select`` so the database does the filtering; an
object outside the scope is simply not found (404), as if it did not exist.
"""

from sqlalchemy import or_, select

from jobrunner.accounts.models import Group, User
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    KillRequest,
    Project,
    RescheduleExclude,
    Run,
    RunLog,
    project_viewer_group,
    project_worker_pool,
)
from jobrunner.security import Identity
from jobrunner.workers.models import Worker, WorkerPool, worker_pool_worker


def sees_everything(identity: Identity) -> bool:
    return identity.kind == "admin" or getattr(identity, "is_superuser", False)


def visible_project_ids(identity: Identity):
    """A subquery of the ids of the projects ``identity`` may see."""
    if identity.kind == "worker":
        return select(project_worker_pool.c.project_id).where(
            project_worker_pool.c.worker_pool_id.in_(identity.pool_ids)
        )
    return select(project_viewer_group.c.project_id).where(
        project_viewer_group.c.group_id.in_(identity.group_ids)
    )


def visible_pool_ids(identity: Identity):
    if identity.kind == "worker":
        return list(identity.pool_ids)
    return select(project_worker_pool.c.worker_pool_id).where(
        project_worker_pool.c.project_id.in_(visible_project_ids(identity))
    )


def visible_job_ids(identity: Identity):
    if identity.kind == "worker":
        return select(Job.id).where(Job.worker_pool_id.in_(identity.pool_ids))
    return (
        select(Job.id)
        .join(JobTemplate, JobTemplate.id == Job.job_template_id)
        .where(JobTemplate.project_id.in_(visible_project_ids(identity)))
    )


def project(query, identity):
    if sees_everything(identity):
        return query
    return query.where(Project.id.in_(visible_project_ids(identity)))


def worker_pool(query, identity):
    if sees_everything(identity):
        return query
    return query.where(WorkerPool.id.in_(visible_pool_ids(identity)))


def worker(query, identity):
    if sees_everything(identity):
        return query
    members = select(worker_pool_worker.c.worker_id).where(
        worker_pool_worker.c.worker_pool_id.in_(visible_pool_ids(identity))
    )
    if identity.kind == "worker":
        # A worker always sees itself, even in no pool: that is how it finds
        # its own id (``worker/?api_key=...``).
        return query.where(or_(Worker.id == identity.worker_id, Worker.id.in_(members)))
    return query.where(Worker.id.in_(members))


def job_template(query, identity):
    if sees_everything(identity):
        return query
    return query.where(JobTemplate.project_id.in_(visible_project_ids(identity)))


def job(query, identity):
    if sees_everything(identity):
        return query
    return query.where(Job.id.in_(visible_job_ids(identity)))


def reschedule_exclude(query, identity):
    if sees_everything(identity):
        return query
    return query.where(RescheduleExclude.job_id.in_(visible_job_ids(identity)))


def run(query, identity):
    if sees_everything(identity):
        return query
    return query.where(Run.job_id.in_(visible_job_ids(identity)))


def run_log(query, identity):
    if sees_everything(identity):
        return query
    return query.join(Run, Run.id == RunLog.run_id).where(
        Run.job_id.in_(visible_job_ids(identity))
    )


def kill_request(query, identity):
    if sees_everything(identity):
        return query
    return query.join(Run, Run.id == KillRequest.run_id).where(
        Run.job_id.in_(visible_job_ids(identity))
    )


def user(query, identity):
    """Users: everyone for admin keys and superusers, else only oneself."""
    if sees_everything(identity):
        return query
    if identity.kind != "user":
        return query.where(False)
    return query.where(User.id == identity.user_id)


def group(query, identity):
    """Groups: everything for admin keys and superusers, else one's own groups."""
    if sees_everything(identity):
        return query
    if identity.kind != "user":
        return query.where(False)
    return query.where(Group.id.in_(identity.group_ids))
