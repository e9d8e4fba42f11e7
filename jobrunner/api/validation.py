"""Validate JSON request bodies with colander, one error per field."""

import json
import math

import colander


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is too large a number.")
    return value


def parse_json(body: bytes | str):
    """Parse a request body as strict JSON, raising ValueError when it is not.

    Python's parser takes ``NaN`` and ``Infinity``, which JSON does not have
    and which no field here can use, and makes numbers too large for a float
    infinite; and it gives up on deeply nested arrays with RecursionError.
    All of these are refused as invalid JSON, like bad UTF-8. The login view
    parses its JSON body with this too.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("The body is not UTF-8.") from None
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("The body nests too deeply.") from None


# Route name -> ``strip(request, data, known) -> data``: drops the read-only
# keys of an object that a client sends back as it read them (PUT or PATCH
# of the body a GET returned). Filled in by :mod:`jobrunner.api.writes`.
READ_ONLY_ECHOES: dict = {}


def colander_body(request, schema=None, **kwargs):
    """Cornice validator: check a JSON object body against the view's ``schema``.

    Unlike Cornice's own, it names each unknown key in its own error and
    explains a body that is not a JSON object. The validated values land in
    ``request.validated``.
    """
    if schema is None:
        return
    try:
        data = parse_json(request.body) if request.body else {}
    except ValueError:
        request.errors.add("body", "", "The body is not valid JSON.")
        return
    if not isinstance(data, dict):
        request.errors.add("body", "", "The body must be a JSON object.")
        return
    known = {child.name for child in schema.children}
    route = getattr(request.matched_route, "name", None)
    if request.method in ("PUT", "PATCH") and route in READ_ONLY_ECHOES:
        data = READ_ONLY_ECHOES[route](request, data, known)
    for name in sorted(set(data) - known):
        request.errors.add("body", name, f"{name!r} is not a known field.")
    try:
        values = schema.deserialize({k: v for k, v in data.items() if k in known})
    except colander.Invalid as error:
        for name, message in sorted(error.asdict().items()):
            request.errors.add("body", name, message)
        return
    request.validated.update(values)
