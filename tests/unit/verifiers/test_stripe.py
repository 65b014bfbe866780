"""Stripe verifier, checked against stripe-python's own signer and verifier."""

import json

import pytest
import stripe

from webhook_gateway.verifiers import stripe as stripe_verifier
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

SECRET = "whsec_test_secret_for_unit_tests"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
BODY = json.dumps({"id": "evt_1Nx", "object": "event", "type": "payment_intent.succeeded"}, indent=2).encode()


def request(header: str | None, body: bytes = BODY) -> WebhookRequest:
    headers = {"content-type": "application/json; charset=utf-8"}
    if header is not None:
        headers["stripe-signature"] = header
    return WebhookRequest(body=body, headers=headers)


def sdk_header(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> str:
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)


def test_header_signed_by_the_stripe_sdk_is_accepted():
    header = sdk_header()
    # The SDK itself agrees the header is valid (same reference, both directions).
    assert stripe.WebhookSignature.verify_header(BODY, header, SECRET, tolerance=None)
    assert stripe_verifier.verify(request(header), CURRENT, POLICY).version == "current"


def test_our_signature_is_accepted_by_the_stripe_sdk():
    header = f"t={NOW},v1={stripe_verifier.sign(BODY, SECRET, NOW)}"
    assert stripe.WebhookSignature.verify_header(BODY, header, SECRET, tolerance=None)


def test_any_v1_entry_may_match_while_stripe_rolls_the_secret():
    good = sdk_header().split("v1=")[1]
    header = f"t={NOW},v1={'0' * 64},v1={good},v0=deadbeef"
    assert stripe_verifier.verify(request(header), CURRENT, POLICY).version == "current"


def test_v0_scheme_is_never_accepted():
    # Given a header whose only valid-looking signature is under the v0 scheme
    good = sdk_header().split("v1=")[1]
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(f"t={NOW},v0={good}"), CURRENT, POLICY)
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("garbage", Reason.MALFORMED_SIGNATURE),
        (f"v1={'a' * 64}", Reason.MALFORMED_SIGNATURE),
        (f"t=abc,v1={'a' * 64}", Reason.MALFORMED_SIGNATURE),
        (f"t={NOW}", Reason.MALFORMED_SIGNATURE),
        (f"t={NOW},t={NOW},v1={'a' * 64}", Reason.MALFORMED_SIGNATURE),
        (f"t={NOW},v1={'a' * 64}", Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_headers_are_rejected_with_their_reason(header, reason):
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(header), CURRENT, POLICY)
    assert rejected.value.reason is reason


def test_wrong_secret_is_a_mismatch():
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(sdk_header(secret="whsec_other")), CURRENT, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


def test_timestamp_older_than_tolerance_is_too_old():
    # Given an authentic delivery signed 301 s before now (stripe-python's default tolerance is 300 s)
    header = sdk_header(timestamp=NOW - 301)
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(header), CURRENT, POLICY)
    assert rejected.value.reason is Reason.TIMESTAMP_TOO_OLD


def test_timestamp_at_the_edge_of_tolerance_is_accepted():
    assert stripe_verifier.verify(request(sdk_header(timestamp=NOW - 300)), CURRENT, POLICY)
    assert stripe_verifier.verify(request(sdk_header(timestamp=NOW + 60)), CURRENT, POLICY)


def test_timestamp_beyond_future_allowance_is_rejected():
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(sdk_header(timestamp=NOW + 61)), CURRENT, POLICY)
    assert rejected.value.reason is Reason.TIMESTAMP_IN_FUTURE


def test_tolerances_are_configurable():
    strict = VerificationPolicy(now=NOW, tolerance_seconds=10, future_tolerance_seconds=0)
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(sdk_header(timestamp=NOW - 11)), CURRENT, strict)
    assert rejected.value.reason is Reason.TIMESTAMP_TOO_OLD


def test_forged_stale_request_reports_mismatch_not_age():
    # A forgery must not learn anything about our clock: the signature is checked first.
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(request(sdk_header(secret="whsec_forger", timestamp=NOW - 9999)), CURRENT, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


def test_previous_secret_matches_after_rotation():
    secrets = [SecretCandidate("current", "whsec_new"), SecretCandidate("previous", SECRET)]
    assert stripe_verifier.verify(request(sdk_header()), secrets, POLICY).version == "previous"


def test_signature_covers_exact_bytes_not_reserialised_json():
    # Given the SDK signed the pretty-printed body, a compact re-serialisation must not verify
    header = sdk_header()
    compact = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    with pytest.raises(Rejected):
        stripe_verifier.verify(request(header, compact), CURRENT, POLICY)


def test_identity_is_event_id_and_type():
    identity = stripe_verifier.identify(request(None))
    assert (identity.delivery_id, identity.event_type) == ("evt_1Nx", "payment_intent.succeeded")


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"id": "evt_1"}', b'{"id": 5, "type": "x"}'])
def test_body_without_id_and_type_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.identify(request(None, body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
