# Benchmarks: not tests (never run by `make test`). Each prints a table with ratios against a baseline measured in
# the same run and exits 0 (receiver_aws_calls exits 1 when a warm request makes anything but exactly one AWS call).
# Run them alone, without -j: they time things, and 2 cores are easily disturbed. Results: docs/performance.md.
#
#   make bench-receiver RECEIVER_COLD_START_ARGS="--runs 31 --build-dir /tmp/receiver-cold-start"
#
# --build-dir keeps the cold-start layer build (and reuses its pip installs next time); the default is a temp dir.
RECEIVER_WARM_PATH_ARGS ?=
RECEIVER_COLD_START_ARGS ?=

.PHONY: bench-receiver bench-receiver-calls bench-receiver-warm bench-receiver-cold

bench:: bench-receiver  ## Run every benchmark (receiver; other components add theirs with `bench::`)

bench-receiver: $(STAMP)  ## Receiver benchmarks: AWS calls per request, warm path vs floor, cold start vs boto3
	$(PY) -m bench.receiver_aws_calls
	$(PY) -m bench.receiver_warm_path $(RECEIVER_WARM_PATH_ARGS)
	$(PY) -m bench.receiver_cold_start $(RECEIVER_COLD_START_ARGS)

bench-receiver-calls: $(STAMP)  ## Receiver: AWS API calls per request (moto, botocore hooks); fails unless warm = 1
	$(PY) -m bench.receiver_aws_calls

bench-receiver-warm: $(STAMP)  ## Receiver: warm handler time for 1 KiB/64 KiB/1 MiB bodies vs HMAC+json floor
	$(PY) -m bench.receiver_warm_path $(RECEIVER_WARM_PATH_ARGS)

bench-receiver-cold: $(STAMP)  ## Receiver: cold start (python3.13 process, moto server) vs boto3-only process
	$(PY) -m bench.receiver_cold_start $(RECEIVER_COLD_START_ARGS)

# Cost model: pure arithmetic from the price table and the measured inputs in bench/cost.py (no AWS call), and the
# in-process measurement of those inputs (log bytes, SQS message size, CPU per delivery). Results: docs/cost.md.
COST_ARGS ?=

.PHONY: bench-cost bench-cost-inputs

bench:: bench-cost

bench-cost: $(STAMP)  ## Cost per million deliveries with/without the archive, S3/DynamoDB break-even (docs/cost.md)
	$(PY) -m bench.cost $(COST_ARGS)

bench-cost-inputs: $(STAMP)  ## Measure the cost model's inputs: log bytes, SQS message bytes, CPU per delivery
	$(PY) -m bench.cost_inputs
