"""The tastypie wire format, written once for every resource.

A resource declares its model, its fields, the filters and orderings it
allows and how a caller's scope narrows its rows; this module turns that into
three Cornice services (list, detail, schema) with the conventions existing
clients expect:

* lists are ``{"meta": {limit, offset, total_count, next, previous},
  "objects": [...]}`` with ``?limit=`` (0 means the maximum) and ``?offset=``;
* every object has ``id`` and ``resource_uri``; relations are URIs;
* datetimes are ISO 8601 with an offset, always UTC;
* filters are ``?field=value`` plus ``__lt``, ``__lte``, ``__gt``, ``__gte``
  (and ``__isnull``) on datetimes, and ``?order_by=field`` or ``-field``.

Counting is capped: a list counts at most ``api.count_limit`` matching rows,
past which ``total_count`` is an estimate and ``meta.total_count_is_estimate``
is true, so that a page never costs a scan of the whole run table.
"""

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import colander
from cornice import Service
from pyramid import httpexceptions as exc
from sqlalchemy import func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from jobrunner.api import types
from jobrunner.errors import json_error
from jobrunner.security import ROOT_ACL, Permission


API_PREFIX = "/api/job_runner/v1"
DATETIME_LOOKUPS = ("lt", "lte", "gt", "gte")


class ApiContext:
    """The context of every API route: HMAC and sessions, the root ACL."""

    __acl__ = ROOT_ACL
    auth_methods = ("hmac", "session")

    def __init__(self, request):
        self.request = request


def resource_uri(name: str, object_id: int | None) -> str | None:
    if object_id is None:
        return None
    return f"{API_PREFIX}/{name}/{object_id}/"


def render_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat()
    return value


@dataclass
class Field:
    """One attribute of a resource, as rendered and as described by ``schema/``."""

    name: str
    type: str  # integer, string, boolean, datetime, time, list, related, to_many
    help_text: str = ""
    attribute: str | None = None  # model attribute; defaults to ``name``
    getter: Callable[[Any], Any] | None = None
    related: str | None = None  # resource name of a relation
    nullable: bool = False
    readonly: bool = False
    unique: bool = False
    filter: bool = False
    order: bool = False

    @property
    def model_attribute(self) -> str:
        return self.attribute or self.name

    def value(self, obj) -> Any:
        if self.getter is not None:
            return self.getter(obj)
        raw = getattr(obj, self.model_attribute)
        if self.type == "related":
            return resource_uri(self.related, raw)
        if self.type == "to_many":
            return [resource_uri(self.related, item.id) for item in raw]
        return render_value(raw)


@dataclass
class Filter:
    """A query-string filter that is not a plain field comparison."""

    name: str
    node: Callable[[], colander.SchemaNode]
    apply: Callable[[Any, Any, Any], Any]  # (query, value, identity) -> query
    help_text: str = ""


@dataclass
class Resource:
    """A read resource: model, fields, filters, ordering and scoping."""

    name: str
    model: type
    fields: list[Field]
    scope: Callable[[Any, Any], Any]  # (query, identity) -> query
    description: str = ""
    filters: list[Filter] = field(default_factory=list)
    default_ordering: Sequence[str] = ("id",)
    load_options: Sequence[Any] = ()
    list_methods: tuple[str, ...] = ("GET",)
    detail_methods: tuple[str, ...] = ("GET",)

    def __post_init__(self):
        self.fields = [
            Field(
                "id", "integer", "Unique id.", readonly=True, filter=True, order=True
            ),
            *self.fields,
            Field(
                "resource_uri",
                "string",
                "The URI of this object.",
                readonly=True,
                getter=lambda obj: resource_uri(self.name, obj.id),
            ),
        ]
        self.fields_by_name = {f.name: f for f in self.fields}
        self.query_schema = self._build_query_schema()

    # -- URLs ---------------------------------------------------------------

    @property
    def list_path(self) -> str:
        return f"{API_PREFIX}/{self.name}/"

    @property
    def schema_path(self) -> str:
        return f"{API_PREFIX}/{self.name}/schema/"

    # -- rendering ----------------------------------------------------------

    def render(self, obj) -> dict:
        return {f.name: f.value(obj) for f in self.fields}

    def describe(self, settings) -> dict:
        """Describe the resource the way tastypie's ``schema/`` does."""
        filtering = {}
        for f in self.fields:
            if f.filter:
                lookups = ["exact"]
                if f.type == "datetime":
                    lookups += list(DATETIME_LOOKUPS)
                    if f.nullable:
                        lookups.append("isnull")
                filtering[f.name] = lookups
        for extra in self.filters:
            filtering[extra.name] = {"help_text": extra.help_text}
        return {
            "allowed_list_http_methods": [m.lower() for m in self.list_methods],
            "allowed_detail_http_methods": [m.lower() for m in self.detail_methods],
            "default_format": "application/json",
            "default_limit": settings["api.default_limit"],
            "max_limit": settings["api.max_limit"],
            "fields": {
                f.name: {
                    "type": f.type,
                    "help_text": f.help_text,
                    "nullable": f.nullable,
                    "readonly": f.readonly,
                    "unique": f.unique or f.name == "id",
                    "primary_key": f.name == "id",
                    **({"related_resource": f.related} if f.related else {}),
                }
                for f in self.fields
            },
            "filtering": filtering,
            "ordering": [f.name for f in self.fields if f.order],
            "default_ordering": list(self.default_ordering),
        }

    # -- querying -----------------------------------------------------------

    def _filter_node(self, f: Field, name: str) -> colander.SchemaNode:
        if f.type == "datetime":
            typ = types.UTCDateTime()
        elif f.type == "boolean":
            typ = types.StrictBoolean()
        elif f.type == "related":
            typ = types.RelatedId(f.related)
        elif f.type == "integer":
            typ = colander.Int()
            return colander.SchemaNode(
                typ,
                name=name,
                missing=colander.drop,
                validator=colander.Range(min=-types.MAX_ID, max=types.MAX_ID),
            )
        else:
            # Strict: a NUL character cannot be stored, so it cannot match.
            typ = types.StrictString()
        return colander.SchemaNode(typ, name=name, missing=colander.drop)

    def _build_query_schema(self) -> colander.SchemaNode:
        schema = colander.SchemaNode(colander.Mapping(unknown="raise"))
        schema.add(
            colander.SchemaNode(
                colander.Int(),
                name="limit",
                missing=colander.drop,
                validator=colander.Range(min=0, max=types.MAX_ID),
            )
        )
        schema.add(
            colander.SchemaNode(
                colander.Int(),
                name="offset",
                missing=0,
                validator=colander.Range(min=0, max=types.MAX_ID),
            )
        )
        orderable = [f.name for f in self.fields if f.order]
        schema.add(
            colander.SchemaNode(
                colander.String(),
                name="order_by",
                missing=colander.drop,
                validator=colander.OneOf(orderable + [f"-{n}" for n in orderable]),
            )
        )
        schema.add(
            colander.SchemaNode(
                colander.String(),
                name="format",
                missing=colander.drop,
                validator=colander.OneOf(["json"]),
            )
        )
        for f in self.fields:
            if not f.filter:
                continue
            schema.add(self._filter_node(f, f.name))
            if f.type == "datetime":
                for lookup in DATETIME_LOOKUPS:
                    schema.add(self._filter_node(f, f"{f.name}__{lookup}"))
                if f.nullable:
                    schema.add(
                        colander.SchemaNode(
                            types.StrictBoolean(),
                            name=f"{f.name}__isnull",
                            missing=colander.drop,
                        )
                    )
        for extra in self.filters:
            node = extra.node()
            node.name = extra.name
            node.missing = colander.drop
            schema.add(node)
        return schema

    def apply_filters(self, query, params: dict, identity):
        comparisons = {
            "lt": lambda c, v: c < v,
            "lte": lambda c, v: c <= v,
            "gt": lambda c, v: c > v,
            "gte": lambda c, v: c >= v,
            "isnull": lambda c, v: c.is_(None) if v else c.isnot(None),
        }
        extra_by_name = {e.name: e for e in self.filters}
        for key, value in params.items():
            if key in ("limit", "offset", "order_by", "format"):
                continue
            if key in extra_by_name:
                query = extra_by_name[key].apply(query, value, identity)
                continue
            name, _, lookup = key.partition("__")
            column = getattr(self.model, self.fields_by_name[name].model_attribute)
            if lookup:
                query = query.where(comparisons[lookup](column, value))
            else:
                query = query.where(column == value)
        return query

    def ordering(self, params: dict):
        names = [params["order_by"]] if "order_by" in params else []
        names += [n for n in self.default_ordering if n.lstrip("-") not in names]
        if "id" not in [n.lstrip("-") for n in names]:
            names.append("id")
        clauses = []
        for name in names:
            f = self.fields_by_name[name.lstrip("-")]
            column = getattr(self.model, f.model_attribute)
            clause = column.desc() if name.startswith("-") else column.asc()
            if f.nullable:
                # SQLite sorts NULL first and PostgreSQL last; say where it
                # goes (PostgreSQL's way, which its indexes serve) so that
                # both backends page through the same order.
                if name.startswith("-"):
                    clause = clause.nulls_first()
                else:
                    clause = clause.nulls_last()
            clauses.append(clause)
        return clauses

    def base_query(self, identity):
        return self.scope(select(self.model), identity)


def validate_querystring(resource: Resource):
    """Build a Cornice validator that checks the query string with colander."""

    def validator(request, **kwargs):
        raw = {key: request.GET.getall(key)[-1] for key in request.GET}
        unknown = set(raw) - {node.name for node in resource.query_schema.children}
        for name in sorted(unknown):
            request.errors.add(
                "querystring", name, f"{name!r} is not a filter of {resource.name}"
            )
        known = {k: v for k, v in raw.items() if k not in unknown}
        try:
            request.validated["querystring"] = resource.query_schema.deserialize(known)
        except colander.Invalid as error:
            for name, message in error.asdict().items():
                request.errors.add("querystring", name, message)

    return validator


def count_rows(dbsession, query, limit: int) -> tuple[int, bool]:
    """Count the rows of ``query`` up to ``limit``; return (count, is_estimate).

    ``query`` keeps the page's order on purpose. Unordered, PostgreSQL may
    gather every matching row through a bitmap before the limit applies (all
    of a job's history, to count its first thousand runs); in the page's
    order it walks the same index as the page and stops at the cap, so a
    count costs at most what a page of ``limit`` rows would.
    """
    capped = query.limit(limit + 1).subquery()
    count = dbsession.scalar(select(func.count()).select_from(capped))
    if count <= limit:
        return count, False
    return estimate_rows(dbsession, query, limit), True


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a select, for PostgreSQL's row estimate."""

    inherit_cache = False

    def __init__(self, statement):
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def estimate_rows(dbsession, query, floor: int) -> int:
    """Ask PostgreSQL's planner for a row estimate; never below ``floor``."""
    if dbsession.get_bind().dialect.name != "postgresql":
        return floor + 1
    # Executed as a statement of its own, so that SQLAlchemy expands IN lists
    # (a worker's pools, a user's groups) and converts values as it always does.
    plan = dbsession.execute(_Explain(query.order_by(None))).scalar()
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    return max(estimate, floor + 1)


def page_url(request, offset: int, limit: int) -> str:
    params = [(k, v) for k, v in request.GET.items() if k not in ("limit", "offset")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f"{request.path}?{urlencode(params)}"


def list_view(resource: Resource):
    def view(request):
        params = request.validated["querystring"]
        settings = request.registry.settings
        max_limit = settings["api.max_limit"]
        limit = params.get("limit", settings["api.default_limit"])
        limit = max_limit if limit == 0 else min(limit, max_limit)
        offset = params["offset"]

        query = resource.apply_filters(
            resource.base_query(request.identity), params, request.identity
        ).order_by(*resource.ordering(params))
        page = request.dbsession.scalars(
            query.options(*resource.load_options).offset(offset).limit(limit + 1)
        ).all()
        has_next = len(page) > limit
        page = page[:limit]
        if not has_next and (page or offset == 0):
            total, estimated = offset + len(page), False
        else:
            total, estimated = count_rows(
                request.dbsession, query, settings["api.count_limit"]
            )
            if estimated:
                # Never fewer rows than this page has shown to exist.
                total = max(total, offset + len(page) + has_next)
        meta = {
            "limit": limit,
            "offset": offset,
            "total_count": total,
            "next": page_url(request, offset + limit, limit) if has_next else None,
            "previous": (
                page_url(request, max(offset - limit, 0), limit) if offset else None
            ),
        }
        if estimated:
            meta["total_count_is_estimate"] = True
        return {"meta": meta, "objects": [resource.render(obj) for obj in page]}

    return view


def matched_id(request, name: str) -> int:
    """The ``{id}`` of the URL; an id no row can have is simply not found."""
    object_id = int(request.matchdict["id"])
    if object_id > types.MAX_ID:
        raise json_error(exc.HTTPNotFound, f"No {name} with id {object_id}.", name="id")
    return object_id


def etag(obj) -> str:
    """An object's version as an entity tag, for ``ETag`` and ``If-Match``."""
    return f'"{obj.version}"'


def detail_view(resource: Resource):
    def view(request):
        object_id = matched_id(request, resource.name)
        obj = request.dbsession.scalars(
            resource.base_query(request.identity)
            .options(*resource.load_options)
            .where(resource.model.id == object_id)
        ).first()
        if obj is None:
            raise json_error(
                exc.HTTPNotFound, f"No {resource.name} with id {object_id}.", name="id"
            )
        if getattr(obj, "version", None) is not None:
            request.response.headers["ETag"] = etag(obj)
        return resource.render(obj)

    return view


def schema_view(resource: Resource):
    def view(request):
        return resource.describe(request.registry.settings)

    return view


def register(config, resource: Resource, extra_views=()) -> dict[str, Service]:
    """Add the list, detail and schema services of ``resource``.

    ``extra_views`` adds write methods: tuples of (``"list"`` or ``"detail"``,
    HTTP method, view callable, keyword arguments for ``Service.add_view``).
    """
    services = {
        "list": Service(
            name=f"api.{resource.name}.list",
            path=resource.list_path,
            factory=ApiContext,
            description=f"List of {resource.name} objects. {resource.description}",
        ),
        "detail": Service(
            name=f"api.{resource.name}.detail",
            path=f"{API_PREFIX}/{resource.name}/{{id:[0-9]+}}/",
            factory=ApiContext,
            description=f"One {resource.name} object.",
        ),
        "schema": Service(
            name=f"api.{resource.name}.schema",
            path=resource.schema_path,
            factory=ApiContext,
            description=f"The fields, filters and methods of {resource.name}.",
        ),
    }
    services["list"].add_view(
        "GET",
        list_view(resource),
        validators=(validate_querystring(resource),),
        permission=Permission.READ,
    )
    services["detail"].add_view(
        "GET", detail_view(resource), permission=Permission.READ
    )
    services["schema"].add_view(
        "GET", schema_view(resource), permission=Permission.READ
    )
    for kind, method, view, kwargs in extra_views:
        services[kind].add_view(method, view, **kwargs)
        methods = resource.list_methods if kind == "list" else resource.detail_methods
        if method not in methods:
            methods += (method,)
            if kind == "list":
                resource.list_methods = methods
            else:
                resource.detail_methods = methods
    for service in services.values():
        config.add_cornice_service(service)
    config.registry.setdefault("api.resources", {})[resource.name] = resource
    return services
