"""Colander schemas for what workers and admin keys send about runs.

Worker payloads reject unknown keys: a typo in a field name must not be
accepted and silently ignored.
"""

import math

import colander

from jobrunner.api.types import (
    MAX_ID,
    LocalTime,
    Nullable,
    RelatedId,
    RelatedIdList,
    StrictBoolean,
    StrictInt,
    StrictMappingSchema,
    StrictString,
    UnlessNone,
    UTCDateTime,
)


def _optional(typ, **kw):
    return colander.SchemaNode(typ, missing=colander.drop, **kw)


def finite(node, value):
    """Refuse NaN and the infinities, which a number range lets through."""
    if not math.isfinite(value):
        raise colander.Invalid(node, "Must be a finite number.")


def _nullable_datetime():
    # Sent as null by some clients for "not set"; a set time cannot be unset.
    return colander.SchemaNode(UTCDateTime(), missing=colander.drop)


class RunReportSchema(StrictMappingSchema):
    """A worker's report on a run: PATCH run/{id}/."""

    enqueue_dts = _nullable_datetime()
    start_dts = _nullable_datetime()
    return_dts = _nullable_datetime()
    return_success = _optional(StrictBoolean())
    pid = _optional(colander.Int(), validator=colander.Range(min=0, max=MAX_ID))
    return_log = _optional(colander.String(allow_empty=True))


class ManualRunSchema(StrictMappingSchema):
    """Start a job now: POST run/."""

    job = colander.SchemaNode(RelatedId("job"))
    schedule_children = _optional(StrictBoolean())


class ClaimSchema(StrictMappingSchema):
    """Claim due runs: POST run/claim/."""

    limit = colander.SchemaNode(
        colander.Int(), missing=1, validator=colander.Range(min=1, max=100)
    )
    wait = colander.SchemaNode(
        colander.Float(),
        missing=0.0,
        validator=colander.All(finite, colander.Range(min=0, max=30)),
    )


class LogAppendSchema(StrictMappingSchema):
    """Output of a running run: POST run/{id}/log/."""

    offset = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=0, max=2**62)
    )
    content = colander.SchemaNode(colander.String(allow_empty=True))


class KillRequestCreateSchema(StrictMappingSchema):
    """Ask for a run to be killed: POST kill_request/."""

    run = colander.SchemaNode(RelatedId("run"))


class KillRequestReportSchema(StrictMappingSchema):
    """A worker acting on a kill request: PATCH kill_request/{id}/."""

    enqueue_dts = _nullable_datetime()
    execute_dts = _nullable_datetime()


# -- managing projects, templates, jobs and excludes (admin keys) -------------

SCHEDULE_INTERVAL_TYPES = ("MINUTE", "HOUR", "DAY", "MONTH")
RESCHEDULE_TYPES = ("AFTER_SCHEDULE_DTS", "AFTER_COMPLETE_DTS")


def title_node(**kw):
    return colander.SchemaNode(
        StrictString(), validator=colander.Length(min=1, max=255), **kw
    )


def text_node(**kw):
    return colander.SchemaNode(
        StrictString(allow_empty=True),
        missing="",
        validator=colander.Length(max=100_000),
        **kw,
    )


def flag_node(default: bool, **kw):
    return colander.SchemaNode(StrictBoolean(), missing=default, **kw)


class EmailList(colander.SequenceSchema):
    """E-mail addresses to notify."""

    address = colander.SchemaNode(
        StrictString(),
        validator=colander.All(colander.Length(max=254), colander.Email()),
    )


def addresses_node(**kw):
    return EmailList(missing=[], validator=colander.Length(max=100), **kw)


def nullable_int(minimum: int, maximum: int, **kw):
    return colander.SchemaNode(
        Nullable(StrictInt()),
        missing=None,
        validator=UnlessNone(colander.Range(min=minimum, max=maximum)),
        **kw,
    )


class ProjectSchema(StrictMappingSchema):
    """A project: POST project/, PUT and PATCH project/{id}/."""

    title = title_node()
    description = text_node()
    notification_addresses = addresses_node()
    enqueue_is_enabled = flag_node(True)
    worker_pools = colander.SchemaNode(RelatedIdList("worker_pool"), missing=[])
    viewer_groups = colander.SchemaNode(RelatedIdList("group"), missing=[])


class JobTemplateSchema(StrictMappingSchema):
    """A job template."""

    project = colander.SchemaNode(RelatedId("project"))
    title = title_node()
    description = text_node()
    body = colander.SchemaNode(
        StrictString(allow_empty=True),
        missing="{{ content }}",
        validator=colander.Length(max=1_000_000),
    )
    notification_addresses = addresses_node()
    enqueue_is_enabled = flag_node(True)


class JobSchema(StrictMappingSchema):
    """A job and its schedule."""

    job_template = colander.SchemaNode(RelatedId("job_template"))
    worker_pool = colander.SchemaNode(RelatedId("worker_pool"))
    parent = colander.SchemaNode(Nullable(RelatedId("job")), missing=None)
    title = title_node()
    description = text_node()
    script_content_partial = colander.SchemaNode(
        StrictString(allow_empty=True),
        missing="",
        validator=colander.Length(max=1_000_000),
    )
    enqueue_is_enabled = flag_node(True)
    reschedule_interval = nullable_int(1, 1_000_000)
    reschedule_interval_type = colander.SchemaNode(
        Nullable(StrictString()),
        missing=None,
        validator=UnlessNone(colander.OneOf(SCHEDULE_INTERVAL_TYPES)),
    )
    reschedule_type = colander.SchemaNode(
        StrictString(),
        missing="AFTER_SCHEDULE_DTS",
        validator=colander.OneOf(RESCHEDULE_TYPES),
    )
    cron_expression = colander.SchemaNode(
        Nullable(StrictString()),
        missing=None,
        validator=UnlessNone(colander.Length(min=1, max=255)),
    )
    timezone = colander.SchemaNode(
        StrictString(), missing="UTC", validator=colander.Length(min=1, max=64)
    )
    schedule_anchor_dts = colander.SchemaNode(Nullable(UTCDateTime()), missing=None)
    run_on_all_workers = flag_node(False)
    schedule_children_on_error = flag_node(False)
    notification_addresses = addresses_node()
    disable_enqueue_after_fails = nullable_int(1, 1_000_000)


class RescheduleExcludeSchema(StrictMappingSchema):
    """A local time-of-day window in which a job is not scheduled."""

    job = colander.SchemaNode(RelatedId("job"))
    start_time = colander.SchemaNode(LocalTime())
    end_time = colander.SchemaNode(LocalTime())
    note = text_node()
