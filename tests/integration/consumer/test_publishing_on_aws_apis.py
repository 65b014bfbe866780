"""The EventBridge destination against real AWS APIs (moto): the consumer publishes to a custom bus, and an ordinary
EventBridge rule on that bus (matching source and detail-type) delivers the event to an SQS queue, where it is read."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.integration.consumer.aws import moto_aws
from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings


@pytest.fixture(scope="module")
def world():
    """moto, a bus "org", a rule for Stripe payment intents to a queue: what another team would subscribe with."""
    with moto_aws() as aws:
        events = boto3.client("events")
        bus_arn = events.create_event_bus(Name="org")["EventBusArn"]
        inbox = aws.sqs.create_queue(QueueName="team-inbox")["QueueUrl"]
        inbox_arn = aws.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {"source": ["webhook-gateway.stripe"], "detail-type": [{"prefix": "payment_intent."}]}
        events.put_rule(Name="stripe-payments", EventBusName="org", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="stripe-payments", EventBusName="org", Targets=[{"Id": "inbox", "Arn": inbox_arn}])
        yield aws, events, bus_arn, inbox


def received(aws, inbox: str) -> list[dict]:
    messages = aws.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    for message in messages:
        aws.sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def test_processed_deliveries_reach_a_rule_on_the_bus_and_the_ledger_records_published_at(world):
    # Given the consumer publishing to the bus (by ARN), a Python handler for payment_intent.succeeded
    aws, events, bus_arn, inbox = world
    registry = Registry()
    handler = registry.on("stripe", "payment_intent.succeeded")(Recorder())
    settings = ConsumerSettings.from_env(
        {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET, "EVENT_BUS_NAME": bus_arn}
    )
    consumer = Consumer(settings=settings, registry=registry, dynamodb=aws.dynamodb, s3=aws.s3, events=events)

    # When a handled delivery, one without a handler that the rule matches, and one the rule does not match arrive
    batch = [
        make_envelope(delivery_id="evt_a"),
        make_envelope(delivery_id="evt_b", event_type="payment_intent.created"),
        make_envelope(delivery_id="evt_c", event_type="invoice.paid"),
    ]
    response = process_batch(sqs_event([sqs_record(e) for e in batch]), FakeLambdaContext(), consumer)

    # Then all three were published (no filter), the rule delivered the two payment intents, and the ledger
    # records each publication
    assert response["batchItemFailures"] == [] and handler.calls == 1
    arrived = sorted(received(aws, inbox), key=lambda event: event["detail"]["delivery_id"])
    assert [(e["source"], e["detail-type"], e["detail"]["delivery_id"]) for e in arrived] == [
        ("webhook-gateway.stripe", "payment_intent.succeeded", "evt_a"),
        ("webhook-gateway.stripe", "payment_intent.created", "evt_b"),
    ]
    assert arrived[0]["detail"]["body"]["data"]["object"]["id"] == "pi_1"
    outcomes = {d: ledger.get_delivery(DELIVERIES_TABLE, "stripe", d, client=aws.dynamodb) for d in ("evt_a", "evt_b",
                                                                                                    "evt_c")}
    assert {d: item["outcome"] for d, item in outcomes.items()} == {
        "evt_a": "handled", "evt_b": "published", "evt_c": "published",
    }
    assert all("published_at" in item for item in outcomes.values())


def test_a_bus_that_does_not_exist_fails_the_delivery_for_a_retry(world):
    # Given the consumer pointed at a bus that does not exist
    aws, events, _, _ = world
    settings = ConsumerSettings.from_env(
        {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET, "EVENT_BUS_NAME": "no-such-bus"}
    )
    consumer = Consumer(settings=settings, registry=Registry(), dynamodb=aws.dynamodb, s3=aws.s3, events=events)

    # When a delivery is processed
    response = process_batch(sqs_event([sqs_record(make_envelope(delivery_id="evt_x"))]), FakeLambdaContext(), consumer)

    # Then it is reported failed (retried), recorded failed with the error code, nothing published
    assert len(response["batchItemFailures"]) == 1
    item = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_x", client=aws.dynamodb)
    assert item["status"] == "failed" and "PublishFailed" in item["last_error"]
