# Everything a developer or CI runs. `make test` installs what it needs from scratch (venv + pinned dependencies).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed

.PHONY: help install test events lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements-dev.txt constraints.txt layers/gateway/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	$(PIP) install --no-deps -e .
	touch $@

install: $(STAMP)  ## Create .venv with the pinned dependencies

# Test files are spread over TEST_WORKERS processes (pytest-xdist; a file's tests stay in one process, so its
# module-scoped servers start once). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= auto
test: $(STAMP)  ## Run every test suite (unit, integration, contract, e2e)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

events: $(STAMP)  ## Re-sign the sample events in events/ (Stripe's carry a timestamp: re-sign before sam local invoke)
	$(PY) -m tools.make_events

lock:  ## Re-resolve requirements-dev.txt in a scratch venv and write the full lock to constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip --disable-pip-version-check -q install -r requirements-dev.txt
	{ head -n 2 constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

clean:  ## Remove build output and virtualenvs
	rm -rf .aws-sam .pytest_cache .hypothesis $(VENV) .tools-venv

# Topic-specific targets (lint and build, local runs, benchmarks) live in mk/*.mk.
include $(wildcard mk/*.mk)
