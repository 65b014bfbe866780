"""Zoom (Marketplace app event subscriptions): ``x-zm-signature: v0=<hex>``, HMAC-SHA256 of
``f"v0:{x-zm-request-timestamp}:{raw body}"`` keyed with the app's Secret Token, ``x-zm-request-timestamp`` in Unix
seconds.

The signature is checked before the timestamp (as for Slack, whose scheme this is), so the timestamp reasons only
ever describe authentic but replayed or mis-clocked requests; the window applies both ways.

A signed ``endpoint.url_validation`` (Zoom's challenge-response check, when the URL is saved and every 72 hours) is
answered ``{"plainToken": ..., "encryptedToken": <hex HMAC-SHA256 of plainToken>}`` keyed with the secret that
verified the request (current or previous: the answer must be keyed with the token Zoom holds), and never queued.

Zoom gives no event id (no header, no body field names one delivery): the delivery id is ``sha256:<hex of the
signed body>``. A retry re-sends the same body (its ``event_ts`` included) under a new timestamp header, so it is a
duplicate; two events differ in their ``event_ts`` (milliseconds) or payload, so they are distinct. The event type
is the body's ``event`` (``meeting.started``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from webhook_gateway.verifiers.base import (
    Acknowledgement,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    json_acknowledgement_200,
    utf8,
    v0_signature,
    verify_v0,
)

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
URL_VALIDATION = "endpoint.url_validation"


# The digest Zoom sends after ``v0=`` (``base.v0_signature``, the scheme Slack and Zoom share).
sign = v0_signature


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    return verify_v0(request, secrets, policy, signature_header=SIGNATURE_HEADER, timestamp_header=TIMESTAMP_HEADER)


def _document(request: WebhookRequest) -> dict[str, Any]:
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not a JSON object")
    return document


def _event(document: dict[str, Any]) -> str:
    event = document.get("event")
    return event if isinstance(event, str) else ""


def handshake(request: WebhookRequest, matched_secret: SecretCandidate) -> Acknowledgement | None:
    """A signed ``endpoint.url_validation``: the plain token and its HMAC keyed with the secret that verified."""
    try:
        document = _document(request)
    except Rejected:
        return None  # identify() rejects it
    if _event(document) != URL_VALIDATION:
        return None
    payload = document.get("payload")
    plain = payload.get("plainToken") if isinstance(payload, dict) else None
    if not isinstance(plain, str) or not plain:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "endpoint.url_validation without a plainToken")
    encrypted = hmac.new(utf8(matched_secret.value), utf8(plain), hashlib.sha256).hexdigest()
    return Acknowledgement(200, "application/json", json.dumps({"plainToken": plain, "encryptedToken": encrypted}))


def identify(request: WebhookRequest) -> DeliveryIdentity:
    event = _event(_document(request))
    if not event:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body has no string event")
    body_hash = hashlib.sha256(request.body).hexdigest()
    return DeliveryIdentity(f"sha256:{body_hash}", event, delivery_id_signed=True)




PROVIDER = Provider(
    name="zoom",
    title="Zoom",
    verify=verify,
    identify=identify,
    handshake=handshake,
    # Zoom counts only 200 and 204 as delivered (a 202 would be retried): the usual JSON, with 200.
    acknowledge=json_acknowledgement_200,
    secret_format=SecretFormat(
        description="the app's Secret Token (Marketplace > your app > Features > Access > Secret Token), used as is "
        "as the HMAC-SHA256 key; never the deprecated Verification Token",
        sample="hUgVpQk2Sf6Rz8yWd4LmNa",
        wrong_sample="Zx9cVb8nM7qW6eR5tY4uIo",
    ),
    samples="webhook_gateway.verifiers.samples.zoom",
    forwarded_headers=("content-type", "user-agent", "x-zm-trackingid", "x-zm-request-timestamp"),
    signature_headers=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
)
