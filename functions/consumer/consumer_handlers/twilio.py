"""Twilio handlers (example: they log what they got, never the message text or phone numbers at INFO).

Twilio posts form-encoded bodies: ``event.body`` maps each field to a ``str`` (or a ``list[str]`` if repeated).
One wildcard handler takes every Twilio event type.
"""

from __future__ import annotations

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


@on("twilio", "*")
def any_twilio_event(event: WebhookEvent) -> None:
    form = event.body if isinstance(event.body, dict) else {}
    logger.info(
        "twilio callback",
        extra={
            "twilio_event": event.event_type,
            "message_sid": form.get("MessageSid") or form.get("SmsSid"),
            "call_sid": form.get("CallSid"),
            "message_status": form.get("MessageStatus") or form.get("SmsStatus"),
        },
    )
