"""The status dashboard: read-only pages for people, behind the session login."""

import datetime

from jobrunner.accounts.views import DashboardContext
from jobrunner.dashboard.formatting import FILTERS


# The monitor's defaults (see jobrunner.scripts.monitor): a worker is silent
# after missing this many heartbeats of this interval.
PING_INTERVAL = 60
SILENT_PINGS = 3
# How often (seconds) an open page asks for fresh data.
POLL_INTERVAL = 5


def includeme(config):
    """Add the pages, their live twins and the template filters."""
    settings = config.get_settings()
    silent_after = float(settings.get("monitor.ping_interval", PING_INTERVAL)) * float(
        settings.get("monitor.silent_pings", SILENT_PINGS)
    )
    config.registry["dashboard.silent_after"] = datetime.timedelta(seconds=silent_after)
    settings["dashboard.poll_interval"] = float(
        settings.get("dashboard.poll_interval", POLL_INTERVAL)
    )

    def add(name, pattern):
        config.add_route(name, pattern, factory=DashboardContext)

    add("dashboard.overview", "/")
    add("dashboard.job", r"/jobs/{job_id:\d{1,18}}")
    add("dashboard.run", r"/runs/{run_id:\d{1,18}}")
    add("dashboard.workers", "/workers")
    add("dashboard.live.overview", "/live/overview")
    add("dashboard.live.job", r"/live/jobs/{job_id:\d{1,18}}")
    add("dashboard.live.run", r"/live/runs/{run_id:\d{1,18}}")
    add("dashboard.live.workers", "/live/workers")

    def add_filters():
        config.get_jinja2_environment().filters.update(FILTERS)

    # After pyramid_jinja2 has built its environment (its own actions run
    # earlier in the same commit).
    config.action(None, add_filters, order=999)
    config.scan(".views")
