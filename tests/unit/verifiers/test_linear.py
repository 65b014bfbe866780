"""Linear verifier, checked against a vector computed by hand with node:crypto and @linear/sdk 98.0.0 (once, outside
the repo: docs/providers/linear.md, "What was checked") and against an independent HMAC written here; tests never
need node. The receiver on moto: tests/integration/receiver/test_linear_receiver.py."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from webhook_gateway.verifiers import linear
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest
from webhook_gateway.verifiers.samples import linear as linear_samples

# The vector: node vector.mjs printed this body's sha256 and its HMAC-SHA256 with VECTOR_SECRET.
VECTOR_SECRET = "lin_wh_UnitTestVectorSecret0123456789"
VECTOR_BODY = (
    '{"action":"create","createdAt":"2023-11-14T22:13:19.084Z","data":{"id":"2d1c9b4e-1f0a-4c7e-9a51-7f3e2b8c6d10",'
    '"title":"Caf\u00e9"},"type":"Issue","organizationId":"0f6e3c1a-5b2d-4e8f-9c7a-1d2e3f4a5b6c",'
    '"webhookTimestamp":1700000000000,"webhookId":"6a1f2e3d-4c5b-4a69-8877-665544332211"}'
).encode("utf-8")
VECTOR_BODY_SHA256 = "7367f2d52599d3b1e873182b0f86b42d0e2f2849ffecc49f9c6f60af34172fea"
VECTOR_SIGNATURE = "a40fa2e8d34dfb1b9715d1dfe3c015cf2e6e0754e1fd686a962a91cf9632f422"

SECRET = VECTOR_SECRET
OLD_SECRET = "lin_wh_RotatedOutSigningSecret0123456789"
NOW = 1_700_000_000  # the vector's webhookTimestamp, in seconds
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
PAYLOAD = json.loads(VECTOR_BODY)


def independent_signature(body: bytes, secret: str = SECRET) -> str:
    """Linear's documented scheme, written here: hex HMAC-SHA256 of the raw body keyed with the secret as is."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def body_at(timestamp_ms: object, **changes: object) -> bytes:
    return json.dumps({**PAYLOAD, "webhookTimestamp": timestamp_ms, **changes}, separators=(",", ":")).encode()


def request(body: bytes = VECTOR_BODY, signature: str | None = "sign") -> WebhookRequest:
    headers = {"content-type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["linear-signature"] = independent_signature(body) if signature == "sign" else signature
    return WebhookRequest(body=body, headers=headers)


def rejection(webhook: WebhookRequest, secrets=CURRENT, policy: VerificationPolicy = POLICY) -> Reason:
    with pytest.raises(Rejected) as rejected:
        linear.verify(webhook, secrets, policy)
    return rejected.value.reason


# --------------------------------------------------------------------------------------------------- signatures
def test_the_hand_checked_vector_verifies():
    # Given the body and signature node:crypto computed (the HMAC @linear/sdk's verify compares with)
    assert hashlib.sha256(VECTOR_BODY).hexdigest() == VECTOR_BODY_SHA256
    # When the gateway verifies it at its webhookTimestamp / Then the current secret matched
    assert linear.verify(request(signature=VECTOR_SIGNATURE), CURRENT, POLICY).version == "current"


def test_our_signers_compute_the_vector():
    assert linear.sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE
    assert independent_signature(VECTOR_BODY) == VECTOR_SIGNATURE
    # The samples' signer stamps the sending time into the body first: at the vector's own time, the same bytes
    signed = linear_samples.sign(VECTOR_BODY, "https://x", "application/json", VECTOR_SECRET, NOW)
    assert signed.body == VECTOR_BODY
    assert signed.headers == {"linear-signature": VECTOR_SIGNATURE, "linear-timestamp": "1700000000000"}


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("  ", Reason.MISSING_SIGNATURE),
        ("sha256=" + VECTOR_SIGNATURE, Reason.MALFORMED_SIGNATURE),
        ("v1=" + VECTOR_SIGNATURE, Reason.MALFORMED_SIGNATURE),
        (VECTOR_SIGNATURE[:63], Reason.MALFORMED_SIGNATURE),
        (VECTOR_SIGNATURE + "0", Reason.MALFORMED_SIGNATURE),
        ("g" * 64, Reason.MALFORMED_SIGNATURE),
        (VECTOR_SIGNATURE + "," + VECTOR_SIGNATURE, Reason.MALFORMED_SIGNATURE),  # a repeated header, comma-joined
        ("0" * 64, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_signatures_are_rejected_with_their_reason(signature, reason):
    assert rejection(request(signature=signature)) is reason


def test_surrounding_blanks_and_upper_case_hex_are_accepted():
    # @linear/sdk compares the hex strings byte for byte (upper case fails there); the digest is the same either way
    assert linear.verify(request(signature=f" {VECTOR_SIGNATURE.upper()} "), CURRENT, POLICY)


def test_a_wrong_secret_is_a_mismatch():
    assert rejection(request(signature=independent_signature(VECTOR_BODY, OLD_SECRET))) is Reason.SIGNATURE_MISMATCH


def test_the_signature_covers_the_exact_bytes():
    pretty = json.dumps(PAYLOAD, indent=2, ensure_ascii=False).encode()
    assert rejection(request(pretty, signature=VECTOR_SIGNATURE)) is Reason.SIGNATURE_MISMATCH


def test_the_previous_secret_matches_after_rotation_and_is_reported():
    secrets = [SecretCandidate("current", "lin_wh_new"), SecretCandidate("previous", SECRET)]
    assert linear.verify(request(signature=VECTOR_SIGNATURE), secrets, POLICY).version == "previous"


# --------------------------------------------------------------------------------------------------- window
def test_the_window_is_60_seconds_on_both_sides_with_the_gateways_defaults():
    # Given authentic bodies stamped 60 s before and after now (@linear/sdk accepts up to 60 s either way)
    for offset_ms in (-60_000, 60_000, 0):
        assert linear.verify(request(body_at(NOW * 1000 + offset_ms)), CURRENT, POLICY)
    # Then one second beyond each side is refused with its reason, although SIGNATURE_TOLERANCE_SECONDS is 300
    assert rejection(request(body_at(NOW * 1000 - 61_000))) is Reason.TIMESTAMP_TOO_OLD
    assert rejection(request(body_at(NOW * 1000 + 61_000))) is Reason.TIMESTAMP_IN_FUTURE


def test_the_window_counts_whole_seconds():
    # 60.999 s ago is still 60 whole seconds; 61 s is not
    assert linear.verify(request(body_at(NOW * 1000 - 60_000 + 1)), CURRENT, POLICY)
    assert rejection(request(body_at(NOW * 1000 - 61_000))) is Reason.TIMESTAMP_TOO_OLD


def test_a_stricter_gateway_setting_tightens_the_window_a_looser_one_does_not_widen_it():
    strict = VerificationPolicy(now=NOW, tolerance_seconds=10, future_tolerance_seconds=5)
    assert linear.verify(request(body_at((NOW - 10) * 1000)), CURRENT, strict)
    assert rejection(request(body_at((NOW - 11) * 1000)), policy=strict) is Reason.TIMESTAMP_TOO_OLD
    assert rejection(request(body_at((NOW + 6) * 1000)), policy=strict) is Reason.TIMESTAMP_IN_FUTURE
    loose = VerificationPolicy(now=NOW, tolerance_seconds=3600, future_tolerance_seconds=3600)
    assert rejection(request(body_at((NOW - 61) * 1000)), policy=loose) is Reason.TIMESTAMP_TOO_OLD
    assert rejection(request(body_at((NOW + 61) * 1000)), policy=loose) is Reason.TIMESTAMP_IN_FUTURE


def test_the_window_helper_caps_each_side_at_60_seconds():
    assert linear.window(VerificationPolicy(now=1, tolerance_seconds=300, future_tolerance_seconds=90)) == (
        VerificationPolicy(now=1, tolerance_seconds=60, future_tolerance_seconds=60)
    )
    assert linear.window(VerificationPolicy(now=1, tolerance_seconds=7, future_tolerance_seconds=3)) == (
        VerificationPolicy(now=1, tolerance_seconds=7, future_tolerance_seconds=3)
    )


def test_the_unsigned_timestamp_header_is_ignored():
    # Given a stale signed body with a fresh linear-timestamp header (which the signature does not cover)
    stale = body_at((NOW - 3600) * 1000)
    webhook = WebhookRequest(
        body=stale, headers={"linear-signature": independent_signature(stale), "linear-timestamp": str(NOW * 1000)}
    )
    assert rejection(webhook) is Reason.TIMESTAMP_TOO_OLD


def test_a_forged_stale_payload_is_a_mismatch_not_an_age():
    stale = body_at((NOW - 9999) * 1000)
    assert rejection(request(stale, independent_signature(stale, "lin_wh_forger"))) is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize("value", [None, "1700000000000", True, [1], {"ms": 1}, float("nan"), float("inf")])
def test_a_signed_body_without_a_numeric_webhook_timestamp_is_unparseable(value):
    assert rejection(request(body_at(value))) is Reason.UNPARSEABLE_PAYLOAD


def test_a_signed_body_missing_the_timestamp_or_not_an_object_is_unparseable():
    without = json.dumps({key: value for key, value in PAYLOAD.items() if key != "webhookTimestamp"}).encode()
    for body in (without, b"[]", b"nope", b"{" * 100_000, b"1" * 5000):
        assert rejection(request(body)) is Reason.UNPARSEABLE_PAYLOAD


def test_a_float_millisecond_timestamp_is_read():
    assert linear.verify(request(body_at(NOW * 1000 + 0.5)), CURRENT, POLICY)
    assert linear.signed_timestamp({"webhookTimestamp": 1_700_000_061_999.9}) == 1_700_000_061


# --------------------------------------------------------------------------------------------------- identity
def test_the_identity_is_built_from_the_signed_body():
    identity = linear.identify(request())
    assert identity.delivery_id == (
        "6a1f2e3d-4c5b-4a69-8877-665544332211:Issue.create:2d1c9b4e-1f0a-4c7e-9a51-7f3e2b8c6d10:2023-11-14T22:13:19.084Z"
    )
    assert identity.event_type == "Issue.create"
    assert identity.delivery_id_signed is True


def test_a_retry_is_the_same_delivery_and_other_events_are_not():
    # Given Linear's retry: the same payload, stamped anew (only webhookTimestamp changes), with another delivery header
    first = linear.identify(request())
    retry = linear.identify(WebhookRequest(body=body_at(NOW * 1000 + 60_000), headers={"linear-delivery": "x"}))
    assert retry == first
    # Then another entity, another action, another webhook or another time is another delivery
    others = [
        body_at(NOW * 1000, data={"id": "9f9f9f9f-0000-4000-8000-000000000000"}),
        body_at(NOW * 1000, action="update"),
        body_at(NOW * 1000, type="Comment"),
        body_at(NOW * 1000, webhookId="another-webhook"),
        body_at(NOW * 1000, createdAt="2023-11-14T22:13:19.085Z"),
    ]
    ids = {linear.identify(request(body)).delivery_id for body in others}
    assert len(ids) == len(others) and first.delivery_id not in ids


def test_a_payload_without_data_id_is_identified_by_the_rest():
    # Given an app payload (AgentSessionEvent, OAuthApp) that carries no data object
    body = body_at(NOW * 1000, data=None, type="OAuthApp", action="revoked")
    identity = linear.identify(request(body))
    assert identity.delivery_id == "6a1f2e3d-4c5b-4a69-8877-665544332211:OAuthApp.revoked:-:2023-11-14T22:13:19.084Z"
    assert linear.identify(request(body_at(NOW * 1000, data={"id": 7}))).delivery_id.split(":")[2] == "-"


@pytest.mark.parametrize("missing", ["webhookId", "type", "action", "createdAt"])
def test_a_payload_without_its_identifying_strings_is_unparseable(missing):
    for value in (None, "", 5):
        with pytest.raises(Rejected) as rejected:
            linear.identify(request(body_at(NOW * 1000, **{missing: value})))
        assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


@pytest.mark.parametrize("body", [b"nope", b"[]", b'"Issue"', b"{" * 100_000])
def test_a_body_that_is_not_a_json_object_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        linear.identify(request(body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


# --------------------------------------------------------------------------------------------------- answer
def test_linear_is_answered_200_with_the_delivery_id():
    identity = linear.identify(request())
    answer = linear.PROVIDER.acknowledge(identity)
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert answer.body == json.dumps({"status": "accepted", "delivery_id": identity.delivery_id}, separators=(",", ":"))


def test_the_provider_declares_no_handshake_and_never_forwards_the_signature():
    assert linear.PROVIDER.handshake(request(), CURRENT[0]) is None
    assert linear.PROVIDER.methods == ("POST",)
    assert linear.PROVIDER.forwarded_headers == ("linear-delivery", "linear-event", "content-type", "user-agent")
