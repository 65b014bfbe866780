"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]``, HMAC-SHA256 of ``f"{ts}:{raw body}"``
keyed with the notification destination's secret key (``pdl_ntfset_...``, the whole string as UTF-8).

Any ``h1`` entry may match (Paddle sends several while a secret key rotates). Entries of other keys are ignored,
never accepted, as Stripe's ``v0`` is: paddle-python-sdk raises a bare ``ValueError`` on them, which would turn a
future scheme added beside ``h1`` into failed deliveries, and ignoring them weakens nothing (a valid ``h1`` over the
``ts`` is still required). The signature is checked before the timestamp, so the timestamp reasons only ever describe
authentic but replayed or mis-clocked deliveries; the window is the gateway's, on both sides.

Delivery id: the body's ``event_id`` (``evt_...``, signed). Paddle retries a notification with the same body, and a
replay (dashboard or ``POST /notifications/{id}/replay``) is a new ``notification_id`` for the same ``event_id``: both
are duplicates, so a handler runs once per event. The ``notification_id`` stays in the queued body. Event type: the
body's ``event_type`` (``transaction.completed``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
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
    json_acknowledgement_200,
    require_fresh,
    signed_body_identity,
    utf8,
)

SIGNATURE_HEADER = "paddle-signature"
SCHEME = "h1"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The hex digest Paddle sends after ``h1=``."""
    return hmac.new(utf8(secret), b"%d:" % timestamp + body, hashlib.sha256).hexdigest()


def parse_header(header: str) -> tuple[int, list[str]]:
    """Return the timestamp and every ``h1`` digest (lower case); raise ``MALFORMED_SIGNATURE`` unless there is
    exactly one ``ts`` of 1-12 digits and at least one ``h1``, each of 64 hex digits."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(";"):
        key, separator, value = item.partition("=")
        if not separator:
            continue
        key = key.strip()
        if key == "ts":
            timestamps.append(value.strip())
        elif key == SCHEME:
            signatures.append(value.strip())
    if len(timestamps) != 1 or not SIGNED_TIMESTAMP.fullmatch(timestamps[0]):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected exactly one ts= of 1-12 digits")
    if not signatures:
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"no {SCHEME}= signature")
    if not all(_HEX_DIGEST.fullmatch(signature) for signature in signatures):
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"an {SCHEME}= entry is not 64 hex digits")
    return int(timestamps[0]), [signature.lower() for signature in signatures]


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    header = (request.header(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    timestamp, signatures = parse_header(header)

    def matches(candidate: SecretCandidate) -> bool:
        expected = sign(request.body, candidate.value, timestamp)
        # Every entry is compared, without short-circuiting, so timing does not reveal which one matched.
        results = [constant_time_equal(expected, signature) for signature in signatures]
        return any(results)

    matched = first_matching_secret(secrets, matches)
    require_fresh(timestamp, policy)
    return matched


def identify(request: WebhookRequest) -> DeliveryIdentity:
    return signed_body_identity(request, "event_id", "event_type")




PROVIDER = Provider(
    name="paddle",
    title="Paddle Billing",
    verify=verify,
    identify=identify,
    # Paddle asks for a 200 within five seconds (any other answer is retried).
    acknowledge=json_acknowledgement_200,
    secret_format=SecretFormat(
        description="the notification destination's secret key (pdl_ntfset_...), used as is as the HMAC-SHA256 key",
        sample="pdl_ntfset_01jgatewaysample0000000000000_SampleGatewaySecretKey0123456789",
        wrong_sample="pdl_ntfset_01jgatewaysample0000000000000_NotTheGatewaySecretKey98765432",
    ),
    samples="webhook_gateway.verifiers.samples.paddle",
    forwarded_headers=("content-type", "user-agent"),
    signature_headers=(SIGNATURE_HEADER,),
)
