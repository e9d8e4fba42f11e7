"""Colander schemas for what workers send about themselves."""

import colander

from jobrunner.api.types import UTCDateTime


class HeartbeatSchema(colander.MappingSchema):
    """A worker's heartbeat: PATCH worker/{id}/ on itself."""

    ping_response_dts = colander.SchemaNode(UTCDateTime(), missing=colander.drop)
    worker_version = colander.SchemaNode(
        colander.String(allow_empty=True),
        missing=colander.drop,
        validator=colander.Length(max=255),
    )
    concurrent_jobs = colander.SchemaNode(
        colander.Int(), missing=colander.drop, validator=colander.Range(min=0, max=10000)
    )

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)
