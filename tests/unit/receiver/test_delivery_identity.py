"""Delivery ids and event types the queue and the ledger cannot carry: refused with a 4xx before any 2xx, never a 5xx.

The ledger's sort key is the delivery id (DynamoDB: at most 1,024 bytes), and both values become SQS attributes, so
the receiver checks them, in UTF-8 bytes, for every provider, right after the verifier named the delivery.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from tools.make_events import SAMPLE_SECRETS, build_event, event_from_request, sign_request
from webhook_gateway.envelope import MAX_DELIVERY_ID_BYTES, Envelope
from webhook_gateway.observability import logger
from webhook_gateway.receiver import STATUS_BY_REASON, Receiver
from webhook_gateway.settings import ReceiverSettings
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import DeliveryIdentity, Provider, Reason, SecretCandidate

from .fakes import InMemorySender, StaticSecret

NOW = 1_795_718_537


def receiver_for(provider: Provider | str) -> tuple[Receiver, InMemorySender]:
    provider = load_provider(provider) if isinstance(provider, str) else provider
    sender = InMemorySender()
    settings = ReceiverSettings(provider=provider.name, queue_url="q", secret_id="s", overflow_bucket="b")
    secret = StaticSecret(SAMPLE_SECRETS.get(provider.name, "any-secret"))
    return Receiver(provider, settings, secret, sender, clock=lambda: NOW), sender


def github_push_with_guid(guid: str) -> dict:
    event = build_event("github", "push")
    event["headers"]["x-github-delivery"] = guid  # a plain header: the signature still holds
    return event


def answer(response: dict) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    "guid, why",
    [
        ("d" * 600, "600 characters: over the old 512-character model limit, which raised a 500"),
        ("\U0001f600" * 300, "300 emoji: 300 characters but 1,200 bytes, over DynamoDB's 1,024-byte sort key"),
        ("abc\x00def", "NUL: SQS refuses it in an attribute"),
        ("abc\ndef", "a newline: a control character"),
        ("abc\x85def", "NEL: a C1 control character"),
        ("abc\uffffdef", "U+FFFF: outside SQS's character set"),
        ("abc\ud800def", "a lone surrogate (from a JSON escape in the event): no UTF-8 writer can write it"),
    ],
)
def test_a_signed_github_push_with_an_uncarryable_delivery_id_is_400(guid, why):
    # Given a correctly signed GitHub push whose X-GitHub-Delivery cannot be carried
    receiver, sender = receiver_for("github")
    # When it is delivered
    response = receiver.handle(github_push_with_guid(guid))
    # Then it is refused with the new reason code before any 2xx, and nothing is queued
    assert answer(response) == (400, {"error": "invalid_delivery_id"}), why
    assert sender.sent == []


def test_a_signed_twilio_callback_with_a_thousand_character_sid_is_400():
    # Given a Twilio status callback, signed, whose MessageSid (part of the delivery id) is 1,000 characters
    body = urlencode({"MessageSid": "SM" + "a" * 998, "MessageStatus": "delivered", "AccountSid": "AC1"}).encode()
    event = event_from_request(sign_request("twilio", "sms_inbound", body=body))
    receiver, sender = receiver_for("twilio")
    # When it is delivered, Then it is a 400 with the reason, not a 200 the ledger could never record
    assert answer(receiver.handle(event)) == (400, {"error": "invalid_delivery_id"})
    assert sender.sent == []


def test_a_delivery_id_of_exactly_the_byte_limit_is_accepted_and_one_byte_more_is_not():
    # Given GUIDs of 4-byte characters that make GitHub's id (<hook id>:<guid>) exactly MAX_DELIVERY_ID_BYTES long
    hook_id = github_push_with_guid("x")["headers"].get("x-github-hook-id", "0")
    room = MAX_DELIVERY_ID_BYTES - len(f"{hook_id}:".encode())
    fitting = "\U0001f600" * (room // 4) + "x" * (room % 4)
    receiver, sender = receiver_for("github")
    # When they are delivered
    accepted = receiver.handle(github_push_with_guid(fitting))
    refused = receiver.handle(github_push_with_guid(fitting + "x"))
    # Then the limit is in bytes, inclusive
    assert accepted["statusCode"] == 202
    assert len(sender.sent[0].delivery_id.encode()) == MAX_DELIVERY_ID_BYTES
    assert answer(refused) == (400, {"error": "invalid_delivery_id"})


def fake_provider(identity: DeliveryIdentity, *, version: str = "current") -> Provider:
    """A provider that verifies everything and names every delivery ``identity``: the checks are the receiver's."""
    return Provider(
        name="future",
        verify=lambda request, secrets, policy: SecretCandidate(version, "any-secret"),
        identify=lambda request: identity,
    )


def plain_event() -> dict:
    return {"body": "{}", "headers": {}, "requestContext": {"http": {"sourceIp": "198.51.100.7"}, "requestId": "r"}}


@pytest.mark.parametrize(
    "identity, reason",
    [
        (DeliveryIdentity(delivery_id="", event_type="x"), "invalid_delivery_id"),
        (DeliveryIdentity(delivery_id="é" * 257, event_type="x"), "invalid_delivery_id"),
        (DeliveryIdentity(delivery_id="ok", event_type="e" * 257), "invalid_event_type"),
        (DeliveryIdentity(delivery_id="ok", event_type="push\r\n"), "invalid_event_type"),
        (DeliveryIdentity(delivery_id="ok", event_type="\ufffe"), "invalid_event_type"),
    ],
)
def test_any_provider_current_or_future_gets_the_same_checks(identity, reason):
    # Given a provider the receiver knows nothing about, whose verifier names an uncarryable delivery
    receiver, sender = receiver_for(fake_provider(identity))
    # When a delivery arrives, Then the receiver refuses it with a 4xx and the reason
    assert answer(receiver.handle(plain_event())) == (400, {"error": reason})
    assert sender.sent == []


def test_an_empty_event_type_is_still_accepted_as_before():
    receiver, sender = receiver_for(fake_provider(DeliveryIdentity(delivery_id="evt_1", event_type="")))
    assert receiver.handle(plain_event())["statusCode"] == 202
    assert sender.sent[0].sqs_message_attributes()["event_type"]["StringValue"] == "unknown"


def test_no_envelope_validation_error_escapes_as_a_5xx():
    # Given a verifier that reports a secret version the envelope does not know (any field the model refuses)
    provider = fake_provider(DeliveryIdentity(delivery_id="ok", event_type="x"), version="rotated-v3")
    receiver, sender = receiver_for(provider)
    # When a delivery arrives, Then it is a 4xx with a reason, not a ValidationError out of the handler
    assert answer(receiver.handle(plain_event())) == (400, {"error": "unparseable_payload"})
    assert sender.sent == []


def test_the_rejection_is_logged_with_its_reason_but_not_the_id(caplog):
    guid = "forged-looking-" + "z" * 600
    receiver, _ = receiver_for("github")
    with caplog.at_level(logging.INFO):
        receiver.handle(github_push_with_guid(guid))
    output = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    [line] = [json.loads(text) for text in output.splitlines() if '"delivery rejected"' in text]
    assert (line["reason"], line["status_code"]) == ("invalid_delivery_id", 400)
    assert "bytes in UTF-8, over 512" in line["detail"]
    assert "z" * 100 not in output


def test_every_reason_code_has_a_status_and_the_new_ones_are_4xx():
    assert set(Reason) == set(STATUS_BY_REASON)
    assert STATUS_BY_REASON[Reason.INVALID_DELIVERY_ID] == STATUS_BY_REASON[Reason.INVALID_EVENT_TYPE] == 400


@pytest.mark.parametrize("delivery_id", ["d" * 600, "\U0001f600" * 300, "a\x00b", "a\ud800b", ""])
def test_the_envelope_model_agrees_in_bytes(delivery_id):
    fields = dict(provider="github", event_type="push", received_at="2026-01-01T00:00:00Z",
                  **Envelope.inline_body_fields(b"{}"))
    # Given an id the receiver refuses, Then the queue contract refuses it too, on both sides of the queue
    with pytest.raises(ValidationError):
        Envelope(delivery_id=delivery_id, **fields)
    with pytest.raises(ValidationError):
        Envelope.model_validate_json(json.dumps({**fields, "delivery_id": delivery_id}))
    # And 512 bytes of emoji are fine
    assert Envelope(delivery_id="\U0001f600" * 128, **fields).delivery_id
