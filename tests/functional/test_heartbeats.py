"""Heartbeats are timed by the server's clock, whatever the worker's says."""

import datetime
import json

import pytest

from jobrunner.db import utcnow
from jobrunner.scripts import monitor as monitor_script


API = "/api/job_runner/v1"


@pytest.fixture
def monitor(app_settings):
    duties = monitor_script.Monitor(
        {**app_settings, "monitor.ping_interval": "10", "monitor.silent_pings": "3"}
    )
    yield duties
    duties.close()


@pytest.mark.parametrize(
    "skew", [-datetime.timedelta(minutes=4), datetime.timedelta(minutes=6)]
)
def test_a_worker_with_a_wrong_clock_stays_alive_and_keeps_its_runs(
    factory, sign, monitor, skew, caplog
):
    pool = factory.pool()
    worker = factory.worker(pools=[pool], ping_response_dts=utcnow() - skew)
    job = factory.job(factory.template(factory.project(pools=[pool])), pool)
    factory.run(job, "started", worker=worker)
    before = utcnow()

    response = sign(worker).request(
        "PATCH",
        f"{API}/worker/{worker.id}/",
        json.dumps({"ping_response_dts": (utcnow() + skew).isoformat()}),
        status=202,
    )
    result = monitor.run_once()

    stored = datetime.datetime.fromisoformat(response.json["ping_response_dts"])
    assert before <= stored <= utcnow()
    assert result == {"failed_runs": [], "silent_pools": []}
    assert "clock is" in caplog.text
