"""Zoom through the real receiver handler on moto (receiver_app.handler), signed by an implementation of Zoom's
documented scheme written here: an event and its retry are queued under one id and answered 200, a signed
``endpoint.url_validation`` is answered with the token hashed by the secret that verified and never queued, and a
forged one is 401 and not answered."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS

EVENT = {
    "event": "meeting.started",
    "event_ts": 1_795_718_535_572,
    "payload": {"account_id": "AbCdEfGhIjKlMnOpQrStUv", "object": {"id": "85746065432", "topic": "Review"}},
}
VALIDATION = {"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event_ts": 1_795_718_536_680,
              "event": "endpoint.url_validation"}  # fmt: skip


def zoom_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-zm-signature": f"v0={mac}", "x-zm-request-timestamp": str(timestamp)}


def signed_event(
    document: dict[str, Any], secret: str = SAMPLE_SECRETS["zoom"], timestamp: int | None = None, **extra: str
) -> dict[str, Any]:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = zoom_headers(body, secret, int(time.time()) if timestamp is None else timestamp)
    return api_event("zoom", body=body, headers={"content-type": "application/json; charset=utf-8", **headers, **extra})


def test_an_event_and_its_retry_are_queued_under_one_id_and_answered_200(gateway):
    # Given a signed meeting.started, and Zoom's retry of it (the same body, a later timestamp)
    gateway.use_provider("zoom")
    now = int(time.time())
    first = gateway.invoke(signed_event(EVENT, timestamp=now - 5, **{"x-zm-trackingid": "v=2.0;rid=WEB_1"}))
    retry = gateway.invoke(signed_event(EVENT, timestamp=now, **{"x-zm-trackingid": "v=2.0;rid=WEB_2"}))
    # Then both are answered 200 (Zoom retries a 202), and queued under the hash of the signed body
    assert (first["statusCode"], retry["statusCode"]) == (200, 200)
    body = json.dumps(EVENT, separators=(",", ":")).encode()
    expected_id = "sha256:" + hashlib.sha256(body).hexdigest()
    assert json.loads(first["body"]) == {"status": "accepted", "delivery_id": expected_id}
    queued = gateway.messages()
    assert [m["body"]["delivery_id"] for m in queued] == [expected_id, expected_id]
    assert {m["body"]["event_type"] for m in queued} == {"meeting.started"}
    assert all("x-zm-signature" not in m["body"]["headers"] for m in queued)
    assert {m["body"]["headers"]["x-zm-trackingid"] for m in queued} == {"v=2.0;rid=WEB_1", "v=2.0;rid=WEB_2"}


def test_two_events_are_two_deliveries(gateway):
    gateway.use_provider("zoom")
    for document in (EVENT, {**EVENT, "event": "meeting.ended", "event_ts": EVENT["event_ts"] + 3_600_000}):
        assert gateway.invoke(signed_event(document))["statusCode"] == 200
    assert len({m["body"]["delivery_id"] for m in gateway.messages()}) == 2


@pytest.mark.parametrize(("signing_secret", "version"), [("rotated-zoom-secret-token", "current"), (None, "previous")])
def test_url_validation_is_answered_with_the_secret_that_verified_and_never_queued(gateway, signing_secret, version):
    # Given a rotated Secret Token (the sample one is now the previous) and a url validation signed with either
    gateway.rotate("zoom", "rotated-zoom-secret-token")
    gateway.use_provider("zoom")
    secret = signing_secret or SAMPLE_SECRETS["zoom"]
    # When the receiver handles it
    response = gateway.invoke(signed_event(VALIDATION, secret=secret))
    # Then the answer is the plain token and its HMAC keyed with that same secret, and nothing is queued
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    expected = hmac.new(secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert json.loads(response["body"]) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert gateway.messages() == []


def test_a_forged_url_validation_is_401_and_not_answered(gateway):
    gateway.use_provider("zoom")
    response = gateway.invoke(signed_event(VALIDATION, secret="not-the-zoom-secret-token"))
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": "signature_mismatch"})
    assert "encryptedToken" not in response["body"]
    assert gateway.messages() == []


@pytest.mark.parametrize(("age", "error"), [(3600, "timestamp_too_old"), (-3600, "timestamp_in_future")])
def test_an_authentic_event_outside_the_window_is_401_and_not_queued(gateway, age, error):
    gateway.use_provider("zoom")
    response = gateway.invoke(signed_event(EVENT, timestamp=int(time.time()) - age))
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": error})
    assert gateway.messages() == []


def test_a_forged_event_is_401_and_not_queued(gateway):
    gateway.use_provider("zoom")
    response = gateway.invoke(signed_event(EVENT, secret="not-the-zoom-secret-token"))
    assert response["statusCode"] == 401
    assert gateway.messages() == []
