"""Headless Chromium against the region (pytest-django's live_server), and helpers to drive it.

One Chromium for the whole session (starting it costs seconds); each test gets it with no
cookies (logged out) and its own data (live_server implies a transactional database).
Screenshots go to var/screenshots/ (the test run's VAR_DIR); SAVE_SCREENSHOTS=docs also copies
them to docs/screenshots/ for the README, so that CI never changes the tree.
"""
import base64
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import PROJECT_DIR, skip_or_fail

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
WAIT = 10  # seconds an explicit wait gives a page or an element
DOCS_SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"
MAX_SHOT_HEIGHT = 3000


def chrome_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})  # JavaScript errors
    # --no-sandbox: CI and the lab run as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    return options


@pytest.fixture(scope="session")
def chromium():
    """The session's Chromium (skipped outside CI when Chromium or its driver is missing)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        skip_or_fail(f"{', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chrome_options())
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def no_kept_connections():
    """Each live-server request closes its database connection (CONN_MAX_AGE 0).

    Chromium keeps its HTTP connections alive, and the server thread of such a connection
    would otherwise keep its database session until the browser quits, after the test database
    should have been dropped. Changed in place: every connection shares this settings dict.
    """
    from django.db import connections

    database = connections["default"].settings_dict
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = kept


@pytest.fixture
def browser(chromium, no_kept_connections, live_server):
    """Chromium, logged out, on the live server's host (cookies are per host)."""
    chromium.get(live_server.url + "/login/")
    chromium.delete_all_cookies()
    chromium.get_log("browser")  # reading empties it: this test's errors only
    yield chromium
    errors = script_errors(chromium)
    chromium.delete_all_cookies()
    chromium.get("about:blank")  # stops the page's polling before the server and database go
    assert not errors, f"the pages logged errors in the browser console: {errors}"


def script_errors(driver) -> list[str]:
    """SEVERE console entries (script errors, failed requests) but the favicon's 404: no page
    declares an icon, so Chromium asks for /favicon.ico."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "favicon.ico" not in entry["message"]]


def wait(driver, condition, timeout: float = WAIT, message: str = ""):
    """WebDriverWait(driver, timeout).until(condition): explicit waits only, never sleeps.

    A timeout fails as an assertion that says what was awaited and where the browser was,
    without chromedriver's native stack.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)
    except TimeoutException:
        raise AssertionError(f"after {timeout} s: {message or condition} "
                             f"(at {driver.current_url})") from None


def page_loaded(driver, path: str):
    """Wait until the browser shows `path` (no query string) and the document has loaded."""
    wait(driver, lambda d: _path(d.current_url) == path
         and d.execute_script("return document.readyState") == "complete",
         message=f"expected {path}, at {driver.current_url}")


def _path(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).path


def login(driver, live_server, user, password: str = "password") -> None:
    """Log in through the real /login/ form (CSRF cookie and token as a person's browser)."""
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + "/login/")
    driver.find_element(By.ID, "id_username").send_keys(user.username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login/'] button[type=submit]").click()
    wait(driver, lambda d: _path(d.current_url) != "/login/"
         or d.find_elements(By.CSS_SELECTOR, "ul.messages .error"),
         message="the login form did not answer")


def screenshot(driver, name: str, docs: bool = True) -> Path:
    """Save the whole page (up to MAX_SHOT_HEIGHT px, not only the window) as
    var/screenshots/<name>.png, and in docs/screenshots/ too when SAVE_SCREENSHOTS=docs."""
    directory = Path(settings.VAR_DIR) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    width, height = driver.execute_script(
        "const e = document.documentElement; return [e.clientWidth, e.scrollHeight];")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT),
                 "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    if docs and os.environ.get("SAVE_SCREENSHOTS") == "docs":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves var/screenshots/FAILED-<test>.png: what the page showed."""
    report = yield
    driver = getattr(item, "funcargs", {}).get("browser")
    if report.when == "call" and report.failed and driver is not None:
        try:
            screenshot(driver, f"FAILED-{item.name}", docs=False)
        except Exception:  # noqa: BLE001 -- the failure itself is what matters
            pass
    return report
