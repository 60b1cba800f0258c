"""How the service runs: BentoML service options (workers, logging, tracing) and settings read at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from credit_scoring.scoring import Scorer
from credit_scoring.serving.bento_model import BENTO_MODEL_NAME, load_challenger
from credit_scoring.serving.shadow import Shadow
from credit_scoring.settings import get_settings

logger = logging.getLogger(__name__)

API_ROUTES = ("/score", "/score_batch", "/explain")

# Measured in profiling/NOTES_service.md. Each option can be overridden at serve time without a rebuild,
# e.g. BENTOML_CONFIG_OPTIONS="services.credit_scoring.logging.access.enabled=true".
SERVICE_CONFIG: dict[str, Any] = {
    # One process per core of the 2-core target machine; each loads the model once.
    "workers": 2,
    "traffic": {"timeout": 30},
    # The per-request access log line costs more than scoring; the monitoring request log already
    # records every request (off the hot path).
    "logging": {"access": {"enabled": False}},
    # OpenTelemetry spans on the API routes cost about as much as the model; no tracer is configured
    # here, so they were pure overhead. Probes and docs keep theirs. Prometheus /metrics stays on.
    "tracing": {"excluded_urls": list(API_ROUTES)},
}


def configured_api_key() -> str | None:
    """The API key from the environment (CREDIT_API_KEY), read when the server starts; None = open API."""
    key = get_settings().api_key
    return key.get_secret_value() if key is not None else None


def packed_model_tag(bento: Any) -> str | None:
    """The exact model a built Bento was packed with (None when the service runs from source).

    A service declares ``credit-scoring:latest``, and `bentoml serve <bento>` resolves that in the model
    store when it starts: after a newer import (the next build, a challenger set) that is another model
    than the one this Bento was built and tested with, so each Bento pins its own."""
    if bento is None:
        return None
    found = [info.tag for info in bento.info.all_models if info.tag.name == BENTO_MODEL_NAME]
    return str(found[0]) if found else None


def served_model(bento: Any, declared: Any) -> Any:
    """The Bento's own model from the model store (the Bento's own store in a container), else the
    declared one (serving from source: the newest import)."""
    import bentoml

    tag = packed_model_tag(bento)
    return bentoml.models.get(tag) if tag is not None else declared


def open_shadow(champion: Scorer, model_dir: Path, metadata: Mapping[str, Any]) -> Shadow:
    """The worker's shadow scoring: the Bento's challenger on the service's engine, switched by
    CREDIT_SHADOW_ENABLED. A challenger that cannot load leaves the champion serving, the error in health."""
    settings = get_settings()
    try:
        challenger = load_challenger(model_dir, metadata, settings.scoring_engine)
    except Exception as error:  # the champion loaded: a broken challenger must not stop the service
        return Shadow.unavailable(champion, error)
    if challenger is not None:
        state = "on" if settings.shadow_enabled else "off (CREDIT_SHADOW_ENABLED=false)"
        logger.info("challenger version %s packed; shadow scoring %s", challenger.version, state)
    return Shadow(challenger, champion, settings.shadow_enabled)
