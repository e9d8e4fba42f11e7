"""``jobrunner-admin CONFIG_URI apply FILE``: declare pools, projects and jobs.

The file (YAML, or JSON, which YAML reads too) says what should exist::

    worker_pools:
      - title: batch
        notification_addresses: [ops@example.com]
    projects:
      - title: data
        worker_pools: [batch]          # by title
        viewer_groups: [data-team]     # by name; created when missing
        job_templates:
          - title: shell
            body: "#!/bin/sh\\n{{ content }}\\n"
            jobs:
              - title: nightly export
                worker_pool: batch
                script_content_partial: make export
                cron_expression: "0 2 * * *"
                timezone: Europe/Amsterdam
                parent: other job        # a job of the same template, by title
                reschedule_excludes:
                  - {start_time: "12:00", end_time: "13:00", note: lunch}

Objects are matched by title (name for groups). What is missing is created,
what differs is updated, through the same operations and checks as the API,
and each change is printed; a second run with the same file changes nothing.
Objects absent from the file are left alone: removing is deliberate, over the
API. ``--dry-run`` prints the plan and rolls everything back.
"""

import colander
import yaml
from sqlalchemy import select

from jobrunner.accounts import operations as accounts
from jobrunner.accounts.models import Group
from jobrunner.api.writes import partial
from jobrunner.exceptions import DomainError
from jobrunner.jobs import management, schemas
from jobrunner.jobs.models import Job, JobTemplate, Project
from jobrunner.workers import operations as workers
from jobrunner.workers.models import WorkerPool
from jobrunner.workers.schemas import WorkerPoolSchema


class ApplyError(ValueError):
    """The file cannot be applied; the message says where and why."""


def load(text: str) -> dict:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ApplyError(f"not valid YAML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise ApplyError("the file must hold a mapping at the top")
    unknown = set(document) - {"worker_pools", "projects"}
    if unknown:
        raise ApplyError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    return document


def _items(mapping: dict, key: str, where: str) -> list[dict]:
    items = mapping.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApplyError(f"{where}: {key} must be a list of mappings")
    return items


def _title(value, where: str, field: str) -> str:
    """A reference by title, which must be a string before it is looked up."""
    if not isinstance(value, str):
        raise ApplyError(
            f"{where}: {field} names an object by its title, "
            f"a string, not {value!r} (quote numbers)"
        )
    return value


def _titles(values, where: str, field: str) -> list[str]:
    """References by title: a list of strings, or nothing."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise ApplyError(f"{where}: {field} must be a list of titles")
    return [_title(value, where, field) for value in values]


def _validated(schema, values: dict, where: str) -> dict:
    try:
        return schema.deserialize(values)
    except colander.Invalid as error:
        problems = "; ".join(f"{k}: {v}" for k, v in sorted(error.asdict().items()))
        raise ApplyError(f"{where}: {problems}") from None


def _current(obj, name):
    value = getattr(obj, name)
    if isinstance(value, list) and value and hasattr(value[0], "id"):
        return [item.id for item in value]
    if hasattr(value, "id"):
        return value.id
    return value


def _differences(obj, values: dict) -> dict:
    """The values that differ from what ``obj`` has now."""
    relations = {
        "project": "project_id",
        "job_template": "job_template_id",
        "worker_pool": "worker_pool_id",
        "parent": "parent_id",
        "worker_pools": "worker_pools",
        "viewer_groups": "viewer_groups",
    }
    changed = {}
    for name, wanted in values.items():
        have = _current(obj, relations.get(name, name))
        if name in ("worker_pools", "viewer_groups"):
            have, wanted = sorted(have or []), sorted(wanted)
        if have != wanted:
            changed[name] = values[name]
    return changed


class Applier:
    """Walk the document, creating and updating objects, noting every change."""

    def __init__(self, lc):
        self.lc = lc
        self.changes: list[str] = []

    def _save(self, kind, label, obj, values, create, save):
        try:
            if obj is None:
                obj = create(self.lc, values)
                self.lc.dbsession.flush()
                self.changes.append(f"+ {kind} {label}")
                return obj
            changed = _differences(obj, values)
            if changed:
                save(self.lc, obj, changed)
                self.lc.dbsession.flush()
                fields = ", ".join(sorted(changed))
                self.changes.append(f"~ {kind} {label}: {fields}")
        except DomainError as error:
            raise ApplyError(
                f"{kind} {label!r}: {error.name}: {error.description}"
            ) from None
        return obj

    def _find(self, model, *conditions):
        return self.lc.dbsession.scalars(select(model).where(*conditions)).first()

    def _pool_id(self, title, where):
        pool = self._find(WorkerPool, WorkerPool.title == title)
        if pool is None:
            raise ApplyError(f"{where}: no worker pool titled {title!r}")
        return pool.id

    def _group_id(self, name):
        group = self._find(Group, Group.name == name)
        if group is None:
            group = accounts.create_group(self.lc, {"name": name})
            self.lc.dbsession.flush()
            self.changes.append(f"+ group {name}")
        return group.id

    def apply(self, document: dict) -> list[str]:
        for values in _items(document, "worker_pools", "worker_pools"):
            where = f"worker pool {values.get('title')!r}"
            values = _validated(WorkerPoolSchema(), values, where)
            pool = self._find(WorkerPool, WorkerPool.title == values["title"])
            self._save(
                "worker pool",
                values["title"],
                pool,
                values,
                workers.create_pool,
                workers.save_pool,
            )
        for values in _items(document, "projects", "projects"):
            self._project(dict(values))
        return self.changes

    def _project(self, values: dict) -> None:
        where = f"project {values.get('title')!r}"
        templates = _items(values, "job_templates", where)
        values.pop("job_templates", None)
        values["worker_pools"] = [
            self._pool_id(t, where)
            for t in _titles(values.get("worker_pools"), where, "worker_pools")
        ]
        values["viewer_groups"] = [
            self._group_id(n)
            for n in _titles(values.get("viewer_groups"), where, "viewer_groups")
        ]
        values = _validated(schemas.ProjectSchema(), values, where)
        project = self._find(Project, Project.title == values["title"])
        project = self._save(
            "project",
            values["title"],
            project,
            values,
            management.create_project,
            management.save_project,
        )
        for template_values in templates:
            self._template(project, dict(template_values))

    def _template(self, project, values: dict) -> None:
        label = f"{project.title}/{values.get('title')}"
        jobs = _items(values, "jobs", f"job template {label!r}")
        values.pop("jobs", None)
        values["project"] = project.id
        values = _validated(
            schemas.JobTemplateSchema(), values, f"job template {label!r}"
        )
        template = self._find(
            JobTemplate,
            JobTemplate.project_id == project.id,
            JobTemplate.title == values["title"],
        )
        template = self._save(
            "job template",
            label,
            template,
            values,
            management.create_job_template,
            management.save_job_template,
        )
        pending = [dict(v) for v in jobs]
        for job_values in pending:
            # Titles and parents order the jobs below, so check them first.
            job_where = f"job {label}/{job_values.get('title')!r}"
            _title(job_values.get("title"), job_where, "title")
            if job_values.get("parent") is not None:
                _title(job_values["parent"], job_where, "parent")
        # Parents first, whatever the order in the file.
        done = set()
        while pending:
            ready = [
                v
                for v in pending
                if v.get("parent") is None
                or v.get("parent") in done
                or v.get("parent") not in {p.get("title") for p in pending}
            ]
            if not ready:
                raise ApplyError(f"job template {label!r}: the jobs' parents loop")
            for job_values in ready:
                self._job(template, job_values)
                done.add(job_values.get("title"))
                pending.remove(job_values)

    def _job(self, template, values: dict) -> None:
        label = f"{template.project.title}/{template.title}/{values.get('title')}"
        where = f"job {label!r}"
        excludes = _items(values, "reschedule_excludes", where)
        values.pop("reschedule_excludes", None)
        values["job_template"] = template.id
        if "worker_pool" in values:
            title = _title(values["worker_pool"], where, "worker_pool")
            values["worker_pool"] = self._pool_id(title, where)
        if values.get("parent") is not None:
            parent = self._find(
                Job, Job.job_template_id == template.id, Job.title == values["parent"]
            )
            if parent is None:
                raise ApplyError(
                    f"{where}: no job titled {values['parent']!r} in the same template"
                )
            values["parent"] = parent.id
        given = set(values)
        values = _validated(schemas.JobSchema(), values, where)
        if "schedule_anchor_dts" not in given:
            # Set by the scheduler when the file leaves it out; not a change.
            values.pop("schedule_anchor_dts")
        job = self._find(
            Job, Job.job_template_id == template.id, Job.title == values["title"]
        )
        job = self._save(
            "job", label, job, values, management.create_job, management.save_job
        )
        self._excludes(job, label, excludes)

    def _excludes(self, job, label, wanted_values) -> None:
        schema = partial(schemas.RescheduleExcludeSchema())
        wanted = []
        for values in wanted_values:
            values = _validated(schema, values, f"exclude of job {label!r}")
            if "start_time" not in values or "end_time" not in values:
                raise ApplyError(f"exclude of job {label!r}: start_time and end_time")
            wanted.append(
                (values["start_time"], values["end_time"], values.get("note", ""))
            )
        have = [(e.start_time, e.end_time, e.note) for e in job.reschedule_excludes]
        if sorted(have) == sorted(wanted):
            return
        for exclude in list(job.reschedule_excludes):
            management.delete_exclude(self.lc, exclude)
        for start, end, note in wanted:
            management.create_exclude(
                self.lc,
                {"job": job.id, "start_time": start, "end_time": end, "note": note},
            )
        self.lc.dbsession.flush()
        self.changes.append(f"~ job {label}: reschedule_excludes")


def apply_document(lc, document: dict) -> list[str]:
    """Apply a loaded document; return the changes made, one line each."""
    # No flush before an object passed its checks: see jobrunner.api.writes.
    with lc.dbsession.no_autoflush:
        return Applier(lc).apply(document)
