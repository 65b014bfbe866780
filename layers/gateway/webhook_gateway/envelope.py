"""The queue contract: what a receiver writes to SQS and the consumer reads back.

One SQS message body is one JSON-serialised :class:`Envelope`. The raw provider body travels either inline
(``body``, UTF-8 text, or base64 for bytes that are not UTF-8 or hold characters SQS refuses) or, when the envelope
would not fit in one SQS message, in the overflow bucket (``body_ref``: the claim check). ``body_sha256`` always covers
the raw bytes, so the consumer can prove that what it processes is byte-for-byte what the provider signed.

A provider that batches (one HTTP request carrying several events: HubSpot) gets one envelope per event: its
``body`` is that event's exact bytes within the signed request body (``body_sha256`` covers those bytes), its
``delivery_id`` the event's own, and ``batch`` (:class:`BatchPosition`) says where it sat: its index, the number of
events in the request and the SHA-256 of the whole signed body. ``batch`` is absent for every other delivery; a
consumer that does not know the field ignores it.

``source`` says how the delivery reached the queue: ``"webhook"`` (the default, left out of the message: a receiver
verified the provider's signature over ``body``) or ``"backfill"`` (``hookctl backfill stripe`` or the reconciler
fetched the event from the provider's API with the account's key and queued it: ``body`` is the API's rendering of the
event, not a webhook's exact bytes, and ``body_sha256`` covers what was queued). A backfill envelope is trusted
because only principals allowed ``sqs:SendMessage`` on the queue can write one (SECURITY.md); the consumer processes
it like any other, under the same provider and delivery id, so a later real delivery of the event is a duplicate.

SQS carries only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF in message bodies and string
attribute values, and refuses (or silently replaces) anything else. So the delivery id and event type, which become
attributes and ledger keys, are limited here (in UTF-8 bytes, the unit SQS and DynamoDB count), and
:meth:`Envelope.sqs_message_body` escapes what JSON would otherwise leave raw.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENVELOPE_VERSION: Literal[1] = 1

# SQS message attributes set on every envelope (names are part of the contract: filters, redrive tooling).
ATTR_PROVIDER = "provider"
ATTR_DELIVERY_ID = "delivery_id"
ATTR_EVENT_TYPE = "event_type"
ATTR_BODY_LOCATION = "body_location"

# The ledger's sort key is the delivery id, and DynamoDB allows 1,024 bytes there; half of it is plenty for every
# provider's id (GitHub's is under 60) and leaves room for prefixes. Bytes, not characters: 300 emoji are 1,200 bytes.
MAX_DELIVERY_ID_BYTES = 512
# An SQS attribute and a ledger attribute; provider event names are under 100 bytes.
MAX_EVENT_TYPE_BYTES = 256

# What an id may hold: SQS's character set without any control character (C0, DEL, C1: logs, hookctl and shells show
# ids) and without lone surrogates (a JSON escape in the event can make one; no UTF-8 writer, pydantic's included,
# can write it).
_ID_UNSAFE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SQS_UNSAFE_C0 = bytes(code for code in range(0x20) if code not in b"\t\n\r")


def identifier_problem(value: str, *, max_bytes: int, allow_empty: bool = False) -> str | None:
    """Why ``value`` cannot be an SQS attribute and ledger key, or None. Names the code point, never the value."""
    if not value:
        return None if allow_empty else "is empty"
    unsafe = _ID_UNSAFE.search(value)
    if unsafe is not None:
        return f"holds U+{ord(unsafe.group()):04X} at character {unsafe.start()}"
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        return f"is {size} bytes in UTF-8, over {max_bytes}"
    return None


def delivery_id_problem(value: str) -> str | None:
    return identifier_problem(value, max_bytes=MAX_DELIVERY_ID_BYTES)


def event_type_problem(value: str) -> str | None:
    return identifier_problem(value, max_bytes=MAX_EVENT_TYPE_BYTES, allow_empty=True)


def sqs_carryable(text: str) -> str:
    """``text`` with what no JSON/UTF-8 writer can carry (lone surrogates) replaced by U+FFFD; usually ``text`` itself.

    Only for informational strings (forwarded headers, request ids): the signed body is never altered, it goes base64.
    """
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def sqs_safe_text(raw: bytes) -> str | None:
    """``raw`` as text when it is UTF-8 and SQS accepts every code point of it raw; None otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Byte-level checks (valid UTF-8 can hold no surrogate): C0 controls, then U+FFFE/U+FFFF, only in non-ASCII text.
    if len(raw.translate(None, _SQS_UNSAFE_C0)) != len(raw):
        return None
    if not raw.isascii() and ("\ufffe" in text or "\uffff" in text):
        return None
    return text


# Left out of the SQS message when unset, so an envelope that needs none of them is written as it always was.
OPTIONAL_FIELDS = ("batch", "provider_kind", "replay", "request_url")
SOURCE_WEBHOOK: Literal["webhook"] = "webhook"
SOURCE_BACKFILL: Literal["backfill"] = "backfill"
# Left out when they hold their default, for the same reason.
DEFAULTED_FIELDS = {"source": SOURCE_WEBHOOK}


class BodyRef(BaseModel):
    """Pointer to a raw body stored in S3 because it was too large for one SQS message."""

    # Built on first use: only the claim check (an overflow to S3) makes one, and Envelope's schema embeds its own
    # copy of this one. Saves ~1 ms of every receiver cold start; the first overflow pays ~0.2 ms (docs/performance.md).
    model_config = ConfigDict(frozen=True, defer_build=True)

    bucket: str
    key: str
    size: int


class BatchPosition(BaseModel):
    """Where a batch provider's event sat in the request that carried it (informational: never part of the key)."""

    # Built on first use, like BodyRef: only batch providers make one.
    model_config = ConfigDict(frozen=True, defer_build=True)

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    # SHA-256 (hex) of the whole signed request body, the same for every event of one request.
    request_sha256: str


class ReplayRequest(BaseModel):
    """Set by ``hookctl replay`` on an envelope it re-enqueues from the archive: which replay request this copy
    serves. The consumer runs the handler once per request (the ledger's ``pending_replays``), even for a delivery
    it has already processed."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=64)
    requested_at: datetime
    requested_by: str = Field(default="", max_length=2048)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: Literal[1] = ENVELOPE_VERSION
    provider: str
    # The verifier module (PROVIDER_KIND) of an instance named otherwise (an OpenAI instance of standard_webhooks),
    # so the consumer parses its body as that kind declares; absent when the instance is named after its kind.
    provider_kind: str | None = None
    delivery_id: str
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
    # Set only for an event of a batch request (Provider.split); absent from every other envelope.
    batch: BatchPosition | None = None
    # Set only on a copy re-enqueued by ``hookctl replay``; absent from every delivery a receiver queues.
    replay: ReplayRequest | None = None
    # "backfill" only on an event queued from the provider's API by the reconciler (see the module doc).
    source: Literal["webhook", "backfill"] = SOURCE_WEBHOOK
    # The URL the provider called, as the receiver verified it (verifiers.base.public_url: Twilio, Square and HubSpot
    # sign it). Set only by a receiver with KEEP_SIGNATURE_HEADERS (the listener tap), with the signature headers.
    request_url: str | None = None

    @field_validator("delivery_id")
    @classmethod
    def _delivery_id_fits_sqs_and_the_ledger(cls, value: str) -> str:
        problem = delivery_id_problem(value)
        if problem is not None:
            raise ValueError(f"delivery_id {problem}")
        return value

    @field_validator("event_type")
    @classmethod
    def _event_type_fits_sqs_and_the_ledger(cls, value: str) -> str:
        problem = event_type_problem(value)
        if problem is not None:
            raise ValueError(f"event_type {problem}")
        return value

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
        """The body fields for ``raw`` kept inline (never re-serialised): text when it is UTF-8 that SQS carries as is,
        base64 otherwise (not UTF-8, or a code point SQS would refuse or replace, which would break ``body_sha256``)."""
        text = sqs_safe_text(raw)
        encoding: Literal["utf-8", "base64"] = "utf-8"
        if text is None:
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

    def sqs_message_body(self) -> str:
        """The envelope as the SQS message body: JSON in SQS's character set.

        JSON escapes control characters but leaves U+FFFE and U+FFFF raw, and SQS refuses them (a header value may
        hold them); their JSON escapes read back as the same characters, so nothing changes for the consumer.
        """
        unset = {name for name in OPTIONAL_FIELDS if getattr(self, name) is None}
        unset.update(name for name, default in DEFAULTED_FIELDS.items() if getattr(self, name) == default)
        message = self.model_dump_json(exclude=unset or None)
        if not message.isascii():
            message = message.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")
        return message

    def sqs_message_attributes(self) -> dict[str, dict[str, str]]:
        return {
            ATTR_PROVIDER: {"DataType": "String", "StringValue": self.provider},
            ATTR_DELIVERY_ID: {"DataType": "String", "StringValue": self.delivery_id},
            ATTR_EVENT_TYPE: {"DataType": "String", "StringValue": self.event_type or "unknown"},
            ATTR_BODY_LOCATION: {"DataType": "String", "StringValue": self.body_location},
        }
