"""Every sample event, and every failure mode, through the real receiver handler with moto's AWS."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

import receiver_app
from tools.make_events import EVENT_FILES, EVENTS_DIR, SAMPLE_SECRETS, build_event
from webhook_gateway.http import request_from_event
from webhook_gateway.observability import logger
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import SecretCandidate

from .conftest import BUCKET


def load_event(name: str) -> dict:
    return json.loads((Path(EVENTS_DIR) / name).read_text())


def deliver_at_event_time(gateway, event: dict) -> dict:
    """Invoke with the receiver's clock at the moment API Gateway stamped on the event (Stripe's replay window)."""
    receiver_app.receiver().clock = lambda: event["requestContext"]["timeEpoch"] / 1000
    return gateway.invoke(event)


@pytest.mark.parametrize("name", sorted(EVENT_FILES))
def test_every_sample_event_gets_its_documented_answer(gateway, name):
    # Given the sample event file and the receiver of its provider
    expected = EVENT_FILES[name]
    gateway.use_provider(expected.provider)
    event = load_event(name)
    # When it is delivered
    response = deliver_at_event_time(gateway, event)
    # Then the status is the documented one, and the queue holds the envelope only for accepted deliveries
    assert response["statusCode"] == expected.status
    messages = gateway.messages()
    # An endpoint confirmation (Slack's url_verification) is answered, never queued
    sample_secret = SecretCandidate("current", SAMPLE_SECRETS[expected.provider])
    handshake = load_provider(expected.provider).handshake(request_from_event(event), sample_secret)
    if expected.valid and handshake is not None:
        assert messages == []
        assert response["body"] == handshake.body
    elif expected.valid:
        # One envelope, or one per event of a batch request (HubSpot's array), each over its own exact bytes
        assert len(messages) == expected.deliveries
        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
        provider = load_provider(expected.provider)
        parts = [raw] if provider.split is None else list(provider.split(request_from_event(event)))
        assert len(parts) == expected.deliveries
        for message, part in zip(messages, parts, strict=True):
            envelope = message["body"]
            assert envelope["provider"] == expected.provider
            assert envelope["body_sha256"] == hashlib.sha256(part).hexdigest()
            assert message["attributes"]["delivery_id"]["StringValue"] == envelope["delivery_id"]
    else:
        assert messages == []
        assert json.loads(response["body"]) == {"error": expected.reason}


def test_github_push_answers_202_with_the_delivery_id(gateway):
    gateway.use_provider("github")
    event = load_event("github_push.json")
    response = gateway.invoke(event)
    headers = event["headers"]
    expected_id = f"{headers['x-github-hook-id']}:{headers['x-github-delivery']}"
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"status": "accepted", "delivery_id": expected_id}
    [message] = gateway.messages()
    assert message["body"]["event_type"] == "push"
    assert message["body"]["body"] == event["body"]  # exact bytes, never re-serialised
    assert "x-hub-signature-256" not in message["body"]["headers"]


def test_twilio_sms_answers_empty_twiml(gateway):
    gateway.use_provider("twilio")
    response = gateway.invoke(load_event("twilio_sms_inbound.json"))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "text/xml"
    assert response["body"].endswith("<Response/>")


def test_enqueue_failure_answers_503_so_the_provider_retries(gateway):
    # Given a receiver whose queue does not exist (SendMessage fails)
    gateway.use_provider("github", QUEUE_URL=gateway.queue_url + "-missing")
    # When a valid delivery arrives
    response = gateway.invoke(load_event("github_push.json"))
    # Then the provider is told to retry and nothing was queued
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {"error": "enqueue_failed"}
    assert gateway.messages() == []


def test_two_megabyte_payload_goes_through_s3_and_the_envelope_points_at_it(gateway):
    # Given a 2 MB GitHub push, far over one SQS message
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40, "commits": ["x" * 1000] * 2000})
    body = body.encode()
    assert len(body) > 2_000_000
    gateway.use_provider("github")
    event = build_event("github", "push", body=body)
    # When it is delivered
    response = gateway.invoke(event)
    # Then it is accepted, the envelope carries a claim check, and S3 holds the exact bytes
    assert response["statusCode"] == 202
    [message] = gateway.messages()
    envelope = message["body"]
    assert envelope["body"] is None
    assert envelope["body_ref"]["bucket"] == BUCKET
    assert envelope["body_ref"]["key"].startswith("github/")
    assert message["attributes"]["body_location"]["StringValue"] == "s3"
    stored = gateway.s3.get_object(Bucket=BUCKET, Key=envelope["body_ref"]["key"])["Body"].read()
    assert stored == body
    assert hashlib.sha256(stored).hexdigest() == envelope["body_sha256"]


def test_s3_failure_on_overflow_answers_503(gateway):
    gateway.use_provider("github", OVERFLOW_BUCKET="no-such-bucket", INLINE_ENVELOPE_LIMIT_BYTES="1024")
    response = gateway.invoke(load_event("github_push.json"))
    assert response["statusCode"] == 503
    assert gateway.messages() == []


def test_base64_encoded_body_is_decoded_before_verification(gateway):
    # Given the same signed delivery, as API Gateway sends it for a binary content type
    gateway.use_provider("github")
    event = build_event("github", "push")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    response = gateway.invoke(event)
    assert response["statusCode"] == 202
    [message] = gateway.messages()
    assert message["body"]["body"] == base64.b64decode(event["body"]).decode()


def test_invalid_base64_body_is_a_400(gateway):
    gateway.use_provider("github")
    event = build_event("github", "push")
    event["body"], event["isBase64Encoded"] = "%%%not-base64%%%", True
    assert gateway.invoke(event)["statusCode"] == 400
    assert gateway.messages() == []


@pytest.mark.parametrize("transform", [str.upper, str.title, lambda name: name])
def test_header_names_in_any_case_are_understood(gateway, transform):
    gateway.use_provider("github")
    event = build_event("github", "push")
    event["headers"] = {transform(name): value for name, value in event["headers"].items()}
    assert gateway.invoke(event)["statusCode"] == 202


def test_delivery_signed_with_the_previous_secret_is_accepted_after_rotation(gateway, capsys):
    # Given GitHub still signs with the old secret, and the stack's secret was just rotated
    gateway.use_provider("github")
    gateway.rotate("github", "brand-new-secret")
    event = build_event("github", "push", secret=SAMPLE_SECRETS["github"])
    # When the delivery arrives
    response = gateway.invoke(event)
    # Then it is accepted, the envelope and the metrics say the previous secret matched
    assert response["statusCode"] == 202
    [message] = gateway.messages()
    assert message["body"]["secret_version"] == "previous"
    assert "VerifiedWithPreviousSecret" in capsys.readouterr().out
    # And one signed with the new secret matches the current one
    response = gateway.invoke(build_event("github", "ping", secret="brand-new-secret"))
    assert response["statusCode"] == 202
    assert gateway.messages()[0]["body"]["secret_version"] == "current"


def test_a_warm_receiver_accepts_a_new_secret_the_moment_it_is_put(gateway):
    # Given a warm receiver that cached the current secret a moment ago
    gateway.use_provider("github")
    assert gateway.invoke(build_event("github", "push"))["statusCode"] == 202
    # When the secret is rotated and GitHub signs with the new value at once (it never retries a failed delivery)
    gateway.rotate("github", "rotated-while-warm", cold_start=False)
    response = gateway.invoke(build_event("github", "ping", secret="rotated-while-warm"))
    # Then the delivery is accepted without waiting for the cache to expire
    assert response["statusCode"] == 202
    assert gateway.messages()[-1]["body"]["secret_version"] == "current"
    # And deliveries still signed with the old value keep verifying as the previous secret
    response = gateway.invoke(build_event("github", "push", secret=SAMPLE_SECRETS["github"]))
    assert response["statusCode"] == 202


def test_forged_deliveries_cost_at_most_one_secret_refresh_per_interval(gateway):
    # Given a warm receiver
    gateway.use_provider("github")
    gateway.invoke(build_event("github", "push"))
    calls: list[str] = []
    receiver_app.receiver().secret._client.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: calls.append(params["VersionStage"]),
    )
    # When a flood of forged deliveries arrives
    for _ in range(20):
        assert gateway.invoke(build_event("github", "push", secret="forger"))["statusCode"] == 401
    # Then Secrets Manager was asked once for the previous value and re-read once, not 20 times
    assert sorted(calls) == ["AWSCURRENT", "AWSPREVIOUS"]


def test_unreadable_secret_fails_closed_with_503(gateway):
    gateway.use_provider("github", SECRET_ID="does-not-exist")
    response = gateway.invoke(load_event("github_push.json"))
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {"error": "secret_unavailable"}
    assert gateway.messages() == []


def test_body_over_the_limit_is_413(gateway):
    gateway.use_provider("github", MAX_BODY_BYTES="100")
    response = gateway.invoke(load_event("github_push.json"))
    assert (response["statusCode"], json.loads(response["body"])) == (413, {"error": "payload_too_large"})
    assert gateway.messages() == []


def test_validly_signed_garbage_is_400_unparseable(gateway):
    gateway.use_provider("stripe")
    event = build_event("stripe", "payment_intent.succeeded", body=b"this is not json")
    response = deliver_at_event_time(gateway, event)
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "unparseable_payload"})
    assert gateway.messages() == []


def test_source_ip_outside_the_allowlist_is_403(gateway):
    gateway.use_provider("github", ALLOWED_SOURCE_CIDRS="192.30.252.0/22, 185.199.108.0/22")
    event = load_event("github_push.json")
    event["requestContext"]["http"]["sourceIp"] = "203.0.113.9"
    response = gateway.invoke(event)
    assert (response["statusCode"], json.loads(response["body"])) == (403, {"error": "source_ip_not_allowed"})
    event["requestContext"]["http"]["sourceIp"] = "192.30.252.17"
    assert gateway.invoke(event)["statusCode"] == 202


def test_rejections_are_logged_with_their_reason_and_no_secret_or_body(gateway, caplog):
    gateway.use_provider("github")
    event = load_event("github_bad_signature.json")
    gateway.invoke(event)
    # Render the captured records exactly as the Lambda's JSON log lines
    output = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    [record] = [json.loads(line) for line in output.splitlines() if '"delivery rejected"' in line]
    assert record["reason"] == "signature_mismatch"
    assert record["provider"] == "github"
    assert SAMPLE_SECRETS["github"] not in output
    assert event["body"][:200] not in output
    assert event["headers"]["x-hub-signature-256"] not in output


def test_a_warm_receiver_makes_exactly_one_aws_call(gateway):
    # Given a receiver that already served one delivery (cold start: the secret was fetched)
    gateway.use_provider("github")
    gateway.invoke(build_event("github", "push"))
    calls: list[str] = []
    receiver = receiver_app.receiver()
    for client in (receiver.sender.sqs, receiver.secret._client):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    # When a second delivery arrives
    assert gateway.invoke(build_event("github", "ping"))["statusCode"] == 202
    # Then the only AWS call was the SendMessage
    assert calls == ["SendMessage"]


def test_keeping_signature_headers_adds_no_aws_call_and_logs_no_signature(gateway, caplog):
    """Given a warm receiver with KEEP_SIGNATURE_HEADERS=true (a stack with the listener tap)
    When a second delivery arrives
    Then it still makes one AWS call, SendMessage, whose envelope holds the signature; no log line holds it"""
    gateway.use_provider("github", KEEP_SIGNATURE_HEADERS="true")
    gateway.invoke(build_event("github", "push"))
    calls: list[str] = []
    receiver = receiver_app.receiver()
    for client in (receiver.sender.sqs, receiver.secret._client):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    event = build_event("github", "ping")
    assert gateway.invoke(event)["statusCode"] == 202
    assert calls == ["SendMessage"]
    signature = event["headers"]["x-hub-signature-256"]
    assert [message["body"]["headers"]["x-hub-signature-256"] for message in gateway.messages()][-1] == signature
    output = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    assert signature not in output and signature.removeprefix("sha256=") not in output


def test_a_signed_ping_body_resent_as_push_is_400_and_not_queued(gateway):
    # Given GitHub's signed ping, captured, its unsigned X-GitHub-Event header changed to push
    gateway.use_provider("github")
    event = load_event("github_ping.json")
    event["headers"]["x-github-event"] = "push"
    # When it is delivered / Then it is refused as not being a push payload, and nothing is queued
    response = gateway.invoke(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"error": "unparseable_payload"}
    assert gateway.messages() == []


def test_github_envelopes_say_their_id_is_unsigned_and_stripe_twilio_that_theirs_is(gateway):
    # Given one accepted sample per provider
    signed = {}
    for name in ("github_push.json", "stripe_payment_intent_succeeded.json", "twilio_sms_inbound.json"):
        expected = EVENT_FILES[name]
        gateway.use_provider(expected.provider)
        assert deliver_at_event_time(gateway, load_event(name))["statusCode"] == expected.status
        (message,) = gateway.messages()
        signed[expected.provider] = message["body"]["delivery_id_signed"]
    # Then only GitHub's envelope asks the consumer for the body check
    assert signed == {"github": False, "stripe": True, "twilio": True}


def test_a_twilio_request_resent_under_a_new_idempotency_token_keeps_its_delivery_id(gateway):
    # Given Twilio's inbound SMS, and a copy whose unsigned I-Twilio-Idempotency-Token was changed
    gateway.use_provider("twilio")
    original = load_event("twilio_sms_inbound.json")
    replay = load_event("twilio_sms_inbound.json")
    replay["headers"]["i-twilio-idempotency-token"] = "00000000-0000-4000-8000-000000000000"
    # When both are delivered
    assert gateway.invoke(original)["statusCode"] == 200
    assert gateway.invoke(replay)["statusCode"] == 200
    # Then both envelopes carry the signed MessageSid as their id: the consumer sees a duplicate
    first, second = (message["body"]["delivery_id"] for message in gateway.messages())
    assert first == second and first.startswith("SM")
