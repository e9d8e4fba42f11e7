"""production.ini as operators start it: ``pserve production.ini``.

It runs gunicorn with several worker processes forked from one loaded
application; each must get database connections of its own, and stopping the
server must stop them all.
"""

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.ops.servers import API, ROOT, Client, free_port, wait_for


pytestmark = pytest.mark.slow

PSERVE = os.path.join(os.path.dirname(sys.executable), "pserve")


@pytest.fixture
def production_server(tmp_path, database_url, dbengine):
    port = free_port()
    ini = (ROOT / "production.ini").read_text().replace("%(here)s", str(ROOT))
    ini, count = re.subn(r"(?m)^bind = .*$", f"bind = 127.0.0.1:{port}", ini)
    assert count == 1
    # NOTE: a worker that gets SIGTERM while it is still booting runs the
    # master's handler, inherited through fork, and ignores it; the master
    # kills it when the graceful timeout ends. Shorter here, so that this
    # rare case costs the test seconds, not half a minute.
    ini, count = re.subn(r"(?m)^graceful_timeout = .*$", "graceful_timeout = 5", ini)
    assert count == 1
    config = tmp_path / "production.ini"
    config.write_text(ini)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [PSERVE, str(config)],
        env={
            **os.environ,
            "JOBRUNNER_DATABASE_URL": database_url,
            "JOBRUNNER_AUTH_SECRET": "production-ini-test-secret",
        },
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        try:
            return requests.get(url + "/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(ready, "pserve production.ini")
    yield {"url": url, "process": process}
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def test_several_processes_serve_signed_requests_from_one_database(
    production_server, factory
):
    world = factory.world()

    def read(_):
        # A new connection each time, so that the processes share the work,
        # each over database connections it opened itself after the fork.
        response = Client(production_server["url"], world["admin"]).request(
            "GET", f"{API}/job/?limit=5"
        )
        return response.status_code, response.json()

    pid = production_server["process"].pid
    wait_for(lambda: len(_children(pid)) == 3, "three worker processes")
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(read, range(60)))

    assert {status for status, _ in answers} == {200}
    assert all(
        sorted(job["title"] for job in body["objects"]) == ["job-a", "job-b"]
        for _, body in answers
    )


def test_metrics_add_up_the_counters_of_every_process(production_server, factory):
    world = factory.world()
    url = production_server["url"]
    pid = production_server["process"].pid
    wait_for(lambda: len(_children(pid)) == 3, "three worker processes")

    def read(_):
        return Client(url, world["admin"]).request("GET", f"{API}/job/").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(read, range(60)))
        # Scrapes on new connections reach whichever process accepts them.
        scrapes = list(
            pool.map(
                lambda _: requests.get(url + "/metrics", timeout=10).text, range(12)
            )
        )

    assert set(statuses) == {200}
    listed = re.compile(
        r'^jobrunner_http_requests_total\{method="GET",route="api.job.list",'
        r'status="200"\} ([0-9.e+]+)$',
        re.MULTILINE,
    )
    assert {float(listed.search(text).group(1)) for text in scrapes} == {60.0}


def test_the_session_cookie_is_secure_httponly_and_samesite(production_server, factory):
    factory.world()
    form = requests.get(production_server["url"] + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    # The CSRF cookie is secure too, so a client sends it only over HTTPS;
    # this test speaks plain HTTP to the server, so it hands it over itself.
    csrf_cookie = form.raw.headers["Set-Cookie"].split(";")[0]
    assert "; secure" in form.raw.headers["Set-Cookie"].lower()

    response = requests.post(
        production_server["url"] + "/login",
        data={"username": "root", "password": "secret-password", "csrf_token": token},
        headers={"Cookie": csrf_cookie},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 303
    cookies = [
        value.lower()
        for name, value in response.raw.headers.items()
        if name.lower() == "set-cookie" and value.startswith("jobrunner_auth=")
    ]
    assert cookies
    for cookie in cookies:
        assert "; secure" in cookie
        assert "; httponly" in cookie
        assert "samesite=lax" in cookie


def test_sigterm_stops_every_process(production_server):
    process = production_server["process"]
    workers = _children(process.pid)

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)

    assert workers
    assert wait_for(
        lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers),
        "the worker processes to exit",
    )
