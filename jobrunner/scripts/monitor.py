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
import time

import transaction

from jobrunner.db import get_engine, get_session_factory, get_tm_session, utcnow
from jobrunner.jobs import monitor, retention
from jobrunner.jobs.operations import Lifecycle
from jobrunner.notifications import notifier_from_settings
from jobrunner.scripts.common import load_settings


log = logging.getLogger("jobrunner.monitor")

DEFAULTS = {
    # How often workers send heartbeats, and how many they may miss.
    "monitor.ping_interval": 60,
    "monitor.silent_pings": 3,
    "monitor.interval": 30,
    # Daily pruning of old completed runs: off unless an age is given (90d).
    "monitor.prune_older_than": "",
    "monitor.prune_keep_per_job": retention.DEFAULT_KEEP_PER_JOB,
    "monitor.prune_batch_size": retention.DEFAULT_BATCH_SIZE,
    # Batches per pass: a long prune goes on over several passes, so that
    # silent workers are still found meanwhile.
    "monitor.prune_batches_per_pass": 20,
}
# How often a monitor looks whether pruning is due (see retention.prune_is_due).
PRUNE_CHECK_INTERVAL = 3600
PRUNE_EVERY = datetime.timedelta(days=1)


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
        age = self.settings["monitor.prune_older_than"]
        self.prune_older_than = retention.parse_age(age) if age else None
        self.next_prune_check = 0.0
        # Set while a prune has candidates left over for the next pass.
        self.prune_unfinished = False

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

    def run_once(self, report_pools: bool = True) -> dict:
        """One pass of every duty; ``report_pools`` False leaves pools unjudged."""
        failed = []
        while True:
            batch = self._duty(monitor.fail_runs_of_silent_workers)
            failed += batch
            if len(batch) < monitor.BATCH:
                break
        pools = self._duty(monitor.report_silent_pools) if report_pools else []
        result = {"failed_runs": failed, "silent_pools": pools}
        if self.prune_older_than is not None:
            result["pruned"] = self.prune_if_due()
        return result

    def _in_transaction(self, function):
        return self._duty(lambda lc, _: function(lc.dbsession))

    def prune_if_due(self, now=None) -> dict | None:
        """Prune old runs when the oldest is a day past the cut-off (see retention).

        Each call prunes a bounded number of batches; an unfinished prune goes
        on at the next call, without waiting for the next hourly check.
        """
        if not self.prune_unfinished and time.monotonic() < self.next_prune_check:
            return None
        self.next_prune_check = time.monotonic() + PRUNE_CHECK_INTERVAL
        cutoff = (now or utcnow()) - self.prune_older_than
        keep = int(self.settings["monitor.prune_keep_per_job"])
        with retention.exclusive(self.engine) as mine:
            if not mine:
                return None  # Another monitor is pruning.
            due = self.prune_unfinished or self._in_transaction(
                lambda dbsession: retention.prune_is_due(
                    dbsession, cutoff, keep, PRUNE_EVERY
                )
            )
            if not due:
                return None
            result = retention.prune(
                self._in_transaction,
                cutoff,
                keep_per_job=keep,
                batch_size=int(self.settings["monitor.prune_batch_size"]),
                max_batches=int(self.settings["monitor.prune_batches_per_pass"]),
            )
        self.prune_unfinished = not result.finished
        log.info("pruned old runs: %s", result.as_dict())
        return result.as_dict()

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
    # Started together with the workers (a deploy, bin/serve), the monitor
    # would find a pool whose workers have not sent their first heartbeat
    # yet and report it silent; pools are judged once a silence could last.
    judge_pools_from = time.monotonic() + duties.silent_after.total_seconds()
    while not stop.is_set():
        try:
            result = duties.run_once(report_pools=time.monotonic() >= judge_pools_from)
            if result["failed_runs"] or result["silent_pools"]:
                log.info("monitor pass: %s", result)
        except Exception:
            # A database outage must not end the monitor; try again next pass.
            log.exception("monitor pass failed")
        stop.wait(interval)
    log.info("monitor stopped")


if __name__ == "__main__":
    sys.exit(main())
