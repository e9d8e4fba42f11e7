"""The geometry of the job page's duration chart."""

import datetime

from jobrunner.dashboard import chart


T0 = datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)


def runs(*seconds_and_success):
    return [
        chart.ChartRun(
            id=n + 1,
            return_dts=T0 + datetime.timedelta(hours=n),
            seconds=seconds,
            success=success,
        )
        for n, (seconds, success) in enumerate(seconds_and_success)
    ]


def test_no_runs_no_bars():
    empty = chart.duration_chart([])

    assert empty.is_empty
    assert empty.summary == "No finished runs yet."


def test_bars_grow_with_duration_from_a_common_baseline():
    drawn = chart.duration_chart(runs((10, True), (20, True), (40, False)))

    heights = [bar.height for bar in drawn.bars]
    assert heights[0] < heights[1] < heights[2]
    assert {round(bar.y + bar.height, 2) for bar in drawn.bars} == {drawn.bottom}
    assert [bar.failed for bar in drawn.bars] == [False, False, True]
    assert drawn.bars[2].label == "Run 3 failed in 40 s, 2024-05-01 12:00:00 UTC"
    assert drawn.bars[2].outcome == "Run 3 failed in 40 s"
    assert drawn.bars[2].return_dts == T0 + datetime.timedelta(hours=2)


def test_the_newest_run_is_at_the_right_edge_and_bars_do_not_overlap():
    drawn = chart.duration_chart(runs(*[(5, True)] * 3))

    xs = [bar.x for bar in drawn.bars]
    assert xs == sorted(xs)
    last = drawn.bars[-1]
    assert last.x + last.width <= drawn.right
    assert drawn.right - (last.x + last.width) < last.width
    for left, right in zip(drawn.bars, drawn.bars[1:], strict=False):
        assert left.x + left.width < right.x


def test_many_runs_fill_the_width():
    drawn = chart.duration_chart(runs(*[(5, True)] * 40))

    assert drawn.bars[0].x < drawn.left + 10


def test_the_axis_has_nice_ticks_above_the_longest_run():
    drawn = chart.duration_chart(runs((50, True), (130, True)))

    assert [tick.label for tick in drawn.ticks] == ["0", "1 min", "2 min", "3 min"]
    assert drawn.ticks[0].y == drawn.bottom
    assert drawn.ticks[-1].y == drawn.top


def test_a_run_of_no_time_still_shows():
    drawn = chart.duration_chart(runs((0, False), (0, True)))

    assert all(bar.height > 0 for bar in drawn.bars)
    assert [tick.label for tick in drawn.ticks] == ["0", "1.0 s"]


def test_very_long_runs_get_a_doubled_step():
    drawn = chart.duration_chart(runs((5 * 24 * 3600, True)))

    assert [tick.label for tick in drawn.ticks] == ["0", "2 d", "4 d", "6 d"]


def test_the_summary_counts_failures_and_the_median():
    drawn = chart.duration_chart(runs((10, True), (30, False), (20, True)))

    assert drawn.summary == (
        "Durations of the last 3 finished runs, oldest first: 1 failed; "
        "median 20 s, longest 30 s."
    )
    assert (drawn.first, drawn.last, drawn.failed) == (
        T0,
        T0 + datetime.timedelta(hours=2),
        1,
    )
