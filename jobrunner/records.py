"""Helpers for operations that save objects from validated values."""

from sqlalchemy import select

from jobrunner.exceptions import DomainError


def related(lc, model, object_id: int, field: str):
    """Load a related object named in a request, or refuse the field."""
    obj = lc.dbsession.get(model, object_id)
    if obj is None:
        raise DomainError("invalid", field, f"No {field} with id {object_id}.")
    return obj


def related_list(lc, model, ids: list[int], field: str) -> list:
    """Load related objects by id, in the given order, or refuse the field."""
    found = {
        obj.id: obj
        for obj in lc.dbsession.scalars(select(model).where(model.id.in_(ids)))
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise DomainError("invalid", field, f"No {field} with id {missing[0]}.")
    return [found[i] for i in ids]


def ensure_unique(lc, obj, field: str, *conditions) -> None:
    """Refuse a value that another object already has."""
    model = type(obj)
    query = select(model.id).where(*conditions)
    if obj.id is not None:
        query = query.where(model.id != obj.id)
    if lc.dbsession.scalar(query.limit(1)) is not None:
        raise DomainError("invalid", field, f"This {field} is taken already.")


def assign(obj, values: dict, names) -> None:
    """Copy the given names from ``values`` onto ``obj`` where present."""
    for name in names:
        if name in values:
            setattr(obj, name, values[name])
