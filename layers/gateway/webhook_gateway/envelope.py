"""The queue contract: what a receiver writes to SQS and the consumer reads back.

One SQS message body is one JSON-serialised :class:`Envelope`. The raw provider body travels either inline
(``body``, UTF-8 text or base64 for non-UTF-8 bytes) or, when the envelope would not fit in one SQS message, in the
overflow bucket (``body_ref``: the claim check). ``body_sha256`` always covers the raw bytes, so the consumer can prove
that what it processes is byte-for-byte what the provider signed.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENVELOPE_VERSION = 1

# SQS message attributes set on every envelope (names are part of the contract: filters, redrive tooling).
ATTR_PROVIDER = "provider"
ATTR_DELIVERY_ID = "delivery_id"
ATTR_EVENT_TYPE = "event_type"
ATTR_BODY_LOCATION = "body_location"


class BodyRef(BaseModel):
    """Pointer to a raw body stored in S3 because it was too large for one SQS message."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    size: int


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: Literal[1] = ENVELOPE_VERSION
    provider: str
    delivery_id: str = Field(min_length=1, max_length=512)
    # Whether the provider's signature covers delivery_id (see DeliveryIdentity). When it does not, the consumer also
    # deduplicates by body_sha256, so a signed body re-sent under a new id is not processed twice. An envelope
    # without the field (queued by an older receiver) gets that extra check: the safe side.
    delivery_id_signed: bool = False
    event_type: str
    received_at: datetime
    request_id: str = ""
    source_ip: str = ""
    secret_version: Literal["current", "previous"] = "current"
    headers: dict[str, str] = Field(default_factory=dict)
    body_sha256: str
    body_size: int
    body_encoding: Literal["utf-8", "base64"] = "utf-8"
    body: str | None = None
    body_ref: BodyRef | None = None

    @model_validator(mode="after")
    def _exactly_one_body_location(self) -> Envelope:
        if (self.body is None) == (self.body_ref is None):
            raise ValueError("an envelope carries its body inline or by reference, exactly one of them")
        return self

    @property
    def body_location(self) -> Literal["inline", "s3"]:
        return "s3" if self.body_ref else "inline"

    @classmethod
    def inline_body_fields(cls, raw: bytes) -> dict:
        """The body fields for ``raw`` kept inline: text when it is UTF-8, base64 otherwise (never re-serialised)."""
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
        return {
            "body": text,
            "body_encoding": encoding,
            "body_sha256": hashlib.sha256(raw).hexdigest(),
            "body_size": len(raw),
        }

    def inline_body_bytes(self) -> bytes:
        if self.body is None:
            raise ValueError("body is stored in S3; fetch it through body_ref")
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return self.body.encode("utf-8")

    def sqs_message_attributes(self) -> dict[str, dict[str, str]]:
        return {
            ATTR_PROVIDER: {"DataType": "String", "StringValue": self.provider},
            ATTR_DELIVERY_ID: {"DataType": "String", "StringValue": self.delivery_id},
            ATTR_EVENT_TYPE: {"DataType": "String", "StringValue": self.event_type or "unknown"},
            ATTR_BODY_LOCATION: {"DataType": "String", "StringValue": self.body_location},
        }
