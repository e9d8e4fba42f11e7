"""Creating workers and pools."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobrunner.accounts.operations import new_credentials
from jobrunner.workers.models import Worker, WorkerPool


def get_or_create_pool(dbsession: Session, title: str) -> WorkerPool:
    pool = dbsession.scalars(select(WorkerPool).where(WorkerPool.title == title)).first()
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
