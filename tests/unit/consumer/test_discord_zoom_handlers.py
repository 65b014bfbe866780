"""The example Discord and Zoom handlers (functions/consumer/consumer_handlers/discord.py, zoom.py): they are
registered for the event types their verifiers give, and log ids, never the interaction token or user input."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from consumer_handlers import discord as discord_handlers
from consumer_handlers import zoom as zoom_handlers
from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import default_registry
from webhook_gateway.observability import logger

TOKEN = "aW50ZXJhY3Rpb246MTE3NTkyODM5OTQxMTAxOTgzNzpzZWNyZXQtdG9rZW4tdmFsdWU"


def event(provider: str, event_type: str, body: dict[str, Any]) -> WebhookEvent:
    raw = json.dumps(body).encode()
    return WebhookEvent(
        provider=provider,
        delivery_id="1175928399411019837",
        event_type=event_type,
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        body_sha256=hashlib.sha256(raw).hexdigest(),
        body_size=len(raw),
        body=body,
        raw=raw,
    )


def rendered(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]


def test_the_discord_handlers_are_found_for_the_verifiers_event_types():
    assert default_registry.resolve("discord", "application_command.deploy") is discord_handlers.application_command
    assert default_registry.resolve("discord", "application_command.status") is discord_handlers.application_command
    assert default_registry.resolve("discord", "message_component") is discord_handlers.message_component
    assert default_registry.resolve("zoom", "meeting.started") is zoom_handlers.meeting_event


def test_the_command_handler_logs_the_command_and_that_a_token_came_never_the_token(caplog):
    # Given a slash command with its interaction token and user input
    body = {"application_id": "1187402634514382919", "guild_id": "1187403130268561489", "token": TOKEN,
            "data": {"name": "deploy", "options": [{"name": "service", "value": "private-input"}]}}  # fmt: skip
    caplog.set_level(logging.INFO)
    # When the handler runs
    discord_handlers.application_command(event("discord", "application_command.deploy", body))
    # Then one INFO line names the command and says a token came, without the token or the options
    [line] = [line for line in rendered(caplog) if line["message"] == "discord command"]
    assert (line["command"], line["has_token"], line["guild"]) == ("deploy", True, "1187403130268561489")
    text = json.dumps(rendered(caplog))
    assert TOKEN not in text and "private-input" not in text


def test_the_component_handler_and_a_body_without_a_token(caplog):
    caplog.set_level(logging.INFO)
    discord_handlers.message_component(event("discord", "message_component", {"data": {"component_type": 2}}))
    [line] = [line for line in rendered(caplog) if line["message"] == "discord component"]
    assert (line["component_type"], line["has_token"]) == (2, False)


def test_the_zoom_handler_logs_the_meeting_id_not_its_topic(caplog):
    caplog.set_level(logging.INFO)
    body = {"event": "meeting.started", "payload": {"object": {"id": "85746065432", "topic": "Secret merger talk"}}}
    zoom_handlers.meeting_event(event("zoom", "meeting.started", body))
    [line] = [line for line in rendered(caplog) if line["message"] == "zoom meeting event"]
    assert (line["event"], line["meeting"]) == ("meeting.started", "85746065432")
    assert "Secret merger talk" not in json.dumps(rendered(caplog))
