# sensor-pipelines: every verb a person or CI uses. `make help` lists them.
# The virtual environment is created (and refreshed when pyproject.toml changes) on first use.

PYTHON      ?= python3
VENV        ?= .venv
CIRCUIT     ?= PLANT1_CIRC1
ENV         ?= local
OVERRIDES   ?=
FORCE       ?=
PORT        ?= 5000
PYTEST_ARGS ?=
LAB_PORT    ?= 8888
QUICK       ?=
ONLY        ?=
VERBOSE     ?=

BIN     := $(VENV)/bin
CLI     := $(BIN)/sensor-pipelines $(if $(filter 1 true yes,$(VERBOSE)),--verbose,)
STAMP   := $(VENV)/.installed
FORCE_FLAG := $(if $(filter 1 true yes,$(FORCE)),--force,)

.DEFAULT_GOAL := help
DRY_RUN     ?=
CIRCUITS    ?=
TARGET_BRANCH ?= main
MAX_PARALLEL ?=
ALL         ?=
RETRY_FAILED ?=
STRICT      ?=
DRY_RUN_FLAG := $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run,)

.PHONY: promote deploy deploy-many score endpoints rollback score-daily schedule
.PHONY: help venv train register-data register components check-versions detect-changes train-changed validate plan pipeline-yaml data ui test test-unit test-integration lint-imports notebooks-test lab bench clean

help: ## List the targets and their variables
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: CIRCUIT=$(CIRCUIT) ENV=$(ENV) FORCE=1 OVERRIDES='model=lstm_smoke model.epochs=5'"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

venv: $(STAMP) ## Create or refresh the virtual environment (.venv)

RESULT_FILE ?=

train: $(STAMP) ## Train, evaluate and register one circuit: make train CIRCUIT=PLANT1_CIRC1 [ENV=local] [FORCE=1] [RESULT_FILE=path]
	$(CLI) train --circuit $(CIRCUIT) --env $(ENV) $(FORCE_FLAG) $(if $(RESULT_FILE),--result-file $(RESULT_FILE),) $(OVERRIDES)

train-changed: $(STAMP) ## Train changed circuits in parallel: [MAX_PARALLEL=5] [CIRCUITS=A,B | ALL=1 | RETRY_FAILED=1] [ENV=local]
	$(CLI) train-changed --env $(ENV) $(if $(MAX_PARALLEL),--max-parallel $(MAX_PARALLEL),) \
		$(if $(CIRCUITS),--circuits $(CIRCUITS),) $(if $(filter 1 true yes,$(ALL)),--all,) \
		$(if $(filter 1 true yes,$(RETRY_FAILED)),--retry-failed,) --target-branch $(TARGET_BRANCH) $(FORCE_FLAG) $(OVERRIDES)

plan: $(STAMP) ## Per circuit: would training run or reuse the current model, and why (runs nothing)
	$(CLI) plan --env $(ENV) $(if $(CIRCUITS),--circuits $(CIRCUITS),) $(OVERRIDES)

RESULTS ?= build/train/train_results.json

validate: $(STAMP) ## Gate the trained circuits: check thresholds, tag models, write build/validation_report.* [STRICT=1] [RESULTS=file|folder]
	$(CLI) validate --env $(ENV) --results $(RESULTS) $(if $(filter 1 true yes,$(STRICT)),--strict,) $(OVERRIDES)

register-data: $(STAMP) ## Register the circuit's data snapshot (MLTable, version = cutoff_date)
	$(CLI) register-data --circuit $(CIRCUIT) --env $(ENV) $(OVERRIDES)

register: $(STAMP) ## Register environment, components and data assets if missing: make register ENV=dev [DRY_RUN=1] [CIRCUITS=A,B]
	$(CLI) register --env $(ENV) $(DRY_RUN_FLAG) $(if $(CIRCUITS),--circuits $(CIRCUITS),) $(OVERRIDES)

components: $(STAMP) ## Compile every component to build/components/<name>/ (YAML + code snapshot)
	$(CLI) components --output build/components

pipeline-yaml: $(STAMP) ## Write build/pipelines/<CIRCUIT>/pipeline.yaml for `az ml job create --file` [ENV=dev]
	$(CLI) pipeline-yaml --circuit $(CIRCUIT) --env $(if $(filter local,$(ENV)),dev,$(ENV)) $(OVERRIDES)

check-versions: $(STAMP) ## Fail if a component changed since its recorded version without a version bump
	$(CLI) check-versions

detect-changes: $(STAMP) ## Write build/changed_circuits.json (circuits changed vs TARGET_BRANCH, default main)
	$(BIN)/python -m sensor_pipelines.detect_config_changes --target-branch $(TARGET_BRANCH) --output build/changed_circuits.json

data: $(STAMP) ## Generate the sample data of every demo circuit (if missing)
	@for c in $$(ls conf/circuit | sed 's/\.yaml$$//'); do $(CLI) generate-data --circuit $$c || exit $$?; done

ui: $(STAMP) ## Open the MLflow UI on the env's tracking store: make ui [ENV=local] [PORT=5000]
	$(CLI) ui --circuit $(CIRCUIT) --env $(ENV) --port $(PORT)

test: $(STAMP) lint-imports ## Run all tests (unit + integration) and the layer contracts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## Run the fast unit tests only
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## Run the end-to-end pipeline tests on the local backend
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

lint-imports: $(STAMP) ## Check the import layers (core never imports backends, azure or mldesigner)
	$(BIN)/lint-imports

notebooks-test: $(STAMP) ## Execute every notebook top to bottom with the smoke model (part of make test)
	$(BIN)/python -m pytest tests/integration/test_notebooks.py $(PYTEST_ARGS)

LAB_STAMP := $(VENV)/.lab-installed
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,notebooks]"
	@touch $@

lab: $(LAB_STAMP) ## Start JupyterLab on notebooks/; its python3 kernel is the project's .venv [LAB_PORT=8888]
	$(BIN)/jupyter lab --notebook-dir=notebooks --port $(LAB_PORT)

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	@touch $@

bench: $(BENCH_STAMP) ## Run every bench/bench_*.py and print one table (logs in build/bench/) [QUICK=1] [ONLY=accuracy,cli]
	$(BIN)/python bench/run_all.py $(if $(filter 1 true yes,$(QUICK)),--quick,) $(if $(ONLY),--only $(ONLY),)

# -- release: values reach the CLI as quoted environment variables, never spliced into the recipe --
BACKEND       ?=
FROM_ENV      ?= $(if $(filter local,$(BACKEND)),local,$(if $(filter local,$(ENV)),local,dev))
MODEL_VERSION ?=
APPROVED_BY   ?=
INPUT         ?=
CRON          ?= 0 6 * * *
export CIRCUIT ENV BACKEND FROM_ENV MODEL_VERSION APPROVED_BY INPUT CRON FORCE RETRY_FAILED MAX_PARALLEL
# BACKEND=local runs any env (test, prod) on the local backend under .mlops/<env>/
RELEASE_OVERRIDES = $$(if [ -n "$$BACKEND" ]; then printf 'env.backend=%s' "$$BACKEND"; fi)

promote: $(STAMP) ## Promote a model version, its scoring components and environment to the shared registry: CIRCUIT= [MODEL_VERSION=n] [BACKEND=local] [FROM_ENV=dev] [FORCE=1]
	$(CLI) promote --circuit "$$CIRCUIT" --env "$$FROM_ENV" --model-version "$$MODEL_VERSION" \
		$$(case "$$FORCE" in 1|true|yes) echo --force;; esac) $(RELEASE_OVERRIDES) $(OVERRIDES)

deploy: $(STAMP) ## Deploy a promoted model to the circuit's batch endpoint: CIRCUIT= ENV=test|prod [MODEL_VERSION=n] [APPROVED_BY=name] [FORCE=1] [BACKEND=local]
	$(CLI) deploy --circuit "$$CIRCUIT" --env "$$ENV" --model-version "$$MODEL_VERSION" --approved-by "$$APPROVED_BY" \
		$$(case "$$FORCE" in 1|true|yes) echo --force;; esac) $(RELEASE_OVERRIDES) $(OVERRIDES)

score: $(STAMP) ## Score with the circuit's endpoint: CIRCUIT= ENV=test|prod [INPUT=folder|asset] [BACKEND=local]
	$(CLI) score --circuit "$$CIRCUIT" --env "$$ENV" --input "$$INPUT" $(RELEASE_OVERRIDES) $(OVERRIDES)

endpoints: $(STAMP) ## List the env's batch endpoints, default deployment, model version, cutoff_date: ENV= [BACKEND=local]
	$(CLI) endpoints --env "$$ENV" $(RELEASE_OVERRIDES) $(OVERRIDES)

MATRIX ?=
export MATRIX
deploy-many: $(STAMP) ## Deploy every circuit of a CI matrix (JSON in MATRIX) to ENV: ENV=prod APPROVED_BY=name MATRIX='{...}'
	$(CLI) deploy-many --env "$$ENV" --matrix "$$MATRIX" --approved-by "$$APPROVED_BY" $(RELEASE_OVERRIDES) $(OVERRIDES)

rollback: $(STAMP) ## Make the previous deployment the endpoint's default again: CIRCUIT= ENV=prod [BACKEND=local]
	$(CLI) rollback --circuit "$$CIRCUIT" --env "$$ENV" $(RELEASE_OVERRIDES) $(OVERRIDES)

score-daily: $(STAMP) ## Score every circuit with a deployment in ENV, in parallel [MAX_PARALLEL=n] [RETRY_FAILED=1] [BACKEND=local]
	$(CLI) score-daily --env "$$ENV" --max-parallel "$${MAX_PARALLEL:-0}" \
		$$(case "$$RETRY_FAILED" in 1|true|yes) echo --retry-failed;; esac) $(RELEASE_OVERRIDES) $(OVERRIDES)

schedule: $(STAMP) ## Schedule daily scoring: Azure ML JobSchedules; BACKEND=local prints the crontab line [CRON='0 6 * * *']
	$(CLI) schedule --env "$$ENV" --cron "$$CRON" $(RELEASE_OVERRIDES) $(OVERRIDES)

clean: ## Remove the local workspaces and build outputs (keeps .venv)
	rm -rf .mlops build
