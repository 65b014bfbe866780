"""Paddle Billing through the real receiver handler on moto (receiver_app.handler): a notification signed with
paddle-python-sdk's HMAC is answered 200 and queued once under its event_id, a retry and a replay (new
notification_id) are queued under the same id, a forged one is 401 and nothing is queued."""

from __future__ import annotations

import json
import time
from typing import Any

from paddle_billing.Notifications import PaddleSignature

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS

NOTIFICATION = {
    "event_id": "evt_01hv8x2acma2k4g2mfh6d3dyfm",
    "event_type": "subscription.created",
    "occurred_at": "2023-11-14T22:13:17.123456Z",
    "notification_id": "ntf_01hv8x2aggvmhxqz5f63qgme9y",
    "data": {"id": "sub_01hv8x29kz0t586xy6zn1a62ny", "status": "active"},
}


def signed_event(document: dict[str, Any], secret: str = SAMPLE_SECRETS["paddle"], at: int | None = None):
    body = json.dumps(document, separators=(",", ":")).encode()
    timestamp = int(time.time()) if at is None else at
    digest = PaddleSignature.calculate_hmac(secret, f"{timestamp}:".encode() + body).hexdigest()
    headers = {"content-type": "application/json", "paddle-signature": f"ts={timestamp};h1={digest}"}
    return api_event("paddle", body=body, headers=headers)


def test_a_signed_notification_is_answered_200_and_queued_once(gateway):
    # Given the Paddle receiver
    gateway.use_provider("paddle")
    # When a notification signed with the SDK's HMAC arrives
    response = gateway.invoke(signed_event(NOTIFICATION))
    # Then it is answered 200 with its event id, and exactly one envelope is queued
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"status": "accepted", "delivery_id": NOTIFICATION["event_id"]}
    queued = gateway.messages()
    assert len(queued) == 1
    envelope = queued[0]["body"]
    assert (envelope["delivery_id"], envelope["event_type"]) == (NOTIFICATION["event_id"], "subscription.created")
    assert "paddle-signature" not in envelope["headers"]


def test_a_retry_and_a_replay_are_queued_under_the_event_id(gateway):
    gateway.use_provider("paddle")
    replay = {**NOTIFICATION, "notification_id": "ntf_01hv8x9replay0000000000000"}
    for document in (NOTIFICATION, NOTIFICATION, replay):
        assert gateway.invoke(signed_event(document))["statusCode"] == 200
    assert [m["body"]["delivery_id"] for m in gateway.messages()] == [NOTIFICATION["event_id"]] * 3


def test_a_forged_notification_is_401_and_nothing_is_queued(gateway):
    gateway.use_provider("paddle")
    response = gateway.invoke(signed_event(NOTIFICATION, secret="pdl_ntfset_forger"))
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"]) == {"error": "signature_mismatch"}
    assert gateway.messages() == []


def test_a_stale_notification_is_401_and_nothing_is_queued(gateway):
    gateway.use_provider("paddle")
    response = gateway.invoke(signed_event(NOTIFICATION, at=int(time.time()) - 3600))
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"]) == {"error": "timestamp_too_old"}
    assert gateway.messages() == []
