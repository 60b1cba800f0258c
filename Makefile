# Targets name the jobs a user runs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

ROWS ?= 100000
OUT ?= var/synthetic/application_train.csv
DATA ?=
PORT ?= 3000
MONITOR_PORT ?= 8501
MLFLOW_PORT ?= 5000
SCENARIO ?= normal
RATE ?= 20
DURATION ?= 60
VERSION ?=
ENGINE ?= local
DAYS ?= 30
PER_DAY ?= 35000

export WHYLOGS_NO_ANALYTICS := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.DEFAULT_GOAL := help
.PHONY: help venv system-deps data train promote mlflow-ui build serve demo demo-stop test test-fast lint \
        simulate backfill drift-report export-decisions outcomes performance-report challenger-report \
        challenger monitor profile bench bench-monitor container-test clean score-file deploy deploy-stop \
        deploy-status

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,spark]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the pinned dependencies (constraints.txt)

data: venv ## Write a synthetic application_train.csv (ROWS=, OUT=)
	$(PY) registry/make_data.py --rows $(ROWS) --out $(OUT)

train: venv ## Train, evaluate and register a model (DATA=path/to/application_train.csv for real data)
	$(PY) registry/train.py $(if $(DATA),--data $(DATA))

promote: venv ## Promote the newest version to @production if not worse (VERSION=, MIN_SHADOW= live decisions)
	$(PY) registry/promote.py $(if $(VERSION),--version $(VERSION)) $(if $(MIN_SHADOW),--min-shadow $(MIN_SHADOW))

challenger: venv ## Set @challenger (scored in shadow by the next `make build`) to VERSION= after the ECE gate
	@test -n "$(VERSION)$(CLEAR)" || { echo "usage: make challenger VERSION=n (or CLEAR=1 to remove the alias)" >&2; exit 2; }
	$(PY) registry/challenger.py $(if $(filter 1,$(CLEAR)),--clear,--version $(VERSION))

score-file: venv ## Score a file with @production (IN=, OUT=, ENGINE=local|spark, REJECTS=, MASTER=)
	@test -n "$(IN)" -a "$(origin OUT)" != file || { echo "usage: make score-file IN=applications.csv" \
		"OUT=scores.parquet [ENGINE=spark] [REJECTS=rejects.csv] [MASTER=local[2]]" >&2; exit 2; }
	$(PY) registry/score_file.py --in "$(IN)" --out "$(OUT)" --engine $(ENGINE) \
		$(if $(REJECTS),--rejects "$(REJECTS)") $(if $(MASTER),--master "$(MASTER)")

mlflow-ui: venv ## Start the MLflow UI on the embedded store (port MLFLOW_PORT)
	$(PY) registry/mlflow_ui.py --port $(MLFLOW_PORT)

build: venv ## Import models:/credit-scoring@production (and @challenger when set) into BentoML and build the Bento
	$(PY) bento/build.py

serve: venv ## Serve the latest Bento on PORT
	$(PY) bento/serve.py --port $(PORT)

demo: venv ## Everything from nothing: data, train, promote, challenger, build, serve, monitor, traffic
	bash bento/demo.sh

demo-stop: ## Stop the processes `make demo` started
	bash bento/demo.sh stop

deploy: venv ## HAProxy on PORT, the Bento of @production behind it, a controller deploying every new @production
	PORT=$(PORT) MLFLOW_PORT=$(MLFLOW_PORT) bash deploy/deploy.sh

deploy-stop: ## Stop the processes `make deploy` started
	bash deploy/deploy.sh stop

deploy-status: venv ## What `make deploy` serves, its last attempt and its last error
	$(PY) deploy/controller.py status

simulate: venv ## Replay applications against the running API (SCENARIO=normal|drift|bad-inputs|burst)
	$(PY) monitor_app/simulate.py --scenario $(SCENARIO) --rate $(RATE) --duration $(DURATION) --port $(PORT) $(SIM_ARGS)

backfill: venv ## Write DAYS of simulated history (PER_DAY records a day) through the journal and ingest
	$(PY) monitor_app/backfill.py --days $(DAYS) --per-day $(PER_DAY)

drift-report: venv ## Compare production profiles with the reference; exit 1 on alert (START="last 1h")
	$(PY) monitor_app/drift_report.py $(if $(START),--start "$(START)")

export-decisions: venv ## Write the stored decisions for an audit (OUT=path.csv|.parquet, START=, END=)
	$(PY) monitor_app/export_decisions.py --out "$(OUT)" $(if $(START),--start "$(START)") $(if $(END),--end "$(END)")

outcomes: venv ## Load loan outcomes and join them to the stored decisions (FILE=path.csv: SK_ID_CURR,TARGET)
	@test -n "$(FILE)" || { echo "usage: make outcomes FILE=outcomes.csv (columns SK_ID_CURR, TARGET," \
		"optionally OBSERVATION_DATE)" >&2; exit 2; }
	$(PY) monitor_app/load_outcomes.py "$(FILE)"

performance-report: venv ## Realized vs estimated performance, calibration, fairness; exit 1 on alert (START=, END=)
	$(PY) monitor_app/performance_report.py $(if $(START),--start "$(START)") $(if $(END),--end "$(END)")

challenger-report: venv ## Champion vs challenger on shadow-scored decisions: JSON, Markdown, figure (START=, END=)
	$(PY) monitor_app/challenger_report.py $(if $(START),--start "$(START)") $(if $(END),--end "$(END)")

monitor: venv ## Start the Streamlit monitor on MONITOR_PORT
	$(PY) monitor_app/serve_monitor.py --server.port $(MONITOR_PORT) --server.headless true \
		--browser.gatherUsageStats false

profile: venv ## Profile one request's path in process (profiling/profile.txt)
	$(PY) profiling/profile_request.py

bench: venv ## Run the benchmark and regenerate profiling/REPORT.md
	$(PY) profiling/bench.py

bench-monitor: venv ## The monitor at 1M records: backfill 30 x 35,000, Chromium renders, 30-day drift report
	rm -rf var/bench-monitor  # a second backfill would add a second history
	MLFLOW_TRACKING_URI="$${MLFLOW_TRACKING_URI:-$$($(PY) -c 'from credit_scoring.settings import get_settings; \
		print(get_settings().tracking_uri)')}" $(PY) -m credit_scoring_tools.monitor_render \
		--data-dir var/bench-monitor --backfill 30 35000 --out profiling/monitor_render.json

lint: venv ## ruff, the import-layers contract (pyproject's [tool.importlinter]) and the dead-code scan
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/vulture

system-deps: ## Install the Debian packages the tests use (chromium, postgresql, wrk) when root
	bash deploy/system_deps.sh

test: venv system-deps ## The whole test suite (unit, integration, end-to-end)
	$(BIN)/pytest

test-fast: venv ## Unit tests only
	$(BIN)/pytest tests/unit

container-test: venv ## Build the container with bentoml containerize, run it and smoke-test it
	bash deploy/container/container_test.sh

clean: ## Remove generated data, runs and stores (keeps .venv)
	rm -rf var
