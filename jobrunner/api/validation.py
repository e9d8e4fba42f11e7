"""Validate JSON request bodies with colander, one error per field."""

import colander


def colander_body(request, schema=None, **kwargs):
    """Cornice validator: check a JSON object body against the view's ``schema``.

    Unlike Cornice's own, it names each unknown key in its own error and
    explains a body that is not a JSON object. The validated values land in
    ``request.validated``.
    """
    if schema is None:
        return
    try:
        data = request.json_body if request.body else {}
    except ValueError:
        request.errors.add("body", "", "The body is not valid JSON.")
        return
    if not isinstance(data, dict):
        request.errors.add("body", "", "The body must be a JSON object.")
        return
    known = {child.name for child in schema.children}
    for name in sorted(set(data) - known):
        request.errors.add("body", name, f"{name!r} is not a known field.")
    try:
        values = schema.deserialize({k: v for k, v in data.items() if k in known})
    except colander.Invalid as error:
        for name, message in sorted(error.asdict().items()):
            request.errors.add("body", name, message)
        return
    request.validated.update(values)
