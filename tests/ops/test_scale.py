"""Horizontal scale: two server processes over one PostgreSQL, workers on both."""

import concurrent.futures
import datetime

import pytest
from sqlalchemy import insert, select

from jobrunner.db import utcnow
from jobrunner.jobs.models import Run
from tests.ops.servers import API, Client, ServerProcess


RUNS = 120
CLAIMERS = 6  # three per server, through the claim endpoint
PATCHERS = 2  # one per server, through the seed-era protocol


pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]


@pytest.fixture
def postgresql(dialect):
    if dialect != "postgresql":
        pytest.skip("several server processes share a database only on PostgreSQL")


@pytest.fixture
def two_servers(postgresql, app_settings, dbsession, tmp_path):
    servers = [
        ServerProcess(app_settings, tmp_path / f"server-{n}.log") for n in (1, 2)
    ]
    for server in servers:
        server.wait_ready()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def crowd(factory, dbsession):
    pool = factory.pool()
    workers = [factory.worker(pools=[pool]) for _ in range(CLAIMERS + PATCHERS)]
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(template, pool)
    due = utcnow() - datetime.timedelta(minutes=1)
    dbsession.execute(
        insert(Run),
        [
            {
                "job_id": job.id,
                "schedule_dts": due,
                "is_manual": True,
                "schedule_children": False,
            }
            for _ in range(RUNS)
        ],
    )
    dbsession.commit()
    return workers


def finish(client, run_id) -> None:
    now = utcnow().isoformat()
    started = client.request("PATCH", f"{API}/run/{run_id}/", {"start_dts": now})
    assert started.status_code == 202, started.text
    returned = client.request(
        "PATCH",
        f"{API}/run/{run_id}/",
        {"return_dts": now, "return_success": True, "return_log": f"run {run_id}\n"},
    )
    assert returned.status_code == 202, returned.text


def claim_and_run(client) -> list[int]:
    done = []
    while True:
        response = client.request("POST", f"{API}/run/claim/", {"limit": 2})
        assert response.status_code == 200, response.text
        ids = [run["id"] for run in response.json()["objects"]]
        if not ids:
            return done
        for run_id in ids:
            finish(client, run_id)
        done += ids


def poll_patch_and_run(client) -> list[int]:
    done = []
    while True:
        listed = client.request("GET", f"{API}/run/?state=scheduled&limit=1")
        assert listed.status_code == 200, listed.text
        if not listed.json()["objects"]:
            return done
        run_id = listed.json()["objects"][0]["id"]
        claimed = client.request(
            "PATCH", f"{API}/run/{run_id}/", {"enqueue_dts": utcnow().isoformat()}
        )
        assert claimed.status_code in (202, 409), claimed.text
        if claimed.status_code == 202:
            finish(client, run_id)
            done.append(run_id)


def test_two_servers_dispatch_every_run_exactly_once(two_servers, crowd, dbsession):
    jobs = []
    for n, worker in enumerate(crowd):
        server = two_servers[n % 2]
        work = claim_and_run if n < CLAIMERS else poll_patch_and_run
        jobs.append((worker, work, Client(server.url, worker)))

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        done = list(pool.map(lambda job: (job[0].id, job[1](job[2])), jobs))

    ran = [run_id for _, ids in done for run_id in ids]
    assert len(ran) == RUNS
    assert len(set(ran)) == RUNS
    dbsession.expire_all()
    runs = {run.id: run for run in dbsession.scalars(select(Run))}
    assert set(runs) == set(ran)
    for worker_id, ids in done:
        for run_id in ids:
            assert runs[run_id].worker_id == worker_id
            assert runs[run_id].return_success is True
            assert runs[run_id].run_log.content == f"run {run_id}\n"
    # Both servers handed out runs.
    claimed = [ids for _, ids in done[:CLAIMERS]]
    assert any(claimed[0::2]) and any(claimed[1::2])
