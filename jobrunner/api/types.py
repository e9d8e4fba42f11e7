"""Colander types for the values that arrive in query strings and bodies."""

import datetime
import re

import colander


# Ids are 32-bit integers in the database; anything larger cannot exist.
MAX_ID = 2**31 - 1


# An unencoded "+" in a query string arrives as a space; put it back before an
# offset such as "10:00:00 01:00" so the client's intent survives.
_LOST_PLUS = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$"
)


def parse_datetime(value: str) -> datetime.datetime:
    """Parse ISO 8601 with ``T`` or a space, with or without offset (none = UTC)."""
    text = value.strip()
    text = _LOST_PLUS.sub(r"\1+\2", text)
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


class UTCDateTime(colander.SchemaType):
    """An ISO 8601 datetime, returned aware and in UTC."""

    def serialize(self, node, appstruct):
        if appstruct is colander.null or appstruct is None:
            return colander.null
        return appstruct.isoformat()

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct == "":
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, f"{cstruct!r} is not an ISO 8601 datetime")
        try:
            return parse_datetime(cstruct)
        except (ValueError, OverflowError):
            raise colander.Invalid(
                node,
                f"{cstruct!r} is not an ISO 8601 datetime "
                "(for example 2024-05-01T10:00:00+00:00)",
            ) from None


class StrictBoolean(colander.Boolean):
    """A boolean that refuses anything but the usual spellings."""

    def __init__(self):
        super().__init__(
            false_choices=("false", "0", "no", "off"),
            true_choices=("true", "1", "yes", "on"),
        )

    def deserialize(self, node, cstruct):
        if isinstance(cstruct, bool):
            return cstruct
        return super().deserialize(node, cstruct)


class RelatedId(colander.SchemaType):
    """A related object given by its id or by its resource URI."""

    def __init__(self, resource_name: str):
        self.resource_name = resource_name

    def serialize(self, node, appstruct):
        return colander.null if appstruct is None else appstruct

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct == "":
            return colander.null
        if isinstance(cstruct, bool):
            raise colander.Invalid(node, f"{cstruct!r} is not an id or resource URI")
        if isinstance(cstruct, int):
            if not 0 < cstruct <= MAX_ID:
                raise colander.Invalid(node, f"{cstruct!r} is not a valid id")
            return cstruct
        text = str(cstruct).strip()
        prefix_free = text.rstrip("/").rsplit("/", 1)
        candidate = prefix_free[-1]
        if "/" in text and f"/{self.resource_name}/" not in text:
            raise colander.Invalid(node, f"{text!r} is not a {self.resource_name} URI")
        if not (candidate.isascii() and candidate.isdigit()) or int(candidate) > MAX_ID:
            raise colander.Invalid(node, f"{text!r} is not an id or resource URI")
        return int(candidate)


class Nullable(colander.SchemaType):
    """Wrap a type so that JSON ``null`` means "no value" (None)."""

    def __init__(self, inner: colander.SchemaType):
        self.inner = inner

    def serialize(self, node, appstruct):
        if appstruct is None:
            return None
        return self.inner.serialize(node, appstruct)

    def deserialize(self, node, cstruct):
        if cstruct is None:
            return None
        return self.inner.deserialize(node, cstruct)


class UnlessNone:
    """Apply ``validator`` to any value but None, which a Nullable node allows.

    A named validator rather than a lambda, so that the OpenAPI document can
    read the rule it wraps.
    """

    def __init__(self, validator):
        self.validator = validator

    def __call__(self, node, value):
        if value is not None:
            self.validator(node, value)


class LocalTime(colander.SchemaType):
    """A time of day, ``HH:MM`` or ``HH:MM:SS``."""

    def serialize(self, node, appstruct):
        if appstruct is colander.null or appstruct is None:
            return colander.null
        return appstruct.isoformat()

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        if not isinstance(cstruct, str) or not re.fullmatch(
            r"\d{2}:\d{2}(:\d{2})?", cstruct
        ):
            raise colander.Invalid(node, f"{cstruct!r} is not a time (HH:MM[:SS])")
        try:
            return datetime.time.fromisoformat(cstruct)
        except ValueError:
            raise colander.Invalid(node, f"{cstruct!r} is not a time of day") from None


class StrictString(colander.String):
    """A string that refuses numbers and other JSON types, and NUL characters."""

    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and not isinstance(cstruct, str):
            raise colander.Invalid(node, f"{cstruct!r} is not a string")
        value = super().deserialize(node, cstruct)
        if isinstance(value, str) and "\x00" in value:
            raise colander.Invalid(node, "NUL characters are not allowed")
        return value


class StrictInt(colander.Int):
    """An integer that refuses booleans, floats and strings."""

    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and (
            isinstance(cstruct, bool) or not isinstance(cstruct, int)
        ):
            raise colander.Invalid(node, f"{cstruct!r} is not an integer")
        return super().deserialize(node, cstruct)


class RelatedIdList(colander.SchemaType):
    """A list of related objects, each by id or resource URI."""

    def __init__(self, resource_name: str):
        self.item = RelatedId(resource_name)

    def serialize(self, node, appstruct):
        return appstruct

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        if not isinstance(cstruct, list):
            raise colander.Invalid(node, "must be a list of ids or resource URIs")
        ids = []
        for item in cstruct:
            value = self.item.deserialize(node, item)
            if value is colander.null:
                raise colander.Invalid(node, f"{item!r} is not an id or resource URI")
            if value not in ids:
                ids.append(value)
        return ids


class StrictMappingSchema(colander.MappingSchema):
    """A mapping that refuses unknown keys: a typo must not be silently ignored."""

    @staticmethod
    def schema_type():
        return colander.Mapping(unknown="raise")
