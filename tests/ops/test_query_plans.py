"""The hot statements stay index scans when the run table holds a long history.

Each test sends a real request, captures the SQL the application sent for it,
and asks PostgreSQL how it would run each statement over a run table of
60,000 completed runs. No statement may read the run or run_log table from
end to end: such a plan costs time in proportion to the history, which is
what the reads must never do.
"""

import datetime
import json
import re

import pytest
import sqlalchemy as sa

from jobrunner.db import utcnow


pytestmark = pytest.mark.postgresql_only

API = "/api/job_runner/v1"
HISTORY = 60_000
JOBS = 300


@pytest.fixture(autouse=True)
def _postgresql(dialect):
    if dialect != "postgresql":
        pytest.skip("query plans are PostgreSQL's")


@pytest.fixture
def history(factory, dbengine):
    """Jobs with a long completed history, a few due runs, and fresh statistics."""
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    template = factory.template(factory.project(pools=[pool]))
    jobs = [factory.job(template, pool) for _ in range(3)]
    with dbengine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO job (job_template_id, worker_pool_id, title, "
                "description, script_content_partial, script_content, "
                "enqueue_is_enabled, reschedule_type, timezone, "
                "run_on_all_workers, schedule_children_on_error, "
                "notification_addresses, fail_times, version) "
                "SELECT :template, :pool, 'history-' || g, '', 'true', 'true', "
                "true, 'AFTER_SCHEDULE_DTS', 'UTC', false, false, '[]', 0, 1 "
                "FROM generate_series(1, :jobs) AS g"
            ),
            {"template": template.id, "pool": pool.id, "jobs": JOBS},
        )
        connection.execute(
            sa.text(
                "INSERT INTO run (job_id, worker_id, schedule_dts, enqueue_dts, "
                "start_dts, return_dts, return_success, is_manual, "
                "schedule_children) "
                "SELECT ids[1 + g % cardinality(ids)], :worker, at, at, at, "
                "at + interval '5 seconds', g % 7 <> 0, false, true "
                "FROM generate_series(1, :runs) AS g, "
                "(SELECT array_agg(id) AS ids FROM job) AS jobs, "
                "LATERAL (SELECT now() - g * interval '1 minute' AS at) AS t"
            ),
            {"worker": worker.id, "runs": HISTORY},
        )
        connection.execute(
            sa.text(
                "INSERT INTO run_log (run_id, content, received_bytes, omitted_bytes) "
                "SELECT id, 'output', 6, 0 FROM run WHERE id % 5 = 0"
            )
        )
    for job in jobs:
        factory.run(job, schedule_dts=utcnow() - datetime.timedelta(seconds=5))
    with dbengine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("ANALYZE"))
    return {"worker": worker, "job": jobs[0], "run_id": _a_run_in_the_middle(dbengine)}


def _a_run_in_the_middle(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT id FROM run ORDER BY id OFFSET 30000"))


@pytest.fixture
def statements(dbengine):
    """The statements the application sends while the test runs."""
    sent = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE")):
            sent.append((statement, parameters))

    sa.event.listen(dbengine, "before_cursor_execute", grab)
    yield sent
    sa.event.remove(dbengine, "before_cursor_execute", grab)


def full_scans(engine, sent) -> list[str]:
    """The plan lines that read the run or run_log table from end to end."""
    found = []
    with engine.connect() as connection:
        for statement, parameters in sent:
            plan = connection.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters
            ).scalar()
            if isinstance(plan, str):
                plan = json.loads(plan)
            found.extend(
                f"{node['Node Type']} on {node['Relation Name']}: {statement[:120]}"
                for node in _nodes(plan[0]["Plan"])
                if node["Node Type"] in ("Seq Scan", "Bitmap Heap Scan")
                and node["Relation Name"] in ("run", "run_log")
                and not _bounded(node)
            )
        connection.rollback()
    return found


def _nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _bounded(node) -> bool:
    # A bitmap scan of one job's runs reads that job's rows, not the table.
    return node["Node Type"] == "Bitmap Heap Scan" and bool(
        re.search(r"job_id = ", node.get("Recheck Cond", ""))
    )


@pytest.mark.parametrize(
    "query",
    [
        "run/?state=scheduled&schedule_dts__lte={now}&limit=20",
        "run/?job={job}&limit=20",
        "run/?job={job}&limit=20&offset=100&order_by=-schedule_dts",
        "run/?state=last_completed",
        "run/?state=completed_with_errors&job={job}",
        "run/?state=completed&limit=20",
        "run/?state=completed&limit=20&offset=40",
        "run/?return_success=false&limit=20",
        "run/?worker={worker}&limit=20&offset=20",
        "run/?enqueue_dts__gte={hour_ago}&order_by=-enqueue_dts",
        "run/?start_dts__lt={now}&order_by=start_dts&limit=20",
        "run/?order_by=-return_dts&limit=20",
        "run/{run}/",
        "run_log/?run={run}",
        "job/{job}/",
    ],
)
def test_a_read_scans_no_whole_table(
    history, statements, dbengine, sign, factory, query
):
    admin = sign(factory.admin_key())
    path = query.format(
        now=utcnow().isoformat().replace("+", "%2B"),
        hour_ago=(utcnow() - datetime.timedelta(hours=1))
        .isoformat()
        .replace("+", "%2B"),
        job=history["job"].id,
        worker=history["worker"].id,
        run=history["run_id"],
    )
    statements.clear()

    admin.get(f"{API}/{path}", status=200)

    assert statements
    assert full_scans(dbengine, statements) == []


def test_a_claim_scans_no_whole_table(history, statements, dbengine, sign):
    worker = sign(history["worker"])
    statements.clear()

    response = worker.request(
        "POST", f"{API}/run/claim/", json.dumps({"limit": 2}), status=200
    )

    assert len(response.json["objects"]) == 2
    assert full_scans(dbengine, statements) == []
