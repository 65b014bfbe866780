"""Slack handlers (example: they log what they got, never the message text at INFO).

``event_type`` is the Events API inner ``event.type`` (``app_mention``), ``slash_command`` or
``interactivity.<type>``; Slack was already answered (an empty 200) when these run, so a slash command's reply goes to
its ``response_url``.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


@on("slack", "app_mention")
def app_mention(event: WebhookEvent) -> None:
    inner = _body(event).get("event") or {}
    logger.info("slack mention", extra={"team": _body(event).get("team_id"), "channel": inner.get("channel")})


@on("slack", "slash_command")
def slash_command(event: WebhookEvent) -> None:
    body = _body(event)
    logger.info("slack command", extra={"command": body.get("command"), "team": body.get("team_id")})
