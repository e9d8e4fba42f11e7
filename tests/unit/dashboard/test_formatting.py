"""How the dashboard writes durations, instants and states."""

import datetime

import pytest

from jobrunner.dashboard import formatting


UTC = datetime.UTC


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0.0 s"),
        (0.42, "0.4 s"),
        (9.94, "9.9 s"),
        (28, "28 s"),
        (59.4, "59 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (3600, "1 h"),
        (3660, "1 h 1 min"),
        (47 * 3600 + 59 * 60, "47 h 59 min"),
        (48 * 3600, "2 d"),
        (50 * 3600, "2 d 2 h"),
        (-5, "0.0 s"),
    ],
)
def test_durations_are_short_and_readable(seconds, text):
    assert formatting.duration(datetime.timedelta(seconds=seconds)) == text


def test_no_duration_is_a_dash():
    assert formatting.duration(None) == "–"


def test_instants_are_iso_in_utc_for_the_browser():
    amsterdam = datetime.datetime(
        2024, 7, 1, 12, 0, 5, 123, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )

    assert formatting.iso_utc(amsterdam) == "2024-07-01T10:00:05Z"
    assert formatting.utc_text(amsterdam) == "2024-07-01 10:00:05 UTC"
    assert formatting.iso_utc(None) == ""


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime.datetime(2024, 1, 15, 9, 0, tzinfo=UTC), "Mon 2024-01-15 10:00 CET"),
        (datetime.datetime(2024, 7, 15, 8, 0, tzinfo=UTC), "Mon 2024-07-15 10:00 CEST"),
    ],
)
def test_times_in_a_jobs_zone_name_the_offset_in_force(instant, text):
    assert formatting.in_zone(instant, "Europe/Amsterdam") == text


def test_an_unknown_zone_falls_back_to_utc():
    instant = datetime.datetime(2024, 1, 15, 9, 0, tzinfo=UTC)

    assert formatting.in_zone(instant, "Mars/Olympus") == "Mon 2024-01-15 09:00 UTC"


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("scheduled", "Scheduled"),
        ("in_queue", "Queued"),
        ("started", "Running"),
        ("completed_successful", "Succeeded"),
        ("completed_with_errors", "Failed"),
        ("never_run", "Never run"),
        ("something_new", "Something new"),
    ],
)
def test_every_state_has_a_word(state, label):
    assert formatting.state_label(state) == label


def test_small_words():
    assert formatting.plural(1, "run") == "1 run"
    assert formatting.plural(3, "run") == "3 runs"
    assert formatting.time_of_day(datetime.time(1, 5)) == "01:05"
    assert formatting.time_of_day(datetime.time(1, 5, 30)) == "01:05:30"
