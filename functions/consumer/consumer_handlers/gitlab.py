"""GitLab handlers (example: they log what they got, never the payload at INFO).

``event_type`` is the ``X-Gitlab-Event`` header (``Push Hook``, ``Merge Request Hook``, ``Pipeline Hook``);
``event.body`` is the JSON, whose ``object_kind`` agrees with it.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


def _project(event: WebhookEvent) -> str:
    return str((_body(event).get("project") or {}).get("path_with_namespace") or "")


@on("gitlab", "Push Hook")
def push(event: WebhookEvent) -> None:
    body = _body(event)
    logger.info(
        "gitlab push",
        extra={"project": _project(event), "ref": body.get("ref"), "commits": body.get("total_commits_count")},
    )


@on("gitlab", "Merge Request Hook")
def merge_request(event: WebhookEvent) -> None:
    attributes = _body(event).get("object_attributes") or {}
    logger.info(
        "gitlab merge request",
        extra={"project": _project(event), "iid": attributes.get("iid"), "action": attributes.get("action")},
    )
