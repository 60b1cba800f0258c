"""The monitor in a real headless Chromium, on traffic the simulator sent through `bentoml serve`."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
import pytest

from credit_scoring.recording.store import ParquetStore
from credit_scoring.serving.bento_build import build_bento
from credit_scoring.serving.launcher import free_port, start_server, stop_server, wait_until_ready
from credit_scoring.settings import MonitoringSettings

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = REPO_ROOT / "tests" / "e2e" / "screenshots" / "monitor.png"
SECTIONS = [
    "Alerts",
    "Traffic and latency",
    "Scores and decisions",
    "Feature drift",
    "Data quality",
    "Model versions and pipeline health",
]
# Records reach the store within a second (flush interval) and the profiles at every checkpoint.
FAST_MONITORING = {"CREDIT_INGEST_INTERVAL_S": "0.2", "CREDIT_INGEST_MAX_DELAY_S": "0.2",
                   "CREDIT_CHECKPOINT_INTERVAL_S": "1"}  # fmt: skip


@dataclass(frozen=True)
class Traffic:
    data_dir: Path
    env: dict[str, str]
    simulator_output: str


def _simulate(port: int, env: dict[str, str], runs: dict[str, float]) -> str:
    """Run the simulator CLI once per scenario, all at the same time (each pays its start-up once)."""
    processes = []
    for scenario, duration in runs.items():
        command = [sys.executable, "monitor_app/simulate.py", "--scenario", scenario, "--rate", "25"]
        command += ["--duration", str(duration), "--port", str(port), "--rows", "400"]
        processes.append(subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes), outputs
    return "".join(outputs)


def _wait_for_records(store: ParquetStore, expected: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and store.count() < expected:
        time.sleep(0.5)
    return store.count()


@pytest.fixture(scope="module")
def traffic(
    bento_model: bentoml.Model,
    store_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Traffic]:
    """The fixture Bento served by `bentoml serve`, fed by the real simulator (drift, then bad inputs); the
    service's own request log fills the store and the profiles the monitor reads."""
    root = tmp_path_factory.mktemp("monitor-e2e")
    env = store_env | FAST_MONITORING | {"CREDIT_DATA_DIR": str(root / "var")}
    tag = str(build_bento(REPO_ROOT, REPO_ROOT / "bentofile.yaml").tag)
    port, log = free_port(), root / "bentoml-serve.log"
    process = start_server(tag, port, host="127.0.0.1", env=env, log=log)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=180)
        output = _simulate(port, env, {"drift": 8, "bad-inputs": 3})
    finally:
        stop_server(process)  # a clean shutdown also writes what the logger still holds
    sent = sum(int(n) for n in re.findall(r"^sent (\d+) of", output, re.MULTILINE))
    stored = _wait_for_records(ParquetStore(MonitoringSettings(data_dir=root / "var").store_path), sent)
    server_log = log.read_text()[-4000:]  # the loggers' closing counters say where a record went
    assert sent > 0 and stored == sent, f"{sent} requests sent, {stored} records stored\n{server_log}"
    yield Traffic(root / "var", env, output)


def test_the_simulator_got_answers_from_the_served_bento(traffic: Traffic) -> None:
    summaries = traffic.simulator_output
    assert "scenario drift: 200 requests" in summaries and "scenario bad-inputs: 75 requests" in summaries
    by_status = re.findall(r"^by status: (.*)$", summaries, re.MULTILINE)
    assert by_status[0] == "200: 200"  # drifted rows stay valid: every one is scored
    assert "200: " in by_status[1] and "400: " in by_status[1] and "no answer" not in summaries
    assert "were accepted (expected 4xx)" not in summaries


@pytest.fixture(scope="module")
def monitor(traffic: Traffic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run monitor_app/app.py` on the traffic's data folder, as `make monitor` starts it."""
    port = free_port()
    env = traffic.env.copy()
    command = [sys.executable, "-m", "streamlit", "run", "monitor_app/app.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false"]
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_health(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _wait_for_health(base_url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "streamlit run exited early"
        try:
            if httpx.get(f"{base_url}/_stcore/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"streamlit not healthy at {base_url} after {timeout:.0f}s")


def _browser(playwright):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def test_the_monitor_shows_its_panels_in_a_real_browser(monitor: str, traffic: Traffic) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(monitor)
        # Rendering is finished once the last panel is there and Streamlit's "running" widget is gone.
        page.get_by_text("Model versions and pipeline health").wait_for(timeout=90_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
        for section in SECTIONS:
            assert page.get_by_role("heading", name=section).is_visible(), section
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stMetric"]').count() >= 9
        charts = "document.querySelectorAll('[data-testid=stVegaLiteChart] svg.marks').length >= 6"
        page.wait_for_function(charts, polling=250, timeout=30_000)
        assert page.locator('[data-testid="stDataFrame"]').count() >= 3
        assert page.locator('[data-testid="stImage"]').count() >= 1  # a drifted feature drawn
        alerts = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        assert any("drifted" in alert for alert in alerts), alerts
        _full_page_screenshot(page)
        browser.close()
    assert SCREENSHOT.stat().st_size > 50_000


def _full_page_screenshot(page) -> None:
    """Streamlit scrolls inside its main block: grow the viewport to its height, then take the picture."""
    height = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
    page.set_viewport_size({"width": 1500, "height": int(height) + 40})
    page.wait_for_timeout(1500)  # charts re-layout to the new size
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
