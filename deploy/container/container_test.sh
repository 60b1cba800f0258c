#!/usr/bin/env bash
# Build the service's container with `bentoml containerize`, run it and smoke-test it (make container-test).
#
# Steps, each timed:
#   1. Docker engine (engine.sh) and the local base image (base_image.sh); no engine = a loud failure.
#   2. In a scratch area (own BENTOML_HOME, MLflow SQLite store, data dir under a mktemp dir): the model
#      CI ships without the team's tracking server (ci_model.py, as the workflow runs it): a small model
#      trained on synthetic data, promoted, and the Bento built on the local base image.
#   3. DOCKER_BUILDKIT=0 bentoml containerize (host network for the build: no default bridge here), with
#      the labels CI puts on the image: not for production, and the registry version it carries.
#   4. docker run on loopback with host networking, a free port and a random CREDIT_API_KEY.
#   5. smoke_test.py: probes, /score equal to the in-process score and naming the registry's
#      @production version, a bad input refused with a 4xx naming the field, 401 without the key,
#      /metrics, non-root user.
#   6. On exit, even after a failure or Ctrl-C: container and image removed, scratch area deleted. The
#      base image stays, and so does the build cache (the image layers up to the Python packages,
#      tagged $CACHE_IMAGE) so the next run only rebuilds the Bento's own layers.
# A run killed with -9 cannot clean up: the next run removes what it left (same container name, same
# image repository, scratch dirs with the same prefix). A lock file keeps two runs from overlapping.
#
# Env: CONTAINER_BASE_IMAGE         base image (default credit-scoring-base:bookworm)
#      CONTAINER_TEST_ROWS          synthetic rows for the scratch model (default 5000)
#      CONTAINER_TEST_PORT          port to serve on (default: a free port)
#      CONTAINER_READY_TIMEOUT      seconds to wait for /readyz (default 180)
#      CONTAINER_KEEP_BUILD_CACHE   1 keeps the dependency layers for the next run (default), 0 drops them
#      PYTHON                       interpreter with the project installed (default .venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/container"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BASE_IMAGE="${CONTAINER_BASE_IMAGE:-credit-scoring-base:bookworm}"
ROWS="${CONTAINER_TEST_ROWS:-5000}"
READY_TIMEOUT="${CONTAINER_READY_TIMEOUT:-180}"
KEEP_CACHE="${CONTAINER_KEEP_BUILD_CACHE:-1}"
# Fixed names, so leftovers of a killed run are recognised and removed by the next one.
NAME=credit-scoring-container-test
CACHE_IMAGE=credit-scoring-build-cache:latest
SCRATCH_PREFIX="${TMPDIR:-/tmp}/credit-container-test."
LOCK_FILE="${TMPDIR:-/tmp}/credit-container-test.lock"

SCRATCH=""
IMAGE=""
ENGINE_UP=0
CURRENT_STEP="setup"
STEP_START=$SECONDS
TIMINGS=()
RUN_START=$SECONDS

log() { printf '[container-test] %s\n' "$*"; }
die() { printf '[container-test] ERROR: %s\n' "$*" >&2; exit 1; }

run_step() {
    # run_step NAME COMMAND...: announce, run, record the duration.
    local name=$1
    shift
    CURRENT_STEP=$name
    STEP_START=$SECONDS
    printf '\n[container-test] ==> %s (%s)\n' "$name" "$(date +%H:%M:%S)"
    "$@"
    TIMINGS+=("$name|$((SECONDS - STEP_START))")
    log "$name: done in $((SECONDS - STEP_START))s"
}

print_timings() {
    local entry
    log "timings:"
    for entry in "${TIMINGS[@]}"; do
        printf '[container-test]   %-40s %5ss\n' "${entry%%|*}" "${entry##*|}"
    done
    printf '[container-test]   %-40s %5ss\n' "total" "$((SECONDS - RUN_START))"
}

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    [ "$status" -ne 0 ] && TIMINGS+=("$CURRENT_STEP (FAILED)|$((SECONDS - STEP_START))")
    if [ "$ENGINE_UP" -eq 1 ]; then
        if [ "$status" -ne 0 ] && docker container inspect "$NAME" >/dev/null 2>&1; then
            log "container logs (last 60 lines):"
            docker logs --tail 60 "$NAME" 2>&1 | sed 's/^/    /'
        fi
        remove_test_artifacts
    fi
    [ -n "$SCRATCH" ] && rm -rf "$SCRATCH"
    print_timings
    if [ "$status" -eq 0 ]; then
        log "PASSED: the image builds, serves and passes the smoke test"
    else
        log "FAILED during step '$CURRENT_STEP' (exit $status); see the messages above" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

remove_test_artifacts() {
    # The test container and every image of the test repository (this run's and a killed run's).
    local images
    if docker container inspect "$NAME" >/dev/null 2>&1; then
        docker rm -f "$NAME" >/dev/null || log "could not remove container $NAME"
        log "removed container $NAME"
    fi
    images="$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$NAME")"
    if [ -n "$images" ]; then
        # shellcheck disable=SC2086  # one image per word
        docker image rm $images >/dev/null || log "could not remove image(s) $images"
        log "removed image(s): ${images//$'\n'/ }"
    fi
    if [ "$KEEP_CACHE" != 1 ] && docker image inspect "$CACHE_IMAGE" >/dev/null 2>&1; then
        docker image rm "$CACHE_IMAGE" >/dev/null || log "could not remove $CACHE_IMAGE"
        log "removed build cache $CACHE_IMAGE (CONTAINER_KEEP_BUILD_CACHE=$KEEP_CACHE)"
    fi
    return 0
}

take_lock() {
    exec 9>"$LOCK_FILE"
    if ! flock -n 9; then
        log "another container test holds $LOCK_FILE; waiting for it"
        flock 9
    fi
}

start_engine() {
    # 9>&- : a dockerd started here must not inherit (and hold forever) the lock.
    "$HERE/engine.sh" 9>&-
    ENGINE_UP=1
    "$HERE/base_image.sh" "$BASE_IMAGE" 9>&-
}

remove_leftovers() {
    # With the lock held, any test container, image or scratch dir still around belongs to a dead run.
    local stale
    remove_test_artifacts
    for stale in "$SCRATCH_PREFIX"*; do
        [ -d "$stale" ] || continue
        rm -rf "$stale"
        log "removed stale scratch dir $stale"
    done
}

make_scratch() {
    SCRATCH="$(mktemp -d "${SCRATCH_PREFIX}XXXXXX")"
    export BENTOML_HOME="$SCRATCH/bentoml"
    export CREDIT_DATA_DIR="$SCRATCH/var"
    export MLFLOW_TRACKING_URI="sqlite:///$SCRATCH/mlflow.db"
    export BENTOML_DO_NOT_TRACK=True WHYLOGS_NO_ANALYTICS=1 MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
    # The smoke test sets its own key; a key from the caller's shell must not leak into the build.
    unset CREDIT_API_KEY
    log "scratch area: $SCRATCH"
}

ship_model() {
    # No TEAM_TRACKING_URI here, as in a fork: ci_model.py trains, promotes and builds a stand-in.
    env -u TEAM_TRACKING_URI -u EXPECTED_VERSION "$PY" "$HERE/ci_model.py" --rows "$ROWS" \
        --base-image "$BASE_IMAGE" --outputs "$SCRATCH/model.env"
    BENTO_TAG="$(sed -n 's/^bento_tag=//p' "$SCRATCH/model.env")"
    MODEL_VERSION="$(sed -n 's/^model_version=//p' "$SCRATCH/model.env")"
    PRODUCTION="$(sed -n 's/^production=//p' "$SCRATCH/model.env")"
    [ -n "$BENTO_TAG" ] || die "ci_model.py wrote no bento_tag= output"
    [ "$PRODUCTION" = false ] || die "a model trained in the runner must be labelled production=false"
    IMAGE="$NAME:${BENTO_TAG#*:}"
}

check_labels() {
    # The labels say what the image carries: a registry version, and whether it may go to production.
    local found
    found="$(docker image inspect --format \
        '{{index .Config.Labels "credit-scoring.production"}} {{index .Config.Labels "credit-scoring.model-version"}}' \
        "$IMAGE")"
    [ "$found" = "$PRODUCTION $MODEL_VERSION" ] || die "image labels '$found', expected '$PRODUCTION $MODEL_VERSION'"
    log "image labels: production=$PRODUCTION model-version=$MODEL_VERSION"
}

containerize() {
    local log_file="$SCRATCH/containerize.log" cached
    log "bentoml containerize $BENTO_TAG -> $IMAGE (full log: $log_file)"
    # The classic builder's step lines show progress; the rest (apt, uv output) stays in the log.
    if ! DOCKER_BUILDKIT=0 "$PY" -m bentoml containerize "$BENTO_TAG" --opt network=host -t "$IMAGE" \
        --opt label=credit-scoring.production="$PRODUCTION" --opt label=credit-scoring.model-version="$MODEL_VERSION" \
        </dev/null 2>&1 | tee "$log_file" | { grep --line-buffered -E '^INFO: Step [0-9]+/' || true; } \
        | sed -u 's/^INFO: \(.\{0,100\}\).*/    \1/'; then
        tail -n 40 "$log_file" | sed 's/^/    /' >&2
        die "bentoml containerize failed (log above)"
    fi
    cached="$(grep -c 'Using cache' "$log_file" || true)"
    log "$cached build steps came from the cache"
    docker image inspect --format '{{index .RepoTags 0}}: {{.Size}} bytes, user {{.Config.User}}' "$IMAGE"
    if [ "$KEEP_CACHE" = 1 ]; then keep_build_cache; fi
}

keep_build_cache() {
    # Tag the layer holding the installed Python packages: removing the test image then stops there,
    # and the next build with the same requirements starts from it. The previous cache goes if replaced.
    local layer previous
    layer="$(docker history --no-trunc --format '{{.ID}}|{{.CreatedBy}}' "$IMAGE" \
        | awk -F'|' '/pip install -r/ {print $1; exit}')"
    case "$layer" in sha256:*) ;; *) log "no local dependency layer found; build cache not kept"; return 0 ;; esac
    previous="$(docker image inspect --format '{{.Id}}' "$CACHE_IMAGE" 2>/dev/null || true)"
    docker tag "$layer" "$CACHE_IMAGE"
    if [ -n "$previous" ] && [ "$previous" != "$layer" ]; then
        docker image rm "$previous" >/dev/null 2>&1 || true
        log "dropped the previous build cache ${previous:7:12}"
    fi
    log "build cache: $CACHE_IMAGE -> ${layer:7:12}"
}

start_container() {
    local free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    PORT="${CONTAINER_TEST_PORT:-$("$PY" -c "$free_port")}"
    CREDIT_API_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
    export CREDIT_API_KEY
    # -e NAME without a value passes the key from this environment: it never shows on a command line.
    docker run -d --name "$NAME" --network host -e CREDIT_API_KEY "$IMAGE" \
        serve --host 127.0.0.1 --port "$PORT" >/dev/null
    log "container $NAME started from $IMAGE on http://127.0.0.1:$PORT (API key: random, in CREDIT_API_KEY)"
}

smoke_test() {
    "$PY" "$HERE/smoke_test.py" --url "http://127.0.0.1:$PORT" --bento "$BENTO_TAG" --container "$NAME" \
        --wait "$READY_TIMEOUT"
}

main() {
    cd "$ROOT"
    [ -x "$PY" ] || die "$PY not found: run 'make venv' first (or set PYTHON)"
    command -v flock >/dev/null 2>&1 || die "flock (util-linux) is needed"
    take_lock
    run_step "docker engine + base image" start_engine
    run_step "remove leftovers of killed runs" remove_leftovers
    make_scratch
    run_step "model without the team's registry: train ($ROWS rows), promote, build" ship_model
    run_step "bentoml containerize" containerize
    run_step "image labels" check_labels
    run_step "start the container" start_container
    run_step "wait for /readyz + smoke test" smoke_test
    CURRENT_STEP="cleanup"
}

main "$@"
