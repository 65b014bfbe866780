# The whole pipeline on this machine, no AWS account and no Docker (docs/local.md). Both install first on a fresh
# clone ($(STAMP): .venv with the pinned dependencies, hookctl installed in it).
#
#   make dev DEV_ARGS="--parameter-overrides LogLevel=DEBUG"    # Ctrl-C stops it
#   make demo                                                  # starts, sends every sample, prints a summary, stops
DEV_ARGS ?=
DEMO_ARGS ?=
RELIABILITY_ARGS ?=

.PHONY: dev demo bench-reliability

dev: $(STAMP)  ## Run the pipeline locally: moto endpoint (:5000), HTTP API (:3000), consumer; Ctrl-C stops it
	$(PY) -m hookctl dev $(DEV_ARGS)

demo: $(STAMP)  ## Start the local pipeline, send every sample (+ duplicates, forged), print a summary, stop
	$(PY) -m hookctl demo $(DEMO_ARGS)

bench:: bench-reliability

bench-reliability: $(STAMP)  ## 20,000 deliveries through the local pipeline with faults: nothing lost (docs/reliability.md)
	$(PY) -m bench.e2e_reliability $(RELIABILITY_ARGS)
