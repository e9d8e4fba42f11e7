"""Rescheduling on return, through the life-cycle operations, at fixed times.

The schedule arithmetic itself is tested in tests/unit/jobs/test_scheduling.py;
these tests check that a returned run leads to the right next run in the
database, across daylight saving changes, month ends and exclude windows.
"""

import datetime

import pytest

from jobrunner.jobs import operations
from jobrunner.jobs.models import Job, Run
from jobrunner.notifications import Notifier


UTC = datetime.UTC


class Outbox:
    def __init__(self):
        self.messages = []

    def send_immediately(self, message):
        self.messages.append(message)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def outbox():
    return Outbox()


@pytest.fixture
def job_factory(factory):
    pool = factory.pool()
    template = factory.template(factory.project(pools=[pool]))

    def make(**schedule):
        return factory.job(template, pool, **schedule)

    return make


def complete(dbsession, outbox, job, scheduled: str, returned: str) -> list[Run]:
    """Run ``job`` at ``scheduled``, return it at ``returned``; list what is next."""
    run = Run(
        job_id=job.id,
        schedule_dts=at(scheduled),
        enqueue_dts=at(scheduled),
        start_dts=at(scheduled),
    )
    dbsession.add(run)
    dbsession.commit()
    lc = operations.Lifecycle(
        dbsession=dbsession,
        now=at(returned),
        notifier=Notifier(outbox, "jobrunner@localhost", []),
    )
    operations.report(
        lc, run, {"return_dts": at(returned), "return_success": True}, worker_id=None
    )
    dbsession.commit()
    return (
        dbsession.query(Run)
        .filter(Run.job_id == job.id, Run.return_dts.is_(None))
        .order_by(Run.schedule_dts)
        .all()
    )


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        # The day before spring forward, and the day of it: 10:00 local both.
        ("2024-03-30T10:00:00+01:00", "2024-03-31T10:00:00+02:00"),
        # Fall back.
        ("2024-10-26T10:00:00+02:00", "2024-10-27T10:00:00+01:00"),
    ],
)
def test_a_daily_cron_job_stays_at_ten_local_across_dst(
    dbsession, outbox, job_factory, scheduled, expected
):
    job = job_factory(cron_expression="0 10 * * *", timezone="Europe/Amsterdam")

    (next_run,) = complete(
        dbsession,
        outbox,
        job,
        scheduled,
        returned=scheduled.replace("10:00:00", "10:00:30"),
    )

    assert next_run.schedule_dts == at(expected)


def test_a_daily_interval_job_stays_at_ten_local_across_dst(
    dbsession, outbox, job_factory
):
    job = job_factory(
        reschedule_interval=1,
        reschedule_interval_type="DAY",
        timezone="Europe/Amsterdam",
        schedule_anchor_dts=at("2024-03-01T10:00:00+01:00"),
    )

    (next_run,) = complete(
        dbsession, outbox, job, "2024-03-30T10:00:00+01:00", "2024-03-30T10:05:00+01:00"
    )

    assert next_run.schedule_dts == at("2024-03-31T10:00:00+02:00")


def test_a_job_that_runs_at_a_time_skipped_by_spring_forward_runs_once_later(
    dbsession, outbox, job_factory
):
    job = job_factory(cron_expression="30 2 * * *", timezone="Europe/Amsterdam")

    (next_run,) = complete(
        dbsession, outbox, job, "2024-03-30T02:30:00+01:00", "2024-03-30T02:31:00+01:00"
    )

    assert next_run.schedule_dts == at("2024-03-31T03:30:00+02:00")


def test_a_monthly_job_on_the_31st_comes_back_to_the_31st(
    dbsession, outbox, job_factory
):
    job = job_factory(
        reschedule_interval=1,
        reschedule_interval_type="MONTH",
        schedule_anchor_dts=at("2024-01-31T06:00:00+00:00"),
    )

    (february,) = complete(
        dbsession, outbox, job, "2024-01-31T06:00:00+00:00", "2024-01-31T06:01:00+00:00"
    )
    february_dts = february.schedule_dts
    dbsession.delete(february)
    dbsession.commit()
    (march,) = complete(
        dbsession, outbox, job, "2024-02-29T06:00:00+00:00", "2024-02-29T06:01:00+00:00"
    )

    assert february_dts == at("2024-02-29T06:00:00+00:00")
    assert march.schedule_dts == at("2024-03-31T06:00:00+00:00")


def test_a_late_return_does_not_create_a_backlog(dbsession, outbox, job_factory):
    job = job_factory(
        reschedule_interval=10,
        reschedule_interval_type="MINUTE",
        schedule_anchor_dts=at("2024-05-01T00:00:00+00:00"),
    )

    (next_run,) = complete(
        dbsession, outbox, job, "2024-05-01T00:00:00+00:00", "2024-05-01T00:37:00+00:00"
    )

    assert next_run.schedule_dts == at("2024-05-01T00:40:00+00:00")


def test_after_complete_counts_from_the_return(dbsession, outbox, job_factory):
    job = job_factory(
        reschedule_interval=10,
        reschedule_interval_type="MINUTE",
        reschedule_type="AFTER_COMPLETE_DTS",
    )

    (next_run,) = complete(
        dbsession, outbox, job, "2024-05-01T00:00:00+00:00", "2024-05-01T00:07:00+00:00"
    )

    assert next_run.schedule_dts == at("2024-05-01T00:17:00+00:00")


def test_exclude_windows_push_the_next_run_past_them(
    dbsession, outbox, job_factory, factory
):
    job = job_factory(cron_expression="0 * * * *", timezone="Europe/Amsterdam")
    factory.exclude(job, start_time=datetime.time(12, 0), end_time=datetime.time(14, 0))

    (next_run,) = complete(
        dbsession, outbox, job, "2024-05-01T11:00:00+02:00", "2024-05-01T11:10:00+02:00"
    )

    assert next_run.schedule_dts == at("2024-05-01T14:00:00+02:00")


def test_a_job_excluded_all_day_is_not_rescheduled_and_people_are_told(
    dbsession, outbox, job_factory, factory
):
    job = job_factory(
        cron_expression="0 * * * *", notification_addresses=["owner@example.com"]
    )
    factory.exclude(
        job, start_time=datetime.time(0, 0), end_time=datetime.time(0, 0, 0)
    )
    factory.exclude(
        job, start_time=datetime.time(0, 0), end_time=datetime.time(23, 59, 59)
    )

    pending = complete(
        dbsession, outbox, job, "2024-05-01T11:00:00+00:00", "2024-05-01T11:10:00+00:00"
    )

    assert pending == []
    (message,) = outbox.messages
    assert "could not be rescheduled" in message.subject
    assert "owner@example.com" in message.recipients
    assert dbsession.get(Job, job.id).enqueue_is_enabled is True
