"""A Standard Webhooks sender: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>`` (HMAC-SHA256
of ``<id>.<timestamp>.<body>`` keyed with the base64-decoded part of the ``whsec_`` secret), what the
``standardwebhooks`` and ``svix`` libraries' ``sign`` compute; with a ``whsk_`` private key it signs ``v1a``
(Ed25519) instead.

The sample deliveries are ``contact.created`` (the spec's example payload, the default) and ``response.completed``
(shaped like OpenAI's). Our sample sender names each message after its event: ``webhook-id`` is the body's
top-level ``id`` (any sender chooses its message ids; many built on the libraries use the event's), so that a
delivery id given to ``hookctl send`` reaches the signed header through the body the signer sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, iso, sample_uuid

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Svix-Webhooks/1.62.0 (sender-abc123; +https://www.svix.com/http-sender/)"
OPENAI_USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
SOURCE_IP = "44.228.126.217"  # one of Svix's published us-east sending addresses
SECRET_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One signature entry: ``v1,<base64 HMAC-SHA256>`` for a ``whsec_`` secret (``standardwebhooks.Webhook.sign``)."""
    content = f"{message_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def message_id(body: bytes) -> str:
    """The sample sender's message id: the body's top-level string ``id``, else one derived from the body."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("id"), str) and document["id"]:
        return str(document["id"])
    return "msg_" + hashlib.sha256(body).hexdigest()[:27]


def signature_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    identifier = message_id(body)
    return {
        "webhook-id": identifier,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature(identifier, int(timestamp), body, secret),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, secret, int(sent_at)))


def _delivery(document: dict[str, object], user_agent: str = USER_AGENT) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": user_agent, "accept": "*/*"},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _contact_created() -> SampleDelivery:
    return _delivery(
        {
            "id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            "type": "contact.created",
            "timestamp": iso(SAMPLE_DELIVERY_TIME - 1),
            "data": {"id": sample_uuid("standard_webhooks:contact"), "type": "contact"},
        }
    )


def _response_completed() -> SampleDelivery:
    return _delivery(
        {
            "object": "event",
            "id": "evt_685343a1381c819085d44c354e1b330e",
            "type": "response.completed",
            "created_at": SAMPLE_DELIVERY_TIME - 2,
            "data": {"id": "resp_685343a0b4f88190bda7e6c8e06af9b90a2e9f1a2c3d4e5f"},
        },
        OPENAI_USER_AGENT,
    )


def new_delivery_id() -> str:
    """A fresh message id shaped like Svix's: ``msg_`` and 27 base62 characters."""
    return "msg_" + "".join(secrets.choice(_BASE62) for _ in range(27))


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The message id is the body's ``id`` (see the module docstring)."""
    document = json.loads(sample.body)
    document["id"] = delivery_id
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("webhook-timestamp", "")
    return int(timestamp) if timestamp.isdigit() else None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={
        "contact.created": _contact_created,
        "response.completed": _response_completed,
    },
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
)
