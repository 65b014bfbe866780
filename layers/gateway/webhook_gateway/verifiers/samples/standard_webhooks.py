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
from webhook_gateway.verifiers.standard_webhooks import (
    BASE,
    NEUTRAL,
    L,
    Point,
    edwards_add,
    edwards_double,
    encode_point,
)

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Svix-Webhooks/1.62.0 (sender-abc123; +https://www.svix.com/http-sender/)"
OPENAI_USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
SOURCE_IP = "44.228.126.217"  # one of Svix's published us-east sending addresses
SECRET_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


PUBLIC_KEY_PREFIX = "whpk_"


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One signature entry: ``v1,<base64 HMAC-SHA256>`` for a ``whsec_`` secret (``standardwebhooks.Webhook.sign``),
    ``v1a,<base64 Ed25519>`` for a ``whsk_`` private key."""
    content = f"{message_id}.{int(timestamp)}.".encode() + body
    if secret.startswith(PRIVATE_KEY_PREFIX):
        return "v1a," + base64.b64encode(ed25519_sign(_seed(secret), content)).decode("ascii")
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


# Ed25519 signing (RFC 8032 5.1.5 and 5.1.6), for v1a samples: the point arithmetic is the verifier's.


def _seed(private_key: str) -> bytes:
    """The 32-byte seed of ``whsk_<base64>`` (of the seed, or of libsodium's 64-byte seed || public key)."""
    return base64.b64decode(private_key.removeprefix(PRIVATE_KEY_PREFIX))[:32]


def _multiply(scalar: int, point: Point) -> Point:
    total = NEUTRAL
    for bit in range(scalar.bit_length() - 1, -1, -1):
        total = edwards_double(total)
        if scalar >> bit & 1:
            total = edwards_add(total, point)
    return total


def _expand(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return scalar, digest[32:]


def ed25519_public_key(seed: bytes) -> bytes:
    return encode_point(_multiply(_expand(seed)[0], BASE))


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    scalar, prefix = _expand(seed)
    public = encode_point(_multiply(scalar, BASE))
    nonce = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % L
    commitment = encode_point(_multiply(nonce, BASE))
    k = int.from_bytes(hashlib.sha512(commitment + public + message).digest(), "little") % L
    return commitment + ((nonce + k * scalar) % L).to_bytes(32, "little")


def private_key(seed: bytes) -> str:
    """The ``whsk_`` secret a v1a sender signs with."""
    return PRIVATE_KEY_PREFIX + base64.b64encode(seed).decode("ascii")


def public_key(private: str) -> str:
    """The ``whpk_`` key the gateway verifies a ``whsk_`` sender's v1a signatures with (its secret's value)."""
    return PUBLIC_KEY_PREFIX + base64.b64encode(ed25519_public_key(_seed(private))).decode("ascii")


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
