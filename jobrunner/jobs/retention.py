"""Data retention: delete old completed runs with their logs and kill requests.

Only completed runs are deleted, only when they returned before the cut-off,
and never one of the ``keep_per_job`` latest completed runs of its job, so
every job keeps its recent history (and its ``last_completed`` run) however
long ago it last ran.

The work goes in batches, each its own short transaction: a batch finds the
next ``batch_size`` candidates in ``return_dts`` order (an index scan that
starts where the previous batch stopped), deletes their logs, kill requests
and the runs, and commits. Row locks are held for one batch only, and on
PostgreSQL rows that someone holds (a worker repeating its last report) are
skipped rather than waited for.

The callers (``jobrunner-admin prune`` and the monitor's daily duty) hand in
``in_transaction``, which runs a function with a session in a transaction of
its own and commits it; nothing here commits or knows about the caller.
"""

import contextlib
import dataclasses
import datetime
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from jobrunner.jobs.models import KillRequest, Run, RunLog


DEFAULT_KEEP_PER_JOB = 10
DEFAULT_BATCH_SIZE = 1000
# Any 64-bit number will do, as long as nothing else in the database uses it.
ADVISORY_LOCK_KEY = 0x6A6F6272756E6E  # "jobrunn"

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

InTransaction = Callable[[Callable[[Session], Any]], Any]


def parse_age(text: str) -> datetime.timedelta:
    """Read an age such as ``90d``, ``12h``, ``2w``, ``30m`` or ``45s``."""
    match = _AGE.match(text or "")
    if not match:
        raise ValueError(
            f"{text!r} is not an age: a number and a unit, s m h d or w (e.g. 90d)"
        )
    amount, unit = match.groups()
    return datetime.timedelta(**{_UNITS[unit]: int(amount)})


@dataclasses.dataclass
class PruneResult:
    """What a prune deleted (or, on a dry run, would delete)."""

    cutoff: datetime.datetime
    dry_run: bool = False
    runs: int = 0
    run_logs: int = 0
    kill_requests: int = 0
    batches: int = 0
    # False when the prune stopped at its batch bound with candidates left.
    finished: bool = True

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "cutoff": self.cutoff.isoformat()}


def _kept(keep_per_job: int):
    """The condition that a run is not among its job's latest completed runs."""
    if keep_per_job <= 0:
        return None
    later = aliased(Run)
    # The run has at least keep_per_job completed siblings that returned after
    # it: the index on (job_id, return_dts) finds them from the run onwards.
    nth_later = (
        select(later.id)
        .where(
            later.job_id == Run.job_id,
            later.return_dts.isnot(None),
            later.return_dts >= Run.return_dts,
            or_(later.return_dts > Run.return_dts, later.id > Run.id),
        )
        .offset(keep_per_job - 1)
        .limit(1)
        .correlate(Run)
    )
    return nth_later.exists()


def candidates(
    cutoff: datetime.datetime,
    keep_per_job: int,
    limit: int,
    after: tuple[datetime.datetime, int] | None = None,
):
    """Select (id, return_dts) of prunable runs after ``after``, oldest first."""
    conditions = [Run.return_dts.isnot(None), Run.return_dts < cutoff]
    if after is not None:
        conditions.append(tuple_(Run.return_dts, Run.id) > tuple_(*after))
    older_than_the_kept = _kept(keep_per_job)
    if older_than_the_kept is not None:
        conditions.append(older_than_the_kept)
    return (
        select(Run.id, Run.return_dts)
        .where(and_(*conditions))
        .order_by(Run.return_dts, Run.id)
        .limit(limit)
    )


def prune_batch(
    dbsession: Session,
    cutoff: datetime.datetime,
    keep_per_job: int,
    batch_size: int,
    after: tuple[datetime.datetime, int] | None = None,
    dry_run: bool = False,
) -> tuple[dict, tuple[datetime.datetime, int] | None]:
    """Delete one batch; return what went and where the next batch starts.

    The position is None when this batch found fewer than ``batch_size``
    candidates, that is, when there is nothing left to look at.
    """
    query = candidates(cutoff, keep_per_job, batch_size, after)
    if dbsession.get_bind().dialect.name == "postgresql" and not dry_run:
        query = query.with_for_update(of=Run, skip_locked=True)
    rows = dbsession.execute(query).all()
    ids = [row.id for row in rows]
    counts = {"runs": 0, "run_logs": 0, "kill_requests": 0}
    if ids:
        if dry_run:
            counts["run_logs"] = dbsession.scalar(
                select(func.count()).where(RunLog.run_id.in_(ids))
            )
            counts["kill_requests"] = dbsession.scalar(
                select(func.count()).where(KillRequest.run_id.in_(ids))
            )
            counts["runs"] = len(ids)
        else:
            # Explicit deletes rather than ON DELETE CASCADE, to count them.
            for name, model, column in (
                ("run_logs", RunLog, RunLog.run_id),
                ("kill_requests", KillRequest, KillRequest.run_id),
                ("runs", Run, Run.id),
            ):
                counts[name] = dbsession.execute(
                    delete(model)
                    .where(column.in_(ids))
                    .execution_options(synchronize_session=False)
                ).rowcount
    position = (rows[-1].return_dts, rows[-1].id) if len(rows) == batch_size else None
    return counts, position


def prune(
    in_transaction: InTransaction,
    cutoff: datetime.datetime,
    keep_per_job: int = DEFAULT_KEEP_PER_JOB,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    max_batches: int | None = None,
) -> PruneResult:
    """Delete completed runs that returned before ``cutoff``, batch by batch.

    With ``max_batches`` it stops after that many, ``finished`` false, so
    that a caller with other duties (the monitor) can go on in a later pass.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    position = None
    while True:
        if max_batches is not None and result.batches >= max_batches:
            result.finished = False
            return result
        counts, position = in_transaction(
            lambda dbsession, after=position: prune_batch(
                dbsession, cutoff, keep_per_job, batch_size, after, dry_run
            )
        )
        result.batches += 1
        for name, value in counts.items():
            setattr(result, name, getattr(result, name) + value)
        if position is None:
            return result


def prune_is_due(
    dbsession: Session,
    cutoff: datetime.datetime,
    keep_per_job: int,
    every: datetime.timedelta,
) -> bool:
    """Whether the oldest prunable run returned at least ``every`` before ``cutoff``.

    A prune deletes every candidate older than its cut-off, so afterwards the
    oldest candidate is younger than that cut-off, and the next prune waits
    until the cut-off has moved on by ``every``: about one prune per ``every``,
    for any number of monitors and across restarts, with nothing stored but
    the runs themselves. A run that was among its job's kept latest runs
    becomes a candidate when the job runs again; if it is old, the next check
    finds it and prunes that little sooner.
    """
    oldest = dbsession.execute(candidates(cutoff, keep_per_job, 1)).first()
    return oldest is not None and oldest.return_dts <= cutoff - every


@contextlib.contextmanager
def exclusive(engine):
    """Yield whether this process may prune now: one pruner at a time.

    On PostgreSQL a session-level advisory lock, held on a connection of its
    own while the batches commit on others, and let go when the block ends or
    the process dies. SQLite serialises writers anyway.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        locked = connection.scalar(select(func.pg_try_advisory_lock(ADVISORY_LOCK_KEY)))
        connection.commit()
        try:
            yield bool(locked)
        finally:
            if locked:
                connection.scalar(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
                connection.commit()
