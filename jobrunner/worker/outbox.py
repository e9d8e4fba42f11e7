"""Results the worker could not deliver before it exited, kept for its next start.

A worker that stops while the server is away keeps trying to report for
``shutdown_report_timeout`` seconds, then exits. What it could not deliver (a
run's start, the rest of its log, its result) is written here, one JSON file
per worker key, readable by its owner only; the next start delivers it instead
of reporting the run failed for want of a result.
"""

import json
import logging
import os
import pathlib


log = logging.getLogger(__name__)


def path_for(folder: str, api_key: str) -> pathlib.Path:
    """Where the worker with ``api_key`` keeps its undelivered results."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in api_key)
    return pathlib.Path(folder) / f"jobrunner-worker-{safe}.results.json"


def load(path: pathlib.Path) -> dict[int, dict]:
    """The kept results by run id; none when the file is missing or unreadable."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.error("cannot read the kept results in %s: %s", path, error)
        return {}
    if not isinstance(entries, list):
        log.error("cannot read the kept results in %s: not a list", path)
        return {}
    kept = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("run_id"), int):
            kept[entry["run_id"]] = entry
    return kept


def save(path: pathlib.Path, entries: list[dict]) -> None:
    """Write ``entries`` whole (atomically, mode 0600), or remove the file."""
    if not entries:
        path.unlink(missing_ok=True)
        return
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(entries, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
