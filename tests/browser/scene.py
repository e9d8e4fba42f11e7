"""A small but lively installation to look at: the browser tests' data.

Two projects of one group with jobs in every state, a run going on with output
so far, a failing job, a chain, and workers that are responsive, silent and
never seen; and a project of another group that must never show.
"""

import datetime
import zoneinfo

from jobrunner.jobs import scheduling
from jobrunner.jobs.operations import excludes_of, schedule_of


SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)

NIGHTLY_LOG = """\
[02:00:01] connecting to the billing database
[02:00:02] 1,204 customers with open invoices
[02:00:41] rendered 1,204 invoices
[02:00:47] uploaded to the archive
"""

RATES_OUTPUT = "fetching rates from the central bank\n"

REMINDER_LOG = """\
[09:00:00] loading the reminder queue
[09:00:03] 32 reminders to send
Traceback (most recent call last):
  File "remind.py", line 48, in <module>
    smtp.send(batch)
smtplib.SMTPServerDisconnected: Connection unexpectedly closed
"""


def _finished(factory, job, worker, end, seconds, success=True, log=None, **kw):
    start = end - datetime.timedelta(seconds=seconds)
    run = factory.run(
        job,
        "completed_successful" if success else "completed_with_errors",
        worker=worker,
        schedule_dts=start - datetime.timedelta(seconds=1),
        enqueue_dts=start - datetime.timedelta(milliseconds=500),
        start_dts=start,
        return_dts=end,
        **kw,
    )
    if log is not None:
        factory.run_log(run, log)
    return run


def build(factory, now: datetime.datetime) -> dict:
    """Create the scene; return its notable objects by name."""
    ops = factory.group(name="ops")
    alice = factory.user(username="alice", groups=[ops])
    default = factory.pool(title="default", description="General purpose hosts")
    gpu = factory.pool(title="gpu")
    busy = factory.worker(
        pools=[default],
        title="host-1",
        worker_version="1.4.0",
        concurrent_jobs=4,
        ping_response_dts=now - datetime.timedelta(seconds=12),
    )
    factory.worker(
        pools=[default],
        title="host-2",
        worker_version="1.3.2",
        concurrent_jobs=2,
        ping_response_dts=now - 25 * MINUTE,
    )
    factory.worker(pools=[gpu], title="gpu-1", concurrent_jobs=1)

    billing = factory.project(
        pools=[default, gpu],
        groups=[ops],
        title="Billing",
        description="Invoices, reminders and exchange rates.",
    )
    shell = factory.template(billing, title="shell")
    nightly = factory.job(
        shell,
        default,
        title="Nightly invoices",
        cron_expression="0 2 * * *",
        timezone="Europe/Amsterdam",
        script_content_partial="python invoices.py",
        description="Renders and archives the day's invoices.",
    )
    factory.exclude(
        nightly,
        start_time=datetime.time(23, 30),
        end_time=datetime.time(0, 30),
        note="database backup",
    )
    archive = factory.job(
        shell,
        default,
        title="Archive invoices",
        parent=nightly,
        script_content_partial="python archive.py",
    )
    rates = factory.job(
        shell,
        default,
        title="Sync exchange rates",
        reschedule_interval=15,
        reschedule_interval_type="MINUTE",
        script_content_partial="python rates.py",
    )
    reminders = factory.job(
        shell,
        default,
        title="Send reminders",
        reschedule_interval=1,
        reschedule_interval_type="DAY",
        timezone="Europe/Amsterdam",
        fail_times=2,
        disable_enqueue_after_fails=5,
        script_content_partial="python remind.py",
    )

    # Thirty nights of invoices at 02:00 in Amsterdam, slowly getting slower,
    # three of them failed.
    amsterdam = zoneinfo.ZoneInfo("Europe/Amsterdam")
    last_night = now.astimezone(amsterdam).replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    if last_night > now:
        last_night -= DAY
    for night in range(29, -1, -1):
        start = last_night - night * DAY  # the same wall time, whatever the offset
        seconds = 40 + (29 - night) * 2.2 + (night % 4) * 3
        _finished(
            factory,
            nightly,
            busy,
            start + seconds * SECOND,
            seconds,
            success=night not in (20, 8, 3),
            log=NIGHTLY_LOG if night == 0 else None,
        )
    factory.run(
        nightly,
        schedule_dts=scheduling.next_run_dts(
            schedule_of(nightly), now=now, excludes=excludes_of(nightly)
        ),
    )
    _finished(
        factory, archive, busy, now - 2 * HOUR, 12, log="archived 1,204 invoices\n"
    )

    for hours in (5, 4, 3, 2, 1):
        _finished(factory, rates, busy, now - hours * 15 * MINUTE, 6 + hours % 3)
    running = factory.run(
        rates,
        "started",
        worker=busy,
        schedule_dts=now - 50 * SECOND,
        enqueue_dts=now - 45 * SECOND,
        start_dts=now - 44 * SECOND,
        pid=48213,
    )
    output = factory.run_log(running, RATES_OUTPUT)
    output.received_bytes = len(RATES_OUTPUT.encode())
    factory.dbsession.commit()

    _finished(factory, reminders, busy, now - 2 * DAY, 8)
    _finished(
        factory, reminders, busy, now - 26 * HOUR, 4, success=False, log=REMINDER_LOG
    )
    failed = _finished(
        factory, reminders, busy, now - 2 * HOUR, 3, success=False, log=REMINDER_LOG
    )
    factory.run(reminders, schedule_dts=now + 22 * HOUR)

    website = factory.project(pools=[default], groups=[ops], title="Website")
    site = factory.template(website, title="site")
    search = factory.job(
        site,
        default,
        title="Rebuild search index",
        reschedule_interval=1,
        reschedule_interval_type="HOUR",
        script_content_partial="make index",
    )
    _finished(factory, search, busy, now - 20 * MINUTE, 95)
    factory.run(search, schedule_dts=now + 40 * MINUTE)
    factory.job(
        site,
        default,
        title="Purge CDN",
        enqueue_is_enabled=False,
        cron_expression="*/30 * * * *",
        script_content_partial="./purge-cdn",
    )

    others = factory.group(name="others")
    secret = factory.project(pools=[gpu], groups=[others], title="Secret project")
    hidden = factory.job(factory.template(secret), gpu, title="Hidden job")
    factory.run(hidden, "completed_with_errors")

    return {
        "user": alice,
        "worker": busy,
        "nightly": nightly,
        "rates": rates,
        "running": running,
        "reminders": reminders,
        "failed": failed,
        "hidden": hidden,
    }
