"""Stripe event handlers (example: they log what they got, never the payload at INFO).

``event_type`` is the Stripe event's ``type``; ``event.body`` is the Event object (``data.object`` is the resource).
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _resource(event: WebhookEvent) -> dict[str, Any]:
    body = event.body if isinstance(event.body, dict) else {}
    return (body.get("data") or {}).get("object") or {}


@on("stripe", "payment_intent.succeeded")
def payment_intent_succeeded(event: WebhookEvent) -> None:
    intent = _resource(event)
    logger.info("stripe payment succeeded", extra={"payment_intent": intent.get("id")})


@on("stripe", "payment_intent.payment_failed")
def payment_intent_failed(event: WebhookEvent) -> None:
    intent = _resource(event)
    error_code = (intent.get("last_payment_error") or {}).get("code")
    logger.info("stripe payment failed", extra={"payment_intent": intent.get("id"), "error_code": error_code})


@on("stripe", "customer.subscription.*")
def subscription_changed(event: WebhookEvent) -> None:
    subscription = _resource(event)
    logger.info(
        "stripe subscription changed",
        extra={"subscription": subscription.get("id"), "subscription_status": subscription.get("status")},
    )
