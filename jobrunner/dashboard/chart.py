"""The geometry of the job page's chart: one bar per finished run, oldest first.

A bar's height is how long the run took and its look says how it ended, so a
job that slows down or starts failing shows at a glance. This module only does
arithmetic; the template draws the SVG.
"""

import dataclasses
import datetime
import statistics
from collections.abc import Sequence

from jobrunner.dashboard.formatting import duration, utc_text


WIDTH = 640
HEIGHT = 180
LEFT = 64  # room for the duration labels of the axis
RIGHT = 8
TOP = 10
BOTTOM = 10
# Fewer runs than this still get bars of this width, drawn from the right
# (the newest run is always at the right edge).
MIN_SLOTS = 20
# Nice steps for the duration axis, in seconds.
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600)
_MAX_TICKS = 4


@dataclasses.dataclass(frozen=True)
class ChartRun:
    """What the chart needs of a finished run."""

    id: int
    return_dts: datetime.datetime
    seconds: float
    success: bool


@dataclasses.dataclass(frozen=True)
class Bar:
    """A run's bar; ``label`` is its tooltip, ``outcome`` the same without a time."""

    run_id: int
    x: float
    y: float
    width: float
    height: float
    failed: bool
    outcome: str
    return_dts: datetime.datetime

    @property
    def label(self) -> str:
        """The tooltip in UTC, until the page's script writes it in local time."""
        return f"{self.outcome}, {utc_text(self.return_dts)}"


@dataclasses.dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclasses.dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    summary: str
    first: datetime.datetime | None = None
    last: datetime.datetime | None = None
    failed: int = 0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def is_empty(self) -> bool:
        return not self.bars


def _step(longest: float) -> float:
    """The smallest nice step that covers ``longest`` in a few ticks."""
    for step in _STEPS:
        if longest <= step * _MAX_TICKS:
            return step
    step = _STEPS[-1]
    while longest > step * _MAX_TICKS:
        step *= 2
    return step


def duration_chart(runs: Sequence[ChartRun]) -> Chart:
    """Lay out a bar per run (oldest first) on a duration axis from zero."""
    if not runs:
        return Chart(bars=(), ticks=(), summary="No finished runs yet.")
    longest = max(run.seconds for run in runs)
    step = _step(longest)
    ticks_count = max(1, -(-longest // step)) if longest > 0 else 1
    top_value = step * ticks_count
    plot_height = (HEIGHT - BOTTOM) - TOP
    plot_width = (WIDTH - RIGHT) - LEFT
    slot = plot_width / max(len(runs), MIN_SLOTS)
    start = (WIDTH - RIGHT) - slot * len(runs)

    def y_of(seconds: float) -> float:
        return (HEIGHT - BOTTOM) - plot_height * (seconds / top_value)

    bars = []
    for index, run in enumerate(runs):
        # A run that took no measurable time still gets a visible sliver.
        height = max((HEIGHT - BOTTOM) - y_of(run.seconds), 1.5)
        ended = "succeeded" if run.success else "failed"
        took = duration(datetime.timedelta(seconds=run.seconds))
        bars.append(
            Bar(
                run_id=run.id,
                x=round(start + index * slot + slot * 0.15, 2),
                y=round((HEIGHT - BOTTOM) - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                failed=not run.success,
                outcome=f"Run {run.id} {ended} in {took}",
                return_dts=run.return_dts,
            )
        )
    ticks = tuple(
        Tick(
            y=round(y_of(step * n), 2),
            label=duration(datetime.timedelta(seconds=step * n)) if n else "0",
        )
        for n in range(int(ticks_count) + 1)
    )
    failed = sum(1 for run in runs if not run.success)
    median = statistics.median(run.seconds for run in runs)
    summary = (
        f"Durations of the last {len(runs)} finished runs, oldest first: "
        f"{failed} failed; median {duration(datetime.timedelta(seconds=median))}, "
        f"longest {duration(datetime.timedelta(seconds=longest))}."
    )
    return Chart(
        bars=tuple(bars),
        ticks=ticks,
        summary=summary,
        first=runs[0].return_dts,
        last=runs[-1].return_dts,
        failed=failed,
    )
