"""Colander schemas for what workers and admin keys send about runs.

Worker payloads reject unknown keys: a typo in a field name must not be
accepted and silently ignored.
"""

import colander

from jobrunner.api.types import MAX_ID, RelatedId, StrictBoolean, UTCDateTime


def _optional(typ, **kw):
    return colander.SchemaNode(typ, missing=colander.drop, **kw)


def _nullable_datetime():
    # Sent as null by some clients for "not set"; a set time cannot be unset.
    return colander.SchemaNode(UTCDateTime(), missing=colander.drop)


class RunReportSchema(colander.MappingSchema):
    """A worker's report on a run: PATCH run/{id}/."""

    enqueue_dts = _nullable_datetime()
    start_dts = _nullable_datetime()
    return_dts = _nullable_datetime()
    return_success = _optional(StrictBoolean())
    pid = _optional(colander.Int(), validator=colander.Range(min=0, max=MAX_ID))
    return_log = _optional(colander.String(allow_empty=True))

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)


class ManualRunSchema(colander.MappingSchema):
    """Start a job now: POST run/."""

    job = colander.SchemaNode(RelatedId("job"))
    schedule_children = _optional(StrictBoolean())

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)


class ClaimSchema(colander.MappingSchema):
    """Claim due runs: POST run/claim/."""

    limit = colander.SchemaNode(
        colander.Int(), missing=1, validator=colander.Range(min=1, max=100)
    )
    wait = colander.SchemaNode(
        colander.Float(), missing=0.0, validator=colander.Range(min=0, max=60)
    )

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)


class LogAppendSchema(colander.MappingSchema):
    """Output of a running run: POST run/{id}/log/."""

    offset = colander.SchemaNode(
        colander.Int(), validator=colander.Range(min=0, max=2**62)
    )
    content = colander.SchemaNode(colander.String(allow_empty=True))

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)


class KillRequestCreateSchema(colander.MappingSchema):
    """Ask for a run to be killed: POST kill_request/."""

    run = colander.SchemaNode(RelatedId("run"))

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)


class KillRequestReportSchema(colander.MappingSchema):
    """A worker acting on a kill request: PATCH kill_request/{id}/."""

    enqueue_dts = _nullable_datetime()
    execute_dts = _nullable_datetime()

    def __init__(self, *args, **kw):
        super().__init__(colander.Mapping(unknown="raise"), *args, **kw)
