"""Projects, job templates, jobs, their runs and everything hanging off runs."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from jobrunner.db import Base, UTCDateTime, Versioned, utcnow


project_viewer_group = Table(
    "project_viewer_group",
    Base.metadata,
    Column(
        "project_id", ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "group_id",
        ForeignKey("account_group.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

project_worker_pool = Table(
    "project_worker_pool",
    Base.metadata,
    Column(
        "project_id", ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "worker_pool_id",
        ForeignKey("worker_pool.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Project(Versioned, Base):
    """A team's collection of job templates, visible to its viewer groups."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    notification_addresses: Mapped[list] = mapped_column(JSON, default=list)
    enqueue_is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    viewer_groups = relationship(
        "Group", secondary=project_viewer_group, order_by="Group.id"
    )
    worker_pools = relationship(
        "WorkerPool", secondary=project_worker_pool, order_by="WorkerPool.id"
    )
    job_templates: Mapped[list["JobTemplate"]] = relationship(back_populates="project")


class JobTemplate(Versioned, Base):
    """A script body shared by jobs; ``{{ content }}`` marks where a job's part goes."""

    __tablename__ = "job_template"
    __table_args__ = (UniqueConstraint("project_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="{{ content }}")
    notification_addresses: Mapped[list] = mapped_column(JSON, default=list)
    enqueue_is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    project: Mapped[Project] = relationship(back_populates="job_templates")
    jobs: Mapped[list["Job"]] = relationship(back_populates="job_template")


class Job(Versioned, Base):
    """A script with a schedule, run by the workers of one pool."""

    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("job_template_id", "title"),
        CheckConstraint(
            "reschedule_interval IS NULL OR reschedule_interval > 0",
            name="positive_interval",
        ),
        CheckConstraint(
            "reschedule_interval IS NULL OR cron_expression IS NULL",
            name="one_schedule_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_template_id: Mapped[int] = mapped_column(
        ForeignKey("job_template.id"), index=True
    )
    worker_pool_id: Mapped[int] = mapped_column(
        ForeignKey("worker_pool.id"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id"), index=True, nullable=True
    )
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    script_content_partial: Mapped[str] = mapped_column(Text, default="")
    # The template rendered with the job's partial, kept up to date on every
    # change so that handing out a run never renders anything.
    script_content: Mapped[str] = mapped_column(Text, default="")
    enqueue_is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    reschedule_interval: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reschedule_interval_type: Mapped[str | None] = mapped_column(
        String(10), nullable=True
    )
    reschedule_type: Mapped[str] = mapped_column(
        String(20), default="AFTER_SCHEDULE_DTS"
    )
    cron_expression: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The instant an interval schedule counts from, so that month-end dates
    # and the phase of the schedule survive clamping and late returns.
    schedule_anchor_dts = mapped_column(UTCDateTime, nullable=True)

    run_on_all_workers: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_children_on_error: Mapped[bool] = mapped_column(Boolean, default=False)
    notification_addresses: Mapped[list] = mapped_column(JSON, default=list)
    fail_times: Mapped[int] = mapped_column(Integer, default=0)
    disable_enqueue_after_fails: Mapped[int | None] = mapped_column(
        Integer, nullable=True
    )

    job_template: Mapped[JobTemplate] = relationship(back_populates="jobs")
    worker_pool = relationship("WorkerPool")
    parent: Mapped["Job | None"] = relationship(
        remote_side=[id], back_populates="children"
    )
    children: Mapped[list["Job"]] = relationship(
        back_populates="parent", order_by="Job.id"
    )
    reschedule_excludes: Mapped[list["RescheduleExclude"]] = relationship(
        back_populates="job", order_by="RescheduleExclude.id"
    )


class RescheduleExclude(Versioned, Base):
    """A local time-of-day window in which a job must not be scheduled."""

    __tablename__ = "reschedule_exclude"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("job.id", ondelete="CASCADE"), index=True
    )
    start_time = mapped_column(Time, nullable=False)
    end_time = mapped_column(Time, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="")

    job: Mapped[Job] = relationship(back_populates="reschedule_excludes")


# Partial indexes are written once for both dialects.
_DUE = text("enqueue_dts IS NULL AND return_dts IS NULL")
_UNFINISHED = text("return_dts IS NULL")
_PENDING_SCHEDULED = text(
    "enqueue_dts IS NULL AND return_dts IS NULL AND is_manual = false"
)


class Run(Base):
    """One execution of a job: scheduled, claimed by a worker, started, returned."""

    __tablename__ = "run"
    __table_args__ = (
        # "Which runs are due": scheduled runs only, ordered by due time.
        Index(
            "ix_run_due",
            "schedule_dts",
            "id",
            postgresql_where=_DUE,
            sqlite_where=_DUE,
        ),
        # "The latest runs of this job", by schedule and by completion.
        Index("ix_run_job_schedule_dts", "job_id", "schedule_dts"),
        Index("ix_run_job_return_dts", "job_id", "return_dts"),
        # What a worker holds now (monitor, reconciliation, dashboard).
        Index(
            "ix_run_worker_unfinished",
            "worker_id",
            postgresql_where=_UNFINISHED,
            sqlite_where=_UNFINISHED,
        ),
        # Every list of runs, whatever it filters on, in its default order
        # and in each order it offers, so that a page and its capped count
        # walk an index and stop early instead of sorting the history.
        Index("ix_run_schedule_dts", "schedule_dts", "id"),
        Index("ix_run_enqueue_dts", "enqueue_dts"),
        Index("ix_run_start_dts", "start_dts"),
        Index("ix_run_return_dts", "return_dts"),
        # A worker's history (the partial index above holds only what it runs).
        Index("ix_run_worker_schedule_dts", "worker_id", "schedule_dts"),
        Index("ix_run_schedule_id", "schedule_id"),
        # At most one pending run per job from its schedule (one per worker
        # for jobs that run on all workers): a duplicate reschedule, however it
        # races, fails here instead of creating a second next run.
        Index(
            "uq_run_pending_scheduled",
            "job_id",
            func.coalesce(text("worker_id"), 0),
            unique=True,
            postgresql_where=_PENDING_SCHEDULED,
            sqlite_where=_PENDING_SCHEDULED,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"))
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("worker.id", ondelete="SET NULL"), nullable=True
    )
    schedule_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    schedule_dts = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    enqueue_dts = mapped_column(UTCDateTime, nullable=True)
    start_dts = mapped_column(UTCDateTime, nullable=True)
    return_dts = mapped_column(UTCDateTime, nullable=True)
    return_success: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_children: Mapped[bool] = mapped_column(Boolean, default=True)

    job: Mapped[Job] = relationship()
    worker = relationship("Worker")
    run_log: Mapped["RunLog | None"] = relationship(back_populates="run", uselist=False)


class RunLog(Base):
    """The output of a run, one row per run."""

    __tablename__ = "run_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), unique=True
    )
    content: Mapped[str] = mapped_column(Text, default="")
    # Bytes of output received so far: the offset the next append must give.
    # 64-bit: a long-running chatty script can print more than 2 GiB.
    received_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )
    # Bytes dropped from the middle when the log outgrew its cap.
    omitted_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )

    run: Mapped[Run] = relationship(back_populates="run_log")


class KillRequest(Base):
    """A request to kill an active run, acted upon by the run's worker."""

    __tablename__ = "kill_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), index=True
    )
    schedule_dts = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    enqueue_dts = mapped_column(UTCDateTime, nullable=True)
    execute_dts = mapped_column(UTCDateTime, nullable=True)

    run: Mapped[Run] = relationship()
