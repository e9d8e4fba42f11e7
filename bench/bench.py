"""The benchmark: dispatch throughput and latency, read latency, and ceilings.

``bench/run`` calls this. It starts a throwaway PostgreSQL (``bin/postgres``),
migrates it, seeds jobs and workers, starts the application the way
production.ini does (``pserve`` of production.ini, only listening on a free
loopback port), and measures from separate load-generating processes
(``bench/load.py``). Results go to ``bench/results/``: ``results.json``,
``results.md`` and ``throughput.svg``.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from jobrunner.accounts.models import AdminKey
from jobrunner.db import utcnow
from jobrunner.jobs import operations
from jobrunner.jobs.models import Job, JobTemplate, Project, Run
from jobrunner.workers.models import Worker, WorkerPool


ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
API = "/api/job_runner/v1"
PYTHON = sys.executable

CONCURRENCY = (1, 8, 32)
SMALL, LARGE = 10_000, 2_000_000
THROUGHPUT_JOBS = 2000
HISTORY_JOBS = 200
LATENCY_WORKERS = 8
# Loaded history: one run every STEP back in time from a day ago.
STEP_SECONDS = 30


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- PostgreSQL ------------------------------------------------------------------


class Postgres:
    """A throwaway server from bin/postgres, for the bench databases."""

    def __init__(self, folder: Path):
        self.folder = folder
        server = subprocess.run(
            [str(ROOT / "bin" / "postgres"), "start", str(folder)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.port = int((folder / "port").read_text())
        self.server_url = server
        self.admin = create_engine(server, isolation_level="AUTOCOMMIT")

    def create(self, name: str) -> str:
        """Create a database; return its URL."""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return self.server_url.rsplit("/", 1)[0] + f"/{name}"

    def version(self) -> str:
        with self.admin.connect() as connection:
            return connection.scalar(text("SHOW server_version"))

    def stop(self) -> None:
        self.admin.dispose()
        subprocess.run([str(ROOT / "bin" / "postgres"), "stop", str(self.folder)])


def migrate(url: str) -> None:
    subprocess.run(
        [
            str(Path(PYTHON).parent / "alembic"),
            "-c",
            "production.ini",
            "upgrade",
            "head",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "JOBRUNNER_DATABASE_URL": url},
    )


# -- data ---------------------------------------------------------------------------


def _credentials(session, pool, prefix: str, count: int) -> list[dict]:
    workers = [
        Worker(
            title=f"{prefix} {i}",
            api_key=f"{prefix}-key-{i}",
            secret=f"{prefix}-secret-{i}",
            pools=[pool],
            ping_response_dts=utcnow(),
        )
        for i in range(count)
    ]
    session.add_all(workers)
    session.flush()
    return [{"id": w.id, "api_key": w.api_key, "secret": w.secret} for w in workers]


def _jobs(session, template, pool, prefix: str, count: int, **values) -> list[int]:
    rows = [
        {
            "job_template_id": template.id,
            "worker_pool_id": pool.id,
            "title": f"{prefix}-{i}",
            "script_content_partial": "echo bench",
            "script_content": "#!/bin/sh\necho bench\n",
            **values,
        }
        for i in range(count)
    ]
    session.execute(insert(Job), rows)
    return list(
        session.scalars(
            select(Job.id).where(Job.title.like(f"{prefix}-%")).order_by(Job.id)
        )
    )


def seed(engine) -> dict:
    """Pools, workers, an admin key, and the jobs of each measurement."""
    with Session(engine) as session:
        pool = WorkerPool(title="bench")
        latency_pool = WorkerPool(title="latency")
        project = Project(title="bench", worker_pools=[pool, latency_pool])
        template = JobTemplate(project=project, title="bench", body="{{ content }}")
        session.add_all([pool, latency_pool, project, template])
        session.flush()
        workers = _credentials(session, pool, "worker", max(CONCURRENCY))
        latency_workers = _credentials(session, latency_pool, "poller", LATENCY_WORKERS)
        admin = AdminKey(
            title="bench", api_key="bench-admin", secret="bench-admin-secret"
        )
        session.add(admin)
        # Each throughput job runs hourly after completion, so a completed
        # cycle schedules a next run an hour away: the supply of due runs is
        # these jobs' pending runs, made due again before each phase.
        throughput_jobs = _jobs(
            session,
            template,
            pool,
            "throughput",
            THROUGHPUT_JOBS,
            reschedule_interval=1,
            reschedule_interval_type="HOUR",
            reschedule_type="AFTER_COMPLETE_DTS",
        )
        session.execute(
            insert(Run),
            [
                {
                    "job_id": job_id,
                    "schedule_dts": utcnow(),
                    "is_manual": False,
                    "schedule_children": True,
                }
                for job_id in throughput_jobs
            ],
        )
        history_jobs = _jobs(session, template, pool, "history", HISTORY_JOBS)
        (latency_job,) = _jobs(session, template, latency_pool, "latency", 1)
        session.commit()
        return {
            "workers": workers,
            "latency_workers": latency_workers,
            "admin": [{"api_key": admin.api_key, "secret": admin.secret}],
            "throughput_jobs": throughput_jobs,
            "history_jobs": history_jobs,
            "latency_job": latency_job,
            "worker_id": workers[0]["id"],
            "pool_id": pool.id,
        }


def count_runs(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Run))


def bulk_load(engine, data: dict, target: int) -> dict:
    """Add completed history runs until the run table holds ``target`` rows.

    One INSERT ... SELECT over generate_series. For large loads the secondary
    indexes are dropped first and built again afterwards, and foreign key
    triggers are off for the loading session (session_replication_role), as
    pg_restore does; then VACUUM ANALYZE, as autovacuum would do in time.
    """
    started = time.monotonic()
    missing = target - count_runs(engine)
    if missing <= 0:
        return {"added": 0, "seconds": 0.0}
    big = missing > 100_000
    with engine.connect() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        # bin/postgres turns synchronous_commit off. An unflushed commit
        # leaves the rows without their committed hint, and VACUUM then marks
        # no page all-visible, which autovacuum would have done in time.
        connection.execute(text("SET synchronous_commit = on"))
        connection.execute(text("SET maintenance_work_mem = '512MB'"))
        indexes = []
        if big:
            indexes = connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'run' AND indexname <> 'pk_run'"
                )
            ).all()
            for name, _ in indexes:
                connection.execute(text(f'DROP INDEX "{name}"'))
        first_id = connection.scalar(text("SELECT coalesce(max(id), 0) FROM run"))
        offset = data.setdefault("history_loaded", 0)
        data["history_loaded"] += missing
        connection.execute(
            text(
                """
                INSERT INTO run (job_id, worker_id, schedule_dts, enqueue_dts,
                                 start_dts, return_dts, return_success, pid,
                                 is_manual, schedule_children)
                SELECT jobs.ids[1 + g % cardinality(jobs.ids)], :worker_id,
                       t.at, t.at + interval '1 second', t.at + interval '2 seconds',
                       t.at + interval '20 seconds', g % 10 <> 0, 1000 + g % 30000,
                       false, true
                FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
                CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM job
                            WHERE id = ANY(:job_ids)) AS jobs
                CROSS JOIN LATERAL (
                    SELECT now() - interval '1 day' - g * :step * interval '1 second'
                    AS at) AS t
                """
            ),
            {
                "worker_id": data["worker_id"],
                "first": offset,
                "last": offset + missing - 1,
                "job_ids": data["history_jobs"],
                "step": STEP_SECONDS,
            },
        )
        # A short log for one run in ten, so run_log grows with the history.
        connection.execute(
            text(
                "INSERT INTO run_log (run_id, content, received_bytes, "
                "omitted_bytes) SELECT id, 'history\n', 8, 0 FROM run "
                "WHERE id > :first AND id % 10 = 0"
            ),
            {"first": first_id},
        )
        for _, definition in indexes:
            connection.execute(text(definition))
        connection.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return {"added": missing, "seconds": round(time.monotonic() - started, 1)}


def make_due(engine, job_ids: list[int]) -> int:
    """Make the pending runs of these jobs due now again; return how many."""
    with engine.begin() as connection:
        return connection.execute(
            text(
                "UPDATE run SET schedule_dts = now() - interval '1 second' "
                "WHERE enqueue_dts IS NULL AND return_dts IS NULL "
                "AND job_id = ANY(:ids)"
            ),
            {"ids": job_ids},
        ).rowcount


def schedule_latency_runs(engine, job_id: int, count: int, spacing: float) -> None:
    start = utcnow() + datetime.timedelta(seconds=1.5)
    with Session(engine) as session:
        session.execute(
            insert(Run),
            [
                {
                    "job_id": job_id,
                    "is_manual": True,
                    "schedule_children": False,
                    "schedule_dts": start + datetime.timedelta(seconds=i * spacing),
                }
                for i in range(count)
            ],
        )
        session.commit()


# -- the application server ----------------------------------------------------------


def describe_server(ini: str) -> str:
    """Name the server section's server, processes and threads."""

    def setting(name: str, default: str) -> str:
        found = re.search(rf"(?m)^{name} = (.+)$", ini)
        return found.group(1).strip() if found else default

    threads = setting("threads", "1")
    if "egg:gunicorn" in ini:
        workers = setting("workers", "1")
        return f"gunicorn, {workers} processes of {threads} threads"
    return f"waitress, 1 process of {threads} threads"


class Server:
    """pserve of production.ini, on a free loopback port, with its environment."""

    def __init__(self, database_url: str, folder: Path, name: str):
        self.port = free_port()
        production = (ROOT / "production.ini").read_text()
        # Keep production.ini's server settings; only the address changes.
        ini, count = re.subn(
            r"(?m)^(listen|bind) = .*$", rf"\1 = 127.0.0.1:{self.port}", production
        )
        assert count == 1, "production.ini has no single listen or bind line"
        # Keep production.ini's other settings; only the folder it names moves.
        ini = ini.replace("%(here)s", str(ROOT))
        config = folder / f"bench-{name}.ini"
        config.write_text(ini)
        self.description = describe_server(ini)
        self.stderr = open(folder / f"server-{name}.log", "w")  # noqa: SIM115 (closed in stop)
        env = {
            **os.environ,
            "JOBRUNNER_DATABASE_URL": database_url,
            "JOBRUNNER_AUTH_SECRET": "bench-secret-" + os.urandom(8).hex(),
        }
        self.process = subprocess.Popen(
            [str(Path(PYTHON).parent / "pserve"), str(config)],
            cwd=ROOT,
            env=env,
            stdout=self.stderr,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start; see server.log")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()


def load(server: Server, scenario: str, credentials_file: Path, *args) -> dict:
    output = subprocess.run(
        [
            PYTHON,
            str(ROOT / "bench" / "load.py"),
            scenario,
            "--url",
            server.url,
            "--credentials",
            str(credentials_file),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
    )
    if output.returncode:
        raise RuntimeError(f"load.py {scenario} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout)


# -- pgbench ---------------------------------------------------------------------------


def claim_statement(engine, worker_id: int, pool_id: int) -> str:
    """The SQL that operations.claim sends for one run, with values inlined.

    The claim's time becomes ``now()``: pgbench runs it later, over runs made
    due after this capture, and a frozen time would match none of them.
    """
    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        # The claim is the one UPDATE of the run table (after its CTE).
        if "UPDATE RUN " in " ".join(statement.upper().split()):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as session:
            lc = operations.Lifecycle(dbsession=session, now=utcnow(), notifier=None)
            operations.claim(lc, worker_id, [pool_id], 1)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = captured[0]
    statement = statement.replace("%(now)s", "now()")
    parameters = {k: v for k, v in parameters.items() if k != "now"}
    raw = engine.raw_connection()
    try:
        sql = psycopg.ClientCursor(raw.driver_connection).mogrify(statement, parameters)
    finally:
        raw.close()
    return " ".join(sql.split())


def claimed_by(engine, statement: str) -> int:
    """How many runs one pgbench transaction claims (then rolled back)."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(statement).all()
        connection.rollback()
    return len(rows)


def pgbench(pg: Postgres, script: Path, clients: int, seconds: float) -> dict:
    binary = shutil.which("pgbench") or next(
        str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    )
    command = [
        binary,
        "-h",
        "127.0.0.1",
        "-p",
        str(pg.port),
        "-U",
        "postgres",
        "-n",
        "-f",
        str(script),
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(int(seconds)),
        "jobrunner_small",
    ]
    if os.geteuid() == 0:
        command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    return {
        "tps": round(tps, 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
    }


# -- the run ------------------------------------------------------------------------


def _middle_run(engine, job: int) -> int:
    with engine.connect() as connection:
        ids = connection.scalars(
            text("SELECT id FROM run WHERE job_id = :job ORDER BY id"), {"job": job}
        ).all()
    return ids[len(ids) // 2]


def reads(servers, files, data, engines, requests: int) -> tuple[dict, dict]:
    """Read latency on the small and the large database, taking turns."""
    job = data["history_jobs"][len(data["history_jobs"]) // 2]
    runs = [_middle_run(engine, job) for engine in engines]
    paths = {
        "run/?state=scheduled&limit=20": f"{API}/run/?state=scheduled&limit=20",
        "run/?job=N&limit=20": f"{API}/run/?job={job}&limit=20",
        "run/?state=last_completed": f"{API}/run/?state=last_completed",
        "job/N/": f"{API}/job/{job}/",
        "run/N/": f"{API}/run/{runs[0]}/|{API}/run/{runs[1]}/",
        "health": "/health",
    }
    measured = load(
        servers[0],
        "read",
        files["admin"],
        "--url2",
        servers[1].url,
        "--requests",
        requests,
        *paths.values(),
    )
    small = {name: measured[spec][0] for name, spec in paths.items()}
    large = {name: measured[spec][1] for name, spec in paths.items()}
    return small, large


def machine() -> dict:
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        found = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else ""
    memory = ""
    if os.path.exists("/proc/meminfo"):
        kib = int(
            re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1)
        )
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def run(args) -> dict:
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {},
    }
    work = Path(tempfile.mkdtemp(prefix="jobrunner-bench-"))
    # PostgreSQL and pgbench run as the postgres user when we are root.
    work.chmod(0o755)
    pg = None
    servers = []
    engines = []
    keep = False
    try:
        log("starting PostgreSQL")
        pg = Postgres(work / "pg")
        results["machine"]["postgresql"] = pg.version()
        # Two databases seeded alike: the small one for every measurement,
        # the large one for reads side by side with the small one.
        small_url, large_url = (
            pg.create("jobrunner_small"),
            pg.create("jobrunner_large"),
        )
        engines = [create_engine(small_url), create_engine(large_url)]
        for url in (small_url, large_url):
            migrate(url)
        data, data_large = (seed(engine) for engine in engines)
        assert data["history_jobs"] == data_large["history_jobs"]
        files = {}
        for name in ("workers", "latency_workers", "admin"):
            files[name] = work / f"{name}.json"
            files[name].write_text(json.dumps(data[name]))
        log(f"loading {SMALL} and {args.large} runs")
        results["load_small"] = bulk_load(engines[0], data, SMALL)
        results["load_large"] = bulk_load(engines[1], data_large, args.large)
        results["runs_small"], results["runs_large"] = map(count_runs, engines)

        script = work / "claim.sql"
        statement = claim_statement(engines[0], data["worker_id"], data["pool_id"])
        script.write_text(f"BEGIN;\n{statement};\nROLLBACK;\n")
        results["claim_statement"] = statement

        log("starting the servers")
        servers.append(Server(small_url, work, "small"))
        servers.append(Server(large_url, work, "large"))
        server = servers[0]
        results["settings"]["server"] = f"{server.description} (production.ini)"
        for each in servers:
            load(each, "health", files["admin"], "--duration", 1, "--concurrency", 4)
            load(
                each,
                "read",
                files["admin"],
                "--requests",
                20,
                "--warmup",
                0,
                f"{API}/run/?limit=5",
            )

        log(f"reads with {results['runs_small']} and {results['runs_large']} runs")
        results["reads_small"], results["reads_large"] = reads(
            servers, files, data, engines, args.requests
        )
        # The large database's server is done: let it not take CPU or memory.
        servers.pop().stop()

        results["ceilings"] = {"health": {}, "pgbench_claim": {}}
        for clients in CONCURRENCY:
            log(f"ceilings at {clients}")
            results["ceilings"]["health"][clients] = load(
                server,
                "health",
                files["admin"],
                "--duration",
                args.duration,
                "--concurrency",
                clients,
            )
            make_due(engines[0], data["throughput_jobs"])
            # A ceiling only if each transaction claims a run, as a claim does.
            claimed = claimed_by(engines[0], statement)
            assert claimed == 1, f"the pgbench claim claims {claimed} runs"
            results["ceilings"]["pgbench_claim"][clients] = {
                **pgbench(pg, script, clients, args.duration),
                "runs_per_transaction": claimed,
            }

        results["throughput"] = {"claim": {}, "patch": {}}
        for protocol in ("claim", "patch"):
            for clients in CONCURRENCY:
                due = make_due(engines[0], data["throughput_jobs"])
                log(f"throughput: {protocol} with {clients} workers, {due} due runs")
                results["throughput"][protocol][clients] = load(
                    server,
                    protocol,
                    files["workers"],
                    "--duration",
                    args.duration,
                    "--concurrency",
                    clients,
                )

        log("dispatch latency")
        schedule_latency_runs(engines[0], data["latency_job"], args.latency_runs, 0.02)
        results["dispatch_latency"] = load(
            server,
            "longpoll",
            files["latency_workers"],
            "--runs",
            args.latency_runs,
            "--concurrency",
            LATENCY_WORKERS,
            "--duration",
            30,
        )

    except BaseException:
        keep = True
        raise
    finally:
        for each in servers:
            each.stop()
        for engine in engines:
            engine.dispose()
        if pg is not None:
            pg.stop()
        if keep:
            log(f"failed: the server logs are kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


# -- reporting ------------------------------------------------------------


def ratio(value, ceiling) -> str:
    return f"{value / ceiling:.0%}" if value and ceiling else "-"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Measured {results['date']} on {m['cpu'] or 'an unknown CPU'}, "
        f"{m['cores']} cores, "
        f"{m['memory']}; PostgreSQL {m.get('postgresql', '?')} (fsync off, as "
        f"bin/postgres starts it), Python {m['python']}; "
        f"{results['settings'].get('server', '')}; load generated by a separate "
        "process on loopback. Load average (1, 5, 15 min) "
        f"{m['load_average_at_start']} at the start, {m['load_average_at_end']} "
        "at the end: other work on the machine slows every figure alike.",
        "",
        "**Dispatch throughput**, complete life cycles per second (claim, start, "
        "return with a short log, next run scheduled):",
        "",
        "| workers | claim endpoint | seed-era PATCH | PATCH conflicts (409) "
        "| /health req/s | pgbench claim tps | claim: HTTP use | claim: of pgbench |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in CONCURRENCY:
        claim = results["throughput"]["claim"][c]
        patch = results["throughput"]["patch"][c]
        health = results["ceilings"]["health"][c]["requests_per_second"]
        pgb = results["ceilings"]["pgbench_claim"][c]["tps"]
        used = claim["cycles_per_second"] * (claim["requests_per_cycle"] or 0)
        lines.append(
            f"| {c} | {claim['cycles_per_second']} | {patch['cycles_per_second']} "
            f"| {patch['conflicts']} | {health} | {pgb} | {ratio(used, health)} "
            f"| {ratio(claim['cycles_per_second'], pgb)} |"
        )
    lines += [
        "",
        '"HTTP use" is the claim cycle\'s requests per second (3 per cycle) as a '
        "share of the trivial /health view's rate at the same concurrency; \"of "
        'pgbench" compares cycles with the bare claim statement run by pgbench '
        "(BEGIN; claim; ROLLBACK).",
        "",
    ]
    latency = results["dispatch_latency"]
    health1 = results["ceilings"]["health"][1]
    lines += [
        f"**Dispatch latency** from `schedule_dts` to a long-polling worker holding "
        f"the run ({latency['count']} runs, {LATENCY_WORKERS} workers): "
        f"p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms "
        f"(/health round trip p50 {health1['p50_ms']} ms).",
        "",
        f"**Read latency**, one client, with {results['runs_small']:,} and with "
        f"{results['runs_large']:,} runs:",
        "",
        "| request | p50 small | p99 small | p50 large | p99 large | p50 large/small "
        "| p50 large / /health |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in (*results["reads_small"],):
        small, large = results["reads_small"][name], results["reads_large"][name]
        health = results["reads_large"]["health"]["p50_ms"]
        lines.append(
            f"| `{name}` | {small['p50_ms']} ms | {small['p99_ms']} ms "
            f"| {large['p50_ms']} ms | {large['p99_ms']} ms "
            f"| {large['p50_ms'] / small['p50_ms']:.2f}x "
            f"| {large['p50_ms'] / health:.1f}x |"
        )
    lines += [
        "",
        f"Loading {results['load_large']['added']:,} runs took "
        f"{results['load_large']['seconds']} s (INSERT ... SELECT generate_series, "
        "indexes rebuilt, VACUUM ANALYZE).",
    ]
    return "\n".join(lines) + "\n"


def svg(results: dict) -> str:
    """Throughput against concurrency, drawn by hand: no plotting library needed."""
    width, height, left, right, top, bottom = 640, 360, 70, 170, 30, 50
    series = [
        (
            "claim endpoint",
            "#1f77b4",
            "",
            [
                results["throughput"]["claim"][c]["cycles_per_second"]
                for c in CONCURRENCY
            ],
        ),
        (
            "seed-era PATCH",
            "#d62728",
            "",
            [
                results["throughput"]["patch"][c]["cycles_per_second"]
                for c in CONCURRENCY
            ],
        ),
        (
            "pgbench: claim",
            "#2ca02c",
            "2 3",
            [results["ceilings"]["pgbench_claim"][c]["tps"] for c in CONCURRENCY],
        ),
        (
            "/health ÷ 3",
            "#7f7f7f",
            "6 4",
            [
                results["ceilings"]["health"][c]["requests_per_second"] / 3
                for c in CONCURRENCY
            ],
        ),
    ]
    # Logarithmic: the ceiling is two orders of magnitude above the cycles.
    values = [v for *_, vs in series for v in vs if v > 0]
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i):
        return left + plot_w * i / (len(CONCURRENCY) - 1)

    def y(v):
        v = max(v, 10**low)
        return top + plot_h * (1 - (math.log10(v) - low) / (high - low))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">Run life cycles per second '
        f"vs concurrent workers (log scale)</text>",
    ]
    for decade in range(low, high + 1):
        for step in (1, 2, 5):
            value = step * 10**decade
            if value > 10**high:
                break
            colour = "#ddd" if step == 1 else "#f3f3f3"
            out.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" '
                f'y2="{y(value):.1f}" stroke="{colour}"/>'
            )
            out.append(
                f'<text x="{left - 8}" y="{y(value) + 4:.1f}" '
                f'text-anchor="end">{value:g}</text>'
            )
    for i, c in enumerate(CONCURRENCY):
        out.append(
            f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{c}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 10}" '
        f'text-anchor="middle">concurrent simulated workers</text>'
    )
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="black"/>'
    )
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}" stroke="black"/>'
    )
    for n, (label, colour, dash, values) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dashes}/>'
        )
        for i, v in enumerate(values):
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
            )
        ly = top + 20 + n * 20
        out.append(
            f'<line x1="{left + plot_w + 15}" x2="{left + plot_w + 40}" '
            f'y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        out.append(f'<text x="{left + plot_w + 45}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _int_keys(value):
    """JSON turned the concurrency keys into strings; turn them back."""
    if isinstance(value, dict):
        return {(int(k) if k.isdigit() else k): _int_keys(v) for k, v in value.items()}
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--duration",
        type=float,
        default=6.0,
        help="seconds per throughput and ceiling phase",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per read endpoint"
    )
    parser.add_argument(
        "--large", type=int, default=LARGE, help="runs in the big table"
    )
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--report", type=Path, help="only write the table and chart of this JSON"
    )
    args = parser.parse_args(argv)
    if args.report:
        results = _int_keys(json.loads(args.report.read_text()))
    else:
        started = time.monotonic()
        results = run(args)
        results["total_seconds"] = round(time.monotonic() - started, 1)
        results["machine"]["load_average_at_end"] = [
            round(x, 2) for x in os.getloadavg()
        ]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.output / "results.md").write_text(table)
    (args.output / "throughput.svg").write_text(svg(results))
    print(table)
    log(f"done in {results['total_seconds']} s; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
