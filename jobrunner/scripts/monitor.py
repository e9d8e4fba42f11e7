"""``jobrunner-monitor CONFIG_URI``: run the periodic duties, in a loop or once.

Any number of monitors may run, on any hosts; they never do a duty twice
(see :mod:`jobrunner.jobs.monitor`).
"""

import argparse
import datetime
import logging
import signal
import sys
import threading

import transaction

from jobrunner.db import get_engine, get_session_factory, get_tm_session, utcnow
from jobrunner.jobs import monitor
from jobrunner.jobs.operations import Lifecycle
from jobrunner.notifications import notifier_from_settings
from jobrunner.scripts.common import load_settings


log = logging.getLogger("jobrunner.monitor")

DEFAULTS = {
    # How often workers send heartbeats, and how many they may miss.
    "monitor.ping_interval": 60,
    "monitor.silent_pings": 3,
    "monitor.interval": 30,
}


class Monitor:
    """The duties, each in a transaction of its own."""

    def __init__(self, settings: dict):
        self.settings = {**DEFAULTS, **settings}
        self.engine = get_engine(self.settings)
        self.session_factory = get_session_factory(self.engine)
        self.notifier = notifier_from_settings(self.settings)
        self.silent_after = datetime.timedelta(
            seconds=float(self.settings["monitor.ping_interval"])
            * float(self.settings["monitor.silent_pings"])
        )

    def _duty(self, function):
        tm = transaction.TransactionManager(explicit=True)
        with tm:
            lc = Lifecycle(
                dbsession=get_tm_session(self.session_factory, tm),
                now=utcnow(),
                notifier=self.notifier.bind(tm),
                log_max_bytes=int(self.settings["runs.log_max_bytes"]),
            )
            return function(lc, self.silent_after)

    def run_once(self) -> dict:
        failed = []
        while True:
            batch = self._duty(monitor.fail_runs_of_silent_workers)
            failed += batch
            if len(batch) < monitor.BATCH:
                break
        pools = self._duty(monitor.report_silent_pools)
        return {"failed_runs": failed, "silent_pools": pools}

    def close(self) -> None:
        self.engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jobrunner-monitor", description=__doc__)
    parser.add_argument("config_uri")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    settings = load_settings(args.config_uri)
    duties = Monitor(settings)
    try:
        if args.once:
            print(duties.run_once())
        else:
            _loop(duties)
    finally:
        duties.close()
    return 0


def _loop(duties: Monitor) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    interval = float(duties.settings["monitor.interval"])
    log.info("monitor started, every %s s", interval)
    while not stop.is_set():
        try:
            result = duties.run_once()
            if result["failed_runs"] or result["silent_pools"]:
                log.info("monitor pass: %s", result)
        except Exception:
            # A database outage must not end the monitor; try again next pass.
            log.exception("monitor pass failed")
        stop.wait(interval)
    log.info("monitor stopped")


if __name__ == "__main__":
    sys.exit(main())
