"""Many workers at once, over real HTTP: every run is claimed exactly once."""

import concurrent.futures
import datetime
import json

import pytest
import requests
from sqlalchemy import func, insert, select, text

from jobrunner import signing
from jobrunner.db import utcnow
from jobrunner.jobs import operations
from jobrunner.jobs.models import Run
from tests.functional.lifecycle_helpers import (
    lifecycle,
    pending_runs,
    schedule_first_run,
)


API = "/api/job_runner/v1"
RUNS = 80
WORKERS = 8


class Client:
    """A minimal signed HTTP client, as a worker daemon would have."""

    def __init__(self, base_url, credential):
        self.base_url = base_url
        self.api_key = credential.api_key
        self.secret = credential.secret
        self.session = requests.Session()

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        prepared = requests.Request(
            method,
            self.base_url + path,
            data=data,
            headers={"Content-Type": "application/json"},
        ).prepare()
        prepared.headers["Authorization"] = signing.authorization_header(
            self.api_key, self.secret, method, prepared.path_url, data
        )
        return self.session.send(prepared, timeout=30)


@pytest.fixture
def crowd(factory, dbsession):
    pool = factory.pool()
    workers = [factory.worker(pools=[pool]) for _ in range(WORKERS)]
    project = factory.project(pools=[pool])
    template = factory.template(project)
    job = factory.job(template, pool)
    due = utcnow() - datetime.timedelta(minutes=1)
    dbsession.execute(
        insert(Run),
        [
            {
                "job_id": job.id,
                "schedule_dts": due,
                "is_manual": True,
                "schedule_children": True,
            }
            for _ in range(RUNS)
        ],
    )
    dbsession.commit()
    return {"pool": pool, "workers": workers, "template": template, "job": job}


def _run_in_threads(function, workers):
    with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
        return list(pool.map(function, workers))


def _assert_each_run_claimed_once(dbsession, claims):
    claimed = [run_id for _, ids in claims for run_id in ids]
    assert len(claimed) == RUNS
    assert len(set(claimed)) == RUNS
    dbsession.expire_all()
    owners = {r.id: r.worker_id for r in dbsession.query(Run)}
    for worker_id, ids in claims:
        assert all(owners[run_id] == worker_id for run_id in ids)


def test_the_claim_endpoint_never_hands_a_run_out_twice(crowd, live_server, dbsession):
    def work(worker):
        client = Client(live_server, worker)
        ids = []
        while True:
            response = client.request("POST", f"{API}/run/claim/", {"limit": 3})
            assert response.status_code == 200, response.text
            batch = [r["id"] for r in response.json()["objects"]]
            if not batch:
                return worker.id, ids
            ids += batch

    claims = _run_in_threads(work, crowd["workers"])

    _assert_each_run_claimed_once(dbsession, claims)


def test_the_seed_era_patch_protocol_never_hands_a_run_out_twice(
    crowd, live_server, dbsession
):
    def work(worker):
        client = Client(live_server, worker)
        ids = []
        while True:
            listed = client.request("GET", f"{API}/run/?state=scheduled&limit=1")
            assert listed.status_code == 200, listed.text
            objects = listed.json()["objects"]
            if not objects:
                return worker.id, ids
            run_id = objects[0]["id"]
            response = client.request(
                "PATCH", f"{API}/run/{run_id}/", {"enqueue_dts": utcnow().isoformat()}
            )
            assert response.status_code in (202, 409), response.text
            if response.status_code == 202:
                ids.append(run_id)

    claims = _run_in_threads(work, crowd["workers"])

    _assert_each_run_claimed_once(dbsession, claims)


def test_concurrent_duplicate_returns_reschedule_exactly_once(
    factory, dbsession, live_server
):
    pool = factory.pool()
    worker = factory.worker(pools=[pool])
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(
        template, pool, reschedule_interval=1, reschedule_interval_type="HOUR"
    )
    (run,) = schedule_first_run(
        dbsession, job, utcnow() - datetime.timedelta(minutes=1)
    )
    client = Client(live_server, worker)
    now = utcnow().isoformat()
    client.request(
        "PATCH", f"{API}/run/{run.id}/", {"enqueue_dts": now, "start_dts": now}
    )
    report = {"return_dts": now, "return_success": True, "return_log": "ok"}

    statuses = _run_in_threads(
        lambda _: client.request("PATCH", f"{API}/run/{run.id}/", report).status_code,
        range(WORKERS),
    )

    assert statuses == [202] * WORKERS
    assert len(pending_runs(dbsession, job)) == 1


def test_concurrent_sibling_returns_reschedule_exactly_once(
    factory, dbsession, live_server
):
    pool = factory.pool()
    workers = [factory.worker(pools=[pool]) for _ in range(WORKERS)]
    template = factory.template(factory.project(pools=[pool]))
    job = factory.job(
        template,
        pool,
        reschedule_interval=1,
        reschedule_interval_type="HOUR",
        run_on_all_workers=True,
    )
    runs = schedule_first_run(dbsession, job, utcnow() - datetime.timedelta(minutes=1))
    run_of = {r.worker_id: r.id for r in runs}
    schedule_id = runs[0].schedule_id

    def finish(worker):
        client = Client(live_server, worker)
        now = utcnow().isoformat()
        return client.request(
            "PATCH",
            f"{API}/run/{run_of[worker.id]}/",
            {
                "enqueue_dts": now,
                "start_dts": now,
                "return_dts": now,
                "return_success": True,
            },
        ).status_code

    statuses = _run_in_threads(finish, workers)

    assert statuses == [202] * WORKERS
    new = [r for r in pending_runs(dbsession, job) if r.schedule_id != schedule_id]
    assert len(new) == WORKERS
    assert len({r.schedule_id for r in new}) == 1


def test_a_claim_never_takes_more_than_its_limit_whatever_the_plan(
    dialect, crowd, dbsession
):
    """A plan that rescans the locking subquery for every row it joins (forced
    here) must not lock and hand out the next due runs on each rescan."""
    if dialect != "postgresql":
        pytest.skip("SQLite claims in plain statements, with no planner in the way")
    for setting in (
        "enable_hashjoin",
        "enable_mergejoin",
        "enable_material",
        "enable_hashagg",
        "enable_sort",
    ):
        dbsession.execute(text(f"SET LOCAL {setting} = off"))
    worker = crowd["workers"][0]
    lc = lifecycle(dbsession)

    claimed = operations.claim(lc, worker.id, [crowd["pool"].id], limit=3)

    assert len(claimed) == 3
    claimed_in_database = dbsession.scalar(
        select(func.count()).select_from(Run).where(Run.enqueue_dts.is_not(None))
    )
    assert claimed_in_database == 3
