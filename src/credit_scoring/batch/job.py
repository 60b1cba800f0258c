"""One scoring job from the command line's options: check the paths, fetch the model, run an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from credit_scoring.batch.files import check_input_file, file_format, is_uri
from credit_scoring.batch.model import BatchModel, production_model
from credit_scoring.batch.summary import Summary
from credit_scoring.errors import UsageError
from credit_scoring.settings import Settings

Engine = Literal["local", "spark"]
DEFAULT_MASTER = "local[2]"


@dataclass(frozen=True)
class FileJob:
    """What to score, where the results go, and on which engine."""

    source: str
    out: str
    rejects: str = ""
    engine: Engine = "local"
    master: str = DEFAULT_MASTER
    spark_conf: dict[str, str] = field(default_factory=dict)
    progress: bool = True

    @property
    def rejects_path(self) -> str:
        """The rejects file: given, or next to the scores as ``<out name>.rejects.csv``."""
        if self.rejects:
            return self.rejects
        out = Path(self.out)
        return str(out.with_name(f"{out.stem}.rejects.csv"))


def check_job(job: FileJob) -> None:
    """Refuse unusable paths before the model is fetched (a URI is left to Spark to open)."""
    if job.engine == "local" or not is_uri(job.source):
        check_input_file(Path(job.source))
    file_format(Path(job.out), "output")
    file_format(Path(job.rejects_path), "rejects")
    paths = {job.source, job.out, job.rejects_path}
    if len(paths) < 3:
        raise UsageError(f"input, output and rejects must be three different files, got {sorted(paths)}")


def run_job(job: FileJob, settings: Settings) -> tuple[Summary, BatchModel]:
    """Score the file with ``models:/<name>@production`` on the chosen engine."""
    check_job(job)
    model = production_model(settings)
    if job.engine == "spark":
        from credit_scoring.batch.spark import score_file_on_spark  # pyspark is an optional extra

        return score_file_on_spark(
            job.source, job.out, job.rejects_path, model, job.master, job.spark_conf
        ), model
    from credit_scoring.batch.local import score_file_locally

    summary = score_file_locally(Path(job.source), Path(job.out), Path(job.rejects_path), model, job.progress)
    return summary, model
