"""API resources for worker pools and workers."""

from cornice import Service
from sqlalchemy.orm import selectinload

from jobrunner import scopes
from jobrunner.api.resource import API_PREFIX, ApiContext, Field, Resource, register
from jobrunner.api.writes import Writer, answer, load_for_update, write_views
from jobrunner.security import Permission
from jobrunner.workers import heartbeat, operations
from jobrunner.workers.models import Worker, WorkerPool
from jobrunner.workers.schemas import WorkerPoolSchema, WorkerSchema


worker_pool = Resource(
    name="worker_pool",
    model=WorkerPool,
    scope=scopes.worker_pool,
    description="A set of workers that jobs are assigned to.",
    load_options=(selectinload(WorkerPool.workers),),
    fields=[
        Field(
            "title", "string", "Name of the pool.", unique=True, filter=True, order=True
        ),
        Field("description", "string", "What the pool is for."),
        Field(
            "notification_addresses",
            "list",
            "E-mail addresses told when the pool stops responding.",
        ),
        Field(
            "enqueue_is_enabled",
            "boolean",
            "Whether runs are handed out to this pool's workers.",
            filter=True,
        ),
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
        Field(
            "api_key",
            "string",
            "The public half of the worker's credential.",
            unique=True,
            filter=True,
        ),
        Field(
            "enqueue_is_enabled",
            "boolean",
            "Whether runs are handed out to this worker.",
            filter=True,
        ),
        Field(
            "ping_response_dts",
            "datetime",
            "The worker's last heartbeat.",
            nullable=True,
            filter=True,
            order=True,
        ),
        Field("worker_version", "string", "The version the worker reported."),
        Field("concurrent_jobs", "integer", "How many runs the worker runs at once."),
        Field(
            "worker_pools",
            "to_many",
            "The pools the worker is in.",
            attribute="pools",
            related="worker_pool",
        ),
    ],
)


WRITERS = {
    "worker_pool": Writer(
        schema=WorkerPoolSchema(),
        create=operations.create_pool,
        update=operations.save_pool,
        delete=operations.delete_pool,
    ),
    "worker": Writer(
        schema=WorkerSchema(),
        create=operations.create_worker_from,
        update=operations.save_worker,
        delete=operations.delete_worker,
        # The secret is shown once, when the worker is created.
        created_extra=lambda worker: {"secret": worker.secret},
    ),
}

rotate_secret_service = Service(
    name="api.worker.rotate_secret",
    path=f"{API_PREFIX}/worker/{{id:[0-9]+}}/rotate_secret/",
    factory=ApiContext,
    description="Give a worker a new secret, shown once in the answer.",
)


@rotate_secret_service.post(permission=Permission.MANAGE)
def rotate_secret(request):
    """Replace a worker's secret; the old one stops working at once."""
    found = load_for_update(request, worker)
    secret = operations.rotate_secret(request.lifecycle, found)
    return answer(request, worker, found, extra={"secret": secret})


def _worker_views():
    """Admin writes on workers, with PATCH shared with the workers' heartbeat.

    A worker PATCHing itself sends a heartbeat; an admin key PATCHing a worker
    changes it. One view serves both and picks the schema by caller.
    """
    views = []
    for kind, method, view, arguments in write_views(worker, WRITERS["worker"]):
        if method == "PATCH":
            view = heartbeat.either(view)
            arguments = {
                **arguments,
                "permission": Permission.WRITE,
                "validators": (heartbeat.validate_patch,),
            }
        views.append((kind, method, view, arguments))
    return tuple(views)


def includeme(config):
    register(config, worker_pool, write_views(worker_pool, WRITERS["worker_pool"]))
    register(config, worker, _worker_views())
    config.scan(".views")
