"""Standard Webhooks (https://www.standardwebhooks.com, the scheme of Svix and of OpenAI, Clerk, Resend, GitLab's
signing token...): ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers (Svix's ``svix-id``,
``svix-timestamp``, ``svix-signature`` are accepted too), the signed content ``f"{id}.{timestamp}.{raw body}"``.

The signature header is a space-separated list of ``<version>,<base64>`` entries (a sender rotating its key signs
with each active key): any entry that matches verifies. Two versions exist:

* ``v1``: HMAC-SHA256 of the signed content, keyed with the base64-decoded part of the ``whsec_<base64>`` secret (a
  secret without the prefix is read as base64, as the ``standardwebhooks`` and ``svix`` libraries read it);
* ``v1a``: Ed25519 over the signed content (64-byte signature), checked with the sender's public key
  ``whpk_<base64 of 32 bytes>``, by the RFC 8032 verification below (standard library only).

A secret of one type verifies only entries of its version; entries of an unknown version are ignored, and a header
with no usable entry at all is ``malformed_signature``. The signature is checked before the timestamp (as for
Stripe and Slack), so the timestamp reasons only ever describe authentic but replayed or mis-clocked deliveries.

``webhook-id`` is signed and, by the spec, the same on every retry: it is the delivery id. The event type is the
JSON body's ``type`` (OpenAI, Clerk, Resend and the spec's payload all carry one), ``""`` when the body is JSON
without a string ``type``; a body that is not JSON is ``unparseable_payload`` (the spec's payloads are JSON).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable

from webhook_gateway.verifiers.base import (
    SIGNED_TIMESTAMP,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    require_fresh,
    utf8,
)

# The spec's names first: when a request carries both sets, the webhook-* one is read (never a mix of the two).
HEADER_SETS = (
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ("svix-id", "svix-timestamp", "svix-signature"),
)
SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
PRIVATE_KEY_PREFIX = "whsk_"
# Signature version -> length of its decoded signature.
SIGNATURE_BYTES = {"v1": 32, "v1a": 64}
# A rotating sender signs with each of its active keys (two, three): more entries than this is no sender's header,
# and bounds the work one request can ask for (an Ed25519 check costs milliseconds).
MAX_SIGNATURES = 16


def _base64(text: str) -> bytes | None:
    """Standard base64 (with its padding) as the libraries write it, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def _unpadded_base64(text: str) -> bytes | None:
    """Base64 with or without its ``=`` padding, as the libraries read a secret (they append ``==``), or None."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return utf8(message_id) + b"." + utf8(timestamp) + b"." + body


def sign(message_id: str, timestamp: str, body: bytes, key: bytes) -> str:
    """The base64 v1 signature (what follows ``v1,``) keyed with the decoded secret."""
    digest = hmac.new(key, signed_content(message_id, timestamp, body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def secret_key(secret: str) -> tuple[str, bytes] | None:
    """The signature version a configured secret verifies and its key bytes, or None when it is no usable key:
    ``whsec_<base64>`` (or bare base64) -> ``("v1", HMAC key)``, ``whpk_<base64>`` -> ``("v1a", public key)``.
    A ``whsk_`` value is the sender's private signing key: it has no place here and verifies nothing."""
    value = secret.strip()
    if value.startswith(PRIVATE_KEY_PREFIX):
        return None
    if value.startswith(PUBLIC_KEY_PREFIX):
        public = _unpadded_base64(value.removeprefix(PUBLIC_KEY_PREFIX))
        return ("v1a", public) if public is not None and len(public) == 32 else None
    key = _unpadded_base64(value.removeprefix(SECRET_PREFIX))
    return ("v1", key) if key else None


def _signature_headers(request: WebhookRequest) -> tuple[str, str, str]:
    for names in HEADER_SETS:
        if any(request.header(name) is not None for name in names):
            message_id, timestamp, signature = ((request.header(name) or "").strip() for name in names)
            return message_id, timestamp, signature
    return "", "", ""


def _signatures(header: str) -> list[tuple[str, bytes]]:
    """The usable ``(version, signature)`` entries of a signature header."""
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"more than {MAX_SIGNATURES} signature entries")
    usable = []
    for entry in entries:
        version, _, encoded = entry.partition(",")
        signature = _base64(encoded)
        if signature is not None and len(signature) == SIGNATURE_BYTES.get(version):
            usable.append((version, signature))
    if not usable:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "no v1,<base64 of 32 bytes> or v1a,<base64 of 64 bytes> entry")
    return usable


def _matches(version: str, key: bytes, content: bytes, signatures: list[tuple[str, bytes]]) -> bool:
    candidates = [signature for entry_version, signature in signatures if entry_version == version]
    if version == "v1":
        expected = hmac.new(key, content, hashlib.sha256).digest()
        return any(hmac.compare_digest(expected, signature) for signature in candidates)
    return any(ed25519_verify(key, content, signature) for signature in candidates)


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    message_id, timestamp, header = _signature_headers(request)
    if not message_id or not timestamp or not header:
        raise Rejected(Reason.MISSING_SIGNATURE, "no webhook-id, webhook-timestamp and webhook-signature headers")
    if not SIGNED_TIMESTAMP.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the webhook timestamp is not 1-12 digits")
    signatures = _signatures(header)
    content = signed_content(message_id, timestamp, request.body)
    unusable = []
    for candidate in secrets:  # lazily: the previous secret is only fetched when the current one does not match
        if not candidate.value:
            continue
        key = secret_key(candidate.value)
        if key is None:
            unusable.append(candidate.version)
        elif _matches(*key, content, signatures):
            require_fresh(int(timestamp), policy)
            return candidate
    if unusable:
        # A configuration error, not a forgery: 503, so that the sender retries once the secret is fixed.
        raise Rejected(Reason.SECRET_UNAVAILABLE, f"the {' and '.join(unusable)} secret is no whsec_ or whpk_ key")
    raise Rejected(Reason.SIGNATURE_MISMATCH)


def identify(request: WebhookRequest) -> DeliveryIdentity:
    message_id, _, _ = _signature_headers(request)
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None
    event_type = document.get("type") if isinstance(document, dict) else None
    return DeliveryIdentity(
        delivery_id=message_id,
        event_type=event_type if isinstance(event_type, str) else "",
        delivery_id_signed=True,
    )


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519 verification (section 5.1.7); implemented in the next commit."""
    return False


PROVIDER = Provider(
    name="standard_webhooks",
    title="Standard Webhooks",
    verify=verify,
    identify=identify,
    secret_format=SecretFormat(
        description="the endpoint's signing secret whsec_<base64> (v1: its base64-decoded part is the HMAC-SHA256 "
        "key; a value without the prefix is read as base64), or the sender's Ed25519 public key whpk_<base64> (v1a)",
        sample="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        wrong_sample="whsec_c2FtcGxlLW5vdC10aGUtY29uZmlndXJlZC1rZXk=",
    ),
    samples="webhook_gateway.verifiers.samples.standard_webhooks",
    forwarded_headers=("content-type", "user-agent", "webhook-timestamp", "svix-timestamp"),
)
