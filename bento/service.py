"""The BentoML service: loads the Bento's model once and answers /score, /score_batch and /explain."""

from __future__ import annotations

import sys
import time
from pathlib import Path

# Inside a Bento the domain package is bundled under src/ next to this folder: put it first on the path so
# the Bento runs the code it was built with, whatever else is installed (in the repository it is the same).
_BUNDLED_SRC = Path(__file__).resolve().parent.parent / "src"
if _BUNDLED_SRC.is_dir() and str(_BUNDLED_SRC) not in sys.path:
    sys.path.insert(0, str(_BUNDLED_SRC))

import bentoml  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from starlette.responses import Response  # noqa: E402

from credit_scoring.batch_validation import ApplicationBatch  # noqa: E402
from credit_scoring.patches import apply_bentoml_speedups, apply_socket_per_worker  # noqa: E402
from credit_scoring.schema import ID_COLUMN  # noqa: E402
from credit_scoring.serving.api_models import (  # noqa: E402
    ExplainRequest,
    ExplainResponse,
    ScoreRequest,
    ScoreResponse,
    batch_answers,
    explain_response,
    json_body_response,
    json_response,
    score_response,
)
from credit_scoring.serving.batch import BatchInput, BatchLoadShedding, BatchOutput  # noqa: E402
from credit_scoring.serving.bento_model import BENTO_MODEL_NAME, load_scorer  # noqa: E402
from credit_scoring.serving.errors import quiet_client_errors  # noqa: E402
from credit_scoring.serving.guards import ApiKeyGuard, BodySizeLimit, ClearErrors, FormsRefused  # noqa: E402
from credit_scoring.serving.openapi import OpenApiDocument  # noqa: E402
from credit_scoring.serving.outcomes_api import OutcomeLoader, OutcomesRequest, OutcomesResponse  # noqa: E402
from credit_scoring.serving.request_log import (  # noqa: E402
    RequestLog,
    RequestLogMiddleware,
    elapsed_ms,
    json_service_logs,
    note_scored,
    note_scored_batch,
)
from credit_scoring.serving.runtime import (  # noqa: E402
    SERVICE_CONFIG,
    configured_api_key,
    open_shadow,
    served_model,
)
from credit_scoring.settings import get_monitoring_settings, get_settings  # noqa: E402
from credit_scoring.validation import application_to_record  # noqa: E402


@bentoml.service(name="credit_scoring", **SERVICE_CONFIG)
class CreditScoring:
    """Prêt à Dépenser credit scoring: probability of default and the grant/refuse decision.

    The decision uses the model's business threshold (a default costs ten refused good clients).
    Every answer names the registry version of the model that produced it.
    """

    bento_model = bentoml.models.BentoModel(f"{BENTO_MODEL_NAME}:latest")

    @bentoml.on_deployment
    def listen_per_worker() -> None:
        """In `bentoml serve`, before the workers start: a listening socket each, so both take connections."""
        if get_settings().socket_per_worker:
            apply_socket_per_worker()

    def __init__(self) -> None:
        json_service_logs()
        settings = get_settings()
        if settings.bentoml_speedups:
            apply_bentoml_speedups()
        model = served_model(CreditScoring.bento, self.bento_model)  # the one this Bento was built with
        self.scorer = load_scorer(Path(model.path), model.info.metadata, settings.scoring_engine)
        # The packed @challenger scores every application in shadow (CREDIT_SHADOW_ENABLED=false: not).
        self.shadow = open_shadow(self.scorer, Path(model.path), model.info.metadata)
        quiet_client_errors()
        # One journal entry per request before it is answered; this worker's ingest process stores them
        # (CREDIT_MONITORING_ENABLED=false: none).
        self.request_log = RequestLog.open(self.scorer, get_monitoring_settings(), settings, self.shadow)
        self.outcome_loader = OutcomeLoader(get_monitoring_settings(), settings.pseudonymisation_secret)

    @bentoml.on_shutdown
    def close_request_log(self) -> None:
        """Seal this worker's journal and let its ingest process store what is left before it exits."""
        self.request_log.close()

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, application: BaseModel) -> Response:
        """Score one application: probability of default, decision, threshold, model version."""
        record, started = application_to_record(application), time.perf_counter()
        matrix = self.scorer.features([record])
        score = self.scorer.score_features(matrix)[0]
        inference_ms = elapsed_ms(started)
        answer = score_response(score, self.scorer, getattr(application, ID_COLUMN))
        note_scored(answer, inference_ms, self.shadow.score(matrix, lambda: [record], "score"))
        return json_response(answer)

    @bentoml.api(route="/score_batch", input_spec=BatchInput, output_spec=BatchOutput)
    async def score_batch(self, applications: ApplicationBatch) -> Response:
        """Score many applications (validated column by column, scored at once); answers keep the order."""
        started = time.perf_counter()
        matrix, probabilities = self.scorer.batch_scored(applications)
        inference_ms = elapsed_ms(started)
        answers = batch_answers(probabilities, self.scorer, applications.client_references)
        shadow = self.shadow.score(matrix, applications.records, "score_batch")
        note_scored_batch(answers, inference_ms, shadow, applications)
        return json_body_response(answers.body)

    @bentoml.api(route="/explain", input_spec=ExplainRequest, output_spec=ExplainResponse)
    async def explain(self, application: BaseModel, top: int) -> Response:
        """Score one application and list the features that pushed its score most (to justify a refusal)."""
        record, started = application_to_record(application), time.perf_counter()
        matrix = self.scorer.features([record])
        explanation = self.scorer.explain_features(matrix, top=top)
        inference_ms = elapsed_ms(started)
        answer = explain_response(explanation, self.scorer, getattr(application, ID_COLUMN))
        note_scored(answer, inference_ms, self.shadow.score(matrix, lambda: [record], "explain"))
        return json_response(answer)

    @bentoml.api(route="/outcomes", input_spec=OutcomesRequest, output_spec=OutcomesResponse)
    def load_outcomes(self, outcomes: list) -> Response:
        """Join loan outcomes (SK_ID_CURR, TARGET, OBSERVATION_DATE) to the stored decisions; the raw id is
        never stored, the same outcome twice changes nothing, unknown references are counted."""
        return self.outcome_loader.answer(outcomes)


# Outermost first: record every request (it sees the guards' answers too), reject unauthenticated calls
# before reading a body, batches beyond what a worker holds, then oversized bodies and forms.
CreditScoring.add_asgi_middleware(RequestLogMiddleware)
CreditScoring.add_asgi_middleware(ApiKeyGuard, api_key=configured_api_key)
CreditScoring.add_asgi_middleware(BatchLoadShedding, limit=lambda: get_settings().batch_queue_limit)
CreditScoring.add_asgi_middleware(BodySizeLimit)
CreditScoring.add_asgi_middleware(FormsRefused)
CreditScoring.add_asgi_middleware(ClearErrors)
# /docs.json describes every answer above (BentoML's own document misses the guards' and nullable fields).
CreditScoring.add_asgi_middleware(
    OpenApiDocument, generated=lambda: CreditScoring.openapi_spec.asdict(), api_key=configured_api_key
)
