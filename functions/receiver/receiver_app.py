"""Receiver Lambda: one handler for every provider, told which one by the PROVIDER variable (see template.yaml).

One handler instead of one per provider: the flow is identical and only the verifier differs, so adding a provider
needs no handler code, and each provider still runs as its own function with its own secret, IAM role and metrics.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

# pydantic looks for plugins in the entry points of every distribution on sys.path when it builds its first model:
# ~0.1 ms per distribution, 2.6 ms of the cold start with the benchmark's layer tree (docs/performance.md). The gateway
# ships no pydantic plugin. An explicit PYDANTIC_DISABLE_PLUGINS (even empty) wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from webhook_gateway.observability import logger, metrics
from webhook_gateway.receiver import Receiver, build_receiver
from webhook_gateway.settings import ReceiverSettings, SettingsError

if TYPE_CHECKING:  # an annotation only: not imported at run time
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def receiver() -> Receiver:
    """Settings validated and clients wired once per cold start."""
    return build_receiver(ReceiverSettings.from_env(os.environ))


def initialise() -> None:
    """In Lambda, validate the settings during init: a bad variable (a typo in an allowlist) fails the init with one
    error naming it, instead of a 500 with a traceback on every request. Only the Lambda runtime (and `sam local`,
    which runs it) sets AWS_LAMBDA_RUNTIME_API; tests, benchmarks and the local runner import this module in their
    own environments and wire the receiver on first use."""
    if not os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        return
    try:
        receiver()
    except SettingsError as error:
        logger.error("receiver cannot start: invalid settings", extra={"error": str(error)})
        raise


initialise()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receiver().handle(event)
