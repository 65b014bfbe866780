"""Slack verifier, checked against slack_sdk's own ``SignatureVerifier`` (signer and verifier). Its handshake through
the real receiver handler on moto: tests/integration/receiver/test_slack_receiver.py."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tools.make_events import SAMPLE_SECRETS, build_event_file, signature_timestamp
from webhook_gateway.verifiers import slack
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest
from webhook_gateway.verifiers.samples import slack as slack_samples

SECRET = "8f742231b10e8888abcd99e0d4e85a5b"
OLD_SECRET = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
EVENT = {
    "token": "legacy",
    "team_id": "T0001",
    "api_app_id": "A0001",
    "event": {"type": "app_mention", "user": "U0001", "text": "<@U0BOT> hi", "ts": "1700000000.000100"},
    "type": "event_callback",
    "event_id": "Ev0001ABCD",
    "event_time": NOW,
}
BODY = json.dumps(EVENT).encode()
FORM = "application/x-www-form-urlencoded"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self.fixed = now

    def now(self) -> float:
        return self.fixed


def sdk(secret: str = SECRET, now: float = NOW) -> SignatureVerifier:
    return SignatureVerifier(secret, clock=FixedClock(now))


def sdk_headers(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    signature = sdk(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return {"x-slack-signature": signature, "x-slack-request-timestamp": str(timestamp)}


def request(
    body: bytes = BODY, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> WebhookRequest:
    signed = sdk_headers(body) if headers is None else headers
    return WebhookRequest(body=body, headers={"content-type": content_type, **signed})


def rejection(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT, policy=POLICY) -> Reason:
    with pytest.raises(Rejected) as rejected:
        slack.verify(webhook, secrets, policy)
    return rejected.value.reason


# --------------------------------------------------------------------------------------------------- signatures
def test_a_request_signed_by_slack_sdk_is_accepted():
    headers = sdk_headers()
    assert sdk().is_valid_request(BODY, headers)
    assert slack.verify(request(headers=headers), CURRENT, POLICY).version == "current"


def test_our_signers_match_slack_sdk_generate_signature():
    expected = sdk().generate_signature(timestamp=str(NOW), body=BODY)
    assert "v0=" + slack.sign(BODY, SECRET, str(NOW)) == expected
    assert slack_samples.sign(BODY, "https://x", "application/json", SECRET, NOW).headers == {
        "x-slack-signature": expected,
        "x-slack-request-timestamp": str(NOW),
    }


def test_upper_case_hex_and_surrounding_blanks_are_accepted():
    headers = sdk_headers()
    headers = {"x-slack-signature": " v0=" + headers["x-slack-signature"][3:].upper() + " ",
               "x-slack-request-timestamp": f" {NOW} "}  # fmt: skip
    assert slack.verify(request(headers=headers), CURRENT, POLICY).version == "current"


def test_the_previous_secret_still_verifies_during_rotation():
    headers = sdk_headers(secret=OLD_SECRET)
    rotated = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    assert slack.verify(request(headers=headers), rotated, POLICY).version == "previous"
    assert rejection(request(headers=headers)) is Reason.SIGNATURE_MISMATCH


def test_an_empty_secret_never_verifies():
    headers = sdk_headers(secret=SECRET)
    assert rejection(request(headers=headers), [SecretCandidate("current", "")]) is Reason.SIGNATURE_MISMATCH


def good() -> dict[str, str]:
    return sdk_headers()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, Reason.MISSING_SIGNATURE),
        ({"x-slack-request-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64}, Reason.MISSING_SIGNATURE),
        ({"x-slack-signature": "", "x-slack-request-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": "  "}, Reason.MISSING_SIGNATURE),
        ({"x-slack-signature": "v1=" + "a" * 64, "x-slack-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 63, "x-slack-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 65, "x-slack-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "g" * 64, "x-slack-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "a" * 64, "x-slack-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": "17e8"}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": "-1"}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": "1" * 13}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": "１７"}, Reason.MALFORMED_SIGNATURE),
        ({"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": str(NOW)}, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_each_failure_has_its_reason(headers, reason):
    assert rejection(request(headers=headers)) is reason


def test_twelve_digit_timestamps_are_parsed_and_a_one_digit_one_is_old():
    # 12 digits are a timestamp (far in the future), 1 digit one from 1970: both authentic, both refused by age
    for timestamp, reason in (("9" * 12, Reason.TIMESTAMP_IN_FUTURE), ("1", Reason.TIMESTAMP_TOO_OLD)):
        headers = sdk_headers(timestamp=int(timestamp))
        assert rejection(request(headers=headers)) is reason


def test_a_changed_body_or_timestamp_is_a_mismatch():
    headers = sdk_headers()
    assert rejection(request(BODY + b" ", headers)) is Reason.SIGNATURE_MISMATCH
    moved = {**headers, "x-slack-request-timestamp": str(NOW + 1)}
    assert rejection(request(headers=moved)) is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (300, None),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (3600, Reason.TIMESTAMP_TOO_OLD),
        (-60, None),
        (-61, Reason.TIMESTAMP_IN_FUTURE),
        (-3600, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_the_timestamp_window_both_directions(age, reason):
    webhook = request(headers=sdk_headers(timestamp=NOW - age))
    if reason is None:
        assert slack.verify(webhook, CURRENT, POLICY).version == "current"
    else:
        assert rejection(webhook) is reason


def test_the_window_comes_from_the_policy_and_the_detail_names_it():
    webhook = request(headers=sdk_headers(timestamp=NOW - 100))
    strict = VerificationPolicy(now=NOW, tolerance_seconds=99, future_tolerance_seconds=0)
    with pytest.raises(Rejected) as rejected:
        slack.verify(webhook, CURRENT, strict)
    assert rejected.value.reason is Reason.TIMESTAMP_TOO_OLD
    assert rejected.value.detail == "signed 100 s ago, tolerance 99 s"
    ahead = request(headers=sdk_headers(timestamp=NOW + 5))
    with pytest.raises(Rejected) as rejected:
        slack.verify(ahead, CURRENT, strict)
    assert rejected.value.reason is Reason.TIMESTAMP_IN_FUTURE
    assert rejected.value.detail == "signed 5 s ahead, allowance 0 s"


def test_the_signature_is_checked_before_the_timestamp():
    # A forged request an hour old is a forgery, not a replay
    forged = {"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": str(NOW - 3600)}
    assert rejection(request(headers=forged)) is Reason.SIGNATURE_MISMATCH


def test_slack_sdk_agrees_on_the_window():
    # The SDK's window is 5 minutes both ways; ours is the policy's (300 s back, 60 s ahead)
    headers = sdk_headers(timestamp=NOW - 301)
    assert not sdk(now=NOW).is_valid_request(BODY, headers)
    assert rejection(request(headers=headers)) is Reason.TIMESTAMP_TOO_OLD


# ------------------------------------------------------------------------------------------------------ identity
def test_an_events_api_callback_is_named_by_its_signed_event_id_and_inner_type():
    identity = slack.identify(request())
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (
        "Ev0001ABCD",
        "app_mention",
        True,
    )


def test_a_retry_is_the_same_delivery():
    # Slack retries with the same body and X-Slack-Retry-Num / X-Slack-Retry-Reason
    first = request(headers=sdk_headers(timestamp=NOW))
    retry_headers = {
        **sdk_headers(timestamp=NOW + 60),
        "x-slack-retry-num": "1",
        "x-slack-retry-reason": "http_timeout",
    }
    retry = request(headers=retry_headers)
    policy = VerificationPolicy(now=NOW + 60)
    assert slack.verify(retry, CURRENT, policy).version == "current"
    assert slack.identify(retry) == slack.identify(first)
    other = request(json.dumps({**EVENT, "event_id": "Ev0002ABCD"}).encode())
    assert slack.identify(other).delivery_id != slack.identify(first).delivery_id


def form_request(fields: dict[str, str]) -> WebhookRequest:
    body = urlencode(fields).encode()
    return request(body, content_type=FORM + "; charset=utf-8")


COMMAND = {
    "command": "/deploy",
    "text": "gateway",
    "team_id": "T0001",
    "user_id": "U0001",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "response_url": "https://hooks.slack.com/x",
}


def test_a_slash_command_is_named_by_its_trigger_id():
    identity = slack.identify(form_request(COMMAND))
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (
        COMMAND["trigger_id"], "slash_command", True,
    )  # fmt: skip
    other = slack.identify(form_request({**COMMAND, "trigger_id": "13345224609.738474920.other"}))
    assert other.delivery_id != identity.delivery_id


def test_a_slash_command_without_a_trigger_is_named_by_its_body():
    fields = {key: value for key, value in COMMAND.items() if key != "trigger_id"}
    identity = slack.identify(form_request(fields))
    assert identity.delivery_id.startswith("sha256:") and len(identity.delivery_id) == 7 + 64
    assert identity.event_type == "slash_command"
    assert slack.identify(form_request({**fields, "text": "other"})).delivery_id != identity.delivery_id


def test_an_interactivity_payload_is_unwrapped():
    payload = {"type": "block_actions", "trigger_id": "1234.5678.abcd", "actions": [{"action_id": "approve"}]}
    identity = slack.identify(form_request({"payload": json.dumps(payload)}))
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (
        "1234.5678.abcd", "interactivity.block_actions", True,
    )  # fmt: skip
    no_trigger = {"type": "block_actions", "container": {"message_ts": "1.2"}, "action_ts": "1700000000.1"}
    hashed = slack.identify(form_request({"payload": json.dumps(no_trigger)}))
    assert hashed.delivery_id.startswith("sha256:") and hashed.event_type == "interactivity.block_actions"
    later = {**no_trigger, "action_ts": "1700000000.2"}
    assert slack.identify(form_request({"payload": json.dumps(later)})).delivery_id != hashed.delivery_id


def test_another_json_callback_is_named_by_its_body():
    body = json.dumps({"type": "app_rate_limited", "team_id": "T0001", "minute_rate_limited": 1518467820}).encode()
    identity = slack.identify(request(body))
    assert identity.event_type == "app_rate_limited"
    assert identity.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert identity.delivery_id_signed


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b"{}", "application/json"),
        (json.dumps({"type": 1}).encode(), "application/json"),
        (json.dumps({"type": "event_callback", "event": {"type": "x"}}).encode(), "application/json"),
        (json.dumps({"type": "event_callback", "event_id": "Ev1"}).encode(), "application/json"),
        (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": []}).encode(), "application/json"),
        (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": ""}}).encode(), "application/json"),
        (json.dumps({"type": "event_callback", "event_id": 1, "event": {"type": "x"}}).encode(), "application/json"),
        (b"text=hi&user_id=U1", FORM),
        (b"command=", FORM),
        (b"\xff\xfe", FORM),
        (b"a&&=b&=", FORM),
        (b"payload=not-json", FORM),
        (b"payload=" + urlencode({"x": json.dumps([1])}).encode()[2:], FORM),
        (b"payload=%7B%7D", FORM),
        (b"payload=%7B%22type%22%3A1%7D", FORM),
    ],
)
def test_a_body_that_is_not_slack_is_unparseable(body, content_type):
    with pytest.raises(Rejected) as rejected:
        slack.identify(WebhookRequest(body=body, headers={"content-type": content_type}))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


# ----------------------------------------------------------------------------------------------------- handshake
URL_VERIFICATION = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                    "type": "url_verification"}  # fmt: skip


def test_url_verification_is_answered_with_its_challenge():
    answer = slack.handshake(request(json.dumps(URL_VERIFICATION).encode()), CURRENT[0])
    assert answer is not None
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body) == {"challenge": URL_VERIFICATION["challenge"]}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (BODY, "application/json"),
        (b"not json", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'["url_verification"]', "application/json"),
        (json.dumps(URL_VERIFICATION).encode(), FORM),
        (urlencode(COMMAND).encode(), FORM),
    ],
)
def test_anything_else_is_not_a_handshake(body, content_type):
    assert slack.handshake(request(body, content_type=content_type), CURRENT[0]) is None


@pytest.mark.parametrize("challenge", [None, "", 42])
def test_url_verification_without_a_challenge_is_unparseable(challenge):
    body = json.dumps({"type": "url_verification", "challenge": challenge}).encode()
    with pytest.raises(Rejected) as rejected:
        slack.handshake(request(body), CURRENT[0])
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_the_acknowledgement_is_an_empty_200():
    ack = slack.PROVIDER.acknowledge(slack.identify(request()))
    assert (ack.status, ack.body) == (200, "")


def test_the_signature_is_never_forwarded():
    assert "x-slack-signature" not in slack.PROVIDER.forwarded_headers
    assert {"x-slack-retry-num", "x-slack-retry-reason", "content-type", "user-agent"} <= set(
        slack.PROVIDER.forwarded_headers
    )


# ------------------------------------------------------------------------------------------------- sample events
def test_the_generated_slack_events_are_fresh_and_verified_by_slack_sdk():
    for name in ("slack_app_mention.json", "slack_url_verification.json"):
        event = build_event_file(name)
        signed_at = signature_timestamp(event)
        assert signed_at is not None and abs(signed_at - time.time()) < 5
        body = event["body"].encode() if not event["isBase64Encoded"] else base64.b64decode(event["body"])
        assert SignatureVerifier(SAMPLE_SECRETS["slack"]).is_valid_request(body, event["headers"]), name


def test_the_stale_slack_event_is_authentic_but_an_hour_old():
    event = build_event_file("slack_stale_timestamp.json")
    signed_at = signature_timestamp(event)
    assert signed_at is not None
    received_at = event["requestContext"]["timeEpoch"] // 1000
    assert received_at - signed_at >= 3600
    body = event["body"].encode() if not event["isBase64Encoded"] else base64.b64decode(event["body"])
    assert sdk(SAMPLE_SECRETS["slack"], now=signed_at).is_valid_request(body, event["headers"])
    assert not SignatureVerifier(SAMPLE_SECRETS["slack"]).is_valid_request(body, event["headers"])


# ------------------------------------------------------------------------------------------------ form parsing
def test_a_blank_form_field_counts_so_a_payload_beside_another_field_is_not_an_interaction():
    payload = urlencode({"payload": json.dumps({"type": "block_actions", "trigger_id": "t.1"})})
    with pytest.raises(Rejected) as rejected:
        slack.identify(request(f"{payload}&extra=".encode(), content_type=FORM))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert slack.identify(request(payload.encode(), content_type=FORM)).delivery_id == "t.1"


def test_a_malformed_form_is_unparseable_even_with_a_command():
    with pytest.raises(Rejected) as rejected:
        slack.identify(request(b"command=%2Fdeploy&trigger_id=t.1&&", content_type=FORM))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"not json", "application/json", "body is not JSON (JSONDecodeError)"),
        (b"[1]", "application/json", "body is not a JSON object"),
        (b"payload=not-json", FORM, "payload is not JSON (JSONDecodeError)"),
        (b"payload=%5B1%5D", FORM, "payload is not a JSON object"),
    ],
)
def test_the_unparseable_detail_names_what_is_not_json(body, content_type, detail):
    with pytest.raises(Rejected) as rejected:
        slack.identify(WebhookRequest(body=body, headers={"content-type": content_type}))
    assert rejected.value.detail == detail


def test_the_acknowledgement_is_plain_text():
    assert slack.PROVIDER.acknowledge(slack.identify(request())).content_type == "text/plain"
