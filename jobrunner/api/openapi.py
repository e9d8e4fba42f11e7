"""An OpenAPI 3 document generated from the Cornice services and their schemas.

Every registered service becomes a path; each view's colander ``schema``
becomes its request body, a list's query-string schema its parameters, and a
resource's field declarations the shape of its objects. Nothing is written by
hand, so the document cannot drift from the code.
"""

import re

import colander
from cornice import Service

from jobrunner.api import types
from jobrunner.api.resource import API_PREFIX, ApiContext, Resource
from jobrunner.api.writes import CONDITIONAL_ROUTES
from jobrunner.security import Permission


ERROR_STATUSES = {
    "400": "Invalid input; nothing was changed.",
    "401": "Missing or invalid credentials.",
    "403": "The credentials do not allow this.",
    "404": "No such object, or not in your scope.",
    "405": "Method not allowed here.",
    "409": "The object's state does not allow this.",
    "412": "The object changed since you read it (If-Match).",
    "413": "The body is too large.",
    "415": "Unsupported content type.",
    "503": "The database is unavailable; retry later.",
}

FIELD_TYPES = {
    "integer": {"type": "integer"},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
    "list": {"type": "array", "items": {"type": "string"}},
    "related": {"type": "string"},
    "to_many": {"type": "array", "items": {"type": "string"}},
}


# -- colander to JSON schema ------------------------------------------------------


def _validator_facts(validator) -> dict:
    facts = {}
    validators = getattr(validator, "validators", None)
    for item in validators or ([validator] if validator else []):
        if isinstance(item, colander.Length):
            if item.min is not None:
                facts["minLength"] = item.min
            if item.max is not None:
                facts["maxLength"] = item.max
        elif isinstance(item, colander.Range):
            if item.min is not None:
                facts["minimum"] = item.min
            if item.max is not None:
                facts["maximum"] = item.max
        elif isinstance(item, colander.OneOf):
            facts["enum"] = list(item.choices)
        elif isinstance(item, colander.Email):
            facts["format"] = "email"
        elif isinstance(item, types.UnlessNone):
            facts.update(_validator_facts(item.validator))
    return facts


def _type_schema(typ) -> dict:
    if isinstance(typ, types.Nullable):
        return {**_type_schema(typ.inner), "nullable": True}
    if isinstance(typ, types.UTCDateTime):
        return {"type": "string", "format": "date-time"}
    if isinstance(typ, types.LocalTime):
        return {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"}
    if isinstance(typ, types.RelatedIdList):
        return {"type": "array", "items": _type_schema(typ.item)}
    if isinstance(typ, types.RelatedId):
        return {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": types.MAX_ID},
                {"type": "string", "description": f"a {typ.resource_name} URI"},
            ]
        }
    if isinstance(typ, colander.Boolean):
        return {"type": "boolean"}
    if isinstance(typ, colander.Int):
        return {"type": "integer"}
    if isinstance(typ, colander.Float):
        return {"type": "number"}
    if isinstance(typ, colander.String):
        return {"type": "string"}
    return {}


def node_schema(node: colander.SchemaNode) -> dict:
    """The JSON schema of a colander node."""
    if isinstance(node.typ, colander.Mapping):
        properties = {child.name: node_schema(child) for child in node.children}
        required = [c.name for c in node.children if c.required]
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if node.typ.unknown == "raise":
            schema["additionalProperties"] = False
        return schema
    if isinstance(node.typ, colander.Sequence):
        # A Length on a sequence counts items.
        facts = _validator_facts(node.validator)
        counts = {"minLength": "minItems", "maxLength": "maxItems"}
        return {
            "type": "array",
            "items": node_schema(node.children[0]),
            **{counts.get(key, key): value for key, value in facts.items()},
        }
    schema = {**_type_schema(node.typ), **_validator_facts(node.validator)}
    if "minLength" in schema and schema.get("type") != "string":
        schema.pop("minLength")
        schema.pop("maxLength", None)
    if node.description:
        schema["description"] = node.description
    return schema


# -- resources -------------------------------------------------------------------


def object_schema(resource: Resource) -> dict:
    properties = {}
    for f in resource.fields:
        schema = dict(FIELD_TYPES[f.type])
        if f.nullable:
            schema["nullable"] = True
        if f.help_text:
            schema["description"] = f.help_text
        if f.readonly:
            schema["readOnly"] = True
        properties[f.name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": [f.name for f in resource.fields],
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


ETAG_HEADER = {
    "description": "The object's version, for If-Match.",
    "schema": {"type": "string"},
}
LOCATION_HEADER = {
    "description": "The URL of the new object.",
    "schema": {"type": "string"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you read: answers 412 when the object changed since.",
    "schema": {"type": "string"},
}


def _etag(resource: Resource | None) -> dict:
    """The ETag header of answers about one object, for versioned objects."""
    if resource is None or not hasattr(resource.model, "version"):
        return {}
    return {"ETag": ETAG_HEADER}


def _query_parameters(resource: Resource) -> list[dict]:
    parameters = []
    for node in resource.query_schema.children:
        parameters.append(
            {
                "name": node.name,
                "in": "query",
                "required": False,
                "schema": node_schema(node),
            }
        )
    return parameters


def _success(service: Service, method: str, resources: dict) -> dict:
    """The documented success answer of one operation."""
    name, kind = _service_parts(service)
    resource = resources.get(name)
    if service.name == "api.root":
        return {"200": _json({"type": "object"}, "The resources of the API.")}
    if service.name == "api.openapi":
        return {"200": _json({"type": "object"}, "This document.")}
    if service.name == "api.run.claim":
        claimed = {
            "allOf": [
                _ref("run"),
                {
                    "type": "object",
                    "properties": {
                        "job_title": {"type": "string"},
                        "script_content": {"type": "string"},
                    },
                },
            ]
        }
        return {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "meta": {"type": "object"},
                        "objects": {"type": "array", "items": claimed},
                    },
                },
                "The claimed runs.",
            )
        }
    if service.name == "api.run.log":
        return {
            "202": _json(
                {
                    "type": "object",
                    "properties": {
                        "length": {"type": "integer"},
                        "omitted_bytes": {"type": "integer"},
                    },
                },
                "Appended.",
            ),
            "416": _json(_ref("error"), "Wrong offset; the body says the length."),
        }
    if service.name == "api.worker.rotate_secret":
        return {
            "200": _json(
                _ref("worker_with_secret"),
                "The worker, with its new secret.",
                _etag(resource),
            )
        }
    if kind == "schema":
        return {"200": _json({"type": "object"}, "The resource's description.")}
    if kind == "list" and method == "GET":
        envelope = {
            "type": "object",
            "properties": {
                "meta": _ref("meta"),
                "objects": {"type": "array", "items": _ref(name)},
            },
        }
        return {"200": _json(envelope, f"A page of {name} objects.")}
    if kind == "list" and method == "POST":
        created = "worker_with_secret" if name == "worker" else name
        headers = {**_etag(resource), "Location": LOCATION_HEADER}
        return {"201": _json(_ref(created), "Created.", headers)}
    if method == "GET":
        return {"200": _json(_ref(name), f"One {name}.", _etag(resource))}
    if method == "DELETE":
        return {"204": {"description": "Deleted."}}
    if method == "PATCH" and name in ("run", "kill_request"):
        return {"202": _json(_ref(name), "Accepted.")}
    if method == "PATCH" and name == "worker":
        return {
            "200": _json(_ref(name), "Changed (admin keys).", _etag(resource)),
            "202": _json(_ref(name), "Heartbeat accepted (workers)."),
        }
    return {"200": _json(_ref(name), "Changed.", _etag(resource))}


def _service_parts(service: Service) -> tuple[str, str]:
    parts = service.name.split(".")
    return (parts[1], parts[2]) if len(parts) == 3 else (parts[-1], "")


def build(registry) -> dict:
    """Build the whole document from the registered services."""
    resources = registry["api.resources"]
    paths = {}
    for service in registry.cornice_services.values():
        if not service.path.startswith(API_PREFIX):
            continue
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", service.path)
        operations = {}
        for method, view, args in service.definitions:
            if method == "HEAD":
                continue
            name, kind = _service_parts(service)
            operation = {
                "operationId": f"{service.name}.{method.lower()}",
                "summary": (view.__doc__ or service.description or "")
                .strip()
                .split("\n")[0],
                "responses": {
                    **_success(service, method, resources),
                    **{
                        code: {"$ref": f"#/components/responses/{code}"}
                        for code in ERROR_STATUSES
                    },
                },
            }
            if args.get("permission") == Permission.MANAGE:
                operation["description"] = "Admin keys only."
            if "{id}" in path:
                operation["parameters"] = [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ]
            if kind == "list" and method == "GET" and name in resources:
                operation["parameters"] = _query_parameters(resources[name])
            if service.name in CONDITIONAL_ROUTES and method in (
                "PUT",
                "PATCH",
                "DELETE",
            ):
                operation["parameters"] = [*operation.get("parameters", []), IF_MATCH]
            schema = args.get("schema")
            if schema is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": node_schema(schema)}},
                }
            operations[method.lower()] = operation
        if operations:
            paths[path] = operations
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jobrunner",
            "version": "1",
            "description": "The control plane of scheduled scripts. Lists follow "
            "django-tastypie's conventions; see docs/api.md.",
        },
        "paths": dict(sorted(paths.items())),
        "security": [{"hmac": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "hmac": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "ApiKey <api_key>:<hex HMAC-SHA1 of METHOD + full "
                    "path + body, keyed with the secret>.",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "jobrunner_auth"},
            },
            "schemas": {
                **{name: object_schema(r) for name, r in sorted(resources.items())},
                "worker_with_secret": {
                    "allOf": [
                        _ref("worker"),
                        {
                            "type": "object",
                            "required": ["secret"],
                            "properties": {
                                "secret": {
                                    "type": "string",
                                    "description": "The worker's HMAC secret, "
                                    "shown only in this answer.",
                                }
                            },
                        },
                    ]
                },
                "meta": {
                    "type": "object",
                    "properties": {
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "total_count": {"type": "integer"},
                        "total_count_is_estimate": {"type": "boolean"},
                        "next": {"type": "string", "nullable": True},
                        "previous": {"type": "string", "nullable": True},
                    },
                },
                "error": {
                    "type": "object",
                    "required": ["status", "errors"],
                    "properties": {
                        "status": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "location": {"type": "string"},
                                    "name": {"type": "string"},
                                    "description": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
            "responses": {
                code: _json(_ref("error"), description)
                for code, description in ERROR_STATUSES.items()
            },
        },
    }


openapi_service = Service(
    name="api.openapi",
    path=f"{API_PREFIX}/openapi.json",
    factory=ApiContext,
    description="The OpenAPI document of this API.",
)


@openapi_service.get(permission=Permission.READ)
def openapi_document(request):
    """The OpenAPI 3 document, built once per process."""
    registry = request.registry
    if "api.openapi" not in registry:
        registry["api.openapi"] = build(registry)
    return registry["api.openapi"]
