"""The web console in a real headless Chromium (Debian's chromium and chromedriver), against a
real daemon process hosting example strategies on its embedded sandbox."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMEDRIVER is None or CHROMIUM is None, reason="chromium and chromedriver not installed"
)
OPERATOR = "operator-" + "x" * 24

CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 2
  http: {host: 127.0.0.1, port: 0, operator_token: "${KITE_SUPERVISOR_OPERATOR_TOKEN}"}
  money: {interval_s: 1}
strategies:
  - name: basic-infy
    plugin: basic_equity
    run: {strategy_run_id: br-basic-infy, template_id: basic-equity, account_scope: "kite:paper-a"}
    params: {symbol: INFY, quantity: 3, pnl_interval_s: 2}
  - name: basic-tcs
    plugin: basic_equity
    run: {strategy_run_id: br-basic-tcs, template_id: basic-equity, account_scope: "kite:paper-a"}
    params: {symbol: TCS, quantity: 1, pnl_interval_s: 2}
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    """A real `kite-supervisor run` process; yields its HTTP URL once it is up."""
    config = tmp_path / "console.yaml"
    config.write_text(CONFIG)
    log = tmp_path / "daemon.log"
    env = {**os.environ, "KITE_SUPERVISOR_OPERATOR_TOKEN": OPERATOR}
    command = [sys.executable, "-m", "supervisor", "run", "--config", str(config)]
    command += ["--state-dir", str(tmp_path / "state")]
    with log.open("w") as sink:  # a file, not a pipe: nobody has to keep reading it
        proc = subprocess.Popen(command, stderr=sink, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while "daemon up" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)  # polling another process's log: there is no event to wait on
        found = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log.read_text())
        assert found, log.read_text()
        yield found.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert OPERATOR not in log.read_text()


def _browser() -> WebDriver:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_the_console_shows_money_live_and_controls_a_strategy(daemon: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    browser = _browser()
    try:
        browser.get(f"{daemon}/ui")
        wait = WebDriverWait(browser, 30)
        # the table refreshes itself: both strategies running, with an open position each
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#strategies .s-running")) == 2)
        wait.until(lambda b: "filled" in b.find_element(By.ID, "strategies").text)
        rows = browser.find_elements(By.CSS_SELECTOR, "#strategies tr")
        by_name = {r.find_elements(By.TAG_NAME, "td")[0].text: r for r in rows[1:]}
        assert set(by_name) == {"basic-infy", "basic-tcs"}
        assert "BUY 3 NSE:INFY" in by_name["basic-infy"].text
        assert by_name["basic-tcs"].find_elements(By.TAG_NAME, "td")[3].text == "paper"  # the run's mode
        assert browser.save_screenshot(str(tmp_path / "index.png"))
        by_name["basic-infy"].find_element(By.TAG_NAME, "a").click()
        wait.until(ec.title_contains("basic-infy"))
        wait.until(lambda b: "NSE:INFY" in b.find_element(By.TAG_NAME, "main").text)
        assert browser.find_elements(By.CSS_SELECTOR, "svg polyline, svg text")
        assert browser.save_screenshot(str(tmp_path / "strategy.png"))
        # a control without the operator token is refused, with it accepted
        browser.find_element(By.XPATH, "//button[text()='restart']").click()
        wait.until(lambda b: b.find_element(By.ID, "result").text.startswith("restart: 401"))
        browser.find_element(By.ID, "token").send_keys(OPERATOR)
        browser.find_element(By.XPATH, "//button[text()='restart']").click()
        wait.until(lambda b: b.find_element(By.ID, "result").text == "restart: 202 restarting")
        assert OPERATOR not in browser.page_source
    finally:
        browser.quit()
    assert (tmp_path / "index.png").stat().st_size > 10_000
