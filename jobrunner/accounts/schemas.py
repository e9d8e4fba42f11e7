"""Colander schemas for logging in and for managing users and groups."""

import colander

from jobrunner.api.types import (
    Nullable,
    RelatedIdList,
    StrictBoolean,
    StrictMappingSchema,
    StrictString,
    UnlessNone,
)


def _not_blank(node, value):
    if not value.strip():
        raise colander.Invalid(node, "must not be blank")


def _safe_redirect(node, value):
    # Only paths on this site: "//host" and absolute URLs would send the user
    # elsewhere after logging in.
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        raise colander.Invalid(node, "must be a path on this site")


class LoginSchema(colander.MappingSchema):
    """A username and password, from the login form or a JSON body."""

    username = colander.SchemaNode(
        StrictString(), validator=colander.Length(min=1, max=150)
    )
    password = colander.SchemaNode(
        colander.String(), validator=colander.Length(min=1, max=1024)
    )
    came_from = colander.SchemaNode(
        colander.String(), missing="/", validator=_safe_redirect
    )
    csrf_token = colander.SchemaNode(colander.String(), missing=colander.drop)


class GroupSchema(StrictMappingSchema):
    """A group of dashboard users."""

    name = colander.SchemaNode(
        StrictString(), validator=colander.Length(min=1, max=150)
    )


class UserSchema(StrictMappingSchema):
    """A dashboard user. The password can be set but is never shown."""

    username = colander.SchemaNode(
        StrictString(),
        validator=colander.All(colander.Length(min=1, max=150), _not_blank),
    )
    password = colander.SchemaNode(
        Nullable(StrictString()),
        missing=None,
        validator=UnlessNone(colander.Length(min=8, max=72)),
    )
    is_active = colander.SchemaNode(StrictBoolean(), missing=True)
    is_superuser = colander.SchemaNode(StrictBoolean(), missing=False)
    groups = colander.SchemaNode(RelatedIdList("group"), missing=[])
