"""The monitor's first complete render in headless Chromium, per time range, and its process' peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import typer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
LAST_SECTION = "Model versions and pipeline health"
EMPTY_RANGE = "Pick a wider time range"
CHARTS_DRAWN = "document.querySelectorAll('[data-testid=stVegaLiteChart] svg.marks').length >= 6"
APP_ROOT = Path(__file__).resolve().parents[2] / "monitor_app"
SERVE = APP_ROOT / "serve_monitor.py"
DEFAULT_RANGES = ("last hour", "last 24 hours", "last 7 days", "last 30 days", "everything")


@dataclass(frozen=True)
class Render:
    """One range's first render: seconds from navigation to the last panel drawn, memory after it."""

    range: str
    seconds: float
    monitor_cpu_s: float  # CPU the monitor's process spent on it: the figure a busy machine does not inflate
    rss_mb: float
    peak_rss_mb: float
    requests_shown: str


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, from /proc (VmRSS, VmHWM)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


@contextmanager
def running_monitor(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """The monitor as ``make monitor`` starts it, on ``port``, until the block ends (stopped by its pid)."""
    command = [sys.executable, str(SERVE), "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the monitor exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the monitor did not answer {url} within {timeout:.0f} s")


def render_once(browser, url: str, timeout_ms: int = 120_000) -> tuple[float, str]:
    """Seconds from navigation until every panel is drawn (last heading, charts, nothing running)."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    started = time.perf_counter()
    page.goto(url)
    last, empty = page.get_by_text(LAST_SECTION), page.get_by_text(EMPTY_RANGE)
    last.or_(empty).first.wait_for(timeout=timeout_ms)
    full = last.count() > 0
    if full:  # a range without records shows one sentence, no charts
        page.wait_for_function(CHARTS_DRAWN, polling=50, timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)
    seconds = time.perf_counter() - started
    shown = page.locator('[data-testid="stMetric"]').first.inner_text() if full else "no record in the range"
    page.close()
    return seconds, shown.replace("\n", " ")


def measure_renders(
    port: int, env: dict[str, str], ranges: Sequence[str], log: Path, progress: Callable[[str], None]
) -> list[Render]:
    """Start the monitor, open each range once in a fresh page (its first, uncached render), measure."""
    from playwright.sync_api import sync_playwright

    renders = []
    with running_monitor(port, env, log) as process, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for label in ranges:
            cpu = _cpu_seconds(process.pid)
            seconds, shown = render_once(browser, f"http://127.0.0.1:{port}/?range={quote(label)}")
            cpu = _cpu_seconds(process.pid) - cpu
            rss, peak = _memory_mb(process.pid)
            render = Render(label, round(seconds, 2), round(cpu, 2), round(rss), round(peak), shown)
            renders.append(render)
            progress(f"{render.range}: first render {render.seconds:.2f} s ({render.monitor_cpu_s:.2f} s of "
                     f"the monitor's CPU), RSS {render.rss_mb:.0f} MB (peak {render.peak_rss_mb:.0f} MB); "
                     f"headline {render.requests_shown}")  # fmt: skip
        browser.close()
    return renders


def timed_command(command: Sequence[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Run a project command to its end; its wall time and its CPU time (user + system, children)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode not in (0, 1):  # the drift report exits 1 when an alert fires
        raise RuntimeError(f"{' '.join(command)} failed with code {done.returncode}: see {log}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "exit_code": done.returncode}


def measure_monitor(
    data_dir: Path,
    reference: Path | None,
    port: int,
    backfill: tuple[int, int] | None,
    progress: Callable[[str], None],
) -> dict:
    """The issue's monitor figures in one run: the backfill (when asked), the first render of each range in
    Chromium with the monitor's memory, and `make drift-report` over 30 days."""
    root = APP_ROOT
    env = {"CREDIT_DATA_DIR": str(data_dir), "WHYLOGS_NO_ANALYTICS": "1"}
    if reference:
        env["CREDIT_REFERENCE_PROFILE"] = str(reference)
    data_dir.mkdir(parents=True, exist_ok=True)
    figures: dict = {"data_dir": str(data_dir)}
    if backfill is not None:
        days, per_day = backfill
        command = [sys.executable, str(root / "backfill.py"), "--days", str(days), "--per-day", str(per_day)]
        figures["backfill"] = {
            "days": days,
            "per_day": per_day,
            **timed_command(command, env, data_dir / "backfill.log"),
        }
        progress(f"backfill {days} x {per_day:,}: {figures['backfill']}")
    renders = measure_renders(port, env, DEFAULT_RANGES, data_dir / "monitor-render.log", progress)
    figures["renders"] = [asdict(r) for r in renders]
    report = [
        sys.executable,
        str(root / "drift_report.py"),
        "--start",
        "last 30d",
        "--out",
        str(data_dir / "report"),
    ]
    report += ["--reference", str(reference)] if reference else []
    figures["drift_report_30d"] = timed_command(report, env, data_dir / "drift-report.log")
    progress(f"drift report over 30 days: {figures['drift_report_30d']}")
    return figures


def main(
    data_dir: Annotated[
        Path, typer.Option(help="CREDIT_DATA_DIR of the store (a scratch folder with --backfill).")
    ],
    backfill: Annotated[
        tuple[int, int] | None,
        typer.Option(
            help="First write DAYS PER_DAY of history with make backfill's command (the registry's "
            "@production model), e.g. 30 35000: the issue's million records."
        ),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Training reference profile (else the registry's).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port for the monitor.")] = 8600,
    out: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """The monitor's first render per range in Chromium, its memory, and the 30-day drift report."""
    figures = measure_monitor(data_dir, reference, port, backfill, typer.echo)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
