"""Fill a development database with a demo user, project, pool and jobs.

Run by ``bin/serve``; running it again changes nothing. It refuses to touch a
database that already has users other than the demo user, so it cannot
plant a known password in a real installation.
"""

import sys

from sqlalchemy import select

from jobrunner.accounts import operations as accounts
from jobrunner.accounts.models import User
from jobrunner.scripts.common import dbsession_for, load_settings


DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 -- a development database only


def ensure_demo_data(dbsession) -> bool:
    """Create the demo user (superuser) if missing; return True if created."""
    users = dbsession.scalars(select(User.username)).all()
    if DEMO_USERNAME in users:
        return False
    if users:
        raise SystemExit("this database has real users; not adding demo data")
    accounts.create_user(
        dbsession, DEMO_USERNAME, DEMO_PASSWORD, groups=["demo"], is_superuser=True
    )
    return True


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m jobrunner.scripts.demo CONFIG_URI", file=sys.stderr)
        return 2
    settings = load_settings(argv[0])
    with dbsession_for(settings) as dbsession:
        ensure_demo_data(dbsession)
    print(
        f"\n  jobrunner: log in at http://localhost:6543/login "
        f"as {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
