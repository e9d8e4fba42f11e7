"""Work out when a scheduled job runs next: intervals, months, cron, zones and DST.

Everything here is a plain function over datetimes and schedule values. There is no
database and no clock: callers pass ``now``. Every datetime that goes in or comes out
is timezone-aware; results are in UTC and naive inputs raise ``ValueError``.

Interval schedules, ``AFTER_SCHEDULE_DTS``
    The candidates are ``anchor + k * interval`` for k = 1, 2, ..., where the anchor
    is ``anchor_dts`` if given, else ``previous_schedule_dts``. The result is the
    first candidate strictly after ``max(now, previous_schedule_dts)``. Missed runs
    are not replayed one by one, and the phase of the anchor is kept. The index k is
    computed arithmetically, so an anchor years in the past costs nothing. With no
    anchor and no previous run the first run is due at once: ``now``, cut to the
    second. Pass ``anchor_dts`` for monthly schedules: with only the previous run as
    the anchor, a run clamped to the 28th would drift to the 28th for good.
Interval schedules, ``AFTER_COMPLETE_DTS``
    The next run is ``return_dts + interval`` (``now + interval`` without a
    ``return_dts``). A result in the past is still returned, because it is due now.
Interval arithmetic
    ``MINUTE`` and ``HOUR`` are exact elapsed time. ``DAY`` and ``MONTH`` are
    calendar arithmetic on the wall clock of the schedule's zone, so a daily 10:00
    Europe/Amsterdam job stays at 10:00 local time across DST. A month step clamps
    the day to the month's last day and comes back to the anchor's day where the
    month allows it: Jan 31 + 1 month is Feb 28 (29 in leap years), + 2 months is
    Mar 31. Every step is counted from the anchor, never from the previous step.
    Results keep the anchor's phase to the second (microseconds are dropped).
Cron schedules
    A 5-field expression (croniter syntax), matched against the wall clock of the
    schedule's zone. The result is the first occurrence strictly after
    ``max(now, previous_schedule_dts)``, on a whole minute. ``reschedule_type`` and
    ``anchor_dts`` do not apply to cron. croniter only walks the naive wall clock
    here; turning wall times into instants follows the two rules below.
Local times that do not exist (spring forward)
    They are read with the offset in force before the change, i.e. moved forward by
    the length of the gap: a 02:30 job in Europe/Amsterdam runs at 03:30 CEST on the
    last Sunday of March, and a 02:15 job in Australia/Lord_Howe (a 30-minute gap)
    runs at 02:45. This is zoneinfo's ``fold=0`` reading: the job runs as long
    after the last run before the change as it would have if the clocks had not
    moved. When a moved time meets another occurrence the job runs once.
    croniter 7 on its own moves such times to the end of the gap (03:00) instead and
    then skips any other matches inside the gap; we use our own rule so that cron
    and interval schedules agree.
Local times that happen twice (fall back)
    They run once, at the first occurrence (``fold=0``), for interval schedules and
    for cron expressions with a fixed hour field: a daily 02:30 job runs at
    02:30 CEST, not again at 02:30 CET. A cron expression whose hour field covers
    every hour (``*``, ``*/1``, ``0-23``) follows real elapsed time instead, so
    ``30 * * * *`` runs at both 02:30 CEST and 02:30 CET. croniter 7 on its own
    runs both occurrences for every expression, which would give a daily job two
    runs that day.
Exclude windows
    A candidate whose local time of day (the time it actually runs, in the
    schedule's zone) lies in any window ``[start, end)`` is skipped in favour of the
    next candidate of the same schedule. A window whose end comes before its start
    wraps past midnight; an empty window (start == end) excludes nothing. The search
    gives up with ``ScheduleError`` after 10,000 excluded candidates or once the
    excluded candidates are more than two years ahead. The ``now`` of a first
    interval run is checked too.
"""

import calendar
import copy
import dataclasses
import datetime
import enum
import functools
import re
import zoneinfo
from collections.abc import Callable, Iterable

from croniter import CroniterBadDateError, CroniterError, croniter


UTC = datetime.UTC

# Bounds of the search past exclude windows, so a schedule that is excluded all the
# time fails loudly instead of looping.
MAX_EXCLUDED_CANDIDATES = 10_000
MAX_EXCLUDED_SPAN = datetime.timedelta(days=2 * 366)

_DAY = datetime.timedelta(days=1)
_MICROSECOND = datetime.timedelta(microseconds=1)
_SECOND = datetime.timedelta(seconds=1)
_CRON_FIELDS = "minute hour day-of-month month day-of-week"
_WEEKDAYS = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_WEEKDAY_NAMES = {name[:3].lower(): number for number, name in enumerate(_WEEKDAYS)}

# A candidate series: given an instant, the first candidate strictly after it.
FirstAfter = Callable[[datetime.datetime], datetime.datetime]


class IntervalType(enum.StrEnum):
    """Unit of an interval schedule."""

    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


class RescheduleType(enum.StrEnum):
    """What an interval counts from: the scheduled time or the completion time."""

    AFTER_SCHEDULE_DTS = "AFTER_SCHEDULE_DTS"
    AFTER_COMPLETE_DTS = "AFTER_COMPLETE_DTS"


class ScheduleError(Exception):
    """A schedule is invalid, or no run time can be found for it."""


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a job runs: an interval, a cron expression, or neither (unscheduled)."""

    interval: int | None = None
    interval_type: IntervalType | None = None
    reschedule_type: RescheduleType = RescheduleType.AFTER_SCHEDULE_DTS
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        # Values read from the database or a form arrive as plain strings; turn the
        # known ones into members and leave the rest for validate_schedule to report.
        for name, enum_type in (
            ("interval_type", IntervalType),
            ("reschedule_type", RescheduleType),
        ):
            value = getattr(self, name)
            if isinstance(value, str) and not isinstance(value, enum_type):
                try:
                    object.__setattr__(self, name, enum_type(value))
                except ValueError:
                    pass

    @property
    def is_scheduled(self) -> bool:
        """Whether the job runs on its own (has an interval or a cron expression)."""
        return self.interval is not None or self.cron is not None


@dataclasses.dataclass(frozen=True)
class ExcludeWindow:
    """A daily stretch of local time, ``[start, end)``, in which a job must not run."""

    start: datetime.time
    end: datetime.time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime.time):
                raise TypeError(f"{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(
                    f"{name} is a local time of day in the schedule's zone; "
                    "it must not carry a tzinfo"
                )

    @property
    def wraps(self) -> bool:
        """Whether the window runs past midnight into the next day."""
        return self.end < self.start

    def contains(self, time_of_day: datetime.time) -> bool:
        """Whether a local time of day falls inside the window."""
        if self.wraps:
            return time_of_day >= self.start or time_of_day < self.end
        return self.start <= time_of_day < self.end


def validate_schedule(schedule: Schedule) -> None:
    """Raise ScheduleError with a readable message if the schedule is not usable."""
    _zone(schedule.timezone)
    if schedule.reschedule_type not in tuple(RescheduleType):
        raise ScheduleError(
            f"unknown reschedule_type {schedule.reschedule_type!r}; expected one of "
            f"{', '.join(RescheduleType)}"
        )
    if schedule.interval is not None and schedule.cron is not None:
        raise ScheduleError(
            "a schedule takes an interval or a cron expression, not both"
        )
    if schedule.interval is not None:
        _validate_interval(schedule)
    elif schedule.interval_type is not None:
        raise ScheduleError(
            f"interval_type {schedule.interval_type} is set but interval is missing"
        )
    if schedule.cron is not None:
        _cron_template(_normalise_cron(schedule.cron))


def next_run_dts(
    schedule: Schedule,
    *,
    now: datetime.datetime,
    previous_schedule_dts: datetime.datetime | None = None,
    return_dts: datetime.datetime | None = None,
    anchor_dts: datetime.datetime | None = None,
    excludes: Iterable[ExcludeWindow] = (),
) -> datetime.datetime | None:
    """Return the next run time in UTC, or None when the job is not scheduled."""
    now = _as_utc("now", now)
    previous = _as_utc("previous_schedule_dts", previous_schedule_dts)
    returned = _as_utc("return_dts", return_dts)
    anchor = _as_utc("anchor_dts", anchor_dts)
    validate_schedule(schedule)
    if not schedule.is_scheduled:
        return None

    zone = _zone(schedule.timezone)
    excludes = tuple(excludes)
    after = now if previous is None else max(now, previous)
    try:
        if schedule.cron is not None:
            series = _cron_series(_normalise_cron(schedule.cron), zone)
            return _first_allowed(series, after, zone, excludes)
        if schedule.reschedule_type == RescheduleType.AFTER_COMPLETE_DTS:
            base = _whole_seconds(now if returned is None else returned)
            series = _interval_series(schedule, zone, base)
            return _first_allowed(series, base, zone, excludes)
        if anchor is None:
            anchor = previous
        if anchor is None:
            # The very first run: due at once unless now is excluded, in which case
            # the series starts from now.
            anchor = after = _whole_seconds(now)
            if _excluding_window(anchor, zone, excludes) is None:
                return anchor
        series = _interval_series(schedule, zone, _whole_seconds(anchor))
        return _first_allowed(series, after, zone, excludes)
    except OverflowError as exc:
        raise ScheduleError("the next run falls outside the supported dates") from exc


def upcoming(
    schedule: Schedule,
    *,
    now: datetime.datetime,
    count: int,
    anchor_dts: datetime.datetime | None = None,
    excludes: Iterable[ExcludeWindow] = (),
) -> list[datetime.datetime]:
    """Return the next ``count`` run times from ``now``, for a dashboard."""
    # Nobody knows yet when future runs will return, so an AFTER_COMPLETE_DTS
    # schedule is projected as if each run returned at its scheduled time. An
    # unanchored interval schedule starts at now, like its first real run would.
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    excludes = tuple(excludes)
    anchored = schedule.interval is not None and (
        schedule.reschedule_type == RescheduleType.AFTER_SCHEDULE_DTS
    )
    result: list[datetime.datetime] = []
    previous = None
    while len(result) < count:
        dts = next_run_dts(
            schedule,
            now=now,
            previous_schedule_dts=previous,
            return_dts=previous,
            anchor_dts=anchor_dts,
            excludes=excludes,
        )
        if dts is None:
            break
        result.append(dts)
        previous = dts
        if anchored and anchor_dts is None:
            # Keep later runs on the first run's phase and day of the month rather
            # than letting month-end clamping drift from run to run.
            anchor_dts = dts
    return result


def add_months(
    local_dt: datetime.datetime, months: int, anchor_day: int
) -> datetime.datetime:
    """Move a wall-clock datetime by calendar months, onto anchor_day or month end."""
    # The day is anchor_day clamped to the target month's length, so a series on
    # the 31st goes 31, 28/29, 31, 30, ... Time of day and tzinfo are kept, and fold
    # is reset so that an ambiguous result means its first occurrence.
    if not 1 <= anchor_day <= 31:
        raise ValueError(f"anchor_day must be within 1..31, got {anchor_day}")
    year, month_index = divmod(local_dt.year * 12 + local_dt.month - 1 + months, 12)
    if not datetime.MINYEAR <= year <= datetime.MAXYEAR:
        raise OverflowError(f"year {year} is out of range")
    month = month_index + 1
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return local_dt.replace(year=year, month=month, day=day, fold=0)


def describe(schedule: Schedule) -> str:
    """Describe a schedule in words, e.g. "every 15 minutes"."""
    validate_schedule(schedule)
    if schedule.cron is not None:
        return _describe_cron(_normalise_cron(schedule.cron), schedule.timezone)
    if schedule.interval is None:
        return "not scheduled"
    unit = IntervalType(schedule.interval_type).lower()
    amount = unit if schedule.interval == 1 else f"{schedule.interval} {unit}s"
    if schedule.reschedule_type == RescheduleType.AFTER_COMPLETE_DTS:
        if schedule.interval == 1:
            amount = f"1 {unit}"
        return f"{amount} after each run completes"
    return f"every {amount}"


def _validate_interval(schedule: Schedule) -> None:
    """Check the interval half of a schedule."""
    interval = schedule.interval
    # bool is an int subclass, and True would otherwise pass as an interval of 1.
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ScheduleError(
            f"interval must be a positive whole number, got {interval!r}"
        )
    if schedule.interval_type is None:
        raise ScheduleError(
            f"interval {interval} needs an interval_type: one of "
            f"{', '.join(IntervalType)}"
        )
    if schedule.interval_type not in tuple(IntervalType):
        raise ScheduleError(
            f"unknown interval_type {schedule.interval_type!r}; expected one of "
            f"{', '.join(IntervalType)}"
        )


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone called ``name`` or raise ScheduleError."""
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone must be an IANA zone name, got {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


def _normalise_cron(expression: str) -> str:
    """Return the expression with single spaces, after checking it has five fields."""
    if not isinstance(expression, str):
        raise ScheduleError(f"cron must be a string, got {expression!r}")
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression {expression!r} must have 5 fields ({_CRON_FIELDS}), "
            f"got {len(fields)}"
        )
    return " ".join(fields)


@functools.lru_cache(maxsize=512)
def _cron_template(expression: str) -> croniter:
    """Parse a normalised expression once; callers iterate over copies of it."""
    start = datetime.datetime(2000, 1, 1)
    try:
        template = croniter(expression, start)
    except (CroniterError, KeyError, TypeError) as exc:
        raise ScheduleError(f"invalid cron expression {expression!r}: {exc}") from exc
    try:
        copy.copy(template).get_next(datetime.datetime)
    except CroniterBadDateError as exc:
        # croniter accepts dates such as Feb 30 and only fails when iterating.
        raise ScheduleError(f"cron expression {expression!r} never matches") from exc
    return template


def _as_utc(name: str, value: datetime.datetime | None) -> datetime.datetime | None:
    """Check that a datetime argument is aware and return it in UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")
    return value.astimezone(UTC)


def _whole_seconds(value: datetime.datetime) -> datetime.datetime:
    """Drop the microseconds: run times have a resolution of one second."""
    return value.replace(microsecond=0)


def _wall(instant: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """Return the naive wall-clock time of an instant in a zone."""
    # fold must be reset: a naive value that keeps fold=1 would later read back as
    # the second occurrence of an ambiguous time.
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _to_utc(wall: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """Return the instant of a wall-clock time: gaps move forward, overlaps go first."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _offset_range(
    zone: zoneinfo.ZoneInfo, start: datetime.datetime, end: datetime.datetime
) -> tuple[datetime.timedelta, datetime.timedelta]:
    """Return the lowest and highest UTC offset of a zone from start to end."""
    # NOTE: since 1970 no zone has changed its offset twice within a week, and no
    # change was larger than a day. A span of two days or less holds at most one
    # change, so its two ends show every offset in force in between.
    offsets = (start.astimezone(zone).utcoffset(), end.astimezone(zone).utcoffset())
    return min(offsets), max(offsets)


def _change_instant(
    zone: zoneinfo.ZoneInfo, start: datetime.datetime, end: datetime.datetime
) -> datetime.datetime:
    """Return when the zone's offset changes between start and end (one change)."""
    offset = start.astimezone(zone).utcoffset()
    low, high = start, end
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    # Offsets change on whole seconds and high lies less than a second past it.
    return high.replace(microsecond=0)


def _highest_recent_offset(
    zone: zoneinfo.ZoneInfo, instant: datetime.datetime
) -> datetime.timedelta:
    """Return the highest offset by which a wall time can map to just before instant."""
    low, high = _offset_range(zone, instant - _DAY, instant)
    if low != high:
        # A change moves wall times by its own size, so only that far back matters.
        _, high = _offset_range(zone, instant - (high - low), instant)
    return high


def _interval_series(
    schedule: Schedule, zone: zoneinfo.ZoneInfo, anchor: datetime.datetime
) -> FirstAfter:
    """Return the candidate series ``anchor + k * interval`` for k >= 1."""
    interval = schedule.interval
    if schedule.interval_type in (IntervalType.MINUTE, IntervalType.HOUR):
        unit = "minutes" if schedule.interval_type == IntervalType.MINUTE else "hours"
        step = datetime.timedelta(**{unit: interval})

        def first_exact(after: datetime.datetime) -> datetime.datetime:
            k = max(1, (after - anchor) // step + 1)
            return anchor + k * step

        return first_exact

    anchor_wall = _wall(anchor, zone)
    if schedule.interval_type == IntervalType.DAY:
        step = datetime.timedelta(days=interval)

        def term(k: int) -> datetime.datetime:
            return _to_utc(anchor_wall + k * step, zone)

        def estimate(wall: datetime.datetime) -> int:
            return (wall - anchor_wall) // step

    else:

        def term(k: int) -> datetime.datetime:
            return _to_utc(add_months(anchor_wall, k * interval, anchor_wall.day), zone)

        def estimate(wall: datetime.datetime) -> int:
            months = (
                (wall.year - anchor_wall.year) * 12 + wall.month - anchor_wall.month
            )
            return months // interval

    def first_calendar(after: datetime.datetime) -> datetime.datetime:
        # The estimate from wall-clock differences is off by at most one step either
        # way (DST and month lengths), and the terms never decrease, so nudge it.
        k = max(1, estimate(_wall(after, zone)))
        while k > 1 and term(k - 1) > after:
            k -= 1
        while term(k) <= after:
            k += 1
        return term(k)

    return first_calendar


def _cron_series(expression: str, zone: zoneinfo.ZoneInfo) -> FirstAfter:
    """Return the occurrences of a cron expression in a zone, under our DST rules."""
    template = _cron_template(expression)
    every_hour = template.expanded[1] == ["*"]

    def first_after(after: datetime.datetime) -> datetime.datetime:
        # croniter walks the naive wall clock and each matching wall time maps to
        # one instant (two in an overlap for every-hour expressions). Near a change
        # of offset that mapping is not monotonic, so the walk starts early enough
        # to catch a wall time moved past `after`, and it only stops once no later
        # wall time can map before the best instant found.
        walls = copy.copy(template)
        wall = walls.get_next(
            datetime.datetime, start_time=_first_wall(zone, after, every_hour)
        )
        best = None
        while True:
            first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
            # In a gap fold=1 is the earlier instant and fold=0 the moved-forward
            # reading we want; in an overlap fold=1 is the second occurrence.
            found = (first, second) if every_hour and second > first else (first,)
            for instant in found:
                if instant > after and (best is None or instant < best):
                    best = instant
            resume = None
            if second < first and first > after:
                # Later walls of this gap map later still; go on at its end.
                resume = _wall(_change_instant(zone, second, first), zone)
            elif len(found) == 2 and second > after:
                # Later walls of this overlap repeat later still, so only their
                # first occurrences after `after` can beat the best one found.
                change = _change_instant(zone, first, second)
                if after >= change:
                    return best
                resume = after.replace(tzinfo=None) + (
                    wall - first.replace(tzinfo=None)
                )
            if best is not None:
                high = _highest_recent_offset(zone, best)
                if wall - high >= best.replace(tzinfo=None):
                    return best
            if resume is not None and resume > wall:
                wall = walls.get_next(datetime.datetime, start_time=resume - _SECOND)
            else:
                wall = walls.get_next(datetime.datetime)

    return first_after


def _first_wall(
    zone: zoneinfo.ZoneInfo, after: datetime.datetime, every_hour: bool
) -> datetime.datetime:
    """Return a wall time earlier than any wall time whose run falls after ``after``."""
    naive_after = after.replace(tzinfo=None)
    before = (after - _DAY).astimezone(zone).utcoffset()
    later = (after + _DAY).astimezone(zone).utcoffset()
    if before == later:
        # No change within a day (see _offset_range): wall times follow instants.
        return naive_after + before
    change = _change_instant(zone, after - _DAY, after + _DAY)
    # Wall times read with the earlier offset run up to the end of the gap or of
    # the overlap. Those read with the later one start at the change, except that
    # a fixed-hour expression skips the second pass through an overlap.
    later_from = later if later > before or every_hour else before
    return min(
        naive_after + before,
        max(naive_after + later, change.replace(tzinfo=None) + later_from - _SECOND),
    )


def _excluding_window(
    instant: datetime.datetime,
    zone: zoneinfo.ZoneInfo,
    excludes: tuple[ExcludeWindow, ...],
) -> ExcludeWindow | None:
    """Return the first exclude window that covers an instant's local time of day."""
    if not excludes:
        return None
    time_of_day = instant.astimezone(zone).time()
    return next((window for window in excludes if window.contains(time_of_day)), None)


def _window_exit(
    instant: datetime.datetime, window: ExcludeWindow, zone: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """Return when the wall clock leaves the window that covers ``instant``."""
    local = instant.astimezone(zone)
    day = local.date()
    if window.wraps and local.time() >= window.start:
        day += _DAY
    end_wall = datetime.datetime.combine(day, window.end)
    # Convert before comparing: aware datetimes that share a tzinfo compare by wall
    # time and ignore fold. The earlier reading is the safe one in a gap.
    leave = min(
        end_wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    if leave <= instant:
        return instant
    low, high = _offset_range(zone, instant, leave)
    if low != high:
        # The clock jumps inside the window and may leave it early (fall back to
        # before its start, or spring past its end), so step one candidate at a time.
        return instant
    return leave


def _first_allowed(
    series: FirstAfter,
    after: datetime.datetime,
    zone: zoneinfo.ZoneInfo,
    excludes: tuple[ExcludeWindow, ...],
) -> datetime.datetime:
    """Return the first candidate after ``after`` that no exclude window covers."""
    probe = after
    for _ in range(MAX_EXCLUDED_CANDIDATES):
        candidate = series(probe)
        window = _excluding_window(candidate, zone, excludes)
        if window is None:
            return candidate
        if candidate - after > MAX_EXCLUDED_SPAN:
            break
        # Every candidate up to the window's end is excluded too, so jump there
        # rather than trying each one (an every-minute job in an 8-hour window).
        probe = max(candidate, _window_exit(candidate, window, zone) - _MICROSECOND)
    raise ScheduleError(
        f"every occurrence of the schedule after {after.isoformat()} within the "
        "search limit is excluded"
    )


def _describe_cron(expression: str, zone_name: str) -> str:
    """Describe the common shapes of cron expression in words."""
    minute, hour, day, month, weekday = expression.split()
    if (hour, day, month, weekday) == ("*", "*", "*", "*"):
        if minute in ("*", "*/1"):
            return "every minute"
        step = re.fullmatch(r"\*/(\d+)", minute)
        # */7 restarts at :00, so it is "every 7 minutes" only when 7 divides 60.
        if step and 60 % int(step.group(1)) == 0:
            return f"every {int(step.group(1))} minutes"
        if minute.isdigit():
            return f"every hour at minute {int(minute)}"
    if minute.isdigit() and hour.isdigit() and month == "*":
        at = f"at {int(hour):02d}:{int(minute):02d} ({zone_name})"
        if day == "*" and weekday == "*":
            return f"every day {at}"
        if day == "*" and _weekday_number(weekday) is not None:
            return f"every {_WEEKDAYS[_weekday_number(weekday)]} {at}"
        if day.isdigit() and weekday == "*":
            return f"every month on day {int(day)} {at}"
    return f"cron '{expression}' ({zone_name})"


def _weekday_number(field: str) -> int | None:
    """Return the weekday (0-7, 0 and 7 are Sunday) of a single-day field, or None."""
    if field.isdigit() and int(field) <= 7:
        return int(field)
    return _WEEKDAY_NAMES.get(field.lower())
