"""Slack through the real receiver handler on moto (receiver_app.handler): a signed url_verification is answered with
its challenge and never queued, a forged one is 401 and not answered, an Events API callback and its retry
(``X-Slack-Retry-Num``) are queued under one delivery id."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS

EVENT = {
    "token": "legacy",
    "team_id": "T0001",
    "api_app_id": "A0001",
    "event": {"type": "app_mention", "user": "U0001", "text": "<@U0BOT> hi", "ts": "1700000000.000100"},
    "type": "event_callback",
    "event_id": "Ev0001ABCD",
    "event_time": 1_700_000_000,
}
URL_VERIFICATION = {
    "token": "legacy",
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification",
}


def sdk_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return {"x-slack-signature": signature, "x-slack-request-timestamp": str(timestamp)}


def signed_event(document: dict[str, Any], secret: str = SAMPLE_SECRETS["slack"], **headers: str) -> dict[str, Any]:
    body = json.dumps(document).encode()
    signature = sdk_headers(body, secret, int(time.time()))
    return api_event("slack", body=body, headers={"content-type": "application/json", **signature, **headers})


def test_the_receiver_answers_url_verification_and_queues_nothing(gateway):
    gateway.use_provider("slack")
    response = gateway.invoke(signed_event(URL_VERIFICATION))
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"challenge": URL_VERIFICATION["challenge"]}
    assert gateway.messages() == []


def test_a_forged_url_verification_is_401_and_not_answered(gateway):
    gateway.use_provider("slack")
    response = gateway.invoke(signed_event(URL_VERIFICATION, secret="not-the-slack-signing-secret"))
    assert response["statusCode"] == 401, response
    assert URL_VERIFICATION["challenge"] not in response.get("body", "")
    assert json.loads(response["body"])["error"] == "signature_mismatch"
    assert gateway.messages() == []


def test_the_receiver_queues_an_event_and_its_retry_under_one_id(gateway):
    gateway.use_provider("slack")
    first = gateway.invoke(signed_event(EVENT))
    retry = gateway.invoke(signed_event(EVENT, **{"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}))
    assert (first["statusCode"], first.get("body", "")) == (200, "")
    assert retry["statusCode"] == 200
    queued = gateway.messages()
    assert [m["body"]["delivery_id"] for m in queued] == ["Ev0001ABCD", "Ev0001ABCD"]
    assert {m["body"]["event_type"] for m in queued} == {"app_mention"}
    assert any(m["body"]["headers"].get("x-slack-retry-num") == "1" for m in queued)
    assert all("x-slack-signature" not in m["body"]["headers"] for m in queued)
