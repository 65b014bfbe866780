"""Square: ``x-square-hmacsha256-signature``, base64 HMAC-SHA256 of ``notification URL + raw body`` keyed with the
subscription's signature key (as is, UTF-8).

* The notification URL is the one the subscription was configured with: the request's own URL, or, behind a proxy or
  a custom domain, ``PUBLIC_BASE_URL`` followed by the raw path and query (:func:`public_url`, as for Twilio). It is
  signed exactly, so a trailing slash, a port or a query string must match the configured URL.
* Square's legacy ``x-square-signature`` (HMAC-SHA1 of the same string) is never accepted, not even as a fallback:
  only the SHA-256 header counts, as in squareup's ``webhooks_helper.verify_signature``.
* Square signs no timestamp (the body's ``created_at`` is when the event happened, not when it was sent), so there
  is no replay window: a captured delivery can be re-sent, and the consumer's ledger takes its ``event_id`` once.

The delivery id is the body's ``event_id`` (signed, and the same on every retry: Square retries for up to 24 hours);
the event type is the body's ``type`` (``payment.updated``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    constant_time_equal,
    first_matching_secret,
    public_url,
    signed_body_identity,
    utf8,
)

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
LEGACY_SIGNATURE_HEADER = "x-square-signature"  # HMAC-SHA1: never checked, never forwarded
_DIGEST_SIZE = hashlib.sha256().digest_size


def compute_signature(notification_url: str, body: bytes, signature_key: str) -> bytes:
    """The raw HMAC-SHA256 of ``notification_url + body`` keyed with the signature key (the header is its base64)."""
    return hmac.new(utf8(signature_key), utf8(notification_url) + body, hashlib.sha256).digest()


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    header = (request.header(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    try:
        received = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII header value
        raise Rejected(Reason.MALFORMED_SIGNATURE, "signature is not base64") from None
    if len(received) != _DIGEST_SIZE:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "signature is not an HMAC-SHA256 digest")
    url = public_url(request, policy)
    return first_matching_secret(
        secrets, lambda candidate: constant_time_equal(compute_signature(url, request.body, candidate.value), received)
    )


def identify(request: WebhookRequest) -> DeliveryIdentity:
    return signed_body_identity(request, "event_id", "type")


PROVIDER = Provider(
    name="square",
    title="Square",
    verify=verify,
    identify=identify,
    secret_format=SecretFormat(
        description="the webhook subscription's signature key (Developer Console > Webhooks > Subscriptions), used "
        "as is as the HMAC-SHA256 key",
        sample="sample-square-signature-key-7Qx2",
        wrong_sample="not-the-square-signature-key-9Lm4",
    ),
    samples="webhook_gateway.verifiers.samples.square",
    forwarded_headers=(
        "square-version",
        "square-environment",
        "square-retry-number",
        "square-retry-reason",
        "square-initial-delivery-timestamp",
        "content-type",
        "user-agent",
    ),
    signature_headers=(SIGNATURE_HEADER,),
)
