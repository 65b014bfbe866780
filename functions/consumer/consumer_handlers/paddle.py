"""Paddle Billing handlers (example: they log what they got, never the payload at INFO).

``event_type`` is the notification's ``event_type`` (``transaction.completed``); ``event.delivery_id`` is its
``event_id``, the same for a retry and for a replay from Paddle (which only changes ``notification_id``), so a handler
runs once per event. Paddle may deliver events out of order: compare ``occurred_at`` (in the body) before
overwriting newer state with older.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


def _entity(event: WebhookEvent) -> dict[str, Any]:
    data = _body(event).get("data")
    return data if isinstance(data, dict) else {}


@on("paddle", "transaction.completed")
def transaction_completed(event: WebhookEvent) -> None:
    body = _body(event)
    logger.info(
        "paddle transaction completed",
        extra={
            "transaction": _entity(event).get("id"),
            "notification_id": body.get("notification_id"),
            "occurred_at": body.get("occurred_at"),
        },
    )


@on("paddle", "subscription.*")
def subscription_changed(event: WebhookEvent) -> None:
    entity = _entity(event)
    logger.info(
        "paddle subscription changed",
        extra={
            "subscription": entity.get("id"),
            "subscription_status": entity.get("status"),
            "occurred_at": _body(event).get("occurred_at"),
        },
    )
