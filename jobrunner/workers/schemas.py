"""Colander schemas for what workers send about themselves."""

import colander

from jobrunner.api.types import (
    RelatedIdList,
    StrictBoolean,
    StrictInt,
    StrictMappingSchema,
    StrictString,
    UTCDateTime,
)
from jobrunner.jobs.schemas import EmailList


class HeartbeatSchema(StrictMappingSchema):
    """A worker's heartbeat: PATCH worker/{id}/ on itself."""

    ping_response_dts = colander.SchemaNode(UTCDateTime(), missing=colander.drop)
    worker_version = colander.SchemaNode(
        colander.String(allow_empty=True),
        missing=colander.drop,
        validator=colander.Length(max=255),
    )
    concurrent_jobs = colander.SchemaNode(
        colander.Int(),
        missing=colander.drop,
        validator=colander.Range(min=0, max=10000),
    )


class WorkerPoolSchema(StrictMappingSchema):
    """A worker pool (admin keys)."""

    title = colander.SchemaNode(
        StrictString(), validator=colander.Length(min=1, max=255)
    )
    description = colander.SchemaNode(
        StrictString(allow_empty=True),
        missing="",
        validator=colander.Length(max=100_000),
    )
    notification_addresses = EmailList(missing=[], validator=colander.Length(max=100))
    enqueue_is_enabled = colander.SchemaNode(StrictBoolean(), missing=True)


class WorkerSchema(StrictMappingSchema):
    """A worker (admin keys). Its api key and secret are made by the server."""

    title = colander.SchemaNode(
        StrictString(), validator=colander.Length(min=1, max=255)
    )
    description = colander.SchemaNode(
        StrictString(allow_empty=True),
        missing="",
        validator=colander.Length(max=100_000),
    )
    enqueue_is_enabled = colander.SchemaNode(StrictBoolean(), missing=True)
    concurrent_jobs = colander.SchemaNode(
        StrictInt(), missing=4, validator=colander.Range(min=1, max=10000)
    )
    worker_pools = colander.SchemaNode(RelatedIdList("worker_pool"), missing=[])
