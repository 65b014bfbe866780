"""Square event handlers (example: they log what they got, never the payload at INFO).

``event_type`` is the event's ``type`` (``payment.updated``); ``event.body`` is the event, whose ``data.object``
holds the resource under its kind (``{"payment": {...}}``). ``event.delivery_id`` is the ``event_id``: use it as the
idempotency key of any side effect.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _data(event: WebhookEvent) -> dict[str, Any]:
    body = event.body if isinstance(event.body, dict) else {}
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _resource(event: WebhookEvent, kind: str) -> dict[str, Any]:
    found = (_data(event).get("object") or {}).get(kind)
    return found if isinstance(found, dict) else {}


@on("square", "payment.updated")
def payment_updated(event: WebhookEvent) -> None:
    payment = _resource(event, "payment")
    logger.info("square payment updated", extra={"payment": payment.get("id"), "payment_status": payment.get("status")})


@on("square", "order.created")
def order_created(event: WebhookEvent) -> None:
    order = _resource(event, "order_created")
    logger.info("square order created", extra={"order": order.get("order_id"), "order_state": order.get("state")})
