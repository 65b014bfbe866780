"""Zoom handlers (example: they log what they got, never the meeting topic or participants at INFO).

``event_type`` is the body's ``event`` (``meeting.started``); Zoom was already answered 200 when these run. Zoom
names no delivery, so ``event.delivery_id`` is ``sha256:<hash of the body>``: the same on Zoom's retries (+5, +20,
+60 min), another for every other event. The ``endpoint.url_validation`` challenge never reaches the consumer.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _meeting(event: WebhookEvent) -> dict[str, Any]:
    body = event.body if isinstance(event.body, dict) else {}
    payload = body.get("payload")
    meeting = payload.get("object") if isinstance(payload, dict) else None
    return meeting if isinstance(meeting, dict) else {}


@on("zoom", "meeting.*")
def meeting_event(event: WebhookEvent) -> None:
    logger.info("zoom meeting event", extra={"event": event.event_type, "meeting": _meeting(event).get("id")})
