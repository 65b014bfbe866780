"""Twilio verifier: twilio-python's test vectors and requests signed by twilio-python's RequestValidator."""

import base64
import hashlib
import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from webhook_gateway.verifiers import twilio
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

TOKEN = "12345"
POLICY = VerificationPolicy(now=0)
CURRENT = [SecretCandidate("current", TOKEN)]
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
FORM = "application/x-www-form-urlencoded"


def request(url_path_query: str, body: bytes, signature: str | None, *, host="mycompany.com", scheme="https",
            content_type=FORM, **headers) -> WebhookRequest:
    path, _, query = url_path_query.partition("?")
    all_headers = {"content-type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    return WebhookRequest(body=body, headers=all_headers, scheme=scheme, host=host, raw_path=path,
                          raw_query_string=query)


def form(params: dict) -> bytes:
    return urlencode(params).encode()


def test_official_form_vector_is_accepted():
    # Given twilio-python's own test vector
    req = request("/myapp.php?foo=1&bar=2", form(VECTOR_PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Then it verifies
    assert twilio.verify(req, CURRENT, POLICY).version == "current"


def test_official_json_body_vector_is_accepted():
    body = b'{"property": "value", "boolean": true}'
    digest = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert hashlib.sha256(body).hexdigest() == digest
    url = f"https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={digest}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    req = request(f"/myapp.php?foo=1&bar=2&bodySHA256={digest}", body, signature, content_type="application/json")
    assert twilio.verify(req, CURRENT, POLICY).version == "current"
    # and the SDK agrees with the same inputs
    assert RequestValidator(TOKEN).validate(url, body.decode(), signature)


def test_json_body_changed_after_signing_is_a_body_hash_mismatch():
    body = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body).hexdigest()
    signature = RequestValidator(TOKEN).compute_signature(f"https://mycompany.com/hook?bodySHA256={digest}", {})
    req = request(f"/hook?bodySHA256={digest}", b'{"property": "evil"}', signature, content_type="application/json")
    with pytest.raises(Rejected) as rejected:
        twilio.verify(req, CURRENT, POLICY)
    assert rejected.value.reason is Reason.BODY_HASH_MISMATCH


def test_json_body_without_body_hash_is_not_trusted():
    signature = RequestValidator(TOKEN).compute_signature("https://mycompany.com/hook", {})
    req = request("/hook", b'{"a": 1}', signature, content_type="application/json")
    with pytest.raises(Rejected) as rejected:
        twilio.verify(req, CURRENT, POLICY)
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


@pytest.mark.parametrize(
    ("signed_url", "host"),
    [
        ("https://mycompany.com:443/sms", "mycompany.com"),  # Twilio signed with the port, we saw none
        ("https://mycompany.com/sms", "mycompany.com:443"),  # and the reverse
    ],
)
def test_port_variants_that_twilio_python_accepts_are_accepted(signed_url, host):
    params = {"Body": "hi", "From": "+15551234567"}
    signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
    assert twilio.verify(request("/sms", form(params), signature, host=host), CURRENT, POLICY)


def test_repeated_parameters_are_sorted_like_twilio_python():
    # Given a form with a repeated parameter (e.g. several MediaUrl values)
    pairs = [("To", "+1"), ("Media", "b"), ("Media", "a"), ("Body", "")]
    body = urlencode(pairs).encode()

    class MultiDict(dict):
        def getall(self, name):
            return [value for key, value in pairs if key == name]

    signature = RequestValidator(TOKEN).compute_signature("https://mycompany.com/sms", MultiDict(pairs))
    assert twilio.verify(request("/sms", body, signature), CURRENT, POLICY)


def test_hmac_sha256_signature_with_shared_key_is_accepted():
    # Given a Webhook Setting signing with a shared key and HMAC-SHA256 (twilio-python >= 9.x supports it)
    shared = "webhooks_sharedkey_secret"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = RequestValidator(shared).compute_signature("https://mycompany.com/status", params, "HMAC_SHA256")
    secret = json.dumps({"auth_token": TOKEN, "shared_key": shared})
    req = request("/status", form(params), signature,
                  x_twilio_webhooks_signature_settings="key=webhooks_sharedkey_1,algorithm=HMAC_SHA256")
    assert twilio.verify(req, [SecretCandidate("current", secret)], POLICY).version == "current"


def test_shared_key_header_without_configured_shared_key_fails_closed():
    params = {"MessageSid": "SM1"}
    signature = RequestValidator(TOKEN).compute_signature("https://mycompany.com/status", params, "HMAC_SHA256")
    req = request("/status", form(params), signature,
                  x_twilio_webhooks_signature_settings="key=k,algorithm=HMAC_SHA256")
    with pytest.raises(Rejected) as rejected:
        twilio.verify(req, CURRENT, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


def test_unsupported_algorithm_is_malformed():
    req = request("/s", form({"a": "b"}), base64.b64encode(b"x" * 20).decode(),
                  x_twilio_webhooks_signature_settings="key=k,algorithm=HMAC_MD5")
    with pytest.raises(Rejected) as rejected:
        twilio.verify(req, CURRENT, POLICY)
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("not base64!!", Reason.MALFORMED_SIGNATURE),
        (base64.b64encode(b"short").decode(), Reason.MALFORMED_SIGNATURE),
        (base64.b64encode(b"\0" * 20).decode(), Reason.SIGNATURE_MISMATCH),
    ],
)
def test_bad_signatures_are_rejected_with_their_reason(signature, reason):
    with pytest.raises(Rejected) as rejected:
        twilio.verify(request("/myapp.php?foo=1&bar=2", form(VECTOR_PARAMS), signature), CURRENT, POLICY)
    assert rejected.value.reason is reason


def test_query_string_is_signed_byte_for_byte():
    # Reordering the query string changes the URL Twilio signed: no normalisation
    req = request("/myapp.php?bar=2&foo=1", form(VECTOR_PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    with pytest.raises(Rejected):
        twilio.verify(req, CURRENT, POLICY)


def test_public_base_url_overrides_the_request_host_for_custom_domains():
    params = {"Body": "hello"}
    signature = RequestValidator(TOKEN).compute_signature("https://hooks.example.com/webhooks/twilio", params)
    req = request("/webhooks/twilio", form(params), signature, host="abc.execute-api.us-east-1.amazonaws.com")
    policy = VerificationPolicy(now=0, public_base_url="https://hooks.example.com/")
    assert twilio.verify(req, CURRENT, policy)
    with pytest.raises(Rejected):
        twilio.verify(req, CURRENT, POLICY)


def test_previous_auth_token_matches_after_rotation():
    secrets = [SecretCandidate("current", "new-token"), SecretCandidate("previous", TOKEN)]
    req = request("/myapp.php?foo=1&bar=2", form(VECTOR_PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert twilio.verify(req, secrets, POLICY).version == "previous"


def test_unparseable_host_never_raises_anything_but_a_rejection():
    req = request("/x", form({"a": "b"}), base64.b64encode(b"\0" * 20).decode(), host="[::bad")
    with pytest.raises(Rejected):
        twilio.verify(req, CURRENT, POLICY)


def test_identity_ignores_the_unsigned_idempotency_token():
    # Given a captured inbound SMS re-sent under a new I-Twilio-Idempotency-Token (a plain header, not signed)
    body = form({"MessageSid": "SM1", "SmsStatus": "received"})
    first = twilio.identify(request("/s", body, None, i_twilio_idempotency_token="token-123"))
    replay = twilio.identify(request("/s", body, None, i_twilio_idempotency_token="token-456"))
    # Then both have the id of the signed SID: the replay is a duplicate
    assert first.delivery_id == replay.delivery_id == "SM1"
    assert first.event_type == "message"
    assert first.delivery_id_signed is True


def test_identity_falls_back_to_sid_and_status():
    identity = twilio.identify(request("/s", form({"MessageSid": "SM1", "MessageStatus": "delivered"}), None))
    assert (identity.delivery_id, identity.event_type) == ("SM1:delivered", "message.delivered")
    identity = twilio.identify(request("/s", form({"CallSid": "CA1", "CallStatus": "completed"}), None))
    assert (identity.delivery_id, identity.event_type) == ("CA1:completed", "call.completed")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"SmsSid": "SM2", "SmsStatus": "received"}, ("SM2:received", "message.received")),
        ({"RecordingSid": "RE1", "RecordingStatus": "completed", "CallSid": "CA1"},
         ("RE1:completed", "recording.completed")),
        ({"TranscriptionSid": "TR1", "TranscriptionStatus": "completed", "RecordingSid": "RE1", "CallSid": "CA1"},
         ("TR1:completed", "transcription.completed")),
        ({"MessageSid": "SM3", "MessageStatus": "sent", "CallSid": "CA3"}, ("SM3:sent", "message.sent")),
    ],
)
def test_identity_takes_the_most_specific_signed_resource(params, expected):
    identity = twilio.identify(request("/s", form(params), None))
    assert (identity.delivery_id, identity.event_type) == expected


def test_conference_events_of_one_conference_are_told_apart_by_sequence_number():
    # Given two participant-join callbacks of the same conference
    join = {"ConferenceSid": "CF1", "StatusCallbackEvent": "participant-join"}
    first = twilio.identify(request("/s", form({**join, "SequenceNumber": "1", "CallSid": "CA1"}), None))
    second = twilio.identify(request("/s", form({**join, "SequenceNumber": "2", "CallSid": "CA2"}), None))
    # Then they are two deliveries, each named by its signed sequence number
    assert (first.delivery_id, second.delivery_id) == ("CF1:participant-join:1", "CF1:participant-join:2")
    assert first.event_type == "conference.participant-join"


def test_identity_of_json_body_uses_its_fields():
    req = request("/s", json.dumps({"CallSid": "CA9", "CallStatus": "ringing"}).encode(), None,
                  content_type="application/json")
    assert twilio.identify(req).delivery_id == "CA9:ringing"


def test_identity_without_a_sid_is_the_hash_of_what_twilio_signed():
    # Given a JSON webhook without a resource SID (the body hash is in the signed URL)
    body = json.dumps({"event_type": "voice_intelligence_transcript_available"}).encode()
    query = "bodySHA256=" + hashlib.sha256(body).hexdigest()
    identity = twilio.identify(request("/s?" + query, body, None, content_type="application/json",
                                       i_twilio_idempotency_token="token-1"))
    # Then the id is the SHA-256 of path, query and body, whatever the token says
    expected = hashlib.sha256(b"/s?" + query.encode() + b"\n" + body).hexdigest()[:40]
    assert identity == twilio.DeliveryIdentity(f"sha256:{expected}", "webhook", delivery_id_signed=True)
    other_token = twilio.identify(request("/s?" + query, body, None, content_type="application/json",
                                          i_twilio_idempotency_token="token-2"))
    assert other_token.delivery_id == identity.delivery_id
    other_body = twilio.identify(request("/s?" + query, body + b" ", None, content_type="application/json"))
    assert other_body.delivery_id != identity.delivery_id


def test_identity_without_a_sid_depends_on_the_signed_path():
    body = form({"Foo": "bar"})
    on_a, on_b = twilio.identify(request("/a", body, None)), twilio.identify(request("/b", body, None))
    assert on_a.delivery_id != on_b.delivery_id


def test_non_json_non_form_body_is_unparseable():
    with pytest.raises(Rejected) as rejected:
        twilio.identify(request("/s", b"<xml/>", None, content_type="text/xml"))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_acknowledgement_is_empty_twiml():
    ack = twilio.acknowledge(twilio.identify(request("/s", form({"MessageSid": "SM1"}), None)))
    assert (ack.status, ack.content_type) == (200, "text/xml")
    assert ack.body.endswith("<Response/>")
