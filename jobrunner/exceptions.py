"""The one exception domain operations raise when they refuse something.

Operations know nothing of HTTP; the error views in :mod:`jobrunner.errors`
turn each kind into its status code.
"""


class DomainError(Exception):
    """A request the domain refuses, with the field it is about.

    ``kind`` is one of ``invalid`` (400: bad values), ``conflict`` (409: the
    current state does not allow it), ``not_found`` (404), ``forbidden`` (403),
    ``precondition`` (412: the object changed since the client read it) or
    ``range`` (416: a log append at the wrong offset; ``extra["length"]`` has
    the right one).
    """

    def __init__(self, kind: str, name: str, description: str, **extra):
        super().__init__(description)
        self.kind = kind
        self.name = name
        self.description = description
        self.extra = extra
