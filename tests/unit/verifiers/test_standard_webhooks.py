"""Standard Webhooks v1 verifier, checked against the ``standardwebhooks`` library (signer and verifier) and the
PROVIDERS.md vector. v1a (Ed25519): test_standard_webhooks_ed25519.py; svix and several signatures per header:
test_standard_webhooks_svix.py."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from webhook_gateway.verifiers import standard_webhooks as sw
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous endpoint secret").decode()
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = json.dumps({"type": "invoice.paid", "timestamp": "2023-11-14T22:13:20Z", "data": {"id": "in_1"}}).encode()


def library_signature(
    body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW, message_id: str = MSG_ID
) -> str:
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode())


def signed_headers(
    body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW, message_id: str = MSG_ID, prefix: str = "webhook"
) -> dict[str, str]:
    return {
        f"{prefix}-id": message_id,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": library_signature(body, secret, timestamp, message_id),
    }


def request(body: bytes = BODY, headers: dict[str, str] | None = None) -> WebhookRequest:
    signed = signed_headers(body) if headers is None else headers
    return WebhookRequest(body=body, headers={"content-type": "application/json", **signed})


def rejection(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT, policy=POLICY) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        sw.verify(webhook, secrets, policy)
    return rejected.value


# --------------------------------------------------------------------------------------------------- signatures
def test_the_providers_md_vector_verifies():
    # Given the vector of ../shared/PROVIDERS.md (the spec's own test vector)
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    # When it is verified at its own time, Then the whsec_ secret matches
    policy = VerificationPolicy(now=1614265330)
    assert sw.verify(request(body, headers), CURRENT, policy).version == "current"
    # and our signer computes the same signature
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert "v1," + sw.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, key) == headers["webhook-signature"]


def test_a_delivery_signed_by_the_standardwebhooks_library_is_accepted():
    headers = signed_headers()
    assert sw.verify(request(headers=headers), CURRENT, POLICY).version == "current"


def test_what_we_accept_the_library_accepts_too():
    headers = signed_headers(timestamp=int(datetime.now(UTC).timestamp()))
    Webhook(SECRET).verify(BODY, headers)  # raises if it disagrees
    assert sw.verify(request(headers=headers), CURRENT, VerificationPolicy(now=int(headers["webhook-timestamp"])))


def test_a_secret_without_the_whsec_prefix_is_read_as_base64_as_the_library_reads_it():
    bare = SECRET.removeprefix("whsec_")
    assert sw.verify(request(), [SecretCandidate("current", bare)], POLICY).version == "current"


def test_an_unpadded_secret_is_read_as_the_library_reads_it():
    raw = b"twenty-five bytes of key!"  # base64 ends with padding
    padded = base64.b64encode(raw).decode()
    assert padded.endswith("=")
    headers = signed_headers(secret="whsec_" + padded)
    unpadded = [SecretCandidate("current", "whsec_" + padded.rstrip("="))]
    assert sw.verify(request(headers=headers), unpadded, POLICY).version == "current"


def test_a_tampered_body_is_a_signature_mismatch():
    assert rejection(request(BODY + b" ", signed_headers())).reason is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize("field", ["id", "timestamp"])
def test_the_id_and_timestamp_are_signed(field):
    headers = signed_headers()
    headers[f"webhook-{field}"] = {"id": "msg_other", "timestamp": str(NOW + 1)}[field]
    assert rejection(request(headers=headers)).reason is Reason.SIGNATURE_MISMATCH


def test_another_secret_is_a_signature_mismatch():
    assert rejection(request(headers=signed_headers(secret=OLD_SECRET))).reason is Reason.SIGNATURE_MISMATCH


def test_the_previous_secret_verifies_during_a_rotation():
    headers = signed_headers(secret=OLD_SECRET)
    secrets = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    assert sw.verify(request(headers=headers), secrets, POLICY).version == "previous"


def test_the_previous_secret_is_not_fetched_when_the_current_one_matches():
    def lazily():
        yield SecretCandidate("current", SECRET)
        raise AssertionError("previous secret fetched")

    assert sw.verify(request(), lazily(), POLICY).version == "current"


# --------------------------------------------------------------------------------------------------- missing, malformed
@pytest.mark.parametrize("dropped", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_missing_signature(dropped):
    headers = signed_headers()
    del headers[dropped]
    assert rejection(request(headers=headers)).reason is Reason.MISSING_SIGNATURE


def test_no_headers_at_all_is_missing_signature():
    assert rejection(request(headers={})).reason is Reason.MISSING_SIGNATURE


@pytest.mark.parametrize(
    "header",
    ["v1", "v1,", "v1,not base64!", "v1,Zm9v", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v2,abc", "v1a,Zm9v"],
)
def test_a_header_with_no_usable_entry_is_malformed(header):
    headers = {**signed_headers(), "webhook-signature": header}
    assert rejection(request(headers=headers)).reason is Reason.MALFORMED_SIGNATURE


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5", "-1", "1234567890123", "١٧٠٠٠٠٠٠٠٠"])
def test_a_timestamp_that_is_not_1_to_12_digits_is_malformed(timestamp):
    headers = {**signed_headers(), "webhook-timestamp": timestamp}
    expected = Reason.MISSING_SIGNATURE if not timestamp else Reason.MALFORMED_SIGNATURE
    assert rejection(request(headers=headers)).reason is expected


# --------------------------------------------------------------------------------------------------- replay window
def test_a_delivery_older_than_the_tolerance_is_too_old():
    headers = signed_headers(timestamp=NOW - 301)
    assert rejection(request(headers=headers)).reason is Reason.TIMESTAMP_TOO_OLD


def test_a_delivery_ahead_of_the_allowance_is_in_the_future():
    headers = signed_headers(timestamp=NOW + 61)
    assert rejection(request(headers=headers)).reason is Reason.TIMESTAMP_IN_FUTURE


@pytest.mark.parametrize("timestamp", [NOW - 300, NOW + 60])
def test_the_window_edges_are_inside(timestamp):
    assert sw.verify(request(headers=signed_headers(timestamp=timestamp)), CURRENT, POLICY).version == "current"


def test_a_stale_forgery_is_a_mismatch_not_a_timestamp_reason():
    headers = signed_headers(secret=OLD_SECRET, timestamp=NOW - 10_000)
    assert rejection(request(headers=headers)).reason is Reason.SIGNATURE_MISMATCH


# --------------------------------------------------------------------------------------------------- identify
def test_the_delivery_id_is_the_signed_webhook_id_and_the_event_type_the_body_type():
    identity = sw.identify(request())
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (MSG_ID, "invoice.paid", True)


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"type": 3}', b'{"data": {}}', b'"text"', b"null"])
def test_a_json_body_without_a_string_type_has_an_empty_event_type(body):
    assert sw.identify(request(body, signed_headers(body))).event_type == ""


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b"[" * 100_000])
def test_a_body_that_is_not_json_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        sw.identify(request(body, signed_headers(b"{}")))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
