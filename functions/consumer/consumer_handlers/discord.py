"""Discord interaction handlers (example: they log what they got, never the interaction token or user input).

The receiver already answered Discord with a deferral (``{"type": 5}`` for commands and modals, ``{"type": 6}`` for
components), so the reply is a follow-up through the interaction webhook, within the token's 15 minutes:
``PATCH https://discord.com/api/v10/webhooks/{application_id}/{token}/messages/@original`` with the message JSON
(no bot token needed: the interaction token is the credential). ``event_type`` is ``application_command.<name>``,
``message_component``, ``autocomplete`` or ``modal_submit`` (docs/providers/discord.md).
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """What is safe to log: ids, and whether a token came (the token itself is a credential)."""
    return {
        "application": body.get("application_id"),
        "guild": body.get("guild_id"),
        "channel": body.get("channel_id"),
        "has_token": bool(body.get("token")),
    }


@on("discord", "application_command.*")  # every command; "application_command.deploy" would take one
def application_command(event: WebhookEvent) -> None:
    body = _body(event)
    data = _data(body)
    logger.info("discord command", extra={"command": data.get("name"), **_summary(body)})


@on("discord", "message_component")
def message_component(event: WebhookEvent) -> None:
    body = _body(event)
    data = _data(body)
    logger.info("discord component", extra={"component_type": data.get("component_type"), **_summary(body)})
