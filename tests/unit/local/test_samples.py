"""hookctl.samples: the standard-library signers agree with the providers' SDKs, and the delivery-id and tamper
variants that ``hookctl send`` uses are accepted (or rejected) by the gateway's own verifiers."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest
import stripe
from hubspot.utils.signature import Signature as HubSpotSignature
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from hookctl import samples
from webhook_gateway.http import request_from_event
from webhook_gateway.secrets import CURRENT
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import Rejected, SecretCandidate, VerificationPolicy
from webhook_gateway.verifiers.samples import hubspot as hubspot_samples
from webhook_gateway.verifiers.samples import standard_webhooks as standard_webhooks_samples
from webhook_gateway.verifiers.samples import stripe as stripe_samples
from webhook_gateway.verifiers.samples import twilio as twilio_samples

SECRETS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
BODIES = st.binary(max_size=300)


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300), secret=SECRETS, timestamp=st.integers(0, 4_000_000_000))
def test_stripe_signature_is_stripe_pythons(body, secret, timestamp):
    expected = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    assert stripe_samples.signature_header(body.encode("utf-8"), secret, timestamp) == expected


@settings(max_examples=60, deadline=None)
@given(
    params=st.lists(st.tuples(st.text("abcXYZ_", min_size=1, max_size=5), st.text(max_size=12)), max_size=6),
    token=SECRETS,
)
def test_twilio_form_signature_is_twilio_pythons(params, token):
    from urllib.parse import urlencode

    url = "https://hooks.example.com/webhooks/twilio?x=1"
    body = urlencode(params).encode("ascii")

    class MultiDict(dict):
        def getlist(self, name):
            return self[name]

    multi = MultiDict()
    for name, value in params:
        multi.setdefault(name, []).append(value)
    expected = RequestValidator(token).compute_signature(url, multi)
    assert twilio_samples.signature(url, body, "application/x-www-form-urlencoded", token) == expected


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300), key=st.binary(min_size=1, max_size=64), timestamp=st.integers(0, 4_000_000_000))
def test_standard_webhooks_signature_is_the_standardwebhooks_and_svix_libraries(body, key, timestamp):
    from datetime import UTC, datetime

    from standardwebhooks import Webhook
    from svix.webhooks import Webhook as SvixWebhook

    secret = "whsec_" + base64.b64encode(key).decode()
    raw = body.encode("utf-8")
    headers = standard_webhooks_samples.signature_headers(raw, secret, timestamp)
    when = datetime.fromtimestamp(timestamp, UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], when, body)
    assert headers["webhook-signature"] == expected == SvixWebhook(secret).sign(headers["webhook-id"], when, body)
    assert headers["webhook-timestamp"] == str(timestamp)


def test_the_standardwebhooks_and_svix_libraries_verify_our_standard_webhooks_samples():
    from standardwebhooks import Webhook
    from svix.webhooks import Webhook as SvixWebhook

    # Given every sample kind, signed now (the libraries check their window against the clock)
    secret = samples.SAMPLE_SECRETS["standard_webhooks"]
    for kind in samples.KINDS["standard_webhooks"]:
        request = samples.sign_request("standard_webhooks", kind)
        # Then both libraries accept it (svix with the webhook-* names, and with its own)
        Webhook(secret).verify(request.body, dict(request.headers))
        SvixWebhook(secret).verify(request.body, dict(request.headers))
        svix_names = {name.replace("webhook-", "svix-"): value for name, value in request.headers.items()}
        SvixWebhook(secret).verify(request.body, svix_names)
        # And refuse it tampered
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(secret).verify(samples.tamper(request).body, dict(request.headers))


def test_standard_webhooks_v1a_samples_are_signed_with_a_whsk_key_and_verify_with_its_whpk_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    # Given a sender's Ed25519 private key as a whsk_ secret
    seed = bytes(range(32))
    private = standard_webhooks_samples.private_key(seed)
    # When hookctl signs a sample with it
    request = samples.sign_request("standard_webhooks", "contact.created", secret=private)
    # Then the entry is v1a, OpenSSL agrees on it, and the gateway verifies it with the whpk_ key
    content = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = Ed25519PrivateKey.from_private_bytes(seed).sign(content)
    assert request.headers["webhook-signature"] == "v1a," + base64.b64encode(expected).decode()
    assert verify(request, standard_webhooks_samples.public_key(private)) == request.delivery_id


@settings(max_examples=50, deadline=None)
@given(
    body=st.text(max_size=200),
    secret=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    timestamp=st.integers(min_value=0, max_value=10**13),
    query=st.text(alphabet="abc=&", max_size=10),
)
def test_hubspot_signature_is_hubspot_api_clients(body, secret, timestamp, query):
    """Given any body, client secret, millisecond timestamp and query, when hookctl signs a HubSpot request, then
    hubspot-api-client's v3 Signature.get_signature computes the same header over the same URL."""
    url = "https://hooks.example.com/webhooks/hubspot" + (f"?{query}" if query else "")
    signature = hubspot_samples.sign(body.encode(), url, "application/json", secret, timestamp / 1000)
    expected = HubSpotSignature.get_signature(
        secret, body, "v3", http_uri=url, http_method="POST", timestamp=str(timestamp)
    )
    assert signature.headers["x-hubspot-request-timestamp"] == str(timestamp)
    assert signature.headers["x-hubspot-signature-v3"] == expected


def test_twilio_json_signature_covers_the_url_with_the_body_hash():
    body = b'{"a":1}'
    url = twilio_samples.url_with_body_hash("https://hooks.example.com/webhooks/twilio", body)
    signature = twilio_samples.signature(url, body, "application/json", "token")
    assert RequestValidator("token").validate(url, body.decode(), signature)


@settings(max_examples=60, deadline=None)
@given(body=st.text(min_size=1, max_size=300), key=SECRETS, path=st.text("abc/-_%20", max_size=20))
def test_square_signature_is_squareups(body, key, path):
    from square.utils.webhooks_helper import verify_signature

    from webhook_gateway.verifiers.samples import square as square_samples

    url = f"https://hooks.example.com/webhooks/square{path}"
    headers = square_samples.signature_headers(body.encode("utf-8"), url, key)
    assert verify_signature(
        request_body=body,
        signature_header=headers["x-square-hmacsha256-signature"],
        signature_key=key,
        notification_url=url,
    )


def test_square_samples_sign_the_url_they_are_sent_to():
    from square.utils.webhooks_helper import verify_signature

    for kind in samples.KINDS["square"]:
        request = samples.sign_request("square", kind, base_url="http://127.0.0.1:3000")
        assert request.url == "http://127.0.0.1:3000/webhooks/square"
        assert verify_signature(
            request_body=request.body.decode(),
            signature_header=request.headers["x-square-hmacsha256-signature"],
            signature_key=samples.SAMPLE_SECRETS["square"],
            notification_url=request.url,
        )


def meta_reference_signature(body: bytes, app_secret: str) -> str:
    """Meta's documented X-Hub-Signature-256, written here independently of the samples and the verifier."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@settings(max_examples=60, deadline=None)
@given(body=BODIES, app_secret=SECRETS, token=st.text("abcXYZ019-_.~ &=+%", min_size=1, max_size=20))
def test_meta_signer_is_the_documented_algorithm(body, app_secret, token):
    from urllib.parse import parse_qs, urlsplit

    from webhook_gateway.verifiers.samples import meta as meta_samples

    secret = json.dumps({"app_secret": app_secret, "verify_token": token})
    posted = meta_samples.sign(body, "https://h.example/webhooks/meta", "application/json", secret, 0)
    assert posted.headers["x-hub-signature-256"] == meta_reference_signature(body, app_secret)
    assert posted.url == "https://h.example/webhooks/meta"
    # The GET verification: the verify token is added to the query (and decodes back to itself), nothing is signed
    url = "https://h.example/webhooks/meta?hub.mode=subscribe&hub.challenge=42"
    got = meta_samples.sign(b"", url, "", secret, 0)
    assert got.headers == {} and got.url.startswith(url + "&")
    assert parse_qs(urlsplit(got.url).query)["hub.verify_token"] == [token]


def test_meta_samples_are_a_get_verification_and_signed_posts():
    from urllib.parse import parse_qs, urlsplit

    app_secret, token = (json.loads(samples.SAMPLE_SECRETS["meta"])[k] for k in ("app_secret", "verify_token"))
    for kind in samples.KINDS["meta"]:
        request = samples.sign_request("meta", kind, base_url="http://127.0.0.1:3000")
        event = samples.event_from_request(request)
        assert event["routeKey"] == "ANY /webhooks/meta"
        if kind == "verification":
            query = parse_qs(urlsplit(request.url).query)
            assert (request.method, request.body, request.delivery_id) == ("GET", b"", "")
            assert query["hub.mode"] == ["subscribe"] and query["hub.verify_token"] == [token]
            assert event["requestContext"]["http"]["method"] == "GET" and "body" not in event
        else:
            assert request.method == "POST"
            assert request.headers["x-hub-signature-256"] == meta_reference_signature(request.body, app_secret)
            assert request.body.isascii()  # Meta escapes non-ASCII as \uXXXX, and signs the escaped bytes


def verify(request: samples.SignedRequest, secret: str | None = None) -> str:
    """The delivery id the gateway's verifier assigns (raises Rejected like the receiver)."""
    provider = load_provider(request.provider)
    webhook = request_from_event(samples.event_from_request(request))
    key = secret or samples.SAMPLE_SECRETS[request.provider]
    policy = VerificationPolicy(now=request.sent_at, tolerance_seconds=300, future_tolerance_seconds=60)
    matched = provider.verify(webhook, [SecretCandidate(CURRENT, key)], policy)
    if webhook.method == "GET" and provider.handshake(webhook, matched) is not None:
        return ""  # Meta's GET verification: answered, never named (as the receiver does, and sign_request says)
    if provider.split is not None:  # a batch request (HubSpot): the id of its first event, as the request names it
        webhook = dataclasses.replace(webhook, body=provider.split(webhook)[0])
    return provider.identify(webhook).delivery_id


@pytest.mark.parametrize("provider,kind", [(p, k) for p, kinds in samples.KINDS.items() for k in kinds])
def test_every_sample_verifies_and_names_its_delivery_like_the_gateway(provider, kind):
    request = samples.sign_request(provider, kind, base_url="http://127.0.0.1:3000")
    assert verify(request) == request.delivery_id


@pytest.mark.parametrize("provider,kind", [(p, k) for p, kinds in samples.KINDS.items() for k in kinds])
def test_another_delivery_id_is_signed_and_recognised(provider, kind):
    # Given a fresh provider-shaped id for a sample
    fresh = samples.new_delivery_id(provider)
    # When the sample is signed as that delivery
    request = samples.sign_request(provider, kind, delivery_id=fresh, base_url="http://127.0.0.1:3000")
    if request.method == "GET":  # Meta's verification is answered, never named: another one has another challenge
        assert verify(request) == request.delivery_id == ""
        assert request.url != samples.sign_request(provider, kind, base_url="http://127.0.0.1:3000").url
        return
    # Then the gateway names it as the request says, and it is another delivery than the sample's own: the id is in
    # it, or (a Twilio JSON webhook names no SID) the signed content it is hashed from has changed
    assert verify(request) == request.delivery_id
    assert fresh in request.delivery_id or request.delivery_id.startswith("sha256:")
    assert request.delivery_id != samples.sign_request(provider, kind, base_url="http://127.0.0.1:3000").delivery_id


def test_a_stripe_delivery_id_keeps_the_document_and_its_formatting():
    original = samples.sign_request("stripe", "payment_intent.succeeded", timestamp=1)
    renamed = samples.sign_request("stripe", "payment_intent.succeeded", timestamp=1, delivery_id="evt_other")
    assert json.loads(renamed.body) == {**json.loads(original.body), "id": "evt_other"}
    assert len(renamed.body) - len(original.body) == len("evt_other") - len(json.loads(original.body)["id"])


@pytest.mark.parametrize("provider,kind", [(p, k) for p, kinds in samples.KINDS.items() for k in kinds])
def test_a_tampered_delivery_is_rejected(provider, kind):
    forged = samples.tamper(samples.sign_request(provider, kind, base_url="http://127.0.0.1:3000"))
    with pytest.raises(Rejected) as rejected:
        verify(forged)
    assert rejected.value.reason.value in ("signature_mismatch", "body_hash_mismatch")


def test_api_gateway_time_is_english_whatever_the_locale():
    assert samples.api_gateway_time(1795718537412) == "26/Nov/2026:18:42:17 +0000"


def test_the_providers_samples_are_addressed_to_the_sample_api():
    # GitHub's ping body names the hook URL: the layer's samples and this module agree on where the API is
    from webhook_gateway.verifiers.samples import SAMPLE_BASE_URL

    assert samples.DEFAULT_BASE_URL == SAMPLE_BASE_URL


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300), key=st.binary(min_size=32, max_size=32), timestamp=st.integers(0, 4_000_000_000))
def test_gitlab_signing_token_signature_is_the_standardwebhooks_librarys(body, key, timestamp):
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    from webhook_gateway.verifiers.samples import gitlab as gitlab_samples

    secret = "whsec_" + base64.b64encode(key).decode()
    headers = gitlab_samples.signature_headers(body.encode("utf-8"), secret, timestamp)
    expected = Webhook(secret).sign(headers["webhook-id"], datetime.fromtimestamp(timestamp, UTC), body)
    assert headers["webhook-signature"] == expected
    assert headers["webhook-id"] == headers["idempotency-key"]  # GitLab's webhook-id is its Idempotency-Key
    assert (headers["webhook-timestamp"], "x-gitlab-token" in headers) == (str(timestamp), False)


@pytest.mark.parametrize(
    ("secret", "sent"), [("tok", "tok"), ("tok\n", "tok"), ("t\r\nok\n", "tok"), ("tok\r", "tok\r")]
)
def test_gitlab_secret_token_is_sent_as_is_without_line_breaks(secret, sent):
    # GitLab sends Gitlab::Utils.remove_line_breaks(token) in X-Gitlab-Token, and signs nothing
    signed = samples.sign_request("gitlab", "push", secret=secret)
    assert signed.headers["x-gitlab-token"] == sent
    assert not {"webhook-id", "webhook-signature", "webhook-timestamp"} & signed.headers.keys()
    assert verify(signed, secret) == signed.headers["idempotency-key"]


@pytest.mark.parametrize("kind", ["push", "merge_request", "pipeline"])
def test_gitlab_samples_in_either_mode_carry_the_samples_idempotency_key(kind):
    from webhook_gateway.verifiers.samples import gitlab as gitlab_samples

    signed = samples.sign_request("gitlab", kind)
    by_token = samples.sign_request("gitlab", kind, secret=gitlab_samples.SAMPLE_SECRET_TOKEN)
    assert signed.headers["webhook-id"] == signed.headers["idempotency-key"] == by_token.headers["idempotency-key"]
    assert verify(signed) == signed.delivery_id == verify(by_token, gitlab_samples.SAMPLE_SECRET_TOKEN)
    fresh = samples.new_delivery_id("gitlab")
    assert samples.sign_request("gitlab", kind, delivery_id=fresh).headers["webhook-id"] == fresh
    # A body given to hookctl is another delivery: its signed id is derived from it
    other = samples.sign_request("gitlab", kind, body=signed.body + b"\n")
    assert other.headers["webhook-id"] not in (signed.headers["webhook-id"], fresh)
    assert verify(other) == other.delivery_id


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300), secret=SECRETS, timestamp=st.integers(0, 4_000_000_000))
def test_paddle_signature_is_paddle_python_sdks(body, secret, timestamp):
    # Given paddle-python-sdk's HMAC over <ts>:<body> and its PaddleSignature verifier
    from paddle_billing.Notifications import PaddleSignature, Secret

    from webhook_gateway.verifiers.samples import paddle as paddle_samples

    header = paddle_samples.signature_header(body.encode("utf-8"), secret, timestamp)
    digest = PaddleSignature.calculate_hmac(secret, f"{timestamp}:{body}".encode()).hexdigest()
    # Then our header is the SDK's digest, and the SDK verifies it
    assert header == f"ts={timestamp};h1={digest}"
    assert PaddleSignature().verify(header, body, Secret(secret))


@settings(max_examples=60, deadline=None)
@given(
    data_id=st.text(max_size=40),
    secret=SECRETS,
    sent_at=st.integers(0, 4_000_000_000),
)
def test_linear_signer_stamps_the_time_and_signs_the_stamped_body(data_id, secret, sent_at):
    # Given a Linear payload and a sending time
    import hashlib
    import hmac

    from webhook_gateway.verifiers.samples import linear as linear_samples

    body = json.dumps({"type": "Issue", "action": "create", "data": {"id": data_id}, "webhookTimestamp": 1}).encode()
    signed = linear_samples.sign(body, "https://x", "application/json", secret, sent_at)
    # Then the body carries the time in ms, the header Linear's hex HMAC-SHA256 of exactly those bytes
    assert signed.body is not None
    assert json.loads(signed.body) == {**json.loads(body), "webhookTimestamp": sent_at * 1000}
    expected = hmac.new(secret.encode("utf-8"), signed.body, hashlib.sha256).hexdigest()
    assert signed.headers == {"linear-signature": expected, "linear-timestamp": str(sent_at * 1000)}


def test_a_linear_body_that_is_not_an_object_is_signed_as_given():
    from webhook_gateway.verifiers.samples import linear as linear_samples

    for body in (b"[1]", b"not json", b'"x"'):
        assert linear_samples.sign(body, "https://x", "application/json", "k", 5).body == body


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300), seed=st.binary(min_size=32, max_size=32), timestamp=st.integers(0, 4_000_000_000))
def test_discord_signature_is_pynacls_and_discord_interactions_verifies_it(body, seed, timestamp):
    from discord_interactions import verify_key
    from nacl.signing import SigningKey

    from webhook_gateway.verifiers.samples import discord as discord_samples

    # Given a private seed in hex (the sample signer's form of a private key) and the public key PyNaCl derives
    key = SigningKey(seed)
    public = key.verify_key.encode().hex()
    # When the sample signer signs timestamp + body
    headers = discord_samples.sign(body, "u", "application/json", seed.hex(), timestamp).headers
    # Then it is PyNaCl's signature, which discord_interactions.verify_key accepts with the public key
    assert headers["x-signature-ed25519"] == key.sign(str(timestamp).encode() + body).signature.hex()
    assert headers["x-signature-timestamp"] == str(timestamp)
    assert verify_key(body, headers["x-signature-ed25519"], headers["x-signature-timestamp"], public)


def test_discord_samples_verify_with_discord_interactions_and_the_sample_public_key():
    from discord_interactions import verify_key

    for kind in samples.KINDS["discord"]:
        request = samples.sign_request("discord", kind)
        signature, timestamp = request.headers["x-signature-ed25519"], request.headers["x-signature-timestamp"]
        assert verify_key(request.body, signature, timestamp, samples.SAMPLE_SECRETS["discord"]), kind
        assert not verify_key(request.body, signature, timestamp, samples.WRONG_SECRETS["discord"]), kind


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300), secret=SECRETS, timestamp=st.integers(0, 4_000_000_000))
def test_zoom_signature_is_zooms_documented_hmac(body, secret, timestamp):
    import hashlib
    import hmac

    from webhook_gateway.verifiers.samples import zoom as zoom_samples

    # Given Zoom's scheme computed independently: "v0=" + hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:%d:" % timestamp + body, hashlib.sha256).hexdigest()
    # Then the sample signer computes it
    headers = zoom_samples.signature_headers(body, secret, timestamp)
    assert headers == {"x-zm-signature": expected, "x-zm-request-timestamp": str(timestamp)}


def test_a_discord_sample_given_an_id_that_is_no_snowflake_gets_a_snowflake_derived_from_it():
    # Given an id of another shape (a UUID, as the end-to-end run gives every provider)
    other = "0b8f8a36-0c47-4a53-9a57-8d8f4b5e0c11"
    # When a Discord sample is signed as that delivery
    request = samples.sign_request("discord", "application_command", delivery_id=other)
    # Then the interaction id is a snowflake derived from it (the same each time), which the gateway accepts
    assert request.delivery_id.isdigit() and len(request.delivery_id) <= 20
    assert request.delivery_id == samples.sign_request("discord", "message_component", delivery_id=other).delivery_id
    assert verify(request) == request.delivery_id
    snowflake = "1175928399411019837"
    assert samples.sign_request("discord", "application_command", delivery_id=snowflake).delivery_id == snowflake
