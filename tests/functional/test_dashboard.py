"""The dashboard pages and their live twins, through the real login and app."""

import datetime
import re
import urllib.parse

import pytest
import sqlalchemy as sa

from jobrunner.dashboard import queries
from jobrunner.db import utcnow
from jobrunner.jobs.models import RunLog
from jobrunner.security import UserIdentity
from tests.conftest import Signer


SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
UTC = datetime.UTC

# Every page with a path for one side of the world; "live" ones answer JSON.
PAGES = {
    "overview": lambda side: "/",
    "job": lambda side: f"/jobs/{side['job'].id}",
    "run": lambda side: f"/runs/{side['run'].id}",
    "workers": lambda side: "/workers",
    "live.overview": lambda side: "/live/overview",
    "live.job": lambda side: f"/live/jobs/{side['job'].id}",
    "live.run": lambda side: f"/live/runs/{side['run'].id}",
    "live.workers": lambda side: "/live/workers",
}
OBJECT_PAGES = ["job", "run", "live.job", "live.run"]


def finished(factory, job, worker, end, seconds, success=True, **kw):
    """A run that ran ``seconds`` and returned at ``end``."""
    start = end - seconds * SECOND
    return factory.run(
        job,
        "completed_successful" if success else "completed_with_errors",
        worker=worker,
        schedule_dts=start - SECOND,
        enqueue_dts=start - SECOND,
        start_dts=start,
        return_dts=end,
        **kw,
    )


def visible_text(response) -> str:
    """The page's text without tags, with whitespace runs collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.text)
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def world(factory):
    return factory.world()


def identity_of(user) -> UserIdentity:
    """The identity a user's session gives, for calling the queries directly."""
    return UserIdentity(
        user.id, user.username, tuple(g.id for g in user.groups), user.is_superuser
    )


def iso(dts: datetime.datetime) -> str:
    """An instant as the pages write it in ``<time datetime=...>``."""
    return dts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def as_user(testapp, shared_login, username="user-a"):
    """Give a shared client the session cookie of ``username``."""
    testapp.set_cookie("jobrunner_auth", shared_login(username))
    return testapp


class TestAccess:
    """Read-only checks over one world per class (see ``shared_world``)."""

    @pytest.mark.parametrize("name", PAGES)
    def test_anonymous_people_are_sent_to_the_login_form(
        self, shared_world, shared_testapp, name
    ):
        path = PAGES[name](shared_world["a"])

        response = shared_testapp.get(path, status=303)

        query = urllib.parse.urlencode({"came_from": path})
        assert response.location == f"http://localhost/login?{query}"

    def test_the_login_form_brings_them_back(self, shared_world, shared_testapp):
        path = f"/jobs/{shared_world['a']['job'].id}"
        form = shared_testapp.get(path, status=303).follow().forms[0]
        form["username"] = "user-a"
        form["password"] = "secret-password"

        response = form.submit(status=303)

        assert response.location == f"http://localhost{path}"
        assert "job-a" in shared_testapp.get(response.location).text

    @pytest.mark.parametrize("name", PAGES)
    def test_a_signature_does_not_open_a_page(self, shared_world, shared_testapp, name):
        admin = Signer(shared_testapp, "admin-key", "admin-secret")

        response = admin.get(PAGES[name](shared_world["a"]), status=303)

        assert "/login?came_from=" in response.location

    @pytest.mark.parametrize("name", OBJECT_PAGES)
    def test_another_groups_objects_are_not_found(
        self, shared_world, shared_testapp, shared_login, name
    ):
        testapp = as_user(shared_testapp, shared_login)

        response = testapp.get(PAGES[name](shared_world["b"]), status=404)

        assert "job-b" not in response.text and "project-b" not in response.text

    @pytest.mark.parametrize("name", OBJECT_PAGES)
    def test_unknown_objects_are_not_found_alike(
        self, shared_world, shared_testapp, shared_login, name
    ):
        testapp = as_user(shared_testapp, shared_login)
        path = re.sub(r"\d+$", "999999", PAGES[name](shared_world["a"]))

        response = testapp.get(path, status=404)

        assert "does not exist, or it belongs to a project you may not see" in (
            response.text
        )

    @pytest.mark.parametrize(
        "name", ["overview", "workers", "live.overview", "live.workers"]
    )
    def test_lists_leave_other_groups_out(
        self, shared_world, shared_testapp, shared_login, name
    ):
        testapp = as_user(shared_testapp, shared_login)

        text = testapp.get(PAGES[name](shared_world["a"])).text

        assert "project-a" in text or "pool-a" in text
        hidden_worker = f"{shared_world['b']['worker'].title}<"
        for hidden in ("project-b", "job-b", "pool-b", hidden_worker):
            assert hidden not in text

    def test_a_superuser_sees_every_project(
        self, shared_world, shared_testapp, shared_login
    ):
        testapp = as_user(shared_testapp, shared_login, "root")

        text = testapp.get("/").text

        assert "project-a" in text and "project-b" in text
        testapp.get(f"/runs/{shared_world['b']['run'].id}")

    def test_a_history_cursor_from_another_job_is_not_found(
        self, shared_world, shared_testapp, shared_login
    ):
        testapp = as_user(shared_testapp, shared_login)
        job, other = shared_world["a"]["job"], shared_world["b"]["run"]

        testapp.get(f"/jobs/{job.id}", {"before": other.id}, status=404)
        testapp.get(f"/live/jobs/{job.id}", {"after": other.id}, status=404)

    @pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
    def test_a_malformed_cursor_is_not_found(
        self, shared_world, shared_testapp, shared_login, value
    ):
        testapp = as_user(shared_testapp, shared_login)
        path = f"/jobs/{shared_world['a']['job'].id}"

        testapp.get(path, {"before": value}, status=404)

    @pytest.mark.parametrize("name", PAGES)
    def test_pages_are_not_kept_in_caches(
        self, shared_world, shared_testapp, shared_login, name
    ):
        testapp = as_user(shared_testapp, shared_login)

        response = testapp.get(PAGES[name](shared_world["a"]))

        assert response.headers["Cache-Control"] == "no-store"

    @pytest.mark.parametrize("name", ["overview", "job", "run", "workers"])
    def test_the_only_form_is_the_logout_button(
        self, shared_world, shared_testapp, shared_login, name
    ):
        testapp = as_user(shared_testapp, shared_login)

        response = testapp.get(PAGES[name](shared_world["a"]))

        assert [form.action for form in response.forms.values()] == ["/logout"]
        assert response.text.count("<button") == 1

    @pytest.mark.parametrize("name", PAGES)
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    def test_no_page_takes_a_write(
        self, shared_world, shared_testapp, shared_login, name, method
    ):
        testapp = as_user(shared_testapp, shared_login)

        response = testapp.request(
            PAGES[name](shared_world["a"]), method=method, expect_errors=True
        )

        assert response.status_int == 404


class TestOverview:
    def test_shows_each_job_with_its_last_and_next_run(
        self, world, factory, testapp, login, dbsession
    ):
        a = world["a"]
        now = utcnow()
        last = finished(factory, a["job"], a["worker"], now - 5 * MINUTE, 75)
        factory.run(a["job"], schedule_dts=now + HOUR)
        login("user-a")

        response = testapp.get("/")

        row = response.html.find("a", string="job-a").find_parent("tr")
        cells = {td["data-label"]: td for td in row.find_all(["td", "th"])}
        assert "Succeeded" in cells["State"].text
        assert cells["State"].a["href"] == f"/runs/{last.id}"
        assert cells["Last finished"].time["datetime"] == (
            last.return_dts.isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        assert cells["Took"].text.strip() == "1 min 15 s"
        assert cells["Next run"].time["datetime"] == (
            (now + HOUR).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        assert cells["Failures in a row"].text.strip() == "0"
        assert "Signed in as user-a" in response.text

    def test_counts_runs_waiting_running_and_of_the_last_day(
        self, world, factory, testapp, login
    ):
        a = world["a"]
        now = utcnow()
        other = factory.job(a["template"], a["pool"], title="other")
        factory.run(a["job"], schedule_dts=now)
        factory.run(other, schedule_dts=now, is_manual=True)
        factory.run(other, schedule_dts=now, is_manual=True)
        factory.run(other, "in_queue", worker=a["worker"])
        factory.run(a["job"], "started", worker=a["worker"], is_manual=True)
        finished(factory, a["job"], a["worker"], now - HOUR, 3, success=False)
        finished(factory, other, a["worker"], now - 2 * HOUR, 3)
        finished(factory, other, a["worker"], now - 25 * HOUR, 3, success=False)
        login("user-a")

        text = visible_text(testapp.get("/"))

        assert (
            "3 scheduled 1 queued 1 running 1 failed in 24 h 1 succeeded in 24 h"
        ) in text

    def test_a_running_job_says_so_and_links_to_the_run(
        self, world, factory, testapp, login
    ):
        a = world["a"]
        running = factory.run(a["job"], "started", worker=a["worker"])
        login("user-a")

        row = testapp.get("/").html.find("tr", class_="row-started")

        assert "job-a" in row.text
        assert "Running" in row.text and "last succeeded" in row.text
        assert row.find("a", class_="badge-link")["href"] == f"/runs/{running.id}"
        assert "after this run" in row.text

    def test_lists_the_failures_of_the_last_day_with_their_logs(
        self, world, factory, testapp, login
    ):
        a = world["a"]
        now = utcnow()
        old = finished(factory, a["job"], a["worker"], now - 30 * HOUR, 3, False)
        failed = finished(factory, a["job"], a["worker"], now - HOUR, 3, False)
        finished(factory, world["b"]["job"], world["b"]["worker"], now, 3, False)
        login("user-a")

        section = testapp.get("/").html.find("section", class_="failures")

        links = [link["href"] for link in section.find_all("a")]
        assert f"/runs/{failed.id}#log" in links
        assert f"/runs/{old.id}#log" not in links
        assert "job-b" not in section.text

    def test_says_when_nothing_failed(self, world, testapp, login):
        login("user-a")

        assert "No run failed in the last 24 hours." in testapp.get("/").text

    def test_shows_failure_streaks_and_paused_jobs(
        self, world, factory, testapp, login, dbsession
    ):
        job = world["a"]["job"]
        job.fail_times = 3
        job.disable_enqueue_after_fails = 5
        world["a"]["project"].enqueue_is_enabled = False
        dbsession.commit()
        login("user-a")

        text = visible_text(testapp.get("/"))

        assert "3 paused at 5" in text
        assert "Paused: enqueueing is off for the project" in text

    def test_a_chained_job_says_what_starts_it(self, world, factory, testapp, login):
        a = world["a"]
        factory.job(a["template"], a["pool"], title="child", parent=a["job"])
        login("user-a")

        assert "after each run of job-a" in testapp.get("/").text

    def test_a_user_without_projects_is_told_why_the_page_is_empty(
        self, world, factory, testapp, login
    ):
        factory.user(username="loner")
        login("loner")

        assert "You may not see any project yet" in testapp.get("/").text

    def test_costs_the_same_few_queries_however_many_jobs_and_runs(
        self, world, factory, testapp, login, dbengine
    ):
        login("user-a")
        statements = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        def count_statements():
            statements.clear()
            sa.event.listen(dbengine, "before_cursor_execute", record)
            try:
                testapp.get("/")
            finally:
                sa.event.remove(dbengine, "before_cursor_execute", record)
            return len(statements)

        few = count_statements()
        a = world["a"]
        for n in range(6):
            job = factory.job(a["template"], a["pool"], title=f"more-{n}")
            finished(factory, job, a["worker"], utcnow() - n * MINUTE, 3)
            factory.run(job, "started", worker=a["worker"], is_manual=True)

        assert count_statements() == few
        run_statements = [s for s in statements if re.search(r"\bFROM run\b", s)]
        # Each read of the run table is narrowed (a partial index's condition,
        # a time range, a limit or ids); none counts the whole table.
        for statement in run_statements:
            assert "WHERE" in statement, statement


class TestJobPage:
    @pytest.fixture
    def job(self, world, dbsession):
        job = world["a"]["job"]
        job.cron_expression = "0 10 * * *"
        job.timezone = "Europe/Amsterdam"
        job.description = "Sends the <b>daily</b> report."
        dbsession.commit()
        return job

    def test_says_the_schedule_in_words_with_the_next_five_times(
        self, job, testapp, login
    ):
        login("user-a")

        response = testapp.get(f"/jobs/{job.id}")

        assert "every day at 10:00 (Europe/Amsterdam)" in response.text
        rows = response.html.find("table", class_="upcoming").tbody.find_all("tr")
        assert len(rows) == 5
        for row in rows:
            in_zone, yours = row.find_all("td")
            assert re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d 10:00 CES?T", in_zone.text)
            assert yours.time["datetime"].endswith(("T09:00:00Z", "T08:00:00Z"))

    def test_shows_excludes_chain_and_script(
        self, world, job, factory, testapp, login, dbsession
    ):
        a, b = world["a"], world["b"]
        parent = factory.job(a["template"], a["pool"], title="parent job")
        job.parent = parent
        factory.job(a["template"], a["pool"], title="first child", parent=job)
        factory.job(b["template"], b["pool"], title="hidden child", parent=job)
        job.script_content = "#!/bin/sh\necho '<script>alert(1)</script>'\n"
        dbsession.commit()
        login("user-a")

        response = testapp.get(f"/jobs/{job.id}")

        text = visible_text(response)
        assert "No run from 01:00 to 02:00 (Europe/Amsterdam)" in text
        assert "Comes after parent job" in text
        assert "first child" in text and "hidden child" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert "<script>alert" not in response.text
        assert "Sends the &lt;b&gt;daily&lt;/b&gt; report." in response.text

    def test_a_schedule_that_cannot_run_says_why(
        self, world, job, factory, testapp, login
    ):
        factory.exclude(
            job, start_time=datetime.time(0, 0), end_time=datetime.time(23, 59)
        )
        factory.exclude(
            job, start_time=datetime.time(23, 59), end_time=datetime.time(0, 0)
        )
        login("user-a")

        response = testapp.get(f"/jobs/{job.id}")

        assert "No next run can be worked out" in response.text

    def test_pages_through_the_history_newest_first(
        self, world, job, factory, testapp, login
    ):
        a = world["a"]
        now = utcnow()
        runs = [world["a"]["run"]] + [
            finished(factory, job, a["worker"], now - (40 - n) * MINUTE, n + 1)
            for n in range(queries.PAGE_SIZE + 5)
        ]
        login("user-a")

        first = testapp.get(f"/jobs/{job.id}")
        older = first.click(linkid=None, description="Older runs")
        newer = older.click(description="Newer runs")

        def shown(response):
            return [
                int(row.th.a.text.lstrip("#"))
                for row in response.html.find("table", class_="runs").tbody("tr")
            ]

        newest_first = [run.id for run in reversed(runs)]
        assert shown(first) == newest_first[: queries.PAGE_SIZE]
        assert shown(older) == newest_first[queries.PAGE_SIZE :]
        assert "Older runs" not in older.text
        assert shown(newer) == shown(first)
        assert "Newer runs" not in newer.text
        took = first.html.find("table", class_="runs").tbody.tr
        assert took.find("td", attrs={"data-label": "Took"}).text == "30 s"

    def test_draws_durations_and_outcomes(self, world, job, factory, testapp, login):
        a = world["a"]
        now = utcnow()
        finished(factory, job, a["worker"], now - 3 * MINUTE, 10)
        finished(factory, job, a["worker"], now - 2 * MINUTE, 20, success=False)
        factory.run(job, "started", worker=a["worker"], is_manual=True)
        login("user-a")

        svg = testapp.get(f"/jobs/{job.id}").html.find("svg")

        bars = svg.find_all("rect", class_="bar")
        assert [bar["class"] for bar in bars] == [
            ["bar", "ok"],
            ["bar", "ok"],
            ["bar", "failed"],
        ]
        assert float(bars[2]["height"]) > float(bars[1]["height"])
        assert svg["role"] == "img"
        assert "1 failed" in svg.find("desc").text

    def test_a_bars_tooltip_carries_its_time_for_the_browser(
        self, world, job, factory, testapp, login
    ):
        end = datetime.datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
        done = finished(factory, job, world["a"]["worker"], end, 28)
        login("user-a")

        svg = testapp.get(f"/jobs/{job.id}").html.find("svg")

        title = svg.find("rect", attrs={"data-run": str(done.id)}).find("title")
        # The page's script writes the local time from these, with UTC after it.
        assert title["data-datetime"] == "2024-05-01T12:00:30Z"
        assert title["data-utc"] == "2024-05-01 12:00:30 UTC"
        assert title["data-lead"] == f"Run {done.id} succeeded in 28 s"
        assert title.text == f"Run {done.id} succeeded in 28 s, 2024-05-01 12:00:30 UTC"

    def test_shows_what_runs_now(self, world, job, factory, testapp, login):
        a = world["a"]
        now = utcnow()
        running = factory.run(
            job, "started", worker=a["worker"], start_dts=now - 90 * SECOND
        )
        login("user-a")

        section = testapp.get(f"/jobs/{job.id}").html.find("ul", class_="active-runs")

        assert f"run #{running.id}" in section.text
        assert a["worker"].title in section.text
        assert "so far" in section.text


# A fixed "now" for the queries, between two occurrences of every schedule below.
NOW = datetime.datetime(2024, 3, 30, 12, 0, tzinfo=datetime.UTC)


class TestUpcoming:
    """The next five occurrences start from the run that waits for them."""

    @pytest.fixture
    def job(self, world, dbsession):
        job = world["a"]["job"]
        job.reschedule_interval = 10
        job.reschedule_interval_type = "MINUTE"
        dbsession.commit()
        return job

    @pytest.fixture
    def ask(self, world, job, dbsession):
        """Ask for the job page's upcoming times at NOW."""

        def upcoming():
            identity = identity_of(world["a"]["user"])
            return queries.job_page(dbsession, identity, job.id, NOW).upcoming

        return upcoming

    @pytest.mark.parametrize("due", [7 * MINUTE, -2 * MINUTE], ids=["due-soon", "late"])
    def test_after_completion_counts_from_the_waiting_run(
        self, world, job, factory, dbsession, ask, due
    ):
        job.reschedule_type = "AFTER_COMPLETE_DTS"
        dbsession.commit()
        finished(factory, job, world["a"]["worker"], NOW - 3 * MINUTE, 20)
        factory.run(job, schedule_dts=NOW + due)

        upcoming = ask()

        # The waiting run, then each one ten minutes after the one before
        # returns: when it is due, or now for a late run.
        start = max(NOW + due, NOW)
        assert upcoming.times == [NOW + due] + [
            start + n * 10 * MINUTE for n in range(1, 5)
        ]
        assert upcoming.waiting is True

    def test_after_the_schedule_a_late_run_comes_first(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_interval = 15
        job.schedule_anchor_dts = NOW - 2 * HOUR - 5 * MINUTE
        dbsession.commit()
        factory.run(job, schedule_dts=job.schedule_anchor_dts + 6 * 15 * MINUTE)

        upcoming = ask()

        assert upcoming.times == [
            NOW - 35 * MINUTE,
            NOW + 10 * MINUTE,
            NOW + 25 * MINUTE,
            NOW + 40 * MINUTE,
            NOW + 55 * MINUTE,
        ]

    def test_after_the_schedule_without_an_anchor_keeps_the_runs_phase(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_interval = 15
        dbsession.commit()
        factory.run(job, schedule_dts=NOW + 5 * MINUTE)

        upcoming = ask()

        assert upcoming.times == [NOW + (5 + 15 * n) * MINUTE for n in range(5)]

    def test_a_late_cron_run_comes_first_and_later_ones_keep_the_wall_clock(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_interval = job.reschedule_interval_type = None
        job.cron_expression = "0 10 * * *"
        job.timezone = "Europe/Amsterdam"
        dbsession.commit()
        # 10:00 CET today, two hours late; the clocks go forward tonight.
        factory.run(job, schedule_dts=datetime.datetime(2024, 3, 30, 9, 0, tzinfo=UTC))

        upcoming = ask()

        assert upcoming.times == [
            datetime.datetime(2024, 3, 30, 9, 0, tzinfo=UTC),
            datetime.datetime(2024, 3, 31, 8, 0, tzinfo=UTC),
            datetime.datetime(2024, 4, 1, 8, 0, tzinfo=UTC),
            datetime.datetime(2024, 4, 2, 8, 0, tzinfo=UTC),
            datetime.datetime(2024, 4, 3, 8, 0, tzinfo=UTC),
        ]

    def test_a_manual_run_does_not_move_the_schedule(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_type = "AFTER_COMPLETE_DTS"
        dbsession.commit()
        factory.run(job, schedule_dts=NOW + MINUTE, is_manual=True)
        factory.run(job, schedule_dts=NOW + 7 * MINUTE)

        upcoming = ask()

        assert upcoming.times[:2] == [NOW + 7 * MINUTE, NOW + 17 * MINUTE]

    def test_while_a_run_goes_the_next_counts_from_now_at_the_earliest(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_type = "AFTER_COMPLETE_DTS"
        dbsession.commit()
        factory.run(
            job, "started", worker=world["a"]["worker"], schedule_dts=NOW - MINUTE
        )

        upcoming = ask()

        assert upcoming.times == [NOW + n * 10 * MINUTE for n in range(1, 6)]
        assert upcoming.waiting is False

    def test_with_nothing_waiting_it_counts_from_the_latest_scheduled_run(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_interval = 15
        dbsession.commit()
        # The latest run by the schedule anchors the series; a newer manual
        # run does not.
        factory.run(job, "completed_successful", schedule_dts=NOW - 20 * MINUTE)
        factory.run(
            job, "completed_successful", schedule_dts=NOW - MINUTE, is_manual=True
        )

        upcoming = ask()

        assert upcoming.times == [NOW + (10 + 15 * n) * MINUTE for n in range(5)]

    def test_a_job_started_by_its_parent_has_no_times(
        self, world, job, factory, dbsession, ask
    ):
        job.reschedule_interval = job.reschedule_interval_type = None
        dbsession.commit()
        factory.run(job, schedule_dts=NOW, is_manual=True)

        assert ask().times == []

    @pytest.mark.parametrize(
        "schedule",
        [
            {"reschedule_type": "AFTER_COMPLETE_DTS"},
            {"reschedule_type": "AFTER_SCHEDULE_DTS"},
            {
                "reschedule_interval": None,
                "reschedule_interval_type": None,
                "cron_expression": "*/10 * * * *",
            },
        ],
        ids=["after-completion", "after-the-schedule", "cron"],
    )
    @pytest.mark.parametrize("waiting", [True, False], ids=["waiting", "running"])
    def test_next_run_and_the_first_time_agree(
        self, world, job, factory, dbsession, testapp, login, schedule, waiting
    ):
        for name, value in schedule.items():
            setattr(job, name, value)
        dbsession.commit()
        now = utcnow()
        finished(factory, job, world["a"]["worker"], now - 3 * MINUTE, 20)
        if waiting:
            factory.run(job, schedule_dts=(now + 7 * MINUTE).replace(microsecond=0))
        else:
            factory.run(job, "started", worker=world["a"]["worker"], schedule_dts=now)
        login("user-a")

        html = testapp.get(f"/jobs/{job.id}").html

        now_grid = html.find("dl", class_="now-grid")
        next_run = next(
            div for div in now_grid("div") if div.dt.text.strip() == "Next run"
        )
        rows = html.find("table", class_="upcoming").tbody("tr")
        assert len(rows) == 5
        assert next_run.dd.time["datetime"] == rows[0].time["datetime"]
        if waiting:
            assert rows[0].time["datetime"] == iso(
                (now + 7 * MINUTE).replace(microsecond=0)
            )
        else:
            assert "at the earliest, after the current run" in next_run.text


class TestRunPage:
    def test_shows_times_duration_worker_state_and_log(
        self, world, factory, testapp, login, dbsession
    ):
        run = world["a"]["run"]
        dbsession.get(RunLog, world["a"]["run_log"].id).content = "a <b>bold</b> line\n"
        dbsession.commit()
        login("user-a")

        response = testapp.get(f"/runs/{run.id}")

        facts = visible_text(response)
        assert "State Succeeded" in facts
        assert "Took 28 s" in facts
        assert f"Worker {world['a']['worker'].title}" in facts
        times = response.html.find(id="region-run_facts").find_all("time")
        assert [t["datetime"] for t in times] == [
            "2024-01-01T12:00:00Z",
            "2024-01-01T12:00:01Z",
            "2024-01-01T12:00:02Z",
            "2024-01-01T12:00:30Z",
        ]
        assert all(t["title"].endswith(" UTC") for t in times)
        log = response.html.find("pre", id="log")
        assert log.text == "a <b>bold</b> line\n"
        assert "data-follow" not in log.attrs

    def test_a_running_run_is_followed(self, world, factory, testapp, login):
        a = world["a"]
        run = factory.run(
            a["job"], "started", worker=a["worker"], start_dts=utcnow() - MINUTE
        )
        login("user-a")

        response = testapp.get(f"/runs/{run.id}")

        assert response.html.find("pre", id="log")["data-follow"] == "true"
        assert re.search(r"Took 1 min( \d+ s)? so far", visible_text(response))

    def test_a_run_waiting_for_a_worker(self, world, factory, testapp, login):
        run = factory.run(world["a"]["job"], schedule_dts=utcnow())
        login("user-a")

        text = visible_text(testapp.get(f"/runs/{run.id}"))

        assert "State Scheduled" in text
        assert "Took not started" in text
        assert "Worker none yet" in text

    def test_says_when_the_middle_of_a_log_was_dropped(
        self, world, testapp, login, dbsession
    ):
        log = dbsession.get(RunLog, world["a"]["run_log"].id)
        log.omitted_bytes = 5000
        dbsession.commit()
        login("user-a")

        text = testapp.get(f"/runs/{world['a']['run'].id}").text

        assert "5000 bytes from its middle are not kept" in text


class TestWorkersOfOtherPools:
    """A run taken by a worker outside the user's pools does not name it."""

    @pytest.fixture
    def runs(self, world, factory):
        a, b = world["a"], world["b"]
        # The job ran in pool-b's worker (the job moved pools since).
        done = finished(factory, a["job"], b["worker"], utcnow() - MINUTE, 5)
        going = factory.run(a["job"], "started", worker=b["worker"])
        return {"done": done, "going": going}

    @pytest.mark.parametrize("page", ["done", "going", "job"])
    def test_the_pages_say_another_pools_worker(
        self, world, runs, testapp, login, page
    ):
        login("user-a")
        path = f"/jobs/{world['a']['job'].id}" if page == "job" else None

        response = testapp.get(path or f"/runs/{runs[page].id}")

        text = visible_text(response)
        assert world["b"]["worker"].title not in text
        assert f"#worker-{world['b']['worker'].id}" not in response.text
        assert "another pool's worker" in text

    def test_the_job_page_says_so_in_the_history_and_for_the_running_run(
        self, world, runs, testapp, login
    ):
        login("user-a")

        html = testapp.get(f"/jobs/{world['a']['job'].id}").html

        active = html.find("ul", class_="active-runs").text
        assert "on another pool's worker" in " ".join(active.split())
        cells = html.find("table", class_="runs").find_all(
            "td", attrs={"data-label": "Worker"}
        )
        shown = [cell.text.strip() for cell in cells]
        assert shown.count("another pool's worker") == 2
        assert world["a"]["worker"].title in shown

    def test_a_superuser_sees_the_worker(self, world, runs, testapp, login):
        login("root")

        text = visible_text(testapp.get(f"/runs/{runs['done'].id}"))

        assert f"Worker {world['b']['worker'].title}" in text
        assert "another pool's worker" not in text

    def test_the_live_regions_leave_it_out_too(self, world, runs, testapp, login):
        login("user-a")

        job = testapp.get(f"/live/jobs/{world['a']['job'].id}").json["regions"]
        run = testapp.get(f"/live/runs/{runs['going'].id}").json["regions"]

        for html in (*job.values(), *run.values()):
            assert world["b"]["worker"].title not in html


class TestWorkersPage:
    def test_shows_heartbeats_versions_and_current_runs(
        self, world, factory, testapp, login, dbsession
    ):
        a = world["a"]
        now = utcnow()
        worker = a["worker"]
        worker.ping_response_dts = now - 100 * SECOND
        worker.worker_version = "2.1.0"
        worker.concurrent_jobs = 6
        silent = factory.worker(
            pools=[a["pool"]], title="quiet", ping_response_dts=now - 200 * SECOND
        )
        never = factory.worker(pools=[a["pool"]], title="new")
        dbsession.commit()
        running = factory.run(a["job"], "started", worker=worker)
        login("user-a")

        response = testapp.get("/workers")

        def row(worker):
            found = response.html.find("tr", id=f"worker-{worker.id}")
            return {td["data-label"]: td.text.strip() for td in found("td")}

        # monitor.ping_interval × monitor.silent_pings: 60 s × 3 by default.
        assert row(worker)["Status"] == "Responsive"
        assert row(silent)["Status"] == "Silent"
        assert row(never)["Status"] == "Never seen"
        assert row(worker)["Version"] == "2.1.0"
        assert row(worker)["Runs at once"] == "6"
        assert row(worker)["Pools"] == "pool-a"
        assert f"job-a #{running.id}" in row(worker)["Running now"]
        assert "1 min 40 s ago" in row(worker)["Last heartbeat"]
        assert "no heartbeat for 3 min" in visible_text(response)
        pool = response.html.find("tr", id=f"pool-{a['pool'].id}")
        assert "1 of 3" in pool.text

    def test_a_shared_worker_shows_only_what_the_user_may_see(
        self, world, factory, testapp, login
    ):
        a, b = world["a"], world["b"]
        shared = factory.pool(title="shared")
        worker = factory.worker(pools=[shared, b["pool"]], title="both")
        a["project"].worker_pools.append(shared)
        b["project"].worker_pools.append(shared)
        factory.dbsession.commit()
        mine = factory.job(a["template"], shared, title="mine")
        theirs = factory.job(b["template"], shared, title="theirs")
        factory.run(mine, "started", worker=worker)
        factory.run(theirs, "started", worker=worker)
        login("user-a")

        row = testapp.get("/workers").html.find("tr", id=f"worker-{worker.id}")

        assert "mine" in row.text
        assert "theirs" not in row.text
        assert "pool-b" not in row.text and "shared" in row.text


class TestLive:
    def test_the_overview_sends_its_regions(self, world, testapp, login):
        login("user-a")

        response = testapp.get("/live/overview")

        assert response.content_type == "application/json"
        assert set(response.json["regions"]) == {"failures", "projects"}
        assert "job-a" in response.json["regions"]["projects"]
        page = testapp.get("/")
        assert response.json["regions"]["projects"].strip() in page.text

    def test_a_job_sends_the_history_page_it_was_asked_for(
        self, world, factory, testapp, login
    ):
        a = world["a"]
        newer = factory.run(a["job"], "completed_successful", worker=a["worker"])
        login("user-a")

        response = testapp.get(f"/live/jobs/{a['job'].id}", {"before": newer.id})

        assert set(response.json["regions"]) == {
            "job_now",
            "upcoming",
            "chart",
            "history",
        }
        history = response.json["regions"]["history"]
        assert f"#{a['run'].id}<" in history and f"#{newer.id}<" not in history

    def test_a_run_sends_its_state_and_the_new_log_text(
        self, world, factory, testapp, login, dbsession
    ):
        a = world["a"]
        run = factory.run(a["job"], "started", worker=a["worker"])
        log = factory.run_log(run, "first\n")
        login("user-a")
        path = f"/live/runs/{run.id}"

        before = testapp.get(path, {"length": 6, "omitted": 0}).json
        log.content += "second\n"
        dbsession.commit()
        after = testapp.get(path, {"length": 6, "omitted": 0}).json

        assert before["state"] == "started" and before["finished"] is False
        assert before["log"] == {
            "mode": "append",
            "text": "",
            "length": 6,
            "omitted": 0,
        }
        assert after["log"] == {
            "mode": "append",
            "text": "second\n",
            "length": 13,
            "omitted": 0,
        }
        assert "Running" in after["regions"]["run_facts"]

    def test_a_log_whose_middle_was_dropped_is_sent_whole(
        self, world, factory, testapp, login, dbsession
    ):
        a = world["a"]
        run = factory.run(a["job"], "started", worker=a["worker"])
        log = factory.run_log(run, "head [dropped] tail\n")
        log.omitted_bytes = 100
        dbsession.commit()
        login("user-a")

        response = testapp.get(f"/live/runs/{run.id}", {"length": 5, "omitted": 0})

        assert response.json["log"] == {
            "mode": "replace",
            "text": "head [dropped] tail\n",
            "length": 20,
            "omitted": 100,
        }

    def test_a_finished_run_says_so(self, world, testapp, login):
        login("user-a")

        response = testapp.get(f"/live/runs/{world['a']['run'].id}")

        assert response.json["finished"] is True
        assert response.json["state"] == "completed_successful"

    def test_log_text_counts_characters_not_bytes(self, world, factory, testapp, login):
        a = world["a"]
        run = factory.run(a["job"], "started", worker=a["worker"])
        factory.run_log(run, "größe ✓\nnext\n")
        login("user-a")

        response = testapp.get(f"/live/runs/{run.id}", {"length": 8})

        assert response.json["log"]["text"] == "next\n"
        assert response.json["log"]["length"] == 13

    @pytest.mark.parametrize("query", [{"length": "-1"}, {"omitted": "x"}])
    def test_a_bad_offset_is_not_found(self, world, testapp, login, query):
        login("user-a")

        testapp.get(f"/live/runs/{world['a']['run'].id}", query, status=404)

    def test_the_workers_send_their_regions(self, world, testapp, login):
        login("user-a")

        response = testapp.get("/live/workers")

        assert set(response.json["regions"]) == {"pools", "workers"}
        assert world["a"]["worker"].title in response.json["regions"]["workers"]


class TestHistoryKeyset:
    """Pages stay exact when many runs share one scheduled time."""

    def test_ties_on_the_scheduled_time_are_broken_by_id(self, world, factory):
        a = world["a"]
        same = utcnow()
        ids = [
            factory.run(a["job"], "completed_successful", schedule_dts=same).id
            for _ in range(7)
        ] + [a["run"].id]
        session = factory.dbsession
        identity = identity_of(a["user"])
        expected = sorted(ids[:-1], reverse=True) + [a["run"].id]

        seen, before = [], None
        while True:
            page = queries.history(
                session, identity, a["job"].id, before=before, size=3
            )
            seen += [run.id for run in page.runs]
            if page.older is None:
                break
            before = page.older

        assert seen == expected
        back = queries.history(
            session, identity, a["job"].id, after=expected[5], size=3
        )
        assert [run.id for run in back.runs] == expected[2:5]
        assert back.newer == expected[2] and back.is_first is False
