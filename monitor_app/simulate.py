"""Replay applications against the running API at a given rate, by named scenario: `--help` for options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import pandas as pd

SCENARIO_HELP = (
    "normal: fresh applications from the training population; "
    "drift: incomes +30 %%, EXT_SOURCE_3 missing twice as often, 40 %% of applicants aged 62-85; "
    "bad-inputs: 20 %% invalid requests (negative income, text in a number, unknown level, missing field, "
    "non-JSON body) mixed in; burst: a spike at 10 times the rate for a tenth of the duration."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Send simulated loan applications to POST /score at a steady rate (open loop: requests "
        "leave on schedule whatever the server's speed), print progress every second and a summary (sent, "
        "answers by status code, latency p50/p95/p99). The API key, if the API needs one, comes from "
        "CREDIT_API_KEY."
    )
    parser.add_argument("--scenario", default="normal", help=SCENARIO_HELP)
    parser.add_argument("--rate", type=float, default=20.0, help="Requests per second (default %(default)s).")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds to run (default %(default)s).")
    parser.add_argument("--port", type=int, default=3000, help="Port of the API (default %(default)s).")
    parser.add_argument("--host", default="127.0.0.1", help="Host of the API (default %(default)s).")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="Replay a real application_train.csv (checked against the schema) instead of synthetic rows.",
    )
    parser.add_argument(
        "--rows", type=int, default=5000, help="Synthetic applications generated, then replayed in a loop."
    )
    parser.add_argument("--seed", type=int, default=2026, help="Seed of the rows and of the scenario.")
    parser.add_argument(
        "--bad-share", type=float, default=0.2, help="Share of invalid requests in bad-inputs (default 0.2)."
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for one answer.")
    return parser.parse_args(argv)


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_options(args: argparse.Namespace, scenarios: tuple[str, ...]) -> None:
    if args.scenario not in scenarios:
        fail(f"unknown scenario {args.scenario!r}: choose one of {', '.join(scenarios)}")
    if args.rate <= 0 or args.duration <= 0:
        fail("--rate and --duration must be positive")
    if not 0 <= args.bad_share <= 1:
        fail("--bad-share must be between 0 and 1")
    if args.data is not None and not args.data.is_file():
        fail(f"--data {args.data}: no such file (pass the path of application_train.csv)")


def load_frame(args: argparse.Namespace) -> pd.DataFrame:
    """The applications to replay: the given CSV, or fresh synthetic ones (not the training sample)."""
    if args.data is not None:
        from credit_scoring.data import DataFileError, load_applications

        try:
            return load_applications(args.data, require_target=False)
        except DataFileError as error:
            fail(str(error))
    from credit_scoring.data.synthetic import generate_applications

    return generate_applications(args.rows, seed=args.seed)


def check_server(base_url: str) -> None:
    import httpx

    try:
        httpx.get(f"{base_url}/readyz", timeout=3.0).raise_for_status()
    except httpx.HTTPError as error:
        fail(
            f"the API at {base_url} is not ready ({error}): start it with `make serve` or pass --host/--port"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported after parsing so that --help answers at once.
    from credit_scoring.settings import get_settings
    from credit_scoring_tools import simulation

    check_options(args, simulation.SCENARIOS)
    base_url = f"http://{args.host}:{args.port}"
    check_server(base_url)
    frame = load_frame(args)
    plan = simulation.plan_requests(frame, args.scenario, args.rate, args.duration, args.seed, args.bad_share)
    key = get_settings().api_key
    headers = {"X-API-Key": key.get_secret_value()} if key is not None else {}
    print(f"scenario {args.scenario}: {len(plan)} requests to {base_url}/score over {args.duration:g} s")

    def progress(elapsed_s: float, outcomes: list, sent: int) -> None:
        print(simulation.progress_line(elapsed_s, outcomes, sent), flush=True)

    summary = simulation.simulate(
        plan, f"{base_url}/score", headers, timeout_s=args.timeout, progress=progress
    )
    print(simulation.format_summary(summary))
    return 0 if summary.by_status.get("no answer", 0) < summary.sent else 1


if __name__ == "__main__":
    sys.exit(main())
