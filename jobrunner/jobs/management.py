"""Creating, changing and deleting projects, templates, jobs and excludes.

These are the operations behind the management API and ``jobrunner-admin
apply``. They check what a schema cannot (related objects exist, a job's pool
belongs to its project, a chain does not loop, a schedule is valid, titles are
unique) and keep a job's pending run consistent with its schedule, raising
:class:`DomainError` when they refuse.
"""

import functools
import zoneinfo

from croniter import croniter
from sqlalchemy import delete, func, select

from jobrunner.accounts.models import Group
from jobrunner.exceptions import DomainError
from jobrunner.jobs import operations, scheduling
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    Project,
    RescheduleExclude,
    Run,
)
from jobrunner.jobs.operations import Lifecycle
from jobrunner.records import assign, ensure_unique, related, related_list
from jobrunner.workers.models import WorkerPool


SCHEDULE_FIELDS = (
    "reschedule_interval",
    "reschedule_interval_type",
    "reschedule_type",
    "cron_expression",
    "timezone",
    "schedule_anchor_dts",
)


# -- shared checks -------------------------------------------------------------


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA zone names a job may use.

    Asking ZoneInfo itself is not enough: it opens any file under the zone
    folder, so a region folder ("Europe") fails with an OS error, and
    helper files ("posixrules") pass. "localtime" means the server's own zone,
    which is no fixed zone at all.
    """
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}


def _count(lc: Lifecycle, *conditions, model=Run) -> int:
    return lc.dbsession.scalar(
        select(func.count()).select_from(model).where(*conditions)
    )


# -- projects -------------------------------------------------------------------


def save_project(lc: Lifecycle, project: Project, values: dict) -> Project:
    assign(
        project,
        values,
        ("title", "description", "notification_addresses", "enqueue_is_enabled"),
    )
    ensure_unique(lc, project, "title", Project.title == project.title)
    if "worker_pools" in values:
        pools = related_list(lc, WorkerPool, values["worker_pools"], "worker_pools")
        if project.id is not None:
            in_use = lc.dbsession.scalars(
                select(Job.worker_pool_id)
                .join(JobTemplate, JobTemplate.id == Job.job_template_id)
                .where(JobTemplate.project_id == project.id)
            ).all()
            dropped = set(in_use) - {p.id for p in pools}
            if dropped:
                raise DomainError(
                    "conflict",
                    "worker_pools",
                    f"Jobs of this project use worker pool {min(dropped)}; "
                    "move them first.",
                )
        project.worker_pools = pools
    if "viewer_groups" in values:
        project.viewer_groups = related_list(
            lc, Group, values["viewer_groups"], "viewer_groups"
        )
    if "enqueue_is_enabled" in values and project.enqueue_is_enabled:
        _schedule_all(
            lc,
            Job.job_template_id.in_(
                select(JobTemplate.id).where(JobTemplate.project_id == project.id)
            ),
        )
    return project


def create_project(lc: Lifecycle, values: dict) -> Project:
    project = Project()
    lc.dbsession.add(project)
    return save_project(lc, project, values)


def delete_project(lc: Lifecycle, project: Project) -> None:
    if _count(lc, JobTemplate.project_id == project.id, model=JobTemplate):
        raise DomainError(
            "conflict", "id", "The project has job templates; delete them first."
        )
    lc.dbsession.delete(project)


# -- templates -------------------------------------------------------------------


def save_job_template(
    lc: Lifecycle, template: JobTemplate, values: dict
) -> JobTemplate:
    if "project" in values:
        project = related(lc, Project, values["project"], "project")
        if template.id is not None and project.id != template.project_id:
            allowed = {p.id for p in project.worker_pools}
            if any(job.worker_pool_id not in allowed for job in template.jobs):
                raise DomainError(
                    "invalid",
                    "project",
                    "The template's jobs use worker pools that project does not.",
                )
        template.project = project
    assign(
        template,
        values,
        (
            "title",
            "description",
            "body",
            "notification_addresses",
            "enqueue_is_enabled",
        ),
    )
    if "body" in values and not operations.has_placeholder(template.body):
        raise DomainError(
            "invalid",
            "body",
            "The body needs {{ content }} where each job's own part goes.",
        )
    ensure_unique(
        lc,
        template,
        "title",
        JobTemplate.title == template.title,
        JobTemplate.project_id == template.project.id,
    )
    if "body" in values and template.id is not None:
        for job in template.jobs:
            job.script_content = operations.render_script(
                template.body, job.script_content_partial
            )
    if "enqueue_is_enabled" in values and template.enqueue_is_enabled and template.id:
        _schedule_all(lc, Job.job_template_id == template.id)
    return template


def create_job_template(lc: Lifecycle, values: dict) -> JobTemplate:
    template = JobTemplate()
    lc.dbsession.add(template)
    return save_job_template(lc, template, values)


def delete_job_template(lc: Lifecycle, template: JobTemplate) -> None:
    if _count(lc, Job.job_template_id == template.id, model=Job):
        raise DomainError("conflict", "id", "The template has jobs; delete them first.")
    lc.dbsession.delete(template)


# -- jobs -------------------------------------------------------------------------


def _check_schedule(job: Job) -> None:
    """Refuse a schedule that cannot work, naming the field at fault."""
    if job.reschedule_interval is not None and job.cron_expression is not None:
        raise DomainError(
            "invalid",
            "cron_expression",
            "Give an interval or a cron expression, not both.",
        )
    if (job.reschedule_interval is None) != (job.reschedule_interval_type is None):
        name = (
            "reschedule_interval_type"
            if job.reschedule_interval
            else ("reschedule_interval")
        )
        raise DomainError(
            "invalid", name, "An interval needs both reschedule_interval and its type."
        )
    if job.timezone not in time_zones():
        raise DomainError(
            "invalid", "timezone", f"{job.timezone!r} is not an IANA time zone."
        )
    if job.cron_expression is not None and not croniter.is_valid(job.cron_expression):
        raise DomainError(
            "invalid",
            "cron_expression",
            f"{job.cron_expression!r} is not a cron expression.",
        )
    try:
        scheduling.validate_schedule(operations.schedule_of(job))
    except scheduling.ScheduleError as error:
        name = "cron_expression" if job.cron_expression else "reschedule_interval"
        raise DomainError("invalid", name, str(error)) from None


def _check_chain(lc: Lifecycle, job: Job, parent: Job | None) -> None:
    seen = set()
    current = parent
    while current is not None:
        if current.id == job.id or current is job:
            raise DomainError("invalid", "parent", "The chain of parents would loop.")
        if current.id in seen:
            break
        seen.add(current.id)
        current = current.parent


def save_job(lc: Lifecycle, job: Job, values: dict) -> Job:
    """Apply values to a job and keep its pending run in step with them."""
    is_new = job.id is None
    was_enabled = bool(job.enqueue_is_enabled)
    old_schedule = {name: getattr(job, name) for name in SCHEDULE_FIELDS}
    old_slots = (job.worker_pool_id, bool(job.run_on_all_workers))

    if "job_template" in values:
        job.job_template = related(
            lc, JobTemplate, values["job_template"], "job_template"
        )
    if "worker_pool" in values:
        job.worker_pool = related(lc, WorkerPool, values["worker_pool"], "worker_pool")
    if "parent" in values:
        parent = None
        if values["parent"] is not None:
            parent = related(lc, Job, values["parent"], "parent")
        _check_chain(lc, job, parent)
        job.parent = parent
    assign(
        job,
        values,
        (
            "title",
            "description",
            "script_content_partial",
            "enqueue_is_enabled",
            "run_on_all_workers",
            "schedule_children_on_error",
            "notification_addresses",
            "disable_enqueue_after_fails",
            *SCHEDULE_FIELDS,
        ),
    )
    if job.reschedule_type is None:
        job.reschedule_type = "AFTER_SCHEDULE_DTS"
    if job.timezone is None:
        job.timezone = "UTC"

    project = job.job_template.project
    if job.parent is not None and job.parent.job_template.project_id != project.id:
        raise DomainError(
            "invalid", "parent", "The parent job belongs to another project."
        )
    if job.id is not None and any(
        child.job_template.project_id != project.id for child in job.children
    ):
        raise DomainError(
            "invalid",
            "job_template",
            "Jobs of this project have this job as their parent; "
            "it cannot move to another project.",
        )
    project_pools = {p.id for p in project.worker_pools}
    if job.worker_pool.id not in project_pools:
        raise DomainError(
            "invalid",
            "worker_pool",
            "The worker pool is not one of the pools of the template's project.",
        )
    ensure_unique(
        lc,
        job,
        "title",
        Job.title == job.title,
        Job.job_template_id == job.job_template.id,
    )
    _check_schedule(job)
    job.script_content = operations.render_script(
        job.job_template.body, job.script_content_partial or ""
    )
    lc.dbsession.flush()

    schedule_changed = any(getattr(job, n) != old_schedule[n] for n in SCHEDULE_FIELDS)
    if is_new or (job.enqueue_is_enabled and not was_enabled):
        operations.ensure_scheduled(lc, job)
    elif schedule_changed:
        reschedule(lc, job, keep_anchor="schedule_anchor_dts" in values)
    elif old_slots != (job.worker_pool_id, bool(job.run_on_all_workers)) and (
        old_slots[1] or job.run_on_all_workers
    ):
        # The pending runs were made for the workers of the old pool or the
        # old setting; nobody else may claim them.
        operations.replace_pending_runs(lc, job)
    return job


def reschedule(lc: Lifecycle, job: Job, keep_anchor: bool = True) -> None:
    """Replace the job's unclaimed scheduled run after its schedule changed.

    A run that is already claimed goes on; its return schedules the next one.
    Without an anchor of its own, the new schedule counts from the job's
    latest scheduled run, so a changed interval does not fire at once.
    """
    lc.dbsession.execute(
        delete(Run).where(
            Run.job_id == job.id,
            Run.is_manual.is_(False),
            Run.enqueue_dts.is_(None),
            Run.return_dts.is_(None),
        )
    )
    if not keep_anchor:
        job.schedule_anchor_dts = lc.dbsession.scalar(
            select(func.max(Run.schedule_dts)).where(
                Run.job_id == job.id, Run.is_manual.is_(False)
            )
        )
    operations.ensure_scheduled(lc, job)


def _schedule_all(lc: Lifecycle, condition) -> None:
    """Give every enabled job matching ``condition`` a run if it has none."""
    for job in lc.dbsession.scalars(
        select(Job).where(condition, Job.enqueue_is_enabled.is_(True))
    ):
        operations.ensure_scheduled(lc, job)


def create_job(lc: Lifecycle, values: dict) -> Job:
    job = Job(fail_times=0)
    lc.dbsession.add(job)
    return save_job(lc, job, values)


def delete_job(lc: Lifecycle, job: Job) -> None:
    if job.children:
        raise DomainError(
            "conflict",
            "id",
            "Other jobs have this job as their parent; change them first.",
        )
    if _count(
        lc, Run.job_id == job.id, Run.enqueue_dts.isnot(None), Run.return_dts.is_(None)
    ):
        raise DomainError(
            "conflict",
            "id",
            "The job has runs in progress; wait for them or kill them.",
        )
    lc.dbsession.execute(delete(Run).where(Run.job_id == job.id))
    lc.dbsession.execute(
        delete(RescheduleExclude).where(RescheduleExclude.job_id == job.id)
    )
    lc.dbsession.expire(job, ["reschedule_excludes"])
    lc.dbsession.delete(job)


# -- exclude windows --------------------------------------------------------------


def save_exclude(
    lc: Lifecycle, exclude: RescheduleExclude, values: dict
) -> RescheduleExclude:
    old_job = exclude.job
    if "job" in values:
        exclude.job = related(lc, Job, values["job"], "job")
    assign(exclude, values, ("start_time", "end_time", "note"))
    if exclude.start_time == exclude.end_time:
        raise DomainError(
            "invalid",
            "end_time",
            "An exclude window ends after it starts; give a different end_time.",
        )
    lc.dbsession.flush()
    for job in {old_job, exclude.job} - {None}:
        lc.dbsession.expire(job, ["reschedule_excludes"])
        reschedule(lc, job)
    return exclude


def create_exclude(lc: Lifecycle, values: dict) -> RescheduleExclude:
    exclude = RescheduleExclude()
    lc.dbsession.add(exclude)
    return save_exclude(lc, exclude, values)


def delete_exclude(lc: Lifecycle, exclude: RescheduleExclude) -> None:
    job = exclude.job
    lc.dbsession.delete(exclude)
    lc.dbsession.flush()
    lc.dbsession.expire(job, ["reschedule_excludes"])
    reschedule(lc, job)
