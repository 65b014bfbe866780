"""Square through the real receiver handler on moto (receiver_app.handler): a delivery signed by squareup's algorithm
over the notification URL is queued once (202), its retry under the same event_id, a forged one is 401 and nothing
is queued, and behind a proxy the URL is PUBLIC_BASE_URL's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from square.utils.webhooks_helper import verify_signature

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS

HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
URL = f"https://{HOST}/webhooks/square"
EVENT = {
    "merchant_id": "MLG9ZQ4XKR2T7",
    "type": "payment.updated",
    "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc",
    "created_at": "2026-11-26T18:42:15Z",
    "data": {"type": "payment", "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY", "object": {"payment": {"status": "COMPLETED"}}},
}


def signed_event(
    document: dict[str, Any], *, url: str = URL, key: str = SAMPLE_SECRETS["square"], **headers: str
) -> dict[str, Any]:
    body = json.dumps(document).encode()
    signature = base64.b64encode(hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()).decode()
    # The reference agrees on the signature before the gateway sees it
    assert verify_signature(
        request_body=body.decode(), signature_header=signature, signature_key=key, notification_url=url
    )
    return api_event(
        "square",
        body=body,
        headers={"content-type": "application/json", "x-square-hmacsha256-signature": signature, **headers},
    )


def test_a_signed_delivery_and_its_retry_are_queued_under_one_event_id(gateway):
    gateway.use_provider("square")
    first = gateway.invoke(signed_event(EVENT))
    retry = gateway.invoke(signed_event(EVENT, **{"square-retry-number": "1", "square-retry-reason": "http_timeout"}))
    assert first["statusCode"] == 202, first
    assert json.loads(first["body"]) == {"status": "accepted", "delivery_id": EVENT["event_id"]}
    assert retry["statusCode"] == 202
    queued = gateway.messages()
    assert [m["body"]["delivery_id"] for m in queued] == [EVENT["event_id"]] * 2
    assert {m["body"]["event_type"] for m in queued} == {"payment.updated"}
    assert all(m["body"]["delivery_id_signed"] for m in queued)
    assert any(m["body"]["headers"].get("square-retry-number") == "1" for m in queued)
    assert all("x-square-hmacsha256-signature" not in m["body"]["headers"] for m in queued)


def test_a_forged_delivery_is_401_and_nothing_is_queued(gateway):
    gateway.use_provider("square")
    forged = gateway.invoke(signed_event(EVENT, key="not-the-square-signature-key"))
    other_url = gateway.invoke(signed_event(EVENT, url="https://attacker.example/webhooks/square"))
    unsigned = gateway.invoke(api_event("square", body=json.dumps(EVENT).encode()))
    assert [(r["statusCode"], json.loads(r["body"])["error"]) for r in (forged, other_url, unsigned)] == [
        (401, "signature_mismatch"),
        (401, "signature_mismatch"),
        (401, "missing_signature"),
    ]
    assert gateway.messages() == []


def test_behind_a_custom_domain_the_signed_url_is_public_base_urls(gateway):
    # Given a subscription configured with https://hooks.example.com/webhooks/square, reaching API Gateway's host
    public = "https://hooks.example.com/webhooks/square"
    gateway.use_provider("square")
    assert gateway.invoke(signed_event(EVENT, url=public))["statusCode"] == 401
    # When PUBLIC_BASE_URL names the public base
    gateway.use_provider("square", PUBLIC_BASE_URL="https://hooks.example.com")
    # Then the same delivery verifies and is queued
    assert gateway.invoke(signed_event(EVENT, url=public))["statusCode"] == 202
    assert [m["body"]["delivery_id"] for m in gateway.messages()] == [EVENT["event_id"]]


def test_the_previous_key_still_verifies_after_a_rotation(gateway):
    gateway.use_provider("square")
    gateway.rotate("square", "brand-new-square-key")
    old = gateway.invoke(signed_event(EVENT))
    new = gateway.invoke(signed_event({**EVENT, "event_id": "e-new"}, key="brand-new-square-key"))
    assert (old["statusCode"], new["statusCode"]) == (202, 202)
    assert [m["body"]["secret_version"] for m in gateway.messages()] == ["previous", "current"]
