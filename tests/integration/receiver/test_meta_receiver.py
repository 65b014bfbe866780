"""Meta through the real receiver handler on moto (receiver_app.handler): the unsigned GET verification is answered
with its challenge (text/plain) when the verify token matches and never queued; refused without a configured token,
with a wrong token, another hub.mode or no challenge; HEAD and PUT are 405; a POST signed by an independent
implementation of X-Hub-Signature-256 is queued once under the hash of its body (a retry is the same id), a forged
or unsigned one is 401 with nothing queued, and a GET can never be queued."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.observability import logger

SECRET = json.loads(SAMPLE_SECRETS["meta"])
APP_SECRET, VERIFY_TOKEN = SECRET["app_secret"], SECRET["verify_token"]
CHALLENGE = "1158201444"
NOTIFICATION = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                        "messages": [
                            {"from": "16505551234", "id": "wamid.ABC", "type": "text", "text": {"body": "hi"}}
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}


def independent_signature(body: bytes, app_secret: str) -> str:
    # Meta's documented X-Hub-Signature-256, written here, not the gateway's.
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def notification(document: dict[str, Any] = NOTIFICATION, *, app_secret: str = APP_SECRET, **headers: str) -> dict:
    body = json.dumps(document).encode()
    signature = {"x-hub-signature-256": independent_signature(body, app_secret)}
    return api_event("meta", body=body, headers={"content-type": "application/json", **signature, **headers})


def verification(token: str | None = VERIFY_TOKEN, *, mode: str = "subscribe", challenge: str | None = CHALLENGE):
    query = {"hub.mode": mode}
    if challenge is not None:
        query["hub.challenge"] = challenge
    if token is not None:
        query["hub.verify_token"] = token
    return api_event("meta", method="GET", query=query)


def rendered_logs(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]


def test_the_verification_with_the_verify_token_is_answered_with_its_challenge_and_nothing_is_queued(gateway):
    gateway.use_provider("meta")
    response = gateway.invoke(verification())
    assert (response["statusCode"], response["body"]) == (200, CHALLENGE)
    assert response["headers"]["content-type"].startswith("text/plain")
    assert gateway.messages() == []


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        (verification("not-the-verify-token"), 401, "signature_mismatch"),
        (verification(None), 401, "missing_signature"),
        (verification(""), 401, "missing_signature"),
        (verification(mode="unsubscribe"), 401, "malformed_signature"),
        (verification(challenge=None), 400, "unparseable_payload"),
        (verification(challenge="<b>hi</b>"), 400, "unparseable_payload"),
    ],
    ids=["wrong-token", "no-token", "empty-token", "wrong-mode", "missing-challenge", "unsafe-challenge"],
)
def test_a_bad_verification_is_refused_never_answered_and_never_queued(gateway, event, status, reason):
    gateway.use_provider("meta")
    response = gateway.invoke(event)
    assert (response["statusCode"], json.loads(response["body"])) == (status, {"error": reason})
    assert CHALLENGE not in response["body"]
    assert gateway.messages() == []


def test_every_verification_is_refused_when_no_verify_token_is_configured(gateway, caplog):
    # Given current and previous secrets that hold only the App Secret
    for value in (json.dumps({"app_secret": "rotated-meta-app-secret"}), APP_SECRET):
        gateway.rotate("meta", value)
    gateway.use_provider("meta")
    # When verifications come, with the old token or any other
    responses = [gateway.invoke(verification(token)) for token in (VERIFY_TOKEN, "x")]
    # Then they are refused, the log says why and never holds the token
    assert [r["statusCode"] for r in responses] == [401, 401]
    details = {line.get("detail") for line in rendered_logs(caplog) if line["message"] == "delivery rejected"}
    assert details == {"no verify token configured"}
    assert VERIFY_TOKEN not in json.dumps(rendered_logs(caplog))
    # And POSTs signed with the App Secret still verify
    assert gateway.invoke(notification())["statusCode"] == 200


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_get_and_post_are_405(gateway, method):
    gateway.use_provider("meta")
    event = verification()
    event["requestContext"]["http"]["method"] = method
    response = gateway.invoke(event)
    assert (response["statusCode"], json.loads(response["body"])) == (405, {"error": "method_not_allowed"})
    assert response["headers"]["allow"] == "GET, POST"
    assert gateway.messages() == []


def test_a_get_carrying_a_signed_notification_is_never_queued(gateway):
    # Given a GET with the right token and challenge whose body is a correctly signed notification
    gateway.use_provider("meta")
    event = verification()
    signed = notification()
    event.update(body=signed["body"], isBase64Encoded=signed["isBase64Encoded"], headers=signed["headers"])
    # Then it is refused (a verification has no body), and nothing is queued
    assert gateway.invoke(event)["statusCode"] == 401
    assert gateway.messages() == []


def test_a_signed_notification_and_its_retry_are_queued_under_one_id(gateway):
    gateway.use_provider("meta")
    first, retry = gateway.invoke(notification()), gateway.invoke(notification())
    assert (first["statusCode"], first["body"]) == (200, "")
    assert retry["statusCode"] == 200
    body_hash = hashlib.sha256(json.dumps(NOTIFICATION).encode()).hexdigest()
    queued = gateway.messages()
    assert [m["body"]["delivery_id"] for m in queued] == [f"sha256:{body_hash}"] * 2
    assert {m["body"]["event_type"] for m in queued} == {"whatsapp_business_account.messages"}
    assert all("x-hub-signature-256" not in m["body"]["headers"] for m in queued)


def test_a_forged_or_unsigned_notification_is_401_and_nothing_is_queued(gateway):
    gateway.use_provider("meta")
    forged = gateway.invoke(notification(app_secret="not-the-meta-app-secret"))
    unsigned = gateway.invoke(api_event("meta", body=json.dumps(NOTIFICATION).encode()))
    # A POST with a correct verification query and no signature: still a POST, so still the signature
    query_only = api_event(
        "meta",
        body=json.dumps(NOTIFICATION).encode(),
        query={"hub.mode": "subscribe", "hub.challenge": CHALLENGE, "hub.verify_token": VERIFY_TOKEN},
    )
    responses = [forged, unsigned, gateway.invoke(query_only)]
    assert [(r["statusCode"], json.loads(r["body"])["error"]) for r in responses] == [
        (401, "signature_mismatch"),
        (401, "missing_signature"),
        (401, "missing_signature"),
    ]
    assert gateway.messages() == []


def test_both_values_rotate_and_the_previous_ones_keep_working(gateway):
    gateway.use_provider("meta")
    gateway.rotate("meta", json.dumps({"app_secret": "rotated-meta-app-secret", "verify_token": "rotated-meta-token"}))
    old_get, new_get = gateway.invoke(verification()), gateway.invoke(verification("rotated-meta-token"))
    old_post = gateway.invoke(notification())
    new_post = gateway.invoke(notification({**NOTIFICATION, "object": "page"}, app_secret="rotated-meta-app-secret"))
    assert [r["statusCode"] for r in (old_get, new_get, old_post, new_post)] == [200, 200, 200, 200]
    assert [m["body"]["secret_version"] for m in gateway.messages()] == ["previous", "current"]
