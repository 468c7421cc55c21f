# The front door. `make demo` and `make test` install what they need by themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
STAMP := $(VENV)/.installed
TOOLS_STAMP := $(TOOLS)/.installed
NODE_STAMP := node_modules/.package-lock.json
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)
# Python 3.12 for `sam build` (the Lambda runtime); pyenv keeps one on the dev machines.
PY312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do "$$p" -c 'import sys; print(sys.executable)' 2>/dev/null && break; done)

.PHONY: help install tools demo serve redrive test unit functional integration lint typecheck cfn-lint build clean fuzz bench chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) $(NODE_STAMP) ## create .venv and node_modules and install everything (idempotent)

# dynalite (tests only: a DynamoDB server whose conditional writes are atomic under concurrency).
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; else echo "npm not found: the dynalite concurrency test will be skipped"; fi

$(STAMP): requirements/dev.txt layers/shared/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $@

tools: $(TOOLS_STAMP) ## SAM CLI in its own environment (it pins its own boto3)

$(TOOLS_STAMP): requirements/tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet -r requirements/tools.txt
	touch $@

demo: install ## run the demo scenario on the local stack; writes out/demo-summary.json
	$(BIN)/python -m local.demo

serve: install ## run the local stack (API on 127.0.0.1:3000) until interrupted
	$(BIN)/python -m local.serve

redrive: install ## move DLQ messages back to their source: make redrive ARGS="--platform douyin --error-code PAY_PARSE_ERR [--dry-run] [--api-url URL]" or ARGS="--queue SettlementDLQ [--order-id ID]"
	$(BIN)/python -m local.redrive $(ARGS)

test: install tools ## lint, template checks and every test suite
	$(MAKE) --no-print-directory lint cfn-lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

unit: install
	$(BIN)/python -m pytest -q tests/unit

functional: install
	$(BIN)/python -m pytest -q tests/functional

integration: install
	$(BIN)/python -m pytest -q tests/integration

lint: install ## ruff, mypy (strict on oms.domain), import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/oms functions local bench
	$(BIN)/lint-imports --no-cache

# checkov pins a boto3 the SAM CLI cannot share: its own venv, inside .venv-tools.
CHECKOV := $(TOOLS)/checkov
CHECKOV_STAMP := $(CHECKOV)/.installed

cfn-lint: install tools $(CHECKOV_STAMP) ## sam validate --lint, cfn-lint with cfn_rules/, checkov; offline
	$(BIN)/cfn-lint --append-rules cfn_rules -- template.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

$(CHECKOV_STAMP): requirements/checkov.txt
	test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

fuzz: install ## long fuzz run of every platform adapter (FUZZ_EXAMPLES per test, default 10000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-10000} $(BIN)/python -m pytest -q -n 2 --dist loadfile -p no:cacheprovider tests/fuzz

bench: install ## cold start, AWS calls and CPU per event, cost per 1,000 orders (docs/benchmarks.md)
	$(BIN)/python -m bench

chaos: install ## chaos replay through the local stack (CHAOS_EVENTS, default 20000; docs/operations.md)
	$(BIN)/python -m local.chaos --events $${CHAOS_EVENTS:-20000}

build: tools ## sam build for python3.12/arm64 (see docs/operations.md)
	@test -n "$(PY312)" || { echo "python3.12 is needed for sam build (pyenv install 3.12)"; exit 1; }
	PATH="$$(dirname $(PY312)):$$PATH" $(TOOLS)/bin/sam build --template template.yaml

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache .hypothesis
