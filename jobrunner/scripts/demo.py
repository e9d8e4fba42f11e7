"""Fill a development database with a demo user, project, worker and jobs.

Run by ``bin/serve``; running it again changes nothing. It refuses to touch a
database that already has users other than the demo user, so it cannot plant
a known password in a real installation. The demo worker's credentials are
written to an ini file (readable by its owner only) for ``jobrunner-worker``.
"""

import os
import pathlib
import sys

from sqlalchemy import select

from jobrunner.accounts import operations as accounts
from jobrunner.accounts.models import User
from jobrunner.db import utcnow
from jobrunner.jobs import operations
from jobrunner.jobs.models import Job, JobTemplate, Project
from jobrunner.notifications import notifier_from_settings
from jobrunner.scripts.common import dbsession_for, load_settings
from jobrunner.workers import operations as workers


DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 -- a development database only

TEMPLATE = """#!/bin/sh
# Every job of the demo project runs inside this template.
set -e
echo "[$(date -u +%FT%TZ)] starting on $(hostname)"
{{ content }}
echo "[$(date -u +%FT%TZ)] done"
"""

JOBS = [
    {
        "title": "Say hello",
        "description": "Runs every minute, on the minute.",
        "script_content_partial": 'echo "Hello from jobrunner"',
        "cron_expression": "* * * * *",
        "timezone": "Europe/Amsterdam",
    },
    {
        "title": "Disk usage report",
        "description": "Runs every two minutes and prints a little output.",
        "script_content_partial": "df -h / | tail -n 1\nsleep 5",
        "reschedule_interval": 2,
        "reschedule_interval_type": "MINUTE",
    },
    {
        "title": "Sometimes fails",
        "description": "Fails about one run in three, to show failures.",
        "script_content_partial": (
            'n=$(od -An -N1 -tu1 /dev/urandom | tr -d " ")\n'
            'if [ $((n % 3)) -eq 0 ]; then echo "bad luck" >&2; exit 1; fi\n'
            'echo "lucky"'
        ),
        "reschedule_interval": 1,
        "reschedule_interval_type": "MINUTE",
    },
]


def ensure_demo_data(dbsession, settings, worker_ini: pathlib.Path) -> bool:
    """Create the demo data if missing; return True if it was created."""
    users = dbsession.scalars(select(User.username)).all()
    if DEMO_USERNAME in users:
        return False
    if users:
        raise SystemExit("this database has real users; not adding demo data")
    accounts.create_user(
        dbsession, DEMO_USERNAME, DEMO_PASSWORD, groups=["demo"], is_superuser=True
    )
    worker = workers.create_worker(dbsession, "demo worker", pools=["demo"])
    project = Project(
        title="Demo",
        description="Jobs that show what jobrunner does.",
        worker_pools=list(worker.pools),
        viewer_groups=[accounts.get_or_create_group(dbsession, "demo")],
    )
    template = JobTemplate(project=project, title="Shell", body=TEMPLATE)
    dbsession.add_all([project, template])
    lc = operations.Lifecycle(
        dbsession=dbsession, now=utcnow(), notifier=notifier_from_settings(settings)
    )
    parent = None
    for values in JOBS:
        job = Job(
            job_template=template,
            worker_pool=worker.pools[0],
            script_content=operations.render_script(
                TEMPLATE, values["script_content_partial"]
            ),
            **values,
        )
        dbsession.add(job)
        dbsession.flush()
        operations.ensure_scheduled(lc, job)
        parent = parent or job
    child = Job(
        job_template=template,
        worker_pool=worker.pools[0],
        parent=parent,
        title="After hello",
        description="A chain: runs each time 'Say hello' succeeds.",
        script_content_partial='echo "hello was said"',
        script_content=operations.render_script(TEMPLATE, 'echo "hello was said"'),
    )
    dbsession.add(child)
    _write_worker_ini(worker_ini, worker.api_key, worker.secret)
    return True


def _write_worker_ini(path: pathlib.Path, api_key: str, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as ini:
        ini.write(
            "# The demo worker's credentials, written by jobrunner.scripts.demo.\n"
            "[worker]\n"
            "server_url = http://localhost:6543\n"
            f"api_key = {api_key}\n"
            f"secret = {secret}\n"
            "concurrent_jobs = 4\n"
            "heartbeat_interval = 20\n"
        )


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(
            "usage: python -m jobrunner.scripts.demo CONFIG_URI WORKER_INI",
            file=sys.stderr,
        )
        return 2
    settings = load_settings(argv[0])
    with dbsession_for(settings) as dbsession:
        ensure_demo_data(dbsession, settings, pathlib.Path(argv[1]))
    print(
        f"\n  jobrunner: log in at http://localhost:6543/login "
        f"as {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
