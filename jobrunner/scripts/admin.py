"""``jobrunner-admin CONFIG_URI SUBCOMMAND``: manage users, keys and workers.

Credentials are printed as JSON on standard output so that scripts can read
them; passwords are read from standard input so they never show in ``ps``.
"""

import argparse
import getpass
import json
import pathlib
import sys

import transaction

from jobrunner.accounts import operations as accounts
from jobrunner.db import get_engine, get_session_factory, get_tm_session, utcnow
from jobrunner.jobs import retention
from jobrunner.jobs.operations import Lifecycle
from jobrunner.notifications import notifier_from_settings
from jobrunner.scripts import apply
from jobrunner.scripts.common import dbsession_for, load_settings
from jobrunner.workers import operations as workers


def _read_password(stream) -> str:
    if stream.isatty():
        return getpass.getpass("Password: ")
    return stream.readline().rstrip("\r\n")


def create_user(dbsession, args, stdin) -> dict:
    password = _read_password(stdin)
    user = accounts.create_user(
        dbsession,
        args.username,
        password,
        groups=args.group,
        is_superuser=args.superuser,
    )
    return {"id": user.id, "username": user.username, "groups": args.group}


def create_group(dbsession, args, stdin) -> dict:
    group = accounts.get_or_create_group(dbsession, args.name)
    dbsession.flush()
    return {"id": group.id, "name": group.name}


def create_admin_key(dbsession, args, stdin) -> dict:
    key = accounts.create_admin_key(dbsession, args.title)
    return {"id": key.id, "api_key": key.api_key, "secret": key.secret}


def create_worker(dbsession, args, stdin) -> dict:
    worker = workers.create_worker(dbsession, args.title, pools=args.pool)
    return {"id": worker.id, "api_key": worker.api_key, "secret": worker.secret}


def prune(settings, args, stdin) -> dict:
    """Delete old completed runs, each batch in a transaction of its own."""
    engine = get_engine(settings)
    session_factory = get_session_factory(engine)

    def in_transaction(function):
        tm = transaction.TransactionManager(explicit=True)
        with tm:
            return function(get_tm_session(session_factory, tm))

    try:
        result = retention.prune(
            in_transaction,
            utcnow() - args.older_than,
            keep_per_job=args.keep_per_job,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
        )
    finally:
        engine.dispose()
    return result.as_dict()


def _age(text: str):
    try:
        return retention.parse_age(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _positive(text: str) -> int:
    count = _count(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not at least 1")
    return count


def apply_file(settings, args, stdin) -> None:
    """Apply a declarative file, printing each change (see jobrunner.scripts.apply)."""
    text = stdin.read() if args.file == "-" else pathlib.Path(args.file).read_text()
    document = apply.load(text)
    notifier = notifier_from_settings(settings)
    tm = transaction.TransactionManager(explicit=True)
    engine = get_engine(settings)
    tm.begin()
    try:
        lc = Lifecycle(
            dbsession=get_tm_session(get_session_factory(engine), tm),
            now=utcnow(),
            notifier=notifier.bind(tm),
        )
        changes = apply.apply_document(lc, document)
        if args.dry_run:
            tm.abort()
        else:
            tm.commit()
    except BaseException:
        tm.abort()
        raise
    finally:
        engine.dispose()
    prefix = "would " if args.dry_run else ""
    for line in changes or ["= nothing to change"]:
        print(f"{prefix}{line}" if line[0] != "=" else line, file=args.stdout)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobrunner-admin", description=__doc__)
    parser.add_argument("config_uri", help="the ini file, e.g. development.ini")
    commands = parser.add_subparsers(dest="command", required=True)

    user = commands.add_parser(
        "create-user", help="create a dashboard user (password on standard input)"
    )
    user.add_argument("username")
    user.add_argument("--group", action="append", default=[], help="repeatable")
    user.add_argument("--superuser", action="store_true")
    user.set_defaults(handler=create_user)

    group = commands.add_parser("create-group", help="create a group")
    group.add_argument("name")
    group.set_defaults(handler=create_group)

    key = commands.add_parser("create-admin-key", help="create an admin API key")
    key.add_argument("title")
    key.set_defaults(handler=create_admin_key)

    worker = commands.add_parser("create-worker", help="create a worker's credentials")
    worker.add_argument("title")
    worker.add_argument("--pool", action="append", default=[], help="repeatable")
    worker.set_defaults(handler=create_worker)

    pruning = commands.add_parser(
        "prune", help="delete old completed runs, their logs and kill requests"
    )
    pruning.add_argument("--older-than", type=_age, required=True, help="e.g. 90d")
    pruning.add_argument(
        "--keep-per-job",
        type=_count,
        default=retention.DEFAULT_KEEP_PER_JOB,
        help="keep each job's latest completed runs, however old",
    )
    pruning.add_argument(
        "--batch-size", type=_positive, default=retention.DEFAULT_BATCH_SIZE
    )
    pruning.add_argument(
        "--dry-run", action="store_true", help="count what would go; delete nothing"
    )
    # Its batches commit one by one, so it gets the settings, not one session.
    pruning.set_defaults(handler=prune, own_transactions=True)

    applying = commands.add_parser(
        "apply", help="create or update pools, projects and jobs from a YAML file"
    )
    applying.add_argument("file", help="a YAML or JSON file; - for standard input")
    applying.add_argument(
        "--dry-run", action="store_true", help="print the plan; change nothing"
    )
    applying.set_defaults(handler=apply_file, own_transactions=True)
    return parser


def main(argv=None, stdin=None, stdout=None) -> int:
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    args = build_parser().parse_args(argv)
    args.stdout = stdout
    settings = load_settings(args.config_uri)
    try:
        if getattr(args, "own_transactions", False):
            result = args.handler(settings, args, stdin)
        else:
            with dbsession_for(settings) as dbsession:
                result = args.handler(dbsession, args, stdin)
    except (accounts.AccountError, apply.ApplyError, OSError) as error:
        print(f"jobrunner-admin: {error}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
