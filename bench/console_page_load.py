"""Benchmark: full page load of the console's machine list (/machines/) in headless Chromium,
with 10,000 machines on PostgreSQL.

Usage: .venv/bin/python bench/console_page_load.py [--machines 10000] [--loads 20]
       [--path /machines/ ...]
Creates (and drops first) the database named by BENCH_DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/maas_console_bench), seeds it as
bench/machine_list_page.py does (bench/api_list.py's machines with 2 interfaces, 2 disks and
2 tags each, plus addresses, events, boot VLANs with racks, owners, statuses in every group),
serves it with gunicorn (2 workers) on 127.0.0.1:BENCH_PORT (default 5297), logs in through
/login/ with Chromium, then loads each page (PAGES, or --path) `--loads` times after 3 warm-up
loads. Each load is timed by the browser itself (performance.getEntriesByType('navigation')[0]):
navigation start to the end of the load event.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Before bench.api_list is imported: it reads them to choose its database and port.
os.environ.setdefault("BENCH_DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/maas_console_bench")
os.environ.setdefault("BENCH_PORT", "5297")
sys.path.insert(0, str(ROOT))

from bench import api_list  # noqa: E402  (after the environment above)
from bench.host import loadavg, machine_summary  # noqa: E402
from bench.machine_list_page import seed_console  # noqa: E402

WARM_UP = 3
TIMING_JS = """
const n = performance.getEntriesByType('navigation')[0];
if (!n || n.loadEventEnd === 0) return null;
return {load: n.loadEventEnd - n.startTime, ttfb: n.responseStart - n.startTime,
        dom: n.domContentLoadedEventEnd - n.startTime, bytes: n.decodedBodySize,
        rows: document.querySelectorAll('table#machine-list tr[data-system-id]').length};
"""


def browser():
    """Headless Chromium as the browser tests run it (tests/browser/conftest.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.browser.conftest import CHROMEDRIVER, chrome_options

    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chrome_options())


# Who logs in: the seeds' admin (bench/api_list.py) and user (bench/machine_list_page.py).
ACCOUNTS = {"admin": ("bench", "bench-password"), "user": ("operator", "operator-password")}


def log_in(driver, base: str, who: str) -> None:
    """Log in through the real form (a fresh session: cookies cleared first)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    username, password = ACCOUNTS[who]
    driver.get(base + "/login/")
    driver.delete_all_cookies()
    driver.get(base + "/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login/'] button[type=submit]").click()
    WebDriverWait(driver, 60).until(lambda d: "/login/" not in d.current_url,
                                    f"{username} could not log in")


def time_loads(driver, url: str, count: int) -> list[dict]:
    """Load `url` WARM_UP + count times; the navigation timings of the last `count`."""
    from selenium.webdriver.support.ui import WebDriverWait

    timings = []
    for i in range(WARM_UP + count):
        driver.get(url)  # returns once the load event has fired (page load strategy "normal")
        timing = WebDriverWait(driver, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script(TIMING_JS), "no navigation timing")
        if i >= WARM_UP:
            timings.append(timing)
    return timings


# (who, page): the list as each role opens it, filters with a search, and the last page.
PAGES = [("admin", "/machines/"), ("user", "/machines/"),
         ("admin", "/machines/?status=ready&tag=tag1&q=node-0"),
         ("admin", "/machines/?q=52:54:00:00:0a:0b"), ("admin", "/machines/?page=200")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10000)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--path", action="append", help="page(s) to load as the admin")
    args = parser.parse_args()
    api_list.recreate_database()
    started = time.perf_counter()
    api_list.seed(args.machines)
    seed_console(args.machines)
    print(f"seeded {args.machines} machines in {time.perf_counter() - started:.1f}s")
    server = api_list.start_server()
    driver = browser()
    base = f"http://127.0.0.1:{api_list.PORT}"
    results = {}
    try:
        for who, path in [("admin", path) for path in args.path or ()] or PAGES:
            log_in(driver, base, who)
            results[f"`{path}` ({who})"] = time_loads(driver, base + path, args.loads)
    finally:
        driver.quit()
        server.terminate()
        server.wait()
    report(args, results)


def report(args, results: dict[str, list[dict]]) -> None:
    """A Markdown section for bench/RESULTS.md: one row per page."""
    print(f"\n### Console page load, {args.machines} machines ({machine_summary()}; "
          "PostgreSQL, gunicorn 2 workers, headless Chromium on the same host)\n")
    print("Navigation start to the end of the load event, from the browser's Navigation Timing "
          f"(n={args.loads} per page after {WARM_UP} warm-up loads).\n")
    print("| page | rows | HTML KiB | first byte p50 ms | DOMContentLoaded p50 ms "
          "| load p50 ms | load p95 ms |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    for path, timings in results.items():
        loads = [t["load"] for t in timings]
        worst = max(worst, api_list.percentile(loads, 95))
        print(f"| {path} | {timings[0]['rows']} | {timings[0]['bytes'] / 1024:.0f} | "
              f"{statistics.median(t['ttfb'] for t in timings):.0f} | "
              f"{statistics.median(t['dom'] for t in timings):.0f} | "
              f"{statistics.median(loads):.0f} | {api_list.percentile(loads, 95):.0f} |")
    print(f"\nTarget: full load under 1000 ms: {'met' if worst < 1000 else 'NOT met'} "
          f"(worst p95 {worst:.0f} ms). Load average at the end: {loadavg()}.")


if __name__ == "__main__":
    main()
