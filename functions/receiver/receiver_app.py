"""Receiver Lambda: one handler for every provider, told which one by the PROVIDER variable (see template.yaml).

One handler instead of one per provider: the flow is identical and only the verifier differs, so adding a provider
needs no handler code, and each provider still runs as its own function with its own secret, IAM role and metrics.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from webhook_gateway.observability import logger, metrics
from webhook_gateway.receiver import Receiver, build_receiver
from webhook_gateway.settings import ReceiverSettings


@cache
def receiver() -> Receiver:
    """Settings validated and clients wired once per cold start."""
    return build_receiver(ReceiverSettings.from_env(os.environ))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receiver().handle(event)
