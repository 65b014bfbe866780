"""Meta handlers (example: they log what they got, never message text or phone numbers at INFO).

``event_type`` is ``<object>.<field>`` (``whatsapp_business_account.messages``, ``page.feed``,
``instagram.comments``, ``page.messaging``), ``<object>.mixed`` for a batch mixing fields; one delivery can batch
several ``entry[]`` and ``changes[]``, so a handler walks all of them. The delivery id is the hash of the body: make
side effects idempotent per item too (a WhatsApp message's ``id``, a status's ``id`` with its ``status``), since
nothing promises that a retry batches the same items. The GET verification never reaches the consumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def changes(event: WebhookEvent, field: str) -> Iterator[dict[str, Any]]:
    """Every ``changes[].value`` of the given field, across every entry of the batch."""
    body = event.body if isinstance(event.body, dict) else {}
    for entry in body.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if isinstance(change, dict) and change.get("field") == field and isinstance(change.get("value"), dict):
                yield change["value"]


@on("meta", "whatsapp_business_account.messages")
def whatsapp_messages(event: WebhookEvent) -> None:
    for value in changes(event, "messages"):
        phone_number_id = (value.get("metadata") or {}).get("phone_number_id")
        for message in value.get("messages") or []:
            logger.info(
                "whatsapp message",
                extra={
                    "phone_number_id": phone_number_id,
                    "message_id": message.get("id"),
                    "type": message.get("type"),
                },
            )
        for status in value.get("statuses") or []:
            logger.info(
                "whatsapp status",
                extra={
                    "phone_number_id": phone_number_id,
                    "message_id": status.get("id"),
                    "status": status.get("status"),
                },
            )
