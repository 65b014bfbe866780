"""The listener tap: the consumer publishes each record to the tap's topic on its first receive, before the handler,
and a failed publish never fails the record (fakes only: no AWS, no moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.unit.consumer.fakes import Recorder, client_error, emf_metrics, make_envelope, sqs_event, sqs_record
from webhook_gateway.consumer import tap
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.envelope import BodyRef, ReplayRequest

TOPIC = "arn:aws:sns:us-east-1:123456789012:stack-ListenerTapTopic"
PAID = ("stripe", "payment_intent.succeeded")


class FakeSNS:
    def __init__(self, error: Exception | None = None, on_publish=None) -> None:
        self.published: list[dict] = []
        self.error = error
        self.on_publish = on_publish

    def publish(self, **params):
        if self.on_publish is not None:
            self.on_publish()
        if self.error is not None:
            raise self.error
        self.published.append(params)
        return {"MessageId": f"sns-{len(self.published)}"}


@pytest.fixture
def sns() -> FakeSNS:
    return FakeSNS()


@pytest.fixture
def tapped(consumer: Consumer, sns: FakeSNS) -> Consumer:
    settings = consumer.settings.model_copy(update={"tap_topic_arn": TOPIC})
    return Consumer(
        settings=settings, registry=consumer.registry, dynamodb=consumer.dynamodb, s3=consumer.s3, sns=sns,
        clock=consumer.clock,
    )


def failures(response) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_first_receive_is_published_as_received_before_the_handler_runs(tapped, sns, registry, context):
    """Given the tap on and a handler that checks what was published when it runs, when a new delivery is processed,
    then its SQS body went to the topic unchanged, with provider, delivery id and event type as attributes, first."""
    published_before_handler: list[int] = []
    registry.on(*PAID)(Recorder(on_call=lambda: published_before_handler.append(len(sns.published))))
    record = sqs_record(make_envelope())

    response = process_batch(sqs_event([record]), context, tapped)

    assert failures(response) == []
    assert published_before_handler == [1]
    (message,) = sns.published
    assert message["TopicArn"] == TOPIC
    assert message["Message"] == record["body"]
    assert message["MessageAttributes"] == {
        "provider": {"DataType": "String", "StringValue": "stripe"},
        "delivery_id": {"DataType": "String", "StringValue": "evt_1"},
        "event_type": {"DataType": "String", "StringValue": "payment_intent.succeeded"},
    }


def test_a_redelivery_is_not_published_again(tapped, sns, registry, context):
    """Given the tap on, when the same message comes back (receive 2, after a failure), then nothing is published."""
    registry.on(*PAID)(Recorder())

    process_batch(sqs_event([sqs_record(make_envelope(), receive_count=2)]), context, tapped)

    assert sns.published == []


def test_a_replay_copy_is_published_on_its_own_first_receive(tapped, sns, registry, context):
    """Given a processed delivery, when `hookctl replay` queues a copy (a new message: receive 1), then the copy is
    published too, replay field included."""
    registry.on(*PAID)(Recorder())
    process_batch(sqs_event([sqs_record(make_envelope())]), context, tapped)
    replay = ReplayRequest(id="r-1", requested_at=datetime(2025, 6, 16, tzinfo=UTC), requested_by="op")
    copy = make_envelope().model_copy(update={"replay": replay})

    process_batch(sqs_event([sqs_record(copy)]), context, tapped)

    assert len(sns.published) == 2
    assert json.loads(sns.published[1]["Message"])["replay"]["id"] == "r-1"


def test_a_failed_publish_is_counted_and_the_delivery_is_processed_anyway(consumer, registry, context, capsys):
    """Given the tap on and SNS refusing every publish, when a delivery is processed, then its handler ran, the
    record is acknowledged, and TapPublishFailures counts the lost tap copy."""
    handler = registry.on(*PAID)(Recorder())
    broken = Consumer(
        settings=consumer.settings.model_copy(update={"tap_topic_arn": TOPIC}),
        registry=registry,
        dynamodb=consumer.dynamodb,
        s3=consumer.s3,
        sns=FakeSNS(error=client_error("AuthorizationError", "Publish")),
        clock=consumer.clock,
    )

    response = process_batch(sqs_event([sqs_record(make_envelope())]), context, broken)

    assert failures(response) == []
    assert handler.calls == 1
    out = capsys.readouterr().out
    assert emf_metrics(out)[("stripe", "TapPublishFailures")] == [1]
    assert "could not publish the delivery to the listener tap" in out


def test_without_a_topic_nothing_is_published(consumer, registry, context, sns):
    """Given the tap off (no TAP_TOPIC_ARN, the default), when a delivery is processed, then no SNS client is used."""
    registry.on(*PAID)(Recorder())
    off = Consumer(settings=consumer.settings, registry=registry, dynamodb=consumer.dynamodb, s3=consumer.s3, sns=sns)

    process_batch(sqs_event([sqs_record(make_envelope())]), context, off)

    assert sns.published == []


def test_a_claim_checked_body_is_published_as_its_pointer():
    """Given an envelope whose body is in the overflow bucket, then the tap message is the envelope with body_ref."""
    raw = b'{"id": "evt_big"}'
    envelope = make_envelope(raw=raw, body_ref=BodyRef(bucket="overflow", key="stripe/evt_big", size=len(raw)))
    body = envelope.sqs_message_body()

    assert tap.tap_message(body, envelope) == body
    assert json.loads(tap.tap_message(body, envelope))["body_ref"]["key"] == "stripe/evt_big"


def test_an_envelope_over_the_sns_limit_is_published_as_a_stub_naming_the_delivery():
    """Given an inline body of 300 KB (SQS takes up to 1 MiB, SNS 256 KiB), then the message is a small stub that
    names the delivery and its size, so that `hookctl listen` can say where to find it."""
    raw = json.dumps({"id": "evt_huge", "pad": "x" * 300_000}).encode()
    envelope = make_envelope(delivery_id="evt_huge", raw=raw)

    stub = json.loads(tap.tap_message(envelope.sqs_message_body(), envelope))

    assert stub == {
        tap.TOO_LARGE: True,
        "provider": "stripe",
        "delivery_id": "evt_huge",
        "event_type": "payment_intent.succeeded",
        "body_size": len(raw),
        "received_at": envelope.received_at.isoformat(),
    }
