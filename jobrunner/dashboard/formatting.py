"""How the dashboard writes states, durations and instants: plain functions."""

import datetime
import zoneinfo


UTC = datetime.UTC

# Each state has a word as well as a colour, so that nobody needs the colour.
STATE_LABELS = {
    "scheduled": "Scheduled",
    "in_queue": "Queued",
    "started": "Running",
    "completed_successful": "Succeeded",
    "completed_with_errors": "Failed",
    "never_run": "Never run",
}

WORKER_STATUS_LABELS = {
    "responsive": "Responsive",
    "silent": "Silent",
    "never_seen": "Never seen",
}


def state_label(state: str) -> str:
    """Name a run state the way a person would."""
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


def duration(value: datetime.timedelta | None) -> str:
    """Write a duration briefly: "0.4 s", "28 s", "3 min 5 s", "2 h 1 min"."""
    if value is None:
        return "–"
    seconds = max(value.total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, seconds_left = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {seconds_left} s" if seconds_left else f"{minutes} min"
    hours, minutes_left = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes_left} min" if minutes_left else f"{hours} h"
    days, hours_left = divmod(hours, 24)
    return f"{days} d {hours_left} h" if hours_left else f"{days} d"


def iso_utc(value: datetime.datetime | None) -> str:
    """The instant in ISO 8601, in UTC, for ``<time datetime=...>``."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_text(value: datetime.datetime | None) -> str:
    """The instant as readable UTC, shown until the browser writes local time."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_zone(value: datetime.datetime, zone_name: str) -> str:
    """The instant on a time zone's wall clock, e.g. "Mon 2024-05-06 10:00 CEST"."""
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return value.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def time_of_day(value: datetime.time) -> str:
    """A local time of day, to the minute unless it has seconds."""
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 run", "3 runs"."""
    return f"{count} {word if count == 1 else many or word + 's'}"


FILTERS = {
    "state_label": state_label,
    "duration": duration,
    "iso_utc": iso_utc,
    "utc_text": utc_text,
    "in_zone": in_zone,
    "time_of_day": time_of_day,
    "plural": plural,
}
