"""The read-only queries behind the dashboard, each scoped to what a user may see.

Every query goes through :mod:`jobrunner.scopes`, so an object outside the
user's projects is simply not found. None of them counts or scans the whole
run table; each rides one of its indexes:

* what is due: the partial index on runs not yet claimed (``ix_run_due``);
* what is claimed or running: the partial index on unfinished runs
  (``ix_run_worker_unfinished``);
* a job's history and last run: ``(job_id, schedule_dts)`` and
  ``(job_id, return_dts)``, read newest first with a limit;
* the last 24 hours: a range of ``ix_run_return_dts``.

History pages are keyset pages on ``(schedule_dts, id)``: one row more than a
page is fetched to know whether there is another, and nothing is counted.
"""

import dataclasses
import datetime
from collections import defaultdict

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from jobrunner import scopes
from jobrunner.dashboard.chart import Chart, ChartRun, duration_chart
from jobrunner.jobs import scheduling, states
from jobrunner.jobs.models import Job, JobTemplate, Project, Run, RunLog
from jobrunner.jobs.operations import excludes_of, schedule_of
from jobrunner.security import Identity
from jobrunner.workers.models import Worker, WorkerPool


PAGE_SIZE = 25
CHART_RUNS = 40
UPCOMING = 5
RECENT_FAILURES = 8
DAY = datetime.timedelta(hours=24)

_RUN_COLUMNS = (
    Run.id,
    Run.job_id,
    Run.worker_id,
    Run.schedule_dts,
    Run.enqueue_dts,
    Run.start_dts,
    Run.return_dts,
    Run.return_success,
    Run.is_manual,
    Run.pid,
)


@dataclasses.dataclass(frozen=True)
class RunRow:
    """A run as the pages show it, with its worker's name if the user may see it."""

    id: int
    job_id: int
    worker_id: int | None
    schedule_dts: datetime.datetime
    enqueue_dts: datetime.datetime | None
    start_dts: datetime.datetime | None
    return_dts: datetime.datetime | None
    return_success: bool | None
    is_manual: bool
    pid: int | None
    worker_title: str | None

    @property
    def state(self) -> str:
        return states.state_of(self)

    @property
    def is_finished(self) -> bool:
        return self.return_dts is not None

    @property
    def worker_hidden(self) -> bool:
        """Whether a worker took the run that serves none of the user's pools."""
        return self.worker_id is not None and self.worker_title is None

    def duration(self, now: datetime.datetime) -> datetime.timedelta | None:
        """How long it ran, or has been running so far."""
        if self.start_dts is None:
            return None
        return max((self.return_dts or now) - self.start_dts, datetime.timedelta(0))


def headline_state(active: list[RunRow], last: RunRow | None) -> str:
    """The state that matters most about a job: running beats its last outcome."""
    for state in ("started", "in_queue"):
        if any(run.state == state for run in active):
            return state
    return last.state if last is not None else "never_run"


def _runs(query, identity: Identity):
    """Select a query's runs as :class:`RunRow` columns, with the worker's title.

    A worker can serve pools of projects the user may not see (a job moved to
    another pool, or a shared host): its title is then left out, as the
    workers page leaves the worker out.
    """
    worker_title = (
        scopes.worker(select(Worker.title), identity)
        .where(Worker.id == Run.worker_id)
        .correlate(Run)
        .scalar_subquery()
    )
    return query.add_columns(*_RUN_COLUMNS, worker_title.label("worker_title"))


def _rows(dbsession: Session, query) -> list[RunRow]:
    return [RunRow(**row._asdict()) for row in dbsession.execute(query)]


def _describe(job: Job, parent_title: str | None) -> str:
    """The job's schedule in words; a chained job says which job starts it."""
    schedule = schedule_of(job)
    try:
        words = scheduling.describe(schedule)
    except scheduling.ScheduleError as error:
        return f"invalid schedule: {error}"
    if schedule.is_scheduled or job.parent_id is None:
        return words
    return f"after each run of {parent_title or 'another job'}"


def _paused_by(job: Job) -> list[str]:
    """Which of the levels that hand out runs has it switched off."""
    levels = [
        ("job", job),
        ("template", job.job_template),
        ("project", job.job_template.project),
        ("worker pool", job.worker_pool),
    ]
    return [name for name, obj in levels if not obj.enqueue_is_enabled]


# -- the overview --------------------------------------------------------------


@dataclasses.dataclass
class Counts:
    """Runs waiting, claimed and running now, and finished in the last 24 hours."""

    scheduled: int = 0
    in_queue: int = 0
    started: int = 0
    failed: int = 0
    succeeded: int = 0


@dataclasses.dataclass
class JobLine:
    id: int
    title: str
    schedule: str
    paused_by: list[str]
    fail_times: int
    disable_after: int | None
    last: RunRow | None = None
    active: list[RunRow] = dataclasses.field(default_factory=list)
    next_dts: datetime.datetime | None = None

    @property
    def state(self) -> str:
        return headline_state(self.active, self.last)


@dataclasses.dataclass
class ProjectBlock:
    id: int
    title: str
    description: str
    jobs: list[JobLine]
    counts: Counts


@dataclasses.dataclass
class FailedRun:
    run: RunRow
    job_title: str
    project_title: str


@dataclasses.dataclass
class Overview:
    now: datetime.datetime
    projects: list[ProjectBlock]
    recent_failures: list[FailedRun]


def _visible_jobs(dbsession: Session, identity: Identity, query):
    return dbsession.scalars(
        scopes.job(query, identity)
        .join(JobTemplate, JobTemplate.id == Job.job_template_id)
        .join(Project, Project.id == JobTemplate.project_id)
        .options(
            contains_eager(Job.job_template).contains_eager(JobTemplate.project),
            joinedload(Job.worker_pool),
        )
    ).unique()


def overview(
    dbsession: Session, identity: Identity, now: datetime.datetime
) -> Overview:
    """Every visible project with its jobs, their last and next runs, and counts."""
    projects = dbsession.scalars(
        scopes.project(select(Project), identity).order_by(Project.title, Project.id)
    ).all()
    jobs = _visible_jobs(
        dbsession, identity, select(Job).order_by(Job.title, Job.id)
    ).all()
    titles = {job.id: job.title for job in jobs}
    lines = {
        job.id: JobLine(
            id=job.id,
            title=job.title,
            schedule=_describe(job, titles.get(job.parent_id)),
            paused_by=_paused_by(job),
            fail_times=job.fail_times,
            disable_after=job.disable_enqueue_after_fails,
        )
        for job in jobs
    }
    project_of = {job.id: job.job_template.project_id for job in jobs}
    counts: dict[int, Counts] = defaultdict(Counts)

    for run in _last_finished_runs(dbsession, identity):
        lines[run.job_id].last = run
    for job_id, next_dts, pending in dbsession.execute(
        scopes.run(
            select(Run.job_id, func.min(Run.schedule_dts), func.count()), identity
        )
        .where(states.state_clause("scheduled"))
        .group_by(Run.job_id)
    ):
        lines[job_id].next_dts = next_dts
        counts[project_of[job_id]].scheduled += pending
    active = scopes.run(select(), identity).where(
        Run.return_dts.is_(None), Run.enqueue_dts.isnot(None)
    )
    for run in _rows(
        dbsession, _runs(active, identity).order_by(Run.enqueue_dts, Run.id)
    ):
        lines[run.job_id].active.append(run)
        block = counts[project_of[run.job_id]]
        if run.state == "started":
            block.started += 1
        else:
            block.in_queue += 1
    for job_id, success, finished in dbsession.execute(
        scopes.run(select(Run.job_id, Run.return_success, func.count()), identity)
        .where(Run.return_dts >= now - DAY)
        .group_by(Run.job_id, Run.return_success)
    ):
        block = counts[project_of[job_id]]
        if success:
            block.succeeded += finished
        else:
            block.failed += finished

    by_project = defaultdict(list)
    for job in jobs:
        by_project[job.job_template.project_id].append(lines[job.id])
    return Overview(
        now=now,
        projects=[
            ProjectBlock(
                id=project.id,
                title=project.title,
                description=project.description,
                jobs=by_project[project.id],
                counts=counts[project.id],
            )
            for project in projects
        ],
        recent_failures=recent_failures(dbsession, identity, now),
    )


def _last_finished_runs(dbsession: Session, identity: Identity) -> list[RunRow]:
    """The latest finished run of every visible job, one index probe per job."""
    latest = (
        select(Run.id)
        .where(Run.job_id == Job.id, Run.return_dts.isnot(None))
        .order_by(Run.return_dts.desc(), Run.id.desc())
        .limit(1)
        .correlate(Job)
        .scalar_subquery()
    )
    ids = scopes.job(select(latest).select_from(Job), identity)
    return _rows(dbsession, _runs(select(), identity).where(Run.id.in_(ids)))


def recent_failures(
    dbsession: Session, identity: Identity, now: datetime.datetime
) -> list[FailedRun]:
    """The latest failed runs of the last 24 hours, newest first."""
    query = (
        _runs(scopes.run(select(), identity), identity)
        .add_columns(Job.title.label("job_title"), Project.title.label("project"))
        .join(Job, Job.id == Run.job_id)
        .join(JobTemplate, JobTemplate.id == Job.job_template_id)
        .join(Project, Project.id == JobTemplate.project_id)
        .where(Run.return_dts >= now - DAY, Run.return_success.isnot(True))
        .order_by(Run.return_dts.desc(), Run.id.desc())
        .limit(RECENT_FAILURES)
    )
    failures = []
    for row in dbsession.execute(query):
        values = row._asdict()
        job_title, project_title = values.pop("job_title"), values.pop("project")
        failures.append(FailedRun(RunRow(**values), job_title, project_title))
    return failures


# -- a job -----------------------------------------------------------------------


@dataclasses.dataclass
class HistoryPage:
    """One page of a job's runs, newest first, with cursors to its neighbours."""

    runs: list[RunRow]
    older: int | None = None
    newer: int | None = None
    is_first: bool = True


@dataclasses.dataclass
class Upcoming:
    """The next occurrences by the job's schedule, or why there are none.

    ``waiting`` says that the first one is a run that exists already and waits
    for a worker; otherwise every time is a projection.
    """

    times: list[datetime.datetime]
    error: str | None = None
    waiting: bool = False


@dataclasses.dataclass
class JobPage:
    now: datetime.datetime
    job: Job
    schedule: str
    paused_by: list[str]
    upcoming: Upcoming
    parent: Job | None
    children: list[Job]
    unfinished: list[RunRow]
    last: RunRow | None
    history: HistoryPage
    chart: Chart

    @property
    def active(self) -> list[RunRow]:
        """Runs claimed by a worker and not finished."""
        return [run for run in self.unfinished if run.enqueue_dts is not None]

    @property
    def pending(self) -> list[RunRow]:
        """Runs waiting for a worker."""
        return [run for run in self.unfinished if run.enqueue_dts is None]

    @property
    def state(self) -> str:
        return headline_state(self.active, self.last)


def _latest_scheduled_dts(dbsession: Session, job_id: int):
    """When the job's latest run by its schedule (not a manual one) was due."""
    return dbsession.scalar(
        select(Run.schedule_dts)
        .where(Run.job_id == job_id, Run.is_manual.is_(False))
        .order_by(Run.schedule_dts.desc())
        .limit(1)
    )


def _waiting_by_schedule(unfinished: list[RunRow]) -> list[datetime.datetime]:
    """When the job's scheduled runs that no worker has claimed yet are due."""
    return [
        run.schedule_dts
        for run in unfinished
        if not run.is_manual and run.enqueue_dts is None
    ]


def upcoming(
    job: Job,
    now: datetime.datetime,
    unfinished: list[RunRow],
    latest_scheduled: datetime.datetime | None,
) -> Upcoming:
    """The job's next occurrences, starting from the run that waits for them.

    The run the scheduler created is the true next occurrence, whatever the
    schedule would say counted from ``now`` (an ``AFTER_COMPLETE_DTS`` run
    counts from when its predecessor returned, a late run is still due), so
    the list starts with it and projects forward from there. Each later run
    is taken to return when it is due, or now if it is late. With no run
    waiting, the first time is what rescheduling would give now: counted from
    the latest scheduled run, a run still going taken to return now.
    """
    schedule = schedule_of(job)
    if not schedule.is_scheduled:
        return Upcoming([])
    excludes = excludes_of(job)
    anchor = job.schedule_anchor_dts
    waiting = _waiting_by_schedule(unfinished)
    try:
        if waiting:
            first = min(waiting)
        else:
            first = scheduling.next_run_dts(
                schedule,
                now=now,
                previous_schedule_dts=latest_scheduled,
                anchor_dts=anchor,
                excludes=excludes,
            )
        times = [first]
        if anchor is None and schedule.interval is not None:
            # Rescheduling anchors the series on the first run it creates.
            anchor = first
        while len(times) < UPCOMING:
            previous = times[-1]
            times.append(
                scheduling.next_run_dts(
                    schedule,
                    now=now,
                    previous_schedule_dts=previous,
                    return_dts=max(previous, now),
                    anchor_dts=anchor,
                    excludes=excludes,
                )
            )
    except scheduling.ScheduleError as error:
        return Upcoming([], str(error))
    return Upcoming(times, waiting=bool(waiting))


def _run_cursor(dbsession: Session, job_id: int, run_id: int):
    """The sort key ``(schedule_dts, id)`` of one of the job's runs, or None."""
    return dbsession.execute(
        select(Run.schedule_dts, Run.id).where(Run.id == run_id, Run.job_id == job_id)
    ).first()


def history(
    dbsession: Session,
    identity: Identity,
    job_id: int,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> HistoryPage | None:
    """A page of the job's runs by schedule, newest first; None for a bad cursor.

    ``before`` and ``after`` are run ids: the page holds the runs older than
    ``before`` or, going back towards the newest, those newer than ``after``.
    The caller has checked that the job is visible.
    """
    query = _runs(select(), identity).where(Run.job_id == job_id)
    key = (Run.schedule_dts, Run.id)
    if before is None and after is None:
        rows = _rows(
            dbsession, query.order_by(*(k.desc() for k in key)).limit(size + 1)
        )
        older = rows[size - 1].id if len(rows) > size else None
        return HistoryPage(rows[:size], older=older)
    cursor = _run_cursor(dbsession, job_id, before if before is not None else after)
    if cursor is None:
        return None
    dts, run_id = cursor
    if before is not None:
        # The first condition is implied by the second; it is there so that
        # the index on (job_id, schedule_dts) seeks to the cursor instead of
        # filtering every newer run on the way.
        older_than = and_(
            Run.schedule_dts <= dts,
            or_(Run.schedule_dts < dts, and_(Run.schedule_dts == dts, Run.id < run_id)),
        )
        rows = _rows(
            dbsession,
            query.where(older_than).order_by(*(k.desc() for k in key)).limit(size + 1),
        )
        older = rows[size - 1].id if len(rows) > size else None
        newer = rows[0].id if rows else None
        return HistoryPage(rows[:size], older=older, newer=newer, is_first=False)
    newer_than = and_(
        Run.schedule_dts >= dts,
        or_(Run.schedule_dts > dts, and_(Run.schedule_dts == dts, Run.id > run_id)),
    )
    rows = _rows(
        dbsession,
        query.where(newer_than).order_by(*(k.asc() for k in key)).limit(size + 1),
    )
    has_newer = len(rows) > size
    rows = list(reversed(rows[:size]))
    return HistoryPage(
        rows,
        older=rows[-1].id if rows else run_id,
        newer=rows[0].id if has_newer else None,
        is_first=not has_newer,
    )


def chart(dbsession: Session, job_id: int, count: int = CHART_RUNS) -> Chart:
    """The chart of the job's last finished runs."""
    rows = dbsession.execute(
        select(Run.id, Run.start_dts, Run.return_dts, Run.return_success)
        .where(Run.job_id == job_id, Run.return_dts.isnot(None))
        .order_by(Run.return_dts.desc(), Run.id.desc())
        .limit(count)
    ).all()
    runs = [
        ChartRun(
            id=row.id,
            return_dts=row.return_dts,
            # A run that failed before it started (its worker went silent)
            # took no time of its own.
            seconds=(
                max((row.return_dts - row.start_dts).total_seconds(), 0.0)
                if row.start_dts is not None
                else 0.0
            ),
            success=bool(row.return_success),
        )
        for row in reversed(rows)
    ]
    return duration_chart(runs)


def job_page(
    dbsession: Session,
    identity: Identity,
    job_id: int,
    now: datetime.datetime,
    *,
    before: int | None = None,
    after: int | None = None,
) -> JobPage | None:
    """Everything the job page shows, or None when the job (or cursor) is unknown."""
    job = _visible_jobs(
        dbsession,
        identity,
        select(Job)
        .where(Job.id == job_id)
        .options(selectinload(Job.reschedule_excludes)),
    ).one_or_none()
    if job is None:
        return None
    page = history(dbsession, identity, job.id, before=before, after=after)
    if page is None:
        return None
    related = _visible_jobs(
        dbsession,
        identity,
        select(Job)
        .where(or_(Job.parent_id == job.id, Job.id == job.parent_id))
        .order_by(Job.title, Job.id),
    ).all()
    last = _rows(
        dbsession,
        _runs(select(), identity)
        .where(Run.job_id == job.id, Run.return_dts.isnot(None))
        .order_by(Run.return_dts.desc(), Run.id.desc())
        .limit(1),
    )
    # Unfinished runs: few, read from the partial index on unfinished runs.
    unfinished = _rows(
        dbsession,
        _runs(select(), identity)
        .where(Run.job_id == job.id, Run.return_dts.is_(None))
        .order_by(Run.schedule_dts, Run.id),
    )
    parent = next((j for j in related if j.id == job.parent_id), None)
    latest = None
    if not _waiting_by_schedule(unfinished):
        latest = _latest_scheduled_dts(dbsession, job.id)
    return JobPage(
        now=now,
        job=job,
        schedule=_describe(job, parent.title if parent else None),
        paused_by=_paused_by(job),
        upcoming=upcoming(job, now, unfinished, latest),
        parent=parent,
        children=[j for j in related if j.parent_id == job.id],
        unfinished=unfinished,
        last=last[0] if last else None,
        history=page,
        chart=chart(dbsession, job.id),
    )


# -- a run -----------------------------------------------------------------------


@dataclasses.dataclass
class LogView:
    content: str
    length: int
    omitted_bytes: int
    received_bytes: int


@dataclasses.dataclass
class RunPage:
    now: datetime.datetime
    run: RunRow
    job: Job
    log: LogView | None


def run_page(
    dbsession: Session, identity: Identity, run_id: int, now: datetime.datetime
) -> RunPage | None:
    """A run with its job and its whole log, or None when it is not visible."""
    rows = _rows(
        dbsession,
        _runs(scopes.run(select(), identity), identity).where(Run.id == run_id),
    )
    if not rows:
        return None
    run = rows[0]
    job = _visible_jobs(dbsession, identity, select(Job).where(Job.id == run.job_id))
    log = dbsession.scalars(select(RunLog).where(RunLog.run_id == run.id)).first()
    return RunPage(
        now=now,
        run=run,
        job=job.one(),
        log=LogView(
            content=log.content,
            length=len(log.content),
            omitted_bytes=log.omitted_bytes,
            received_bytes=log.received_bytes,
        )
        if log is not None
        else None,
    )


@dataclasses.dataclass
class LogUpdate:
    """What a page following a log must do: append text, or replace it all."""

    mode: str  # "append" or "replace"
    text: str
    length: int
    omitted_bytes: int


def log_since(
    dbsession: Session, run_id: int, length: int, omitted_bytes: int
) -> LogUpdate:
    """The log's new text for a page that holds its first ``length`` characters.

    While nothing was dropped from the middle, the stored log only grows, so
    the page gets just what follows. Once the log outgrew its cap its middle
    slides, and the page gets the whole (capped) log again. The caller has
    checked that the run is visible.
    """
    found = dbsession.execute(
        select(
            func.length(RunLog.content).label("length"),
            RunLog.omitted_bytes,
            func.substr(RunLog.content, length + 1).label("tail"),
        ).where(RunLog.run_id == run_id)
    ).first()
    if found is None:
        return LogUpdate("replace", "", 0, 0)
    total = found.length or 0
    if found.omitted_bytes == omitted_bytes and total >= length:
        return LogUpdate("append", found.tail or "", total, omitted_bytes)
    content = dbsession.scalar(select(RunLog.content).where(RunLog.run_id == run_id))
    return LogUpdate("replace", content or "", len(content or ""), found.omitted_bytes)


# -- workers -------------------------------------------------------------------


@dataclasses.dataclass
class CurrentRun:
    run: RunRow
    job_title: str


@dataclasses.dataclass
class WorkerLine:
    id: int
    title: str
    description: str
    pools: list[WorkerPool]
    ping_response_dts: datetime.datetime | None
    status: str
    version: str
    concurrency: int
    enabled: bool
    runs: list[CurrentRun]


@dataclasses.dataclass
class PoolLine:
    id: int
    title: str
    description: str
    enabled: bool
    workers: int
    responsive: int


@dataclasses.dataclass
class WorkersPage:
    now: datetime.datetime
    silent_after: datetime.timedelta
    pools: list[PoolLine]
    workers: list[WorkerLine]


def worker_status(
    ping_response_dts: datetime.datetime | None,
    now: datetime.datetime,
    silent_after: datetime.timedelta,
) -> str:
    """``responsive``, ``silent`` (no heartbeat for too long) or ``never_seen``."""
    if ping_response_dts is None:
        return "never_seen"
    return "responsive" if ping_response_dts >= now - silent_after else "silent"


def workers_page(
    dbsession: Session,
    identity: Identity,
    now: datetime.datetime,
    silent_after: datetime.timedelta,
) -> WorkersPage:
    """The visible pools and workers, their heartbeats and what they run now.

    A worker may also serve pools of projects the user cannot see: those
    pools, and the runs of their jobs, are left out.
    """
    pools = dbsession.scalars(
        scopes.worker_pool(select(WorkerPool), identity).order_by(
            WorkerPool.title, WorkerPool.id
        )
    ).all()
    visible_pools = {pool.id for pool in pools}
    workers = dbsession.scalars(
        scopes.worker(select(Worker), identity)
        .options(selectinload(Worker.pools))
        .order_by(Worker.title, Worker.id)
    ).all()
    current = defaultdict(list)
    active = (
        _runs(scopes.run(select(), identity), identity)
        .add_columns(Job.title.label("job_title"))
        .join(Job, Job.id == Run.job_id)
        .where(
            Run.return_dts.is_(None),
            Run.enqueue_dts.isnot(None),
            Run.worker_id.in_([worker.id for worker in workers]),
        )
        .order_by(Run.enqueue_dts, Run.id)
    )
    for row in dbsession.execute(active):
        values = row._asdict()
        job_title = values.pop("job_title")
        current[values["worker_id"]].append(CurrentRun(RunRow(**values), job_title))

    lines = [
        WorkerLine(
            id=worker.id,
            title=worker.title,
            description=worker.description,
            pools=[pool for pool in worker.pools if pool.id in visible_pools],
            ping_response_dts=worker.ping_response_dts,
            status=worker_status(worker.ping_response_dts, now, silent_after),
            version=worker.worker_version,
            concurrency=worker.concurrent_jobs,
            enabled=worker.enqueue_is_enabled,
            runs=current[worker.id],
        )
        for worker in workers
    ]
    pool_lines = []
    for pool in pools:
        members = [line for line in lines if pool in line.pools]
        pool_lines.append(
            PoolLine(
                id=pool.id,
                title=pool.title,
                description=pool.description,
                enabled=pool.enqueue_is_enabled,
                workers=len(members),
                responsive=sum(1 for line in members if line.status == "responsive"),
            )
        )
    return WorkersPage(
        now=now, silent_after=silent_after, pools=pool_lines, workers=lines
    )
