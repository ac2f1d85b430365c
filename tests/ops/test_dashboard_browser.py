"""The status page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
selenium through /usr/bin/chromedriver; nothing is downloaded), against a real ``solbot run``.

The bot trades a simulated market, replayed, in paper mode, where every token is named
``<img src=x onerror=alert(1)>`` (token names come from feeds: attacker-controlled). Exits are
configured so that what it buys it keeps, and the test looks once the replay is finished, so the
page has a fixed book to show. Checked: the page shows the positions the ledger holds and the
bot's equity, draws the equity curve, refreshes itself, names every token as text (no alert, no
img element), loads nothing from anywhere else, and its Content-Security-Policy really blocks
inline handlers in the browser.

Where chromium cannot be installed the test says why and skips; with ``SOLBOT_REQUIRE_BROWSER_TEST=1``
(set by scripts/test.sh when run as root with apt, as on CI, where scripts/system-deps.sh installs
chromium) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from bot.dataset import write_dataset
from bot.feeds.simulator import simulate
from tests.ops.conftest import ROOT
from tests.ops.test_run_replay import make_config, query

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRED = os.environ.get("SOLBOT_REQUIRE_BROWSER_TEST") == "1"
XSS = "<img src=x onerror=alert(1)>"
#: Flags that work as root in a container: no sandbox (root), no GPU, and nothing that phones home.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1600")


def cannot_run(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the browser test cannot run: {reason} (SOLBOT_REQUIRE_BROWSER_TEST=1)")
    pytest.skip(f"the browser test cannot run here: {reason}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        cannot_run(f"{' and '.join(missing)} missing (apt-get install chromium chromium-driver; "
                   "scripts/system-deps.sh does it as root)")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.unhandled_prompt_behavior = "ignore"  # an alert stays open for the test to find
    try:
        driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    except WebDriverException as exc:
        cannot_run(f"chromium did not start: {exc.msg}")
    try:
        yield driver
    finally:
        driver.quit()


class Bot:
    """``solbot run`` in a subprocess; its output is read on a thread, line by line."""

    def __init__(self, cfg: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(pattern, line):
                    return m
            assert self.proc.poll() is None, "the bot exited early:\n" + "".join(self.lines[-40:])
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in the bot's output after {timeout:.0f}s:\n" + "".join(self.lines[-40:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def bot(tmp_path_factory) -> Iterator[tuple[str, Path, Bot]]:
    tmp = tmp_path_factory.mktemp("dashboard")
    frame = simulate(tokens=12, hours=8, seed=4).frame.with_columns(pl.lit(XSS).alias("symbol"))
    cfg = make_config(tmp, write_dataset(frame, tmp / "market.parquet"))
    text = cfg.read_text()
    # keep what is bought (only the stop loss can still close a position), refresh the page every second
    for old, new in (("take_profit_ladder = [{ r = 1.5, fraction = 0.3 }, { r = 3.0, fraction = 0.4 }]",
                      "take_profit_ladder = []"),
                     ("take_profit_r = 6.0", "take_profit_r = 1000.0"),
                     ("trailing_activation_r = 2.0", "trailing_activation_r = 1000.0"),
                     ("time_stop_minutes = 240.0", "time_stop_minutes = 100000.0"),
                     ("ensemble_exit = true", "ensemble_exit = false"),
                     ("dashboard_refresh_seconds = 5.0", "dashboard_refresh_seconds = 1.0")):
        assert old in text, old
        text = text.replace(old, new, 1)
    cfg.write_text(text)
    proc = Bot(cfg)
    try:
        port = int(proc.wait_for(r"health=127\.0\.0\.1:(\d+)", 120)[1])
        proc.wait_for(r"has no more data; idle until stopped", 240)  # the book is fixed from here on
        yield f"http://127.0.0.1:{port}", tmp / "ledger.sqlite3", proc
    finally:
        code = proc.stop()
    assert code == 0, "".join(proc.lines[-40:])
    assert "Traceback" not in "".join(proc.lines)


def wait_until(what: str, ok, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_the_page_shows_the_running_bots_book_and_keeps_token_names_as_text(browser, bot):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    base, db, _ = bot
    held = {m for (m,) in query(db, "SELECT mint FROM positions WHERE closed_at IS NULL")}
    assert held, "the bot holds no position: nothing for the page to show"
    (equity,) = query(db, "SELECT equity_sol FROM equity ORDER BY ts DESC, rowid DESC LIMIT 1")[0]
    with urllib.request.urlopen(f"{base}/") as r:
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp

    d = browser
    d.get(f"{base}/")
    first = wait_until("the page's first render", lambda: d.find_element(By.TAG_NAME, "body").get_attribute(
        "data-generated-at"))

    # the book: the positions the ledger holds, the equity the bot booked
    rows = d.find_elements(By.CSS_SELECTOR, "#positions tbody tr[data-mint]")
    assert {r.get_attribute("data-mint") for r in rows} == held
    assert d.find_element(By.ID, "open-count").text == str(len(held))
    assert d.find_element(By.ID, "equity").text == f"{equity:.4f} SOL"
    data = json.loads(urllib.request.urlopen(f"{base}/dashboard.json").read())
    points = d.find_element(By.CSS_SELECTOR, "#curve polyline").get_attribute("points").split()
    assert len(points) == len(data["equity_curve"]) >= 2
    assert d.find_elements(By.CSS_SELECTOR, "#trades tbody tr[data-mint]")

    # token names are text: exactly the feed's string, no element made of it, no alert
    names = [r.find_element(By.CSS_SELECTOR, "td").get_attribute("textContent") for r in rows]
    names += [r.find_elements(By.CSS_SELECTOR, "td")[2].get_attribute("textContent")
              for r in d.find_elements(By.CSS_SELECTOR, "#trades tbody tr[data-mint]")]
    assert names and set(names) == {XSS}
    assert d.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert  # noqa: B018  (the property raises when no alert is open)

    # it refreshes itself (dashboard_refresh_seconds = 1), still without an alert
    wait_until("a refresh", lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-generated-at") != first)
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert  # noqa: B018
    # nothing was loaded from anywhere else, and the browser reported no error (CSP violations included)
    origins = d.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {base}
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # the browser enforces the policy: an inline handler (the onerror= vector) does not run
    ran = d.execute_script("document.body.setAttribute('onclick', 'window.__inline = 1'); document.body.click();"
                           "return window.__inline === 1")
    assert ran is False
    assert any("Content Security Policy" in e["message"] for e in d.get_log("browser"))


def test_chromium_and_chromedriver_come_from_debian_packages():
    """What the browser test drives is Debian's chromium, not a downloaded one (selenium manager
    would fetch a browser when it finds none)."""
    if not shutil.which("dpkg-query") or not Path(CHROMIUM).exists():
        cannot_run("chromium is not installed from Debian packages here")
    out = subprocess.run(["dpkg-query", "-S", os.path.realpath(CHROMEDRIVER), os.path.realpath(CHROMIUM)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert {line.split(":")[0] for line in out.stdout.splitlines()} == {"chromium-driver", "chromium"}
