"""Reconciler Lambda (optional, on a schedule): recover events the providers still have but the gateway never
processed (docs/operations.md#recovering-missed-events). Thin: the logic is ``webhook_gateway.reconcile`` (layer),
shared with ``hookctl backfill``; settings are validated once per cold start, the AWS clients created once."""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import boto3

from webhook_gateway.observability import logger, metrics
from webhook_gateway.reconcile.scheduled import ReconcilerSettings, publish, run

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def settings() -> ReconcilerSettings:
    return ReconcilerSettings.from_env(os.environ)


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = run(
        settings(),
        secrets=client("secretsmanager"),
        dynamodb=client("dynamodb"),
        sqs=client("sqs"),
        s3=client("s3"),
    )
    publish(reports, metrics)
    summary = {f"{r.provider} {r.target}": r.counts() for r in reports}
    logger.info("reconciliation finished", extra={"reports": summary})
    return {"reports": [r.as_dict()["counts"] | {"provider": r.provider, "target": r.target} for r in reports]}
