"""Users, groups and admin keys: creating them and checking passwords."""

import secrets

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobrunner.accounts.models import AdminKey, Group, User
from jobrunner.exceptions import DomainError
from jobrunner.records import assign, ensure_unique, related_list


# bcrypt only reads the first 72 bytes of a password; longer ones are refused
# rather than silently truncated.
MAX_PASSWORD_BYTES = 72


class AccountError(ValueError):
    """A request about accounts that cannot be carried out."""


def hash_password(password: str) -> str:
    encoded = password.encode("utf-8")
    if not encoded:
        raise AccountError("the password is empty")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise AccountError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(encoded, bcrypt.gensalt()).decode("ascii")


# A hash of a random password, checked when the user does not exist so that a
# wrong username takes as long as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt()).decode("ascii")


def authenticate(dbsession: Session, username: str, password: str) -> User | None:
    """Return the active user with this username and password, or None."""
    user = dbsession.scalars(select(User).where(User.username == username)).first()
    encoded = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    stored = user.password_hash if user is not None else _DUMMY_HASH
    matches = bcrypt.checkpw(encoded, stored.encode("ascii"))
    if user is None or not matches or not user.is_active:
        return None
    return user


def get_or_create_group(dbsession: Session, name: str) -> Group:
    group = dbsession.scalars(select(Group).where(Group.name == name)).first()
    if group is None:
        group = Group(name=name)
        dbsession.add(group)
    return group


def create_user(
    dbsession: Session,
    username: str,
    password: str,
    groups: list[str] = (),
    is_superuser: bool = False,
) -> User:
    """Create a dashboard user; group names that do not exist yet are created."""
    if not username.strip():
        raise AccountError("the username is empty")
    if dbsession.scalars(select(User.id).where(User.username == username)).first():
        raise AccountError(f"a user named {username!r} exists already")
    user = User(
        username=username,
        password_hash=hash_password(password),
        is_superuser=is_superuser,
        is_active=True,
        groups=[get_or_create_group(dbsession, name) for name in groups],
    )
    dbsession.add(user)
    dbsession.flush()
    return user


def new_credentials() -> tuple[str, str]:
    """Return a fresh (api_key, secret) pair."""
    return secrets.token_hex(16), secrets.token_urlsafe(32)


def create_admin_key(dbsession: Session, title: str) -> AdminKey:
    api_key, secret = new_credentials()
    key = AdminKey(title=title, api_key=api_key, secret=secret, is_active=True)
    dbsession.add(key)
    dbsession.flush()
    return key


# -- the management API ---------------------------------------------------------


def save_group(lc, group: Group, values: dict) -> Group:
    assign(group, values, ("name",))
    ensure_unique(lc, group, "name", Group.name == group.name)
    return group


def create_group(lc, values: dict) -> Group:
    group = Group()
    lc.dbsession.add(group)
    return save_group(lc, group, values)


def delete_group(lc, group: Group) -> None:
    lc.dbsession.delete(group)


def save_user(lc, user: User, values: dict) -> User:
    assign(user, values, ("username", "is_active", "is_superuser"))
    ensure_unique(lc, user, "username", User.username == user.username)
    if values.get("password") is not None:
        try:
            user.password_hash = hash_password(values["password"])
        except AccountError as error:
            raise DomainError("invalid", "password", str(error)) from None
    elif user.id is None:
        raise DomainError("invalid", "password", "A new user needs a password.")
    if "groups" in values:
        user.groups = related_list(lc, Group, values["groups"], "groups")
    return user


def create_user_from(lc, values: dict) -> User:
    user = User(is_active=True, is_superuser=False)
    lc.dbsession.add(user)
    return save_user(lc, user, values)


def delete_user(lc, user: User) -> None:
    lc.dbsession.delete(user)
