"""Worker pools and the worker daemons that belong to them."""

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from jobrunner.db import Base, UTCDateTime, Versioned


worker_pool_worker = Table(
    "worker_pool_worker",
    Base.metadata,
    Column(
        "worker_pool_id",
        ForeignKey("worker_pool.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "worker_id",
        ForeignKey("worker.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class WorkerPool(Versioned, Base):
    """A set of workers that jobs are assigned to."""

    __tablename__ = "worker_pool"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    notification_addresses: Mapped[list] = mapped_column(JSON, default=list)
    enqueue_is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the monitor last said that every worker of the pool is silent, so
    # that it says so once per outage rather than on every pass.
    unresponsive_notice_dts = mapped_column(UTCDateTime, nullable=True)

    workers: Mapped[list["Worker"]] = relationship(
        secondary=worker_pool_worker, back_populates="pools", order_by="Worker.id"
    )


class Worker(Versioned, Base):
    """A worker daemon, known by its api key and HMAC secret."""

    __tablename__ = "worker"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    api_key: Mapped[str] = mapped_column(String(255), unique=True)
    secret: Mapped[str] = mapped_column(String(255))
    enqueue_is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    ping_response_dts = mapped_column(UTCDateTime, nullable=True)
    worker_version: Mapped[str] = mapped_column(String(255), default="")
    concurrent_jobs: Mapped[int] = mapped_column(Integer, default=4)

    pools: Mapped[list[WorkerPool]] = relationship(
        secondary=worker_pool_worker, back_populates="workers", order_by="WorkerPool.id"
    )
