"""The typed event a user handler receives: the envelope's fields, the parsed body and the exact raw bytes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

from webhook_gateway.envelope import Envelope
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import BodyFormat

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_DEFAULT_FORMAT = BodyFormat()


class UnparseableBody(ValueError):
    """The raw body is not in the format its content type (or provider) promises. Never carries the body."""


class WebhookEvent(BaseModel):
    """One verified delivery, as handlers see it.

    ``body`` is the parsed payload: a dict (or list) for JSON bodies, a dict of ``str`` (or ``list[str]`` when a field
    repeats) for form-encoded bodies such as Twilio's, ``None`` for anything else. ``raw`` holds the exact bytes the
    provider signed (already checked against ``body_sha256``), whether they travelled inline or through S3.
    ``attempt`` is 1 on the first try and grows with every retry of the same delivery (from the ledger).
    ``stale`` is True only on a route with ``ordered_by`` and ``deliver_stale=True``, for an event older than one
    already handed to a handler for the same object (``webhook_gateway.consumer.ordering``).
    ``source`` is ``"backfill"`` for an event the reconciler fetched from the provider's API (``hookctl backfill``):
    then ``raw`` is the API's rendering of the event, not the webhook's bytes (``Envelope.source``).
    Neither the body nor the raw bytes appear in ``repr``, so logging an event does not log the payload.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    delivery_id: str
    event_type: str
    received_at: datetime
    request_id: str = ""
    source_ip: str = ""
    secret_version: Literal["current", "previous"] = "current"
    headers: dict[str, str] = Field(default_factory=dict)
    body_sha256: str
    body_size: int
    body_location: Literal["inline", "s3"] = "inline"
    body: dict[str, Any] | list[Any] | None = Field(default=None, repr=False)
    raw: bytes = Field(default=b"", repr=False)
    message_id: str = ""
    attempt: int = 1
    stale: bool = False
    source: Literal["webhook", "backfill"] = "webhook"

    def header(self, name: str) -> str | None:
        """A forwarded request header, by case-insensitive name."""
        return self.headers.get(name.lower())


def build_event(envelope: Envelope, raw: bytes, *, message_id: str = "", attempt: int = 1) -> WebhookEvent:
    """The handler's view of ``envelope`` whose raw body is ``raw`` (inline or fetched, already verified).

    (Validating is cheap here, and measured faster than pydantic's ``model_construct`` for this model.)
    """
    return WebhookEvent(
        provider=envelope.provider,
        delivery_id=envelope.delivery_id,
        event_type=envelope.event_type,
        received_at=envelope.received_at,
        request_id=envelope.request_id,
        source_ip=envelope.source_ip,
        secret_version=envelope.secret_version,
        headers=envelope.headers,
        body_sha256=envelope.body_sha256,
        body_size=envelope.body_size,
        body_location=envelope.body_location,
        body=parse_body(raw, provider=envelope.provider_kind or envelope.provider, headers=envelope.headers),
        raw=raw,
        message_id=message_id,
        attempt=attempt,
        source=envelope.source,
    )


def parse_body(raw: bytes, *, provider: str, headers: dict[str, str]) -> dict[str, Any] | list[Any] | None:
    """Parse by content type when the receiver forwarded it, else as the provider declares (``Provider.body_format``):
    JSON object/array by shape, or form for a provider that sends forms (Twilio). ``provider`` is the kind (the
    envelope's ``provider_kind``, else its ``provider``).

    A form carrying JSON in the provider's ``form_json_field`` (GitHub's ``payload=<json>``) is unwrapped to it.
    """
    body_format = _body_format(provider)
    field = body_format.form_json_field
    content_type = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type == FORM_CONTENT_TYPE or (not content_type and body_format.untyped == "form"):
        form = parse_form(raw)
        payload = form.get(field) if field and set(form) == {field} else None
        if isinstance(payload, str):
            return _parse_json(payload.encode("utf-8"))
        return form
    if content_type.endswith("json") or raw.lstrip()[:1] in (b"{", b"["):
        return _parse_json(raw)
    if not content_type and field and raw.startswith(f"{field}=".encode()):
        return parse_body(raw, provider=provider, headers={"content-type": FORM_CONTENT_TYPE})
    return None


def _body_format(provider: str) -> BodyFormat:
    """The provider's declared body format; the default (JSON by shape) for a name no verifier module defines."""
    try:
        return load_provider(provider).body_format
    except ValueError:
        return _DEFAULT_FORMAT


def parse_form(raw: bytes) -> dict[str, str | list[str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnparseableBody("form body is not UTF-8") from None
    fields = parse_qs(text, keep_blank_values=True)
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


def _parse_json(raw: bytes) -> dict[str, Any] | list[Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError; the message names a position, not content
        raise UnparseableBody(f"body is not valid JSON ({type(error).__name__})") from None
    if not isinstance(parsed, dict | list):
        raise UnparseableBody(f"JSON body is a {type(parsed).__name__}, expected an object or an array")
    return parsed
