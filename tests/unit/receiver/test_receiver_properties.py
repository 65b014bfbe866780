"""Property tests: whatever arrives, the receiver answers 4xx or 2xx (never 5xx) and queues only what it verified."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hookctl.samples import DEFAULT_KINDS
from tests.throwaway_providers import METAISH_APP_SECRET, METAISH_VERIFY_TOKEN, installed
from tools.make_events import SAMPLE_SECRETS, build_event, deliveries_of
from webhook_gateway.receiver import Receiver
from webhook_gateway.settings import ReceiverSettings
from webhook_gateway.verifiers import load_provider, registered_providers
from webhook_gateway.verifiers.base import Provider

from .fakes import InMemorySender, StaticSecret

PROVIDERS = tuple(provider.name for provider in registered_providers())
SIGNATURE_HEADERS = ["x-hub-signature-256", "stripe-signature", "x-twilio-signature",
                     "x-twilio-webhooks-signature-settings", "x-github-delivery", "x-github-event", "content-type",
                     "host", "x-forwarded-proto", "i-twilio-idempotency-token"]


def make_receiver(provider: str, now: float = 1_795_718_537) -> tuple[Receiver, InMemorySender]:
    sender = InMemorySender()
    settings = ReceiverSettings(provider=provider, queue_url="q", secret_id="s", overflow_bucket="b")
    receiver = Receiver(load_provider(provider), settings, StaticSecret(SAMPLE_SECRETS[provider], "old-secret"),
                        sender, clock=lambda: now)
    return receiver, sender


header_values = st.one_of(
    st.text(max_size=200),
    st.from_regex(r"t=\d{1,12},v1=[0-9a-f]{0,70}", fullmatch=True),
    st.from_regex(r"sha256=[0-9a-fA-F]{0,70}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9+/=]{0,60}", fullmatch=True),
    st.just("key=k,algorithm=HMAC_SHA256"),
)
headers_strategy = st.dictionaries(
    st.one_of(st.sampled_from(SIGNATURE_HEADERS), st.text(min_size=1, max_size=30)), header_values, max_size=8
)


# GET is how some providers confirm their endpoint (Meta); any other method must be refused as well.
methods = st.one_of(st.sampled_from(["POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]), st.text(max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider=st.sampled_from(PROVIDERS),
    method=methods,
    headers=headers_strategy,
    body=st.binary(max_size=2000),
    as_base64=st.booleans(),
    raw_query=st.text(max_size=80),
)
def test_arbitrary_requests_never_get_5xx_and_are_never_queued(provider, method, headers, body, as_base64, raw_query):
    receiver, sender = make_receiver(provider)
    response = receiver.handle(arbitrary_event(provider, method, headers, body, as_base64, raw_query))
    assert 400 <= response["statusCode"] < 500
    assert sender.sent == []


def arbitrary_event(provider, method, headers, body, as_base64, raw_query):
    return {
        "version": "2.0",
        "rawPath": f"/webhooks/{provider}",
        "rawQueryString": raw_query,
        "headers": headers,
        "body": base64.b64encode(body).decode() if as_base64 else body.decode("utf-8", "replace"),
        "isBase64Encoded": as_base64,
        "requestContext": {"http": {"method": method, "sourceIp": "198.51.100.7"}, "requestId": "r"},
    }


@pytest.fixture(scope="module")
def metaish(tmp_path_factory) -> Iterator[Provider]:
    """The Meta-like throwaway provider (tests/throwaway_providers.py): GET handshakes with a verify token."""
    with pytest.MonkeyPatch.context() as monkeypatch, installed(
        tmp_path_factory.mktemp("providers"), monkeypatch
    ) as providers:
        yield providers["metaish"]


hub_queries = st.dictionaries(
    st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "other"]),
    st.one_of(st.sampled_from(["subscribe", METAISH_VERIFY_TOKEN, "", "1158201444"]), st.text(max_size=20)),
    max_size=4,
).map(urlencode)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # the handshake itself: answered, not queued
    method="GET", headers={}, body=b"", as_base64=False,
    raw_query=urlencode({"hub.mode": "subscribe", "hub.verify_token": METAISH_VERIFY_TOKEN, "hub.challenge": "42"}),
)
@given(
    method=st.one_of(st.just("GET"), methods),
    headers=headers_strategy,
    body=st.binary(max_size=500),
    as_base64=st.booleans(),
    raw_query=st.one_of(hub_queries, st.text(max_size=80)),
)
def test_arbitrary_requests_to_a_get_handshake_provider_never_get_5xx_and_are_never_queued(
    metaish, method, headers, body, as_base64, raw_query
):
    # Given a provider that takes GET (its handshake) and POST, with its verify token configured
    sender = InMemorySender()
    settings = ReceiverSettings(provider="metaish", queue_url="q", secret_id="s", overflow_bucket="b")
    receiver = Receiver(metaish, settings, StaticSecret(metaish.secret_format.sample, "old-secret"), sender)
    # When any request arrives
    response = receiver.handle(arbitrary_event("metaish", method, headers, body, as_base64, raw_query))
    # Then it is never a 5xx and never queued (nothing here is signed with the app secret); a 2xx is only ever the
    # handshake answer to a GET that carried the verify token
    assert response["statusCode"] < 500
    assert sender.sent == []
    if response["statusCode"] < 300:
        assert method == "GET" and METAISH_VERIFY_TOKEN in raw_query
        assert response["headers"]["content-type"].startswith("text/plain")
    assert METAISH_APP_SECRET not in response["body"]


@settings(max_examples=200, deadline=None)
@given(provider=st.sampled_from(PROVIDERS), data=st.data())
def test_any_single_byte_change_to_a_signed_body_is_rejected(provider, data):
    # Given a correctly signed delivery
    kind = DEFAULT_KINDS[provider]
    event = build_event(provider, kind)
    raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
    # When one byte of the body is changed in flight
    index = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    tampered = raw[:index] + bytes([replacement]) + raw[index + 1:]
    event = {**event, "body": base64.b64encode(tampered).decode(), "isBase64Encoded": True}
    receiver, sender = make_receiver(provider, now=event["requestContext"]["timeEpoch"] / 1000)
    response = receiver.handle(event)
    # Then it is rejected (a form body may still decode to the same parameters; then the signature still holds)
    if response["statusCode"] < 300:
        assert provider == "twilio"
        assert _same_form(raw, tampered)
    else:
        assert 400 <= response["statusCode"] < 500
        assert sender.sent == []


def _same_form(left: bytes, right: bytes) -> bool:
    from urllib.parse import parse_qs

    decode = lambda raw: parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)  # noqa: E731
    return {k: sorted(set(v)) for k, v in decode(left).items()} == {k: sorted(set(v)) for k, v in decode(right).items()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_signed_sample_is_accepted_by_the_fake_wired_receiver(provider):
    kind = DEFAULT_KINDS[provider]
    event = build_event(provider, kind)
    receiver, sender = make_receiver(provider, now=event["requestContext"]["timeEpoch"] / 1000)
    assert receiver.handle(event)["statusCode"] in (200, 202)
    # one envelope, or one per event of a batch request (HubSpot's array)
    assert len(sender.sent) == deliveries_of(provider, kind)
