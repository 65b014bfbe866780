"""Standard Webhooks handlers (example). Register per instance: an OpenAI instance's deliveries carry the provider name
``openai``, so its handlers are ``@on("openai", "response.completed")``; the ``standard_webhooks`` instance of the
default template is this one. ``event_type`` is the body's ``type``.
"""

from __future__ import annotations

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


@on("standard_webhooks")
def any_event(event: WebhookEvent) -> None:
    logger.info("standard webhooks event", extra={"event_type": event.event_type, "webhook_id": event.delivery_id})
