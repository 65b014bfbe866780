"""The EventBridge destination: every processed delivery that matches ``EVENT_BUS_FILTER``, published to
``EVENT_BUS_NAME`` so that other teams subscribe with ordinary EventBridge rules, without a Python handler.

One entry per delivery (``PutEvents``, one call): ``Source`` ``webhook-gateway.<provider>``, ``DetailType`` the event
type, ``Detail`` ``{provider, delivery_id, event_type, received_at, body}``. ``body`` is the parsed payload (a JSON
object or array; a form as a dict of strings; None for anything else). EventBridge refuses an entry of 256 KB or
more, counted as the UTF-8 bytes of ``Source`` + ``DetailType`` + ``Detail`` (+ 14 for ``Time``, + each resource;
"Calculating PutEvents event entry size" in the EventBridge user guide): such a delivery is published with
``body`` None, ``body_omitted`` True, its ``body_sha256``/``body_size`` and ``archive``, where the archive keeps the
exact bytes (the ledger table's ``<provider>#archive`` item or the archive bucket's object; None when the stack keeps
no archive).

Publishing is part of processing (processor.py): after the handler, before the ledger's completion, which records
``published_at``. A failed call, or an entry EventBridge refused (``FailedEntryCount`` / the entry's ``ErrorCode``),
fails the delivery through the retry schedule; the failure write records ``handler_succeeded`` so that the retry
publishes without running the handler again. The one window for a double publication: the consumer dies (or the
ledger write fails) after ``PutEvents`` succeeded and before the completion is recorded; the retry publishes again.
Consumers of the bus dedupe by ``detail.delivery_id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from webhook_gateway.consumer.ledger import iso_utc

if TYPE_CHECKING:
    from webhook_gateway.consumer.events import WebhookEvent

SOURCE_PREFIX = "webhook-gateway."
# PutEvents refuses an entry of this size or more (EventBridge quotas: 256 KB).
ENTRY_MAX_BYTES = 262_144
WILDCARD = "*"


class PublishFailed(Exception):
    """PutEvents failed, or EventBridge refused the entry. The message has the error code, never the payload."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which deliveries are published: ``provider:pattern`` terms (patterns as the registry's: exact,
    ``prefix.*``, ``*``; the provider may be ``*``); no term publishes everything."""

    terms: tuple[tuple[str, str], ...] = ()

    def matches(self, provider: str, event_type: str) -> bool:
        if not self.terms:
            return True
        return any(_match(p, provider) and _match(pattern, event_type) for p, pattern in self.terms)


def _match(pattern: str, value: str) -> bool:
    if pattern == WILDCARD:
        return True
    if pattern.endswith(WILDCARD):
        return value.startswith(pattern[:-1])
    return value == pattern


def parse_filter(text: str) -> EventFilter:
    """``"stripe:payment_intent.*,github:*"`` -> an :class:`EventFilter`; ``""`` -> everything. A term without ``:``
    names a provider (all its event types). Raises ValueError for an empty term or a wildcard not at the end."""
    terms: list[tuple[str, str]] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term and not text.strip():
            continue
        provider, _, pattern = term.partition(":")
        provider, pattern = provider.strip(), (pattern.strip() or WILDCARD)
        if not provider:
            raise ValueError(f"empty provider in EVENT_BUS_FILTER term {term!r}")
        for part in (provider, pattern):
            if WILDCARD in part[:-1]:
                raise ValueError(f"only a trailing '*' is supported in EVENT_BUS_FILTER: {term!r}")
        terms.append((provider, pattern))
    return EventFilter(tuple(terms))


def build_entry(event: WebhookEvent, *, bus: str, archive: Mapping[str, Any] | None) -> dict[str, Any]:
    """The PutEvents entry for ``event``; the body replaced by a pointer when the entry would be too large."""
    source, detail_type = SOURCE_PREFIX + event.provider, event.event_type
    detail: dict[str, Any] = {
        "provider": event.provider,
        "delivery_id": event.delivery_id,
        "event_type": event.event_type,
        "received_at": iso_utc(event.received_at.timestamp()),
        "body": event.body,
    }
    text = _json(detail)
    if entry_size(source, detail_type, text) >= ENTRY_MAX_BYTES:
        detail.update(
            body=None,
            body_omitted=True,
            body_sha256=event.body_sha256,
            body_size=event.body_size,
            archive=dict(archive) if archive is not None else None,
        )
        text = _json(detail)
    return {"Source": source, "DetailType": detail_type, "Detail": text, "EventBusName": bus}


def entry_size(source: str, detail_type: str, detail: str) -> int:
    """EventBridge's size of an entry without ``Time`` or ``Resources``: the UTF-8 bytes of the three strings."""
    return len(source.encode("utf-8")) + len(detail_type.encode("utf-8")) + len(detail.encode("utf-8"))


def publish(entry: Mapping[str, Any], *, client: Any = None) -> str:
    """One PutEvents call for one entry; returns the EventBridge event id. Raises :class:`PublishFailed` when the
    call fails or the entry is refused (a partial failure: ``FailedEntryCount`` 1, the entry's ``ErrorCode``)."""
    try:
        response = (client or default_client()).put_events(Entries=[dict(entry)])
    except Exception as error:
        code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code") or type(error).__name__
        raise PublishFailed(f"PutEvents failed: {code}") from None
    results = response.get("Entries") or [{}]
    if response.get("FailedEntryCount") or results[0].get("ErrorCode") or not results[0].get("EventId"):
        code = results[0].get("ErrorCode") or "no EventId"
        raise PublishFailed(f"EventBridge refused the entry: {code}")
    return str(results[0]["EventId"])


def _json(detail: Mapping[str, Any]) -> str:
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


@cache
def default_client() -> Any:
    """EventBridge's client, created on first use and reused by the execution environment."""
    import boto3
    from botocore.config import Config

    return boto3.client("events", config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2))
