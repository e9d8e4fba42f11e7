"""Colander schemas for logging in."""

import colander


def _safe_redirect(node, value):
    # Only paths on this site: "//host" and absolute URLs would send the user
    # elsewhere after logging in.
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        raise colander.Invalid(node, "must be a path on this site")


class LoginSchema(colander.MappingSchema):
    """A username and password, from the login form or a JSON body."""

    username = colander.SchemaNode(
        colander.String(), validator=colander.Length(min=1, max=150)
    )
    password = colander.SchemaNode(
        colander.String(), validator=colander.Length(min=1, max=1024)
    )
    came_from = colander.SchemaNode(
        colander.String(), missing="/", validator=_safe_redirect
    )
    csrf_token = colander.SchemaNode(colander.String(), missing=colander.drop)
