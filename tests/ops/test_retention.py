"""Pruning old completed runs: jobrunner-admin prune and the monitor's duty."""

import datetime
import io
import json

import pytest
from sqlalchemy import func, select

from jobrunner.db import utcnow
from jobrunner.jobs import retention
from jobrunner.jobs.models import KillRequest, Run, RunLog
from jobrunner.scripts import admin
from jobrunner.scripts import monitor as monitor_script


DAY = datetime.timedelta(days=1)


@pytest.fixture
def jobs(factory):
    pool = factory.pool()
    # Alive, so the monitor's other duties leave its runs alone.
    worker = factory.worker(pools=[pool], ping_response_dts=utcnow())
    template = factory.template(factory.project(pools=[pool]))
    return {
        "worker": worker,
        "busy": factory.job(template, pool),
        "quiet": factory.job(template, pool),
    }


def completed(factory, job, worker, days_ago, log=True, kill=False):
    returned = utcnow() - days_ago * DAY
    run = factory.run(
        job,
        "completed_successful",
        worker=worker,
        is_manual=True,
        schedule_dts=returned - datetime.timedelta(minutes=2),
        enqueue_dts=returned - datetime.timedelta(minutes=1),
        start_dts=returned - datetime.timedelta(minutes=1),
        return_dts=returned,
    )
    if log:
        factory.run_log(run, f"ran {days_ago} days ago\n")
    if kill:
        factory.kill_request(run)
    return run


@pytest.fixture
def history(jobs, factory):
    """The busy job ran daily for 10 days, the quiet one twice long ago."""
    worker = jobs["worker"]
    busy = [completed(factory, jobs["busy"], worker, d, kill=d == 9) for d in range(10)]
    quiet = [completed(factory, jobs["quiet"], worker, d) for d in (200, 300)]
    unfinished = [
        factory.run(
            jobs["busy"],
            state,
            worker=worker,
            is_manual=True,
            schedule_dts=utcnow() - 400 * DAY,
        )
        for state in ("scheduled", "in_queue", "started")
    ]
    return {"busy": busy, "quiet": quiet, "unfinished": unfinished}


def remaining_ids(dbsession):
    dbsession.expire_all()
    return set(dbsession.scalars(select(Run.id)))


def in_transaction(dbsession):
    def run(function):
        result = function(dbsession)
        dbsession.commit()
        return result

    return run


def test_prune_deletes_old_completed_runs_but_each_jobs_latest(history, dbsession):
    cutoff = utcnow() - 4.5 * DAY

    result = retention.prune(in_transaction(dbsession), cutoff, keep_per_job=2)

    busy, quiet = history["busy"], history["quiet"]
    # Days 5-9 are older than the cut-off; the quiet job keeps both its runs.
    gone = {r.id for r in busy[5:]}
    kept = {r.id for r in busy[:5] + quiet + history["unfinished"]}
    assert remaining_ids(dbsession) == kept
    assert (result.runs, result.run_logs, result.kill_requests) == (5, 5, 1)
    assert not dbsession.scalar(
        select(func.count()).select_from(RunLog).where(RunLog.run_id.in_(gone))
    )
    assert not dbsession.scalar(select(func.count()).select_from(KillRequest))


def test_keep_per_job_counts_only_completed_runs(history, dbsession):
    result = retention.prune(in_transaction(dbsession), utcnow() + DAY, keep_per_job=3)

    expected = {r.id for r in history["busy"][:3] + history["quiet"]}
    assert remaining_ids(dbsession) == expected | {r.id for r in history["unfinished"]}
    assert result.runs == 7


def test_keep_nothing_deletes_every_old_completed_run(history, dbsession):
    retention.prune(in_transaction(dbsession), utcnow() - 100 * DAY, keep_per_job=0)

    assert not {r.id for r in history["quiet"]} & remaining_ids(dbsession)


def test_prune_goes_in_batches_of_their_own_transactions(history, dbsession):
    transactions = []

    def counting(function):
        transactions.append(function)
        return in_transaction(dbsession)(function)

    result = retention.prune(
        counting, utcnow() - 4.5 * DAY, keep_per_job=2, batch_size=2
    )

    # Five runs in batches of two: 2, 2, 1, the last one short.
    assert result.runs == 5
    assert result.batches == len(transactions) == 3


def test_a_dry_run_counts_the_same_and_deletes_nothing(history, dbsession):
    before = remaining_ids(dbsession)
    cutoff = utcnow() - 4.5 * DAY

    dry = retention.prune(
        in_transaction(dbsession), cutoff, keep_per_job=2, batch_size=2, dry_run=True
    )

    assert remaining_ids(dbsession) == before
    real = retention.prune(in_transaction(dbsession), cutoff, keep_per_job=2)
    assert (dry.runs, dry.run_logs, dry.kill_requests) == (
        real.runs,
        real.run_logs,
        real.kill_requests,
    )
    assert dry.dry_run and not real.dry_run


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90d", 90 * DAY),
        ("12h", datetime.timedelta(hours=12)),
        ("2w", 14 * DAY),
        ("30m", datetime.timedelta(minutes=30)),
        ("45s", datetime.timedelta(seconds=45)),
    ],
)
def test_ages(text, expected):
    assert retention.parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "-1d", "1y", "1.5d"])
def test_bad_ages_are_refused(text):
    with pytest.raises(ValueError):
        retention.parse_age(text)


@pytest.fixture
def config_uri(tmp_path, app_settings):
    ini = tmp_path / "prune.ini"
    ini.write_text(
        "[app:main]\nuse = egg:jobrunner\n"
        f"sqlalchemy.url = {app_settings['sqlalchemy.url']}\n"
        "auth.secret = test\n"
    )
    return str(ini)


def test_the_admin_command_prunes_and_prints_json(history, dbsession, config_uri):
    out = io.StringIO()
    argv = [
        config_uri,
        "prune",
        "--older-than",
        "4d",
        "--keep-per-job",
        "2",
        "--batch-size",
        "3",
    ]

    assert admin.main([*argv, "--dry-run"], stdout=out) == 0
    assert len(remaining_ids(dbsession)) == 15
    assert admin.main(argv, stdout=out) == 0

    dry, real = (json.loads(line) for line in out.getvalue().splitlines())
    assert dry["dry_run"] is True and dry["runs"] == 6
    # Two full batches of three, and a third that finds nothing more.
    assert real["runs"] == 6 and real["batches"] == 3
    assert len(remaining_ids(dbsession)) == 9


def test_the_admin_command_refuses_an_empty_batch(config_uri, capsys):
    with pytest.raises(SystemExit):
        admin.main([config_uri, "prune", "--older-than", "4d", "--batch-size", "0"])

    assert "not at least 1" in capsys.readouterr().err


def test_the_admin_command_refuses_a_bad_age(config_uri, capsys):
    with pytest.raises(SystemExit):
        admin.main([config_uri, "prune", "--older-than", "soon"])

    assert "not an age" in capsys.readouterr().err


def make_monitor(app_settings, **extra):
    return monitor_script.Monitor(
        {
            **app_settings,
            "monitor.prune_older_than": "4d",
            "monitor.prune_keep_per_job": "1",
            **extra,
        }
    )


def test_the_monitor_prunes_once_the_oldest_run_is_a_day_past_the_cutoff(
    history, dbsession, app_settings
):
    first, second = make_monitor(app_settings), make_monitor(app_settings)
    try:
        pruned = first.run_once()["pruned"]
        # Another monitor, or this one restarted, finds nothing due: what is
        # left past the cut-off is younger than a day.
        completed_now = second.prune_if_due(now=utcnow() + 0.5 * DAY)
        again_later = first.prune_if_due()
    finally:
        first.close()
        second.close()

    assert pruned["runs"] == 7  # busy days 4-9, quiet 300 (200 is its latest)
    assert completed_now is None
    assert again_later is None  # checked within the hour already
    remaining = remaining_ids(dbsession)
    assert history["quiet"][0].id in remaining
    assert history["busy"][3].id in remaining


def test_a_long_prune_goes_on_over_several_passes(history, dbsession, app_settings):
    duties = make_monitor(
        app_settings,
        **{"monitor.prune_batch_size": "2", "monitor.prune_batches_per_pass": "1"},
    )
    try:
        passes = [duties.run_once()["pruned"] for _ in range(5)]
    finally:
        duties.close()

    # Seven candidates, two per pass: the fourth pass deletes the last one and
    # finishes; the fifth waits for the next hourly check.
    assert [p["runs"] for p in passes[:4]] == [2, 2, 2, 1]
    assert [p["finished"] for p in passes[:4]] == [False, False, False, True]
    assert passes[4] is None
    assert len(remaining_ids(dbsession)) == 8


def test_a_pass_with_a_prune_backlog_still_fails_silent_workers_runs(
    history, jobs, factory, app_settings
):
    silent = factory.worker(ping_response_dts=utcnow() - 10 * DAY)
    running = factory.run(jobs["busy"], "started", worker=silent)
    duties = make_monitor(
        app_settings,
        **{"monitor.prune_batch_size": "1", "monitor.prune_batches_per_pass": "1"},
    )
    try:
        result = duties.run_once()
    finally:
        duties.close()

    assert result["failed_runs"] == [running.id]
    assert result["pruned"]["finished"] is False


def test_the_monitor_does_not_prune_unless_asked(history, app_settings, dbsession):
    duties = monitor_script.Monitor(dict(app_settings))
    try:
        result = duties.run_once()
    finally:
        duties.close()

    assert "pruned" not in result
    assert len(remaining_ids(dbsession)) == 15


@pytest.mark.postgresql_only
def test_only_one_monitor_prunes_at_a_time(history, app_settings, dialect, dbengine):
    if dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serialises writers")
    duties = make_monitor(app_settings)
    try:
        with retention.exclusive(dbengine) as mine:
            assert mine
            assert duties.prune_if_due() is None
        duties.next_prune_check = 0
        assert duties.prune_if_due()["runs"] == 7
    finally:
        duties.close()
