"""Generic HMAC handlers (example). Each configured sender is its own instance (``acme``): register for its name,
``@on("acme", "invoice.paid")``; the default ``generic_hmac`` instance's event type is its ``event_type`` option
(``webhook`` by default).
"""

from __future__ import annotations

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


@on("generic_hmac")
def any_event(event: WebhookEvent) -> None:
    logger.info("generic hmac delivery", extra={"event_type": event.event_type, "body_size": event.body_size})
