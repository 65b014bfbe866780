"""HubSpot (webhooks, signature v3): ``X-HubSpot-Signature-v3``, base64 HMAC-SHA256 keyed with the app's client
secret of ``method + URI + raw body + X-HubSpot-Request-Timestamp``.

* The URI is the full URL HubSpot called (``https://host/path?query``): the request's own, or ``PUBLIC_BASE_URL``
  followed by the raw path and query behind a proxy or custom domain (:func:`public_url`). HubSpot decodes the
  URL-encoded characters ``%3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;`` before
  signing, so they are decoded here too (in either hex case); every other escape is signed as sent.
* The timestamp is in milliseconds. The signature is checked first, then the window, on both sides: older than the
  tolerance (300 s, HubSpot's 5 minutes) is ``timestamp_too_old``, further ahead than the future allowance
  ``timestamp_in_future`` (hubspot-api-client checks only the past side).
* Only v3 is accepted: the legacy ``X-HubSpot-Signature`` (v1, v2: plain SHA-256 hashes with no timestamp, so
  replayable forever) is never checked. A request carrying only it is ``missing_signature``.

The body is a JSON array of events, so HubSpot is a batch provider (``split``, :func:`json_array_parts`): each
event becomes its own delivery, with the exact bytes HubSpot sent for it. An event's delivery id is
``<portalId>:<subscriptionId>:<eventId>:<occurredAt>``, all from the signed body: HubSpot documents that ``eventId``
alone is not guaranteed to be unique, so it is scoped to the account and subscription that produced it and to the
event's time; ``attemptNumber`` (which grows on each retry) is left out, so a retried array is a duplicate per event.
The event type is ``subscriptionType`` (``contact.creation``, ``contact.propertyChange``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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
    constant_time_equal,
    first_matching_secret,
    json_array_parts,
    json_object,
    public_url,
    require_fresh,
    utf8,
)

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
LEGACY_SIGNATURE_HEADER = "x-hubspot-signature"
# Base64 of a 32-byte HMAC-SHA256: 43 characters and one "=".
_SIGNATURE_FORMAT = re.compile(r"[A-Za-z0-9+/]{43}=")
# Milliseconds since the epoch: 13 digits until 2286; at most 15 (int() of a long run of digits is slow).
_TIMESTAMP_FORMAT = re.compile(r"[0-9]{1,15}")
# The escapes HubSpot decodes in the URI before signing (its request validation docs), either hex case.
_DECODED_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
# An id component: HubSpot's are integers; a string is taken when it cannot blur the ":" separators.
_ID_PART = re.compile(r"[0-9A-Za-z_-]{1,64}")


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: ``url`` with the escapes it decodes decoded."""
    return _DECODED_ESCAPES.sub(lambda escape: chr(int(escape.group(1), 16)), url)


def sign(method: str, uri: str, body: bytes, timestamp: str, secret: str) -> str:
    """The base64 HMAC-SHA256 HubSpot sends in ``X-HubSpot-Signature-v3`` (``uri`` as signed: :func:`signed_uri`)."""
    message = utf8(method + uri) + body + utf8(timestamp)
    return base64.b64encode(hmac.new(utf8(secret), message, hashlib.sha256).digest()).decode()


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    received = (request.header(SIGNATURE_HEADER) or "").strip()
    timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not received or not timestamp:
        legacy = request.header(LEGACY_SIGNATURE_HEADER) is not None
        note = " (a legacy X-HubSpot-Signature v1/v2 is not accepted)" if legacy else ""
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header{note}")
    if not _SIGNATURE_FORMAT.fullmatch(received):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected the base64 of a 32-byte HMAC-SHA256")
    if not _TIMESTAMP_FORMAT.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the request timestamp is not 1-15 digits (milliseconds)")
    uri = signed_uri(public_url(request, policy))
    matched = first_matching_secret(
        secrets,
        lambda candidate: constant_time_equal(
            sign(request.method, uri, request.body, timestamp, candidate.value), received
        ),
    )
    require_fresh(int(timestamp) / 1000, policy)
    return matched


def split(request: WebhookRequest) -> tuple[bytes, ...]:
    """The verified array's events, each as the exact bytes HubSpot sent for it."""
    return json_array_parts(request.body)


def _id_part(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _ID_PART.fullmatch(value):
        return value
    raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"event has no usable {key}")


def identify(request: WebhookRequest) -> DeliveryIdentity:
    """One event (a part of the array, see ``split``)."""
    event = json_object(request.body, "event")
    subscription_type = event.get("subscriptionType")
    if not isinstance(subscription_type, str) or not subscription_type:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "event has no string subscriptionType")
    delivery_id = ":".join(_id_part(event, key) for key in ("portalId", "subscriptionId", "eventId", "occurredAt"))
    return DeliveryIdentity(delivery_id, subscription_type, delivery_id_signed=True)


def acknowledge(identity: DeliveryIdentity) -> Acknowledgement:
    """HubSpot wants any 2xx within 5 s; the answer names no id (one request carries several events)."""
    return Acknowledgement(202, "application/json", '{"status":"accepted"}')


PROVIDER = Provider(
    name="hubspot",
    title="HubSpot",
    verify=verify,
    identify=identify,
    split=split,
    acknowledge=acknowledge,
    secret_format=SecretFormat(
        description="the HubSpot app's client secret (a UUID, the app's Auth tab), used as is as the HMAC-SHA256 key",
        sample="6f1c2a9e-3b7d-4e58-9a0c-d2e4f6a8b0c1",
        wrong_sample="0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
    ),
    samples="webhook_gateway.verifiers.samples.hubspot",
    forwarded_headers=("content-type", "user-agent", TIMESTAMP_HEADER),
    # Kept, but a split batch's events are forwarded one by one: no part is the signed array (docs/local.md).
    signature_headers=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
)
