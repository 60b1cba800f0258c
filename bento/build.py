"""Import models:/credit-scoring@production into BentoML and build the Bento (prints the Bento tag)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import bentoml

from credit_scoring.serving.bento_build import build_bento
from credit_scoring.serving.bento_model import BENTO_MODEL_NAME
from credit_scoring.serving.importer import RegistryError, import_production_model
from credit_scoring.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Copy the MLflow registry's @production model (pipeline, threshold, lineage, reference profile) "
            "into the BentoML model store, then build the Bento from bentofile.yaml. The registry is read "
            "from MLFLOW_TRACKING_URI (default: the project's SQLite store under var/); the stores live in "
            "BENTOML_HOME (default ~/bentoml)."
        )
    )
    parser.add_argument(
        "--bentofile",
        type=Path,
        default=PROJECT_ROOT / "bentofile.yaml",
        help="Build file (default: %(default)s).",
    )
    parser.add_argument(
        "--base-image",
        default=None,
        help="Docker base image for `bentoml containerize` (e.g. the local image of deploy/container/"
        "base_image.sh); default: BentoML's python:3.11 image as set in the bentofile.",
    )
    parser.add_argument(
        "--skip-import",
        action="store_true",
        help="Do not read MLflow: rebuild with the model already in the BentoML store "
        "(credit-scoring:latest), e.g. to change the base image.",
    )
    return parser.parse_args(argv)


def import_or_reuse(skip_import: bool) -> bentoml.Model:
    """The model to pack: freshly imported from the registry, or the newest one already in the store."""
    if skip_import:
        return bentoml.models.get(f"{BENTO_MODEL_NAME}:latest")
    settings = get_settings()
    print(f"importing {settings.production_model_uri} from {settings.tracking_uri} ...", flush=True)
    return import_production_model(settings.tracking_uri, settings.model_name, settings.production_alias)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")  # no usage-analytics calls from builds
    start = time.perf_counter()
    try:
        model = import_or_reuse(args.skip_import)
    except (RegistryError, bentoml.exceptions.NotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metadata = model.info.metadata
    print(
        f"model {model.tag}: registry version {metadata['registry_version']}, run {metadata['run_id']}, "
        f"threshold {metadata['threshold']}",
        flush=True,
    )
    print("building the Bento ...", flush=True)
    bento = build_bento(PROJECT_ROOT, args.bentofile, args.base_image)
    print(f"built Bento {bento.tag} in {time.perf_counter() - start:.1f}s (store: {bento.path})")
    print(f"serve it with: python bento/serve.py  (or: bentoml serve {bento.tag})")
    print(f"BENTO_TAG={bento.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
