"""Import every model so that the mappers and ``Base.metadata`` are complete."""

from sqlalchemy.orm import configure_mappers

from jobrunner.accounts.models import AdminKey, Group, User
from jobrunner.db import Base
from jobrunner.jobs.models import (
    Job,
    JobTemplate,
    KillRequest,
    Project,
    RescheduleExclude,
    Run,
    RunLog,
)
from jobrunner.workers.models import Worker, WorkerPool


configure_mappers()

__all__ = [
    "AdminKey",
    "Base",
    "Group",
    "Job",
    "JobTemplate",
    "KillRequest",
    "Project",
    "RescheduleExclude",
    "Run",
    "RunLog",
    "User",
    "Worker",
    "WorkerPool",
]
