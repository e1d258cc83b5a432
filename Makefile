# TALOWA Admin: developer and CI entry points. Works from a clean clone:
# every target that needs Python depends on `venv`, which builds .venv.
#
#   make run          migrate, load the demo, serve http://127.0.0.1:8000/ + worker
#   make serve        the production settings locally: gunicorn + worker
#   make test         the whole pytest suite (browser tests skip without Chromium)
#   make lint         ruff check + ruff format --check
#   make ci           what CI runs (.ci/run): SQLite, PostgreSQL, browser legs

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when a requirements file changes.
VENV_STAMP := $(VENV)/.requirements.stamp
REQUIREMENTS := requirements.txt requirements-dev.txt requirements.lock

# Extra arguments for pytest, e.g. make test PYTEST_ARGS='-k audit -x'
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv test test-browser lint format run serve ci clean

help:
	@echo "make venv          create .venv and install requirements-dev.txt (pinned by requirements.lock)"
	@echo "make test          run the test suite (PYTEST_ARGS=... to pass options)"
	@echo "make test-browser  run only the Chromium/Playwright tests (needs /usr/bin/chromium)"
	@echo "make lint          ruff check and ruff format --check"
	@echo "make format        ruff format and ruff check --fix"
	@echo "make run           migrate, set up the demo, serve on http://$(HOST):$(PORT)/ with a worker"
	@echo "make serve         TALOWA_ENV=production: gunicorn and a worker on http://$(HOST):$(PORT)/"
	@echo "make ci            run .ci/run (SQLite, PostgreSQL and browser legs)"
	@echo "make clean         remove .venv and caches (keeps var/)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "TALOWA Admin needs Python 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
	       "Run: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV_STAMP): $(REQUIREMENTS) | $(BIN)/python
	@echo "Installing requirements into $(VENV) (about a minute the first time)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	  -r requirements-dev.txt -c requirements.lock
	@touch $@

venv: $(VENV_STAMP)

test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test-browser: venv
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

# Both checks always run, so one pass shows every problem.
lint: venv
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || status=1; \
	exit $$status

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

run: venv
	@HOST=$(HOST) PORT=$(PORT) PYTHON=$(BIN)/python bash scripts/run_dev.sh

serve: venv
	@HOST=$(HOST) PORT=$(PORT) PYTHON=$(BIN)/python bash scripts/serve.sh

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
