"""``jobrunner-admin CONFIG_URI apply FILE``: declarative and idempotent."""

import io
import pathlib

import pytest

from jobrunner.jobs.models import Job, Project, RescheduleExclude, Run
from jobrunner.scripts import admin


EXAMPLE = pathlib.Path(__file__).parents[2] / "docs" / "examples" / "jobs.yaml"
# A file with one job; its keys besides the title go in the braces.
JOB = (
    "worker_pools: [{{title: p}}]\nprojects: [{{title: x, worker_pools: [p], "
    "job_templates: [{{title: t, jobs: [{{title: j, {}}}]}}]}}]"
)


@pytest.fixture
def ini(app_settings, tmp_path):
    path = tmp_path / "apply.ini"
    path.write_text(
        "[app:main]\nuse = egg:jobrunner\n"
        f"sqlalchemy.url = {app_settings['sqlalchemy.url']}\n"
        f"mail.debug_dir = {app_settings['mail.debug_dir']}\n"
    )
    return str(path)


def run_apply(ini, *arguments, stdin=""):
    out = io.StringIO()
    status = admin.main(
        [ini, "apply", *arguments], stdin=io.StringIO(stdin), stdout=out
    )
    return status, out.getvalue().splitlines()


def test_the_example_applies_and_a_second_run_changes_nothing(ini, dbsession):
    status, first = run_apply(ini, str(EXAMPLE))
    again_status, second = run_apply(ini, str(EXAMPLE))

    assert status == 0
    assert "+ worker pool batch" in first
    assert "+ job data/shell/nightly export" in first
    assert "+ group data-team" in first
    assert again_status == 0
    assert second == ["= nothing to change"]
    jobs = {job.title: job for job in dbsession.query(Job)}
    assert jobs["publish export"].parent_id == jobs["nightly export"].id
    assert jobs["nightly export"].script_content.endswith('echo "exporting"\n')
    assert dbsession.query(RescheduleExclude).count() == 1
    scheduled = {run.job_id for run in dbsession.query(Run)}
    assert scheduled == {jobs["nightly export"].id, jobs["clean temporary files"].id}


def test_a_change_in_the_file_updates_only_what_changed(ini, dbsession, tmp_path):
    run_apply(ini, str(EXAMPLE))
    changed = tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE.read_text().replace('"0 2 * * *"', '"30 3 * * *"'))

    status, lines = run_apply(ini, str(changed))

    assert status == 0
    assert lines == ["~ job data/shell/nightly export: cron_expression"]
    dbsession.expire_all()
    job = dbsession.query(Job).filter_by(title="nightly export").one()
    assert job.cron_expression == "30 3 * * *"


def test_dry_run_prints_the_plan_and_changes_nothing(ini, dbsession):
    status, lines = run_apply(ini, "--dry-run", str(EXAMPLE))

    assert status == 0
    assert "would + project data" in lines
    assert dbsession.query(Project).count() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("projects: [{title: x, worker_pools: [nope]}]", "no worker pool"),
        ("projects: 5", "must be a list"),
        ("pools: []", "unknown top-level keys"),
        (
            "worker_pools: [{title: p}]\nprojects: [{title: x, worker_pools: [p], "
            "job_templates: [{title: t, jobs: [{title: j, worker_pool: p, "
            "cron_expression: 'every day'}]}]}]",
            "cron_expression",
        ),
        ("{{{", "not valid YAML"),
        (
            "worker_pools: [{title: '5'}]\nprojects: [{title: x, worker_pools: [5]}]",
            "project 'x': worker_pools names an object by its title",
        ),
        ("projects: [{title: x, viewer_groups: [7]}]", "viewer_groups names"),
        (
            "worker_pools: [{title: b}]\nprojects: [{title: x, worker_pools: b}]",
            "worker_pools must be a list of titles",
        ),
        (
            "projects: [{title: x, viewer_groups: {a: 1}}]",
            "viewer_groups must be a list",
        ),
        (JOB.format("worker_pool: 5"), "worker_pool names an object by its title"),
        (JOB.format("worker_pool: [p]"), "worker_pool names"),
        (
            JOB.format("worker_pool: p, parent: 3"),
            "parent names an object by its title",
        ),
        (JOB.format("worker_pool: p, parent: [a]"), "parent names"),
        (
            "worker_pools: [{title: p}]\nprojects: [{title: x, worker_pools: [p], "
            "job_templates: [{title: t, jobs: [{title: [j], worker_pool: p}]}]}]",
            "job x/t/['j']: title names",
        ),
    ],
)
def test_a_bad_file_is_refused_and_changes_nothing(
    ini, dbsession, capsys, text, message
):
    status, _ = run_apply(ini, "-", stdin=text)

    assert status == 1
    assert message in capsys.readouterr().err
    assert dbsession.query(Project).count() == 0
