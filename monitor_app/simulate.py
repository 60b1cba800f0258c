"""Replay applications against the running API at a given rate, by named scenario: `--help` for options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

app = CommandApp(__doc__)
SCENARIO_HELP = (
    "normal: fresh applications from the training population; "
    "drift: incomes +30 %, EXT_SOURCE_3 missing twice as often, 40 % of applicants aged 62-85; "
    "bad-inputs: 20 % invalid requests (negative income, text in a number, unknown level, missing field, "
    "non-JSON body) mixed in; burst: a spike at 10 times the rate for a tenth of the duration."
)


@dataclass(frozen=True)
class Replay:
    """What to send, where, and how fast (the command's options, checked)."""

    scenario: str
    rate: float
    duration: float
    base_url: str
    data: Path | None
    rows: int
    seed: int
    bad_share: float
    timeout: float


@app.command()
def main(
    scenario: Annotated[str, typer.Option(help=SCENARIO_HELP)] = "normal",
    rate: Annotated[float, typer.Option(help="Requests per second.")] = 20.0,
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 60.0,
    port: Annotated[int, typer.Option(help="Port of the API.")] = 3000,
    host: Annotated[str, typer.Option(help="Host of the API.")] = "127.0.0.1",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Replay a real application_train.csv (checked against the schema) instead of synthetic rows."
        ),
    ] = None,
    rows: Annotated[
        int, typer.Option(help="Synthetic applications generated, then replayed in a loop.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the rows and of the scenario.")] = 2026,
    bad_share: Annotated[float, typer.Option(help="Share of invalid requests in bad-inputs.")] = 0.2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer.")] = 10.0,
) -> None:
    """Send simulated loan applications to POST /score at a steady rate (open loop: requests leave on
    schedule whatever the server's speed), print progress every second and a summary (sent, answers by
    status code, latency p50/p95/p99). The API key, if the API needs one, comes from CREDIT_API_KEY.
    Exit code: 0 answers came back, 1 none did, 2 usage error or the API not ready."""
    replay = Replay(scenario, rate, duration, f"http://{host}:{port}", data, rows, seed, bad_share, timeout)
    code = run(replay)
    raise typer.Exit(code)


def check_options(replay: Replay, scenarios: tuple[str, ...]) -> None:
    if replay.scenario not in scenarios:
        raise UsageError(f"unknown scenario {replay.scenario!r}: choose one of {', '.join(scenarios)}")
    if replay.rate <= 0 or replay.duration <= 0:
        raise UsageError("--rate and --duration must be positive")
    if not 0 <= replay.bad_share <= 1:
        raise UsageError("--bad-share must be between 0 and 1")
    if replay.data is not None and not replay.data.is_file():
        raise UsageError(f"--data {replay.data}: no such file (pass the path of application_train.csv)")


def load_frame(replay: Replay) -> pd.DataFrame:
    """The applications to replay: the given CSV, or fresh synthetic ones (not the training sample)."""
    if replay.data is not None:
        from credit_scoring.data import DataFileError, load_applications

        try:
            return load_applications(replay.data, require_target=False)
        except DataFileError as error:
            raise UsageError(str(error)) from error
    from credit_scoring.data.synthetic import generate_applications

    return generate_applications(replay.rows, seed=replay.seed)


def check_server(base_url: str) -> None:
    import httpx

    try:
        httpx.get(f"{base_url}/readyz", timeout=3.0).raise_for_status()
    except httpx.HTTPError as error:
        raise UsageError(
            f"the API at {base_url} is not ready ({error}): start it with `make serve` or pass --host/--port"
        ) from error


def api_headers() -> dict[str, str]:
    """The key the API may require, from the settings (CREDIT_API_KEY)."""
    from credit_scoring.settings import get_settings

    key = get_settings().api_key
    return {"X-API-Key": key.get_secret_value()} if key is not None else {}


def print_progress(elapsed_s: float, outcomes: list, sent: int) -> None:
    from credit_scoring_tools.simulation import progress_line

    print(progress_line(elapsed_s, outcomes, sent), flush=True)


def run(replay: Replay) -> int:
    """Check, plan, replay, summarise; 1 when not one request got an answer."""
    # Imported here so that --help answers at once.
    from credit_scoring_tools import simulation

    check_options(replay, simulation.SCENARIOS)
    check_server(replay.base_url)
    frame = load_frame(replay)
    plan = simulation.plan_requests(
        frame, replay.scenario, replay.rate, replay.duration, replay.seed, replay.bad_share
    )
    url = f"{replay.base_url}/score"
    print(f"scenario {replay.scenario}: {len(plan)} requests to {url} over {replay.duration:g} s")
    summary = simulation.simulate(plan, url, api_headers(), timeout_s=replay.timeout, progress=print_progress)
    print(simulation.format_summary(summary))
    return 0 if summary.by_status.get("no answer", 0) < summary.sent else 1


if __name__ == "__main__":
    app()
