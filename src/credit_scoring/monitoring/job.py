"""The drift-report job behind ``make drift-report``: time range, reference, analysis, files, exit code."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from credit_scoring.errors import ExitCode, UsageError
from credit_scoring.model_layout import REFERENCE_PROFILE_ARTIFACT
from credit_scoring.settings import MonitoringSettings, Settings

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^\s*last\s+(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)

if TYPE_CHECKING:
    from credit_scoring.monitoring.drift import RecordSource

Report = Callable[[str], None]


def parse_open_range(
    start: str | None, end: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Optional ``--start``/``--end`` read with :func:`parse_moment`; None where not given (the range is open
    on that side, unlike :func:`parse_range`'s)."""
    return (parse_moment(start, now) if start else None), (parse_moment(end, now) if end else None)


def parse_moment(text: str, now: datetime) -> datetime:
    """``now``, ``last 30m`` / ``last 1h`` / ``last 7d`` (before now), or ISO 8601 (naive means UTC)."""
    if text.strip().lower() == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read the time {text!r}: use ISO 8601 (2026-01-22T04:00, UTC unless an offset is given), "
            "'now', or 'last N' with a unit s, m, h, d or w (e.g. 'last 1h')"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_range(start: str, end: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The half-open range ``[start, end)`` the options describe; an empty or reversed range is an error."""
    now = now or datetime.now(UTC)
    first, last = parse_moment(start, now), parse_moment(end, now)
    if first >= last:
        raise UsageError(f"--start ({first.isoformat()}) must be before --end ({last.isoformat()})")
    return first, last


@dataclass(frozen=True)
class Reference:
    path: Path
    label: str


def _bento_reference() -> Reference | None:
    try:
        import bentoml

        model = bentoml.models.get("credit-scoring:latest")
    except Exception:  # no Bento store or no imported model: try the registry next
        return None
    path = Path(model.path) / REFERENCE_PROFILE_ARTIFACT
    return Reference(path, f"Bento model {model.tag}") if path.is_file() else None


def _registry_reference(settings: Settings, cache: Path) -> Reference | None:
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # no local registry yet: do not create an empty one
    try:
        import mlflow
        from mlflow import MlflowClient

        version = MlflowClient(uri).get_model_version_by_alias(settings.model_name, settings.production_alias)
        target = cache / f"{settings.model_name}-v{version.version}"
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id,
            artifact_path=REFERENCE_PROFILE_ARTIFACT,
            dst_path=str(target),
            tracking_uri=uri,
        )
    except Exception:  # unreachable registry, no alias, or a run without a reference profile
        return None
    return Reference(Path(local), f"{settings.production_model_uri} (version {version.version})")


def resolve_reference(path: Path | None, settings: Settings, cache: Path) -> Reference:
    """The given profile, else the one in the Bento model, else the @production run's artifact."""
    if path is not None:
        if not path.is_file():
            raise UsageError(f"--reference {path}: no such file (a whylogs .bin written by training)")
        return Reference(path, str(path))
    found = _bento_reference() or _registry_reference(settings, cache)
    if found is None:
        raise UsageError(
            "no reference profile found: pass --reference PATH, or train and promote a model first "
            f"(make train promote build) so that {settings.production_model_uri} carries "
            f"{REFERENCE_PROFILE_ARTIFACT}"
        )
    return found


def run_drift_report(
    settings: Settings,
    monitoring: MonitoringSettings,
    *,
    start: datetime,
    end: datetime,
    reference: Reference,
    profile_dir: Path,
    store: RecordSource,
    out_dir: Path,
    report: Report,
    journal_lag_s: float | None = None,
) -> int:
    """Analyse the range, write the report files, print the verdict; 1 when an alert fired, else 0."""
    from credit_scoring.monitoring.drift import analyse_range
    from credit_scoring.monitoring.profiles import read_profile
    from credit_scoring.monitoring.report import write_report

    report(f"reference: {reference.label}")
    report(f"range: {start.isoformat()} to {end.isoformat()}; profiles {profile_dir}; store {store.location}")
    try:
        reference_view = read_profile(reference.path)
    except Exception as error:
        raise UsageError(f"cannot read the reference profile {reference.path}: {error}") from None
    limits = monitoring.thresholds()
    result, production = analyse_range(
        reference_view, profile_dir, store, limits, start, end, reference.label, journal_lag_s
    )
    files = write_report(result, out_dir, reference_view, production)
    ops = result.operations
    report(f"{ops.requests} records ({ops.simulated} simulated), {result.production_rows} profiled rows")
    report(f"drifted features: {[f.column for f in result.drifted_features] or 'none'}")
    for reason in result.reasons:
        report(f"ALERT: {reason}")
    report(f"wrote {files.json} and {files.markdown} ({len(files.figures)} figures)")
    return ExitCode.ALERT if result.alert else ExitCode.OK
