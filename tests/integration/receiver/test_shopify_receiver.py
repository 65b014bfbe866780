"""Shopify through the real receiver handler on moto (receiver_app.handler): a webhook and its retry are queued under
one unsigned delivery id with the Shopify headers forwarded (never the HMAC), the Events spelling (no ``X-`` prefix)
is taken as well, the old client secret still verifies after a rotation, and a forged or id-less delivery is refused
before anything is queued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS, build_event

ORDER = b'{"id":6154913497125,"name":"#1042","total_price":"55.37","currency":"CAD"}'


def shopify_hmac(body: bytes, secret: str) -> str:
    """Shopify's documented computation: base64 of HMAC-SHA256(client secret, raw body)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()


def events_delivery(body: bytes = ORDER, secret: str = SAMPLE_SECRETS["shopify"], **headers: str) -> dict:
    signed = {
        "content-type": "application/json",
        "shopify-hmac-sha256": shopify_hmac(body, secret),
        "shopify-topic": "orders/create",
        "shopify-shop-domain": "gateway-sample.myshopify.com",
        "shopify-api-version": "unstable",
        "shopify-webhook-id": "0d5e3a8f-6c1b-4e2a-9f7d-3b8c1a2e4f60",
        "shopify-event-id": "5a1e9c3d-2b7f-4e8a-8c6d-1f3b5a7c9e20",
        "shopify-triggered-at": "2026-11-26T18:42:16.123Z",
        **headers,
    }
    return api_event("shopify", body=body, headers=signed)


def test_an_order_and_its_retry_are_queued_under_one_unsigned_id_with_the_shopify_headers(gateway):
    gateway.use_provider("shopify")
    # When the same webhook arrives twice (Shopify retries with the original payload and ids)
    first = gateway.invoke(build_event("shopify", "orders_create"))
    retry = gateway.invoke(build_event("shopify", "orders_create"))
    # Then both are answered 202 with the delivery id, and queued under it
    assert first["statusCode"] == 202 and retry["statusCode"] == 202
    queued = gateway.messages()
    ids = {m["body"]["delivery_id"] for m in queued}
    assert len(queued) == 2 and len(ids) == 1
    [delivery_id] = ids
    assert json.loads(first["body"]) == {"status": "accepted", "delivery_id": delivery_id}
    headers = queued[0]["body"]["headers"]
    assert delivery_id == f"{headers['x-shopify-event-id']}:{headers['x-shopify-webhook-id']}"
    assert queued[0]["body"]["event_type"] == "orders/create"
    assert queued[0]["body"]["delivery_id_signed"] is False
    # And the consumer gets the shop, API version and trigger time, never the HMAC
    assert headers["x-shopify-shop-domain"] == "gateway-sample.myshopify.com"
    assert {"x-shopify-api-version", "x-shopify-triggered-at", "x-shopify-topic"} <= set(headers)
    assert not any("hmac" in name for name in headers)


def test_an_events_delivery_without_the_x_prefix_is_queued(gateway):
    gateway.use_provider("shopify")
    response = gateway.invoke(events_delivery())
    assert response["statusCode"] == 202, response
    [message] = gateway.messages()
    assert message["body"]["delivery_id"] == "5a1e9c3d-2b7f-4e8a-8c6d-1f3b5a7c9e20:0d5e3a8f-6c1b-4e2a-9f7d-3b8c1a2e4f60"
    assert message["body"]["headers"]["shopify-shop-domain"] == "gateway-sample.myshopify.com"
    assert "shopify-hmac-sha256" not in message["body"]["headers"]


def test_the_previous_client_secret_still_verifies_after_a_rotation(gateway):
    # Given a rotated client secret, while Shopify still signs with the old one (up to an hour)
    gateway.use_provider("shopify")
    gateway.rotate("shopify", "the-new-shopify-client-secret")
    response = gateway.invoke(build_event("shopify", "app_uninstalled", secret=SAMPLE_SECRETS["shopify"]))
    assert response["statusCode"] == 202, response
    assert gateway.messages()[0]["body"]["secret_version"] == "previous"
    # And the new one is the current one
    response = gateway.invoke(events_delivery(secret="the-new-shopify-client-secret"))
    assert response["statusCode"] == 202
    assert gateway.messages()[0]["body"]["secret_version"] == "current"


def test_forged_malformed_and_id_less_deliveries_are_refused_and_nothing_is_queued(gateway):
    gateway.use_provider("shopify")
    forged = gateway.invoke(events_delivery(secret="not-the-shopify-client-secret"))
    hex_digest = gateway.invoke(events_delivery(**{"shopify-hmac-sha256": hashlib.sha256(ORDER).hexdigest()}))
    no_ids = gateway.invoke(events_delivery(**{"shopify-webhook-id": "", "shopify-event-id": ""}))
    control = gateway.invoke(events_delivery(**{"shopify-webhook-id": "id\u0007with-a-bell"}))
    answers = [(r["statusCode"], json.loads(r["body"])["error"]) for r in (forged, hex_digest, no_ids, control)]
    assert answers == [
        (401, "signature_mismatch"),
        (401, "malformed_signature"),
        (400, "unparseable_payload"),
        (400, "invalid_delivery_id"),
    ]
    assert gateway.messages() == []
