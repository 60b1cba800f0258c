"""Import models:/credit-scoring@production (and @challenger, when set) into BentoML and build the Bento."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import bentoml
import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError
from credit_scoring.serving.bento_build import build_bento
from credit_scoring.serving.bento_model import BENTO_MODEL_NAME, CHALLENGER_KEY
from credit_scoring.serving.importer import import_production_model
from credit_scoring.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

app = CommandApp(__doc__)


def import_or_reuse(skip_import: bool) -> bentoml.Model:
    """The model to pack: freshly imported from the registry, or the newest one already in the store."""
    if skip_import:
        try:
            return bentoml.models.get(f"{BENTO_MODEL_NAME}:latest")
        except bentoml.exceptions.NotFound as error:
            raise UsageError(f"{error}; run without --skip-import to import @production first") from None
    settings = get_settings()
    print(
        f"importing {settings.production_model_uri} and, when set, {settings.challenger_model_uri} "
        f"from {settings.tracking_uri} ...",
        flush=True,
    )
    return import_production_model(
        settings.tracking_uri, settings.model_name, settings.production_alias, settings.challenger_alias
    )


def describe_challenger(metadata: dict) -> str:
    """The line saying which challenger the Bento scores in shadow, or that it has none."""
    challenger = metadata.get(CHALLENGER_KEY)
    if not challenger:
        alias = get_settings().challenger_alias
        return f"no @{alias}: the Bento serves the champion alone (no shadow scoring)"
    return (
        f"challenger @{challenger['alias']}: registry version {challenger['registry_version']}, "
        f"run {challenger['run_id']}, threshold {challenger['threshold']} (scores in shadow)"
    )


@app.command()
def main(
    bentofile: Annotated[Path, typer.Option(help="Build file.")] = PROJECT_ROOT / "bentofile.yaml",
    base_image: Annotated[
        str | None,
        typer.Option(
            help="Docker base image for `bentoml containerize` (e.g. the local image of deploy/container/"
            "base_image.sh); default: BentoML's python:3.11 image as set in the bentofile."
        ),
    ] = None,
    skip_import: Annotated[
        bool,
        typer.Option(
            help="Do not read MLflow: rebuild with the model already in the BentoML store "
            "(credit-scoring:latest), e.g. to change the base image."
        ),
    ] = False,
) -> None:
    """Copy the MLflow registry's @production model (pipeline, threshold, lineage, reference profile), and
    the @challenger version when one carries that alias (CREDIT_CHALLENGER_ALIAS; it scores every request
    in shadow), into the BentoML model store, then build the Bento from bentofile.yaml. The registry is read
    from MLFLOW_TRACKING_URI (default: the project's SQLite store under var/); the stores live in
    BENTOML_HOME (default ~/bentoml)."""
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")  # no usage-analytics calls from builds
    start = time.perf_counter()
    model = import_or_reuse(skip_import)
    metadata = model.info.metadata
    print(
        f"model {model.tag}: registry version {metadata['registry_version']}, run {metadata['run_id']}, "
        f"threshold {metadata['threshold']}",
        flush=True,
    )
    print(describe_challenger(metadata), flush=True)
    print("building the Bento ...", flush=True)
    bento = build_bento(PROJECT_ROOT, bentofile, base_image)
    print(f"built Bento {bento.tag} in {time.perf_counter() - start:.1f}s (store: {bento.path})")
    print(f"serve it with: python bento/serve.py  (or: bentoml serve {bento.tag})")
    print(f"BENTO_TAG={bento.tag}")


if __name__ == "__main__":
    app()
