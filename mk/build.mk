# Lint and build: tools live in .tools-venv, never in .venv (the test venv).
# aws-sam-cli and checkov pin incompatible boto3 versions, so each gets its own venv under .tools-venv/.
TOOLS_PYTHON ?= $(PYTHON)
TOOLS_DIR ?= .tools-venv
SAM_VENV := $(TOOLS_DIR)/sam
CHECKOV_VENV := $(TOOLS_DIR)/checkov
SAM := $(SAM_VENV)/bin/sam
CFN_LINT := $(SAM_VENV)/bin/cfn-lint
CHECKOV := $(CHECKOV_VENV)/bin/checkov
AWS_SAM_CLI_VERSION ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
# Same cfn-lint as requirements-dev.txt, so `make lint` and the contract tests agree.
CFN_LINT_VERSION ?= 1.58.0
TOOLS_STAMP := $(TOOLS_DIR)/.installed-sam$(AWS_SAM_CLI_VERSION)-checkov$(CHECKOV_VERSION)-cfnlint$(CFN_LINT_VERSION)
TEMPLATE ?= template.yaml

# sam build looks for `python3.13` on PATH (the functions' runtime). With pyenv, that shim only works when 3.13 is
# selected, so put the real interpreter's directory first on sam's PATH when plain `python3.13` does not run.
PY313_BIN = $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
SAM_ENV = SAM_CLI_TELEMETRY=0 $(if $(PY313_BIN),PATH="$(dir $(PY313_BIN)):$$PATH")

.PHONY: tools lint lint-python lint-template build

$(TOOLS_STAMP):
	rm -rf $(TOOLS_DIR)/.installed-*
	test -x $(SAM_VENV)/bin/python || $(TOOLS_PYTHON) -m venv $(SAM_VENV)
	test -x $(CHECKOV_VENV)/bin/python || $(TOOLS_PYTHON) -m venv $(CHECKOV_VENV)
	$(SAM_VENV)/bin/python -m pip --disable-pip-version-check -q install \
		aws-sam-cli==$(AWS_SAM_CLI_VERSION) cfn-lint==$(CFN_LINT_VERSION)
	$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(TOOLS_STAMP)  ## Install sam, cfn-lint and checkov into .tools-venv (kept apart from .venv)

lint: lint-python lint-template  ## Every static check: ruff and mypy on the code, sam/cfn-lint/checkov on the template

# ruff and mypy run from .venv (pinned in requirements-dev.txt), where mypy sees the real dependencies' types.
# Rules and the checked paths: [tool.ruff] and [tool.mypy] in pyproject.toml.
lint-python: $(STAMP)  ## ruff (E, F, W, B, I, UP, SIM, C90) over all Python, mypy over the layer, handlers and CLI
	$(PY) -m ruff check .
	$(PY) -m mypy

# checkov does not expand Fn::ForEach (it would scan nothing inside the Receivers loop): it scans the expanded copy,
# and cfn-lint checks both. See docs/template.md.
EXPANDED_TEMPLATE := .aws-sam/expanded-template.json

lint-template: $(TOOLS_STAMP) $(STAMP)  ## Lint template.yaml: sam validate --lint, cfn-lint, checkov (offline, zero failures)
	$(SAM_ENV) $(SAM) validate --lint --template-file $(TEMPLATE)
	$(CFN_LINT) $(TEMPLATE)
	$(PY) -m tools.expand_template $(TEMPLATE) --out $(EXPANDED_TEMPLATE)
	$(CFN_LINT) $(EXPANDED_TEMPLATE)
	BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
		$(CHECKOV) --quiet --compact --framework cloudformation --file $(EXPANDED_TEMPLATE) --skip-download

build: $(TOOLS_STAMP)  ## sam build (no container): layer via layers/gateway/Makefile, arm64 wheels, precompiled .pyc
	$(SAM_ENV) $(SAM) build --language-extensions --template-file $(TEMPLATE)
