"""API resources for projects, templates, jobs, excludes, runs, logs and kills."""

import colander
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from jobrunner import scopes
from jobrunner.api import types
from jobrunner.api.resource import Field, Filter, Resource, register
from jobrunner.api.writes import Writer, write_views
from jobrunner.jobs import management, runs, schemas, states
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    KillRequest,
    Project,
    RescheduleExclude,
    Run,
    RunLog,
)
from jobrunner.jobs.operations import dispatchable


def _project_id_node():
    return colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=0, max=types.MAX_ID)
    )


def _jobs_of_project(project_id):
    return (
        select(Job.id)
        .join(JobTemplate, JobTemplate.id == Job.job_template_id)
        .where(JobTemplate.project_id == project_id)
    )


def _notification_addresses():
    return Field(
        "notification_addresses",
        "list",
        "E-mail addresses told about failures.",
    )


def _enqueue_is_enabled(what: str):
    return Field(
        "enqueue_is_enabled",
        "boolean",
        f"Whether runs of this {what} are handed out to workers.",
        filter=True,
    )


project = Resource(
    name="project",
    model=Project,
    scope=scopes.project,
    description="A team's collection of job templates.",
    load_options=(
        selectinload(Project.worker_pools),
        selectinload(Project.viewer_groups),
    ),
    fields=[
        Field(
            "title",
            "string",
            "Name of the project.",
            unique=True,
            filter=True,
            order=True,
        ),
        Field("description", "string", "What the project is for."),
        _notification_addresses(),
        _enqueue_is_enabled("project"),
        Field(
            "worker_pools",
            "to_many",
            "The worker pools the project's jobs may use.",
            related="worker_pool",
        ),
        Field(
            "viewer_groups",
            "to_many",
            "The groups whose users see the project on the dashboard.",
            related="group",
        ),
    ],
)

job_template = Resource(
    name="job_template",
    model=JobTemplate,
    scope=scopes.job_template,
    description="A script body with a {{ content }} placeholder.",
    fields=[
        Field(
            "project",
            "related",
            "The project.",
            attribute="project_id",
            related="project",
            filter=True,
        ),
        Field(
            "title",
            "string",
            "Name, unique within the project.",
            filter=True,
            order=True,
        ),
        Field("description", "string", "What the template is for."),
        Field(
            "body", "string", "The script, with {{ content }} where a job's part goes."
        ),
        _notification_addresses(),
        _enqueue_is_enabled("template"),
    ],
)

job = Resource(
    name="job",
    model=Job,
    scope=scopes.job,
    description="A script with a schedule, run by the workers of one pool.",
    filters=[
        Filter(
            "project_id",
            _project_id_node,
            lambda query, value, identity: query.where(
                Job.id.in_(_jobs_of_project(value))
            ),
            "Only the jobs of this project id.",
        )
    ],
    fields=[
        Field(
            "job_template",
            "related",
            "The template the script is rendered with.",
            attribute="job_template_id",
            related="job_template",
            filter=True,
        ),
        Field(
            "worker_pool",
            "related",
            "The pool whose workers run the job.",
            attribute="worker_pool_id",
            related="worker_pool",
            filter=True,
        ),
        Field(
            "parent",
            "related",
            "The job whose run triggers this one (a chain).",
            attribute="parent_id",
            related="job",
            nullable=True,
            filter=True,
        ),
        Field(
            "title",
            "string",
            "Name, unique within the template.",
            filter=True,
            order=True,
        ),
        Field("description", "string", "What the job does."),
        Field("script_content_partial", "string", "The job's own part of the script."),
        Field(
            "script_content",
            "string",
            "The template rendered with the job's part.",
            readonly=True,
        ),
        Field(
            "script_content_rendered",
            "string",
            "The same as script_content, for clients that read this name.",
            attribute="script_content",
            readonly=True,
        ),
        _enqueue_is_enabled("job"),
        Field(
            "reschedule_interval",
            "integer",
            "Run every this many interval units.",
            nullable=True,
        ),
        Field(
            "reschedule_interval_type",
            "string",
            "MINUTE, HOUR, DAY or MONTH.",
            nullable=True,
        ),
        Field(
            "reschedule_type",
            "string",
            "AFTER_SCHEDULE_DTS (keep the phase) or AFTER_COMPLETE_DTS.",
        ),
        Field(
            "cron_expression",
            "string",
            "A cron expression, evaluated in the job's time zone.",
            nullable=True,
        ),
        Field("timezone", "string", "IANA time zone of the schedule."),
        Field(
            "schedule_anchor_dts",
            "datetime",
            "The instant an interval schedule counts from.",
            nullable=True,
        ),
        Field(
            "run_on_all_workers",
            "boolean",
            "Run on every worker of the pool instead of on one.",
        ),
        Field(
            "schedule_children_on_error",
            "boolean",
            "Also start the child jobs when a run fails.",
        ),
        _notification_addresses(),
        Field("fail_times", "integer", "Consecutive failed runs.", readonly=True),
        Field(
            "disable_enqueue_after_fails",
            "integer",
            "Disable the job after this many consecutive failures.",
            nullable=True,
        ),
    ],
)

reschedule_exclude = Resource(
    name="reschedule_exclude",
    model=RescheduleExclude,
    scope=scopes.reschedule_exclude,
    description="A local time-of-day window in which a job is not scheduled.",
    fields=[
        Field(
            "job", "related", "The job.", attribute="job_id", related="job", filter=True
        ),
        Field("start_time", "time", "Start of the window, local time of day."),
        Field("end_time", "time", "End of the window (exclusive)."),
        Field("note", "string", "Why the window exists."),
    ],
)


def _filter_state(query, value, identity):
    query = query.where(states.state_clause(value))
    if value == "scheduled" and identity.kind == "worker":
        # A worker polling for scheduled runs sees only those it may take, so
        # it never keeps trying a run meant for another worker or disabled.
        query = query.where(dispatchable(identity.worker_id, identity.pool_ids))
    return query


def _filter_run_project(query, value, identity):
    return query.where(Run.job_id.in_(_jobs_of_project(value)))


run = Resource(
    name="run",
    model=Run,
    scope=scopes.run,
    description="One execution of a job.",
    default_ordering=("schedule_dts",),
    filters=[
        Filter(
            "state",
            lambda: colander.SchemaNode(
                colander.String(), validator=colander.OneOf(states.FILTER_VALUES)
            ),
            _filter_state,
            "One of " + ", ".join(states.FILTER_VALUES) + ".",
        ),
        Filter(
            "project_id",
            _project_id_node,
            _filter_run_project,
            "Only the runs of this project id.",
        ),
    ],
    fields=[
        Field(
            "job", "related", "The job.", attribute="job_id", related="job", filter=True
        ),
        Field(
            "worker",
            "related",
            "The worker that claimed the run.",
            attribute="worker_id",
            related="worker",
            nullable=True,
            filter=True,
        ),
        Field(
            "schedule_id",
            "string",
            "Shared by the sibling runs of one schedule on all workers.",
            nullable=True,
            filter=True,
        ),
        Field(
            "schedule_dts", "datetime", "When the run is due.", filter=True, order=True
        ),
        Field(
            "enqueue_dts",
            "datetime",
            "When a worker claimed the run.",
            nullable=True,
            filter=True,
            order=True,
        ),
        Field(
            "start_dts",
            "datetime",
            "When the script started.",
            nullable=True,
            filter=True,
            order=True,
        ),
        Field(
            "return_dts",
            "datetime",
            "When the script returned.",
            nullable=True,
            filter=True,
            order=True,
        ),
        Field(
            "return_success",
            "boolean",
            "Whether the script exited with 0.",
            nullable=True,
            filter=True,
        ),
        Field("pid", "integer", "Process id on the worker.", nullable=True),
        Field(
            "is_manual",
            "boolean",
            "Started by hand rather than by the schedule.",
            filter=True,
        ),
        Field(
            "schedule_children",
            "boolean",
            "Whether the job's children run after this run.",
        ),
        Field(
            "state",
            "string",
            "One of " + ", ".join(states.STATES) + ".",
            readonly=True,
            getter=states.state_of,
        ),
    ],
)

run_log = Resource(
    name="run_log",
    model=RunLog,
    scope=scopes.run_log,
    description="The output of a run.",
    fields=[
        Field(
            "run", "related", "The run.", attribute="run_id", related="run", filter=True
        ),
        Field("content", "string", "Standard output and error, together."),
    ],
)

kill_request = Resource(
    name="kill_request",
    model=KillRequest,
    scope=scopes.kill_request,
    description="A request to kill an active run.",
    fields=[
        Field(
            "run",
            "related",
            "The run to kill.",
            attribute="run_id",
            related="run",
            filter=True,
        ),
        Field(
            "schedule_dts",
            "datetime",
            "When the kill was asked for.",
            filter=True,
            order=True,
        ),
        Field(
            "enqueue_dts",
            "datetime",
            "When the worker picked the request up.",
            nullable=True,
            filter=True,
        ),
        Field(
            "execute_dts",
            "datetime",
            "When the worker killed the run.",
            nullable=True,
            filter=True,
        ),
    ],
)

RESOURCES = (project, job_template, job, reschedule_exclude, run, run_log, kill_request)


WRITERS = {
    "project": Writer(
        schema=schemas.ProjectSchema(),
        create=management.create_project,
        update=management.save_project,
        delete=management.delete_project,
    ),
    "job_template": Writer(
        schema=schemas.JobTemplateSchema(),
        create=management.create_job_template,
        update=management.save_job_template,
        delete=management.delete_job_template,
    ),
    "job": Writer(
        schema=schemas.JobSchema(),
        create=management.create_job,
        update=management.save_job,
        delete=management.delete_job,
    ),
    "reschedule_exclude": Writer(
        schema=schemas.RescheduleExcludeSchema(),
        create=management.create_exclude,
        update=management.save_exclude,
        delete=management.delete_exclude,
    ),
}


def includeme(config):
    config.include(runs)
    for resource in RESOURCES:
        views = runs.extra_views(resource.name)
        if resource.name in WRITERS:
            views += write_views(resource, WRITERS[resource.name])
        register(config, resource, views)
