"""Tests for the pure scheduling module: rules on concrete dates, then properties."""

import calendar
import datetime
import functools
import time
import zoneinfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from jobrunner.jobs.scheduling import (
    ExcludeWindow,
    IntervalType,
    RescheduleType,
    Schedule,
    ScheduleError,
    add_months,
    describe,
    next_run_dts,
    upcoming,
    validate_schedule,
)


UTC = datetime.UTC
AMSTERDAM = "Europe/Amsterdam"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
# Zones with DST in either hemisphere, none, a half-hour offset, a 30-minute DST
# shift, DST that was abolished (Sao Paulo, 2019) and "negative" DST (Dublin).
ZONES = (
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Europe/Dublin",
)


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime.datetime:
    """Return the UTC instant of a wall-clock time in a zone."""
    wall = datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone), fold=fold)
    return wall.astimezone(UTC)


def wall(instant: datetime.datetime, zone: str) -> datetime.datetime:
    return instant.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None, fold=0)


def runs(schedule, now, count, **kwargs) -> list[datetime.datetime]:
    """Iterate next_run_dts the way the scheduler does, feeding back each result."""
    result = []
    previous = None
    for _ in range(count):
        previous = next_run_dts(
            schedule, now=now, previous_schedule_dts=previous, **kwargs
        )
        result.append(previous)
    return result


def runs_until(schedule, now, end, **kwargs) -> list[datetime.datetime]:
    """Like runs(), up to and including ``end``."""
    result = []
    previous = None
    while True:
        previous = next_run_dts(
            schedule, now=now, previous_schedule_dts=previous, **kwargs
        )
        if previous > end:
            return result
        result.append(previous)


def us(microseconds: int) -> datetime.timedelta:
    return datetime.timedelta(microseconds=microseconds)


def window(start: str, end: str) -> ExcludeWindow:
    return ExcludeWindow(
        datetime.time.fromisoformat(start), datetime.time.fromisoformat(end)
    )


class TestScheduleValues:
    def test_unscheduled_by_default(self):
        assert not Schedule().is_scheduled

    @pytest.mark.parametrize(
        "schedule",
        [
            Schedule(interval=5, interval_type=IntervalType.MINUTE),
            Schedule(cron="* * * * *"),
        ],
    )
    def test_scheduled(self, schedule):
        assert schedule.is_scheduled

    def test_strings_become_enum_members(self):
        schedule = Schedule(
            interval=1, interval_type="DAY", reschedule_type="AFTER_COMPLETE_DTS"
        )

        assert schedule.interval_type is IntervalType.DAY
        assert schedule.reschedule_type is RescheduleType.AFTER_COMPLETE_DTS

    def test_enum_values_are_their_names(self):
        assert [member.value for member in IntervalType] == [
            "MINUTE",
            "HOUR",
            "DAY",
            "MONTH",
        ]
        assert IntervalType.DAY == "DAY"
        assert RescheduleType.AFTER_SCHEDULE_DTS == "AFTER_SCHEDULE_DTS"


class TestValidateSchedule:
    @pytest.mark.parametrize(
        "schedule",
        [
            Schedule(),
            Schedule(interval=1, interval_type=IntervalType.MONTH, timezone=AMSTERDAM),
            Schedule(cron="0 10 * * mon-fri", timezone=NEW_YORK),
            Schedule(cron="  */15   *  * * * "),
            Schedule(cron="0 0 29 2 *"),
        ],
    )
    def test_valid(self, schedule):
        validate_schedule(schedule)

    @pytest.mark.parametrize(
        ("schedule", "message"),
        [
            (Schedule(cron="61 * * * *"), "invalid cron expression"),
            (Schedule(cron="0 0 * * * *"), "must have 5 fields"),
            (Schedule(cron="@daily"), "must have 5 fields"),
            (Schedule(cron="H * * * *"), "invalid cron expression"),
            (Schedule(cron="0 0 * * fooday"), "invalid cron expression"),
            (Schedule(cron="0 0 30 2 *"), "never matches"),
            (Schedule(cron=5), "cron must be a string"),
            (Schedule(cron="* * * * *", timezone="Mars/Olympus"), "unknown time zone"),
            (Schedule(cron="* * * * *", timezone="Europe"), "unknown time zone"),
            (Schedule(cron="* * * * *", timezone="../etc/passwd"), "unknown time zone"),
            (Schedule(cron="* * * * *", timezone=""), "IANA zone name"),
            (Schedule(interval=0, interval_type=IntervalType.DAY), "positive"),
            (Schedule(interval=-5, interval_type=IntervalType.DAY), "positive"),
            (Schedule(interval=1.5, interval_type=IntervalType.DAY), "whole number"),
            (Schedule(interval=True, interval_type=IntervalType.DAY), "whole number"),
            (Schedule(interval=5), "needs an interval_type"),
            (Schedule(interval_type=IntervalType.DAY), "interval is missing"),
            (Schedule(interval=5, interval_type="WEEK"), "unknown interval_type"),
            (
                Schedule(interval=5, interval_type="DAY", reschedule_type="LATER"),
                "unknown reschedule_type",
            ),
            (
                Schedule(interval=5, interval_type=IntervalType.DAY, cron="* * * * *"),
                "not both",
            ),
        ],
    )
    def test_invalid(self, schedule, message):
        with pytest.raises(ScheduleError, match=message):
            validate_schedule(schedule)

    def test_next_run_dts_validates(self):
        with pytest.raises(ScheduleError, match="positive"):
            next_run_dts(
                Schedule(interval=0, interval_type=IntervalType.DAY),
                now=utc(2024, 1, 1),
            )


class TestExcludeWindow:
    @pytest.mark.parametrize(
        ("start", "end", "inside", "outside"),
        [
            (
                "09:00",
                "17:00",
                ["09:00", "12:00", "16:59:59"],
                ["08:59", "17:00", "23:00"],
            ),
            (
                "22:00",
                "06:00",
                ["22:00", "23:59", "00:00", "05:59"],
                ["06:00", "12:00"],
            ),
            ("12:00", "12:00", [], ["12:00", "00:00", "11:59"]),
            ("00:00", "00:01", ["00:00", "00:00:59"], ["00:01", "23:59"]),
        ],
    )
    def test_contains(self, start, end, inside, outside):
        excluded = window(start, end)

        assert all(excluded.contains(datetime.time.fromisoformat(t)) for t in inside)
        assert not any(
            excluded.contains(datetime.time.fromisoformat(t)) for t in outside
        )

    def test_rejects_aware_times(self):
        with pytest.raises(ValueError, match="local time of day"):
            ExcludeWindow(datetime.time(9, tzinfo=UTC), datetime.time(10))

    def test_rejects_non_times(self):
        with pytest.raises(TypeError):
            ExcludeWindow("09:00", datetime.time(10))


class TestAddMonths:
    @pytest.mark.parametrize(
        ("start", "months", "anchor_day", "expected"),
        [
            ((2023, 1, 31), 1, 31, (2023, 2, 28)),
            ((2024, 1, 31), 1, 31, (2024, 2, 29)),
            ((2024, 1, 31), 2, 31, (2024, 3, 31)),
            ((2024, 1, 31), 3, 31, (2024, 4, 30)),
            # Back to the anchor's day after a clamped month.
            ((2024, 2, 29), 1, 31, (2024, 3, 31)),
            ((2024, 2, 29), 12, 29, (2025, 2, 28)),
            ((2024, 2, 29), 48, 29, (2028, 2, 29)),
            ((2024, 11, 30), 3, 30, (2025, 2, 28)),
            ((2024, 12, 15), 1, 15, (2025, 1, 15)),
            ((2024, 3, 31), -1, 31, (2024, 2, 29)),
            ((2024, 1, 15), -13, 15, (2022, 12, 15)),
            ((2024, 5, 10), 0, 10, (2024, 5, 10)),
        ],
    )
    def test_clamps_and_returns(self, start, months, anchor_day, expected):
        result = add_months(datetime.datetime(*start, 10, 30), months, anchor_day)

        assert result == datetime.datetime(*expected, 10, 30)

    def test_keeps_tzinfo_and_resets_fold(self):
        zone = zoneinfo.ZoneInfo(AMSTERDAM)
        start = datetime.datetime(2024, 9, 27, 2, 30, tzinfo=zone, fold=1)

        result = add_months(start, 1, 27)

        assert result.tzinfo is zone
        assert result.fold == 0
        assert result.replace(tzinfo=None) == datetime.datetime(2024, 10, 27, 2, 30)

    @pytest.mark.parametrize("anchor_day", [0, 32])
    def test_rejects_bad_anchor_day(self, anchor_day):
        with pytest.raises(ValueError, match="anchor_day"):
            add_months(datetime.datetime(2024, 1, 1), 1, anchor_day)

    def test_out_of_range(self):
        with pytest.raises(OverflowError):
            add_months(datetime.datetime(9999, 12, 1), 1, 1)


class TestArguments:
    @pytest.mark.parametrize(
        "name", ["now", "previous_schedule_dts", "return_dts", "anchor_dts"]
    )
    def test_naive_datetimes_are_rejected(self, name):
        arguments = {"now": utc(2024, 1, 1), name: datetime.datetime(2024, 1, 1)}

        with pytest.raises(ValueError, match=f"{name} must be timezone-aware"):
            next_run_dts(Schedule(cron="* * * * *"), **arguments)

    def test_naive_rejected_even_when_unscheduled(self):
        with pytest.raises(ValueError, match="now must be timezone-aware"):
            next_run_dts(Schedule(), now=datetime.datetime(2024, 1, 1))

    def test_other_offsets_are_converted_to_utc(self):
        now = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(AMSTERDAM))

        result = next_run_dts(Schedule(cron="0 * * * *"), now=now)

        assert result == utc(2024, 6, 1, 11)
        assert result.tzinfo is UTC

    def test_unscheduled_has_no_next_run(self):
        assert next_run_dts(Schedule(), now=utc(2024, 1, 1)) is None
        assert upcoming(Schedule(), now=utc(2024, 1, 1), count=3) == []

    def test_overflow_is_a_schedule_error(self):
        schedule = Schedule(interval=1, interval_type=IntervalType.MONTH)

        with pytest.raises(ScheduleError, match="outside the supported dates"):
            next_run_dts(schedule, now=utc(9999, 12, 20), anchor_dts=utc(9999, 12, 1))


class TestIntervalAfterSchedule:
    def test_first_run_is_now(self):
        schedule = Schedule(interval=15, interval_type=IntervalType.MINUTE)

        result = next_run_dts(schedule, now=utc(2024, 5, 1, 9, 7, 30) + us(123))

        assert result == utc(2024, 5, 1, 9, 7, 30)

    def test_phase_of_anchor_is_kept(self):
        schedule = Schedule(interval=15, interval_type=IntervalType.MINUTE)

        result = next_run_dts(
            schedule, now=utc(2024, 5, 1, 9, 7), anchor_dts=utc(2024, 5, 1, 8, 2, 5)
        )

        assert result == utc(2024, 5, 1, 9, 17, 5)

    def test_previous_run_is_the_anchor_by_default(self):
        schedule = Schedule(interval=2, interval_type=IntervalType.HOUR)

        result = next_run_dts(
            schedule,
            now=utc(2024, 5, 1, 9),
            previous_schedule_dts=utc(2024, 5, 1, 8, 30),
        )

        assert result == utc(2024, 5, 1, 10, 30)

    def test_strictly_after_now(self):
        schedule = Schedule(interval=10, interval_type=IntervalType.MINUTE)

        result = next_run_dts(
            schedule, now=utc(2024, 5, 1, 9, 20), anchor_dts=utc(2024, 5, 1, 9)
        )

        assert result == utc(2024, 5, 1, 9, 30)

    def test_strictly_after_a_previous_run_later_than_now(self):
        # The clock of the caller may lag behind the run it just scheduled.
        schedule = Schedule(interval=10, interval_type=IntervalType.MINUTE)

        result = next_run_dts(
            schedule,
            now=utc(2024, 5, 1, 9, 5),
            previous_schedule_dts=utc(2024, 5, 1, 9, 10),
            anchor_dts=utc(2024, 5, 1, 9),
        )

        assert result == utc(2024, 5, 1, 9, 20)

    def test_no_backlog_with_an_anchor_years_ago(self):
        schedule = Schedule(interval=7, interval_type=IntervalType.MINUTE)
        anchor = utc(2000, 1, 1, 0, 0, 13)
        now = utc(2035, 6, 1, 12)
        started = time.perf_counter()

        result = next_run_dts(schedule, now=now, anchor_dts=anchor)

        assert time.perf_counter() - started < 0.05
        assert now < result <= now + datetime.timedelta(minutes=7)
        assert (result - anchor) % datetime.timedelta(minutes=7) == datetime.timedelta()

    @pytest.mark.parametrize("interval_type", [IntervalType.DAY, IntervalType.MONTH])
    def test_no_backlog_for_calendar_steps(self, interval_type):
        schedule = Schedule(interval=1, interval_type=interval_type, timezone=AMSTERDAM)

        result = next_run_dts(
            schedule,
            now=utc(2031, 3, 15, 12),
            anchor_dts=local(AMSTERDAM, 2001, 1, 1, 9),
        )

        expected_day = 16 if interval_type == IntervalType.DAY else 1
        month = 3 if interval_type == IntervalType.DAY else 4
        assert result == local(AMSTERDAM, 2031, month, expected_day, 9)

    def test_anchor_in_the_future_counts_from_the_anchor(self):
        schedule = Schedule(interval=1, interval_type=IntervalType.HOUR)

        result = next_run_dts(
            schedule, now=utc(2024, 5, 1), anchor_dts=utc(2024, 5, 3, 6)
        )

        assert result == utc(2024, 5, 3, 7)

    def test_microseconds_of_the_anchor_are_dropped(self):
        schedule = Schedule(interval=1, interval_type=IntervalType.MINUTE)

        result = next_run_dts(
            schedule, now=utc(2024, 5, 1, 0, 5), anchor_dts=utc(2024, 5, 1) + us(999)
        )

        assert result == utc(2024, 5, 1, 0, 6)

    def test_hours_are_elapsed_time_across_dst(self):
        schedule = Schedule(
            interval=24, interval_type=IntervalType.HOUR, timezone=AMSTERDAM
        )

        result = runs(
            schedule,
            utc(2024, 3, 30, 12),
            2,
            anchor_dts=local(AMSTERDAM, 2024, 3, 30, 10),
        )

        assert [wall(r, AMSTERDAM).hour for r in result] == [11, 11]

    @pytest.mark.parametrize("zone", [AMSTERDAM, NEW_YORK])
    @pytest.mark.parametrize(
        "day", [(2024, 3, 28), (2024, 10, 25), (2024, 3, 8), (2024, 10, 31)]
    )
    def test_days_keep_the_local_time_across_dst(self, zone, day):
        schedule = Schedule(interval=1, interval_type=IntervalType.DAY, timezone=zone)
        anchor = local(zone, *day, 10)

        result = runs(schedule, anchor, 14, anchor_dts=anchor)

        assert {wall(r, zone).time() for r in result} == {datetime.time(10)}
        assert len({wall(r, zone).date() for r in result}) == 14

    def test_day_in_the_spring_gap_moves_forward_by_the_gap(self):
        schedule = Schedule(
            interval=1, interval_type=IntervalType.DAY, timezone=AMSTERDAM
        )
        anchor = local(AMSTERDAM, 2024, 3, 29, 2, 30)

        result = runs(schedule, anchor, 3, anchor_dts=anchor)

        assert result == [
            local(AMSTERDAM, 2024, 3, 30, 2, 30),
            utc(2024, 3, 31, 1, 30),  # 03:30 CEST: 02:30 does not exist that day.
            local(AMSTERDAM, 2024, 4, 1, 2, 30),
        ]

    def test_day_in_the_autumn_overlap_runs_at_the_first_occurrence(self):
        schedule = Schedule(
            interval=1, interval_type=IntervalType.DAY, timezone=NEW_YORK
        )
        anchor = local(NEW_YORK, 2024, 11, 1, 1, 30)

        result = runs(schedule, anchor, 3, anchor_dts=anchor)

        assert result == [
            utc(2024, 11, 2, 5, 30),
            utc(2024, 11, 3, 5, 30),  # 01:30 EDT, not 01:30 EST an hour later.
            utc(2024, 11, 4, 6, 30),
        ]

    def test_lord_howe_half_hour_gap(self):
        schedule = Schedule(
            interval=1, interval_type=IntervalType.DAY, timezone=LORD_HOWE
        )
        anchor = local(LORD_HOWE, 2024, 10, 5, 2, 15)

        result = runs(schedule, anchor, 2, anchor_dts=anchor)

        assert [wall(r, LORD_HOWE) for r in result] == [
            datetime.datetime(2024, 10, 6, 2, 45),
            datetime.datetime(2024, 10, 7, 2, 15),
        ]

    def test_months_clamp_and_return_to_the_anchor_day(self):
        schedule = Schedule(
            interval=1, interval_type=IntervalType.MONTH, timezone=AMSTERDAM
        )
        anchor = local(AMSTERDAM, 2024, 1, 31, 10)

        result = runs(schedule, anchor, 5, anchor_dts=anchor)

        assert [wall(r, AMSTERDAM) for r in result] == [
            datetime.datetime(2024, 2, 29, 10),
            datetime.datetime(2024, 3, 31, 10),  # 10:00 CEST, after the change.
            datetime.datetime(2024, 4, 30, 10),
            datetime.datetime(2024, 5, 31, 10),
            datetime.datetime(2024, 6, 30, 10),
        ]

    def test_yearly_from_a_leap_day(self):
        schedule = Schedule(interval=12, interval_type=IntervalType.MONTH)
        anchor = utc(2024, 2, 29, 6)

        result = runs(schedule, anchor, 4, anchor_dts=anchor)

        assert result == [
            utc(2025, 2, 28, 6),
            utc(2026, 2, 28, 6),
            utc(2027, 2, 28, 6),
            utc(2028, 2, 29, 6),
        ]

    def test_without_anchor_the_previous_run_anchors_months(self):
        # Documented drift: callers pass anchor_dts to keep the 31st.
        schedule = Schedule(interval=1, interval_type=IntervalType.MONTH)

        result = next_run_dts(
            schedule, now=utc(2024, 3, 1), previous_schedule_dts=utc(2024, 2, 29)
        )

        assert result == utc(2024, 3, 29)


class TestIntervalAfterComplete:
    schedule = Schedule(
        interval=30,
        interval_type=IntervalType.MINUTE,
        reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
    )

    def test_counts_from_the_return(self):
        result = next_run_dts(
            self.schedule,
            now=utc(2024, 5, 1, 12),
            previous_schedule_dts=utc(2024, 5, 1, 11),
            anchor_dts=utc(2020, 1, 1, 0, 0, 17),
            return_dts=utc(2024, 5, 1, 11, 50, 42),
        )

        assert result == utc(2024, 5, 1, 12, 20, 42)

    def test_a_result_in_the_past_is_due_at_once(self):
        result = next_run_dts(
            self.schedule, now=utc(2024, 5, 1, 12), return_dts=utc(2024, 5, 1, 9)
        )

        assert result == utc(2024, 5, 1, 9, 30)

    def test_without_a_return_counts_from_now(self):
        result = next_run_dts(self.schedule, now=utc(2024, 5, 1, 12) + us(5))

        assert result == utc(2024, 5, 1, 12, 30)

    def test_days_are_local(self):
        schedule = Schedule(
            interval=1,
            interval_type=IntervalType.DAY,
            reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
            timezone=AMSTERDAM,
        )

        result = next_run_dts(
            schedule,
            now=utc(2024, 3, 31),
            return_dts=local(AMSTERDAM, 2024, 3, 30, 23, 15),
        )

        assert result == local(AMSTERDAM, 2024, 3, 31, 23, 15)

    def test_excluded_result_moves_to_the_next_step(self):
        result = next_run_dts(
            self.schedule,
            now=utc(2024, 5, 1, 12),
            return_dts=utc(2024, 5, 1, 11, 50),
            excludes=[window("12:00", "13:00")],
        )

        assert result == utc(2024, 5, 1, 13, 20)


class TestCron:
    def test_strictly_after_now(self):
        schedule = Schedule(cron="*/15 * * * *")

        assert next_run_dts(schedule, now=utc(2024, 5, 1, 9, 15)) == utc(
            2024, 5, 1, 9, 30
        )
        assert next_run_dts(schedule, now=utc(2024, 5, 1, 9, 14, 59, 999999)) == utc(
            2024, 5, 1, 9, 15
        )

    def test_strictly_after_a_previous_run_later_than_now(self):
        result = next_run_dts(
            Schedule(cron="*/15 * * * *"),
            now=utc(2024, 5, 1, 9),
            previous_schedule_dts=utc(2024, 5, 1, 9, 30),
        )

        assert result == utc(2024, 5, 1, 9, 45)

    def test_reschedule_type_and_anchor_do_not_apply(self):
        schedule = Schedule(
            cron="0 * * * *", reschedule_type=RescheduleType.AFTER_COMPLETE_DTS
        )

        result = next_run_dts(
            schedule,
            now=utc(2024, 5, 1, 9, 5),
            return_dts=utc(2024, 5, 1, 7),
            anchor_dts=utc(2024, 5, 1, 0, 7),
        )

        assert result == utc(2024, 5, 1, 10)

    def test_in_the_schedule_zone(self):
        schedule = Schedule(cron="0 10 * * *", timezone=AMSTERDAM)

        result = runs(schedule, utc(2024, 3, 28), 6)

        assert [r.hour for r in result] == [9, 9, 9, 8, 8, 8]
        assert {wall(r, AMSTERDAM).time() for r in result} == {datetime.time(10)}

    @pytest.mark.parametrize(
        ("zone", "day", "expected"),
        [
            (AMSTERDAM, (2024, 3, 31), utc(2024, 3, 31, 1, 30)),  # 03:30 CEST
            (NEW_YORK, (2024, 3, 10), utc(2024, 3, 10, 7, 30)),  # 03:30 EDT
        ],
    )
    def test_spring_gap_moves_forward_by_the_gap(self, zone, day, expected):
        schedule = Schedule(cron="30 2 * * *", timezone=zone)
        start = local(zone, *day) - datetime.timedelta(days=2)

        result = runs(schedule, start, 5)

        assert expected in result
        assert len({wall(r, zone).date() for r in result}) == 5

    @pytest.mark.parametrize(
        ("zone", "cron", "day", "expected"),
        [
            (AMSTERDAM, "30 2 * * *", (2024, 10, 27), utc(2024, 10, 27, 0, 30)),
            (NEW_YORK, "30 1 * * *", (2024, 11, 3), utc(2024, 11, 3, 5, 30)),
            (LORD_HOWE, "45 1 * * *", (2024, 4, 7), utc(2024, 4, 6, 14, 45)),
        ],
    )
    def test_autumn_overlap_runs_once_at_the_first_occurrence(
        self, zone, cron, day, expected
    ):
        schedule = Schedule(cron=cron, timezone=zone)
        start = local(zone, *day) - datetime.timedelta(days=2)

        result = runs(schedule, start, 5)

        assert expected in result
        assert len({wall(r, zone).date() for r in result}) == 5

    def test_other_matches_inside_the_gap_are_kept(self):
        # croniter alone gives a single 03:00 here.
        schedule = Schedule(cron="30,45 2 * * *", timezone=AMSTERDAM)

        result = runs(schedule, utc(2024, 3, 30, 12), 2)

        assert [wall(r, AMSTERDAM) for r in result] == [
            datetime.datetime(2024, 3, 31, 3, 30),
            datetime.datetime(2024, 3, 31, 3, 45),
        ]

    def test_moved_time_that_meets_a_real_one_runs_once(self):
        schedule = Schedule(cron="0 2,3 * * *", timezone=AMSTERDAM)

        result = runs(schedule, utc(2024, 3, 30, 12), 3)

        assert [wall(r, AMSTERDAM) for r in result] == [
            datetime.datetime(2024, 3, 31, 3),
            datetime.datetime(2024, 4, 1, 2),
            datetime.datetime(2024, 4, 1, 3),
        ]

    def test_lord_howe_half_hour_gap(self):
        schedule = Schedule(cron="15 2 * * *", timezone=LORD_HOWE)

        result = next_run_dts(schedule, now=utc(2024, 10, 5))

        assert wall(result, LORD_HOWE) == datetime.datetime(2024, 10, 6, 2, 45)

    def test_sao_paulo_midnight_gap(self):
        schedule = Schedule(cron="30 0 * * *", timezone="America/Sao_Paulo")

        result = next_run_dts(schedule, now=utc(2018, 11, 3, 12))

        assert wall(result, "America/Sao_Paulo") == datetime.datetime(
            2018, 11, 4, 1, 30
        )

    @pytest.mark.parametrize(
        ("day", "hours"),
        [((2024, 10, 27), 25), ((2024, 3, 31), 23), ((2024, 6, 1), 24)],
    )
    def test_every_hour_follows_elapsed_time(self, day, hours):
        schedule = Schedule(cron="30 * * * *", timezone=AMSTERDAM)
        start = local(AMSTERDAM, *day)
        end = local(AMSTERDAM, *day) + datetime.timedelta(hours=hours)

        result = runs_until(schedule, start, end)

        assert len(result) == hours
        gaps = {
            later - earlier for earlier, later in zip(result, result[1:], strict=False)
        }
        assert gaps == {datetime.timedelta(hours=1)}

    @pytest.mark.parametrize("day", [(2024, 10, 27), (2024, 3, 31)])
    def test_every_quarter_hour_follows_elapsed_time(self, day):
        schedule = Schedule(cron="*/15 * * * *", timezone=NEW_YORK)
        start = local(NEW_YORK, *day)

        result = runs(schedule, start, 120)

        steps = {
            later - earlier for earlier, later in zip(result, result[1:], strict=False)
        }
        assert steps == {datetime.timedelta(minutes=15)}
        assert result[0] == start + datetime.timedelta(minutes=15)

    def test_every_hour_runs_the_second_pass_from_inside_the_first(self):
        # Lord_Howe falls back from 02:00 +11 to 01:30 +10:30; 01:30 comes twice.
        schedule = Schedule(cron="0-30 * * * *", timezone=LORD_HOWE)

        result = runs(schedule, utc(2000, 3, 25, 14, 58, 59), 3)

        assert result == [
            utc(2000, 3, 25, 15),
            utc(2000, 3, 25, 15, 30),
            utc(2000, 3, 25, 15, 31),
        ]

    def test_fixed_hours_run_the_repeated_hour_once(self):
        schedule = Schedule(cron="*/20 1 * * *", timezone=NEW_YORK)

        result = runs(schedule, utc(2024, 11, 3), 4)

        assert [wall(r, NEW_YORK) for r in result] == [
            datetime.datetime(2024, 11, 3, 1, 0),
            datetime.datetime(2024, 11, 3, 1, 20),
            datetime.datetime(2024, 11, 3, 1, 40),
            datetime.datetime(2024, 11, 4, 1, 0),
        ]
        assert result[2] == utc(2024, 11, 3, 5, 40)  # EDT, the first pass

    def test_rare_expressions(self):
        schedule = Schedule(cron="0 12 29 2 *", timezone=AMSTERDAM)

        result = next_run_dts(schedule, now=utc(2024, 3, 1))

        assert result == local(AMSTERDAM, 2028, 2, 29, 12)


class TestExcludes:
    def test_interval_skips_to_the_next_candidate_of_the_series(self):
        schedule = Schedule(
            interval=25, interval_type=IntervalType.MINUTE, timezone=AMSTERDAM
        )

        result = next_run_dts(
            schedule,
            now=local(AMSTERDAM, 2024, 6, 3, 8, 50),
            anchor_dts=local(AMSTERDAM, 2024, 6, 3, 0, 5),
            excludes=[window("09:00", "17:00")],
        )

        assert wall(result, AMSTERDAM) == datetime.datetime(2024, 6, 3, 17, 10)

    def test_cron_resumes_at_the_window_end(self):
        schedule = Schedule(cron="* * * * *", timezone=AMSTERDAM)

        result = next_run_dts(
            schedule,
            now=local(AMSTERDAM, 2024, 6, 3, 9, 30),
            excludes=[window("09:00", "17:00")],
        )

        assert wall(result, AMSTERDAM) == datetime.datetime(2024, 6, 3, 17)

    def test_window_wrapping_past_midnight(self):
        schedule = Schedule(cron="0 * * * *", timezone=NEW_YORK)

        result = runs(
            schedule,
            local(NEW_YORK, 2024, 6, 3, 20, 30),
            3,
            excludes=[window("22:00", "06:00")],
        )

        assert [wall(r, NEW_YORK) for r in result] == [
            datetime.datetime(2024, 6, 3, 21),
            datetime.datetime(2024, 6, 4, 6),
            datetime.datetime(2024, 6, 4, 7),
        ]

    def test_windows_are_in_local_time(self):
        schedule = Schedule(cron="0 * * * *", timezone="Asia/Kolkata")

        result = next_run_dts(
            schedule, now=utc(2024, 6, 3, 3, 15), excludes=[window("09:00", "10:00")]
        )

        assert result == utc(2024, 6, 3, 4, 30)  # 10:00 IST, with a :30 offset

    def test_empty_window_excludes_nothing(self):
        result = next_run_dts(
            Schedule(cron="0 * * * *"),
            now=utc(2024, 6, 3, 9, 30),
            excludes=[window("10:00", "10:00")],
        )

        assert result == utc(2024, 6, 3, 10)

    def test_first_run_at_now_can_be_excluded(self):
        schedule = Schedule(interval=2, interval_type=IntervalType.HOUR)

        result = next_run_dts(
            schedule, now=utc(2024, 6, 3, 9, 30), excludes=[window("09:00", "12:00")]
        )

        assert result == utc(2024, 6, 3, 13, 30)

    def test_daily_job_excluded_except_on_the_gap_day(self):
        # 02:30 runs at 03:30 on the day the clocks spring forward, which is outside
        # the window; every other day is excluded.
        schedule = Schedule(cron="30 2 * * *", timezone=AMSTERDAM)

        result = next_run_dts(
            schedule, now=utc(2024, 6, 1), excludes=[window("02:00", "03:00")]
        )

        assert result == utc(2025, 3, 30, 1, 30)

    def test_repeated_hour_after_the_window_start(self):
        # The window covers 02:30-04:00, but the clock falls back from 03:00 CEST to
        # 02:00 CET, so 02:00-02:29 CET are outside it and must not be skipped.
        schedule = Schedule(cron="*/10 * * * *", timezone=AMSTERDAM)

        result = runs(
            schedule, utc(2024, 10, 27, 0, 25), 4, excludes=[window("02:30", "04:00")]
        )

        assert result == [
            utc(2024, 10, 27, 1, 0),
            utc(2024, 10, 27, 1, 10),
            utc(2024, 10, 27, 1, 20),
            utc(2024, 10, 27, 3, 0),
        ]

    @pytest.mark.parametrize(
        "schedule",
        [
            Schedule(cron="* * * * *", timezone=AMSTERDAM),
            Schedule(cron="0 3 * * *", timezone=NEW_YORK),
            Schedule(interval=1, interval_type=IntervalType.MINUTE),
            Schedule(interval=1, interval_type=IntervalType.DAY, timezone=LORD_HOWE),
        ],
    )
    def test_everything_excluded(self, schedule):
        excludes = [window("00:00", "12:00"), window("12:00", "00:00")]
        started = time.perf_counter()

        with pytest.raises(ScheduleError, match="every occurrence .* is excluded"):
            next_run_dts(schedule, now=utc(2024, 6, 3), excludes=excludes)

        assert time.perf_counter() - started < 2


class TestUpcoming:
    def test_cron(self):
        result = upcoming(Schedule(cron="0 */6 * * *"), now=utc(2024, 6, 3, 7), count=3)

        assert result == [utc(2024, 6, 3, 12), utc(2024, 6, 3, 18), utc(2024, 6, 4)]

    def test_unanchored_interval_starts_now_and_keeps_the_month_day(self):
        schedule = Schedule(interval=1, interval_type=IntervalType.MONTH)

        result = upcoming(schedule, now=utc(2024, 1, 31, 8), count=4)

        assert result == [
            utc(2024, 1, 31, 8),
            utc(2024, 2, 29, 8),
            utc(2024, 3, 31, 8),
            utc(2024, 4, 30, 8),
        ]

    def test_anchored_interval(self):
        schedule = Schedule(interval=90, interval_type=IntervalType.MINUTE)

        result = upcoming(
            schedule, now=utc(2024, 6, 3, 7), count=2, anchor_dts=utc(2024, 6, 3, 6, 30)
        )

        assert result == [utc(2024, 6, 3, 8), utc(2024, 6, 3, 9, 30)]

    def test_after_complete_is_projected_from_each_scheduled_time(self):
        schedule = Schedule(
            interval=1,
            interval_type=IntervalType.HOUR,
            reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
        )

        result = upcoming(schedule, now=utc(2024, 6, 3, 7, 10), count=3)

        assert result == [
            utc(2024, 6, 3, 8, 10),
            utc(2024, 6, 3, 9, 10),
            utc(2024, 6, 3, 10, 10),
        ]

    def test_excludes(self):
        result = upcoming(
            Schedule(cron="0 * * * *"),
            now=utc(2024, 6, 3, 7, 10),
            count=2,
            excludes=[window("08:00", "10:00")],
        )

        assert result == [utc(2024, 6, 3, 10), utc(2024, 6, 3, 11)]

    def test_zero_and_negative_counts(self):
        assert upcoming(Schedule(cron="* * * * *"), now=utc(2024, 1, 1), count=0) == []
        with pytest.raises(ValueError, match="count"):
            upcoming(Schedule(cron="* * * * *"), now=utc(2024, 1, 1), count=-1)


class TestDescribe:
    @pytest.mark.parametrize(
        ("schedule", "expected"),
        [
            (Schedule(), "not scheduled"),
            (Schedule(interval=1, interval_type=IntervalType.MINUTE), "every minute"),
            (
                Schedule(interval=15, interval_type=IntervalType.MINUTE),
                "every 15 minutes",
            ),
            (Schedule(interval=1, interval_type=IntervalType.HOUR), "every hour"),
            (Schedule(interval=1, interval_type=IntervalType.DAY), "every day"),
            (Schedule(interval=2, interval_type=IntervalType.DAY), "every 2 days"),
            (Schedule(interval=1, interval_type=IntervalType.MONTH), "every month"),
            (Schedule(interval=3, interval_type=IntervalType.MONTH), "every 3 months"),
            (
                Schedule(
                    interval=1,
                    interval_type=IntervalType.DAY,
                    reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
                ),
                "1 day after each run completes",
            ),
            (
                Schedule(
                    interval=30,
                    interval_type=IntervalType.MINUTE,
                    reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
                ),
                "30 minutes after each run completes",
            ),
            (
                Schedule(cron="0 10 * * *", timezone=AMSTERDAM),
                "every day at 10:00 (Europe/Amsterdam)",
            ),
            (Schedule(cron="*/15 * * * *", timezone=AMSTERDAM), "every 15 minutes"),
            (Schedule(cron="* * * * *"), "every minute"),
            (Schedule(cron="5 * * * *"), "every hour at minute 5"),
            (Schedule(cron="30 7 * * 1"), "every Monday at 07:30 (UTC)"),
            (Schedule(cron="30 7 * * SUN"), "every Sunday at 07:30 (UTC)"),
            (
                Schedule(cron="0 6 1 * *", timezone=NEW_YORK),
                "every month on day 1 at 06:00 (America/New_York)",
            ),
            (Schedule(cron="*/7 * * * *"), "cron '*/7 * * * *' (UTC)"),
            (
                Schedule(cron="0  9 * *  1-5", timezone=NEW_YORK),
                "cron '0 9 * * 1-5' (America/New_York)",
            ),
        ],
    )
    def test_describe(self, schedule, expected):
        assert describe(schedule) == expected

    def test_invalid_schedules_are_reported(self):
        with pytest.raises(ScheduleError):
            describe(Schedule(cron="nonsense"))


# Property tests. The oracles below are written independently of the module: the
# cron one is croniter's own iteration in the zone, the interval one plain calendar
# arithmetic with its own reading of local times.


@functools.cache
def transitions(zone_name: str) -> tuple[datetime.datetime, ...]:
    """Return the instants (to the second) at which a zone changed offset, 2000-2040."""
    zone = zoneinfo.ZoneInfo(zone_name)
    found = []
    instant = utc(2000, 1, 1)
    offset = instant.astimezone(zone).utcoffset()
    while instant < utc(2040, 1, 1):
        later = instant + datetime.timedelta(hours=12)
        if later.astimezone(zone).utcoffset() != offset:
            low, high = instant, later
            while high - low > datetime.timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
            offset = later.astimezone(zone).utcoffset()
        instant = later
    return tuple(found)


def offsets_near(
    instant: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> set[datetime.timedelta]:
    hours = range(-30, 31)
    return {
        (instant + datetime.timedelta(hours=h)).astimezone(zone).utcoffset()
        for h in hours
    }


def oracle_to_utc(
    local_time: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """Read a wall time: the earliest instant showing it, else as if not moved on."""
    offsets = offsets_near(local_time.replace(tzinfo=UTC), zone)
    showing = [
        (local_time - offset).replace(tzinfo=UTC)
        for offset in offsets
        if wall_in((local_time - offset).replace(tzinfo=UTC), zone) == local_time
    ]
    if showing:
        return min(showing)
    # In a gap the clock was moved forward, from the lower offset to the higher.
    return (local_time - min(offsets)).replace(tzinfo=UTC)


def wall_in(instant: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def exists(local_time: datetime.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    return wall_in(local_time.replace(tzinfo=zone).astimezone(UTC), zone) == local_time


def is_excluded(instant, zone, excludes) -> bool:
    time_of_day = instant.astimezone(zone).time()
    return any(w.contains(time_of_day) for w in excludes)


@st.composite
def zones_and_instants(draw):
    """A zone and an instant in 2000-2040, often within days of a DST change."""
    zone = draw(st.sampled_from(ZONES))
    changes = transitions(zone)
    if changes and draw(st.booleans()):
        near = draw(st.sampled_from(changes))
        instant = near + datetime.timedelta(
            seconds=draw(st.integers(-3 * 86400, 86400))
        )
    else:
        instant = draw(
            st.datetimes(
                min_value=datetime.datetime(2000, 1, 1),
                max_value=datetime.datetime(2039, 12, 31),
                timezones=st.just(UTC),
            )
        )
    return zone, instant


def cron_field(low: int, high: int, steps: tuple[int, ...]) -> st.SearchStrategy:
    single = st.integers(low, high).map(str)
    many = st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True).map(
        lambda values: ",".join(map(str, sorted(values)))
    )
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ends: f"{min(ends)}-{max(ends)}"
    )
    step = st.sampled_from(steps).map(lambda n: f"*/{n}")
    return st.one_of(st.just("*"), single, many, span, step)


cron_expressions = st.tuples(
    cron_field(0, 59, (5, 10, 15, 20, 30, 7)),
    cron_field(0, 23, (1, 2, 3, 4, 6, 8, 12, 5)),
    st.one_of(st.just("*"), st.just("*"), cron_field(1, 31, (2, 10))),
    st.one_of(st.just("*"), st.just("*"), cron_field(1, 12, (2, 3))),
    st.one_of(st.just("*"), st.just("*"), cron_field(0, 6, (2,))),
).map(" ".join)


@st.composite
def cron_cases(draw):
    """A zone, a start and an expression, mostly aimed at the hour a change moves."""
    if draw(st.integers(0, 3)) == 3:
        zone_name, start = draw(zones_and_instants())
        return zone_name, start, draw(cron_expressions)
    zone_name = draw(st.sampled_from([zone for zone in ZONES if transitions(zone)]))
    zone = zoneinfo.ZoneInfo(zone_name)
    change = draw(st.sampled_from(transitions(zone_name)))
    offsets = [
        moment.astimezone(zone).utcoffset()
        for moment in (change - datetime.timedelta(seconds=1), change)
    ]
    # The wall-clock hour where the gap or the repeated stretch begins.
    hour = (change.replace(tzinfo=None) + min(offsets)).hour

    def with_hour(other: int) -> str:
        return ",".join(str(value) for value in sorted({hour, other}))

    hours = draw(
        st.one_of(
            st.just(str(hour)),
            st.just(str(hour)),
            st.just("*"),
            st.integers(0, 23).map(with_hour),
            st.just(f"{hour}-{min(hour + 3, 23)}"),
            st.sampled_from(["*/2", "*/3"]),
        )
    )
    minutes = draw(cron_field(0, 59, (5, 10, 15, 20, 30, 7)))
    start = change - datetime.timedelta(seconds=draw(st.integers(-3600, 26 * 3600)))
    return zone_name, start, f"{minutes} {hours} * * *"


exclude_windows = st.lists(
    st.builds(
        ExcludeWindow,
        st.times(max_value=datetime.time(23, 59)).map(
            lambda t: t.replace(second=0, microsecond=0)
        ),
        st.times(max_value=datetime.time(23, 59)).map(
            lambda t: t.replace(second=0, microsecond=0)
        ),
    ),
    max_size=2,
)

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def croniter_occurrences(expression, zone, start, end) -> list[datetime.datetime]:
    """croniter's own iteration in the zone, from start (exclusive) to end."""
    iterator = croniter(expression, start.astimezone(zone))
    found = []
    while True:
        occurrence = iterator.get_next(datetime.datetime).astimezone(UTC)
        if occurrence > end:
            return found
        found.append(occurrence)


def is_second_occurrence(instant, zone) -> bool:
    """Whether an instant is the later of two that show the same wall time."""
    local_time = wall_in(instant, zone)
    first = local_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local_time.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return first < second == instant


def moved_from_gap(instant, zone, expression) -> bool:
    """Whether an instant is a matching, nonexistent wall time moved forward."""
    for offset in offsets_near(instant, zone):
        local_time = (instant + offset).replace(tzinfo=None)
        if (
            not exists(local_time, zone)
            and croniter.match(expression, local_time)
            and oracle_to_utc(local_time, zone) == instant
        ):
            return True
    return False


def ends_a_gap(instant, zone, expression) -> bool:
    """Whether croniter put a gap's matching wall time on the gap's end."""
    before = instant - datetime.timedelta(minutes=1)
    jump = wall_in(instant, zone) - wall_in(before, zone)
    if jump <= datetime.timedelta(minutes=1):
        return False
    skipped = wall_in(before, zone)
    minutes = int(jump / datetime.timedelta(minutes=1))
    gap = [skipped + datetime.timedelta(minutes=n) for n in range(1, minutes)]
    return any(croniter.match(expression, local_time) for local_time in gap)


@PROPERTY_SETTINGS
@given(cron_cases())
@example(("Australia/Lord_Howe", utc(2000, 3, 25, 14, 58, 59), "0-30 * * * *"))
def test_cron_matches_croniter_except_for_the_dst_rules(case):
    zone_name, start, expression = case
    schedule = Schedule(cron=expression, timezone=zone_name)
    try:
        validate_schedule(schedule)
    except ScheduleError:
        assume(False)
    zone = zoneinfo.ZoneInfo(zone_name)
    every_hour = croniter.expand(expression)[0][1] == ["*"]
    horizon = start + datetime.timedelta(days=400)

    ours = []
    previous = None
    while len(ours) < 40:
        previous = next_run_dts(schedule, now=start, previous_schedule_dts=previous)
        if previous > horizon:
            break
        ours.append(previous)
    end = ours[-1] if len(ours) == 40 else horizon
    theirs = croniter_occurrences(expression, zone, start, end)

    # Never in the past, never twice, never backwards.
    assert all(run > start for run in ours)
    assert all(earlier < later for earlier, later in zip(ours, ours[1:], strict=False))
    assert all(run.tzinfo is UTC and run.second == run.microsecond == 0 for run in ours)
    # Each run is a matching wall time, or a nonexistent one moved forward.
    for run in ours:
        assert croniter.match(expression, wall_in(run, zone)) or moved_from_gap(
            run, zone, expression
        )
    if not every_hour:
        # A wall time that happens twice runs once.
        assert len({wall_in(run, zone) for run in ours}) == len(ours)
    # Everything croniter finds is ours, except what our DST rules change.
    for occurrence in set(theirs) - set(ours):
        if not every_hour and is_second_occurrence(occurrence, zone):
            event("croniter's second run of a repeated time is dropped")
            local_time = wall_in(occurrence, zone)
            first = local_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
            assert first in ours or first <= start
        else:
            event("croniter's run at the end of a gap is moved")
            assert ends_a_gap(occurrence, zone, expression), occurrence
    for run in set(ours) - set(theirs):
        if every_hour and is_second_occurrence(run, zone):
            # NOTE: croniter 7 misses the second pass through a repeated stretch
            # when it starts inside the first pass and its next wall-clock match
            # lies beyond the stretch (Lord_Howe, 01:58 +11 with "0-30 * * * *").
            event("croniter misses a repeated time that we run")
            assert croniter.match(expression, wall_in(run, zone))
        else:
            event("a time in a gap is moved forward by the gap")
            assert moved_from_gap(run, zone, expression), run
    if every_hour:
        # A matching time that happens twice runs twice, in real elapsed time.
        for run in ours:
            local_time = wall_in(run, zone)
            second = local_time.replace(tzinfo=zone, fold=1).astimezone(UTC)
            if second > run and second <= end:
                event("an every-hour expression runs a repeated hour twice")
                assert second in ours


@settings(PROPERTY_SETTINGS, max_examples=75)
@given(cron_cases(), exclude_windows)
def test_cron_excludes_remove_exactly_the_excluded_runs(case, excludes):
    zone_name, start, expression = case
    schedule = Schedule(cron=expression, timezone=zone_name)
    try:
        validate_schedule(schedule)
    except ScheduleError:
        assume(False)
    zone = zoneinfo.ZoneInfo(zone_name)
    everything = []
    previous = None
    while len(everything) < 60:
        previous = next_run_dts(schedule, now=start, previous_schedule_dts=previous)
        if previous > start + datetime.timedelta(days=200):
            break
        everything.append(previous)
    if not everything:
        return
    expected = [run for run in everything if not is_excluded(run, zone, excludes)]

    kept = []
    previous = None
    while True:
        try:
            previous = next_run_dts(
                schedule, now=start, previous_schedule_dts=previous, excludes=excludes
            )
        except ScheduleError:
            # Only when two years of runs are excluded, so nothing is left to check.
            break
        if previous > everything[-1]:
            break
        kept.append(previous)

    assert kept == expected


@st.composite
def interval_cases(draw):
    zone_name, anchor = draw(zones_and_instants())
    interval_type = draw(st.sampled_from(list(IntervalType)))
    largest = {"MINUTE": 600, "HOUR": 50, "DAY": 40, "MONTH": 15}[interval_type]
    interval = draw(st.integers(1, largest))
    now = anchor + datetime.timedelta(
        seconds=draw(st.integers(-40 * 86400, 15 * 366 * 86400))
    )
    return (
        Schedule(interval=interval, interval_type=interval_type, timezone=zone_name),
        anchor,
        now,
    )


def oracle_term(
    schedule: Schedule, anchor: datetime.datetime, k: int
) -> datetime.datetime:
    """Term k of the interval series, from plain arithmetic."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    anchor = anchor.replace(microsecond=0)
    amount = k * schedule.interval
    if schedule.interval_type == IntervalType.MINUTE:
        return anchor + datetime.timedelta(minutes=amount)
    if schedule.interval_type == IntervalType.HOUR:
        return anchor + datetime.timedelta(hours=amount)
    start = wall_in(anchor, zone)
    if schedule.interval_type == IntervalType.DAY:
        return oracle_to_utc(start + datetime.timedelta(days=amount), zone)
    year = start.year + (start.month - 1 + amount) // 12
    month = (start.month - 1 + amount) % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return oracle_to_utc(start.replace(year=year, month=month, day=day), zone)


def oracle_guess(schedule: Schedule, anchor: datetime.datetime, instant) -> int:
    """Roughly how many steps of the series lie between anchor and instant."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    start, end = wall_in(anchor, zone), wall_in(instant, zone)
    if schedule.interval_type == IntervalType.MINUTE:
        steps = (instant - anchor.replace(microsecond=0)) // datetime.timedelta(
            minutes=1
        )
    elif schedule.interval_type == IntervalType.HOUR:
        steps = (instant - anchor.replace(microsecond=0)) // datetime.timedelta(hours=1)
    elif schedule.interval_type == IntervalType.DAY:
        steps = (end.date() - start.date()).days
    else:
        steps = (end.year - start.year) * 12 + end.month - start.month
    return steps // schedule.interval


def oracle_index(
    schedule: Schedule, anchor: datetime.datetime, run: datetime.datetime
) -> int:
    """Find k with oracle_term(k) == run, or fail."""
    guess = oracle_guess(schedule, anchor, run)
    for k in range(guess - 2, guess + 3):
        if k >= 1 and oracle_term(schedule, anchor, k) == run:
            return k
    raise AssertionError(f"{run} is not a term of the series")


def assert_first_allowed_term(schedule, anchor, after, run, excludes):
    """run is the first term after `after` that no window excludes."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    assert run > after
    assert not is_excluded(run, zone, excludes)
    k = oracle_index(schedule, anchor, run)
    for earlier in range(k - 1, 0, -1):
        term = oracle_term(schedule, anchor, earlier)
        if term <= after:
            break
        assert is_excluded(term, zone, excludes), term


@PROPERTY_SETTINGS
@given(interval_cases(), exclude_windows)
def test_interval_runs_are_the_series_without_backlog(case, excludes):
    schedule, anchor, now = case

    previous = None
    for _ in range(16):
        try:
            run = next_run_dts(
                schedule,
                now=now,
                previous_schedule_dts=previous,
                anchor_dts=anchor,
                excludes=excludes,
            )
        except ScheduleError:
            assert_series_excluded(
                schedule, anchor, max(now, previous or now), excludes
            )
            return
        assert_first_allowed_term(
            schedule, anchor, max(now, previous or now), run, excludes
        )
        previous = run


def assert_series_excluded(schedule, anchor, after, excludes):
    """The next terms after `after` are all excluded, as far as we look."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    k = max(1, oracle_guess(schedule, anchor, after) - 2)
    while oracle_term(schedule, anchor, k) <= after:
        k += 1
    terms = [oracle_term(schedule, anchor, k + n) for n in range(200)]
    assert all(is_excluded(term, zone, excludes) for term in terms)


@PROPERTY_SETTINGS
@given(interval_cases())
def test_after_complete_is_one_step_from_the_return(case):
    schedule, returned, now = case
    schedule = Schedule(
        interval=schedule.interval,
        interval_type=schedule.interval_type,
        reschedule_type=RescheduleType.AFTER_COMPLETE_DTS,
        timezone=schedule.timezone,
    )

    run = next_run_dts(schedule, now=now, return_dts=returned)

    assert run == oracle_term(schedule, returned, 1)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(ZONES).flatmap(
        lambda zone: st.tuples(
            st.just(zone), st.sampled_from(transitions(zone) or (utc(2024, 1, 1),))
        )
    ),
    st.integers(0, 23),
    st.integers(0, 59),
    st.booleans(),
)
def test_daily_jobs_run_once_every_local_day(zone_and_change, hour, minute, use_cron):
    zone_name, change = zone_and_change
    zone = zoneinfo.ZoneInfo(zone_name)
    start = change - datetime.timedelta(days=3)
    if use_cron:
        schedule = Schedule(cron=f"{minute} {hour} * * *", timezone=zone_name)
        anchor = None
    else:
        schedule = Schedule(
            interval=1, interval_type=IntervalType.DAY, timezone=zone_name
        )
        anchor = oracle_to_utc(
            datetime.datetime.combine(
                wall_in(start, zone).date(), datetime.time(hour, minute)
            ),
            zone,
        )

    result = runs(schedule, start, 7, anchor_dts=anchor)

    dates = [wall_in(run, zone).date() for run in result]
    first = dates[0]
    assert dates == [first + datetime.timedelta(days=n) for n in range(7)]
