"""The run life cycle, in one place: claiming, reporting, rescheduling, chains.

The claim endpoint, the PATCH of a run, the monitor and the admin command all
come through here, so "every due run is executed exactly once" has one
implementation. Nothing here knows about HTTP: problems are raised as
:class:`LifecycleError` with a kind that the views map to a status code.

Concurrency, in short:

* claiming locks candidate runs with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
  and sets ``enqueue_dts`` only where it is still empty, so two workers never
  get the same run; on SQLite every transaction takes the write lock when it
  begins (see :mod:`jobrunner.db`), which serialises claims;
* reporting locks the run's row, then the job's row before rescheduling, so
  duplicate or concurrent returns of one run, or of sibling runs of one
  schedule, reschedule exactly once;
* the unique index ``uq_run_pending_scheduled`` backs this up: a second pending
  scheduled run for a job cannot be stored, however the race went.
"""

import dataclasses
import datetime
import functools
import logging
import re
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, bindparam, func, inspect, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from jobrunner.exceptions import DomainError
from jobrunner.jobs import scheduling
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    KillRequest,
    Project,
    RescheduleExclude,
    Run,
    RunLog,
)
from jobrunner.notifications import Notifier, recipients
from jobrunner.ops import metrics
from jobrunner.workers.models import Worker, WorkerPool


log = logging.getLogger(__name__)

LOG_TRUNCATION_MARKER = (
    "\n\n[... jobrunner: output truncated, the middle of this log was dropped ...]\n\n"
)
_PLACEHOLDER = re.compile(r"\{\{\s*content\s*\}\}")


class LifecycleError(DomainError):
    """A life-cycle step that is refused (see :class:`DomainError` for kinds)."""


@dataclasses.dataclass
class Lifecycle:
    """What the operations need from their caller: a session, the time, mail."""

    dbsession: Session
    now: datetime.datetime
    notifier: Notifier
    log_max_bytes: int = 1024 * 1024
    max_clock_skew: datetime.timedelta = datetime.timedelta(minutes=5)

    @property
    def is_postgresql(self) -> bool:
        return self.dbsession.get_bind().dialect.name == "postgresql"


# -- scripts and schedules ---------------------------------------------------


def has_placeholder(template_body: str) -> bool:
    """Whether a template has the ``{{ content }}`` where a job's part goes."""
    return _PLACEHOLDER.search(template_body) is not None


def render_script(template_body: str, partial: str) -> str:
    """Put a job's own part into its template where ``{{ content }}`` stands."""
    return _PLACEHOLDER.sub(lambda _: partial, template_body)


def schedule_of(job: Job) -> scheduling.Schedule:
    interval_type = job.reschedule_interval_type
    return scheduling.Schedule(
        interval=job.reschedule_interval,
        interval_type=scheduling.IntervalType(interval_type) if interval_type else None,
        reschedule_type=scheduling.RescheduleType(job.reschedule_type),
        cron=job.cron_expression or None,
        timezone=job.timezone or "UTC",
    )


def excludes_of(job: Job) -> list[scheduling.ExcludeWindow]:
    return [
        scheduling.ExcludeWindow(start=e.start_time, end=e.end_time)
        for e in job.reschedule_excludes
    ]


def job_addresses(job: Job) -> list[str]:
    """Everyone told about a job: its own addresses, template, project, pool."""
    template = job.job_template
    return recipients(
        job.notification_addresses,
        template.notification_addresses,
        template.project.notification_addresses,
        job.worker_pool.notification_addresses,
    )


# -- creating runs -------------------------------------------------------------


def _worker_slots(lc: Lifecycle, job: Job) -> list[int | None]:
    """Who the runs of one occurrence go to: anyone, or each enabled worker."""
    if not job.run_on_all_workers:
        return [None]
    worker_ids = [w.id for w in job.worker_pool.workers if w.enqueue_is_enabled]
    # A pool with no enabled workers still gets a run, which the first worker
    # to join takes, instead of the job silently stopping.
    return worker_ids or [None]


def _create_runs(
    lc: Lifecycle,
    job: Job,
    schedule_dts: datetime.datetime,
    *,
    is_manual: bool,
    schedule_children: bool = True,
) -> list[Run]:
    slots = _worker_slots(lc, job)
    schedule_id = uuid.uuid4().hex if job.run_on_all_workers else None
    runs = [
        Run(
            job_id=job.id,
            worker_id=worker_id,
            schedule_id=schedule_id,
            schedule_dts=schedule_dts,
            is_manual=is_manual,
            schedule_children=schedule_children,
        )
        for worker_id in slots
    ]
    lc.dbsession.add_all(runs)
    lc.dbsession.flush()
    return runs


@functools.cache
def _schedule_position_statement():
    scheduled = (Run.job_id == bindparam("job_id"), Run.is_manual.is_(False))
    pending = select(Run.id).where(*scheduled, Run.return_dts.is_(None)).exists()
    previous = (
        select(Run.schedule_dts)
        .where(*scheduled)
        .order_by(Run.schedule_dts.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(pending, previous)


def _schedule_position(lc: Lifecycle, job_id: int):
    """Whether the job has an unfinished scheduled run, and its latest schedule.

    One round trip for both questions that rescheduling asks; each is one
    probe of the index on (job_id, schedule_dts).
    """
    return lc.dbsession.execute(
        _schedule_position_statement(), {"job_id": job_id}
    ).one()


def schedule_next(
    lc: Lifecycle, job: Job, return_dts: datetime.datetime | None = None
) -> list[Run]:
    """Create the job's next scheduled run(s), unless one is pending already.

    The caller holds the job's row lock, so no one else schedules the job
    between the check and the insert.
    """
    schedule = schedule_of(job)
    if not schedule.is_scheduled:
        return []
    pending, previous = _schedule_position(lc, job.id)
    if pending:
        return []
    try:
        next_dts = scheduling.next_run_dts(
            schedule,
            now=lc.now,
            previous_schedule_dts=previous,
            return_dts=return_dts,
            anchor_dts=job.schedule_anchor_dts,
            excludes=excludes_of(job),
        )
    except scheduling.ScheduleError as error:
        log.warning(
            "job %s (%s) could not be rescheduled: %s", job.id, job.title, error
        )
        lc.notifier.send(
            f"Job {job.title!r} could not be rescheduled",
            f"The job {job.title!r} (id {job.id}) has no next run: {error}.\n"
            "Change its schedule or its exclude windows to schedule it again.",
            job_addresses(job),
        )
        return []
    if next_dts is None:
        return []
    if job.schedule_anchor_dts is None and schedule.interval:
        # Later runs count from here, which keeps the phase and month ends.
        job.schedule_anchor_dts = next_dts
    runs = _create_runs(lc, job, next_dts, is_manual=False)
    log.info("job %s (%s) scheduled at %s", job.id, job.title, next_dts.isoformat())
    return runs


def ensure_scheduled(lc: Lifecycle, job: Job) -> list[Run]:
    """Give a scheduled job its next run if it has none pending.

    Used when a job is created, re-enabled or has its schedule changed.
    """
    _lock_job(lc, job.id)
    return schedule_next(lc, job)


def create_manual_run(
    lc: Lifecycle, job: Job, schedule_children: bool = True
) -> list[Run]:
    """Run a job now, outside its schedule, which it leaves alone."""
    runs = _create_runs(
        lc, job, lc.now, is_manual=True, schedule_children=schedule_children
    )
    log.info("manual run of job %s (%s) created", job.id, job.title)
    return runs


def replace_pending_runs(lc: Lifecycle, job: Job) -> None:
    """Hand the job's unclaimed scheduled runs to whoever may take them now.

    Called when a job moves to another pool or starts or stops running on
    all workers: the runs of its next occurrence were made for the workers
    of that time. They are replaced by runs for today's workers, due at the
    same time, unless part of the occurrence has been claimed already, in
    which case it ends as its claimed runs return.
    """
    job = _lock_job(lc, job.id)
    unclaimed = lc.dbsession.scalars(
        select(Run).where(
            Run.job_id == job.id,
            Run.is_manual.is_(False),
            Run.enqueue_dts.is_(None),
            Run.return_dts.is_(None),
        )
    ).all()
    if not unclaimed:
        schedule_next(lc, job)
        return
    for run in unclaimed:
        lc.dbsession.delete(run)
    lc.dbsession.flush()
    schedule_id = unclaimed[0].schedule_id
    served = schedule_id is not None and _siblings(lc, schedule_id)
    if not served:
        _create_runs(lc, job, unclaimed[0].schedule_dts, is_manual=False)
    elif all(s.return_dts is not None for s in served):
        finish_schedule(lc, _last_returned(served), job)


def release_worker_runs(
    lc: Lifecycle, worker: Worker, pool_ids: Sequence[int] | None = None
) -> None:
    """Take back a worker's unclaimed runs after it left pools or was disabled.

    Only jobs that run on all workers give a worker runs of its own before it
    claims them. Those of jobs in ``pool_ids`` (every pool when None) are
    deleted: the occurrence goes on with the other workers, ends now if they
    all returned already, and is made again for today's workers if this one
    was its only worker.
    """
    query = select(Run).where(
        Run.worker_id == worker.id,
        Run.is_manual.is_(False),
        Run.enqueue_dts.is_(None),
        Run.return_dts.is_(None),
    )
    if pool_ids is not None:
        query = query.where(
            Run.job_id.in_(select(Job.id).where(Job.worker_pool_id.in_(pool_ids)))
        )
    for run in lc.dbsession.scalars(query).all():
        job = _lock_job(lc, run.job_id)
        lc.dbsession.delete(run)
        lc.dbsession.flush()
        lc.dbsession.expire(job.worker_pool, ["workers"])
        siblings = _siblings(lc, run.schedule_id) if run.schedule_id else []
        if not siblings:
            _create_runs(lc, job, run.schedule_dts, is_manual=False)
        elif all(s.return_dts is not None for s in siblings):
            finish_schedule(lc, _last_returned(siblings), job)


def _last_returned(runs: list[Run]) -> Run:
    return max(runs, key=lambda run: (run.return_dts, run.id))


def _siblings(lc: Lifecycle, schedule_id: str) -> list[Run]:
    return lc.dbsession.scalars(
        select(Run).where(Run.schedule_id == schedule_id).order_by(Run.id)
    ).all()


# -- claiming --------------------------------------------------------------------


def dispatchable(worker_id: int, pool_ids: Sequence[int]):
    """The conditions under which a run may be handed to this worker.

    The worker and everything above the run must have enqueueing enabled, the
    job must be in one of the worker's pools, and a run meant for one worker
    of an all-workers job goes to that worker only.
    """
    worker_enabled = (
        select(Worker.enqueue_is_enabled)
        .where(Worker.id == worker_id)
        .scalar_subquery()
    )
    return and_(
        # Uncorrelated: evaluated once per statement, not once per row.
        worker_enabled.is_(True),
        Job.id == Run.job_id,
        Job.worker_pool_id.in_(pool_ids),
        Job.enqueue_is_enabled.is_(True),
        JobTemplate.id == Job.job_template_id,
        JobTemplate.enqueue_is_enabled.is_(True),
        Project.id == JobTemplate.project_id,
        Project.enqueue_is_enabled.is_(True),
        WorkerPool.id == Job.worker_pool_id,
        WorkerPool.enqueue_is_enabled.is_(True),
        or_(Run.worker_id.is_(None), Run.worker_id == worker_id),
    )


@functools.cache
def _claim_statement(postgresql: bool):
    """The claim, built once: building it costs more Python than running it.

    Its values are bound parameters: ``now``, ``worker_id``, ``pool_ids`` and
    ``limit``. On SQLite it only selects the due ids; see :func:`claim`.
    """
    worker_id = bindparam("worker_id")
    due = (
        select(Run.id)
        .where(
            Run.enqueue_dts.is_(None),
            Run.return_dts.is_(None),
            Run.schedule_dts <= bindparam("now"),
            dispatchable(worker_id, bindparam("pool_ids", expanding=True)),
        )
        .order_by(Run.schedule_dts, Run.id)
        .limit(bindparam("limit"))
    )
    if not postgresql:
        return due
    # MATERIALIZED: the locking subquery runs exactly once. As a plain
    # subquery the planner may rescan it inside a join, and each rescan skips
    # the rows locked so far and locks the next ones, handing out more than
    # ``limit`` runs.
    due = (
        due.with_for_update(of=Run, skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    return (
        update(Run)
        .where(Run.id == due.c.id, Run.enqueue_dts.is_(None), Job.id == Run.job_id)
        .values(enqueue_dts=bindparam("now"), worker_id=worker_id)
        .returning(Run, Job.title, Job.script_content)
    )


def claim(
    lc: Lifecycle, worker_id: int, pool_ids: Sequence[int], limit: int
) -> list[tuple[Run, str, str]]:
    """Claim up to ``limit`` due runs for a worker, oldest first.

    Returns (run, job title, rendered script) for each. One statement on
    PostgreSQL: the due runs are locked with SKIP LOCKED, so concurrent claims
    pass each other by instead of waiting, and updated in the same statement.
    """
    if not pool_ids or limit < 1:
        return []
    values = {
        "now": lc.now,
        "worker_id": worker_id,
        "pool_ids": list(pool_ids),
        "limit": limit,
    }
    statement = _claim_statement(lc.is_postgresql)
    if lc.is_postgresql:
        rows = lc.dbsession.execute(
            statement, values, execution_options={"synchronize_session": False}
        ).all()
    else:
        # SQLite's RETURNING cannot read the joined job, so it takes two more
        # statements; its write lock already serialises the claim.
        ids = lc.dbsession.scalars(statement, values).all()
        if not ids:
            return []
        runs = lc.dbsession.scalars(
            update(Run)
            .where(Run.id.in_(ids), Run.enqueue_dts.is_(None))
            .values(enqueue_dts=lc.now, worker_id=worker_id)
            .returning(Run),
            execution_options={"synchronize_session": False},
        ).all()
        jobs = dict(
            (job_id, (title, script))
            for job_id, title, script in lc.dbsession.execute(
                select(Job.id, Job.title, Job.script_content).where(
                    Job.id.in_({run.job_id for run in runs})
                )
            )
        )
        rows = [(run, *jobs[run.job_id]) for run in runs]
    rows.sort(key=lambda row: (row[0].schedule_dts, row[0].id))
    for run, title, _ in rows:
        log.info("run %s of job %r claimed by worker %s", run.id, title, worker_id)
    metrics.count("runs_claimed", len(rows), via="claim")
    return [tuple(row) for row in rows]


def next_due_dts(
    lc: Lifecycle, worker_id: int, pool_ids: Sequence[int]
) -> datetime.datetime | None:
    """When the next run this worker may take becomes due (for long polling)."""
    if not pool_ids:
        return None
    return lc.dbsession.scalar(
        select(func.min(Run.schedule_dts)).where(
            Run.enqueue_dts.is_(None),
            Run.return_dts.is_(None),
            dispatchable(worker_id, pool_ids),
        )
    )


# -- reporting ---------------------------------------------------------------------

REPORT_FIELDS = ("enqueue_dts", "start_dts", "return_dts", "return_success", "pid")


def lock_run(lc: Lifecycle, query) -> Run | None:
    """Load one run with its row locked until the transaction ends."""
    return lc.dbsession.scalars(query.with_for_update(of=Run)).first()


@functools.cache
def _lock_job_statement():
    child = aliased(Job)
    has_children = select(child.id).where(child.parent_id == Job.id).exists()
    has_excludes = (
        select(RescheduleExclude.id).where(RescheduleExclude.job_id == Job.id).exists()
    )
    return (
        select(Job, has_children, has_excludes)
        .where(Job.id == bindparam("job_id"))
        .with_for_update(of=Job)
    )


def _lock_job(lc: Lifecycle, job_id: int) -> Job:
    """Load a job with its row locked, knowing without a query when it has
    no children and no exclude windows (most jobs), which returning a run
    would otherwise load one query each.

    Should the lock be waited for, the two flags tell how things were when
    the statement began: a child or window added meanwhile counts from the
    job's next return, as if this one had come a moment earlier.
    """
    job, children, excludes = lc.dbsession.execute(
        _lock_job_statement(), {"job_id": job_id}
    ).one()
    unloaded = inspect(job).unloaded
    for name, present in (("children", children), ("reschedule_excludes", excludes)):
        if not present and name in unloaded:
            set_committed_value(job, name, [])
    return job


def _same_report(lc: Lifecycle, run: Run, changes: dict) -> bool:
    for name, value in changes.items():
        if name == "return_log":
            current = run.run_log.content if run.run_log else ""
            if stored_log(lc, value)[0] != current:
                return False
        elif getattr(run, name) != value:
            return False
    return True


def report(lc: Lifecycle, run: Run, changes: dict, worker_id: int | None) -> Run:
    """Apply a worker's report to a locked run, rescheduling when it returns.

    ``worker_id`` is the reporting worker, or None for an admin key.
    """
    if worker_id is not None and run.worker_id not in (None, worker_id):
        raise LifecycleError(
            "conflict", "worker", "This run is claimed by another worker."
        )
    if run.return_dts is not None:
        if _same_report(lc, run, changes):
            return run  # A retried report: harmless.
        raise LifecycleError(
            "conflict", "return_dts", "This run has returned; it cannot change."
        )

    job = None
    if "return_dts" in changes:
        # Lock the job before changing the run: a sibling's reschedule waits
        # for this run's row in the unique index, so taking the locks in the
        # other order could deadlock.
        job = _lock_job(lc, run.job_id)
    if "enqueue_dts" in changes:
        _enqueue(lc, run, changes["enqueue_dts"], worker_id)
    _check_times(lc, run, changes)

    for name in ("start_dts", "return_dts", "return_success", "pid"):
        if name in changes:
            setattr(run, name, changes[name])
    if "return_log" in changes:
        set_log(lc, run, changes["return_log"])
    lc.dbsession.flush()

    if "start_dts" in changes:
        log.info("run %s started (pid %s)", run.id, run.pid)
    if "return_dts" in changes:
        finish(lc, run, job)
    return run


def _enqueue(lc: Lifecycle, run: Run, enqueue_dts, worker_id: int | None) -> None:
    if run.enqueue_dts is not None:
        if run.enqueue_dts == enqueue_dts and run.worker_id == worker_id:
            return  # The same claim, retried.
        raise LifecycleError(
            "conflict", "enqueue_dts", "This run has been claimed already."
        )
    if run.schedule_dts > lc.now:
        # As the claim endpoint: by the server's clock, which decides for
        # every worker alike. A worker whose clock runs ahead lists the run a
        # moment early, gets this 409 and finds it again once it is due.
        raise LifecycleError(
            "conflict",
            "enqueue_dts",
            f"This run is not due until {run.schedule_dts.isoformat()}.",
        )
    if worker_id is not None:
        pool_ids = lc.dbsession.scalars(
            select(WorkerPool.id).join(WorkerPool.workers).where(Worker.id == worker_id)
        ).all()
        allowed = lc.dbsession.scalar(
            select(Run.id).where(Run.id == run.id, dispatchable(worker_id, pool_ids))
        )
        if not allowed:
            raise LifecycleError(
                "conflict",
                "enqueue_dts",
                "This run cannot be handed to you: enqueueing is disabled for it "
                "or it is meant for another worker.",
            )
    # Conditional, like the claim endpoint: only while nobody has claimed it.
    claimed = lc.dbsession.execute(
        update(Run)
        .where(Run.id == run.id, Run.enqueue_dts.is_(None))
        .values(enqueue_dts=enqueue_dts, worker_id=worker_id or run.worker_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise LifecycleError(
            "conflict", "enqueue_dts", "This run has been claimed already."
        )
    lc.dbsession.refresh(run)
    log.info("run %s claimed by worker %s", run.id, worker_id)
    metrics.count("runs_claimed", via="patch")


def _check_times(lc: Lifecycle, run: Run, changes: dict) -> None:
    limit = lc.now + lc.max_clock_skew
    for name in ("enqueue_dts", "start_dts", "return_dts"):
        value = changes.get(name)
        if value is not None and value > limit:
            raise LifecycleError(
                "invalid", name, f"{name} is in the future ({value.isoformat()})."
            )
    merged = {name: changes.get(name, getattr(run, name)) for name in REPORT_FIELDS}
    if merged["start_dts"] is not None and merged["enqueue_dts"] is None:
        raise LifecycleError(
            "invalid", "start_dts", "A run cannot start before it is enqueued."
        )
    if merged["return_dts"] is not None and merged["enqueue_dts"] is None:
        raise LifecycleError(
            "invalid", "return_dts", "A run cannot return before it is enqueued."
        )
    order = [(n, merged[n]) for n in ("enqueue_dts", "start_dts", "return_dts")]
    present = [(n, v) for n, v in order if v is not None]
    for (earlier, a), (later, b) in zip(present, present[1:], strict=False):
        if b < a:
            raise LifecycleError("invalid", later, f"{later} is before {earlier}.")
    if merged["return_dts"] is not None and merged["return_success"] is None:
        raise LifecycleError(
            "invalid", "return_success", "return_dts needs return_success."
        )
    if "return_success" in changes and merged["return_dts"] is None:
        raise LifecycleError(
            "invalid", "return_success", "return_success comes with return_dts."
        )


def finish(lc: Lifecycle, run: Run, job: Job | None = None) -> None:
    """Everything that follows a returned run: failures, next run, children.

    ``job`` is the run's job when the caller holds its row lock already.
    """
    if job is None:
        job = _lock_job(lc, run.job_id)
    metrics.count(
        "runs_finished", outcome="succeeded" if run.return_success else "failed"
    )
    if not run.return_success:
        _notify_failed_run(lc, job, run)
    finish_schedule(lc, run, job)


def finish_schedule(lc: Lifecycle, run: Run, job: Job) -> None:
    """What follows the end of the occurrence ``run`` belongs to, if it ended.

    The failure count, the next run and the children come once per
    occurrence: after its last sibling returned. ``job`` is locked.
    """
    siblings = [run]
    if run.schedule_id is not None:
        siblings = lc.dbsession.scalars(
            select(Run).where(Run.schedule_id == run.schedule_id)
        ).all()
        if any(s.return_dts is None for s in siblings):
            return  # The last sibling to return does the rest.
    success = all(s.return_success for s in siblings)

    if success:
        job.fail_times = 0
    else:
        job.fail_times += 1
        limit = job.disable_enqueue_after_fails
        if limit and job.fail_times >= limit and job.enqueue_is_enabled:
            job.enqueue_is_enabled = False
            log.warning(
                "job %s (%s) disabled after %s failures",
                job.id,
                job.title,
                job.fail_times,
            )
            lc.notifier.send(
                f"Job {job.title!r} disabled after {job.fail_times} failures",
                f"The job {job.title!r} (id {job.id}) failed {job.fail_times} times "
                "in a row, so its runs are no longer handed out. Enable it again "
                "once it is fixed.",
                job_addresses(job),
            )

    if not run.is_manual:
        schedule_next(lc, job, return_dts=run.return_dts)

    if run.schedule_children and (success or job.schedule_children_on_error):
        for child in job.children:
            create_manual_run(lc, child)
            log.info(
                "job %s (%s) started by its parent %s", child.id, child.title, job.id
            )


def _notify_failed_run(lc: Lifecycle, job: Job, run: Run) -> None:
    tail = run.run_log.content[-4000:] if run.run_log else ""
    lc.notifier.send(
        f"Run {run.id} of job {job.title!r} failed",
        f"The run {run.id} of job {job.title!r} (id {job.id}) failed.\n"
        f"Scheduled: {run.schedule_dts.isoformat()}\n"
        f"Returned: {run.return_dts.isoformat()}\n"
        f"Worker: {run.worker_id}\n\nEnd of the log:\n{tail}",
        job_addresses(job),
    )


# -- logs ---------------------------------------------------------------------------


def _half(cap: int) -> int:
    """Bytes kept at each end of a log that outgrew ``cap``."""
    return max(cap - len(LOG_TRUNCATION_MARKER.encode()), 0) // 2


def _keep_tail(text: str, budget: int) -> tuple[str, int]:
    """Keep the last ``budget`` bytes of ``text``; return it and the bytes dropped."""
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text, 0
    kept = data[len(data) - budget :].decode("utf-8", "ignore")
    return kept, len(data) - len(kept.encode("utf-8"))


def _truncate(text: str, cap: int) -> tuple[str, int]:
    """Keep the head and the tail of ``text`` within ``cap`` bytes.

    Returns the kept text (with the marker between head and tail) and the
    number of bytes dropped from the middle.
    """
    data = text.encode("utf-8")
    if len(data) <= cap:
        return text, 0
    half = _half(cap)
    head = data[:half].decode("utf-8", "ignore")
    tail, _ = _keep_tail(data[len(head.encode()) :].decode("utf-8", "ignore"), half)
    dropped = len(data) - len(head.encode()) - len(tail.encode())
    return head + LOG_TRUNCATION_MARKER + tail, dropped


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL characters; scripts can print them.
    return text.replace("\x00", "\ufffd")


def _log_of(lc: Lifecycle, run: Run) -> RunLog:
    if run.run_log is None:
        run.run_log = RunLog(run_id=run.id, content="")
        lc.dbsession.add(run.run_log)
    return run.run_log


def stored_log(lc: Lifecycle, text: str) -> tuple[str, int]:
    """What is stored for a whole log: cleaned, and bounded by the cap."""
    return _truncate(_clean(text), lc.log_max_bytes)


def set_log(lc: Lifecycle, run: Run, text: str) -> RunLog:
    """Replace a run's log with ``text`` (bounded by the cap)."""
    run_log = _log_of(lc, run)
    run_log.content, run_log.omitted_bytes = stored_log(lc, text)
    run_log.received_bytes = len(text.encode("utf-8"))
    return run_log


def append_log(lc: Lifecycle, run: Run, offset: int, text: str) -> RunLog:
    """Append output to a run's log, only at the offset the server has.

    A retried append arrives with an offset that is no longer current and is
    refused (kind ``range``), so output is never doubled; a gap is refused
    too, so it is never silently lost.
    """
    if run.return_dts is not None:
        raise LifecycleError("conflict", "run", "This run has returned.")
    run_log = _log_of(lc, run)
    received = run_log.received_bytes or 0
    if offset != received:
        raise LifecycleError(
            "range",
            "offset",
            f"The log has {received} bytes; append at offset {received}.",
            length=received,
        )
    cleaned = _clean(text)
    if run_log.omitted_bytes:
        # Already truncated: the head stays, the tail slides forward.
        head, _, tail = run_log.content.partition(LOG_TRUNCATION_MARKER)
        tail, dropped = _keep_tail(tail + cleaned, _half(lc.log_max_bytes))
        run_log.content = head + LOG_TRUNCATION_MARKER + tail
        run_log.omitted_bytes += dropped
    else:
        run_log.content, run_log.omitted_bytes = _truncate(
            run_log.content + cleaned, lc.log_max_bytes
        )
    run_log.received_bytes = received + len(text.encode("utf-8"))
    return run_log


# -- kill requests ----------------------------------------------------------------


def request_kill(lc: Lifecycle, run: Run) -> KillRequest:
    """Ask the worker running ``run`` to kill it."""
    if run.enqueue_dts is None or run.return_dts is not None:
        raise LifecycleError(
            "conflict", "run", "Only a claimed run that has not returned can be killed."
        )
    pending = lc.dbsession.scalars(
        select(KillRequest).where(
            KillRequest.run_id == run.id, KillRequest.execute_dts.is_(None)
        )
    ).first()
    if pending is not None:
        return pending
    kill = KillRequest(run_id=run.id, schedule_dts=lc.now)
    lc.dbsession.add(kill)
    lc.dbsession.flush()
    log.info("kill of run %s requested", run.id)
    return kill
