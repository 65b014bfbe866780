"""The handshake lane (verifiers/base.py: ``Provider.handshake`` and ``Provider.methods``), through the real receiver
handler on moto, with throwaway providers added through their modules alone (tests/throwaway_providers.py): a
Slack-like signed POST challenge, a Zoom-like answer keyed with the secret that verified, a Meta-like unsigned GET
with a verify token, and methods a provider does not declare."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.throwaway_providers import (
    METAISH_APP_SECRET,
    METAISH_VERIFY_TOKEN,
    SLACKISH_SECRET,
    ZOOMISH_SECRET,
    api_event,
    installed,
    module_of,
)
from tools.make_events import build_event
from webhook_gateway.envelope import Envelope
from webhook_gateway.observability import logger
from webhook_gateway.verifiers.base import Provider

TIMESTAMP = "1795718537"


@pytest.fixture
def providers(tmp_path, monkeypatch) -> Iterator[dict[str, Provider]]:
    """slackish, zoomish and metaish on the verifier package's path (before `gateway`, which seeds their secrets)."""
    with installed(tmp_path, monkeypatch) as registered:
        yield registered


def handshakes_counted(out: str) -> list[str]:
    """The provider dimension of every HandshakesAnswered value in the EMF documents the handler printed."""
    counted = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == "HandshakesAnswered" for metric in directive["Metrics"]):
                counted.append(document["provider"])
    return counted


def signed(provider: str, document: dict[str, Any], secret: str) -> dict[str, Any]:
    body = json.dumps(document).encode()
    headers = {"content-type": "application/json", **module_of(provider).sign(body, secret, TIMESTAMP)}
    return api_event(provider, body=body, headers=headers)


def rendered_logs(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]


URL_VERIFICATION = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                    "type": "url_verification"}


# ----------------------------------------------------------------------------------------------- Slack-like (POST)
def test_a_signed_post_handshake_is_answered_with_its_challenge_counted_and_not_queued(
    providers, gateway, capsys, caplog
):
    # Given a Slack-like provider's signed url_verification
    gateway.use_provider("slackish")
    event = signed("slackish", URL_VERIFICATION, SLACKISH_SECRET)
    # When the receiver handles it
    response = gateway.invoke(event)
    # Then the challenge is echoed as the provider asked, and nothing is queued
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"challenge": URL_VERIFICATION["challenge"]}
    assert gateway.messages() == []
    # And it is counted for its provider and logged at INFO, without the body or the secret
    assert handshakes_counted(capsys.readouterr().out) == ["slackish"]
    [line] = [line for line in rendered_logs(caplog) if line["message"] == "handshake answered"]
    assert (line["level"], line["provider"], line["outcome"], line["secret_version"]) == (
        "INFO", "slackish", "handshake_answered", "current")
    text = json.dumps(rendered_logs(caplog))
    assert URL_VERIFICATION["challenge"] not in text and SLACKISH_SECRET not in text


def test_a_forged_post_handshake_is_401_and_not_answered(providers, gateway, capsys):
    # Given a url_verification signed with a secret that is not the provider's
    gateway.use_provider("slackish")
    response = gateway.invoke(signed("slackish", URL_VERIFICATION, "not-the-slackish-secret"))
    # Then it is refused like any forged delivery: no challenge in the answer, nothing queued, nothing counted
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": "signature_mismatch"})
    assert URL_VERIFICATION["challenge"] not in response["body"]
    assert gateway.messages() == []
    assert handshakes_counted(capsys.readouterr().out) == []


def test_a_delivery_of_a_provider_with_a_handshake_still_flows(providers, gateway, capsys):
    # Given a signed ordinary event of the same provider (its handshake returns None)
    gateway.use_provider("slackish")
    document = {"type": "event_callback", "event_id": "Ev0001", "event": {"type": "app_mention", "text": "hi"}}
    # When the receiver handles it
    response = gateway.invoke(signed("slackish", document, SLACKISH_SECRET))
    # Then it is queued and acknowledged as a delivery, not as a handshake
    assert response["statusCode"] == 202, response
    [message] = gateway.messages()
    envelope = Envelope.model_validate(message["body"])
    assert (envelope.provider, envelope.delivery_id, envelope.event_type) == ("slackish", "Ev0001", "app_mention")
    assert handshakes_counted(capsys.readouterr().out) == []


# ----------------------------------------------------------------------------------------------- Zoom-like (secret)
@pytest.mark.parametrize(("signing_secret", "version"), [("rotated-zoomish-secret-token", "current"),
                                                         (ZOOMISH_SECRET, "previous")])
def test_a_handshake_answer_is_keyed_with_the_secret_that_verified(
    providers, gateway, caplog, signing_secret, version
):
    # Given a rotated Zoom-like secret (the sample value is now the previous one) and a url validation signed with
    # the current or the previous value
    gateway.rotate("zoomish", "rotated-zoomish-secret-token")
    gateway.use_provider("zoomish")
    document = {"event": "endpoint.url_validation", "event_ts": 1795718537000,
                "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}
    # When the receiver handles it
    response = gateway.invoke(signed("zoomish", document, signing_secret))
    # Then the answer carries the plain token and its HMAC keyed with that same secret, and nothing is queued
    assert response["statusCode"] == 200, response
    expected = hmac.new(signing_secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert json.loads(response["body"]) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert gateway.messages() == []
    [line] = [line for line in rendered_logs(caplog) if line["message"] == "handshake answered"]
    assert line["secret_version"] == version


def test_a_signed_handshake_missing_its_challenge_is_400_and_not_answered(providers, gateway, capsys):
    # Given a correctly signed url validation without its plain token
    gateway.use_provider("zoomish")
    response = gateway.invoke(signed("zoomish", {"event": "endpoint.url_validation", "payload": {}}, ZOOMISH_SECRET))
    # Then it is a 400 with the handshake's reason, nothing queued, nothing counted
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "unparseable_payload"})
    assert gateway.messages() == []
    assert handshakes_counted(capsys.readouterr().out) == []


# ----------------------------------------------------------------------------------------------- Meta-like (GET)
def subscription(token: str | None, challenge: str = "1158201444") -> dict[str, Any]:
    query = {"hub.mode": "subscribe", "hub.challenge": challenge}
    if token is not None:
        query["hub.verify_token"] = token
    return api_event("metaish", method="GET", query=query)


def test_a_get_with_the_configured_verify_token_is_answered_with_the_challenge_as_text(providers, gateway, capsys):
    # Given a Meta-like provider (GET and POST) whose secret holds a verify token
    gateway.use_provider("metaish")
    # When its unsigned subscription GET carries that token
    response = gateway.invoke(subscription(METAISH_VERIFY_TOKEN))
    # Then the challenge is the answer, as text, nothing is queued and the handshake is counted
    assert (response["statusCode"], response["body"]) == (200, "1158201444")
    assert response["headers"]["content-type"].startswith("text/plain")
    assert gateway.messages() == []
    assert handshakes_counted(capsys.readouterr().out) == ["metaish"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [("not-the-verify-token", "signature_mismatch"), ("", "missing_signature"), (None, "missing_signature")],
)
def test_a_get_without_the_right_verify_token_is_401_and_not_answered(providers, gateway, capsys, token, reason):
    # Given the Meta-like provider
    gateway.use_provider("metaish")
    # When its subscription GET carries a wrong token, an empty one or none
    response = gateway.invoke(subscription(token))
    # Then it is a 401 (the token is the GET's only credential, refused as a wrong signature is), never answered
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": reason})
    assert "1158201444" not in response["body"]
    assert handshakes_counted(capsys.readouterr().out) == []


def test_a_get_is_refused_when_no_verify_token_is_configured(providers, gateway, caplog):
    # Given a Meta-like secret whose current and previous values hold no verify token (only the app secret)
    for value in ("rotated-metaish-app-secret", METAISH_APP_SECRET):
        gateway.rotate("metaish", json.dumps({"app_secret": value}))
    gateway.use_provider("metaish")
    # When a subscription GET comes, whatever token it carries (an empty configured token matches nothing)
    responses = [gateway.invoke(subscription(token)) for token in (METAISH_VERIFY_TOKEN, "x")]
    # Then it is refused and the log says why
    assert [r["statusCode"] for r in responses] == [401, 401]
    details = {line.get("detail") for line in rendered_logs(caplog) if line["message"] == "delivery rejected"}
    assert details == {"no verify token configured"}
    assert METAISH_VERIFY_TOKEN not in json.dumps(rendered_logs(caplog))


def test_a_get_never_runs_the_post_checks(providers, gateway):
    # Given a GET carrying a valid POST signature over its body, but a wrong verify token
    gateway.use_provider("metaish")
    event = subscription("not-the-verify-token")
    body = b'{"id": "m1", "object": "page"}'
    event.update(body=body.decode(), isBase64Encoded=False)
    event["headers"].update(module_of("metaish").sign(body, METAISH_APP_SECRET))
    # Then the signature does not stand in for the token: refused, not answered, not queued
    assert gateway.invoke(event)["statusCode"] == 401
    assert gateway.messages() == []


def test_a_signed_post_of_the_get_handshake_provider_is_a_delivery(providers, gateway):
    # Given the Meta-like provider's signed POST delivery
    gateway.use_provider("metaish")
    body = b'{"id": "m-0001", "object": "page", "entry": []}'
    event = api_event("metaish", body=body, headers=module_of("metaish").sign(body, METAISH_APP_SECRET))
    # Then it is queued and acknowledged (its handshake returns None for a POST)
    assert gateway.invoke(event)["statusCode"] == 202
    [message] = gateway.messages()
    assert message["body"]["delivery_id"] == "m-0001"


# ----------------------------------------------------------------------------------------------- methods
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_a_method_a_provider_does_not_declare_is_405_before_any_secret_is_read(gateway, method):
    # Given a POST-only provider whose secret cannot be read (a POST would get 503 secret_unavailable)
    gateway.use_provider("github", SECRET_ID="does-not-exist")
    event = build_event("github", "push")
    assert gateway.invoke(event)["statusCode"] == 503
    # When the same request comes with another method
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = f"{method} /webhooks/github"
    response = gateway.invoke(event)
    # Then it is 405 method_not_allowed, naming the allowed methods, and never reached the secret
    assert (response["statusCode"], json.loads(response["body"])) == (405, {"error": "method_not_allowed"})
    assert response["headers"]["allow"] == "POST"
    assert gateway.messages() == []


def test_a_get_handshake_provider_still_refuses_other_methods(providers, gateway):
    gateway.use_provider("metaish")
    event = subscription(METAISH_VERIFY_TOKEN)
    event["requestContext"]["http"]["method"] = "PUT"
    response = gateway.invoke(event)
    assert (response["statusCode"], response["headers"]["allow"]) == (405, "GET, POST")
