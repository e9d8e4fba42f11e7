"""Creating workers and pools."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobrunner.accounts.operations import new_credentials
from jobrunner.exceptions import DomainError
from jobrunner.jobs import operations
from jobrunner.jobs.models import Job, Run
from jobrunner.records import assign, ensure_unique, related_list
from jobrunner.workers.models import Worker, WorkerPool


def get_or_create_pool(dbsession: Session, title: str) -> WorkerPool:
    pool = dbsession.scalars(
        select(WorkerPool).where(WorkerPool.title == title)
    ).first()
    if pool is None:
        pool = WorkerPool(title=title)
        dbsession.add(pool)
    return pool


def create_worker(
    dbsession: Session, title: str, pools: list[str] = (), concurrent_jobs: int = 4
) -> Worker:
    """Create a worker with fresh credentials, in the named pools."""
    api_key, secret = new_credentials()
    worker = Worker(
        title=title,
        api_key=api_key,
        secret=secret,
        concurrent_jobs=concurrent_jobs,
        pools=[get_or_create_pool(dbsession, name) for name in pools],
    )
    dbsession.add(worker)
    dbsession.flush()
    return worker


# -- the management API ---------------------------------------------------------


def save_pool(lc, pool: WorkerPool, values: dict) -> WorkerPool:
    assign(
        pool,
        values,
        ("title", "description", "notification_addresses", "enqueue_is_enabled"),
    )
    ensure_unique(lc, pool, "title", WorkerPool.title == pool.title)
    return pool


def create_pool(lc, values: dict) -> WorkerPool:
    pool = WorkerPool()
    lc.dbsession.add(pool)
    return save_pool(lc, pool, values)


def delete_pool(lc, pool: WorkerPool) -> None:
    if lc.dbsession.scalar(
        select(Job.id).where(Job.worker_pool_id == pool.id).limit(1)
    ):
        raise DomainError(
            "conflict", "id", "Jobs use this worker pool; move them first."
        )
    lc.dbsession.delete(pool)


def save_worker(lc, worker: Worker, values: dict) -> Worker:
    was_enabled = worker.id is not None and worker.enqueue_is_enabled
    old_pools = {pool.id for pool in worker.pools} if worker.id is not None else set()
    assign(
        worker,
        values,
        ("title", "description", "enqueue_is_enabled", "concurrent_jobs"),
    )
    if "worker_pools" in values:
        worker.pools = related_list(
            lc, WorkerPool, values["worker_pools"], "worker_pools"
        )
    # Runs waiting for this worker alone (jobs that run on all workers) go
    # back to the others when it may no longer take them.
    if was_enabled and not worker.enqueue_is_enabled:
        lc.dbsession.flush()
        operations.release_worker_runs(lc, worker)
    elif old_pools - {pool.id for pool in worker.pools}:
        lc.dbsession.flush()
        operations.release_worker_runs(
            lc, worker, sorted(old_pools - {pool.id for pool in worker.pools})
        )
    return worker


def create_worker_from(lc, values: dict) -> Worker:
    api_key, secret = new_credentials()
    worker = Worker(api_key=api_key, secret=secret)
    lc.dbsession.add(worker)
    return save_worker(lc, worker, values)


def rotate_secret(lc, worker: Worker) -> str:
    """Give a worker a new secret; the old one stops working at once."""
    worker.secret = new_credentials()[1]
    return worker.secret


def delete_worker(lc, worker: Worker) -> None:
    busy = lc.dbsession.scalar(
        select(Run.id)
        .where(
            Run.worker_id == worker.id,
            Run.enqueue_dts.isnot(None),
            Run.return_dts.is_(None),
        )
        .limit(1)
    )
    if busy:
        raise DomainError("conflict", "id", "The worker holds unfinished runs.")
    worker.enqueue_is_enabled = False
    lc.dbsession.flush()
    operations.release_worker_runs(lc, worker)
    lc.dbsession.delete(worker)
