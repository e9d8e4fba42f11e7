"""API resources for worker pools and workers."""

from sqlalchemy.orm import selectinload

from jobrunner import scopes
from jobrunner.api.resource import Field, Resource, register
from jobrunner.workers import heartbeat
from jobrunner.workers.models import Worker, WorkerPool


worker_pool = Resource(
    name="worker_pool",
    model=WorkerPool,
    scope=scopes.worker_pool,
    description="A set of workers that jobs are assigned to.",
    load_options=(selectinload(WorkerPool.workers),),
    fields=[
        Field("title", "string", "Name of the pool.", unique=True, filter=True,
              order=True),
        Field("description", "string", "What the pool is for."),
        Field("notification_addresses", "list",
              "E-mail addresses told when the pool stops responding."),
        Field("enqueue_is_enabled", "boolean",
              "Whether runs are handed out to this pool's workers.", filter=True),
        Field("workers", "to_many", "The workers in the pool.", related="worker"),
    ],
)

worker = Resource(
    name="worker",
    model=Worker,
    scope=scopes.worker,
    description="A worker daemon. Its secret is never shown.",
    load_options=(selectinload(Worker.pools),),
    fields=[
        Field("title", "string", "Name of the worker.", filter=True, order=True),
        Field("description", "string", "Where and what the worker is."),
        Field("api_key", "string", "The public half of the worker's credential.",
              unique=True, filter=True),
        Field("enqueue_is_enabled", "boolean",
              "Whether runs are handed out to this worker.", filter=True),
        Field("ping_response_dts", "datetime", "The worker's last heartbeat.",
              nullable=True, filter=True, order=True),
        Field("worker_version", "string", "The version the worker reported."),
        Field("concurrent_jobs", "integer", "How many runs the worker runs at once."),
        Field("worker_pools", "to_many", "The pools the worker is in.",
              attribute="pools", related="worker_pool"),
    ],
)


def includeme(config):
    register(config, worker_pool)
    register(config, worker, heartbeat.EXTRA_VIEWS)
