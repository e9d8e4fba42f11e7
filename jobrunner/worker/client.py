"""The worker's HTTP client: signed requests, retries, and the API's endpoints.

Every request is signed with :mod:`jobrunner.signing` over exactly the bytes
that go on the wire: the request is prepared first, then its path (with the
query string as encoded) and its body are signed.

Transient failures (connection refused or reset, timeouts, 5xx and 429) are
retried with exponential backoff and jitter. Each endpoint method says why a
retry of it is safe; the one that is not quite, claiming, is handled by the
caller (see :meth:`ApiClient.claim`).
"""

import dataclasses
import datetime
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from jobrunner import signing


log = logging.getLogger(__name__)

API_PATH = "/api/job_runner/v1/"
JSON_TYPE = "application/json"


class GaveUp(Exception):
    """A request kept failing transiently and the caller said to stop trying."""


class ProtocolError(Exception):
    """The server answered something the worker cannot use."""


@dataclasses.dataclass
class Response:
    """A non-transient answer: its status, decoded JSON body and tries taken."""

    status: int
    data: Any
    attempts: int = 1

    @property
    def retried(self) -> bool:
        return self.attempts > 1


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def isoformat(moment: datetime.datetime) -> str:
    """Render a moment as the API wants it: ISO 8601, UTC, with the offset."""
    return moment.astimezone(datetime.UTC).isoformat()


def parse_datetime(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:  # the API promises offsets; assume UTC if not
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def id_from_uri(uri: str) -> int:
    """Return the id at the end of a resource URI such as ``/api/.../run/7/``."""
    return int(uri.rstrip("/").rsplit("/", 1)[1])


@dataclasses.dataclass
class Backoff:
    """Exponential backoff with jitter: each delay is drawn from the upper half
    of an interval that doubles with every attempt, up to ``max_delay``."""

    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = dataclasses.field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """The pause before retry number ``attempt`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 30))
        return self.rng.uniform(ceiling / 2, ceiling)


_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


def describe_error(error: Exception) -> str:
    """A short reason for a failed request: urllib3's messages repeat the host
    and URL around the cause, and the cause is what an operator needs."""
    text = str(error)
    cause = _ERRNO_RE.search(text)
    if cause is not None:
        text = cause.group(0).strip()
    elif "RemoteDisconnected" in text:
        text = "the server closed the connection without answering"
    elif len(text) > 200:
        text = text[:200] + "..."
    return f"{type(error).__name__}: {text}"


INTERNAL_ERROR = "HTTP 500"


def _is_transient_status(status: int) -> bool:
    return status >= 500 or status == 429


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class ApiClient:
    """Signed, retrying access to one server's API for one worker's key."""

    def __init__(
        self,
        server_url: str,
        api_key: str,
        secret: str,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], object] = time.sleep,
        user_agent: str = "jobrunner-worker",
    ):
        self.server_url = server_url.rstrip("/") + "/"
        self.api_key = api_key
        self._secret = secret
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.user_agent = user_agent
        # requests.Session is not documented as thread safe, and the daemon
        # talks to the server from several threads; each gets its own.
        self._local = threading.local()

    @property
    def api_root(self) -> str:
        base = urlsplit(self.server_url).path.rstrip("/")
        return base + API_PATH

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
        return session

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def url(self, path: str) -> str:
        """Resolve an API path (``run/7/``) or a server path (``/api/...``)."""
        if not path.startswith("/"):
            path = self.api_root + path
        return urljoin(self.server_url, path)

    def prepare(
        self, method: str, path: str, params: dict | None = None, body: Any = None
    ) -> requests.PreparedRequest:
        """Build the request and sign the path and body it will carry."""
        headers = {"Accept": JSON_TYPE}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            data = data.encode("utf-8")
            headers["Content-Type"] = JSON_TYPE
        url = self.url(path)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        prepared = self._session().prepare_request(
            requests.Request(method, url, headers=headers, data=data)
        )
        raw_body = prepared.body or b""
        if isinstance(raw_body, str):
            raw_body = raw_body.encode("utf-8")
        prepared.headers["Authorization"] = signing.authorization_header(
            self.api_key, self._secret, prepared.method, prepared.path_url, raw_body
        )
        return prepared

    def request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        body: Any = None,
        attempts: int | None = 5,
        give_up: Callable[[], bool] | None = None,
        timeout: float | None = None,
        internal_errors: int | None = None,
    ) -> Response:
        """Send a signed request and return the first non-transient answer.

        Transient failures are retried until ``attempts`` tries have been made
        (``None``: without limit) or ``give_up()`` says to stop; then
        :class:`GaveUp` is raised. ``internal_errors`` bounds, on its own, the
        tries answered with HTTP 500: a server that is up but fails the same
        request again and again, unlike one that is down or unavailable (no
        answer, 502, 503, 504), which may be waited for without limit.
        """
        prepared = self.prepare(method, path, params, body)
        what = f"{method} {prepared.path_url}"
        attempt = failed_inside = 0
        while True:
            attempt += 1
            problem = self._send_once(prepared, timeout)
            if isinstance(problem, Response):
                problem.attempts = attempt
                return problem
            failed_inside += problem == INTERNAL_ERROR
            if (
                (attempts is not None and attempt >= attempts)
                or (internal_errors is not None and failed_inside >= internal_errors)
                or (give_up is not None and give_up())
            ):
                raise GaveUp(f"{what}: {problem} (after {attempt} tries)")
            delay = self.backoff.delay(attempt)
            log.warning(
                "%s: %s; retrying in %.1f s (try %d)", what, problem, delay, attempt + 1
            )
            self._pause(delay, give_up)
            if give_up is not None and give_up():
                raise GaveUp(f"{what}: {problem} (after {attempt} tries)")

    def _pause(self, delay: float, give_up: Callable[[], bool] | None) -> None:
        """Sleep ``delay`` seconds, in slices so that ``give_up`` cuts it short."""
        if give_up is None:
            self.sleep(delay)
            return
        slept = 0.0
        while slept < delay and not give_up():
            step = min(delay - slept, 0.25)
            self.sleep(step)
            slept += step

    def _send_once(self, prepared, timeout) -> Response | str:
        """One try: a :class:`Response`, or the reason it must be retried."""
        session = self._session()
        settings = session.merge_environment_settings(
            prepared.url, {}, None, None, None
        )
        try:
            response = session.send(
                prepared, timeout=timeout or self.timeout, **settings
            )
        except requests.RequestException as error:
            # A broken connection may leave the pool in a bad state; start over.
            self.close()
            return describe_error(error)
        if _is_transient_status(response.status_code):
            return f"HTTP {response.status_code}"
        return Response(response.status_code, _decode(response))

    # The endpoints ---------------------------------------------------------

    def iterate(self, path: str, params: dict, **kw) -> Iterator[dict]:
        """Yield every object of a list, following the pages' ``next`` links.

        Reading is safe to retry.
        """
        response = self.request("GET", path, params=params, **kw)
        while True:
            expect(response, 200)
            yield from response.data.get("objects", [])
            next_page = (response.data.get("meta") or {}).get("next")
            if not next_page:
                return
            response = self.request("GET", next_page, **kw)

    def find_worker(self, **kw) -> dict:
        """Return this key's worker object; reading is safe to retry."""
        for worker in self.iterate("worker/", {"api_key": self.api_key}, **kw):
            if worker.get("api_key", self.api_key) == self.api_key:
                return worker
        raise ProtocolError("the server lists no worker for this api key")

    def heartbeat(self, worker_id: int, version: str, concurrent_jobs: int, **kw):
        """Tell the server the worker is alive; a repeated heartbeat is harmless."""
        body = {
            "ping_response_dts": isoformat(utcnow()),
            "worker_version": version,
            "concurrent_jobs": concurrent_jobs,
        }
        return self.request("PATCH", f"worker/{worker_id}/", body=body, **kw)

    def claim(self, limit: int, wait: float, **kw) -> Response:
        """Claim up to ``limit`` due runs, waiting up to ``wait`` seconds.

        A retry after a lost answer may leave runs claimed for this worker
        that it never heard of; the daemon looks for those (``in_queue`` runs
        of its own) after any claim that was retried or failed.
        """
        body = {"limit": limit, "wait": round(wait)}
        return self.request(
            "POST", "run/claim/", body=body, timeout=self.timeout + wait, **kw
        )

    def patch(self, uri: str, fields: dict, **kw) -> Response:
        """PATCH an object; the server takes an identical repeat as harmless."""
        return self.request("PATCH", uri, body=fields, **kw)

    def get(self, uri: str, **kw) -> Response:
        return self.request("GET", uri, **kw)

    def append_log(self, run_id: int, offset: int, content: str, **kw) -> Response:
        """Append to a run's log at ``offset``; the offset check makes a retry
        that the server already took come back as a 416 instead of a double."""
        body = {"offset": offset, "content": content}
        return self.request("POST", f"run/{run_id}/log/", body=body, **kw)


def expect(response: Response, *statuses: int) -> Response:
    """Return the response if its status is one of ``statuses``, else raise."""
    if response.status not in statuses:
        raise ProtocolError(f"unexpected HTTP {response.status}: {response.data!r}")
    return response
