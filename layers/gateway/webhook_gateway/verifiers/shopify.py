"""Shopify: ``X-Shopify-Hmac-Sha256: <base64>``, HMAC-SHA256 of the raw body keyed with the app's client secret
(API secret key).

Two spellings of the same headers: classic webhooks send ``X-Shopify-*``, Shopify's newer Events send them without
the ``X-`` prefix (``Shopify-Hmac-Sha256``, ``Shopify-Topic``, ``Shopify-Event-Id``...). As in
``@shopify/shopify-api`` (``webhooks.validate``), a request carrying ``Shopify-Hmac-Sha256`` is read with the Events
names, any other with the ``X-Shopify-*`` names: one set per request, never a mix.

Shopify signs the body only, and no time: there is no replay window, and the topic and the ids are plain headers
anyone can change on a captured delivery. So the identity is marked unsigned (``delivery_id_signed=False``): the
consumer then refuses a signed body it already took under another id (``ledger.claim_body``), and the ledger refuses
the same id twice, so a captured delivery re-sent under a new id or topic is never processed again while the ledger
keeps it (``DeliveryTtlDays``, far beyond Shopify's 4-hour retry window). Retries carry the original payload.

The delivery id is ``<event id>:<webhook id>``. ``X-Shopify-Webhook-Id`` names one delivery (one subscription's
delivery of one event, kept across its retries; Shopify's docs name it the key to deduplicate deliveries), while
``X-Shopify-Event-Id`` is shared by every delivery one merchant action produces (``orders/create`` and
``orders/paid`` of one checkout, two subscriptions to one topic): alone it would drop the second as a duplicate of
the first. The event id leads so that one action's deliveries sort together. Older API versions send no event id:
the webhook id alone is the id. A request with neither, or without a topic, or whose body is not a JSON object, is
``unparseable_payload`` (every Shopify HTTPS delivery has them and a JSON body; XML subscriptions are not supported).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from webhook_gateway.verifiers.base import (
    BodyFormat,
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
    json_object,
    utf8,
)

# The header prefixes: classic webhooks, and Shopify's newer Events (the same names without "x-").
WEBHOOKS_PREFIX = "x-shopify-"
EVENTS_PREFIX = "shopify-"
SIGNATURE_HEADER = WEBHOOKS_PREFIX + "hmac-sha256"
EVENTS_SIGNATURE_HEADER = EVENTS_PREFIX + "hmac-sha256"
# The spelling a delivery may lack (Provider.signature_headers keeps both; a delivery carries one).
OPTIONAL_SIGNATURE_HEADERS = (EVENTS_SIGNATURE_HEADER,)
# Standard base64 (with its padding) of a 32-byte digest: 43 characters and "=".
_SIGNATURE_FORMAT = re.compile(r"[A-Za-z0-9+/]{43}=")


def sign(body: bytes, secret: str) -> str:
    """The base64 digest Shopify sends: HMAC-SHA256 of the raw body keyed with the client secret (UTF-8)."""
    return base64.b64encode(hmac.new(utf8(secret), body, hashlib.sha256).digest()).decode("ascii")


def header_prefix(request: WebhookRequest) -> str:
    """``shopify-`` when the request carries a (non-blank) Events signature header, else ``x-shopify-``; like
    ``@shopify/shopify-api``'s ``detectWebhookType``."""
    return EVENTS_PREFIX if (request.header(EVENTS_SIGNATURE_HEADER) or "").strip() else WEBHOOKS_PREFIX


def _header(request: WebhookRequest, name: str) -> str:
    return (request.header(header_prefix(request) + name) or "").strip()


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    received = _header(request, "hmac-sha256")
    if not received:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} or {EVENTS_SIGNATURE_HEADER} header")
    if not _SIGNATURE_FORMAT.fullmatch(received):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected the base64 of a 32-byte HMAC-SHA256 (44 characters)")
    return first_matching_secret(
        secrets, lambda candidate: constant_time_equal(sign(request.body, candidate.value), received)
    )


def identify(request: WebhookRequest) -> DeliveryIdentity:
    topic = _header(request, "topic")
    if not topic:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no Shopify topic header")
    ids = [value for value in (_header(request, "event-id"), _header(request, "webhook-id")) if value]
    if not ids:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "neither a Shopify event id nor a webhook id header")
    json_object(request.body)  # the body must be Shopify's JSON, though the ids are in its headers
    return DeliveryIdentity(delivery_id=":".join(ids), event_type=topic, delivery_id_signed=False)


_FORWARDED_NAMES = ("topic", "shop-domain", "api-version", "webhook-id", "event-id", "triggered-at")

PROVIDER = Provider(
    name="shopify",
    title="Shopify",
    verify=verify,
    identify=identify,
    body_format=BodyFormat(),
    secret_format=SecretFormat(
        description="the Shopify app's client secret (API secret key; Dev Dashboard > the app > Settings), used as "
        "is (UTF-8) as the HMAC-SHA256 key",
        sample="sample-shopify-client-secret",
        wrong_sample="not-the-shopify-client-secret",
    ),
    samples="webhook_gateway.verifiers.samples.shopify",
    # Both spellings; never the HMAC itself.
    forwarded_headers=(
        *(WEBHOOKS_PREFIX + name for name in (*_FORWARDED_NAMES, "sub-topic", "name")),
        *(EVENTS_PREFIX + name for name in (*_FORWARDED_NAMES, "handle", "action", "resource-id")),
        "content-type",
        "user-agent",
    ),
    # Both spellings (a delivery carries one; OPTIONAL_SIGNATURE_HEADERS: the Events one, which no sample sends).
    signature_headers=(SIGNATURE_HEADER, EVENTS_SIGNATURE_HEADER),
)
