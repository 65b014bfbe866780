"""GitHub verifier: official vector, every failure reason, rotation, identity."""

import hashlib
import hmac
import json

import pytest

from webhook_gateway.verifiers import github
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

POLICY = VerificationPolicy(now=1_700_000_000)
SECRET = "It's a Secret to Everybody"
CURRENT = [SecretCandidate("current", SECRET)]


def request(body: bytes, signature: str | None, **headers: str) -> WebhookRequest:
    all_headers = {"x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    all_headers.update({key.replace("_", "-"): value for key, value in headers.items()})
    if signature is not None:
        all_headers["x-hub-signature-256"] = signature
    return WebhookRequest(body=body, headers=all_headers)


def independent_signature(body: bytes, secret: str) -> str:
    # GitHub's documented algorithm, written out here so the verifier is not checked only against itself.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_official_github_vector_is_accepted():
    # Given GitHub's documented example (docs: "Validating webhook deliveries")
    vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    # When it is verified with the documented secret
    matched = github.verify(request(b"Hello, World!", vector), CURRENT, POLICY)
    # Then the current secret matched
    assert matched.version == "current"


def test_uppercase_hex_digest_is_accepted():
    body = b'{"zen": "Keep it logically awesome."}'
    signature = independent_signature(body, SECRET).upper().replace("SHA256=", "sha256=")
    assert github.verify(request(body, signature), CURRENT, POLICY).version == "current"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("sha1=0123456789abcdef0123456789abcdef01234567", Reason.MALFORMED_SIGNATURE),
        ("sha256=xyz", Reason.MALFORMED_SIGNATURE),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.MALFORMED_SIGNATURE),
        ("sha256=" + "0" * 64, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_signature_headers_are_rejected_with_their_reason(signature, reason):
    with pytest.raises(Rejected) as rejected:
        github.verify(request(b"Hello, World!", signature), CURRENT, POLICY)
    assert rejected.value.reason is reason


def test_a_single_changed_body_byte_is_a_mismatch():
    body = b'{"action": "opened"}'
    signature = independent_signature(body, SECRET)
    with pytest.raises(Rejected) as rejected:
        github.verify(request(body.replace(b"opened", b"closed"), signature), CURRENT, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


def test_legacy_sha1_header_alone_is_not_enough():
    # Given only the legacy X-Hub-Signature (SHA-1), which we deliberately ignore
    body = b"{}"
    legacy = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(Rejected) as rejected:
        github.verify(request(body, None, x_hub_signature=legacy), CURRENT, POLICY)
    assert rejected.value.reason is Reason.MISSING_SIGNATURE


def test_previous_secret_is_accepted_during_rotation_and_reported():
    # Given a hook still signing with the old secret after the new one became current
    body = b'{"zen": "Design for failure."}'
    signature = independent_signature(body, "old-secret")
    secrets = [SecretCandidate("current", "new-secret"), SecretCandidate("previous", "old-secret")]
    # When verified, Then the previous secret is the one that matched
    assert github.verify(request(body, signature), secrets, POLICY).version == "previous"


def test_previous_secret_is_not_consulted_when_current_matches():
    body = b"{}"
    consulted = []

    def candidates():
        consulted.append("current")
        yield SecretCandidate("current", SECRET)
        consulted.append("previous")
        yield SecretCandidate("previous", "old")

    github.verify(request(body, independent_signature(body, SECRET)), candidates(), POLICY)
    assert consulted == ["current"]


def test_identity_is_hook_id_and_delivery_guid():
    body = json.dumps({"zen": "x"}).encode()
    identity = github.identify(request(body, "unused", x_github_hook_id="123456"))
    assert identity.delivery_id == "123456:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert identity.event_type == "push"


def test_form_encoded_payload_is_understood():
    body = b"payload=%7B%22zen%22%3A%22x%22%7D"
    identity = github.identify(request(body, "unused", content_type="application/x-www-form-urlencoded"))
    assert identity.event_type == "push"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_non_json_body_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        github.identify(request(body, "unused"))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_missing_delivery_header_is_unparseable():
    req = WebhookRequest(body=b"{}", headers={"x-github-event": "push"})
    with pytest.raises(Rejected) as rejected:
        github.identify(req)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
