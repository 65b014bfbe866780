# `sam local invoke` of every sample event in Docker (needs a Docker engine: ../shared/tools/lambda-image.sh up here).
.PHONY: sam-local

sam-local: $(STAMP) $(TOOLS_STAMP)  ## Build an x86_64 copy and sam-local-invoke every events/ file, checking statuses
	$(PY) -m tools.sam_local_check --sam $(SAM)
