"""Zoom verifier. Zoom has no official Python SDK, so it is checked against (1) a hand-checked vector: Zoom's documented
``endpoint.url_validation`` body signed by the formula of Zoom's sample app (zoom/webhook-sample ``index.js``, run
with node) and by ``openssl dgst -sha256 -hmac``, and the ``encryptedToken`` of Elastic Beats' http_endpoint test
(``x-pack/filebeat/input/http_endpoint/handler_test.go``, CRCProvider Zoom); (2) an independent implementation
written here (:func:`zoom_signature`), cross-checked by slack_sdk's ``SignatureVerifier``, whose ``v0`` scheme is
the same construction. Through the real receiver handler on moto: tests/integration/receiver/test_zoom_receiver.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from slack_sdk.signature import SignatureVerifier

from webhook_gateway.verifiers import zoom
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
)
from webhook_gateway.verifiers.samples import zoom as zoom_samples

# The hand-checked vector (module docstring).
VECTOR_SECRET = "secretValueTest"
VECTOR_TIMESTAMP = "1654503849"
VECTOR_BODY = (
    b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}'
)
VECTOR_SIGNATURE = "v0=f7b7dcfa8b11d7f5e1102e1dd720ffbf30762dbf79e9668b3c11b66898d36d9c"
VECTOR_ENCRYPTED_TOKEN = "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"

SECRET = "hUgVpQk2Sf6Rz8yWd4LmNa"
OLD_SECRET = "oLdSeCrEtToKeN012345ab"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
EVENT = {
    "event": "meeting.started",
    "event_ts": 1_699_999_998_572,
    "payload": {"account_id": "AbCdEfGhIjKlMnOpQrStUv", "object": {"id": "85746065432", "topic": "Review"}},
}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def zoom_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Independent implementation of Zoom's documented scheme: 'v0=' + hex HMAC-SHA256(secret, 'v0:{ts}:{body}')."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(b"v0:")
    mac.update(timestamp.encode("ascii"))
    mac.update(b":")
    mac.update(body)
    return "v0=" + mac.hexdigest()


def headers_for(body: bytes = BODY, secret: str = SECRET, timestamp: int | str = NOW) -> dict[str, str]:
    return {"x-zm-signature": zoom_signature(secret, str(timestamp), body), "x-zm-request-timestamp": str(timestamp)}


def request(body: bytes = BODY, headers: dict[str, str] | None = None) -> WebhookRequest:
    signed = headers_for(body) if headers is None else headers
    return WebhookRequest(body=body, headers={"content-type": "application/json; charset=utf-8", **signed})


def rejection(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT, policy=POLICY) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        zoom.verify(webhook, secrets, policy)
    return rejected.value


# ------------------------------------------------------------------------------------------------------ vectors
def test_the_hand_checked_vector_verifies_and_its_challenge_is_answered_as_elastic_beats_expects():
    # Given Zoom's documented url_validation body signed with the sample app's formula (node) and openssl
    webhook = request(VECTOR_BODY, {"x-zm-signature": VECTOR_SIGNATURE, "x-zm-request-timestamp": VECTOR_TIMESTAMP})
    policy = VerificationPolicy(now=int(VECTOR_TIMESTAMP) + 1)
    # When the gateway verifies it and answers the handshake
    matched = zoom.verify(webhook, [SecretCandidate("current", VECTOR_SECRET)], policy)
    answer = zoom.handshake(webhook, matched)
    # Then the vector's signature matched, and the answer carries the token hashed as Elastic Beats' test expects
    assert matched.version == "current"
    assert answer is not None and (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": VECTOR_ENCRYPTED_TOKEN}


def test_the_independent_implementation_reproduces_the_vector_and_agrees_with_slack_sdks_v0():
    assert zoom_signature(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    same_scheme = SignatureVerifier(VECTOR_SECRET).generate_signature(timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY)
    assert same_scheme == VECTOR_SIGNATURE


def test_our_signers_match_the_independent_implementation():
    assert "v0=" + zoom.sign(BODY, SECRET, str(NOW)) == zoom_signature(SECRET, str(NOW), BODY)
    signed = zoom_samples.sign(BODY, "https://x", "application/json", SECRET, NOW)
    assert signed.headers == headers_for()


# --------------------------------------------------------------------------------------------------- signatures
def test_an_event_signed_as_zoom_documents_is_accepted():
    assert zoom.verify(request(), CURRENT, POLICY).version == "current"


def test_upper_case_hex_and_surrounding_blanks_are_accepted():
    signature = headers_for()["x-zm-signature"]
    headers = {"x-zm-signature": f" v0={signature[3:].upper()} ", "x-zm-request-timestamp": f" {NOW} "}
    assert zoom.verify(request(headers=headers), CURRENT, POLICY).version == "current"


def test_the_previous_secret_token_still_verifies_during_rotation():
    webhook = request(headers=headers_for(secret=OLD_SECRET))
    rotated = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    assert zoom.verify(webhook, rotated, POLICY).version == "previous"
    assert rejection(webhook).reason is Reason.SIGNATURE_MISMATCH


def test_an_empty_secret_never_verifies():
    webhook = request(headers=headers_for(secret=""))
    assert rejection(webhook, [SecretCandidate("current", "")]).reason is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, Reason.MISSING_SIGNATURE),
        ({"x-zm-request-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64}, Reason.MISSING_SIGNATURE),
        ({"x-zm-signature": " ", "x-zm-request-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": ""}, Reason.MISSING_SIGNATURE),
        ({"x-zm-signature": "v1=" + "a" * 64, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 63, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 65, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "g" * 64, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "a" * 64, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0:" + "a" * 64, "x-zm-request-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": "17e8"}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": "-1"}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": "1" * 13}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": "１７"}, Reason.MALFORMED_SIGNATURE),
        ({"x-zm-signature": "v0=" + "a" * 64, "x-zm-request-timestamp": str(NOW)}, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_each_failure_has_its_reason(headers, reason):
    assert rejection(request(headers=headers)).reason is reason


def test_the_rejection_details():
    assert rejection(request(headers={})).detail == "no x-zm-signature or x-zm-request-timestamp header"
    bad = {"x-zm-signature": "sha256=1", "x-zm-request-timestamp": str(NOW)}
    assert rejection(request(headers=bad)).detail == "expected v0=<64 hex digits>"
    bad_time = {**headers_for(), "x-zm-request-timestamp": "now"}
    assert rejection(request(headers=bad_time)).detail == "the request timestamp is not 1-12 digits"


def test_a_changed_body_or_timestamp_is_a_mismatch():
    headers = headers_for()
    assert rejection(request(BODY + b" ", headers)).reason is Reason.SIGNATURE_MISMATCH
    moved = {**headers, "x-zm-request-timestamp": str(NOW + 1)}
    assert rejection(request(headers=moved)).reason is Reason.SIGNATURE_MISMATCH


# --------------------------------------------------------------------------------------------------- the window
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
    webhook = request(headers=headers_for(timestamp=NOW - age))
    if reason is None:
        assert zoom.verify(webhook, CURRENT, POLICY).version == "current"
    else:
        assert rejection(webhook).reason is reason


def test_the_timestamp_is_seconds_so_a_millisecond_value_is_far_in_the_future():
    # Zoom's x-zm-request-timestamp is Unix seconds; a millisecond value (13 digits) is no signed timestamp
    assert rejection(request(headers=headers_for(timestamp=NOW * 1000))).reason is Reason.MALFORMED_SIGNATURE
    assert rejection(request(headers=headers_for(timestamp="9" * 12))).reason is Reason.TIMESTAMP_IN_FUTURE


def test_the_window_comes_from_the_policy():
    strict = VerificationPolicy(now=NOW, tolerance_seconds=99, future_tolerance_seconds=0)
    old = rejection(request(headers=headers_for(timestamp=NOW - 100)), policy=strict)
    assert (old.reason, old.detail) == (Reason.TIMESTAMP_TOO_OLD, "signed 100 s ago, tolerance 99 s")
    assert rejection(request(headers=headers_for(timestamp=NOW + 1)), policy=strict).reason is (
        Reason.TIMESTAMP_IN_FUTURE
    )


def test_the_signature_is_checked_before_the_timestamp():
    forged = headers_for(secret="not-the-secret", timestamp=NOW - 3600)
    assert rejection(request(headers=forged)).reason is Reason.SIGNATURE_MISMATCH


# ---------------------------------------------------------------------------------------------------- handshake
VALIDATION = {"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event_ts": 1654503849680,
              "event": "endpoint.url_validation"}  # fmt: skip


@pytest.mark.parametrize(("secret", "version"), [(SECRET, "current"), (OLD_SECRET, "previous")])
def test_url_validation_is_answered_with_the_token_hashed_by_the_secret_that_verified(secret, version):
    body = json.dumps(VALIDATION).encode()
    rotated = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    webhook = request(body, headers_for(body, secret))
    matched = zoom.verify(webhook, rotated, POLICY)
    assert matched.version == version
    answer = zoom.handshake(webhook, matched)
    assert answer is not None
    expected = hmac.new(secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert json.loads(answer.body) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}


@pytest.mark.parametrize(
    "payload", [None, {}, {"plainToken": ""}, {"plainToken": 42}, {"plainToken": None}, [], "qgg8vlvZRS6UYooatFL8Aw"]
)
def test_url_validation_without_a_plain_token_is_unparseable(payload):
    body = json.dumps({"event": "endpoint.url_validation", "payload": payload}).encode()
    with pytest.raises(Rejected) as rejected:
        zoom.handshake(request(body), CURRENT[0])
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert rejected.value.detail == "endpoint.url_validation without a plainToken"


@pytest.mark.parametrize(
    "body",
    [BODY, b"not json", b"[1]", b"[" * 100_000, b'{"event": ["endpoint.url_validation"]}', b"{}",
     b'{"payload": {"plainToken": "x"}}'],
)  # fmt: skip
def test_anything_else_is_not_a_handshake(body):
    assert zoom.handshake(request(body), CURRENT[0]) is None


def test_a_plain_token_with_unicode_is_hashed_as_utf8_and_echoed():
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "tök€n"}}).encode()
    answer = zoom.handshake(request(body), CURRENT[0])
    assert answer is not None
    expected = hmac.new(SECRET.encode(), "tök€n".encode(), hashlib.sha256).hexdigest()
    assert json.loads(answer.body) == {"plainToken": "tök€n", "encryptedToken": expected}


# ----------------------------------------------------------------------------------------------------- identity
def test_an_event_is_named_by_the_hash_of_its_signed_body_and_its_event():
    identity = zoom.identify(request())
    assert identity == DeliveryIdentity(
        "sha256:" + hashlib.sha256(BODY).hexdigest(), "meeting.started", delivery_id_signed=True
    )


def test_a_retry_is_the_same_delivery_and_two_events_are_distinct():
    # A retry: the same body under a new x-zm-request-timestamp (Zoom retries at +5, +20 and +60 min)
    first = request(headers=headers_for(timestamp=NOW))
    retry = request(headers=headers_for(timestamp=NOW + 300))
    assert zoom.verify(retry, CURRENT, VerificationPolicy(now=NOW + 300)).version == "current"
    assert zoom.identify(retry) == zoom.identify(first)
    # Two events: another event_ts (milliseconds), or the same time for another meeting
    later = json.dumps({**EVENT, "event_ts": EVENT["event_ts"] + 1}, separators=(",", ":")).encode()
    other_meeting = BODY.replace(b"85746065432", b"85746065433")
    ids = {zoom.identify(request(body)).delivery_id for body in (BODY, later, other_meeting)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b"[" * 100_000, b"{}", b'{"event": ""}', b'{"event": 1}', b'{"event": null}']
)
def test_a_body_that_is_no_zoom_event_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        zoom.identify(request(body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "body is not JSON (JSONDecodeError)"),
        (b"[1]", "body is not a JSON object"),
        (b'{"event": 1}', "body has no string event"),
    ],
)
def test_the_unparseable_details(body, detail):
    with pytest.raises(Rejected) as rejected:
        zoom.identify(request(body))
    assert rejected.value.detail == detail


# ------------------------------------------------------------------------------------------------------ answers
def test_the_acknowledgement_is_200_because_zoom_retries_anything_but_200_and_204():
    identity = zoom.identify(request())
    ack = zoom.PROVIDER.acknowledge(identity)
    assert (ack.status, ack.content_type) == (200, "application/json")
    assert json.loads(ack.body) == {"status": "accepted", "delivery_id": identity.delivery_id}


def test_the_signature_is_never_forwarded():
    assert "x-zm-signature" not in zoom.PROVIDER.forwarded_headers
    assert {"content-type", "user-agent", "x-zm-trackingid"} <= set(zoom.PROVIDER.forwarded_headers)
    assert zoom.PROVIDER.handshake is zoom.handshake


# ------------------------------------------------------------------------------------------------ sample events
def test_the_generated_zoom_events_verify_with_the_independent_implementation():
    from tools.make_events import EVENT_FILES, SAMPLE_SECRETS, build_event_file
    from webhook_gateway.http import request_from_event

    for name, outcome in EVENT_FILES.items():
        if outcome.provider != "zoom":
            continue
        webhook = request_from_event(build_event_file(name))
        expected = zoom_signature(SAMPLE_SECRETS["zoom"], webhook.headers["x-zm-request-timestamp"], webhook.body)
        assert hmac.compare_digest(expected, webhook.headers["x-zm-signature"]) == (name != "zoom_bad_signature.json")
