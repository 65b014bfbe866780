"""Square verifier: squareup's official vector and its verify_signature, every failure reason, the notification URL
(request URL or PUBLIC_BASE_URL), the legacy SHA-1 header ignored, rotation, identity."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from square.utils.webhooks_helper import verify_signature as squareup_verify_signature

from webhook_gateway.verifiers import square
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

# squareup's own test vector (square-python-sdk tests/utils/test_webhooks_helper.py, and every other Square SDK).
VECTOR_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":'
    b'"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":'
    b'{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
VECTOR_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
VECTOR_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
VECTOR_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="

POLICY = VerificationPolicy(now=1_700_000_000)
CURRENT = [SecretCandidate("current", VECTOR_KEY)]


def request(
    body: bytes = VECTOR_BODY,
    signature: str | None = VECTOR_SIGNATURE,
    *,
    host: str = "webhook.site",
    path: str = "/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
    query: str = "",
    **headers: str,
) -> WebhookRequest:
    all_headers = {"content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if signature is not None:
        all_headers["x-square-hmacsha256-signature"] = signature
    return WebhookRequest(body=body, headers=all_headers, host=host, raw_path=path, raw_query_string=query)


def independent_signature(url: str, body: bytes, key: str) -> str:
    # Square's documented algorithm, written out here so the verifier is not checked only against itself.
    return base64.b64encode(hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()).decode()


def reason_of(call) -> Reason:
    with pytest.raises(Rejected) as rejected:
        call()
    return rejected.value.reason


def test_squareups_official_vector_is_accepted():
    # Given squareup's test vector, as the request Square made to the subscription's URL
    assert squareup_verify_signature(
        request_body=VECTOR_BODY.decode(),
        signature_header=VECTOR_SIGNATURE,
        signature_key=VECTOR_KEY,
        notification_url=VECTOR_URL,
    )
    # When the gateway verifies it, rebuilding the URL from the request
    matched = square.verify(request(), CURRENT, POLICY)
    # Then the current key matched
    assert matched.version == "current"


def test_the_vector_verifies_behind_a_proxy_through_public_base_url():
    # Given the same delivery reaching the receiver under another host (API Gateway behind a custom domain/proxy)
    proxied = request(host="abc123def4.execute-api.us-east-1.amazonaws.com")
    # Then it fails with the request's own URL, and verifies when PUBLIC_BASE_URL is the subscription's base
    assert reason_of(lambda: square.verify(proxied, CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH
    policy = VerificationPolicy(now=POLICY.now, public_base_url="https://webhook.site/")
    assert square.verify(proxied, CURRENT, policy).version == "current"


def test_a_request_signed_by_squareups_algorithm_with_a_query_string_is_accepted():
    # Given a subscription URL with a query string: it is part of the signed notification URL
    url = "https://hooks.example.com/webhooks/square?tenant=a%20b"
    body = b'{"event_id":"e-1","type":"payment.updated"}'
    signature = independent_signature(url, body, "k")
    assert squareup_verify_signature(
        request_body=body.decode(), signature_header=signature, signature_key="k", notification_url=url
    )
    signed = request(body, signature, host="hooks.example.com", path="/webhooks/square", query="tenant=a%20b")
    assert square.verify(signed, [SecretCandidate("current", "k")], POLICY).version == "current"
    # And the same signature under another query, path or scheme is a mismatch (the URL is signed exactly)
    for variant in (
        request(body, signature, host="hooks.example.com", path="/webhooks/square", query="tenant=b"),
        request(body, signature, host="hooks.example.com", path="/webhooks/square/", query="tenant=a%20b"),
        request(body, signature, host="hooks.example.com", path="/webhooks/square"),
    ):
        assert reason_of(lambda v=variant: square.verify(v, [SecretCandidate("current", "k")], POLICY)) is (
            Reason.SIGNATURE_MISMATCH
        )


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("   ", Reason.MISSING_SIGNATURE),
        ("not base64!", Reason.MALFORMED_SIGNATURE),
        ("GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4", Reason.MALFORMED_SIGNATURE),  # padding missing
        ("é" * 44, Reason.MALFORMED_SIGNATURE),  # non-ASCII
        (base64.b64encode(b"\0" * 20).decode(), Reason.MALFORMED_SIGNATURE),  # a SHA-1 sized digest
        (base64.b64encode(b"\0" * 33).decode(), Reason.MALFORMED_SIGNATURE),
        (base64.b64encode(b"\0" * 32).decode(), Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_signature_headers_are_rejected_with_their_reason(signature, reason):
    assert reason_of(lambda: square.verify(request(signature=signature), CURRENT, POLICY)) is reason


def test_surrounding_blanks_of_the_header_are_ignored():
    assert square.verify(request(signature=f"  {VECTOR_SIGNATURE}\t"), CURRENT, POLICY).version == "current"


def test_a_single_changed_body_byte_is_a_mismatch():
    tampered = VECTOR_BODY.replace(b"MLEFBHHSJGVHD", b"MLEFBHHSJGVHE")
    assert reason_of(lambda: square.verify(request(tampered), CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH


def test_the_legacy_sha1_header_alone_is_not_accepted():
    # Given only Square's legacy x-square-signature (HMAC-SHA1 of the same string), correctly computed
    legacy = base64.b64encode(hmac.new(VECTOR_KEY.encode(), VECTOR_URL.encode() + VECTOR_BODY, hashlib.sha1).digest())
    # Then it is as if there were no signature: only x-square-hmacsha256-signature counts
    lone = request(signature=None, x_square_signature=legacy.decode())
    assert reason_of(lambda: square.verify(lone, CURRENT, POLICY)) is Reason.MISSING_SIGNATURE
    # And it never lends weight to a wrong SHA-256 header
    both = request(signature=base64.b64encode(b"\0" * 32).decode(), x_square_signature=legacy.decode())
    assert reason_of(lambda: square.verify(both, CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH


def test_previous_key_is_accepted_during_rotation_and_reported():
    # Given a subscription whose key was replaced, Square still signing with the old one
    secrets = [SecretCandidate("current", "brand-new-key"), SecretCandidate("previous", VECTOR_KEY)]
    # Then the previous key verifies, and is the one reported
    assert square.verify(request(), secrets, POLICY) == SecretCandidate("previous", VECTOR_KEY)
    # And the current one is preferred when both could match
    both = [SecretCandidate("current", VECTOR_KEY), SecretCandidate("previous", VECTOR_KEY)]
    assert square.verify(request(), both, POLICY).version == "current"


def test_no_key_or_an_empty_key_never_verifies():
    # Given an HMAC keyed with "" (anyone can compute it)
    empty_signed = independent_signature(VECTOR_URL, VECTOR_BODY, "")
    for secrets in ([], [SecretCandidate("current", "")], [SecretCandidate("previous", "")]):
        assert reason_of(lambda s=secrets: square.verify(request(signature=empty_signed), s, POLICY)) is (
            Reason.SIGNATURE_MISMATCH
        )


def test_no_time_is_checked_an_old_delivery_still_verifies():
    # Square signs no timestamp: created_at is informational, a delivery of 2022 verifies years later
    far_future = VerificationPolicy(now=4_000_000_000, tolerance_seconds=1, future_tolerance_seconds=1)
    assert square.verify(request(), CURRENT, far_future).version == "current"


def test_the_key_is_used_as_is_not_base64_decoded():
    decoded = base64.urlsafe_b64decode(VECTOR_KEY + "==")
    signature = base64.b64encode(hmac.new(decoded, VECTOR_URL.encode() + VECTOR_BODY, hashlib.sha256).digest())
    assert reason_of(lambda: square.verify(request(signature=signature.decode()), CURRENT, POLICY)) is (
        Reason.SIGNATURE_MISMATCH
    )


def test_compute_signature_is_squareups():
    digest = square.compute_signature(VECTOR_URL, VECTOR_BODY, VECTOR_KEY)
    assert base64.b64encode(digest).decode() == VECTOR_SIGNATURE


# -- identity ---------------------------------------------------------------------------------------------------------


def test_the_delivery_is_named_by_its_signed_event_id_and_type():
    identity = square.identify(request())
    assert identity.delivery_id == "ac3ac95b-f97d-458c-a6e6-18981597e05f"
    assert identity.event_type == "webhooks.test_notification"
    assert identity.delivery_id_signed is True


def test_a_retry_is_the_same_delivery_and_two_events_are_distinct():
    body = {"merchant_id": "M", "type": "payment.updated", "event_id": "e-1", "data": {"id": "p"}}
    first = square.identify(request(json.dumps(body).encode()))
    retry = square.identify(request(json.dumps(body).encode(), square_retry_number="1"))
    other = square.identify(request(json.dumps({**body, "event_id": "e-2"}).encode()))
    assert first == retry
    assert other.delivery_id != first.delivery_id


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"payment.updated"',
        b"[" * 100_000,
        b'{"type": "payment.updated"}',
        b'{"event_id": "e-1"}',
        b'{"event_id": "", "type": "payment.updated"}',
        b'{"event_id": "e-1", "type": ""}',
        b'{"event_id": 1, "type": "payment.updated"}',
        b'{"event_id": "e-1", "type": ["payment.updated"]}',
        b'{"event_id": null, "type": "payment.updated"}',
    ],
)
def test_bodies_without_a_string_event_id_and_type_are_unparseable(body):
    assert reason_of(lambda: square.identify(request(body))) is Reason.UNPARSEABLE_PAYLOAD


def test_the_provider_declares_what_the_gateway_needs():
    provider = square.PROVIDER
    assert provider.name == "square" and provider.title == "Square"
    assert provider.methods == ("POST",)
    assert "x-square-hmacsha256-signature" not in provider.forwarded_headers
    assert "x-square-signature" not in provider.forwarded_headers
    assert {"square-retry-number", "square-initial-delivery-timestamp"} <= set(provider.forwarded_headers)
    assert provider.secret_format.sample and provider.secret_format.wrong_sample != provider.secret_format.sample


@pytest.mark.parametrize("junk", ["!", "\n", "*", "-_"])
def test_a_genuine_signature_with_characters_outside_base64_is_malformed_not_accepted(junk):
    # Given the vector's genuine signature with characters outside the base64 alphabet inserted (a lenient decoder
    # would drop them and accept it): it is not what Square sends, so it is refused before any HMAC
    signature = VECTOR_SIGNATURE[:10] + junk + VECTOR_SIGNATURE[10:]
    assert reason_of(lambda: square.verify(request(signature=signature), CURRENT, POLICY)) is (
        Reason.MALFORMED_SIGNATURE
    )
