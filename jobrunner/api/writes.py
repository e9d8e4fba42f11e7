"""Create, replace, update and delete, written once for every resource.

A resource that can be managed declares a :class:`Writer`: its colander
schema (POST and PUT take all of it, PATCH any part) and three operations.
This module adds the views with the conventions clients expect:

* ``POST`` on the list creates: 201, a ``Location`` header, the object;
* ``PUT`` replaces and ``PATCH`` updates a detail: 200 with the object;
* ``DELETE`` removes: 204;
* every answer about one object carries its version as an ``ETag``, and
  ``If-Match`` on PUT, PATCH and DELETE answers 412 when the object changed
  since the client read it.

Only admin keys may manage (``Permission.MANAGE``); workers and sessions get
403 and nothing changes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import colander
import sqlalchemy as sa
from pyramid import httpexceptions as exc
from sqlalchemy.orm.attributes import flag_modified

from jobrunner.api.resource import etag, matched_id
from jobrunner.api.validation import READ_ONLY_ECHOES, colander_body
from jobrunner.errors import json_error
from jobrunner.exceptions import DomainError
from jobrunner.security import Permission


@dataclass
class Writer:
    """How a resource's objects are created, changed and deleted."""

    schema: colander.SchemaNode
    create: Callable[[Any, dict], Any]  # (lifecycle, values) -> object
    update: Callable[[Any, Any, dict], Any]  # (lifecycle, object, values) -> object
    delete: Callable[[Any, Any], None]  # (lifecycle, object)
    # Extra keys for the answer to a create, such as a secret shown only once.
    created_extra: Callable[[Any], dict] | None = None

    def __post_init__(self):
        self.partial_schema = partial(self.schema)


def partial(schema: colander.SchemaNode) -> colander.SchemaNode:
    """The same schema with every field optional, for PATCH."""
    clone = schema.clone()
    for child in clone.children:
        child.missing = colander.drop
    return clone


def _check_if_match(request, obj) -> None:
    wanted = request.headers.get("If-Match")
    if wanted is None or wanted.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/") for t in wanted.split(",")]
    if etag(obj) not in tags:
        raise DomainError(
            "precondition",
            "If-Match",
            f"The object changed since you read it: its version is {obj.version}.",
        )


def load_for_update(request, resource):
    object_id = matched_id(request, resource.name)
    obj = request.dbsession.scalars(
        resource.base_query(request.identity)
        .where(resource.model.id == object_id)
        .with_for_update(of=resource.model)
    ).first()
    if obj is None:
        raise json_error(
            exc.HTTPNotFound, f"No {resource.name} with id {object_id}.", name="id"
        )
    return obj


def _relations(resource, obj, values: dict) -> dict[str, set[int]]:
    """The ids on each to-many relation of ``obj`` that ``values`` writes."""
    return {
        field.model_attribute: {item.id for item in getattr(obj, field.model_attribute)}
        for field in resource.fields
        if field.type == "to_many" and field.name in values
    }


def _bump_version(obj) -> None:
    """Give ``obj`` a new version although none of its columns changed.

    Its row is UPDATEd (a column is marked changed with its own value), which
    makes SQLAlchemy increment the version as for any other update.
    """
    mapper = sa.inspect(obj).mapper
    column = next(
        attr.key
        for attr in mapper.column_attrs
        if not any(c.primary_key for c in attr.columns)
        and attr.columns[0] is not mapper.version_id_col
    )
    flag_modified(obj, column)


def answer(request, resource, obj, status=200, extra=None):
    request.dbsession.flush()
    request.dbsession.refresh(obj)
    request.response.status = status
    request.response.headers["ETag"] = etag(obj)
    return {**resource.render(obj), **(extra or {})}


def read_only_echo(resource):
    """Accept read-only keys sent back unchanged in a PUT or PATCH body.

    Clients often send the body a GET returned, with some fields changed.
    ``id``, ``resource_uri`` and the other fields that cannot be written are
    dropped when they equal the object's current value, and refused, naming
    the field, when they do not. Keys the resource does not have at all stay
    unknown for :func:`colander_body` to refuse.
    """
    rendered = {field.name for field in resource.fields}

    def strip(request, data: dict, known: set) -> dict:
        echoed = [name for name in data if name in rendered and name not in known]
        if not echoed:
            return data
        current = resource.render(load_for_update(request, resource))
        for name in echoed:
            if data[name] != current[name]:
                request.errors.add(
                    "body",
                    name,
                    f"{name} is read-only: send its current value "
                    f"({current[name]!r}) or leave it out.",
                )
        return {name: value for name, value in data.items() if name not in echoed}

    return strip


# The detail routes whose PUT, PATCH and DELETE honour If-Match.
CONDITIONAL_ROUTES: set[str] = set()


def write_views(resource, writer: Writer):
    """The (kind, method, view, arguments) tuples for :func:`register`."""
    READ_ONLY_ECHOES[f"api.{resource.name}.detail"] = read_only_echo(resource)
    CONDITIONAL_ROUTES.add(f"api.{resource.name}.detail")

    def create(request):
        # No flush until the operation has checked everything: a half-filled
        # object must not reach the database, where it would fail on NOT NULL.
        with request.dbsession.no_autoflush:
            obj = writer.create(request.lifecycle, dict(request.validated))
        request.dbsession.flush()
        request.response.headers["Location"] = request.route_url(
            f"api.{resource.name}.detail", id=obj.id
        )
        extra = writer.created_extra(obj) if writer.created_extra else None
        return answer(request, resource, obj, 201, extra)

    def replace(request):
        obj = load_for_update(request, resource)
        _check_if_match(request, obj)
        values = dict(request.validated)
        before = _relations(resource, obj, values)
        with request.dbsession.no_autoflush:
            writer.update(request.lifecycle, obj, values)
        # Relations live in tables of their own, so changing only them leaves
        # the object's row, and so its version, alone: a client holding the
        # old ETag would overwrite the change unawares.
        if before != _relations(resource, obj, values):
            _bump_version(obj)
        return answer(request, resource, obj)

    def delete(request):
        obj = load_for_update(request, resource)
        _check_if_match(request, obj)
        writer.delete(request.lifecycle, obj)
        request.dbsession.flush()
        return exc.HTTPNoContent()

    def manage(schema=None):
        arguments = {"permission": Permission.MANAGE}
        if schema is not None:
            arguments.update(validators=(colander_body,), schema=schema)
        return arguments

    return (
        ("list", "POST", create, manage(writer.schema)),
        ("detail", "PUT", replace, manage(writer.schema)),
        ("detail", "PATCH", replace, manage(writer.partial_schema)),
        ("detail", "DELETE", delete, manage()),
    )
