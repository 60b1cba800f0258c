"""Promote a registered version to @production if it is not worse than the champion: `--help` for options."""

from __future__ import annotations

from typing import Annotated

import typer

from credit_scoring.cli import CommandApp, StoreOption

app = CommandApp(__doc__)


@app.command()
def main(
    version: Annotated[
        str | None,
        typer.Option(help="Candidate version number. Omitted or empty: the newest registered version."),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Relative business-cost worsening still accepted, e.g. 0.02 for 2 % "
            "(default CREDIT_PROMOTION_TOLERANCE, 0).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Move the alias even if the candidate is worse (recorded as promotion_forced=true)."
        ),
    ] = False,
    min_shadow: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Shadow decisions the candidate must have scored as @challenger of the current champion, "
            "with a live estimated (and realized, once outcomes exist) cost not worse than the champion's "
            "on them, within the tolerance; 0: not required (default CREDIT_PROMOTION_MIN_SHADOW_DECISIONS).",
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Evaluate the candidate and the current models:/credit-scoring@production on the same held-out rows
    (business cost at each version's own threshold, and ROC-AUC), move the alias only if the candidate's
    expected calibration error on its test rows is at most CREDIT_PROMOTION_MAX_ECE (0.02) and its cost is
    at most the champion's x (1 + tolerance), and record the comparison as version tags. With --min-shadow N,
    also require N live decisions the candidate scored in shadow of the champion (make challenger) and a live
    cost not worse than the champion's on them; the evidence is recorded as shadow_* tags.
    Exit code: 0 promoted (or already in production), 1 refused, 2 usage error."""
    # Imported here so that --help answers at once instead of after loading MLflow.
    from credit_scoring.registry import ShadowRequirement, run_promotion_job, store_evidence
    from credit_scoring.settings import get_settings

    settings = get_settings()
    required = settings.promotion_min_shadow_decisions if min_shadow is None else min_shadow
    shadow = ShadowRequirement(required, store_evidence(store))
    raise typer.Exit(run_promotion_job(settings, version, tolerance, force, typer.echo, shadow))


if __name__ == "__main__":
    app()
