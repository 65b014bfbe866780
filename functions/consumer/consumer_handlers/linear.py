"""Linear handlers (example: they log what they got, never the payload at INFO).

``event_type`` is ``<type>.<action>`` (``Issue.create``, ``Comment.update``); ``event.delivery_id`` is
``<webhookId>:<event type>:<data.id>:<createdAt>``, the same for each of Linear's retries. ``updatedFrom`` (in the
body) holds the previous values of an update.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


def _data(event: WebhookEvent) -> dict[str, Any]:
    data = _body(event).get("data")
    return data if isinstance(data, dict) else {}


@on("linear", "Issue.*")
def issue_changed(event: WebhookEvent) -> None:
    data = _data(event)
    updated = _body(event).get("updatedFrom")
    logger.info(
        "linear issue changed",
        extra={
            "action": _body(event).get("action"),
            "issue": data.get("identifier") or data.get("id"),
            "changed_fields": sorted(updated) if isinstance(updated, dict) else [],
        },
    )


@on("linear", "Comment.create")
def comment_created(event: WebhookEvent) -> None:
    data = _data(event)
    logger.info("linear comment created", extra={"comment": data.get("id"), "issue": data.get("issueId")})
