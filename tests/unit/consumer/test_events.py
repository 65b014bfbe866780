from __future__ import annotations

import json

import pytest

from tests.unit.consumer.fakes import make_envelope
from webhook_gateway.consumer.events import UnparseableBody, build_event, parse_body
from webhook_gateway.verifiers import registered_providers


def test_a_json_body_is_parsed_and_the_raw_bytes_are_kept():
    # Given a Stripe envelope with its exact raw bytes
    raw = b'{"id": "evt_9", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_9"}}}'
    envelope = make_envelope(delivery_id="evt_9", raw=raw)

    # When the handler's event is built
    event = build_event(envelope, raw, message_id="m-1", attempt=2)

    # Then it carries the envelope's fields, the parsed body and the untouched bytes
    assert (event.provider, event.delivery_id, event.event_type) == ("stripe", "evt_9", "payment_intent.succeeded")
    assert event.body["data"]["object"]["id"] == "pi_9"
    assert event.raw == raw
    assert (event.message_id, event.attempt, event.body_location) == ("m-1", 2, "inline")
    assert event.received_at == envelope.received_at


def test_the_payload_never_shows_in_the_events_repr():
    # Given an event whose body holds a secret-looking value
    raw = b'{"card": "4242424242424242"}'
    event = build_event(make_envelope(raw=raw), raw)

    # When it is logged carelessly
    text = repr(event) + str(event)

    # Then the payload is not there
    assert "4242" not in text


def test_a_twilio_form_body_becomes_a_dict_with_lists_for_repeated_fields():
    # Given a form-encoded Twilio callback without a forwarded content type
    raw = b"MessageSid=SM1&MessageStatus=delivered&Media=a&Media=b&Empty="

    # When parsed
    body = parse_body(raw, provider="twilio", headers={})

    # Then single fields are strings and repeated ones lists
    assert body == {"MessageSid": "SM1", "MessageStatus": "delivered", "Media": ["a", "b"], "Empty": ""}


def test_the_forwarded_content_type_decides_the_format():
    # Given a JSON body from Twilio (event streams) and a form body from another provider
    # When parsed with their content types
    # Then each is parsed as its content type says
    assert parse_body(b'{"a": 1}', provider="twilio", headers={"content-type": "application/json"}) == {"a": 1}
    form = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert parse_body(b"a=1", provider="custom", headers=form) == {"a": "1"}


@pytest.mark.parametrize("provider", registered_providers(), ids=lambda provider: provider.name)
def test_an_untyped_body_is_parsed_as_its_provider_declares(provider):
    # Given a form-shaped body without a forwarded content type
    # When parsed for each provider, Then it is a form for a provider that sends forms (Provider.body_format), and
    # left unparsed (no JSON shape) for the others, as for a provider no verifier module defines
    expected = {"a": "1", "b": "2"} if provider.body_format.untyped == "form" else None
    assert parse_body(b"a=1&b=2", provider=provider.name, headers={}) == expected
    assert parse_body(b"a=1&b=2", provider="custom", headers={}) is None


def test_an_instance_body_is_parsed_as_its_kind_declares():
    # Given an untyped form body from an instance named otherwise than its kind (a second Twilio account)
    raw = b"MessageSid=SM1&MessageStatus=delivered"
    instance = make_envelope(provider="twilio_eu", delivery_id="SM1:delivered", raw=raw).model_copy(
        update={"provider_kind": "twilio"}
    )

    # When the handler's event is built from the envelope the receiver queued
    event = build_event(instance, raw)

    # Then the body is a form, as the kind (twilio) declares, and the event keeps the instance's name
    assert event.body == {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert event.provider == "twilio_eu"
    # And an envelope of a kind's own instance carries no kind at all, so it is written as before the field existed
    assert "provider_kind" not in json.loads(make_envelope(raw=raw).sqs_message_body())
    assert json.loads(instance.sqs_message_body())["provider_kind"] == "twilio"


def test_a_github_form_delivery_is_unwrapped_to_its_json_payload():
    # Given GitHub's optional form-encoded delivery format
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1}
    raw = b"payload=" + json.dumps(payload).replace(" ", "+").encode()
    raw = raw.replace(b'"', b"%22").replace(b"{", b"%7B").replace(b"}", b"%7D").replace(b":", b"%3A")

    # When parsed, with or without the content type
    # Then the handler gets the JSON payload
    assert parse_body(raw, provider="github", headers={}) == payload
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert parse_body(raw, provider="github", headers=form) == payload


def test_a_body_of_another_format_is_left_to_the_raw_bytes():
    # Given a plain-text body
    # When parsed
    # Then there is no parsed body (the handler reads event.raw)
    assert parse_body(b"hello", provider="custom", headers={}) is None


@pytest.mark.parametrize("raw", [b'{"truncated": ', b"[1, 2", b'{"a": 1}\xff'])
def test_an_unparseable_json_body_raises_without_quoting_it(raw):
    # Given a body that claims to be JSON but is not
    # When parsed
    # Then UnparseableBody is raised, and its message does not contain the body
    with pytest.raises(UnparseableBody) as raised:
        parse_body(raw, provider="stripe", headers={})
    assert "truncated" not in str(raised.value)


def test_a_json_scalar_is_not_a_webhook_body():
    # Given a JSON document that is a bare string
    # When parsed as a JSON body
    # Then it is refused
    with pytest.raises(UnparseableBody):
        parse_body(b'"just a string"', provider="custom", headers={"content-type": "application/json"})


def test_event_headers_are_case_insensitive():
    # Given an envelope with forwarded (lower-case) headers
    raw = b"{}"
    event = build_event(make_envelope(raw=raw, headers={"x-github-hook-id": "42"}), raw)

    # When a handler reads one in another case
    # Then it is found
    assert event.header("X-GitHub-Hook-ID") == "42"
