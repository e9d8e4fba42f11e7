"""The hot path's cost in database round trips, counted statement by statement.

Claiming, starting and returning a run are what every worker does all day;
each statement is a round trip to the database and a share of the server's
time. These counts are the budget: a change that adds a query to the hot path
fails here and has to say why.
"""

import datetime
import json

import pytest
import sqlalchemy as sa

from jobrunner.db import utcnow
from tests.functional.lifecycle_helpers import patch, schedule_first_run


API = "/api/job_runner/v1"


@pytest.fixture
def statements(dbengine):
    """The statements the application sends, without BEGIN and COMMIT."""
    sent = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        # SQLite's BEGIN IMMEDIATE goes through the cursor; it is no query.
        if not statement.startswith("BEGIN"):
            sent.append(" ".join(statement.split())[:80])

    sa.event.listen(dbengine, "before_cursor_execute", grab)
    yield sent
    sa.event.remove(dbengine, "before_cursor_execute", grab)


@pytest.fixture
def due_run(factory, dbsession):
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(
        template, pool, reschedule_interval=1, reschedule_interval_type="HOUR"
    )
    earlier = utcnow() - datetime.timedelta(minutes=1)
    (run,) = schedule_first_run(dbsession, job, now=earlier)
    return {"worker": worker, "run": run}


def test_a_life_cycle_through_the_claim_endpoint(due_run, sign, statements, dialect):
    worker = sign(due_run["worker"])
    run_id = due_run["run"].id

    statements.clear()
    claimed = worker.request(
        "POST", f"{API}/run/claim/", json.dumps({"limit": 1}), status=200
    )
    claim = list(statements)
    now = utcnow()
    statements.clear()
    patch(worker, run_id, start_dts=now, pid=42)
    start = list(statements)
    statements.clear()
    patch(worker, run_id, return_dts=now, return_success=True, return_log="done\n")
    returned = list(statements)

    assert [run["id"] for run in claimed.json["objects"]] == [run_id]
    # Who is calling; the claim itself (SQLite's RETURNING cannot join the
    # job, so it selects the due ids first and the scripts after).
    assert len(claim) == (2 if dialect == "postgresql" else 4), claim
    # Who is calling; the run, locked; its new times.
    assert len(start) == 3, start
    # Who is calling; the run, locked; the job, locked; the run's times; its
    # log, read then written; whether a run is pending and when the last was
    # due; the next run.
    assert len(returned) == 8, returned
