"""Shared arrangements for the run life-cycle tests."""

import datetime
import json

from jobrunner.db import utcnow
from jobrunner.jobs import operations
from jobrunner.jobs.models import Run
from jobrunner.notifications import Notifier


class _NoMail:
    def send_immediately(self, message):
        raise AssertionError("tests arrange data without sending mail")


def lifecycle(dbsession, now=None) -> operations.Lifecycle:
    return operations.Lifecycle(
        dbsession=dbsession,
        now=now or utcnow(),
        notifier=Notifier(_NoMail(), "test@localhost", []),
    )


def schedule_first_run(dbsession, job, now=None) -> list[Run]:
    """Give a job its first scheduled run, as creating it over the API does."""
    runs = operations.ensure_scheduled(lifecycle(dbsession, now), job)
    dbsession.commit()
    return runs


def iso(value: datetime.datetime) -> str:
    return value.isoformat()


def patch(signer, run_id, status=202, **values):
    body = json.dumps(
        {
            k: iso(v) if isinstance(v, datetime.datetime) else v
            for k, v in values.items()
        }
    )
    return signer.request(
        "PATCH", f"/api/job_runner/v1/run/{run_id}/", body, status=status
    )


def post(signer, path, status=None, **values):
    return signer.request("POST", path, json.dumps(values), status=status)


def pending_runs(dbsession, job):
    dbsession.expire_all()
    return (
        dbsession.query(Run)
        .filter(Run.job_id == job.id, Run.enqueue_dts.is_(None))
        .order_by(Run.id)
        .all()
    )
