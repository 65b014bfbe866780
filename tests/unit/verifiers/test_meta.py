"""Meta verifier: a hand-checked vector (openssl and node's crypto agree) and an independent implementation of the
documented X-Hub-Signature-256, every failure reason of the POST and of the GET verification, rotation of both
values, the handshake, and the identity of batched notifications."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_gateway.verifiers import meta
from webhook_gateway.verifiers.base import (
    Acknowledgement,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
)

POLICY = VerificationPolicy(now=1_700_000_000)
APP_SECRET = "d4f1c0b2a9e87a6f5e4d3c2b1a098f7e"
VERIFY_TOKEN = "meatyhamhock-7c1e"
SECRET = json.dumps({"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN})
CURRENT = [SecretCandidate("current", SECRET)]
# Hand-checked: `printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$APP_SECRET"` and node's
# crypto.createHmac('sha256', APP_SECRET).update(body).digest('hex') both give this digest (non-ASCII escaped as
# \u00e9, as Meta sends it: the escaped bytes are what is signed).
VECTOR_BODY = (
    b'{"object":"page","entry":[{"id":"0","time":1700000000,"changes":[{"field":"feed","value":'
    b'{"item":"status","verb":"add","message":"Caf\\u00e9"}}]}]}'
)
VECTOR_SIGNATURE = "sha256=3f44dbc452ea1944cf3f6f4ff255370c7b62c52dc9c110f6a5df5c204d8253c7"


def independent_signature(body: bytes, app_secret: str) -> str:
    # Meta's documented algorithm ("Validate payloads"), written out here so the verifier is not checked only
    # against itself.
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(body: bytes = VECTOR_BODY, signature: str | None = VECTOR_SIGNATURE, **headers: str) -> WebhookRequest:
    all_headers = {"content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if signature is not None:
        all_headers["x-hub-signature-256"] = signature
    return WebhookRequest(body=body, headers=all_headers, method="POST", host="h.example", raw_path="/webhooks/meta")


def get(query: str | dict[str, str] | None = None, *, body: bytes = b"", method: str = "GET") -> WebhookRequest:
    if query is None:
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}
    raw = query if isinstance(query, str) else urlencode(query)
    return WebhookRequest(body=body, headers={}, method=method, host="h.example", raw_path="/webhooks/meta",
                          raw_query_string=raw)  # fmt: skip


def reason_of(call) -> Reason:
    with pytest.raises(Rejected) as rejected:
        call()
    return rejected.value.reason


# -- POST: the notification signature ----------------------------------------------------------------------------------


def test_the_hand_checked_vector_is_accepted():
    assert independent_signature(VECTOR_BODY, APP_SECRET) == VECTOR_SIGNATURE
    assert meta.sign(VECTOR_BODY, APP_SECRET) == VECTOR_SIGNATURE
    assert meta.verify(post(), CURRENT, POLICY).version == "current"


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=300), app_secret=st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_any_body_signed_by_the_independent_implementation_verifies(body, app_secret):
    secrets = [SecretCandidate("current", json.dumps({"app_secret": app_secret}))]
    assert meta.verify(post(body, independent_signature(body, app_secret)), secrets, POLICY).version == "current"


def test_uppercase_hex_and_surrounding_blanks_are_accepted():
    upper = "sha256=" + VECTOR_SIGNATURE[7:].upper()
    assert meta.verify(post(signature=f" {upper}\t"), CURRENT, POLICY).version == "current"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("  ", Reason.MISSING_SIGNATURE),
        ("sha1=" + "0" * 40, Reason.MALFORMED_SIGNATURE),
        ("sha256=xyz", Reason.MALFORMED_SIGNATURE),
        ("SHA256=" + VECTOR_SIGNATURE[7:], Reason.MALFORMED_SIGNATURE),
        (VECTOR_SIGNATURE[7:], Reason.MALFORMED_SIGNATURE),
        (VECTOR_SIGNATURE + "0", Reason.MALFORMED_SIGNATURE),
        ("sha256=" + "0" * 64, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_signature_headers_are_rejected_with_their_reason(signature, reason):
    assert reason_of(lambda: meta.verify(post(signature=signature), CURRENT, POLICY)) is reason


def test_a_single_changed_body_byte_is_a_mismatch():
    tampered = VECTOR_BODY.replace(b'"add"', b'"remove"')
    assert reason_of(lambda: meta.verify(post(tampered), CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH


def test_the_unescaped_body_is_not_what_was_signed():
    # Meta signs the escaped payload: the same JSON with a raw "é" is other bytes
    raw = VECTOR_BODY.replace(b"\\u00e9", "é".encode())
    assert reason_of(lambda: meta.verify(post(raw), CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH


def test_the_legacy_sha1_header_alone_is_not_accepted():
    legacy = "sha1=" + hmac.new(APP_SECRET.encode(), VECTOR_BODY, hashlib.sha1).hexdigest()
    request = post(signature=None, x_hub_signature=legacy)
    assert reason_of(lambda: meta.verify(request, CURRENT, POLICY)) is Reason.MISSING_SIGNATURE


def test_a_post_never_skips_the_signature_even_with_a_verification_query():
    # Given a POST that carries a correct verify token and challenge in its query, but no signature
    request = WebhookRequest(
        body=VECTOR_BODY,
        headers={"content-type": "application/json"},
        method="POST",
        raw_query_string=urlencode({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN}),
    )
    # Then it is refused for its missing signature, and it is never answered as a handshake
    assert reason_of(lambda: meta.verify(request, CURRENT, POLICY)) is Reason.MISSING_SIGNATURE
    assert meta.handshake(post(), CURRENT[0]) is None


def test_the_previous_app_secret_verifies_during_rotation_and_is_reported():
    previous = SecretCandidate("previous", SECRET)
    secrets = [SecretCandidate("current", json.dumps({"app_secret": "brand-new-app-secret"})), previous]
    assert meta.verify(post(), secrets, POLICY) is previous
    both = [SecretCandidate("current", SECRET), SecretCandidate("previous", SECRET)]
    assert meta.verify(post(), both, POLICY).version == "current"


def test_a_plain_secret_is_the_app_secret_alone():
    assert meta.verify(post(), [SecretCandidate("current", APP_SECRET)], POLICY).version == "current"
    # And a plain secret holds no verify token: every GET is refused
    assert reason_of(lambda: meta.verify(get(), [SecretCandidate("current", APP_SECRET)], POLICY)) is (
        Reason.SIGNATURE_MISMATCH
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        json.dumps({"app_secret": ""}),
        json.dumps({"verify_token": VERIFY_TOKEN}),
        json.dumps({"app_secret": None, "verify_token": VERIFY_TOKEN}),
        json.dumps({"app_secret": 12}),
    ],
)
def test_an_empty_or_missing_app_secret_never_verifies(value):
    # Given a POST signed with the empty key (anyone can compute it)
    forged = post(signature=independent_signature(VECTOR_BODY, ""))
    assert reason_of(lambda: meta.verify(forged, [SecretCandidate("current", value)], POLICY)) is (
        Reason.SIGNATURE_MISMATCH
    )


def test_secret_fields_read_json_objects_and_plain_values():
    assert meta.secret_field(CURRENT[0], "app_secret") == APP_SECRET
    assert meta.secret_field(CURRENT[0], "verify_token") == VERIFY_TOKEN
    assert meta.secret_field(SecretCandidate("current", "plain"), "app_secret") == "plain"
    assert meta.secret_field(SecretCandidate("current", "plain"), "verify_token") == ""
    assert meta.secret_field(SecretCandidate("current", "[1]"), "app_secret") == "[1]"
    assert meta.secret_field(SecretCandidate("current", "12345"), "app_secret") == "12345"
    assert meta.secret_field(SecretCandidate("current", "[" * 100_000), "app_secret") == "[" * 100_000
    assert meta.secret_field(SecretCandidate("current", '{"verify_token": 5}'), "verify_token") == ""


def test_no_time_is_checked():
    far = VerificationPolicy(now=4_000_000_000, tolerance_seconds=1, future_tolerance_seconds=1)
    assert meta.verify(post(), CURRENT, far).version == "current"


# -- GET: the endpoint verification ------------------------------------------------------------------------------------


def test_a_verification_with_the_right_token_is_answered_with_its_challenge():
    matched = meta.verify(get(), CURRENT, POLICY)
    assert matched.version == "current"
    assert meta.handshake(get(), matched) == Acknowledgement(200, "text/plain", "1158201444")


def test_the_verification_never_runs_the_post_checks():
    # No signature header, no body: the token alone verifies, whatever the POST side holds
    secrets = [SecretCandidate("current", json.dumps({"verify_token": VERIFY_TOKEN}))]
    assert meta.verify(get(), secrets, POLICY).version == "current"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"}, Reason.SIGNATURE_MISMATCH),
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN + "x"},
         Reason.SIGNATURE_MISMATCH),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, Reason.MISSING_SIGNATURE),
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}, Reason.MISSING_SIGNATURE),
        ({"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN},
         Reason.MALFORMED_SIGNATURE),
        ({"hub.mode": "Subscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN},
         Reason.MALFORMED_SIGNATURE),
        ({"hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN}, Reason.MALFORMED_SIGNATURE),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, Reason.UNPARSEABLE_PAYLOAD),
        ({"hub.mode": "subscribe", "hub.challenge": "", "hub.verify_token": VERIFY_TOKEN},
         Reason.UNPARSEABLE_PAYLOAD),
        ({"hub.mode": "subscribe", "hub.challenge": "<script>", "hub.verify_token": VERIFY_TOKEN},
         Reason.UNPARSEABLE_PAYLOAD),
        ({"hub.mode": "subscribe", "hub.challenge": "1" * 257, "hub.verify_token": VERIFY_TOKEN},
         Reason.UNPARSEABLE_PAYLOAD),
        ("", Reason.MALFORMED_SIGNATURE),
        # Repeated parameters are ambiguous: as if absent
        (f"hub.mode=subscribe&hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}",
         Reason.MALFORMED_SIGNATURE),
        (f"hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}&hub.verify_token=x",
         Reason.MISSING_SIGNATURE),
        (f"hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token={VERIFY_TOKEN}",
         Reason.UNPARSEABLE_PAYLOAD),
        # A blank repetition counts: still two values, still ambiguous
        (f"hub.mode=subscribe&hub.mode=&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}", Reason.MALFORMED_SIGNATURE),
        (f"hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}&hub.verify_token=",
         Reason.MISSING_SIGNATURE),
        (f"hub.mode=subscribe&hub.challenge=&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}",
         Reason.UNPARSEABLE_PAYLOAD),
    ],
)  # fmt: skip
def test_bad_verifications_are_refused_with_their_reason(query, reason):
    assert reason_of(lambda: meta.verify(get(query), CURRENT, POLICY)) is reason


def test_a_challenge_of_256_safe_characters_is_answered():
    challenge = "Az09._~-" * 32
    query = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": VERIFY_TOKEN}
    matched = meta.verify(get(query), CURRENT, POLICY)
    assert meta.handshake(get(query), matched).body == challenge


def test_a_verification_with_a_body_is_refused():
    assert reason_of(lambda: meta.verify(get(body=b" "), CURRENT, POLICY)) is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    "value",
    [APP_SECRET, json.dumps({"app_secret": APP_SECRET}), json.dumps({"app_secret": APP_SECRET, "verify_token": ""})],
)
def test_every_verification_is_refused_when_no_verify_token_is_configured(value):
    with pytest.raises(Rejected) as rejected:
        meta.verify(get(), [SecretCandidate("current", value)], POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH
    assert rejected.value.detail == "no verify token configured"


def test_a_wrong_token_is_told_apart_from_no_token_in_the_log_detail():
    query = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"}
    with pytest.raises(Rejected) as rejected:
        meta.verify(get(query), CURRENT, POLICY)
    assert rejected.value.detail == "wrong verify token"
    with pytest.raises(Rejected) as none_configured:
        meta.verify(get(query), [], POLICY)
    assert none_configured.value.detail == "no verify token configured"


def test_the_previous_verify_token_is_accepted_during_rotation_and_reported():
    previous = SecretCandidate("previous", SECRET)
    new = SecretCandidate("current", json.dumps({"app_secret": APP_SECRET, "verify_token": "new-token"}))
    assert meta.verify(get(), [new, previous], POLICY) is previous
    # And the current one after the provider was told the new token
    query = {"hub.mode": "subscribe", "hub.challenge": "7", "hub.verify_token": "new-token"}
    assert meta.verify(get(query), [new, previous], POLICY) is new
    # A current version without a token does not hide the previous one's
    tokenless = SecretCandidate("current", json.dumps({"app_secret": APP_SECRET}))
    assert meta.verify(get(), [tokenless, previous], POLICY) is previous


def test_the_handshake_answers_every_get_and_never_lets_one_through():
    # Called on a GET only after verify() accepted it; should a GET without a usable challenge get there, it is
    # refused rather than passed on as a delivery
    assert meta.handshake(get(), CURRENT[0]).status == 200
    for query in ({"hub.mode": "subscribe"}, {"hub.challenge": "a b"}, "hub.challenge=1&hub.challenge=2"):
        assert reason_of(lambda q=query: meta.handshake(get(q), CURRENT[0])) is Reason.UNPARSEABLE_PAYLOAD


def test_a_get_is_never_identified_as_a_delivery():
    assert reason_of(lambda: meta.identify(get())) is Reason.UNPARSEABLE_PAYLOAD
    assert reason_of(lambda: meta.identify(get(body=VECTOR_BODY))) is Reason.UNPARSEABLE_PAYLOAD
    assert reason_of(lambda: meta.identify(get(body=VECTOR_BODY, method="PUT"))) is Reason.UNPARSEABLE_PAYLOAD


# -- identity ----------------------------------------------------------------------------------------------------------


def whatsapp(*changes: dict, object_: str = "whatsapp_business_account", entries: int = 1) -> bytes:
    entry = [{"id": f"1022{n}", "changes": list(changes)} for n in range(entries)]
    return json.dumps({"object": object_, "entry": entry}).encode()


MESSAGES = {"field": "messages", "value": {"messages": [{"id": "wamid.A", "type": "text"}]}}
STATUSES = {"field": "messages", "value": {"statuses": [{"id": "wamid.B", "status": "read"}]}}
TEMPLATE = {"field": "message_template_status_update", "value": {"event": "APPROVED"}}


def test_the_delivery_id_is_the_hash_of_the_signed_body():
    identity = meta.identify(post(VECTOR_BODY))
    assert identity.delivery_id == "sha256:" + hashlib.sha256(VECTOR_BODY).hexdigest()
    assert identity.event_type == "page.feed"
    assert identity.delivery_id_signed is True


def test_a_retry_is_a_duplicate_and_two_notifications_are_distinct():
    first, retry = meta.identify(post(whatsapp(MESSAGES))), meta.identify(post(whatsapp(MESSAGES)))
    other = meta.identify(post(whatsapp(STATUSES)))
    assert first == retry
    assert other.delivery_id != first.delivery_id
    # Even a re-serialisation of the same JSON is another body, hence another delivery (Meta resends the same bytes)
    spaced = json.dumps(json.loads(whatsapp(MESSAGES)), indent=1).encode()
    assert meta.identify(post(spaced)).delivery_id != first.delivery_id


@pytest.mark.parametrize(
    ("body", "event_type"),
    [
        (whatsapp(MESSAGES), "whatsapp_business_account.messages"),
        (whatsapp(MESSAGES, STATUSES, entries=3), "whatsapp_business_account.messages"),  # a batch of one field
        (whatsapp(MESSAGES, TEMPLATE), "whatsapp_business_account.mixed"),
        (whatsapp(MESSAGES, {"field": "", "value": {}}, "junk", {"value": {}}), "whatsapp_business_account.messages"),
        (whatsapp(), "whatsapp_business_account"),
        (whatsapp({"field": 7}), "whatsapp_business_account"),
        (whatsapp(TEMPLATE, object_="instagram"), "instagram.message_template_status_update"),
        (json.dumps({"object": "instagram", "entry": [{"id": "1", "time": 1,
                     "changes": [{"field": "comments", "value": {"id": "c"}}]}]}).encode(), "instagram.comments"),
        (json.dumps({"object": "page", "entry": [{"id": "1", "time": 1,
                     "messaging": [{"sender": {"id": "s"}, "message": {"mid": "m"}}]}]}).encode(), "page.messaging"),
        (json.dumps({"object": "page", "entry": [{"id": "1", "messaging": []}]}).encode(), "page"),
        (json.dumps({"object": "page", "entry": [{"id": "1", "messaging": {"a": 1}, "changes": {"field": "x"}}]})
         .encode(), "page"),
        (json.dumps({"object": "page", "entry": [
            {"id": "1", "messaging": [{"message": {}}]},
            {"id": "2", "changes": [{"field": "feed", "value": {}}]},
        ]}).encode(), "page.mixed"),
    ],
)  # fmt: skip
def test_the_event_type_is_the_object_and_the_batchs_one_field(body, event_type):
    assert meta.identify(post(body)).event_type == event_type


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1]",
        b"[" * 100_000,
        b'{"entry": [{"id": "1"}]}',
        b'{"object": "", "entry": [{"id": "1"}]}',
        b'{"object": 1, "entry": [{"id": "1"}]}',
        b'{"object": "page"}',
        b'{"object": "page", "entry": []}',
        b'{"object": "page", "entry": {"id": "1"}}',
        b'{"object": "page", "entry": ["1"]}',
        b'{"object": "page", "entry": [{"id": "1"}, null]}',
    ],
)
def test_bodies_that_are_not_a_notification_are_unparseable(body):
    assert reason_of(lambda: meta.identify(post(body))) is Reason.UNPARSEABLE_PAYLOAD


def test_the_provider_declares_what_the_gateway_needs():
    provider = meta.PROVIDER
    assert (provider.name, provider.title, provider.methods) == ("meta", "Meta", ("GET", "POST"))
    assert provider.handshake is meta.handshake
    assert not {"x-hub-signature-256", "x-hub-signature"} & set(provider.forwarded_headers)
    assert provider.acknowledge(meta.identify(post())) == Acknowledgement(200, "text/plain", "")
    sample = json.loads(provider.secret_format.sample)
    wrong = json.loads(provider.secret_format.wrong_sample)
    assert sample["app_secret"] != wrong["app_secret"] and sample["verify_token"] != wrong["verify_token"]
