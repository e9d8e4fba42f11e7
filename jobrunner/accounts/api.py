"""API resources for dashboard users and groups (managed with admin keys)."""

from sqlalchemy.orm import selectinload

from jobrunner import scopes
from jobrunner.accounts import operations
from jobrunner.accounts.models import Group, User
from jobrunner.accounts.schemas import GroupSchema, UserSchema
from jobrunner.api.resource import Field, Resource, register
from jobrunner.api.writes import Writer, write_views


group = Resource(
    name="group",
    model=Group,
    scope=scopes.group,
    description="A group of dashboard users; projects name the groups that see them.",
    fields=[
        Field(
            "name", "string", "Name of the group.", unique=True, filter=True, order=True
        ),
    ],
)

user = Resource(
    name="user",
    model=User,
    scope=scopes.user,
    description="A dashboard user. The password is never shown.",
    load_options=(selectinload(User.groups),),
    fields=[
        Field(
            "username",
            "string",
            "The login name.",
            unique=True,
            filter=True,
            order=True,
        ),
        Field("is_active", "boolean", "Whether the user may log in.", filter=True),
        Field("is_superuser", "boolean", "Sees every project.", filter=True),
        Field("groups", "to_many", "The user's groups.", related="group"),
        Field("created_dts", "datetime", "When the user was created.", readonly=True),
    ],
)

WRITERS = {
    "group": Writer(
        schema=GroupSchema(),
        create=operations.create_group,
        update=operations.save_group,
        delete=operations.delete_group,
    ),
    "user": Writer(
        schema=UserSchema(),
        create=operations.create_user_from,
        update=operations.save_user,
        delete=operations.delete_user,
    ),
}


def includeme(config):
    for resource in (group, user):
        register(config, resource, write_views(resource, WRITERS[resource.name]))
