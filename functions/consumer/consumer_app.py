"""Consumer Lambda: SQS batch -> ledger claim -> user handler -> ledger completion (docs/consumer.md).

Thin on purpose: the logic lives in ``webhook_gateway.consumer`` (layer), business handlers in
``consumer_handlers/`` (imported below, which registers them). Settings are validated once per cold start, on the
first invocation; the AWS clients are created lazily by the layer.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

# As in receiver_app: no pydantic plugin is shipped, so skip pydantic's scan of every distribution's entry points
# (~0.1 ms per distribution on sys.path) at the first model build. An explicit PYDANTIC_DISABLE_PLUGINS wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import consumer_handlers  # noqa: F401  (registers every @on handler on the default registry)
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import default_registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.observability import logger

if TYPE_CHECKING:  # annotations only: not imported at run time
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def consumer() -> Consumer:
    return Consumer(settings=ConsumerSettings.from_env(os.environ), registry=default_registry)


# No @metrics.log_metrics: process_batch flushes one EMF document per provider itself.
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, consumer())
