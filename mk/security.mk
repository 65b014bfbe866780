# Dependency audit: pip-audit (pinned, in its own venv under .tools-venv) over the locked dependencies.
#
#   make audit                                   # fails on a known vulnerability, and when some pin cannot be audited
#   make audit AUDIT_ARGS=--allow-unaudited      # what .ci/run does: unaudited pins are a loud warning, not a failure
#
# Audited: constraints.txt (the dev venv's full lock; while it pins nothing, the installed .venv stands in for it)
# and layers/gateway/requirements.txt resolved for the Lambda platform (the layer's transitive dependencies).
# pip-audit queries PyPI's per-release JSON API; where only a mirror answers, tools/audit_deps.py falls back to the
# project JSON (vulnerabilities of the latest release) and reports every pin it could not audit. See SECURITY.md.
PIP_AUDIT_VERSION ?= 2.10.1
AUDIT_VENV = $(or $(TOOLS_DIR),.tools-venv)/audit
AUDIT_STAMP = $(AUDIT_VENV)/.installed-pip-audit$(PIP_AUDIT_VERSION)
AUDIT_ARGS ?=

.PHONY: audit

$(AUDIT_STAMP):
	rm -f $(AUDIT_VENV)/.installed-*
	test -x $(AUDIT_VENV)/bin/python || $(or $(TOOLS_PYTHON),$(PYTHON)) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip --disable-pip-version-check -q install pip-audit==$(PIP_AUDIT_VERSION)
	touch $@

tools: $(AUDIT_STAMP)

audit: $(AUDIT_STAMP) $(STAMP)  ## pip-audit the locked dependencies (constraints.txt, the layer's pins resolved for Lambda)
	$(AUDIT_VENV)/bin/python tools/audit_deps.py --pip-audit $(AUDIT_VENV)/bin/pip-audit \
		--locked constraints.txt --freeze-python $(PY) \
		--resolve layers/gateway/requirements.txt --resolve functions/reconciler/requirements.txt $(AUDIT_ARGS)
