"""Observability singletons shared by every function. Configured through POWERTOOLS_* environment variables.

Powertools' Tracer is deliberately not created here: importing the X-Ray SDK added ~30 ms (+0.15x) to a receiver's
cold start in bench/receiver_cold_start.py (docs/performance.md), for subsegments we do not need. The functions run
with Lambda active tracing, which records each invocation's segment without the SDK.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
