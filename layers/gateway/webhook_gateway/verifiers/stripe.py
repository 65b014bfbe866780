"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`` over ``f"{t}.{raw body}"`` with HMAC-SHA256.

The key is the whole ``whsec_...`` string as UTF-8. Any ``v1`` entry may match (Stripe sends several while an
endpoint secret is rolled); other schemes (``v0``) are ignored, never accepted. The signature is checked before the
timestamp, so the timestamp reasons only ever describe authentic but replayed or mis-clocked deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
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
    constant_time_equal,
    first_matching_secret,
    require_fresh,
    signed_body_identity,
    utf8,
)

SIGNATURE_HEADER = "stripe-signature"
SCHEME = "v1"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    signed_payload = b"%d." % timestamp + body
    return hmac.new(utf8(secret), signed_payload, hashlib.sha256).hexdigest()


def parse_header(header: str) -> tuple[int, list[str]]:
    """Return the timestamp and every v1 signature; raise ``MALFORMED_SIGNATURE`` when either is missing."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            timestamps.append(value.strip())
        elif key == SCHEME:
            signatures.append(value.strip())
    # Bounded (base.SIGNED_TIMESTAMP): int() of 4,301+ digits raises ValueError (CVE-2020-10735).
    if len(timestamps) != 1 or not SIGNED_TIMESTAMP.fullmatch(timestamps[0]):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected exactly one integer t= entry")
    if not signatures:
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"no {SCHEME}= signature")
    return int(timestamps[0]), signatures


def verify(
    request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy
) -> SecretCandidate:
    header = request.header(SIGNATURE_HEADER)
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    timestamp, signatures = parse_header(header)

    def matches(candidate: SecretCandidate) -> bool:
        expected = sign(request.body, candidate.value, timestamp)
        # Compare against every entry without short-circuiting, so timing does not reveal which one matched.
        results = [constant_time_equal(expected, signature) for signature in signatures]
        return any(results)

    matched = first_matching_secret(secrets, matches)
    require_fresh(timestamp, policy)
    return matched


def identify(request: WebhookRequest) -> DeliveryIdentity:
    return signed_body_identity(request, "id", "type")


PROVIDER = Provider(
    name="stripe",
    title="Stripe",
    verify=verify,
    identify=identify,
    secret_format=SecretFormat(
        description="the endpoint's signing secret (whsec_...), used as is as the HMAC-SHA256 key",
        sample="whsec_sample_stripe_endpoint_secret",
        wrong_sample="whsec_not_the_stripe_endpoint_secret",
    ),
    samples="webhook_gateway.verifiers.samples.stripe",
    forwarded_headers=("content-type", "user-agent"),
    signature_headers=(SIGNATURE_HEADER,),
)
