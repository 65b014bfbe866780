"""GitHub event handlers (example: they log what they got, never the payload at INFO).

``event_type`` is the X-GitHub-Event header's value (``push``, ``pull_request``, ...); ``event.body`` is the JSON.
"""

from __future__ import annotations

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _repository(event: WebhookEvent) -> str:
    body = event.body if isinstance(event.body, dict) else {}
    return str((body.get("repository") or {}).get("full_name") or "")


@on("github", "ping")
def ping(event: WebhookEvent) -> None:
    body = event.body if isinstance(event.body, dict) else {}
    logger.info("github ping", extra={"hook_id": body.get("hook_id"), "repository": _repository(event)})


@on("github", "push")
def push(event: WebhookEvent) -> None:
    body = event.body if isinstance(event.body, dict) else {}
    logger.info(
        "github push",
        extra={"repository": _repository(event), "ref": body.get("ref"), "commits": len(body.get("commits") or [])},
    )


@on("github", "pull_request")
@on("github", "pull_request.*")
def pull_request(event: WebhookEvent) -> None:
    body = event.body if isinstance(event.body, dict) else {}
    number = (body.get("pull_request") or {}).get("number")
    logger.info(
        "github pull request", extra={"repository": _repository(event), "action": body.get("action"), "number": number}
    )
