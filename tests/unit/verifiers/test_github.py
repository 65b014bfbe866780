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


PUSH_BODY = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "a" * 40, "commits": []}).encode()
PING_BODY = json.dumps({"zen": "Design for failure.", "hook_id": 123456, "hook": {"id": 123456}}).encode()


def test_identity_is_hook_id_and_delivery_guid():
    identity = github.identify(request(PUSH_BODY, "unused", x_github_hook_id="123456"))
    assert identity.delivery_id == "123456:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert identity.event_type == "push"


def test_identity_without_a_hook_id_header_uses_hook_zero():
    identity = github.identify(request(PUSH_BODY, "unused"))
    assert identity.delivery_id == "0:72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_identity_trims_the_headers_it_is_built_from():
    # Given headers with surrounding whitespace (proxies keep it)
    req = request(PUSH_BODY, "unused", x_github_hook_id=" 42 ", x_github_delivery=" guid-1 ", x_github_event=" push ")
    # When the delivery is identified / Then the id and type carry no whitespace
    identity = github.identify(req)
    assert (identity.delivery_id, identity.event_type) == ("42:guid-1", "push")


def test_identity_is_marked_unsigned_because_github_signs_only_the_body():
    # GitHub's GUID, hook id and event are plain headers: the consumer must also deduplicate by signed body.
    assert github.identify(request(PUSH_BODY, "unused")).delivery_id_signed is False


def test_form_encoded_payload_is_understood():
    body = b"payload=" + PUSH_BODY.replace(b'"', b"%22").replace(b"{", b"%7B").replace(b"}", b"%7D")
    identity = github.identify(request(body, "unused", content_type="application/x-www-form-urlencoded"))
    assert identity.event_type == "push"


def test_form_body_that_is_not_strictly_a_form_is_unparseable():
    # Given a form body with a field that has no '=' (parse_qs would silently drop it when not strict)
    body = b"junk&payload=" + PUSH_BODY
    # When it is identified / Then it is refused rather than half-read
    with pytest.raises(Rejected) as rejected:
        github.identify(request(body, "unused", content_type="application/x-www-form-urlencoded"))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_a_signed_ping_body_resent_as_push_is_refused():
    # Given a captured, validly signed ping body whose unsigned X-GitHub-Event header was changed to push
    req = request(PING_BODY, "unused", x_github_event="push")
    # When it is identified / Then it never becomes a push delivery
    with pytest.raises(Rejected) as rejected:
        github.identify(req)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


@pytest.mark.parametrize("event", ["issues", "pull_request", "release"])
def test_a_ping_body_under_any_other_event_is_refused(event):
    with pytest.raises(Rejected):
        github.identify(request(PING_BODY, "unused", x_github_event=event))


def test_a_push_body_resent_as_ping_is_refused():
    with pytest.raises(Rejected) as rejected:
        github.identify(request(PUSH_BODY, "unused", x_github_event="ping"))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


@pytest.mark.parametrize("missing", ["ref", "before", "after"])
def test_a_push_without_its_required_keys_is_refused(missing):
    document = json.loads(PUSH_BODY)
    del document[missing]
    with pytest.raises(Rejected):
        github.identify(request(json.dumps(document).encode(), "unused"))


def test_a_genuine_ping_is_identified_as_ping():
    assert github.identify(request(PING_BODY, "unused", x_github_event="ping")).event_type == "ping"


def test_other_events_are_not_shape_checked():
    # Given an event type GitHub documents many shapes for
    identity = github.identify(request(json.dumps({"action": "opened"}).encode(), "unused", x_github_event="issues"))
    # Then its type is taken from the header (the body-fingerprint dedupe covers replays of it)
    assert identity.event_type == "issues"


def test_absurdly_nested_json_is_unparseable_not_a_crash():
    with pytest.raises(Rejected) as rejected:
        github.identify(request(b"[" * 100_000 + b"]" * 100_000, "unused"))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


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
