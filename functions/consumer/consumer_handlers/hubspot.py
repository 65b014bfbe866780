"""HubSpot handlers (example: they log which record changed, never property values at INFO).

Each event of HubSpot's batch request is its own delivery: ``event.body`` is that one event (a JSON object),
``event_type`` its ``subscriptionType`` and ``event.delivery_id``
``<portalId>:<subscriptionId>:<eventId>:<occurredAt>``.
HubSpot was already answered (a 202) when these run; a retried batch reaches them once per event.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


@on("hubspot", "contact.creation")
def contact_created(event: WebhookEvent) -> None:
    body = _body(event)
    logger.info("hubspot contact created", extra={"portal": body.get("portalId"), "contact": body.get("objectId")})


@on("hubspot", "contact.propertyChange")
def contact_property_changed(event: WebhookEvent) -> None:
    body = _body(event)
    logger.info(
        "hubspot contact property changed",
        extra={"portal": body.get("portalId"), "contact": body.get("objectId"), "property": body.get("propertyName")},
    )
