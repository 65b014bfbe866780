"""Contract: the sample events in events/ are real HTTP API v2 events, signed (or mis-signed) as they claim, and the
consumer events are Lambda's SQS events carrying exactly the envelope the receiver queues, which the consumer
processes.

Signatures are checked independently of the generator: GitHub with ``hmac``, Stripe with stripe-python's
``verify_header`` and a hand-rolled HMAC, Twilio with twilio-python's ``RequestValidator.validate`` and a hand-rolled
HMAC-SHA1. Everything is offline and takes well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest
import stripe
from discord_interactions import verify_key
from hubspot.utils.signature import Signature as HubSpotSignature
from paddle_billing.Notifications import PaddleSignature
from paddle_billing.Notifications import Secret as PaddleSecret
from paddle_billing.Notifications import Verifier as PaddleVerifier
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks import Webhook as StandardWebhook
from twilio.request_validator import RequestValidator

from tools import make_events
from tools.make_events import (
    CONSUMER_EVENT_FILES,
    EVENT_FILES,
    SAMPLE_SECRETS,
    build_event,
    build_event_file,
    render_event,
    sign_request,
    signature_timestamp,
)
from webhook_gateway.http import request_from_event
from webhook_gateway.verifiers import load_provider, logical_name
from webhook_gateway.verifiers.base import DeliveryIdentity, Reason
from webhook_gateway.verifiers.samples import github as github_samples
from webhook_gateway.verifiers.samples import twilio as twilio_samples

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
ON_DISK = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
# The HTTP API events: every file but the consumer's SQS events (which have tests of their own, at the end).
HTTP_ON_DISK = [name for name in ON_DISK if name not in CONSUMER_EVENT_FILES]
VALID = [name for name, outcome in EVENT_FILES.items() if outcome.status < 400]
INVALID = [name for name, outcome in EVENT_FILES.items() if outcome.status >= 400]
HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
STRIPE_TOLERANCE = 300


# --------------------------------------------------------------------------------------------------------------------
# Helpers: read an event the way a receiver must, without the generator's code
# --------------------------------------------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def raw_body(event: dict[str, Any]) -> bytes:
    if event["isBase64Encoded"]:
        return base64.b64decode(event["body"], validate=True)
    return event.get("body", "").encode("utf-8")  # HTTP API leaves "body" out of a request without one (a GET)


def public_url(event: dict[str, Any]) -> str:
    query = event["rawQueryString"]
    return f"https://{event['headers']['host']}{event['rawPath']}" + (f"?{query}" if query else "")


def form_params(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)


def is_form(event: dict[str, Any]) -> bool:
    return event["headers"].get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded"


def is_get(event: dict[str, Any]) -> bool:
    """Meta's endpoint verification: a GET with a query and no body (the only non-POST sample)."""
    return event["requestContext"]["http"]["method"] == "GET"


def github_signature_ok(event: dict[str, Any], secret: str) -> bool:
    body = raw_body(event)
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, event["headers"]["x-hub-signature-256"])


def generic_hmac_signature_ok(event: dict[str, Any], secret: str) -> bool:
    """The default Generic HMAC options: lower-case hex HMAC-SHA256 of the raw body in ``x-signature``."""
    expected = hmac.new(secret.encode("utf-8"), raw_body(event), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, event["headers"]["x-signature"])


def stripe_signature_ok(event: dict[str, Any], secret: str, *, tolerance: int | None) -> bool:
    """stripe-python's verifier, cross-checked by a hand-rolled HMAC over ``f"{t}.{body}"``."""
    header = event["headers"]["stripe-signature"]
    body = raw_body(event)
    fields = dict(item.split("=", 1) for item in header.split(","))
    by_hand = hmac.new(secret.encode("utf-8"), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    try:
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), header, secret, tolerance=tolerance)
        sdk_ok = True
    except stripe.SignatureVerificationError:
        sdk_ok = False
    if tolerance is None:
        assert sdk_ok == hmac.compare_digest(by_hand, fields["v1"]), "stripe SDK and hand-rolled HMAC disagree"
    return sdk_ok


def slack_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """slack_sdk's SignatureVerifier, cross-checked by a hand-rolled HMAC-SHA256 over ``v0:<timestamp>:<body>``.
    ``check_age``: also require the timestamp within the SDK's 5 minutes of the time API Gateway received it."""
    body = raw_body(event)
    headers = event["headers"]
    timestamp, signature = headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    signed = f"v0:{timestamp}:".encode() + body
    by_hand = "v0=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    received_at = event["requestContext"]["timeEpoch"] // 1000
    verifier = SignatureVerifier(secret, clock=_FixedClock(received_at if check_age else int(timestamp)))
    sdk_ok = verifier.is_valid(body, timestamp, signature)
    if not check_age:
        assert sdk_ok == hmac.compare_digest(by_hand, signature), "slack_sdk and hand-rolled HMAC disagree"
    return sdk_ok


def hubspot_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """hubspot-api-client's v3 ``Signature.get_signature`` over method + the URL API Gateway was called at + body +
    timestamp (constant-time compared). ``check_age``: also require the timestamp (ms) within HubSpot's 5 minutes of
    the time API Gateway received it (the SDK's own check reads the wall clock, so it is done here)."""
    headers = event["headers"]
    query = f"?{event['rawQueryString']}" if event["rawQueryString"] else ""
    uri = f"https://{headers['host']}{event['rawPath']}{query}"
    timestamp = headers["x-hubspot-request-timestamp"]
    expected = HubSpotSignature.get_signature(
        secret, raw_body(event).decode("utf-8"), "v3", http_uri=uri, http_method="POST", timestamp=timestamp
    )
    signed = hmac.compare_digest(expected, headers["x-hubspot-signature-v3"])
    if check_age:
        return signed and event["requestContext"]["timeEpoch"] - int(timestamp) < 300_000
    return signed


class _FixedClock(Clock):
    def __init__(self, now: int) -> None:
        self.fixed = now

    def now(self) -> float:
        return float(self.fixed)


def twilio_signature_ok(event: dict[str, Any], token: str) -> bool:
    """twilio-python's validator, cross-checked by a hand-rolled HMAC-SHA1 over URL + sorted name/value pairs."""
    url = public_url(event)
    body = raw_body(event)
    signature = event["headers"]["x-twilio-signature"]
    if is_form(event):
        params = form_params(body)
        assert all(len(values) == 1 for values in params.values()), "sample forms have no repeated names"
        sdk_ok = RequestValidator(token).validate(url, {name: values[0] for name, values in params.items()}, signature)
        signed = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
        body_hash_ok = True
    else:
        # JSON: the SDK checks bodySHA256 itself when given the raw body as a string.
        sdk_ok = RequestValidator(token).validate(url, body.decode("utf-8"), signature)
        signed = url
        body_hash_ok = parse_qs(event["rawQueryString"])["bodySHA256"] == [hashlib.sha256(body).hexdigest()]
    by_hand = base64.b64encode(hmac.new(token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest())
    assert sdk_ok == (body_hash_ok and hmac.compare_digest(by_hand.decode(), signature)), "twilio SDK and HMAC disagree"
    return sdk_ok


def shopify_signature_ok(event: dict[str, Any], secret: str) -> bool:
    """Shopify's documented check: base64 of HMAC-SHA256(client secret, raw body), compared in constant time."""
    digest = base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body(event), hashlib.sha256).digest())
    return hmac.compare_digest(digest.decode(), event["headers"]["x-shopify-hmac-sha256"])


def standard_webhooks_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """The standardwebhooks library's signature for ``<webhook-id>.<webhook-timestamp>.<body>`` among the header's
    entries, cross-checked by a hand-rolled HMAC-SHA256 keyed with the base64-decoded whsec_ secret. ``check_age``:
    also require the timestamp within 5 minutes of the time API Gateway received it (the library's window). The
    library's own verify checks the age against the clock, so the checked-in files would not verify once old."""
    body = raw_body(event)
    headers = event["headers"]
    message_id, timestamp, entries = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    expected = StandardWebhook(secret).sign(message_id, signed_at, body.decode("utf-8"))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    assert expected == "v1," + base64.b64encode(digest).decode(), "standardwebhooks and hand-rolled HMAC disagree"
    matched = any(hmac.compare_digest(expected, entry) for entry in entries.split())
    received_at = event["requestContext"]["timeEpoch"] // 1000
    return matched and (not check_age or abs(received_at - int(timestamp)) <= STRIPE_TOLERANCE)


def gitlab_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """A signing token (whsec_): Standard Webhooks over the webhook-* headers. A secret token: X-Gitlab-Token is it."""
    if not secret.startswith("whsec_"):
        return hmac.compare_digest(event["headers"].get("x-gitlab-token", ""), secret)
    return standard_webhooks_signature_ok(event, secret, check_age=check_age)


def paddle_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """paddle-python-sdk's PaddleSignature.verify (no clock), cross-checked by a hand-rolled HMAC-SHA256 over
    ``<ts>:<body>``. ``check_age``: also require the ts within 5 minutes of the time API Gateway received it (the
    SDK's own Verifier checks its 5 s against the clock, so the checked-in files would not verify once old)."""
    body = raw_body(event)
    header = event["headers"]["paddle-signature"]
    fields = dict(item.split("=", 1) for item in header.split(";"))
    by_hand = hmac.new(secret.encode("utf-8"), f"{fields['ts']}:".encode() + body, hashlib.sha256).hexdigest()
    try:
        sdk_ok = PaddleSignature().verify(header, body.decode("utf-8"), [PaddleSecret(secret)])
    except ConnectionRefusedError:  # the SDK's answer when no secret matches
        sdk_ok = False
    assert sdk_ok == hmac.compare_digest(by_hand, fields["h1"]), "paddle SDK and hand-rolled HMAC disagree"
    assert PaddleVerifier().maximum_variance == 5
    received_at = event["requestContext"]["timeEpoch"] // 1000
    return sdk_ok and (not check_age or abs(received_at - int(fields["ts"])) <= STRIPE_TOLERANCE)


def linear_signature_ok(event: dict[str, Any], secret: str) -> bool:
    """Linear's documented scheme, written here: hex HMAC-SHA256 of the raw body keyed with the signing secret, and
    the body's signed webhookTimestamp within @linear/sdk's 60 s of the time API Gateway received the event."""
    body = raw_body(event)
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    received_at_ms = event["requestContext"]["timeEpoch"]
    fresh = abs(received_at_ms - json.loads(body)["webhookTimestamp"]) <= 60_000
    return hmac.compare_digest(expected, event["headers"]["linear-signature"]) and fresh


def discord_signature_ok(event: dict[str, Any], public_key: str, *, check_age: bool) -> bool:
    """discord_interactions.verify_key (PyNaCl/libsodium Ed25519 over ``timestamp + body``). ``check_age``: also
    require the timestamp within 300 s of the time API Gateway received it (Discord documents no window; the gateway
    applies its own)."""
    headers = event["headers"]
    timestamp = headers["x-signature-timestamp"]
    ok = verify_key(raw_body(event), headers["x-signature-ed25519"], timestamp, public_key)
    received_at = event["requestContext"]["timeEpoch"] // 1000
    return ok and (not check_age or abs(received_at - int(timestamp)) <= STRIPE_TOLERANCE)


def zoom_signature_ok(event: dict[str, Any], secret: str, *, check_age: bool) -> bool:
    """Zoom's documented scheme, written here: ``v0=`` + hex HMAC-SHA256 of ``v0:<x-zm-request-timestamp>:<body>``
    keyed with the Secret Token, cross-checked by slack_sdk's SignatureVerifier (the same ``v0`` construction).
    ``check_age``: also require the timestamp within 300 s of the time API Gateway received it."""
    body = raw_body(event)
    headers = event["headers"]
    timestamp, signature = headers["x-zm-request-timestamp"], headers["x-zm-signature"]
    by_hand = "v0=" + hmac.new(secret.encode("utf-8"), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    assert SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) == by_hand
    received_at = event["requestContext"]["timeEpoch"] // 1000
    fresh = not check_age or abs(received_at - int(timestamp)) <= STRIPE_TOLERANCE
    return hmac.compare_digest(by_hand, signature) and fresh


def square_signature_ok(event: dict[str, Any], key: str) -> bool:
    """squareup's ``verify_signature`` over the notification URL (the public URL the event was sent to) and the body,
    cross-checked by a hand-rolled base64 HMAC-SHA256."""
    from square.utils.webhooks_helper import verify_signature

    url, body = public_url(event), raw_body(event)
    signature = event["headers"]["x-square-hmacsha256-signature"]
    sdk_ok = verify_signature(
        request_body=body.decode("utf-8"), signature_header=signature, signature_key=key, notification_url=url
    )
    by_hand = base64.b64encode(hmac.new(key.encode("utf-8"), url.encode("utf-8") + body, hashlib.sha256).digest())
    assert sdk_ok == hmac.compare_digest(by_hand.decode(), signature), "squareup and hand-rolled HMAC disagree"
    return sdk_ok


def meta_signature_ok(event: dict[str, Any], secret: str) -> bool:
    """Meta's documented checks, written here: a POST's ``x-hub-signature-256`` is ``sha256=`` + hex HMAC-SHA256 of
    the raw body keyed with the App Secret; a GET verification's ``hub.verify_token`` is the configured token."""
    document = json.loads(secret)
    if is_get(event):
        query = parse_qs(event["rawQueryString"])
        assert query["hub.mode"] == ["subscribe"] and query["hub.challenge"][0].isdigit()
        return query["hub.verify_token"] == [document["verify_token"]]
    key = document["app_secret"].encode("utf-8")
    expected = "sha256=" + hmac.new(key, raw_body(event), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, event["headers"]["x-hub-signature-256"])


# provider -> (event, its sample secret, whether the file is a valid one) -> whether the file's signature holds. An
# invalid file's signed time is checked as well: a stale file is correctly signed, but old.
INDEPENDENT_CHECKS: dict[str, Callable[[dict[str, Any], str, bool], bool]] = {
    "discord": lambda event, secret, valid: discord_signature_ok(event, secret, check_age=not valid),
    "generic_hmac": lambda event, secret, valid: generic_hmac_signature_ok(event, secret),
    "github": lambda event, secret, valid: github_signature_ok(event, secret),
    "gitlab": lambda event, secret, valid: gitlab_signature_ok(event, secret, check_age=not valid),
    "hubspot": lambda event, secret, valid: hubspot_signature_ok(event, secret, check_age=not valid),
    "linear": lambda event, secret, valid: linear_signature_ok(event, secret),
    "meta": lambda event, secret, valid: meta_signature_ok(event, secret),
    "paddle": lambda event, secret, valid: paddle_signature_ok(event, secret, check_age=not valid),
    "shopify": lambda event, secret, valid: shopify_signature_ok(event, secret),
    "square": lambda event, secret, valid: square_signature_ok(event, secret),
    "slack": lambda event, secret, valid: slack_signature_ok(event, secret, check_age=not valid),
    "standard_webhooks": lambda event, secret, valid: standard_webhooks_signature_ok(
        event, secret, check_age=not valid
    ),
    "stripe": lambda event, secret, valid: stripe_signature_ok(
        event, secret, tolerance=None if valid else STRIPE_TOLERANCE
    ),
    "twilio": lambda event, secret, valid: twilio_signature_ok(event, secret),
    "zoom": lambda event, secret, valid: zoom_signature_ok(event, secret, check_age=not valid),
}


def signature_ok(name: str, event: dict[str, Any]) -> bool:
    outcome = EVENT_FILES[name]
    check = INDEPENDENT_CHECKS.get(outcome.provider)
    # A provider's files are checked by an implementation of its scheme written here, never by the gateway's own.
    assert check is not None, f"no independent signature check for {outcome.provider}: add one to INDEPENDENT_CHECKS"
    return check(event, SAMPLE_SECRETS[outcome.provider], outcome.valid)


# --------------------------------------------------------------------------------------------------------------------
# The set of files
# --------------------------------------------------------------------------------------------------------------------


def test_every_file_in_events_is_catalogued_and_every_catalogued_file_exists() -> None:
    # Given the generator's catalogue and the directory
    # When both are listed
    # Then they name the same files, so none is unchecked and none is missing
    assert sorted([*EVENT_FILES, *CONSUMER_EVENT_FILES]) == ON_DISK
    assert not set(EVENT_FILES) & set(CONSUMER_EVENT_FILES)


def test_catalogue_states_the_status_and_reason_each_receiver_must_answer() -> None:
    # Given every catalogued outcome
    for name, outcome in EVENT_FILES.items():
        # Then valid deliveries are accepted with the status their provider acknowledges with (GitHub/Stripe 202,
        # Twilio 200 with TwiML, Slack an empty 200; a handshake is answered 200) and have no reason
        if outcome.valid:
            assert outcome.reason is None, name
            acknowledged = load_provider(outcome.provider).acknowledge(DeliveryIdentity("id", "type")).status
            assert outcome.status in {acknowledged, 200}, name
            assert outcome.status == acknowledged or outcome.deliveries == 0, name  # 0: a handshake, answered
        # And invalid ones are 401 with one of the gateway's public reason codes
        else:
            assert outcome.status == 401, name
            assert outcome.reason in {reason.value for reason in Reason}, name
        assert name.startswith(outcome.provider + "_"), name
        assert outcome.function == f"{logical_name(outcome.provider)}ReceiverFunction"
    assert {EVENT_FILES[name].reason for name in INVALID} == {"signature_mismatch", "timestamp_too_old"}


# --------------------------------------------------------------------------------------------------------------------
# Shape: exactly what API Gateway HTTP API (payload format 2.0) sends
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HTTP_ON_DISK)
def test_file_is_a_well_formed_http_api_v2_event(name: str) -> None:
    # Given a sample event file
    event = load(name)
    provider = EVENT_FILES[name].provider

    # Then it has the v2 top-level keys, and none that HTTP API leaves out for these routes
    assert {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext"} <= set(event)
    assert ("body" in event) is not is_get(event)  # HTTP API sends no "body" for a request without one
    assert "isBase64Encoded" in event and isinstance(event["isBase64Encoded"], bool)
    assert not {"cookies", "pathParameters", "stageVariables", "multiValueHeaders"} & set(event)
    assert event["version"] == "2.0"
    assert event["rawPath"] == f"/webhooks/{provider}"
    # The template's route: POST, or ANY for a provider that also sends a GET (Meta), whose verification is that GET
    method = "GET" if is_get(event) else "POST"
    assert event["routeKey"] == f"{'ANY' if provider == 'meta' else 'POST'} {event['rawPath']}"
    assert (method == "GET") is (name == "meta_verification.json")

    # And header names are lower-case, with the transport headers API Gateway adds
    headers = event["headers"]
    assert all(name_ == name_.lower() and isinstance(value, str) for name_, value in headers.items())
    assert headers["host"] == HOST
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-port"] == "443"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", headers["x-amzn-trace-id"])
    assert headers["user-agent"]
    assert bool(headers.get("content-type")) is (method == "POST")  # a GET has no body, hence no content type

    # And content-length is the size of the raw body, which decodes when it is base64
    body = raw_body(event)
    assert headers["content-length"] == str(len(body))

    # And the request context matches the headers and the route
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "abc123def4"
    assert context["domainName"] == HOST
    assert context["domainPrefix"] == "abc123def4"
    assert context["routeKey"] == event["routeKey"]
    assert context["stage"] == "$default"
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert context["http"] == {
        "method": method,
        "path": event["rawPath"],
        "protocol": "HTTP/1.1",
        "sourceIp": headers["x-forwarded-for"].split(",")[0].strip(),
        "userAgent": headers["user-agent"],
    }
    assert isinstance(context["timeEpoch"], int)
    received = datetime.fromtimestamp(context["timeEpoch"] // 1000, UTC)
    assert context["time"] == received.strftime("%d/%b/%Y:%H:%M:%S +0000")

    # And the query string parameters, when present, are the decoded raw query string
    if event["rawQueryString"]:
        assert event["queryStringParameters"] == dict(parse_qsl(event["rawQueryString"], keep_blank_values=True))
    else:
        assert "queryStringParameters" not in event


@pytest.mark.parametrize("name", HTTP_ON_DISK)
def test_body_encoding_follows_api_gateway(name: str) -> None:
    # Given a sample event
    event = load(name)
    # Then form bodies arrive base64-encoded (HTTP API does not treat them as text) and JSON bodies as text
    assert event["isBase64Encoded"] is is_form(event)
    # And the body parses in the provider's format (a GET has none)
    body = raw_body(event)
    if is_get(event):
        assert body == b""
    elif is_form(event):
        params = form_params(body)
        if name.startswith("github"):
            json.loads(params["payload"][0])
    else:
        json.loads(body)


def test_gateway_reads_each_event_as_the_bytes_and_url_that_were_signed() -> None:
    # Given every sample event
    for name in HTTP_ON_DISK:
        event = load(name)
        # When the gateway's own adapter turns it into a request
        request = request_from_event(event)
        # Then it sees the signed bytes and rebuilds the public URL Twilio signs
        assert request.body == raw_body(event), name
        assert request.url == public_url(event), name
        assert request.source_ip == event["requestContext"]["http"]["sourceIp"], name


# --------------------------------------------------------------------------------------------------------------------
# Signatures, checked independently of the generator
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_valid_event_verifies_with_the_sample_secret(name: str) -> None:
    # Given a file catalogued as valid
    event = load(name)
    # When its signature is checked with the provider's scheme and the sample secret
    # Then it verifies (Stripe without a tolerance: the checked-in copy ages, see the freshness test)
    assert signature_ok(name, event)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_event_fails_the_provider_check(name: str) -> None:
    # Given a file catalogued as invalid
    event = load(name)
    # When its signature is checked exactly like a valid one (Stripe with the 300 s tolerance)
    # Then it fails
    assert not signature_ok(name, event)


def test_github_events_carry_both_signatures_and_a_unique_delivery() -> None:
    # Given the GitHub files
    names = [name for name in EVENT_FILES if EVENT_FILES[name].provider == "github"]
    deliveries = set()
    for name in names:
        event = load(name)
        headers = event["headers"]
        body = raw_body(event)
        # Then the legacy SHA-1 header is there too, like GitHub sends it
        assert re.fullmatch(r"sha1=[0-9a-f]{40}", headers["x-hub-signature"])
        if EVENT_FILES[name].valid:
            key = SAMPLE_SECRETS["github"].encode()
            assert headers["x-hub-signature"] == "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", headers["x-github-delivery"])
        assert headers["x-github-hook-id"].isdigit()
        assert headers["user-agent"].startswith("GitHub-Hookshot/")
        assert headers["x-github-event"] == ("ping" if "ping" in name else "push")
        if EVENT_FILES[name].valid:
            deliveries.add((headers["x-github-hook-id"], headers["x-github-delivery"]))
    # And every valid delivery has its own idempotency key (hook id, delivery GUID)
    assert len(deliveries) == len([name for name in names if EVENT_FILES[name].valid])


def stripe_signature_timestamp(event: dict) -> int:
    """The ``t=`` of the event's ``stripe-signature`` header, read here rather than through the samples' own reader."""
    items = dict(item.split("=", 1) for item in event["headers"]["stripe-signature"].split(","))
    return int(items["t"])


def test_stale_stripe_event_is_correctly_signed_but_an_hour_old() -> None:
    # Given the stale Stripe file
    event = load("stripe_stale_timestamp.json")
    signed_at = stripe_signature_timestamp(event)
    received_at = event["requestContext"]["timeEpoch"] // 1000
    # Then its signature is genuine: only the age is wrong
    assert stripe_signature_ok(event, SAMPLE_SECRETS["stripe"], tolerance=None)
    assert not stripe_signature_ok(event, SAMPLE_SECRETS["stripe"], tolerance=STRIPE_TOLERANCE)
    # And it was delivered an hour after it was signed (a replay), so it is too old whenever it is used
    assert received_at - signed_at >= 3600


def test_freshly_generated_stripe_event_is_within_the_five_minute_tolerance() -> None:
    # Given the Stripe event as `make events` writes it now
    event = build_event_file("stripe_payment_intent_succeeded.json")
    # Then it is signed with the current time and passes stripe-python's default 300 s tolerance
    assert abs(stripe_signature_timestamp(event) - time.time()) < 5
    assert stripe_signature_ok(event, SAMPLE_SECRETS["stripe"], tolerance=STRIPE_TOLERANCE)
    # And the stale one generated now is still too old
    stale = build_event_file("stripe_stale_timestamp.json")
    assert not stripe_signature_ok(stale, SAMPLE_SECRETS["stripe"], tolerance=STRIPE_TOLERANCE)


def test_stripe_body_names_the_event() -> None:
    # Given the Stripe body
    body = json.loads(raw_body(load("stripe_payment_intent_succeeded.json")))
    # Then it is a real event: idempotency key evt_..., type, API version and a PaymentIntent
    assert body["id"].startswith("evt_") and body["object"] == "event"
    assert body["type"] == "payment_intent.succeeded"
    assert body["api_version"]
    assert body["data"]["object"]["object"] == "payment_intent"
    assert body["data"]["object"]["status"] == "succeeded"


def test_twilio_sms_carries_the_parameters_twilio_sends() -> None:
    # Given the inbound SMS
    event = load("twilio_sms_inbound.json")
    params = form_params(raw_body(event))
    # Then it has Twilio's inbound SMS parameter set and an idempotency token
    required = {
        "ToCountry", "ToState", "SmsMessageSid", "NumMedia", "ToCity", "FromZip", "SmsSid", "FromState", "SmsStatus",
        "FromCity", "Body", "FromCountry", "To", "ToZip", "NumSegments", "MessageSid", "AccountSid", "From",
        "ApiVersion",
    }  # fmt: skip
    assert required <= set(params)
    assert params["SmsStatus"] == ["received"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"][0])
    assert re.fullmatch(r"AC[0-9a-f]{32}", params["AccountSid"][0])
    assert event["headers"]["i-twilio-idempotency-token"]


def test_twilio_json_event_puts_the_body_hash_in_the_signed_url() -> None:
    # Given the Twilio JSON event
    event = load("twilio_json_body_sha256.json")
    body = raw_body(event)
    # Then the URL carries bodySHA256 of the exact body, and the signature covers that URL with no parameters
    assert event["headers"]["content-type"] == "application/json"
    assert event["rawQueryString"] == f"bodySHA256={hashlib.sha256(body).hexdigest()}"
    assert (
        RequestValidator(SAMPLE_SECRETS["twilio"]).compute_signature(public_url(event), {})
        == (event["headers"]["x-twilio-signature"])
    )
    # And a changed body no longer matches its hash
    tampered = body.replace(b"order-1042", b"order-1043")
    assert not RequestValidator(SAMPLE_SECRETS["twilio"]).validate(
        public_url(event), tampered.decode(), event["headers"]["x-twilio-signature"]
    )


# --------------------------------------------------------------------------------------------------------------------
# The files on disk are what the generator produces
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ON_DISK)
def test_file_on_disk_is_what_the_generator_writes(name: str) -> None:
    # Given a file on disk
    text = (EVENTS_DIR / name).read_text(encoding="utf-8")
    # When the generator rebuilds it (reusing the file's Stripe or Slack signing time, the one thing that varies)
    expected = render_event(
        build_event_file(
            name,
            timestamp=signature_timestamp(
                json.loads(text), EVENT_FILES[name].provider if name in EVENT_FILES else None
            ),
        )
    )
    # Then both are identical to the byte: a stale or hand-edited file is caught (fix: `make events`)
    assert text == expected, f"events/{name} is out of date: run `make events`"


def test_check_mode_reports_only_files_that_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given freshly written events
    assert make_events.main(["--out", str(tmp_path)]) == 0
    # When nothing changed, then --check passes
    assert make_events.main(["--check", "--out", str(tmp_path)]) == 0
    # When one file is edited by hand, then --check fails and names it
    github_push = tmp_path / "github_push.json"
    github_push.write_text(github_push.read_text().replace('"push"', '"pull_request"'))
    assert make_events.main(["--check", "--out", str(tmp_path)]) == 1
    assert "github_push.json" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# The generator's public API
# --------------------------------------------------------------------------------------------------------------------


def test_build_event_gives_the_sample_event_for_a_provider_and_kind() -> None:
    # Given the sample secrets
    assert SAMPLE_SECRETS == {
        "discord": "a4a2271be9859bd7fbee29a1386b26b5a6c9dbfeb8e67bf5f6539bf241314c7f",
        "generic_hmac": "sample-generic-hmac-secret",
        "github": "sample-github-webhook-secret",
        "gitlab": "whsec_lkKwIQZdVwtpR1PoidZyt7xxqUDM1jygVkKBtD95JeY=",
        "hubspot": "6f1c2a9e-3b7d-4e58-9a0c-d2e4f6a8b0c1",
        "linear": "lin_wh_SampleGatewaySigningSecret0123456789abcdefABCDEF",
        "paddle": "pdl_ntfset_01jgatewaysample0000000000000_SampleGatewaySecretKey0123456789",
        "meta": '{"app_secret": "sample-meta-app-secret-3f9c1a7e", "verify_token": "sample-meta-verify-token-58d2"}',
        "shopify": "sample-shopify-client-secret",
        "slack": "8f742231b10e8888abcd99e0d4e85a5b",
        "square": "sample-square-signature-key-7Qx2",
        "standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "stripe": "whsec_sample_stripe_endpoint_secret",
        "twilio": "sample_twilio_auth_token_0123456789",
        "zoom": "hUgVpQk2Sf6Rz8yWd4LmNa",
    }
    # When an event is built by provider and kind
    event = build_event("github", "push")
    # Then it is signed with the sample secret, and a wrong secret gives a mismatch
    assert github_signature_ok(event, SAMPLE_SECRETS["github"])
    assert not github_signature_ok(build_event("github", "push", secret="other"), SAMPLE_SECRETS["github"])
    # And Stripe takes the signing time from `timestamp`
    stripe_event = build_event("stripe", "payment_intent.succeeded", timestamp=1700000000)
    assert stripe_signature_timestamp(stripe_event) == 1700000000
    assert stripe_signature_ok(stripe_event, SAMPLE_SECRETS["stripe"], tolerance=None)


def test_signed_request_for_another_base_url_signs_that_url() -> None:
    # Given a request meant for a local server with a port and a stage prefix
    request = sign_request("twilio", "json_body", base_url="http://127.0.0.1:3000/dev/")
    # Then Twilio's signature covers that URL (and the body hash in it)
    assert request.url.startswith("http://127.0.0.1:3000/dev/webhooks/twilio?bodySHA256=")
    assert RequestValidator(SAMPLE_SECRETS["twilio"]).validate(
        request.url, request.body.decode(), request.headers["x-twilio-signature"]
    )
    # And a replacement form body is re-signed over its own parameters
    form = sign_request("twilio", "sms_inbound", body=b"Body=hi&MessageSid=SM1&Empty=")
    params = {name: values[0] for name, values in form_params(form.body).items()}
    assert params["Empty"] == ""
    assert RequestValidator(SAMPLE_SECRETS["twilio"]).validate(form.url, params, form.headers["x-twilio-signature"])


def test_signers_reproduce_the_providers_published_vectors() -> None:
    # GitHub's documented example
    headers = github_samples.signature_headers(b"Hello, World!", "It's a Secret to Everybody")
    assert headers["x-hub-signature-256"] == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    # twilio-python's form vector
    body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212"
    signature = twilio_samples.signature(
        "https://mycompany.com/myapp.php?foo=1&bar=2", body, "application/x-www-form-urlencoded", "12345"
    )
    assert signature == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    # twilio-python's JSON body hash vector
    json_body = b'{"property": "value", "boolean": true}'
    url = twilio_samples.url_with_body_hash("https://mycompany.com/myapp.php", json_body)
    assert url.endswith("?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")


# --------------------------------------------------------------------------------------------------------------------
# Consumer events: Lambda's SQS event carrying the envelope the receiver queued
# --------------------------------------------------------------------------------------------------------------------

CONSUMER_ON_DISK = sorted(CONSUMER_EVENT_FILES)
# The consumer suites' isolation of the Powertools singletons (logs to the current stdout, metrics cleared around
# each test), for the test that runs the consumer's handler.
from tests.consumer_fixtures import _clean_metrics, _logs_to_current_stdout  # noqa: E402, F401  (autouse fixtures)


def lambda_attributes(attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """SendMessage's MessageAttributes as Lambda's SQS event shows them."""
    return {
        name: {
            "stringValue": value["StringValue"],
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


@pytest.mark.parametrize("name", CONSUMER_ON_DISK)
def test_consumer_event_is_an_sqs_event_carrying_the_envelope_of_its_http_event(name: str) -> None:
    from webhook_gateway.envelope import Envelope

    # Given a consumer event and the HTTP event whose delivery it carries
    event = load(name)
    source = load(CONSUMER_EVENT_FILES[name].source)

    # Then it has Lambda's SQS event shape: one record from an SQS queue, received once
    [record] = event["Records"]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfMessageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs"
    assert re.fullmatch(r"arn:aws:sqs:us-east-1:123456789012:[\w-]+", record["eventSourceARN"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert int(record["attributes"]["SentTimestamp"]) >= source["requestContext"]["timeEpoch"]
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()

    # And its body is a valid envelope of that very delivery: id, event type, and the signed bytes, byte for byte
    envelope = Envelope.model_validate_json(record["body"])
    headers = source["headers"]
    assert envelope.provider == "github"
    assert envelope.delivery_id == f"{headers['x-github-hook-id']}:{headers['x-github-delivery']}"
    assert envelope.event_type == headers["x-github-event"]
    assert envelope.body_ref is None and envelope.inline_body_bytes() == raw_body(source)
    assert envelope.body_sha256 == hashlib.sha256(raw_body(source)).hexdigest()
    assert record["body"] == envelope.sqs_message_body()
    # And its message attributes are the ones the receiver sets on every envelope
    assert record["messageAttributes"] == lambda_attributes(envelope.sqs_message_attributes())


@pytest.mark.parametrize("name", CONSUMER_ON_DISK)
def test_consumer_event_md5s_are_what_sqs_computes(name: str) -> None:
    import boto3
    from moto import mock_aws

    # Given the record's body and message attributes
    [record] = load(name)["Records"]
    attributes = {
        key: {"DataType": value["dataType"], "StringValue": value["stringValue"]}
        for key, value in record["messageAttributes"].items()
    }
    # When SQS (moto) is sent the same message
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="consumer-event-md5")["QueueUrl"]
        sent = sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"], MessageAttributes=attributes)
    # Then its digests are the record's
    assert sent["MD5OfMessageBody"] == record["md5OfBody"]
    assert sent["MD5OfMessageAttributes"] == record["md5OfMessageAttributes"]


@pytest.fixture
def consumer_app_on_moto(monkeypatch: pytest.MonkeyPatch):
    """functions/consumer/consumer_app as Lambda loads it, its ledger table and bucket in moto (in process)."""
    from tests.integration.consumer.aws import moto_aws
    from tests.unit.consumer.fakes import DELIVERIES_TABLE, OVERFLOW_BUCKET
    from webhook_gateway.consumer import bodies, ledger

    for variable, value in {
        "TABLE_NAME": DELIVERIES_TABLE,
        "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
        "DELIVERY_TTL_DAYS": "",
        "POWERTOOLS_SERVICE_NAME": "consumer",
        "AWS_ENDPOINT_URL": "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    import consumer_app

    caches = (consumer_app.consumer, ledger.default_client, bodies.default_s3_client)
    with moto_aws() as aws:
        for cache in caches:
            cache.cache_clear()
        yield consumer_app, aws, DELIVERIES_TABLE
        for cache in caches:
            cache.cache_clear()


@pytest.mark.parametrize("name", CONSUMER_ON_DISK)
def test_the_consumer_processes_the_consumer_event(name: str, consumer_app_on_moto) -> None:
    from tests.unit.consumer.fakes import FakeLambdaContext
    from webhook_gateway.consumer import ledger
    from webhook_gateway.envelope import Envelope

    app, aws, table = consumer_app_on_moto
    # Given the consumer event, as `sam local invoke ConsumerFunction -e events/<name>` passes it
    event = load(name)
    envelope = Envelope.model_validate_json(event["Records"][0]["body"])

    # When Lambda invokes the consumer's handler with it
    response = app.handler(event, FakeLambdaContext())

    # Then nothing is reported failed (no poison message), and the ledger says processed, by a handler or skipped
    assert response == {"batchItemFailures": []}
    entry = ledger.get_delivery(table, envelope.provider, envelope.delivery_id, client=aws.dynamodb)
    assert entry is not None and entry["status"] == ledger.STATUS_PROCESSED
    assert entry["outcome"] in (ledger.OUTCOME_HANDLED, ledger.OUTCOME_SKIPPED)
    assert entry["attempts"] == 1 and entry["event_type"] == envelope.event_type
