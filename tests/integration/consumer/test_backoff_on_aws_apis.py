"""Retry with backoff on moto's SQS and DynamoDB, on a simulated clock: the delays the consumer asks SQS for
(ChangeMessageVisibility, recorded from the client's own calls) follow the schedule within the jitter, the ledger
agrees with them, a handler that fails for hours is processed once when it recovers, and one that never recovers is
moved to the DLQ by the consumer after MAX_ATTEMPTS.

moto's visibility timeouts run on real time, so the driver plays SQS's side of the wait: when the consumer has hidden
a message for ``delay`` seconds, the simulated clock moves on by ``delay`` and the driver makes the message visible
again (ChangeMessageVisibility 0, through its own client) before receiving it, so that moto counts the receive."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from tests.integration.consumer.aws import Aws, moto_aws, queue_depth, send, to_lambda_record
from tests.unit.consumer.fakes import (
    ARCHIVE_BUCKET,
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeClock,
    FakeLambdaContext,
    make_envelope,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.archive import load_archived
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.retry import RetryPolicy
from webhook_gateway.consumer.settings import ConsumerSettings

PAID = ("stripe", "payment_intent.succeeded")
# The template's default: above MAX_ATTEMPTS, so that the consumer's schedule, not SQS's redrive, ends a delivery.
MAX_RECEIVE_COUNT = 20
THREE_HOURS = 3 * 3600


@dataclass
class Attempt:
    at: float  # simulated time the record was processed
    receive_count: int
    failed: bool
    delay: int | None = None  # the visibility the consumer set after a failure


@dataclass
class Driver:
    """Lambda's event source mapping on a simulated clock: one message, received until the consumer acknowledges it."""

    aws: Aws
    consumer: Consumer
    clock: FakeClock
    sqs: Any  # the driver's own client: its calls are not the consumer's
    visibility_calls: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def run(self, max_receives: int = 50) -> list[Attempt]:
        for _ in range(max_receives):
            messages = self.sqs.receive_message(
                QueueUrl=self.aws.queue_url,
                MaxNumberOfMessages=1,
                VisibilityTimeout=30,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return self.attempts
            [message] = messages
            calls_before = len(self.visibility_calls)
            response = process_batch(
                {"Records": [to_lambda_record(message, self.aws.queue_arn)]}, FakeLambdaContext(), self.consumer
            )
            failed = bool(response["batchItemFailures"])
            new_calls = self.visibility_calls[calls_before:]
            assert len(new_calls) <= 1
            delay = new_calls[0]["VisibilityTimeout"] if new_calls else None
            if new_calls:
                assert new_calls[0]["ReceiptHandle"] == message["ReceiptHandle"]
            self.attempts.append(
                Attempt(self.clock.now, int(message["Attributes"]["ApproximateReceiveCount"]), failed, delay)
            )
            if not failed:
                self.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            # SQS's side of the wait: the delay passes, then the message is visible again
            self.clock.advance(delay or 0)
            self.sqs.change_message_visibility(
                QueueUrl=self.aws.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        raise AssertionError(f"still in the queue after {max_receives} receives")


@pytest.fixture
def aws():
    with moto_aws() as resources:
        dlq_arn = resources.sqs.get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        resources.sqs.set_queue_attributes(QueueUrl=resources.queue_url, Attributes={"RedrivePolicy": redrive})
        yield resources


def driver_for(aws: Aws, handler, *, seed: int = 11, **environ: str) -> Driver:
    settings = ConsumerSettings.from_env(
        {
            "TABLE_NAME": DELIVERIES_TABLE,
            "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
            "ARCHIVE_RETENTION_DAYS": "30",
            "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
            "QUEUE_URL": aws.queue_url,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
            **environ,
        }
    )
    registry = Registry()
    registry.on(*PAID)(handler)
    clock = FakeClock(now=time.time())  # SentTimestamp is real time: the retention check compares the two
    consumer_sqs = boto3.client("sqs")
    consumer = Consumer(
        settings=settings,
        registry=registry,
        dynamodb=aws.dynamodb,
        s3=aws.s3,
        sqs=consumer_sqs,
        clock=clock,
        random=random.Random(seed).random,
    )
    driver = Driver(aws=aws, consumer=consumer, clock=clock, sqs=boto3.client("sqs"))

    def record_visibility(params: dict[str, Any], **_: Any) -> None:
        driver.visibility_calls.append(dict(params))

    consumer_sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", record_visibility)
    return driver


@dataclass
class FailsUntil:
    """A handler whose downstream is down until simulated time ``until``."""

    clock: FakeClock
    until: float
    successes: int = 0
    failures: int = 0

    def __call__(self, event: Any) -> None:
        if self.clock.now < self.until:
            self.failures += 1
            raise RuntimeError("downstream unavailable")
        self.successes += 1


def always_fails(event: Any) -> None:
    raise RuntimeError("downstream unavailable")


def test_each_delay_follows_the_schedule_within_the_jitter_and_the_ledger_agrees(aws):
    # Given the default schedule (1m, 2m, 4m, ...; 20 % jitter) and a handler failing its first six attempts
    calls = {"n": 0}

    def handler(event: Any) -> None:
        calls["n"] += 1
        if calls["n"] <= 6:
            raise RuntimeError("downstream unavailable")

    driver = driver_for(aws, handler)
    policy = driver.consumer.settings.retry_policy
    send(aws, make_envelope())

    # When the record is received until it is acknowledged
    attempts = driver.run()
    item = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_1", client=aws.dynamodb)

    # Then six failures each hid the message for step n +/- 20 %, the seventh attempt succeeded, and SQS counted
    # one receive per attempt
    assert [a.failed for a in attempts] == [True] * 6 + [False]
    assert [a.receive_count for a in attempts] == list(range(1, 8))
    for number, attempt in enumerate(attempts[:6], start=1):
        step = policy.step(number)
        assert round(step * 0.8) <= attempt.delay <= round(step * 1.2), (number, attempt.delay)
    assert [policy.step(n) for n in range(1, 7)] == [60, 120, 240, 480, 960, 1920]
    # and the delays are the policy's own for this random sequence (the jitter is really applied)
    replayed = random.Random(11).random
    assert [a.delay for a in attempts[:6]] == [policy.delay_after(n, replayed) for n in range(1, 7)]
    assert len({a.delay / policy.step(n) for n, a in enumerate(attempts[:6], start=1)}) > 1
    # Each attempt came when the previous one's delay was over
    for previous, current in zip(attempts, attempts[1:], strict=False):
        assert current.at == previous.at + previous.delay
    assert (item["status"], item["attempts"]) == ("processed", 7)
    assert "next_attempt_at" not in item


def test_the_ledger_says_when_the_next_attempt_is_due_after_each_failure(aws):
    # Given a handler that always fails and the default schedule
    driver = driver_for(aws, always_fails, seed=3)
    send(aws, make_envelope())
    dues = []

    # When it is received three times, the ledger read after each
    for _ in range(3):
        processed_at = driver.clock.now
        messages = driver.sqs.receive_message(
            QueueUrl=aws.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=30, AttributeNames=["All"]
        )["Messages"]
        process_batch({"Records": [to_lambda_record(m, aws.queue_arn) for m in messages]}, None, driver.consumer)
        delay = driver.visibility_calls[-1]["VisibilityTimeout"]
        item = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_1", client=aws.dynamodb)
        dues.append((item["next_attempt_at"], ledger.iso_utc(processed_at + delay), item["status"]))
        driver.clock.advance(delay)
        driver.sqs.change_message_visibility(
            QueueUrl=aws.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
        )

    # Then next_attempt_at is the processing time plus the delay SQS was given, every time
    assert [(due, expected) for due, expected, _ in dues] == [(expected, expected) for _, expected, _ in dues]
    assert {status for _, _, status in dues} == {"failed"}


def test_a_handler_failing_for_three_simulated_hours_is_processed_once_then_not_dead_lettered(aws):
    """Given the default schedule (12 attempts over about a day) and a downstream down for the first 3 hours
    When SQS redelivers the record each time its delay is over
    Then the handler succeeds exactly once, on the attempt the schedule predicts, and nothing reaches the DLQ."""

    def handler(event: Any) -> None:
        return down(event)

    driver = driver_for(aws, handler, seed=2026)
    down = FailsUntil(driver.clock, until=driver.clock.now + THREE_HOURS)
    start = driver.clock.now
    send(aws, make_envelope())

    attempts = driver.run()

    # The attempts the policy predicts for the same random sequence: fail until 3 h have passed
    policy: RetryPolicy = driver.consumer.settings.retry_policy
    predicted, elapsed, replayed = 1, 0, random.Random(2026).random
    while elapsed < THREE_HOURS:
        elapsed += policy.delay_after(predicted, replayed)
        predicted += 1
    assert (down.successes, down.failures) == (1, predicted - 1)
    assert len(attempts) == predicted
    assert [a.failed for a in attempts] == [True] * (predicted - 1) + [False]
    total_delay = sum(a.delay for a in attempts if a.delay)
    assert total_delay >= THREE_HOURS
    assert total_delay == elapsed
    assert attempts[-1].at - start == total_delay
    assert predicted < policy.max_attempts  # recovered with attempts to spare
    item = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_1", client=aws.dynamodb)
    # every attempt is in the history; the retry budget starts afresh once it is processed (for a later replay)
    assert (item["status"], item["outcome"], item["attempts"], item["run_attempts"]) == (
        "processed",
        "handled",
        predicted,
        0,
    )
    assert "dead_lettered_at" not in item
    assert queue_depth(aws, aws.queue_url) == 0
    assert queue_depth(aws, aws.dlq_url) == 0
    archived = load_archived(DELIVERIES_TABLE, "stripe", "evt_1", dynamodb=aws.dynamodb, s3=aws.s3)
    assert archived.raw == make_envelope().inline_body_bytes()


def test_the_last_failed_attempt_moves_the_message_to_the_dlq_unchanged(aws):
    # Given MAX_ATTEMPTS 3 and a handler that never recovers
    driver = driver_for(aws, always_fails, MAX_ATTEMPTS="3", RETRY_SCHEDULE="1m")
    envelope = make_envelope()
    send(aws, envelope)

    # When SQS redelivers it each time its delay is over
    attempts = driver.run()

    # Then the first two failures were delayed, and the third moved it to the DLQ and acknowledged it
    assert [(a.failed, a.receive_count) for a in attempts] == [(True, 1), (True, 2), (False, 3)]
    assert [a.delay for a in attempts] == [attempts[0].delay, attempts[1].delay, None]
    assert queue_depth(aws, aws.queue_url) == 0
    [moved] = aws.sqs.receive_message(
        QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    )["Messages"]
    assert moved["Body"] == envelope.model_dump_json()
    assert moved["MessageAttributes"] == {
        name: {"StringValue": value["StringValue"], "DataType": value["DataType"]}
        for name, value in envelope.sqs_message_attributes().items()
    }
    item = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_1", client=aws.dynamodb)
    assert (item["status"], item["attempts"]) == ("failed", 3)
    assert item["dead_lettered_at"] == ledger.iso_utc(attempts[-1].at)
    assert item["last_error"] == "RuntimeError: downstream unavailable"
    assert "next_attempt_at" not in item
