"""The load generator: simulated workers and readers over HTTP, in threads.

Run by ``bench/bench.py`` as a process of its own, so that its CPU is not the
server's. It imports nothing of jobrunner but the signing module, as a worker
daemon would. Each scenario prints one JSON object on standard output.

    python bench/load.py SCENARIO --url URL --credentials FILE [options]

Scenarios:

* ``health``: GET /health as fast as possible (the server's ceiling);
* ``claim``: run life cycles through the claim endpoint: claim one run,
  report its start, report its return with a short log;
* ``patch``: the same through the seed-era protocol: list due runs, PATCH
  ``enqueue_dts`` (409 when another worker was first: list again), then the
  same two reports;
* ``longpoll``: long-polling claims; for each run, the time from its
  ``schedule_dts`` to the moment the worker holds it;
* ``read``: one reader, GETs of the given paths one after the other.
"""

import argparse
import datetime
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

from jobrunner import signing


API = "/api/job_runner/v1"
SHORT_LOG = "starting\nprocessed 42 items\ndone\n"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class Client:
    """One keep-alive connection that signs its requests with an API key."""

    def __init__(self, url: str, api_key: str = "", secret: str = ""):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.api_key, self.secret = api_key, secret
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if data else {}
        if self.api_key:
            headers["Authorization"] = signing.authorization_header(
                self.api_key, self.secret, method, path, data
            )
        for attempt in (1, 2):
            try:
                self.connection.request(
                    method, path, body=data or None, headers=headers
                )
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed a kept-alive connection: open a new one.
                self.connection.close()
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=60
                )
                if attempt == 2:
                    raise
        parsed = json.loads(payload) if payload[:1] in (b"{", b"[") else None
        return response.status, parsed


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else None,
    }


def in_threads(function, arguments) -> list:
    results = [None] * len(arguments)
    errors = []

    def target(index, argument):
        try:
            results[index] = function(argument)
        except Exception as error:  # reported, not swallowed
            errors.append(repr(error))

    threads = [
        threading.Thread(target=target, args=(i, a)) for i, a in enumerate(arguments)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} simulated workers failed: {errors[:3]}")
    return results


def health(args, credentials) -> dict:
    deadline = time.monotonic() + args.duration

    def loop(_):
        client, count, latencies = Client(args.url), 0, []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, _ = client.request("GET", "/health")
            latencies.append(time.perf_counter() - started)
            assert status == 200, status
            count += 1
        return count, latencies

    started = time.monotonic()
    results = in_threads(loop, range(args.concurrency))
    elapsed = time.monotonic() - started
    latencies = [x for _, lat in results for x in lat]
    total = sum(count for count, _ in results)
    return {
        "requests": total,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(total / elapsed, 1),
        **summary_ms(latencies),
    }


def _report(client, run_id: int) -> None:
    status, body = client.request(
        "PATCH", f"{API}/run/{run_id}/", {"start_dts": now_iso(), "pid": 4242}
    )
    assert status == 202, (status, body)
    status, body = client.request(
        "PATCH",
        f"{API}/run/{run_id}/",
        {"return_dts": now_iso(), "return_success": True, "return_log": SHORT_LOG},
    )
    assert status == 202, (status, body)


def _claim_one(client, counters, deadline) -> int | None:
    status, body = client.request("POST", f"{API}/run/claim/", {"limit": 1})
    counters["requests"] += 1
    assert status == 200, (status, body)
    objects = body["objects"]
    return objects[0]["id"] if objects else None


def _patch_one(client, counters, deadline) -> int | None:
    while time.monotonic() < deadline:
        due = urllib.parse.quote(now_iso())
        status, body = client.request(
            "GET", f"{API}/run/?state=scheduled&schedule_dts__lte={due}&limit=1"
        )
        counters["requests"] += 1
        assert status == 200, (status, body)
        if not body["objects"]:
            return None
        run_id = body["objects"][0]["id"]
        status, body = client.request(
            "PATCH", f"{API}/run/{run_id}/", {"enqueue_dts": now_iso()}
        )
        counters["requests"] += 1
        if status == 202:
            return run_id
        assert status == 409, (status, body)
        counters["conflicts"] += 1
    return None


def lifecycles(args, credentials) -> dict:
    take = _claim_one if args.scenario == "claim" else _patch_one
    deadline = time.monotonic() + args.duration

    def loop(credential):
        client = Client(args.url, credential["api_key"], credential["secret"])
        counters = {"requests": 0, "conflicts": 0, "cycles": 0, "exhausted": False}
        latencies = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            run_id = take(client, counters, deadline)
            if run_id is None:
                counters["exhausted"] = time.monotonic() < deadline
                break
            _report(client, run_id)
            counters["requests"] += 2
            counters["cycles"] += 1
            latencies.append(time.perf_counter() - started)
        return counters, latencies

    started = time.monotonic()
    results = in_threads(loop, credentials[: args.concurrency])
    elapsed = time.monotonic() - started
    cycles = sum(c["cycles"] for c, _ in results)
    requests = sum(c["requests"] for c, _ in results)
    return {
        "cycles": cycles,
        "seconds": round(elapsed, 3),
        "cycles_per_second": round(cycles / elapsed, 1),
        "requests": requests,
        "requests_per_cycle": round(requests / cycles, 2) if cycles else None,
        "conflicts": sum(c["conflicts"] for c, _ in results),
        "supply_exhausted": any(c["exhausted"] for c, _ in results),
        "cycle": summary_ms([x for _, lat in results for x in lat]),
    }


def longpoll(args, credentials) -> dict:
    remaining = [args.runs]
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration

    def loop(credential):
        client = Client(args.url, credential["api_key"], credential["secret"])
        lags = []
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
            status, body = client.request(
                "POST", f"{API}/run/claim/", {"limit": 1, "wait": 2}
            )
            held = datetime.datetime.now(datetime.UTC)
            assert status == 200, (status, body)
            for run in body["objects"]:
                due = datetime.datetime.fromisoformat(run["schedule_dts"])
                lags.append((held - due).total_seconds())
                with lock:
                    remaining[0] -= 1
        return lags

    results = in_threads(loop, credentials[: args.concurrency])
    lags = [x for lag in results for x in lag]
    return {"runs": len(lags), **summary_ms(lags)}


def read(args, credentials) -> dict:
    """GET each path, one after the other; with --url2, on both servers in turn.

    A path may be ``A|B``: A on the first server, B on the second. Taking
    turns request by request exposes both servers to the same moments of the
    machine, so their ratio does not depend on what else ran meanwhile.
    """
    credential = credentials[0]
    urls = [args.url, args.url2] if args.url2 else [args.url]
    clients = [Client(url, credential["api_key"], credential["secret"]) for url in urls]
    results = {}
    for spec in args.paths:
        paths = (
            (spec.split("|") + [spec])[: len(clients)] if "|" in spec else [spec] * 2
        )
        for _ in range(args.warmup):
            for client, path in zip(clients, paths, strict=False):
                client.request("GET", path)
        latencies = [[] for _ in clients]
        for _ in range(args.requests):
            for n, client in enumerate(clients):
                started = time.perf_counter()
                status, body = client.request("GET", paths[n])
                latencies[n].append(time.perf_counter() - started)
                assert status == 200, (paths[n], status, body)
        results[spec] = [summary_ms(values) for values in latencies]
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "scenario", choices=["health", "claim", "patch", "longpoll", "read"]
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--url2", help="read: a second server to take turns with")
    parser.add_argument("--credentials", help="JSON file: a list of api_key/secret")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_intermixed_args(argv)
    credentials = []
    if args.credentials:
        with open(args.credentials) as f:
            credentials = json.load(f)
    scenarios = {
        "health": health,
        "claim": lifecycles,
        "patch": lifecycles,
        "longpoll": longpoll,
        "read": read,
    }
    print(json.dumps(scenarios[args.scenario](args, credentials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
