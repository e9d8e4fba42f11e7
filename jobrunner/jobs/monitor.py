"""Periodic duties: fail the runs of silent workers, report silent pools.

Several monitors may run at once, on several machines. Each duty locks the
rows it acts on with ``FOR UPDATE SKIP LOCKED``, so two monitors never handle
the same run or pool twice: the second one skips what the first holds, and
finds it done on its next pass.
"""

import datetime
import logging

from sqlalchemy import and_, or_, select

from jobrunner.jobs import operations
from jobrunner.jobs.models import Run
from jobrunner.jobs.operations import Lifecycle
from jobrunner.notifications import recipients
from jobrunner.workers.models import Worker, WorkerPool


log = logging.getLogger(__name__)

BATCH = 100


def _silent_worker_ids(cutoff: datetime.datetime):
    return select(Worker.id).where(
        or_(Worker.ping_response_dts.is_(None), Worker.ping_response_dts < cutoff)
    )


def fail_runs_of_silent_workers(
    lc: Lifecycle, silent_after: datetime.timedelta
) -> list[int]:
    """Mark failed the unfinished runs of workers that stopped sending heartbeats.

    Failing them goes through the normal report path, so the job is
    rescheduled, its children and fail streak handled, and people told.
    A run claimed less than ``silent_after`` ago is left alone even if its
    worker has never pinged, to give a starting worker time for a heartbeat.
    A run meant for a silent worker that never claimed it (a job that runs on
    every worker of its pool) is failed too once it has been due that long:
    nobody else may take it, and the schedule waits for every sibling.
    """
    cutoff = lc.now - silent_after
    runs = lc.dbsession.scalars(
        select(Run)
        .where(
            Run.return_dts.is_(None),
            or_(
                Run.enqueue_dts < cutoff,
                and_(Run.enqueue_dts.is_(None), Run.schedule_dts < cutoff),
            ),
            Run.worker_id.in_(_silent_worker_ids(cutoff)),
        )
        .order_by(Run.id)
        .limit(BATCH)
        .with_for_update(of=Run, skip_locked=True)
    ).all()
    for run in runs:
        what = "this run" if run.enqueue_dts else "this run, meant for it,"
        note = (
            f"\n[jobrunner monitor] worker {run.worker_id} sent no heartbeat since "
            f"{cutoff.isoformat()}; {what} is marked failed.\n"
        )
        received = run.run_log.received_bytes if run.run_log else 0
        operations.append_log(lc, run, received, note)
        report = {"return_dts": lc.now, "return_success": False}
        if run.enqueue_dts is None:
            report["enqueue_dts"] = lc.now
        operations.report(lc, run, report, worker_id=None)
        log.warning("run %s of silent worker %s marked failed", run.id, run.worker_id)
    return [run.id for run in runs]


def report_silent_pools(lc: Lifecycle, silent_after: datetime.timedelta) -> list[int]:
    """Tell people once when every worker of a pool has gone silent."""
    cutoff = lc.now - silent_after
    pools = lc.dbsession.scalars(
        select(WorkerPool)
        .where(WorkerPool.workers.any())
        .order_by(WorkerPool.id)
        .with_for_update(of=WorkerPool, skip_locked=True)
    ).all()
    reported = []
    for pool in pools:
        silent = all(
            w.ping_response_dts is None or w.ping_response_dts < cutoff
            for w in pool.workers
        )
        if not silent:
            pool.unresponsive_notice_dts = None
            continue
        if pool.unresponsive_notice_dts is not None:
            continue  # Told already during this outage.
        pool.unresponsive_notice_dts = lc.now
        lc.notifier.send(
            f"Worker pool {pool.title!r} is not responding",
            f"None of the {len(pool.workers)} workers of pool {pool.title!r} sent "
            f"a heartbeat since {cutoff.isoformat()}. Their jobs are not run "
            "until a worker is back.",
            recipients(pool.notification_addresses),
        )
        log.warning("worker pool %s (%s) is not responding", pool.id, pool.title)
        reported.append(pool.id)
    return reported
