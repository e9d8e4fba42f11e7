"""The HMAC-SHA1 request signature shared by the server and the worker.

A request is signed over ``METHOD + full path + body``: the upper-cased method,
the path as sent (with ``?`` and the raw query string when there is one) and
the raw body bytes. The result goes in the header::

    Authorization: ApiKey <api_key>:<hex digest>

This module imports nothing of the server, so the worker can use it on hosts
that never see the database.
"""

import hashlib
import hmac
import re


AUTH_SCHEME = "ApiKey"
_HEADER_RE = re.compile(r"^\s*ApiKey\s+([^:\s]+):([0-9a-fA-F]{40})\s*$")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def signature(
    secret: str | bytes, method: str, full_path: str, body: bytes = b""
) -> str:
    """Return the hex HMAC-SHA1 of ``method + full_path + body`` under ``secret``."""
    message = _as_bytes(method.upper()) + _as_bytes(full_path) + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha1).hexdigest()


def authorization_header(
    api_key: str, secret: str, method: str, full_path: str, body: bytes = b""
) -> str:
    """Return the value of the ``Authorization`` header for a request."""
    return f"{AUTH_SCHEME} {api_key}:{signature(secret, method, full_path, body)}"


def parse_authorization(value: str | None) -> tuple[str, str] | None:
    """Split an ``ApiKey key:signature`` header value, or return None."""
    if not value:
        return None
    match = _HEADER_RE.match(value)
    if match is None:
        return None
    return match.group(1), match.group(2).lower()


def verify(
    secret: str | bytes,
    given_signature: str,
    method: str,
    full_paths: list[str],
    body: bytes = b"",
) -> bool:
    """Check a signature against each spelling of the path the request may have had.

    Every candidate is compared in constant time, and all of them are compared,
    so the time taken does not tell which one (if any) matched.
    """
    matched = False
    for full_path in full_paths:
        expected = signature(secret, method, full_path, body)
        matched |= hmac.compare_digest(expected, given_signature)
    return matched
