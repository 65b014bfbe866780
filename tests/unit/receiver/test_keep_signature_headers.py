"""KEEP_SIGNATURE_HEADERS: envelopes keep the provider's signature headers and the URL it called, only when asked.

Off (the default, and every stack without the listener tap) an envelope is exactly what it always was: the
provider's forwarded_headers, no signature, no request_url field in the SQS message. On, the signature headers the
provider declares (Provider.signature_headers) are kept too, so that the forwarded delivery can be verified with the
provider's own SDK (stripe-python here; the end-to-end proof: tests/integration/local/test_listen_pipeline.py).
"""

from __future__ import annotations

import json

import pytest
import stripe

from tools.make_events import SAMPLE_SECRETS, event_from_request, sign_request
from webhook_gateway.receiver import Receiver
from webhook_gateway.settings import ReceiverSettings
from webhook_gateway.verifiers import load_provider

from .fakes import InMemorySender, StaticSecret

BASE = {"QUEUE_URL": "q", "SECRET_ID": "s", "OVERFLOW_BUCKET": "b"}
SAMPLES = [
    ("stripe", "payment_intent.succeeded"),
    ("github", "push"),
    ("twilio", "sms_inbound"),
    ("slack", "app_mention"),
]


def receive(provider: str, kind: str, environ: dict[str, str]) -> tuple[InMemorySender, object]:
    signed = sign_request(provider, kind)
    settings = ReceiverSettings.from_env({**BASE, "PROVIDER": provider, **environ})
    sender = InMemorySender()
    receiver = Receiver(
        load_provider(provider), settings, StaticSecret(SAMPLE_SECRETS[provider]), sender, clock=lambda: signed.sent_at
    )
    assert receiver.handle(event_from_request(signed))["statusCode"] in (200, 202)
    return sender, signed


@pytest.mark.parametrize(("provider", "kind"), SAMPLES)
@pytest.mark.parametrize("environ", [{}, {"KEEP_SIGNATURE_HEADERS": "false"}, {"KEEP_SIGNATURE_HEADERS": ""}])
def test_without_the_setting_envelopes_are_as_before(provider: str, kind: str, environ: dict[str, str]) -> None:
    """Given a receiver without KEEP_SIGNATURE_HEADERS (unset, false, or empty as the template may leave it)
    When it queues a signed sample delivery
    Then the envelope keeps exactly the forwarded headers the request had, no signature header, and its SQS
    message has no request_url"""
    sender, signed = receive(provider, kind, environ)
    envelope = sender.sent[0]
    forwarded = load_provider(provider).forwarded_headers
    assert envelope.headers == {name: value for name, value in signed.headers.items() if name in forwarded}
    assert not set(envelope.headers) & (set(load_provider(provider).signature_headers) - set(forwarded))
    assert envelope.request_url is None
    assert "request_url" not in json.loads(envelope.sqs_message_body())


@pytest.mark.parametrize(("provider", "kind"), SAMPLES)
def test_with_the_setting_the_signature_headers_and_the_url_are_kept(provider: str, kind: str) -> None:
    """Given a receiver with KEEP_SIGNATURE_HEADERS=true
    When it queues a signed sample delivery
    Then the envelope also holds every signature header the request carried, as sent, and the URL it was sent to"""
    sender, signed = receive(provider, kind, {"KEEP_SIGNATURE_HEADERS": "true"})
    envelope = sender.sent[0]
    declared = load_provider(provider)
    kept = set(declared.forwarded_headers) | set(declared.signature_headers)
    assert envelope.headers == {name: value for name, value in signed.headers.items() if name in kept}
    assert {name for name in declared.signature_headers if name in signed.headers} <= set(envelope.headers)
    assert envelope.request_url == signed.url
    assert json.loads(envelope.sqs_message_body())["request_url"] == signed.url


def test_a_kept_stripe_signature_verifies_with_stripe_python() -> None:
    """Given a Stripe delivery queued with KEEP_SIGNATURE_HEADERS=true
    When stripe-python's Webhook.construct_event checks the envelope's body and kept Stripe-Signature header
    Then it verifies (the independent reference), within Stripe's default tolerance"""
    sender, signed = receive("stripe", "payment_intent.succeeded", {"KEEP_SIGNATURE_HEADERS": "true"})
    envelope = sender.sent[0]
    event = stripe.Webhook.construct_event(
        envelope.inline_body_bytes(), envelope.headers["stripe-signature"], SAMPLE_SECRETS["stripe"], tolerance=None
    )
    assert event["id"] == envelope.delivery_id


def test_a_batch_providers_events_never_keep_the_batch_signature() -> None:
    """Given HubSpot, whose one signed request is split into one envelope per event
    When it is queued with KEEP_SIGNATURE_HEADERS=true
    Then no event keeps the signature (it covers the whole array, not the event's slice) nor the URL"""
    sender, _ = receive("hubspot", "batch", {"KEEP_SIGNATURE_HEADERS": "true"})
    assert len(sender.sent) > 1
    for envelope in sender.sent:
        assert "x-hubspot-signature-v3" not in envelope.headers
        assert envelope.request_url is None
