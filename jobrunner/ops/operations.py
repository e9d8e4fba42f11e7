"""What the operational endpoints ask the database, cheaply.

Nothing here counts the whole run table: the states a run passes through on
its way (scheduled, in_queue, started) are few and found through the partial
indexes on unfinished runs, and completed runs, which grow without end, are
only estimated by PostgreSQL's planner.
"""

import dataclasses
import datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from jobrunner.jobs.models import Job, JobTemplate, Project, Run
from jobrunner.workers.models import WorkerPool


# Completed runs of a never analyzed table are counted up to this many.
COUNT_CAP = 10000


@dataclasses.dataclass
class RunStats:
    """Run counts by state, and how late the oldest due run is."""

    scheduled: int
    in_queue: int
    started: int
    # None where the database gives no estimate (SQLite).
    completed_estimate: int | None
    # Seconds since the oldest run that could be handed out became due; 0
    # when nothing is waiting.
    dispatch_lag: float


def check_database(dbsession: Session) -> None:
    """Raise the driver's error unless the database answers ``SELECT 1``."""
    dbsession.execute(text("SELECT 1")).scalar_one()


def _unfinished_counts(dbsession: Session) -> tuple[int, int, int]:
    # "return_dts IS NULL" is the predicate of the partial indexes on
    # unfinished runs, so this reads only them, however long the history.
    scheduled = func.count(case((Run.enqueue_dts.is_(None), 1)))
    in_queue = func.count(
        case((Run.enqueue_dts.isnot(None) & Run.start_dts.is_(None), 1))
    )
    started = func.count(case((Run.start_dts.isnot(None), 1)))
    row = dbsession.execute(
        select(scheduled, in_queue, started).where(Run.return_dts.is_(None))
    ).one()
    return row[0], row[1], row[2]


def _completed_estimate(dbsession: Session, unfinished: int) -> int | None:
    """Estimate the completed runs without reading them.

    The whole table is estimated the way PostgreSQL's planner does it (the
    tuple density of the last VACUUM or ANALYZE times the table's current
    size), less the unfinished runs, which were counted exactly. A table never
    analyzed yet is young and small, so its completed runs are counted, up to
    a cap.
    """
    if dbsession.get_bind().dialect.name != "postgresql":
        return None
    reltuples, relpages, pages = dbsession.execute(
        text(
            "SELECT reltuples, relpages, pg_relation_size(oid) / "
            "current_setting('block_size')::int FROM pg_class "
            "WHERE oid = 'run'::regclass"
        )
    ).one()
    if reltuples < 0:
        capped = select(Run.id).where(Run.return_dts.isnot(None)).limit(COUNT_CAP)
        return dbsession.scalar(select(func.count()).select_from(capped.subquery()))
    total = reltuples / relpages * pages if relpages else 0
    return max(int(total) - unfinished, 0)


def oldest_due_dts(dbsession: Session, now: datetime.datetime):
    """The due time of the oldest run that is due and may be handed out.

    Runs of disabled jobs, templates, projects or pools wait on purpose and
    are left out, so that they do not look like a dispatch backlog.
    """
    return dbsession.scalar(
        select(Run.schedule_dts)
        .join(Job, Job.id == Run.job_id)
        .join(JobTemplate, JobTemplate.id == Job.job_template_id)
        .join(Project, Project.id == JobTemplate.project_id)
        .join(WorkerPool, WorkerPool.id == Job.worker_pool_id)
        .where(
            Run.enqueue_dts.is_(None),
            Run.return_dts.is_(None),
            Run.schedule_dts <= now,
            Job.enqueue_is_enabled.is_(True),
            JobTemplate.enqueue_is_enabled.is_(True),
            Project.enqueue_is_enabled.is_(True),
            WorkerPool.enqueue_is_enabled.is_(True),
        )
        .order_by(Run.schedule_dts, Run.id)
        .limit(1)
    )


def run_stats(dbsession: Session, now: datetime.datetime) -> RunStats:
    """Count runs by state and measure the dispatch lag, as of ``now``."""
    scheduled, in_queue, started = _unfinished_counts(dbsession)
    oldest = oldest_due_dts(dbsession, now)
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return RunStats(
        scheduled=scheduled,
        in_queue=in_queue,
        started=started,
        completed_estimate=_completed_estimate(
            dbsession, scheduled + in_queue + started
        ),
        dispatch_lag=lag,
    )
