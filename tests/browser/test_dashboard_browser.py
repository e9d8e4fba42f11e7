"""The dashboard in a real browser: log in, read each page, watch a run change.

Every page is also photographed at desktop and phone width into
``test-artifacts/screenshots/``.
"""

import datetime
import json

import pytest
import requests

from jobrunner import signing
from jobrunner.db import utcnow
from tests.browser import scene
from tests.browser.conftest import (
    PHONE,
    WAIT,
    browser_missing,
    screenshots,
    widths_at_phone_size,
)


pytestmark = pytest.mark.skipif(
    browser_missing() is not None, reason=browser_missing() or ""
)

API = "/api/job_runner/v1"
PASSWORD = "secret-password"  # what tests.factories gives every user


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def wait_for(driver, condition, message, timeout=WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: condition(d), message
    )


def log_in(driver, username="alice", password=PASSWORD):
    """Fill in and send the login form the dashboard redirected to."""
    by_css(driver, "#username").send_keys(username)
    by_css(driver, "#password").send_keys(password)
    by_css(driver, "form.login button[type=submit]").click()


def texts_of(driver, selector) -> list[str]:
    """The visible text of every match, read at once: regions change under us."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText)",
        selector,
    )


def text_of(driver, selector) -> str:
    found = texts_of(driver, selector)
    assert found, f"nothing matches {selector}"
    return found[0]


def assert_fits_a_phone(driver):
    """The page does not scroll sideways at a phone's width."""
    widths = widths_at_phone_size(driver)
    where = driver.current_url
    assert widths["window"] == PHONE[0], f"{where} zoomed out to fit: {widths}"
    assert widths["page"] <= widths["window"], f"{where} is too wide: {widths}"


def signed(base_url, worker, method, path, body):
    """Send a request signed like the worker daemon's."""
    data = json.dumps(body).encode()
    response = requests.request(
        method,
        base_url + path,
        data=data,
        headers={
            "Content-Type": "application/json",
            "Authorization": signing.authorization_header(
                worker.api_key, worker.secret, method, path, data
            ),
        },
        timeout=10,
    )
    assert response.status_code in (200, 202), response.text
    return response


@pytest.fixture
def world(factory):
    return scene.build(factory, utcnow())


def test_logging_in_leads_to_the_overview(page, world):
    page.get(page.base_url + "/")
    assert "/login?came_from=%2F" in page.current_url
    assert_fits_a_phone(page)
    screenshots(page, "login")
    log_in(page, password="wrong")
    wait_for(
        page,
        lambda d: "Invalid username or password." in " ".join(texts_of(d, ".error")),
        "no message about the wrong password",
    )

    by_css(page, "#password").send_keys(PASSWORD)
    by_css(page, "form.login button[type=submit]").click()

    wait_for(page, lambda d: d.title.startswith("Overview"), "no overview")
    body = text_of(page, "main")
    assert "Nightly invoices" in body
    assert "Secret project" not in body and "Hidden job" not in body
    failures = text_of(page, ".failures")
    assert "Send reminders" in failures and "read the log" in failures
    state = text_of(page, "#region-projects tr.row-started [data-label=State]")
    assert "Running" in state
    wait_for(
        page,
        lambda d: (
            "Updated" in text_of(d, "#live-text")
            and "ago" in text_of(d, "#live-text")
            or "just now" in text_of(d, "#live-text")
        ),
        "no freshness note",
    )
    assert_fits_a_phone(page)
    screenshots(page, "overview")


def test_a_job_page_shows_schedule_chart_and_history(page, world):
    nightly = world["nightly"]
    page.get(f"{page.base_url}/jobs/{nightly.id}")
    log_in(page)
    wait_for(page, lambda d: d.title.startswith("Nightly invoices"), "no job page")

    body = text_of(page, "main")
    assert "every day at 02:00 (Europe/Amsterdam)" in body
    assert len(texts_of(page, "table.upcoming tbody tr")) == 5
    assert "No run from 23:30 to 00:30 (Europe/Amsterdam), past midnight" in body
    assert "Archive invoices" in text_of(page, ".facts")
    assert "python invoices.py" in text_of(page, "pre.script")
    assert len(texts_of(page, "figure.chart rect.bar")) == 30
    assert len(texts_of(page, "figure.chart rect.bar.failed")) == 3
    assert "Older runs" in text_of(page, ".pager")
    assert_fits_a_phone(page)
    screenshots(page, "job")

    by_css(page, ".pager a[rel=next]").click()
    wait_for(page, lambda d: "before=" in d.current_url, "no older page")
    assert "Newer runs" in text_of(page, ".pager")
    assert_fits_a_phone(page)


def test_times_are_in_the_browsers_zone_with_utc_on_hover(page, world):
    page.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    try:
        page.get(f"{page.base_url}/runs/{world['failed'].id}")
        log_in(page)
        wait_for(page, lambda d: d.title.startswith("Run #"), "no run page")

        finished = by_css(page, "#region-run_facts time[data-style=full]")
        utc = datetime.datetime.fromisoformat(finished.get_attribute("datetime"))
        local = utc.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
        # The browser's locale picks a 24- or 12-hour clock.
        hour_24, hour_12 = local.strftime("%H:%M:%S"), local.strftime("%I:%M:%S")
        assert hour_24 in finished.text or hour_12.lstrip("0") in finished.text
        assert finished.get_attribute("title").endswith(" UTC")
        assert "Asia/Tokyo" in text_of(page, ".tz-note")
        assert "SMTPServerDisconnected" in text_of(page, "#log")
        assert_fits_a_phone(page)
        screenshots(page, "run-failed")

        # A chart bar's tooltip is in local time too, with UTC after it.
        page.get(f"{page.base_url}/jobs/{world['nightly'].id}")
        tooltip = by_css(page, "figure.chart rect.bar title")
        utc = datetime.datetime.fromisoformat(tooltip.get_attribute("data-datetime"))
        local = utc.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
        words = page.execute_script("return arguments[0].textContent", tooltip)
        hour_24, hour_12 = local.strftime("%H:%M:%S"), local.strftime("%I:%M:%S")
        assert hour_24 in words or hour_12.lstrip("0") in words, words
        assert words.startswith("Run ") and words.endswith(
            f"({utc.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
        ), words
    finally:
        page.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


def test_the_run_page_follows_the_log_and_the_state_live(page, world):
    running, worker = world["running"], world["worker"]
    page.get(f"{page.base_url}/runs/{running.id}")
    log_in(page)
    wait_for(page, lambda d: d.title.startswith("Run #"), "no run page")
    assert "Running" in text_of(page, "#run-state")
    assert "fetching rates" in text_of(page, "#log")
    assert_fits_a_phone(page)
    screenshots(page, "run-running")

    received = len(scene.RATES_OUTPUT.encode())
    signed(
        page.base_url,
        worker,
        "POST",
        f"{API}/run/{running.id}/log/",
        {"offset": received, "content": "EUR/USD 1.0871\n"},
    )
    wait_for(page, lambda d: "EUR/USD 1.0871" in text_of(d, "#log"), "no new log")
    now = utcnow().isoformat()
    signed(
        page.base_url,
        worker,
        "PATCH",
        f"{API}/run/{running.id}/",
        {"return_dts": now, "return_success": True},
    )

    wait_for(page, lambda d: "Succeeded" in text_of(d, "#run-state"), "no new state")
    assert text_of(page, "#log").count("fetching rates") == 1
    assert "This run has finished." in text_of(page, "#live-text")
    assert "Succeeded" in by_css(page, "#announcer").get_attribute("textContent")
    screenshots(page, "run")


def test_the_overview_shows_a_failure_without_reloading(page, world):
    running, worker = world["running"], world["worker"]
    page.get(page.base_url + "/")
    log_in(page)
    wait_for(page, lambda d: d.title.startswith("Overview"), "no overview")
    page.execute_script("window.notReloaded = true")
    row = "#region-projects tr.row-started"
    assert "Sync exchange rates" in text_of(page, row)

    signed(
        page.base_url,
        worker,
        "PATCH",
        f"{API}/run/{running.id}/",
        {"return_dts": utcnow().isoformat(), "return_success": False},
    )

    wait_for(
        page,
        lambda d: "Sync exchange rates" in text_of(d, ".failures"),
        "the failure did not show",
    )
    assert page.execute_script("return window.notReloaded") is True
    rows = texts_of(page, "#region-projects tbody tr")
    assert "Failed" in next(row for row in rows if "Sync exchange rates" in row)


def test_the_workers_page_and_the_keyboard(page, world):
    page.get(page.base_url + "/workers")
    log_in(page)
    wait_for(page, lambda d: d.title.startswith("Workers"), "no workers page")

    texts = "\n".join(texts_of(page, "#region-workers tbody tr"))
    assert "Responsive" in texts and "Silent" in texts and "Never seen" in texts
    assert "Sync exchange rates" in texts and "Hidden job" not in texts
    assert_fits_a_phone(page)
    screenshots(page, "workers")

    from selenium.webdriver.common.keys import Keys

    body = by_css(page, "body")
    body.send_keys(Keys.TAB)
    assert page.switch_to.active_element.text == "Skip to content"
    page.switch_to.active_element.send_keys(Keys.TAB)
    page.switch_to.active_element.send_keys(Keys.TAB)
    assert page.switch_to.active_element.text == "Overview"
    page.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(page, lambda d: d.title.startswith("Overview"), "Enter did not follow")


def test_logging_out_asks_first_then_says_so(page, world):
    page.get(page.base_url + "/")
    log_in(page)
    wait_for(page, lambda d: d.title.startswith("Overview"), "no overview")

    page.get(page.base_url + "/logout")
    assert "You are signed in as alice." in text_of(page, "main")
    assert_fits_a_phone(page)
    by_css(page, "form.login button[type=submit]").click()

    wait_for(page, lambda d: d.title.startswith("Log in"), "no login form")
    assert text_of(page, ".notice") == "You are logged out."
    assert_fits_a_phone(page)
    page.get(page.base_url + "/")
    assert "/login?came_from=%2F" in page.current_url


def test_the_phone_check_sees_a_page_that_scrolls_sideways(page, world):
    page.get(page.base_url + "/login")
    page.execute_script(
        "var wide = document.createElement('pre');"
        "wide.textContent = 'x'.repeat(200);"
        "document.querySelector('main').appendChild(wide);"
    )

    with pytest.raises(AssertionError, match="too wide|zoomed out"):
        assert_fits_a_phone(page)
