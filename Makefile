# order-saga: one entry point for a newcomer and for CI (.ci/run calls `make test` and `make build`).
#
#   make setup   create .venv (project + dev tools), .venv-sam (SAM CLI), .venv-checkov (checkov) and
#                node_modules (asl-validator)
#   make lint    ruff, mypy, cfn-lint, sam validate --lint, checkov, statelint, asl-validator, and actionlint
#                and zizmor on .github/workflows/
#   make hooks   install the pre-commit hooks (.pre-commit-config.yaml: local, over .venv and node_modules)
#   make test    lint, then pytest (what CI runs)
#   make build   sam build (needs Python 3.12, the Lambda runtime; the layer ships compiled, LAYER_BYTECODE=0 not)
#   make demo    run the four outcome scenarios on the embedded engine
#   make containers       a Docker-compatible engine for SAM (podman from Debian's archive when no Docker
#                         answers) and a stand-in for AWS's python3.12 image; make containers-stop stops it
#   make invoke           sam local invoke of every function with each sample event, results checked
#   make saga-containers  the five scenarios on the embedded engine, its Lambda tasks in Lambda containers
#   make localstack       LocalStack on the host (then localstack-deploy, localstack-check, localstack-stop)
#   make localstack-demo  LocalStack up, deploy, the five scenarios with their orders and stock, then stop
#   make bench   measure the engine against direct calls, cold starts and cost per order (into .bench/;
#                make bench BENCH_OUT=docs refreshes the published docs/bench.svg and docs/bench.json)
#   make clean   remove build output and caches (make distclean also removes the environments)
#
# Needs Python >= 3.11, Node.js with npm, and network access to PyPI and npm on the first `make setup`.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export SAM_CLI_TELEMETRY := 0

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# template.yaml translated to CloudFormation, for checkov (scripts/translate_template.py).
TRANSLATED := .aws-sam/translated-template.json
ASL := statemachine/order_saga.asl.json
REGION ?= eu-west-2
# Tests run on every core, a file per worker (the 1,000-saga chaos pass is one long test).
PYTEST_ARGS ?= -n auto --dist loadfile

# Stamp files: each environment is rebuilt only when what it is installed from changes.
VENV_STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := node_modules/.installed

# The directory of a Python X.Y: pythonX.Y on PATH if it runs, else the newest X.Y.z that pyenv has (pyenv's
# shims only answer for selected versions). 3.12 for `sam build` (the functions' Runtime is python3.12) and
# the Lambda image, 3.13 for LocalStack. Expanded only when a target needs it.
python_dir = $(shell \
	if python$(1) --version >/dev/null 2>&1; then \
		dirname "$$(command -v python$(1))"; \
	elif command -v pyenv >/dev/null 2>&1; then \
		v="$$(pyenv versions --bare 2>/dev/null | grep -E '^$(subst .,\.,$(1))\.[0-9]+$$' | sort -V | tail -n 1)"; \
		if [ -n "$$v" ] && [ -x "$$(pyenv root)/versions/$$v/bin/python$(1)" ]; then echo "$$(pyenv root)/versions/$$v/bin"; fi; \
	fi)
PY312_DIR = $(call python_dir,3.12)
PY313_DIR = $(call python_dir,3.13)

.PHONY: help setup lint hooks test build demo bench chaos clean distclean containers containers-stop build-local \
	invoke saga-containers localstack localstack-deploy localstack-check localstack-demo localstack-stop

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) ## Create .venv, .venv-sam, .venv-checkov and node_modules (no-op when up to date)

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "make setup needs Python >= 3.11 as $(PYTHON) (try: make setup PYTHON=python3.11)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

# Recreated from scratch: SAM CLI pins its dependencies exactly, and a stale copy must not linger.
$(SAM_STAMP): requirements-sam.txt
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

# Its own environment too: checkov pins boto3, packaging and networkx below what .venv needs.
$(CHECKOV_STAMP): requirements-checkov.txt
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup ## Static checks of the Python code, the template and the state machine
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region $(REGION)
	$(SAM_VENV)/bin/python scripts/translate_template.py --region $(REGION) template.yaml $(TRANSLATED)
	$(CHECKOV) --config-file .checkov.yaml --file template.yaml --file $(TRANSLATED)
	@echo "checkov: no finding outside .checkov.baseline"
	$(BIN)/statelint --ignore=URI $(ASL)
	node_modules/.bin/asl-validator --json-path $(ASL)
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress .github/workflows

# A linked worktree shares its hooks folder with every worktree of the repository, whose checkouts may have
# no .pre-commit-config.yaml (then each commit there would fail): install from the main checkout only.
hooks: $(VENV_STAMP) $(NODE_STAMP) ## Install the pre-commit hooks (local ones, over .venv and node_modules)
	@if [ "$$(git rev-parse --git-dir)" != "$$(git rev-parse --git-common-dir)" ]; then \
		echo "make hooks: this is a linked worktree, and hooks are shared by every worktree: run it in the main checkout" >&2; \
		exit 1; \
	fi
	$(BIN)/pre-commit install

test: lint ## Lint, then run the tests (what CI runs)
	$(BIN)/pytest $(PYTEST_ARGS)

# The layer ships compiled for python3.12 (a cold init about 40 % shorter, 5 MB more layer: layer/Makefile);
# LAYER_BYTECODE=0 leaves the bytecode out. SAM's cache knows the layer's source, not this setting, so each
# setting keeps its own cache.
LAYER_BYTECODE ?= 1
BYTECODE_CACHE = $(if $(filter 1,$(LAYER_BYTECODE)),-bytecode)

build: $(SAM_STAMP) $(VENV_STAMP) ## sam build into .aws-sam/build (Lambda runtime python3.12, arm64)
	@$(call sam_build,arm64,.aws-sam/build)

# The functions for local containers (sam local, LocalStack), built for this machine's CPU so that nothing
# runs under emulation; in their own build and cache folders so `make build`'s arm64 output (what AWS
# runs) stays as it is.
LOCAL_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
LOCAL_BUILD := .aws-sam/local
build-local: $(SAM_STAMP) $(VENV_STAMP)
	@$(call sam_build,$(LOCAL_ARCH),$(LOCAL_BUILD))

define sam_build
	dir="$(PY312_DIR)"; \
	if [ -z "$$dir" ]; then echo "make build needs Python 3.12 (the Lambda runtime): install python3.12 (or pyenv install 3.12)" >&2; exit 1; fi; \
	echo "sam build for $(1) into $(2), with $$dir/python3.12"; \
	PATH="$$dir:$$PATH" LAYER_ARCH=$(1) LAYER_BYTECODE=$(LAYER_BYTECODE) $(SAM) build --cached --parallel \
		--parameter-overrides Architecture=$(1) --build-dir $(2) --cache-dir $(2)-cache$(BYTECODE_CACHE); \
	$(BIN)/python scripts/check_build.py $(2)
endef

# Each of these starts the container engine if it is not up, and stops it again when done.
WITH_CONTAINERS = PY312_DIR="$(PY312_DIR)" bash scripts/containers/with.sh

containers: ## Start a container engine for SAM (podman when no Docker answers) and build the base image
	@PY312_DIR="$(PY312_DIR)" bash scripts/containers/up.sh

containers-stop: ## Stop the container engine `make containers` started
	@bash scripts/containers/down.sh

# ONLY=text runs the events whose file or function names contain it (make invoke ONLY=reserve).
invoke: build-local ## sam local invoke every function with each sample event, checking every result
	@$(WITH_CONTAINERS) $(BIN)/python scripts/invoke_functions.py --template $(LOCAL_BUILD)/template.yaml --sam $(SAM) \
		--only "$(ONLY)"

LOCALSTACK_PORT ?= 4566
LOCALSTACK_URL := http://127.0.0.1:$(LOCALSTACK_PORT)
LOCALSTACK_ENV := AWS_ENDPOINT_URL=$(LOCALSTACK_URL) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

# The services LocalStack enables are what template.yaml needs (scripts/localstack/services.py).
localstack: containers $(VENV_STAMP) ## LocalStack 4.14 on the host, its Lambda on the project's container engine
	@services="$$($(BIN)/python scripts/localstack/services.py)"; \
		bash scripts/localstack/up.sh "$(PY313_DIR)" $(LOCALSTACK_PORT) "$$services"

localstack-deploy: build-local ## Deploy the stack (built for this CPU) to LocalStack with samconfig's localstack environment
	@bash scripts/localstack/layer-image.sh $(LOCAL_BUILD)
	$(LOCALSTACK_ENV) $(SAM) deploy --config-env localstack --config-file $(CURDIR)/samconfig.toml \
		--template-file $(LOCAL_BUILD)/template.yaml --parameter-overrides Architecture=$(LOCAL_ARCH) --no-progressbar

# SAGA_LOCALSTACK_REQUIRED: fail, not skip, where LocalStack or the stack is missing (.ci/run sets it).
localstack-check: $(VENV_STAMP) ## The LocalStack tests against the deployed stack: outcomes as on the embedded engine
	SAGA_LOCALSTACK_URL=$(LOCALSTACK_URL) $(BIN)/pytest tests/test_localstack.py tests/test_localstack_init.py \
		-v -p no:randomly -p no:cacheprovider

localstack-demo: $(VENV_STAMP) ## The post's demo: LocalStack up, deploy, seed, the five scenarios, orders, stock, history
	@bash scripts/localstack/demo.sh "$(MAKE)" $(LOCALSTACK_URL)

localstack-stop: ## Stop the LocalStack `make localstack` started
	@bash scripts/localstack/down.sh

saga-containers: build-local ## The five scenarios with every Lambda task in a Lambda container (sam local start-lambda)
	@$(WITH_CONTAINERS) $(BIN)/python scripts/saga_containers.py --template $(LOCAL_BUILD)/template.yaml --sam $(SAM)

demo: $(VENV_STAMP) ## Run the four outcome scenarios on the embedded engine
	@$(BIN)/saga reset
	@$(BIN)/saga run happy out-of-stock payment-declined shipping-failed

BENCH_SAGAS ?= 300
# Where the chart and the report go: .bench/ (untracked) unless BENCH_OUT=docs publishes them.
BENCH_OUT ?= .bench

# The cold init as Lambda runs it needs the build for this machine's CPU: build-local (x86_64) here, build on
# arm64. The layer sizes are read from `make build`'s arm64 output, as deployed.
HOST_BUILD = $(if $(filter x86_64,$(shell uname -m)),build-local,build)

# Benchmarks are not tests: `make test` only runs a smoke check of `saga bench` on a handful of sagas.
bench: $(VENV_STAMP) $(HOST_BUILD) ## Measure throughput, cold starts, sizes and AWS cost; chart into .bench/ (BENCH_OUT=docs publishes)
	$(BIN)/saga bench --sagas $(BENCH_SAGAS) --chart $(BENCH_OUT)/bench.svg --save $(BENCH_OUT)/bench.json

chaos: $(VENV_STAMP) ## Run many sagas with injected failures and check the invariants
	$(BIN)/saga chaos --sagas 10000 --seed 1

clean: ## Remove build output and caches
	rm -rf .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .bench
	find . -path ./$(VENV) -prune -o -path ./$(SAM_VENV) -prune -o -path ./$(CHECKOV_VENV) -prune -o \
		-path ./node_modules -prune -o \
		-name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean localstack-stop containers-stop ## Also remove the environments, the container engine's files and .saga
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .venv-localstack node_modules .saga .containers .localstack
