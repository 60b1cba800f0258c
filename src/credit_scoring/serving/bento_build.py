"""Build the Bento from bentofile.yaml, optionally on another Docker base image, labelled with its model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import bentoml
import yaml

from credit_scoring.serving.bento_model import BENTO_MODEL_NAME

BENTO_NAME = "credit_scoring"
# Options that only make sense for BentoML's own base image; a custom base image brings its own Python.
_DEFAULT_IMAGE_OPTIONS = ("distro", "python_version")


def bentofile_config(bentofile: Path, base_image: str | None = None) -> dict[str, Any]:
    """The bentofile as a dict, with ``docker.base_image`` replaced when one is given."""
    config = yaml.safe_load(bentofile.read_text())
    if base_image:
        docker = config.setdefault("docker", {}) or {}
        for option in _DEFAULT_IMAGE_OPTIONS:
            docker.pop(option, None)
        docker["base_image"] = base_image
        config["docker"] = docker
    return config


def model_labels(model: bentoml.Model) -> dict[str, str]:
    """Bento labels saying which registry version the Bento serves (visible in `bentoml list`)."""
    metadata = model.info.metadata
    return {
        "model_tag": str(model.tag),
        "model_version": str(metadata.get("registry_version", "unknown")),
        "model_run_id": str(metadata.get("run_id", "unknown")),
        # "none" rather than absent: `bentoml list` and the deploy controller read one label either way.
        "challenger_version": str(metadata.get("challenger_version", "none")),
    }


def build_bento(project_root: Path, bentofile: Path, base_image: str | None = None) -> bentoml.Bento:
    """``bentoml build`` of the project with the newest imported model (``credit-scoring:latest``)."""
    model = bentoml.models.get(f"{BENTO_MODEL_NAME}:latest")
    with tempfile.TemporaryDirectory(prefix="credit-bentofile-") as tmp:
        effective = Path(tmp) / "bentofile.yaml"
        effective.write_text(yaml.safe_dump(bentofile_config(bentofile, base_image), sort_keys=False))
        return bentoml.bentos.build_bentofile(
            str(effective), build_ctx=str(project_root), labels=model_labels(model)
        )
