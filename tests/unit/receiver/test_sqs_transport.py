"""What the receiver hands to SQS is something SQS accepts, and the consumer gets back the exact signed bytes.

SQS carries only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF and at most 1 MiB (body plus every
attribute's name, type and value); moto checks neither, so these tests send through the real ``EnvelopeSender`` into
``fakes.StrictSqs``, which refuses what SQS refuses, and read back with the consumer's own ``load_body``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.make_events import SAMPLE_SECRETS, event_from_request, sign_request
from webhook_gateway.consumer.bodies import load_body
from webhook_gateway.envelope import Envelope
from webhook_gateway.queue import EnvelopeSender
from webhook_gateway.receiver import Receiver
from webhook_gateway.settings import ReceiverSettings, SettingsError
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.twilio import compute_signature

from .fakes import SQS_MAX_MESSAGE_BYTES, InMemoryS3, StaticSecret, StrictSqs

NOW = 1_795_718_537
BUCKET = "overflow"


class Wired:
    def __init__(self, provider: str, *, inline_limit_bytes: int = 1_000_000) -> None:
        self.sqs, self.s3 = StrictSqs(), InMemoryS3()
        sender = EnvelopeSender("q", BUCKET, inline_limit_bytes=inline_limit_bytes, sqs_client=self.sqs,
                                s3_client=self.s3)
        config = ReceiverSettings(provider=provider, queue_url="q", secret_id="s", overflow_bucket=BUCKET)
        self.receiver = Receiver(load_provider(provider), config, StaticSecret(SAMPLE_SECRETS[provider]), sender,
                                 clock=lambda: NOW)

    def deliver(self, event: dict) -> int:
        return self.receiver.handle(event)["statusCode"]

    def consumed(self) -> list[tuple[Envelope, bytes]]:
        """What a consumer reads back: the envelope parsed as the consumer parses it, and the body it loads."""
        found = []
        for message in self.sqs.messages:
            envelope = Envelope.model_validate_json(message["Body"])
            found.append((envelope, load_body(envelope, allowed_buckets=BUCKET, client=self.s3)))
        return found


def github_push(body_text: str, **headers: str) -> tuple[dict, bytes]:
    raw = json.dumps({"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40, "note": body_text},
                     ensure_ascii=False).encode("utf-8")
    event = event_from_request(sign_request("github", "push", body=raw, timestamp=NOW))
    event["headers"].update(headers)
    return event, raw


def stripe_event(body_text: str, **headers: str) -> tuple[dict, bytes]:
    raw = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                      "data": {"object": {"description": body_text}}}, ensure_ascii=False).encode("utf-8")
    event = event_from_request(sign_request("stripe", "payment_intent.succeeded", body=raw, timestamp=NOW))
    event["headers"].update(headers)
    return event, raw


def twilio_form(raw_value: bytes, **headers: str) -> tuple[dict, bytes]:
    """An inbound SMS whose Body holds arbitrary raw bytes, signed as Twilio signs the parameters it decoded."""
    raw = b"MessageSid=SM0123&SmsStatus=received&AccountSid=AC1&Body=" + raw_value
    sample = sign_request("twilio", "sms_inbound", timestamp=NOW)
    params = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    signature = compute_signature(sample.url, params, SAMPLE_SECRETS["twilio"])
    signed = replace(sample, body=raw, headers={**sample.headers, "x-twilio-signature": signature})
    event = event_from_request(signed, base64_body=True)
    event["headers"].update(headers)
    return event, raw


@pytest.mark.parametrize("character", ["\ufffe", "\uffff"])
def test_a_signed_body_holding_a_character_sqs_refuses_travels_base64_and_comes_back_byte_exact(character):
    # Given a correctly signed GitHub push: valid UTF-8, but with a code point SQS refuses in a message body
    wired = Wired("github")
    event, raw = github_push(f"before{character}after")
    # When it is delivered
    status = wired.deliver(event)
    # Then SQS accepts the envelope (no 503 on every GitHub retry), base64 inline, and the consumer gets the same bytes
    assert status == 202, wired.sqs.refused
    [(envelope, body)] = wired.consumed()
    assert envelope.body_encoding == "base64"
    assert body == raw


def test_raw_control_bytes_in_a_signed_form_body_come_back_byte_exact():
    wired = Wired("twilio")
    event, raw = twilio_form(b"\x01\x02\x1b[31m\x7f\x00end")
    assert wired.deliver(event) == 200, wired.sqs.refused
    [(envelope, body)] = wired.consumed()
    assert body == raw
    assert envelope.body_encoding == "base64"


def test_ordinary_utf8_bodies_stay_readable_text_inline():
    wired = Wired("github")
    event, raw = github_push("caf\u00e9 \U0001f600 \t tab")
    assert wired.deliver(event) == 202
    [(envelope, body)] = wired.consumed()
    assert (envelope.body_encoding, envelope.body, body) == ("utf-8", raw.decode(), raw)


@pytest.mark.parametrize("value", ["GitHub-Hookshot/\uffff", "agent\ufffe", "ctl\x01\x1f\x7f\x85"])
def test_a_forwarded_header_value_sqs_refuses_raw_is_escaped_and_read_back_exactly(value):
    # Given a signed delivery whose forwarded User-Agent holds characters SQS refuses raw
    wired = Wired("github")
    event, _ = github_push("x", **{"user-agent": value})
    # When it is delivered, Then SQS accepts it and the consumer reads the exact header value
    assert wired.deliver(event) == 202, wired.sqs.refused
    [(envelope, _)] = wired.consumed()
    assert envelope.headers["user-agent"] == value


def test_a_lone_surrogate_in_a_forwarded_header_is_replaced_not_a_5xx():
    # Given a header value holding a lone surrogate (a JSON escape in the Lambda event): no UTF-8 writer can write it
    wired = Wired("github")
    event, raw = github_push("x", **{"user-agent": "agent\ud800/1"})
    # When it is delivered, Then it is accepted with the unwritable character replaced, the body untouched
    assert wired.deliver(event) == 202, wired.sqs.refused
    [(envelope, body)] = wired.consumed()
    assert envelope.headers["user-agent"] == "agent\ufffd/1"
    assert body == raw


def test_a_lone_surrogate_in_a_text_body_is_verified_as_bytes_not_a_5xx():
    # Given an event whose text body holds a lone surrogate (signed by nobody: such bytes are not UTF-8)
    wired = Wired("github")
    event, _ = github_push("x")
    event["body"] = event["body"][:-2] + '\ud800"}'
    # When it is delivered, Then it is an ordinary 401, not a UnicodeEncodeError out of the handler
    assert wired.deliver(event) == 401
    assert wired.sqs.messages == []


@pytest.mark.parametrize("padding_character", ["x", "\u00e9", "\U0001f600"])
def test_the_inline_size_decision_is_exact_in_bytes_at_the_sqs_limit(padding_character):
    # Given a receiver allowed to inline up to SQS's own limit, and a padded body near it
    def deliver_padded(count: int) -> Wired:
        wired = Wired("github", inline_limit_bytes=SQS_MAX_MESSAGE_BYTES)
        assert wired.deliver(github_push(padding_character * count)[0]) == 202, wired.sqs.refused
        return wired

    per_character = len(padding_character.encode())
    # Probe (as the strict SQS measures) a little under the limit, where body_size has as many digits as at it
    near = (SQS_MAX_MESSAGE_BYTES - 5000) // per_character
    probe = deliver_padded(near).sqs.messages[0]["size"]
    fitting = near + (SQS_MAX_MESSAGE_BYTES - probe) // per_character
    # When the message is exactly at (or just under) the limit, Then it goes inline and SQS takes it
    at_limit = deliver_padded(fitting)
    [(envelope, _)] = at_limit.consumed()
    assert envelope.body_location == "inline"
    assert SQS_MAX_MESSAGE_BYTES - per_character < at_limit.sqs.messages[0]["size"] <= SQS_MAX_MESSAGE_BYTES
    # And one character more goes to S3 (claim check) instead of being refused by SQS
    over = deliver_padded(fitting + 1)
    [(envelope, body)] = over.consumed()
    assert envelope.body_location == "s3"
    assert body == github_push(padding_character * (fitting + 1))[1]


def test_an_inline_limit_above_what_sqs_takes_is_refused_at_cold_start():
    base = {"PROVIDER": "github", "QUEUE_URL": "q", "SECRET_ID": "s", "OVERFLOW_BUCKET": "b"}
    assert ReceiverSettings.from_env({**base, "INLINE_ENVELOPE_LIMIT_BYTES": "1048576"})
    with pytest.raises(SettingsError, match="INLINE_ENVELOPE_LIMIT_BYTES: Input should be less than or equal to"):
        ReceiverSettings.from_env({**base, "INLINE_ENVELOPE_LIMIT_BYTES": "2000000"})


# Every code point, surrogates included (header values come from JSON the runtime parsed, escapes and all).
any_character = st.characters(codec=None, exclude_categories=())
# Bodies are UTF-8 JSON for GitHub and Stripe (so no surrogates), arbitrary bytes in a Twilio form field.
body_text = st.text(st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider=st.sampled_from(["github", "stripe", "twilio"]),
    text=body_text,
    raw_value=st.binary(max_size=300),
    user_agent=st.text(any_character, min_size=1, max_size=60),
)
def test_whatever_is_signed_sqs_accepts_what_is_sent_and_the_consumer_gets_the_exact_bytes(
    provider, text, raw_value, user_agent
):
    # Given a correctly signed delivery with any body content and any forwarded header value
    wired = Wired(provider)
    if provider == "github":
        event, raw = github_push(text, **{"user-agent": user_agent})
    elif provider == "stripe":
        event, raw = stripe_event(text, **{"user-agent": user_agent})
    else:
        event, raw = twilio_form(raw_value, **{"user-agent": user_agent})
    # When it is delivered
    status = wired.deliver(event)
    # Then it is accepted (never a 5xx), the strict SQS took the message, and the consumer reads back the same bytes
    assert status in (200, 202), (status, wired.sqs.refused)
    assert wired.sqs.refused == []
    [(envelope, body)] = wired.consumed()
    assert body == raw
    expected_agent = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in user_agent)
    assert envelope.headers["user-agent"] == expected_agent
    if envelope.body_encoding == "base64":
        assert base64.b64decode(envelope.body) == raw
