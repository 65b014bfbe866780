"""Observability singletons shared by every function. Configured through POWERTOOLS_* environment variables.

Powertools' Tracer is deliberately not created here: importing the X-Ray SDK costs hundreds of milliseconds of cold
start (see docs/performance.md). The functions run with Lambda active tracing, which records invocation segments
without the SDK.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
