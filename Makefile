# Everything a fresh machine needs: `make run` and `make test` bootstrap their own virtualenvs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 is the Lambda runtime: use a real one when present (pyenv shims that can't run it don't count).
PYTHON ?= $(shell for candidate in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13 python3; do \
	if "$$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then \
	  "$$candidate" -c 'import sys; print(sys.executable)'; break; fi; done)
VENV := .venv
TOOLS := .tools
BIN := $(VENV)/bin
export AWS_EC2_METADATA_DISABLED := true
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run test test-agent test-browser test-fuzz test-faults test-local lint typecheck unit integration template-lint docs docs-cards docs-screenshots docs-serve invoke build bench bench-burst clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "no Python 3.12+ found; install python3.13"; exit 1; }
	@echo "creating $(VENV) with $(PYTHON)"
	"$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml layers/bridge/requirements.txt
	# setuptools notes that an editable install maps packages by a finder: expected here, so not shown.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(TOOLS)/.installed:
	@test -n "$(PYTHON)" || { echo "no Python 3.12+ found; install python3.13"; exit 1; }
	"$(PYTHON)" -m venv $(TOOLS)
	# The SAM CLI pins boto3, click and jsonschema: it gets a venv of its own.
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
	@touch $@

# Ports: 3000, 5005, 4010 and the console's 4030 when free, else free ones (printed, and kept in
# .run/stack.json while serving). PORT=, AWS_PORT=, TWILIO_PORT=, CONSOLE_PORT= insist on one;
# HOST=0.0.0.0 lets containers reach the stack (the console stays on 127.0.0.1).
PORT ?=
AWS_PORT ?=
TWILIO_PORT ?=
CONSOLE_PORT ?=
HOST ?= 127.0.0.1
RUN_FLAGS = --host $(HOST) $(if $(PORT),--port $(PORT)) $(if $(AWS_PORT),--aws-port $(AWS_PORT)) \
	$(if $(TWILIO_PORT),--twilio-port $(TWILIO_PORT)) $(if $(CONSOLE_PORT),--console-port $(CONSOLE_PORT)) $(ARGS)
run: $(VENV)/.installed ## Run the whole bridge locally (moto, Twilio emulator, HTTP front on :3000, console on :4030) and deliver a demo event
	$(BIN)/python -m local.demo $(strip $(RUN_FLAGS))

test: lint typecheck template-lint docs test-agent ## Lint, type-check, lint the template, build the docs, then run every test
	$(BIN)/python -m pytest

# Node's built-in test runner: agent/cards.js, the card renderer an agent's app imports, has no dependencies.
test-agent: ## The card renderer's tests (node --test agent/; needs Node 20+)
	node --test agent/

# Headless Chromium (Debian's chromium package; .ci/run installs it) against make run's console.
test-browser: $(VENV)/.installed ## The console's browser tests alone (make test runs them too)
	$(BIN)/python -m pytest tests/browser -p no:logging

unit: $(VENV)/.installed ## Unit tests only
	$(BIN)/python -m pytest tests/unit

integration: $(VENV)/.installed ## Integration tests only (the emulator's own tests included)
	$(BIN)/python -m pytest tests/integration tests/local

test-local: $(VENV)/.installed ## The Twilio emulator's own tests (tests/local), one file per resource
	$(BIN)/python -m pytest tests/local

# Writes the suites' totals lines, dated, to docs/figures/faults.md; make test runs them without it (a clean clone).
test-faults: $(VENV)/.installed ## The fault-injection suite alone (make test runs it too); writes docs/figures/faults.md
	FAULTS_REPORT=docs/figures/faults.md $(BIN)/python -m pytest tests/faults -p no:logging

test-fuzz: $(VENV)/.installed ## schemathesis against the local front: 1,000 signed cases per operation and mode
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(BIN)/python -m pytest tests/fuzz -p no:logging -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# The import rule (docs/architecture.md): entry points, bootstrap, use cases, domain; adapters beside.
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy
	# Every function's module is called app, so each is checked on its own.
	for handler in functions/*/app.py; do $(BIN)/mypy "$$handler" || exit 1; done

# checkov pins many packages of its own: it joins the tools venv after the SAM CLI, not .venv.
$(TOOLS)/.checkov: $(TOOLS)/.installed
	$(TOOLS)/bin/python -m pip install --quiet 'checkov==3.3.30'
	@touch $@

template-lint: $(TOOLS)/.installed $(TOOLS)/.checkov
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml
	# SAM's own transform, offline, after SAM CLI expands AWS::LanguageExtensions locally. A config env
	# samconfig.toml lacks, because its validate sections say lint = true (cfn-lint again, not SAM).
	$(TOOLS)/bin/sam validate --template template.yaml --config-env offline --language-extensions
	# The security scan: zero failures; each skip gives its reason in the resource's Metadata. checkov
	# knows no Fn::ForEach, so it scans the template as the transform expands it (local/template.py).
	@mkdir -p .aws-sam
	$(TOOLS)/bin/python -m local.template > .aws-sam/template.expanded.json
	BC_SKIP_MAPPING=TRUE $(TOOLS)/bin/checkov --file .aws-sam/template.expanded.json --framework cloudformation --compact --quiet

# The docs site (mkdocs.yml): strict, so a broken link or a missing docs/figures/ file fails the build.
# Material 9.7+ prints a banner about MkDocs 2.0 on every build; the variable keeps it out of make test's output.
docs: $(VENV)/.installed ## Build the docs site (mkdocs build --strict) into site/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Each source's card, rendered from tests/fixtures/ with the shipped cards.json; a unit test fails when it is stale.
docs-cards: $(VENV)/.installed ## Write docs/figures/cards.md: each provider's payload beside its card
	$(BIN)/python tests/tools/cards_figure.py

# The browser tests take the console's pictures when CONSOLE_SCREENSHOTS names a folder; make test doesn't.
docs-screenshots: $(VENV)/.installed ## Write docs/figures/console.png and card-*.png with headless Chromium
	CONSOLE_SCREENSHOTS=docs/figures $(BIN)/python -m pytest tests/browser -p no:logging -q

docs-serve: $(VENV)/.installed ## Serve the docs site with live reload on 127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# `sam local invoke` without Docker: the template's handler and environment, in-process, against the local stack.
FUNCTION ?= IngestFunction
EVENT ?= events/ingest-delivered.json
invoke: $(VENV)/.installed ## make invoke FUNCTION=IngestFunction EVENT=events/<file>.json
	$(BIN)/python -m local.invoke $(FUNCTION) $(EVENT)

build: $(TOOLS)/.installed ## sam build (no container; needs python3.13 on PATH)
	PATH="$(dir $(PYTHON)):$$PATH" $(TOOLS)/bin/sam build

# Measurements, not tests: prints a table and writes bench/results/<UTC time>.json; a full run also writes
# docs/figures/bench.md (ARGS=--no-docs keeps it). ARGS=--quick for a smoke run.
bench: $(VENV)/.installed ## Benchmark cold start, warm latency, I/O and cost against a minimal baseline
	$(BIN)/python -m bench $(ARGS)

# A bounded burst against the local stack while the emulated Twilio account enforces its concurrency
# limit (bench/README.md); prints the report, writes bench/results/burst-<UTC time>.json and, on a full
# run, docs/figures/burst.md and docs/figures/capacity.md. ARGS=--quick for a smoke run.
bench-burst: $(VENV)/.installed ## Burst: 1,500 signed events in 60 s at 10x an emulated Twilio limit (under 5 min)
	$(BIN)/python -m bench.burst $(ARGS)

clean: ## Remove virtualenvs and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam .mypy_cache .ruff_cache .hypothesis site
