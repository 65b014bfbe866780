"""Linear through the real receiver handler on moto (receiver_app.handler): a payload signed by an HMAC written here
(Linear's documented scheme) is answered 200 and queued once, its retry (stamped anew, another Linear-Delivery) is
queued under the same id, a forged one and a stale one are 401 and nothing is queued."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS

PAYLOAD = {
    "action": "update",
    "actor": {"id": "4f3e2d1c-0b9a-4876-9543-210fedcba987", "name": "Jenny Rosen", "type": "user"},
    "createdAt": "2026-12-01T16:10:00.123Z",
    "data": {"id": "2d1c9b4e-1f0a-4c7e-9a51-7f3e2b8c6d10", "title": "Rotate the signing secret"},
    "updatedFrom": {"title": "Rotate it"},
    "type": "Issue",
    "organizationId": "0f6e3c1a-5b2d-4e8f-9c7a-1d2e3f4a5b6c",
    "webhookId": "6a1f2e3d-4c5b-4a69-8877-665544332211",
}
EXPECTED_ID = (
    "6a1f2e3d-4c5b-4a69-8877-665544332211:Issue.update:2d1c9b4e-1f0a-4c7e-9a51-7f3e2b8c6d10:2026-12-01T16:10:00.123Z"
)


def signed_event(secret: str = SAMPLE_SECRETS["linear"], sent_at: float | None = None, delivery: str = "d1"):
    stamp = int((time.time() if sent_at is None else sent_at) * 1000)
    body = json.dumps({**PAYLOAD, "webhookTimestamp": stamp}, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json; charset=utf-8",
        "linear-signature": signature,
        "linear-delivery": delivery,
        "linear-event": "Issue",
    }
    return api_event("linear", body=body, headers=headers)


def test_a_signed_payload_is_answered_200_and_queued_once(gateway):
    # Given the Linear receiver
    gateway.use_provider("linear")
    # When a freshly signed payload arrives
    response = gateway.invoke(signed_event())
    # Then it is answered 200 with its delivery id, and exactly one envelope is queued, without the signature
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"status": "accepted", "delivery_id": EXPECTED_ID}
    queued: list[dict[str, Any]] = gateway.messages()
    assert len(queued) == 1
    envelope = queued[0]["body"]
    assert (envelope["delivery_id"], envelope["event_type"]) == (EXPECTED_ID, "Issue.update")
    assert envelope["headers"]["linear-delivery"] == "d1"
    assert "linear-signature" not in envelope["headers"]


def test_a_retry_stamped_anew_is_queued_under_the_same_id(gateway):
    gateway.use_provider("linear")
    first = gateway.invoke(signed_event(sent_at=time.time() - 30, delivery="d1"))
    retry = gateway.invoke(signed_event(delivery="d2"))
    assert (first["statusCode"], retry["statusCode"]) == (200, 200)
    assert [m["body"]["delivery_id"] for m in gateway.messages()] == [EXPECTED_ID, EXPECTED_ID]


def test_a_forged_payload_is_401_and_nothing_is_queued(gateway):
    gateway.use_provider("linear")
    response = gateway.invoke(signed_event(secret="lin_wh_forger"))
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"]) == {"error": "signature_mismatch"}
    assert gateway.messages() == []


def test_a_payload_signed_61_seconds_ago_is_401_and_nothing_is_queued(gateway):
    # Given the gateway's default tolerance of 300 s: Linear's 60 s still applies
    gateway.use_provider("linear")
    response = gateway.invoke(signed_event(sent_at=time.time() - 61))
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"]) == {"error": "timestamp_too_old"}
    assert gateway.messages() == []
