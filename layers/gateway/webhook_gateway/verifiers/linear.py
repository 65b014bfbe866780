"""Linear: ``Linear-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the webhook's signing secret.

The replay window is checked against the body's ``webhookTimestamp`` (Unix milliseconds), which the signature covers,
never against the ``Linear-Timestamp`` header, which it does not (anyone can put a fresh header on a captured body;
@linear/sdk ignores that header too). Linear's SDK refuses a timestamp more than 60 s away either way, so the
gateway's window (``SignatureToleranceSeconds`` / ``SignatureFutureToleranceSeconds``) applies capped at 60 s on each
side: a setting can tighten it, never widen it beyond what Linear promises its deliveries meet. Each attempt is
stamped anew, so a retry (1 min, 1 h, 6 h later) is fresh. The signature is checked first, then the window.

Delivery id, all from the signed body: ``<webhookId>:<type>.<action>:<data.id>:<createdAt>`` (``-`` for a payload
without ``data.id``). A retry is the same payload with only ``webhookTimestamp`` changed, so it gets the same id; two
events differ in the entity, the action or the time the payload was created (milliseconds). The
``Linear-Delivery`` header is unsigned: it is forwarded, never trusted. Event type: ``<type>.<action>``
(``Issue.create``, ``Comment.update``), so handlers can register ``Issue.*``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from typing import Any

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
    json_acknowledgement_200,
    json_object,
    require_fresh,
    utf8,
)

SIGNATURE_HEADER = "linear-signature"
TIMESTAMP_FIELD = "webhookTimestamp"
# @linear/sdk's LinearWebhookClient.verify: |now - webhookTimestamp| > 60 s is refused, on either side.
WINDOW_SECONDS = 60
_SIGNATURE_FORMAT = re.compile(r"[0-9a-fA-F]{64}")


def sign(body: bytes, secret: str) -> str:
    """The hex digest Linear sends in ``Linear-Signature``."""
    return hmac.new(utf8(secret), body, hashlib.sha256).hexdigest()


def signed_timestamp(document: dict[str, Any]) -> int:
    """The body's ``webhookTimestamp`` in whole seconds; ``UNPARSEABLE_PAYLOAD`` unless it is a finite number."""
    value = document.get(TIMESTAMP_FIELD)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"no numeric {TIMESTAMP_FIELD} in the body")
    return int(value) // 1000


def window(policy: VerificationPolicy) -> VerificationPolicy:
    """The gateway's window, capped at Linear's 60 s on each side."""
    return dataclasses.replace(
        policy,
        tolerance_seconds=min(policy.tolerance_seconds, WINDOW_SECONDS),
        future_tolerance_seconds=min(policy.future_tolerance_seconds, WINDOW_SECONDS),
    )


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    header = (request.header(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    if not _SIGNATURE_FORMAT.fullmatch(header):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected 64 hex digits")
    received = header.lower()
    matched = first_matching_secret(
        secrets, lambda candidate: constant_time_equal(sign(request.body, candidate.value), received)
    )
    require_fresh(signed_timestamp(json_object(request.body)), window(policy))
    return matched


def _string(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    return value if isinstance(value, str) else ""


def identify(request: WebhookRequest) -> DeliveryIdentity:
    document = json_object(request.body)
    webhook_id, entity_type = _string(document, "webhookId"), _string(document, "type")
    action, created_at = _string(document, "action"), _string(document, "createdAt")
    if not (webhook_id and entity_type and action and created_at):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "payload has no string webhookId, type, action and createdAt")
    data = document.get("data")
    entity_id = (_string(data, "id") if isinstance(data, dict) else "") or "-"
    event_type = f"{entity_type}.{action}"
    # Every part is in the signed body.
    return DeliveryIdentity(f"{webhook_id}:{event_type}:{entity_id}:{created_at}", event_type, delivery_id_signed=True)




PROVIDER = Provider(
    name="linear",
    title="Linear",
    verify=verify,
    identify=identify,
    # Linear counts a 200 as delivered (as @linear/sdk's handler answers); anything else is retried.
    acknowledge=json_acknowledgement_200,
    secret_format=SecretFormat(
        description="the webhook's signing secret (lin_wh_...), used as is as the HMAC-SHA256 key",
        sample="lin_wh_SampleGatewaySigningSecret0123456789abcdefABCDEF",
        wrong_sample="lin_wh_NotTheGatewaySigningSecret9876543210fedcbaFEDCBA",
    ),
    samples="webhook_gateway.verifiers.samples.linear",
    forwarded_headers=("linear-delivery", "linear-event", "content-type", "user-agent"),
    # The signed time is the body's webhookTimestamp, not a header.
    signature_headers=(SIGNATURE_HEADER,),
)
