"""The benchmark still runs end to end, in a small size.

``bench/run`` is how the README's figures are made; this runs the same script
with short phases and a small history, so that a change that breaks it fails
here rather than on the next person who measures. It asserts what a result
must contain, never how fast anything is.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.ops.servers import ROOT


pytestmark = pytest.mark.slow

READS = {
    "run/?state=scheduled&limit=20",
    "run/?job=N&limit=20",
    "run/?state=last_completed",
    "job/N/",
    "run/N/",
    "health",
}


@pytest.fixture(autouse=True)
def _once(dialect):
    # The bench starts a PostgreSQL of its own; one pass of the suite is enough.
    if dialect != "postgresql":
        pytest.skip("the bench runs once, in the PostgreSQL pass of the suite")


def test_the_bench_measures_every_figure(tmp_path):
    output = tmp_path / "results"

    finished = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench.py"),
            "--duration",
            "1",
            "--requests",
            "10",
            "--large",
            "20000",
            "--latency-runs",
            "10",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((output / "results.json").read_text())
    assert results["runs_large"] == 20000
    for workers in ("1", "8", "32"):
        assert results["throughput"]["claim"][workers]["cycles"] > 0, workers
        # Many seed-era workers may finish few cycles in a second; each
        # phase must at least have sent its requests.
        assert results["throughput"]["patch"][workers]["requests"] > 0, workers
    for workers in ("1", "8", "32"):
        assert (
            results["ceilings"]["pgbench_claim"][workers]["runs_per_transaction"] == 1
        )
        assert results["ceilings"]["health"][workers]
    for size in ("reads_small", "reads_large"):
        assert set(results[size]) == READS
        assert all(results[size][read]["count"] == 10 for read in READS)
    assert results["dispatch_latency"]["count"] == 10
    assert "| workers | claim endpoint |" in (output / "results.md").read_text()
    assert (output / "throughput.svg").read_text().lstrip().startswith("<svg")
