"""Paddle Billing verifier, checked against paddle-python-sdk 1.16.1 (``paddle_billing.Notifications``): its
``PaddleSignature.calculate_hmac`` signs (the SDK has no header builder), its ``Verifier`` and ``PaddleSignature``
verify. The receiver on moto: tests/integration/receiver/test_paddle_receiver.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from paddle_billing.Notifications import PaddleSignature, Secret, Verifier

from webhook_gateway.verifiers import paddle
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest
from webhook_gateway.verifiers.samples import paddle as paddle_samples

SECRET = "pdl_ntfset_01hunittest0000000000000000_UnitTestSecretKeyForPaddle0123"
OLD_SECRET = "pdl_ntfset_01hunittest0000000000000000_RotatedOutSecretKeyPaddle0123"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
NOTIFICATION = {
    "event_id": "evt_01hv8x2acma2k4g2mfh6d3dyfm",
    "event_type": "transaction.completed",
    "occurred_at": "2023-11-14T22:13:17.123456Z",
    "notification_id": "ntf_01hv8x2aggvmhxqz5f63qgme9y",
    "data": {"id": "txn_01hv8wptq8987qeep44cyrewp9", "status": "completed"},
}
BODY = json.dumps(NOTIFICATION, separators=(",", ":")).encode()
DIGEST = "0" * 64


def sdk_digest(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> str:
    """The SDK's own HMAC over ``<ts>:<body>`` (what its verifier compares with each h1)."""
    return PaddleSignature.calculate_hmac(secret, f"{timestamp}:{body.decode()}".encode()).hexdigest()


def sdk_header(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> str:
    return f"ts={timestamp};h1={sdk_digest(body, secret, timestamp)}"


def request(header: str | None, body: bytes = BODY) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["paddle-signature"] = header
    return WebhookRequest(body=body, headers=headers)


def rejection(webhook: WebhookRequest, secrets=CURRENT, policy: VerificationPolicy = POLICY) -> Reason:
    with pytest.raises(Rejected) as rejected:
        paddle.verify(webhook, secrets, policy)
    return rejected.value.reason


@dataclass
class SdkRequest:
    """What paddle_billing's Verifier reads from a request (its Requests.Request protocol)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def sdk_accepts(header: str, body: bytes = BODY, secret: str = SECRET) -> bool:
    return bool(Verifier().verify(SdkRequest(body, {"Paddle-Signature": header}), Secret(secret), False))


# --------------------------------------------------------------------------------------------------- signatures
def test_a_notification_signed_with_the_sdks_hmac_is_accepted():
    # Given a header built from paddle-python-sdk's HMAC, which the SDK's own Verifier accepts
    header = sdk_header()
    assert sdk_accepts(header)
    # When the gateway verifies it / Then the current secret matched
    assert paddle.verify(request(header), CURRENT, POLICY).version == "current"


def test_our_signers_are_accepted_by_the_sdk_verifier():
    # Given the verifier's sign() and the samples' signer
    ours = f"ts={NOW};h1={paddle.sign(BODY, SECRET, NOW)}"
    signed = paddle_samples.sign(BODY, "https://x", "application/json", SECRET, NOW).headers["paddle-signature"]
    # Then paddle_billing's Verifier accepts both, and they are the SDK's header
    assert sdk_accepts(ours) and sdk_accepts(signed)
    assert ours == signed == sdk_header()


def test_any_h1_entry_may_match_while_the_secret_key_rotates():
    # Given Paddle's rotation header: one h1 per active key, the matching one last
    header = f"ts={NOW};h1={DIGEST};h1={sdk_digest()}"
    assert sdk_accepts(header)
    assert paddle.verify(request(header), CURRENT, POLICY).version == "current"


def test_unknown_keys_are_ignored_where_the_sdk_raises_a_bare_value_error():
    # Given a header with a key Paddle does not document beside a valid h1
    header = f"ts={NOW};h2={DIGEST};h1={sdk_digest()}"
    # Then the SDK's parser raises ValueError, and the gateway ignores the entry (as Stripe's v0) and verifies h1
    with pytest.raises(ValueError):
        PaddleSignature.parse(header)
    assert paddle.verify(request(header), CURRENT, POLICY).version == "current"


def test_a_header_whose_only_valid_digest_is_under_another_key_is_malformed():
    assert rejection(request(f"ts={NOW};h2={sdk_digest()}")) is Reason.MALFORMED_SIGNATURE


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("   ", Reason.MISSING_SIGNATURE),
        ("garbage", Reason.MALFORMED_SIGNATURE),
        (f"h1={DIGEST}", Reason.MALFORMED_SIGNATURE),  # no ts
        (f"ts={NOW}", Reason.MALFORMED_SIGNATURE),  # no h1
        (f"ts={NOW};ts={NOW};h1={DIGEST}", Reason.MALFORMED_SIGNATURE),  # duplicate ts
        (f"ts=abc;h1={DIGEST}", Reason.MALFORMED_SIGNATURE),  # ts not digits
        (f"ts=-5;h1={DIGEST}", Reason.MALFORMED_SIGNATURE),
        (f"ts={'9' * 13};h1={DIGEST}", Reason.MALFORMED_SIGNATURE),  # 13 digits
        (f"ts=;h1={DIGEST}", Reason.MALFORMED_SIGNATURE),
        (f"ts={NOW};h1={'g' * 64}", Reason.MALFORMED_SIGNATURE),  # not hex
        (f"ts={NOW};h1={'a' * 63}", Reason.MALFORMED_SIGNATURE),  # too short
        (f"ts={NOW};h1={'a' * 65}", Reason.MALFORMED_SIGNATURE),  # too long
        (f"ts={NOW};h1=", Reason.MALFORMED_SIGNATURE),
        (f"ts={NOW};h1={DIGEST};h1=zz", Reason.MALFORMED_SIGNATURE),  # one good-looking, one not
        (f"ts={NOW};h1={DIGEST};h1={DIGEST}=", Reason.MALFORMED_SIGNATURE),  # a value holding "=" (SDK: ValueError)
        (f"ts={NOW}=1;h1={DIGEST}", Reason.MALFORMED_SIGNATURE),
        (f"ts={NOW},h1={DIGEST}", Reason.MALFORMED_SIGNATURE),  # Stripe's separator
        (f"ts={NOW};h1={DIGEST}", Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_headers_are_rejected_with_their_reason_never_an_exception(header, reason):
    assert rejection(request(header)) is reason


def test_entries_are_trimmed_and_entries_without_equals_are_skipped():
    # Given the SDK-signed header with spaces around entries, an empty entry and a bare word
    header = f" ts = {NOW} ; ; junk ;h1= {sdk_digest()} "
    assert paddle.verify(request(header), CURRENT, POLICY).version == "current"


def test_an_upper_case_digest_matches():
    header = f"ts={NOW};h1={sdk_digest().upper()}"
    assert paddle.verify(request(header), CURRENT, POLICY).version == "current"


def test_the_ts_is_the_signed_one_not_any_ts():
    # Given a digest signed for another second
    assert rejection(request(f"ts={NOW};h1={sdk_digest(timestamp=NOW - 1)}")) is Reason.SIGNATURE_MISMATCH


def test_a_wrong_secret_is_a_mismatch():
    assert rejection(request(sdk_header(secret=OLD_SECRET))) is Reason.SIGNATURE_MISMATCH


def test_the_signature_covers_the_exact_bytes():
    header = sdk_header()
    pretty = json.dumps(NOTIFICATION, indent=2).encode()
    assert rejection(request(header, pretty)) is Reason.SIGNATURE_MISMATCH


def test_the_secret_key_is_used_as_is_not_stripped_of_its_prefix():
    # Given a header keyed with the secret's part after pdl_ntfset_ (as if the prefix were a label)
    header = sdk_header(secret=SECRET.removeprefix("pdl_ntfset_"))
    assert rejection(request(header)) is Reason.SIGNATURE_MISMATCH


# --------------------------------------------------------------------------------------------------- rotation
def test_the_previous_secret_matches_after_rotation_and_is_reported():
    secrets = [SecretCandidate("current", "pdl_ntfset_new"), SecretCandidate("previous", SECRET)]
    assert paddle.verify(request(sdk_header()), secrets, POLICY).version == "previous"


def test_an_empty_previous_secret_is_never_tried():
    secrets = [SecretCandidate("current", OLD_SECRET), SecretCandidate("previous", "")]
    assert rejection(request(sdk_header(secret=""))) is Reason.SIGNATURE_MISMATCH
    assert rejection(request(sdk_header(secret="")), secrets) is Reason.SIGNATURE_MISMATCH


# --------------------------------------------------------------------------------------------------- window
def test_the_window_is_the_gateways_on_both_sides():
    # Given authentic headers at the edges of SIGNATURE_TOLERANCE_SECONDS (300) and the future allowance (60)
    assert paddle.verify(request(sdk_header(timestamp=NOW - 300)), CURRENT, POLICY)
    assert paddle.verify(request(sdk_header(timestamp=NOW + 60)), CURRENT, POLICY)
    # Then one second beyond each is refused with its reason
    assert rejection(request(sdk_header(timestamp=NOW - 301))) is Reason.TIMESTAMP_TOO_OLD
    assert rejection(request(sdk_header(timestamp=NOW + 61))) is Reason.TIMESTAMP_IN_FUTURE


def test_the_sdk_window_is_five_seconds_on_both_sides_and_ours_is_configurable():
    # paddle-python-sdk 1.16.1: Verifier(maximum_variance=5) checks the past and the future side
    assert Verifier().maximum_variance == 5
    strict = VerificationPolicy(now=NOW, tolerance_seconds=5, future_tolerance_seconds=5)
    assert paddle.verify(request(sdk_header(timestamp=NOW - 5)), CURRENT, strict)
    assert rejection(request(sdk_header(timestamp=NOW - 6)), policy=strict) is Reason.TIMESTAMP_TOO_OLD
    assert rejection(request(sdk_header(timestamp=NOW + 6)), policy=strict) is Reason.TIMESTAMP_IN_FUTURE


def test_a_forged_stale_notification_is_a_mismatch_not_an_age():
    header = sdk_header(secret="pdl_ntfset_forger", timestamp=NOW - 9999)
    assert rejection(request(header)) is Reason.SIGNATURE_MISMATCH


# --------------------------------------------------------------------------------------------------- identity
def test_the_identity_is_the_signed_event_id_and_event_type():
    identity = paddle.identify(request(None))
    assert (identity.delivery_id, identity.event_type) == (NOTIFICATION["event_id"], "transaction.completed")
    assert identity.delivery_id_signed is True


def test_a_retry_and_a_replay_of_one_event_share_its_id_two_events_do_not():
    # Given a retry (same body), a replay (a new notification_id for the same event_id) and another event
    replay = json.dumps({**NOTIFICATION, "notification_id": "ntf_01hv8x9replay0000000000000"}).encode()
    other = json.dumps({**NOTIFICATION, "event_id": "evt_01hv8xaother00000000000000"}).encode()
    first, retry = paddle.identify(request(None)), paddle.identify(request(None))
    assert first == retry
    assert paddle.identify(request(None, replay)).delivery_id == first.delivery_id
    assert paddle.identify(request(None, other)).delivery_id != first.delivery_id


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"[]",
        b'"evt_1"',
        b"{" * 100_000,
        b'{"event_id": "evt_1"}',
        b'{"event_type": "transaction.completed"}',
        b'{"event_id": 5, "event_type": "transaction.completed"}',
        b'{"event_id": "evt_1", "event_type": ["x"]}',
        b'{"event_id": "", "event_type": "transaction.completed"}',
        b'{"event_id": "evt_1", "event_type": ""}',
        b'{"id": "evt_1", "type": "transaction.completed"}',
    ],
)
def test_a_body_without_a_string_event_id_and_event_type_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        paddle.identify(request(None, body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


# --------------------------------------------------------------------------------------------------- answer
def test_paddle_is_answered_200_with_the_delivery_id():
    answer = paddle.PROVIDER.acknowledge(paddle.identify(request(None)))
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body) == {"status": "accepted", "delivery_id": NOTIFICATION["event_id"]}
    assert answer.body == '{"status":"accepted","delivery_id":"evt_01hv8x2acma2k4g2mfh6d3dyfm"}'


def test_the_provider_declares_no_handshake_and_never_forwards_the_signature():
    assert paddle.PROVIDER.handshake(request(sdk_header()), CURRENT[0]) is None
    assert paddle.PROVIDER.methods == ("POST",)
    assert "paddle-signature" not in paddle.PROVIDER.forwarded_headers
    assert paddle.PROVIDER.forwarded_headers == ("content-type", "user-agent")
