"""Headless Chromium from the machine's packages, driven by Selenium.

The browser is started once per test process and serves every test; each test
begins logged out (its cookies deleted) and ends on a blank page, so that no
page keeps polling while the tables are emptied. Screenshots go to
``test-artifacts/screenshots/``, which CI keeps.
"""

import base64
import os
import pathlib
import tempfile
import threading
import time

import pytest
import waitress.server
from waitress import wasyncore


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = (1280, 800)
PHONE = (390, 844)
WAIT = 10
# Chromium captures up to 16384 pixels in one piece; a longer page is cut.
MAX_SHOT_HEIGHT = 16384

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=en-GB",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        return (
            f"no {' or '.join(missing)}: the browser tests need the packages "
            "chromium and chromium-driver (.ci/run installs them)"
        )
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium with a fresh profile, for the whole test run."""
    # Imported here so that collecting the suite never needs Selenium's
    # browser plumbing; SE_OFFLINE stops Selenium Manager from looking for
    # drivers on the network, since the machine's own driver is named below.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.TemporaryDirectory(prefix="jobrunner-chromium-")
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={profile.name}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


@pytest.fixture(scope="session")
def browser_server(wsgi_app):
    """The application over HTTP on a free loopback port, for the whole run.

    Unlike ``live_server`` it lives as long as the browser, whose keep-alive
    connections would otherwise hold each test's server open until they time
    out; at the end every connection is closed, so the thread stops at once.
    """
    channels = {}
    server = waitress.server.create_server(
        wsgi_app, map=channels, host="127.0.0.1", port=0, threads=6
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.task_dispatcher.shutdown()
    wasyncore.close_all(channels)
    thread.join(timeout=5)


@pytest.fixture
def fast_polling(wsgi_app, monkeypatch):
    """Pages poll every half second, so that live changes show quickly."""
    monkeypatch.setitem(wsgi_app.registry.settings, "dashboard.poll_interval", 0.5)


@pytest.fixture
def page(browser, browser_server, dbsession, fast_polling):
    """The browser, logged out, pointed at the live server; blank when done."""
    browser.get(browser_server + "/login")
    browser.delete_all_cookies()
    set_viewport(browser, *DESKTOP)
    browser.base_url = browser_server
    yield browser
    # Stop the page's polling before the tables are emptied under it.
    browser.get("about:blank")


def set_viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` × ``height`` CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


def screenshot(
    driver, name: str, size: tuple[int, int], full_page: bool = True
) -> pathlib.Path:
    """Save the page at a viewport ``size`` as ``<name>.png``: all of it, or
    only what the screen shows."""
    set_viewport(driver, *size)
    time.sleep(0.15)  # let the layout settle at the new width
    height = size[1]
    if full_page:
        height = driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, arguments[0])",
            size[1],
        )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": full_page,
            "clip": {
                "x": 0,
                "y": 0,
                "width": size[0],
                "height": min(height, MAX_SHOT_HEIGHT),
                "scale": 1,
            },
        },
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    set_viewport(driver, *DESKTOP)
    return path


def widths_at_phone_size(driver) -> dict[str, int]:
    """How wide the page is, and the window, at a phone's viewport size.

    A phone that meets a page wider than itself zooms out to show all of it,
    and ``window.innerWidth`` grows with the zoom; so a page fits only if it
    is no wider than the window and the window still has the phone's width.
    """
    set_viewport(driver, *PHONE)
    try:
        return driver.execute_script(
            "return {page: document.documentElement.scrollWidth,"
            " window: window.innerWidth}"
        )
    finally:
        set_viewport(driver, *DESKTOP)


def screenshots(driver, name: str) -> list[pathlib.Path]:
    """Save the whole page at desktop and phone width, and a phone's first screen."""
    return [
        screenshot(driver, f"{name}-desktop", DESKTOP),
        screenshot(driver, f"{name}-phone", PHONE, full_page=False),
        screenshot(driver, f"{name}-phone-full", PHONE),
    ]
