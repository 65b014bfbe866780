"""GitLab verifier, against independent references: the request headers and push payload of GitLab's documentation
(the webhook events page and the hooks API's ``request_headers`` example), and, for the signing token, requests
signed by the ``standardwebhooks`` library (``Webhook.sign``) and the Standard Webhooks vector of
``../shared/PROVIDERS.md``. Through the real receiver handler on moto: tests/integration/receiver/
test_gitlab_receiver.py."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from webhook_gateway.verifiers import gitlab
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
)

TOKEN = "s3cr3t-gitlab-hook-token"
OLD_TOKEN = "the-previous-gitlab-token"
SIGNING = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SIGNING = "whsec_" + base64.b64encode(b"o" * 32).decode()
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)

# GitLab's documented delivery headers (the hooks API's request_headers example), minus the token.
DOCUMENTED_HEADERS = {
    "content-type": "application/json",
    "user-agent": "GitLab/17.1.0-pre",
    "idempotency-key": "a5461c4d-9c7f-4af9-add6-cddebe3c426f",
    "x-gitlab-event": "Push Hook",
    "x-gitlab-webhook-uuid": "3c5c0404-c866-44bc-a5f6-452bb1bfc76e",
    "x-gitlab-instance": "https://gitlab.example.com",
    "x-gitlab-event-uuid": "9cebe914-4827-408f-b014-cfa23a47a35f",
}
# The start of GitLab's documented push payload.
PUSH = {
    "object_kind": "push",
    "event_name": "push",
    "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "ref": "refs/heads/master",
    "ref_protected": True,
    "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "user_id": 4,
    "user_name": "John Smith",
    "user_username": "jsmith",
    "project_id": 15,
    "commits": [],
    "total_commits_count": 4,
}
BODY = json.dumps(PUSH).encode()
MESSAGE_ID = DOCUMENTED_HEADERS["idempotency-key"]  # GitLab's webhook-id is its Idempotency-Key


def token_request(token: str | None = TOKEN, body: bytes = BODY, **headers: str) -> WebhookRequest:
    sent = {**DOCUMENTED_HEADERS, **({} if token is None else {"x-gitlab-token": token})}
    return WebhookRequest(body=body, headers={**sent, **headers})


def library_signature(secret: str = SIGNING, message_id: str = MESSAGE_ID, timestamp: int = NOW, body: bytes = BODY):
    """The webhook-* headers the standardwebhooks library signs (GitLab's signing token is Standard Webhooks v1)."""
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def signed_request(body: bytes = BODY, **overrides: str) -> WebhookRequest:
    headers = {**DOCUMENTED_HEADERS, **library_signature(body=body), **overrides}
    return WebhookRequest(body=body, headers=headers)


def candidates(*values: str) -> list[SecretCandidate]:
    versions = ("current", "previous")
    return [SecretCandidate(versions[index], value) for index, value in enumerate(values)]  # type: ignore[arg-type]


def rejection(request: WebhookRequest, secrets: list[SecretCandidate], policy=POLICY) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        gitlab.verify(request, secrets, policy)
    return rejected.value


def never_read() -> Iterator[SecretCandidate]:
    raise AssertionError("the secret was read")
    yield  # pragma: no cover


# ---------------------------------------------------------------------------------------------------- secret token
def test_a_documented_delivery_with_its_secret_token_is_accepted_and_named_by_its_idempotency_key():
    assert gitlab.verify(token_request(), candidates(TOKEN), POLICY).version == "current"
    identity = gitlab.identify(token_request())
    assert identity == DeliveryIdentity("a5461c4d-9c7f-4af9-add6-cddebe3c426f", "Push Hook", delivery_id_signed=False)


@pytest.mark.parametrize(
    "sent",
    [TOKEN + "x", TOKEN[:-1], TOKEN.upper(), " " + TOKEN, "x" + TOKEN, "not-the-token", "é" + TOKEN[1:], "\ud800"],
)
def test_any_other_token_is_a_mismatch(sent):
    assert rejection(token_request(sent), candidates(TOKEN)).reason is Reason.SIGNATURE_MISMATCH


def test_without_a_token_or_a_signature_nothing_is_read_and_the_signature_is_missing():
    for request in (token_request(None), token_request("")):
        failure = rejection(request, never_read())  # type: ignore[arg-type]
        assert failure.reason is Reason.MISSING_SIGNATURE
        assert failure.detail == "no x-gitlab-token and no webhook-signature"


def test_the_previous_token_still_verifies_during_rotation_and_is_read_only_when_needed():
    assert gitlab.verify(token_request(OLD_TOKEN), candidates(TOKEN, OLD_TOKEN), POLICY).version == "previous"

    def current_only() -> Iterator[SecretCandidate]:
        yield SecretCandidate("current", TOKEN)
        raise AssertionError("the previous secret was read")

    assert gitlab.verify(token_request(), current_only(), POLICY).version == "current"


@pytest.mark.parametrize("stored", [TOKEN + "\n", TOKEN + "\r\n", TOKEN[:5] + "\n" + TOKEN[5:], "\n" + TOKEN])
def test_a_stored_token_is_compared_without_its_line_breaks_as_gitlab_sends_it(stored):
    # GitLab sends Gitlab::Utils.remove_line_breaks(token): a value saved with a trailing newline still matches
    assert gitlab.verify(token_request(TOKEN), candidates(stored), POLICY).version == "current"


def test_a_lone_carriage_return_is_kept_as_gitlab_keeps_it():
    assert rejection(token_request(TOKEN), candidates(TOKEN + "\r")).reason is Reason.SIGNATURE_MISMATCH
    assert gitlab.verify(token_request(TOKEN + "\r"), candidates(TOKEN + "\r"), POLICY).version == "current"


@pytest.mark.parametrize("stored", ["", "\n", "\r\n\n"])
def test_an_empty_token_never_matches(stored):
    # Given a stored value that is empty, or nothing once its line breaks are removed
    failure = rejection(token_request("\n"), candidates(stored))
    assert failure.reason is Reason.SIGNATURE_MISMATCH
    assert rejection(token_request("x"), candidates(stored, "")).reason is Reason.SIGNATURE_MISMATCH


def test_an_empty_current_value_does_not_hide_the_previous_token():
    assert gitlab.verify(token_request(OLD_TOKEN), candidates("", OLD_TOKEN), POLICY).version == "previous"


def test_no_candidate_at_all_is_a_mismatch():
    assert rejection(token_request(), []).reason is Reason.SIGNATURE_MISMATCH


@settings(max_examples=200, deadline=None)
@given(stored=st.text(min_size=1, max_size=30), sent=st.text(min_size=1, max_size=30))
def test_a_token_verifies_exactly_when_it_is_the_stored_one_without_line_breaks(stored, sent):
    request = token_request(sent)
    expected = stored.replace("\r\n", "").replace("\n", "")
    if stored.startswith("whsec_"):
        return  # a signing token, tested below
    if sent == expected:
        assert gitlab.verify(request, candidates(stored), POLICY).version == "current"
    else:
        assert rejection(request, candidates(stored)).reason is Reason.SIGNATURE_MISMATCH


# ---------------------------------------------------------------------------------------------------- signing token
def test_a_delivery_signed_by_the_standardwebhooks_library_is_accepted_and_named_by_its_signed_webhook_id():
    # Given a delivery signed now (the library checks its window against the clock)
    now = int(time.time())
    headers = {**DOCUMENTED_HEADERS, **library_signature(timestamp=now)}
    request = WebhookRequest(body=BODY, headers={**headers, "idempotency-key": "an-unsigned-header-someone-changed"})
    assert Webhook(SIGNING).verify(BODY, dict(request.headers), json_parse=False) is None  # the reference agrees
    policy = VerificationPolicy(now=now)
    assert gitlab.verify(request, candidates(SIGNING), policy).version == "current"
    assert gitlab.identify(request) == DeliveryIdentity(MESSAGE_ID, "Push Hook", delivery_id_signed=True)


def test_the_standard_webhooks_vector_verifies_as_a_gitlab_signing_token():
    # ../shared/PROVIDERS.md: key, id, timestamp and body -> v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
    headers = {
        "x-gitlab-event": "Push Hook",
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    request = WebhookRequest(body=b'{"test": 2432232314}', headers=headers)
    secrets = candidates("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert gitlab.verify(request, secrets, VerificationPolicy(now=1614265330)).version == "current"
    assert gitlab.identify(request).delivery_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_with_a_signing_token_a_secret_token_alone_is_a_missing_signature():
    failure = rejection(token_request(TOKEN), candidates(SIGNING))
    assert failure.reason is Reason.MISSING_SIGNATURE
    assert failure.detail == "a signing token is configured and there is no webhook-signature"


def test_with_a_secret_token_a_signature_alone_is_a_missing_token():
    failure = rejection(signed_request(), candidates(TOKEN))
    assert failure.reason is Reason.MISSING_SIGNATURE
    assert failure.detail == "a secret token is configured and there is no x-gitlab-token"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"webhook-signature": "v1,not base64!"}, Reason.MALFORMED_SIGNATURE),
        ({"webhook-signature": "v1," + base64.b64encode(b"x" * 31).decode()}, Reason.MALFORMED_SIGNATURE),
        ({"webhook-timestamp": "17e8"}, Reason.MALFORMED_SIGNATURE),
        ({"webhook-signature": ""}, Reason.MISSING_SIGNATURE),
        ({"webhook-id": ""}, Reason.MISSING_SIGNATURE),
        ({"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, Reason.SIGNATURE_MISMATCH),
        ({"webhook-id": "another-id"}, Reason.SIGNATURE_MISMATCH),
        ({"webhook-timestamp": str(NOW + 1)}, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_each_signature_failure_has_its_reason(overrides, reason):
    assert rejection(signed_request(**overrides), candidates(SIGNING)).reason is reason


def test_a_changed_body_or_another_key_is_a_mismatch():
    request = signed_request()
    tampered = WebhookRequest(body=BODY + b" ", headers=request.headers)
    assert rejection(tampered, candidates(SIGNING)).reason is Reason.SIGNATURE_MISMATCH
    assert rejection(request, candidates(OLD_SIGNING)).reason is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize(("age", "reason"), [(300, None), (301, Reason.TIMESTAMP_TOO_OLD), (-60, None),
                                             (-61, Reason.TIMESTAMP_IN_FUTURE)])  # fmt: skip
def test_the_signed_timestamp_window_both_directions(age, reason):
    headers = {**DOCUMENTED_HEADERS, **library_signature(timestamp=NOW - age)}
    request = WebhookRequest(body=BODY, headers=headers)
    if reason is None:
        assert gitlab.verify(request, candidates(SIGNING), POLICY).version == "current"
    else:
        assert rejection(request, candidates(SIGNING)).reason is reason


def test_the_signature_is_checked_before_the_timestamp():
    forged = {**library_signature(secret=OLD_SIGNING, timestamp=NOW - 3600)}
    request = WebhookRequest(body=BODY, headers={**DOCUMENTED_HEADERS, **forged})
    assert rejection(request, candidates(SIGNING)).reason is Reason.SIGNATURE_MISMATCH


def test_svix_header_names_are_not_gitlabs():
    # GitLab sends webhook-*: a request signed under Svix's names carries no signature GitLab would send
    headers = {f"svix-{name.split('-', 1)[1]}": value for name, value in library_signature().items()}
    request = WebhookRequest(body=BODY, headers={**DOCUMENTED_HEADERS, **headers})
    assert rejection(request, candidates(SIGNING)).reason is Reason.MISSING_SIGNATURE


def test_a_signing_token_that_is_not_base64_verifies_nothing_and_says_so():
    # A configuration error, but answered as a mismatch: a forgery is a 401 whatever the secret holds (a 503 would
    # make the provider retry it); the detail, logged, names which secret is no key, never its value.
    failure = rejection(signed_request(), candidates("whsec_not base64!"))
    assert failure.reason is Reason.SIGNATURE_MISMATCH
    assert "current secret is no whsec_" in failure.detail and "not base64" not in failure.detail


def test_the_previous_signing_token_still_verifies():
    assert gitlab.verify(signed_request(), candidates(OLD_SIGNING, SIGNING), POLICY).version == "previous"


# ------------------------------------------------------------------------------------------- rotation across modes
def test_a_rotation_from_a_secret_token_to_a_signing_token_accepts_both_until_the_old_one_is_retired():
    # Given current = the new signing token, previous = the old secret token
    rotating = candidates(SIGNING, OLD_TOKEN)
    # Then a hook still sending its token verifies with the previous value, a signed one with the current value
    assert gitlab.verify(token_request(OLD_TOKEN), rotating, POLICY).version == "previous"
    assert gitlab.verify(signed_request(), rotating, POLICY).version == "current"
    # And once the previous value is gone, the token alone is a missing signature
    assert rejection(token_request(OLD_TOKEN), candidates(SIGNING)).reason is Reason.MISSING_SIGNATURE


def test_a_rotation_back_from_a_signing_token_to_a_secret_token():
    rotating = candidates(TOKEN, OLD_SIGNING)
    old_signed = {**DOCUMENTED_HEADERS, **library_signature(secret=OLD_SIGNING)}
    assert gitlab.verify(WebhookRequest(body=BODY, headers=old_signed), rotating, POLICY).version == "previous"
    assert gitlab.verify(token_request(TOKEN), rotating, POLICY).version == "current"


def test_a_valid_token_with_forged_webhook_headers_is_accepted_by_its_token_and_never_named_as_signed():
    # Given a request whose token is right (the previous value) and whose webhook-* headers are forged
    forged = library_signature(secret=OLD_SIGNING, message_id="msg_chosen_by_the_forger")
    request = token_request(OLD_TOKEN, **forged)
    # When it is verified: the signing token (current) does not match it, the old token does
    assert gitlab.verify(request, candidates(SIGNING, OLD_TOKEN), POLICY).version == "previous"
    # Then its identity is the unsigned Idempotency-Key: nothing claims the forged webhook-id was signed
    assert gitlab.identify(request) == DeliveryIdentity(MESSAGE_ID, "Push Hook", delivery_id_signed=False)


def test_a_hook_sending_both_credentials_verifies_and_its_identity_stays_unsigned():
    # A hook with both a secret token and a signing token sends both; identify cannot tell which one verified
    request = token_request(TOKEN, **library_signature())
    assert gitlab.verify(request, candidates(SIGNING), POLICY).version == "current"
    assert gitlab.verify(request, candidates(TOKEN), POLICY).version == "current"
    assert gitlab.identify(request).delivery_id_signed is False
    # Even an empty token header counts: the identity is signed only without one
    assert gitlab.identify(token_request("", **library_signature())).delivery_id_signed is False


@pytest.mark.parametrize(
    ("request_", "secrets", "reason"),
    [
        # no webhook-* for the signing token (missing), a wrong token (mismatch): the mismatch
        (token_request("wrong"), candidates(SIGNING, OLD_TOKEN), Reason.SIGNATURE_MISMATCH),
        (token_request("wrong"), candidates(OLD_TOKEN, SIGNING), Reason.SIGNATURE_MISMATCH),
        # an authentic but stale signature beats a wrong token, whichever comes first
        (token_request("wrong", **library_signature(timestamp=NOW - 3600)), candidates(SIGNING, OLD_TOKEN),
         Reason.TIMESTAMP_TOO_OLD),
        (token_request("wrong", **library_signature(timestamp=NOW - 3600)), candidates(OLD_TOKEN, SIGNING),
         Reason.TIMESTAMP_TOO_OLD),
        # a wrong token beats a malformed signature, a malformed signature beats a missing token
        (token_request("wrong", **{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,!"}),
         candidates(SIGNING, OLD_TOKEN), Reason.SIGNATURE_MISMATCH),
        (token_request("wrong", **{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,!"}),
         candidates(OLD_TOKEN, SIGNING), Reason.SIGNATURE_MISMATCH),
        (token_request(None, **{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,!"}),
         candidates(SIGNING, OLD_TOKEN), Reason.MALFORMED_SIGNATURE),
        (token_request(None, **{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,!"}),
         candidates(OLD_TOKEN, SIGNING), Reason.MALFORMED_SIGNATURE),
        # a broken signing token (a configuration error) is a mismatch like the wrong token
        (token_request("wrong", **library_signature()), candidates(TOKEN + "x", "whsec_!"), Reason.SIGNATURE_MISMATCH),
    ],
)  # fmt: skip
def test_when_no_candidate_verifies_the_most_telling_failure_is_the_answer(request_, secrets, reason):
    assert rejection(request_, secrets).reason is reason


def test_between_equally_telling_failures_the_current_ones_is_kept():
    failure = rejection(token_request("wrong", **library_signature(secret=OLD_SIGNING)), candidates(TOKEN, SIGNING))
    assert (failure.reason, failure.detail) == (Reason.SIGNATURE_MISMATCH, "x-gitlab-token is not the secret token")
    failure = rejection(token_request("wrong", **library_signature(secret=OLD_SIGNING)), candidates(SIGNING, TOKEN))
    assert (failure.reason, failure.detail) == (Reason.SIGNATURE_MISMATCH, "")


# ------------------------------------------------------------------------------------------------------ identity
def test_without_idempotency_key_the_event_uuid_and_the_body_name_the_delivery():
    # GitLab before 17.4 sends no Idempotency-Key; X-Gitlab-Event-UUID is shared by a chain of hook calls
    request = token_request(**{"idempotency-key": ""})
    identity = gitlab.identify(request)
    expected = "9cebe914-4827-408f-b014-cfa23a47a35f:" + hashlib.sha256(BODY).hexdigest()
    assert identity == DeliveryIdentity(expected, "Push Hook", delivery_id_signed=False)
    other = token_request(body=json.dumps({**PUSH, "after": "0" * 40}).encode(), **{"idempotency-key": " "})
    assert gitlab.identify(other).delivery_id != identity.delivery_id
    headers = {k: v for k, v in DOCUMENTED_HEADERS.items() if k != "idempotency-key"}
    assert gitlab.identify(WebhookRequest(body=BODY, headers=headers)) == identity


def test_surrounding_blanks_are_not_part_of_the_ids_or_the_event():
    request = token_request(**{"idempotency-key": " key-1 ", "x-gitlab-event": " Push Hook "})
    assert gitlab.identify(request) == DeliveryIdentity("key-1", "Push Hook", delivery_id_signed=False)
    signed = signed_request(**{"webhook-id": f" {MESSAGE_ID} "})
    assert gitlab.identify(signed).delivery_id == MESSAGE_ID
    uuid_only = token_request(**{"idempotency-key": "", "x-gitlab-event-uuid": " u-1 "})
    assert gitlab.identify(uuid_only).delivery_id.startswith("u-1:")


def test_a_blank_webhook_id_without_a_token_falls_back_to_the_unsigned_idempotency_key():
    request = WebhookRequest(body=BODY, headers={**DOCUMENTED_HEADERS, "webhook-id": " "})
    assert gitlab.identify(request) == DeliveryIdentity(MESSAGE_ID, "Push Hook", delivery_id_signed=False)


def test_a_delivery_without_any_id_is_unparseable():
    headers = {k: v for k, v in DOCUMENTED_HEADERS.items() if k not in ("idempotency-key", "x-gitlab-event-uuid")}
    blank = {**headers, "idempotency-key": " ", "x-gitlab-event-uuid": ""}
    for request in (WebhookRequest(body=BODY, headers=headers), WebhookRequest(body=BODY, headers=blank)):
        with pytest.raises(Rejected) as rejected:
            gitlab.identify(request)
        assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
        assert rejected.value.detail == "no Idempotency-Key and no X-Gitlab-Event-UUID header"


@pytest.mark.parametrize("event", [None, "", "  "])
def test_a_delivery_without_its_event_is_unparseable(event):
    headers = {k: v for k, v in DOCUMENTED_HEADERS.items() if k != "x-gitlab-event"}
    if event is not None:
        headers["x-gitlab-event"] = event
    with pytest.raises(Rejected) as rejected:
        gitlab.identify(WebhookRequest(body=BODY, headers=headers))
    assert (rejected.value.reason, rejected.value.detail) == (Reason.UNPARSEABLE_PAYLOAD, "no x-gitlab-event header")


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"[" * 100_000, b"\xff\xfe"])
def test_a_body_that_is_not_json_is_unparseable(body):
    with pytest.raises(Rejected) as rejected:
        gitlab.identify(token_request(body=body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert rejected.value.detail.startswith("body is not JSON (")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b'{"project": "custom template"}'])
def test_any_json_a_custom_template_renders_is_a_delivery(body):
    # A hook with a custom webhook template sends whatever JSON the template renders, with no object_kind
    assert gitlab.identify(token_request(body=body)).event_type == "Push Hook"


@pytest.mark.parametrize(("event", "kind"), sorted(gitlab.OBJECT_KINDS.items()))
def test_a_body_of_another_event_than_its_header_is_unparseable(event, kind):
    # Given the header's own kind, the body is its event; another documented kind under that header is refused
    own = json.dumps({"object_kind": kind}).encode()
    assert gitlab.identify(token_request(body=own, **{"x-gitlab-event": event})).event_type == event
    for other in sorted({*gitlab.OBJECT_KINDS.values(), "work_item", "PUSH", ""} - {kind}):
        with pytest.raises(Rejected) as rejected:
            gitlab.identify(
                token_request(body=json.dumps({"object_kind": other}).encode(), **{"x-gitlab-event": event})
            )
        assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
        assert rejected.value.detail == "the body's object_kind is not that of its X-Gitlab-Event"


def test_the_documented_events_and_kinds():
    assert gitlab.OBJECT_KINDS == {
        "Push Hook": "push",
        "Tag Push Hook": "tag_push",
        "Merge Request Hook": "merge_request",
        "Pipeline Hook": "pipeline",
        "Job Hook": "build",
        "Note Hook": "note",
    }


@pytest.mark.parametrize(("event", "kind"), [("System Hook", "push"), ("Issue Hook", "work_item"),
                                             ("Issue Hook", "issue"), ("Deployment Hook", "deployment")])  # fmt: skip
def test_events_whose_kind_varies_are_not_checked(event, kind):
    body = json.dumps({"object_kind": kind}).encode()
    assert gitlab.identify(token_request(body=body, **{"x-gitlab-event": event})).event_type == event


# ------------------------------------------------------------------------------------------------------ provider
def test_the_provider_answers_202_json_and_never_forwards_a_credential():
    provider = gitlab.PROVIDER
    ack = provider.acknowledge(gitlab.identify(token_request()))
    assert (ack.status, ack.content_type) == (202, "application/json")
    assert json.loads(ack.body) == {"status": "accepted", "delivery_id": MESSAGE_ID}
    assert not {"x-gitlab-token", "webhook-signature"} & set(provider.forwarded_headers)
    assert {"x-gitlab-event", "x-gitlab-instance", "x-gitlab-webhook-uuid", "x-gitlab-event-uuid", "idempotency-key",
            "user-agent", "content-type"} <= set(provider.forwarded_headers)  # fmt: skip
    assert (provider.name, provider.title, provider.methods) == ("gitlab", "GitLab", ("POST",))


def test_the_mode_is_the_secret_values_prefix():
    assert gitlab.is_signing_token(SIGNING) and gitlab.is_signing_token("whsec_")
    assert not any(gitlab.is_signing_token(value) for value in (TOKEN, "WHSEC_x", " whsec_x", "whsec", "whpk_x"))
    assert gitlab.is_signing_token(gitlab.PROVIDER.secret_format.sample)


def test_the_standard_webhooks_check_sees_only_the_body_and_the_webhook_headers(monkeypatch):
    # So that the webhook-id identify() names a signed delivery by is the one verified, whatever else the request
    # carries (svix-* names, a token, GitLab's own headers)
    seen: list[WebhookRequest] = []

    def recording_verify(request, secrets, policy):
        seen.append(request)
        return next(iter(secrets))

    monkeypatch.setattr(gitlab.standard_webhooks, "verify", recording_verify)
    svix = {"svix-id": "msg_other", "svix-timestamp": str(NOW), "svix-signature": "v1,x"}
    request = token_request("wrong", **library_signature(), **svix)
    assert gitlab.verify(request, candidates(SIGNING), POLICY).version == "current"
    [checked] = seen
    assert dict(checked.headers) == library_signature()
    assert checked.body == BODY
