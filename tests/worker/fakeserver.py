"""A small in-memory stand-in for the server's worker API, over real HTTP.

It speaks the endpoints the worker uses, with the same signing, status codes
and envelopes, and lets a test switch endpoints off (an older server), inject
failures and look at every request. It is for the worker's unit tests; the
end-to-end tests in ``tests/e2e`` use the real server.
"""

import dataclasses
import datetime
import http.server
import json
import re
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from jobrunner import signing


API = "/api/job_runner/v1/"
UTC = datetime.UTC


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def iso(moment):
    return None if moment is None else moment.isoformat()


def parse(value):
    return None if value is None else datetime.datetime.fromisoformat(value)


@dataclasses.dataclass
class FakeRun:
    id: int
    job_id: int
    schedule_dts: datetime.datetime
    enqueue_dts: datetime.datetime | None = None
    start_dts: datetime.datetime | None = None
    return_dts: datetime.datetime | None = None
    return_success: bool | None = None
    pid: int | None = None
    worker_id: int | None = None
    log: bytes = b""
    reports: list = dataclasses.field(default_factory=list)

    @property
    def state(self) -> str:
        if self.return_dts is not None:
            return "completed"
        if self.start_dts is not None:
            return "started"
        if self.enqueue_dts is not None:
            return "in_queue"
        return "scheduled"

    def render(self, server) -> dict:
        job = server.jobs[self.job_id]
        return {
            "id": self.id,
            "resource_uri": f"{API}run/{self.id}/",
            "job": f"{API}job/{self.job_id}/",
            "worker": None
            if self.worker_id is None
            else f"{API}worker/{self.worker_id}/",
            "schedule_dts": iso(self.schedule_dts),
            "enqueue_dts": iso(self.enqueue_dts),
            "start_dts": iso(self.start_dts),
            "return_dts": iso(self.return_dts),
            "return_success": self.return_success,
            "pid": self.pid,
            "state": self.state,
            "job_title": job["title"],
        }


@dataclasses.dataclass
class Fault:
    """Make matching requests fail: ``status`` (e.g. 503) or ``drop`` the
    connection, ``before`` or ``after`` handling them, ``times`` times."""

    method: str
    path_pattern: str
    times: int = 1
    status: int | None = 503
    drop: bool = False
    after: bool = False


class FakeServer:
    """Workers, jobs, runs and kill requests in memory, served on a free port."""

    def __init__(self, claim_endpoint=True, log_endpoint=True, max_wait=30):
        self.claim_endpoint = claim_endpoint
        self.log_endpoint = log_endpoint
        self.max_wait = max_wait
        self.max_body = None
        # Runs another worker takes just before this one's seed-era claim.
        self.stolen: set[int] = set()
        # How far the server's clock is ahead of the worker's.
        self.clock_skew = datetime.timedelta(0)
        self.peak_running = 0
        self.workers: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.runs: dict[int, FakeRun] = {}
        self.kill_requests: dict[int, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._ids = iter(range(1, 1_000_000))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # Arranging -----------------------------------------------------------------

    def add_worker(self, api_key: str, secret: str, title="worker 1") -> int:
        worker_id = next(self._ids)
        self.workers[worker_id] = {
            "id": worker_id,
            "api_key": api_key,
            "secret": secret,
            "title": title,
            "ping_response_dts": None,
            "worker_version": "",
            "concurrent_jobs": 0,
            "heartbeats": 0,
        }
        return worker_id

    def add_job(self, script="#!/bin/sh\necho hello\n", title=None) -> int:
        job_id = next(self._ids)
        self.jobs[job_id] = {"title": title or f"job {job_id}", "script": script}
        return job_id

    def add_run(self, job_id, **kw) -> FakeRun:
        with self.changed:
            run = FakeRun(next(self._ids), job_id, kw.pop("schedule_dts", now()), **kw)
            self.runs[run.id] = run
            self.changed.notify_all()
            return run

    def add_kill_request(self, run_id) -> int:
        kill_id = next(self._ids)
        self.kill_requests[kill_id] = {
            "id": kill_id,
            "run_id": run_id,
            "schedule_dts": now(),
            "enqueue_dts": None,
            "execute_dts": None,
        }
        return kill_id

    def fail(self, method, path_pattern, **kw) -> Fault:
        fault = Fault(method, path_pattern, **kw)
        self.faults.append(fault)
        return fault

    # Looking -------------------------------------------------------------------

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.changed.wait(min(left, 0.1))

    def calls(self, method, pattern) -> list:
        with self.lock:
            return [
                (m, p, b)
                for m, p, b in self.requests
                if m == method and re.search(pattern, p)
            ]

    def _fault_for(self, method, path, after):
        with self.lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.method == method
                    and fault.after == after
                    and re.search(fault.path_pattern, path)
                ):
                    fault.times -= 1
                    return fault
        return None

    # Handling ------------------------------------------------------------------

    def handle(self, method, raw_path, headers, body):
        """Return (status, json body); raise ConnectionAbortedError to drop."""
        fault = self._fault_for(method, raw_path, after=False)
        if fault is not None:
            if fault.drop:
                raise ConnectionAbortedError
            return fault.status, {"error": "injected"}
        if self.max_body is not None and len(body) > self.max_body:
            return 413, {"error": "too big"}
        worker = self._authenticate(method, raw_path, headers, body)
        if worker is None:
            return 401, {"error": "bad signature"}
        data = json.loads(body) if body else None
        with self.lock:
            self.requests.append((method, raw_path, data))
        path = urlsplit(raw_path).path
        query = {k: v[-1] for k, v in parse_qs(urlsplit(raw_path).query).items()}
        result = self._route(method, path, query, data, worker)
        fault = self._fault_for(method, raw_path, after=True)
        if fault is not None:
            if fault.drop:
                raise ConnectionAbortedError
            return fault.status, {"error": "injected"}
        return result

    def _authenticate(self, method, raw_path, headers, body):
        parsed = signing.parse_authorization(headers.get("Authorization"))
        if parsed is None:
            return None
        api_key, given = parsed
        for worker in self.workers.values():
            if worker["api_key"] == api_key and signing.verify(
                worker["secret"], given, method, [raw_path], body
            ):
                return worker
        return None

    def _route(self, method, path, query, data, worker):
        rel = path[len(API) :] if path.startswith(API) else None
        routes = [
            ("GET", r"worker/", self._list_workers),
            ("PATCH", r"worker/(\d+)/", self._patch_worker),
            ("POST", r"run/claim/", self._claim),
            ("GET", r"run/", self._list_runs),
            ("GET", r"run/(\d+)/", self._get_run),
            ("PATCH", r"run/(\d+)/", self._patch_run),
            ("POST", r"run/(\d+)/log/", self._append_log),
            ("GET", r"job/(\d+)/", self._get_job),
            ("GET", r"kill_request/", self._list_kills),
            ("PATCH", r"kill_request/(\d+)/", self._patch_kill),
        ]
        known_path = False
        for route_method, pattern, view in routes:
            match = re.fullmatch(pattern, rel or "")
            if match:
                known_path = True
                if route_method == method:
                    return view(worker, query, data, *map(int, match.groups()))
        return (405 if known_path else 404), {"error": "not found"}

    def _page(self, objects, query, path):
        limit = int(query.get("limit", 20))
        offset = int(query.get("offset", 0))
        page = objects[offset : offset + limit]
        has_next = offset + limit < len(objects)
        rest = "&".join(
            f"{k}={v}" for k, v in query.items() if k not in ("limit", "offset")
        )
        next_url = (
            f"{API}{path}?{rest}&limit={limit}&offset={offset + limit}"
            if has_next
            else None
        )
        meta = {
            "limit": limit,
            "offset": offset,
            "total_count": len(objects),
            "next": next_url,
            "previous": None,
        }
        return 200, {"meta": meta, "objects": page}

    def _list_workers(self, worker, query, data):
        found = [
            {k: v for k, v in w.items() if k not in ("secret", "heartbeats")}
            | {"resource_uri": f"{API}worker/{w['id']}/"}
            for w in self.workers.values()
            if query.get("api_key") in (None, w["api_key"])
        ]
        return self._page(found, query, "worker/")

    def _patch_worker(self, worker, query, data, worker_id):
        if worker_id != worker["id"]:
            return 403, {"error": "not yours"}
        with self.changed:
            worker.update(data)
            worker["heartbeats"] += 1
            self.changed.notify_all()
        return 202, {}

    def _due(self):
        return sorted(
            (
                r
                for r in self.runs.values()
                if r.state == "scheduled" and r.schedule_dts <= now()
            ),
            key=lambda r: r.schedule_dts,
        )

    def _claim(self, worker, query, data):
        if not self.claim_endpoint:
            return 404, {"error": "not found"}
        limit, wait = data["limit"], min(data.get("wait", 0), self.max_wait)
        deadline = time.monotonic() + wait
        with self.changed:
            while not self._due() and time.monotonic() < deadline:
                self.changed.wait(min(0.05, deadline - time.monotonic()))
            claimed = self._due()[:limit]
            for run in claimed:
                run.enqueue_dts = now() + self.clock_skew
                run.worker_id = worker["id"]
            self.changed.notify_all()
            objects = []
            for run in claimed:
                rendered = run.render(self)
                rendered["script_content"] = self.jobs[run.job_id]["script"]
                objects.append(rendered)
        return 200, {"objects": objects}

    def _list_runs(self, worker, query, data):
        with self.lock:
            runs = sorted(self.runs.values(), key=lambda r: r.schedule_dts)
            if "state" in query:
                runs = [r for r in runs if r.state == query["state"]]
            if "worker" in query:
                runs = [r for r in runs if r.worker_id == int(query["worker"])]
            if "schedule_dts__lte" in query:
                runs = [
                    r
                    for r in runs
                    if r.schedule_dts <= parse(query["schedule_dts__lte"])
                ]
            objects = [r.render(self) for r in runs]
        return self._page(objects, query, "run/")

    def _get_run(self, worker, query, data, run_id):
        if run_id not in self.runs:
            return 404, {"error": "no such run"}
        return 200, self.runs[run_id].render(self)

    def _patch_run(self, worker, query, data, run_id):
        with self.changed:
            run = self.runs.get(run_id)
            if run is None:
                return 404, {"error": "no such run"}
            changes = {
                k: parse(v) if k.endswith("_dts") else v for k, v in data.items()
            }
            if run.return_dts is not None:
                same = all(
                    getattr(run, k) == v
                    for k, v in changes.items()
                    if k != "return_log"
                )
                return (202, run.render(self)) if same else (409, {"error": "done"})
            if "enqueue_dts" in changes and run.id in self.stolen:
                run.enqueue_dts, run.worker_id = now(), 999
            if "enqueue_dts" in changes and run.enqueue_dts is not None:
                return 409, {"error": "already claimed"}
            if "enqueue_dts" in changes:
                run.worker_id = worker["id"]
            times = [
                changes.get(k, getattr(run, k))
                for k in ("enqueue_dts", "start_dts", "return_dts")
            ]
            present = [t for t in times if t is not None]
            if present != sorted(present):
                return 400, {"error": "times out of order"}
            if "return_dts" in changes and "return_success" not in changes:
                return 400, {"error": "return without success"}
            if "return_log" in changes:
                run.log = changes.pop("return_log").encode()
            for key, value in changes.items():
                setattr(run, key, value)
            run.reports.append(data)
            running = sum(1 for r in self.runs.values() if r.state == "started")
            self.peak_running = max(self.peak_running, running)
            self.changed.notify_all()
            return 202, run.render(self)

    def _append_log(self, worker, query, data, run_id):
        if not self.log_endpoint:
            return 404, {"error": "not found"}
        with self.changed:
            run = self.runs.get(run_id)
            if run is None:
                return 404, {"error": "no such run"}
            if data["offset"] != len(run.log):
                return 416, {"length": len(run.log)}
            run.log += data["content"].encode("utf-8")
            self.changed.notify_all()
            return 202, {"length": len(run.log)}

    def _get_job(self, worker, query, data, job_id):
        job = self.jobs[job_id]
        return 200, {
            "id": job_id,
            "resource_uri": f"{API}job/{job_id}/",
            "title": job["title"],
            "script_content": job["script"],
        }

    def _list_kills(self, worker, query, data):
        with self.lock:
            objects = [
                {
                    "id": k["id"],
                    "resource_uri": f"{API}kill_request/{k['id']}/",
                    "run": f"{API}run/{k['run_id']}/",
                    "schedule_dts": iso(k["schedule_dts"]),
                    "enqueue_dts": iso(k["enqueue_dts"]),
                    "execute_dts": iso(k["execute_dts"]),
                }
                for k in self.kill_requests.values()
                if query.get("execute_dts__isnull") != "true"
                or k["execute_dts"] is None
            ]
        return self._page(objects, query, "kill_request/")

    def _patch_kill(self, worker, query, data, kill_id):
        with self.changed:
            request = self.kill_requests[kill_id]
            request.update({k: parse(v) for k, v in data.items()})
            self.changed.notify_all()
        return 202, {}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, payload = self.server.fake.handle(
                self.command, self.path, self.headers, body
            )
        except ConnectionAbortedError:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = _serve
