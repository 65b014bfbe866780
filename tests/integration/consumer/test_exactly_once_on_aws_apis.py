"""Exactly-once processing against real AWS APIs (moto): DynamoDB's conditional writes, an SQS queue with a
redrive policy (maxReceiveCount 5) driven like Lambda's event source mapping, and S3 claim checks."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import replace

import pytest

from tests.integration.consumer.aws import (
    MAX_RECEIVE_COUNT,
    atomic_moto_writes,
    drain,
    queue_depth,
    send,
    to_lambda_record,
)
from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    emf_metrics,
    make_envelope,
    stripe_body,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.processor import process_batch
from webhook_gateway.envelope import BodyRef

PAID = ("stripe", "payment_intent.succeeded")
_requests = itertools.count(1)


def new_context(remaining_ms: int = 30_000) -> FakeLambdaContext:
    return FakeLambdaContext(aws_request_id=f"req-{next(_requests)}", remaining_ms=remaining_ms)


def item(aws, provider: str = "stripe", delivery_id: str = "evt_1") -> dict:
    return ledger.get_delivery(DELIVERIES_TABLE, provider, delivery_id, client=aws.dynamodb)


def invoke(consumer):
    return lambda event, context: process_batch(event, context, consumer)


def test_the_same_delivery_sent_five_times_is_processed_once(aws, consumer, registry):
    # Given a handler, and five copies of one delivery queued (a provider retrying)
    handler = registry.on(*PAID)(Recorder())
    for _ in range(5):
        send(aws, make_envelope())

    # When the consumer drains the queue one message per invocation
    drain(aws, invoke(consumer), new_context, batch_size=1)

    # Then the handler ran once, the ledger has one processed record, and every message was acknowledged
    assert handler.calls == 1
    record = item(aws)
    assert (record["status"], record["outcome"], record["attempts"]) == ("processed", "handled", 1)
    assert queue_depth(aws, aws.queue_url) == 0
    assert queue_depth(aws, aws.dlq_url) == 0


def test_two_consumers_racing_on_five_copies_process_it_once(aws, consumer, registry):
    # Given a slow handler, five copies of one delivery, and two consumers polling the same queue concurrently
    handler = registry.on(*PAID)(Recorder(on_call=lambda: threading.Event().wait(0.05)))
    for _ in range(5):
        send(aws, make_envelope())
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def poll() -> None:
        start.wait()
        try:
            # Conflicts come back after 1 s (in production: 6x the function timeout), by then as duplicates
            drain(aws, invoke(consumer), new_context, batch_size=1, visibility_timeout=1)
        except BaseException as error:  # noqa: BLE001 (surface thread failures in the test)
            errors.append(error)

    # When both run until the queue is empty
    with atomic_moto_writes():
        threads = [threading.Thread(target=poll) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then the handler ran exactly once and the ledger holds one processed record
    assert errors == []
    assert handler.calls == 1
    assert (item(aws)["status"], item(aws)["attempts"]) == ("processed", 1)
    assert queue_depth(aws, aws.queue_url) == queue_depth(aws, aws.dlq_url) == 0


def test_a_consumer_dying_mid_processing_is_taken_over_once_its_lease_expires(aws, consumer, registry, clock):
    # Given a consumer that claimed the delivery (3 s left + 1 s margin) and died without releasing it
    consumer = replace(consumer, clock=clock)
    handler = registry.on(*PAID)(Recorder())
    envelope = make_envelope()
    dead = ledger.Delivery("stripe", "evt_1", "payment_intent.succeeded", envelope.received_at, "m-dead")
    ledger.claim_delivery(
        DELIVERIES_TABLE, dead, owner="dead:m-dead", now=clock(), lease_ms=4_000, ttl_days=30, client=aws.dynamodb
    )
    send(aws, envelope)

    # When SQS redelivers it while the lease is live, then after it expired
    clock.advance(2)
    early = process_batch(_receive(aws), new_context(), consumer)
    clock.advance(2.5)
    drain(aws, invoke(consumer), new_context)

    # Then the early delivery was a conflict (retried, not run); after expiry it was processed once, attempt 2
    assert len(early["batchItemFailures"]) == 1
    assert handler.calls == 1
    record = item(aws)
    assert (record["status"], record["attempts"]) == ("processed", 2)
    assert record["lease_owner"] != "dead:m-dead"


def test_a_handler_failing_twice_then_succeeding_is_processed_once_after_three_attempts(aws, consumer, registry):
    # Given a handler whose downstream fails twice
    handler = registry.on(*PAID)(Recorder(failures=2))
    send(aws, make_envelope())

    # When the consumer drains the queue
    invocations = drain(aws, invoke(consumer), new_context)

    # Then three receives, one success, attempts=3, nothing dead-lettered
    assert invocations == 3
    assert len(handler.events) == 1
    record = item(aws)
    assert (record["status"], record["attempts"]) == ("processed", 3)
    assert record["last_error"] == "RuntimeError: downstream unavailable (call 2)"
    assert queue_depth(aws, aws.dlq_url) == 0


def test_a_handler_that_always_fails_ends_in_the_dlq_with_a_failed_ledger_record(aws, consumer, registry, capsys):
    # Given a handler that always fails
    handler = registry.on(*PAID)(Recorder(always_fail=True))
    message_id = send(aws, make_envelope())

    # When the consumer drains the queue
    invocations = drain(aws, invoke(consumer), new_context)

    # Then it was tried maxReceiveCount times, then SQS moved it to the DLQ; the ledger says failed
    assert invocations == handler.calls == MAX_RECEIVE_COUNT
    dead = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [message["MessageId"] for message in dead] == [message_id]
    record = item(aws)
    assert (record["status"], record["attempts"]) == ("failed", MAX_RECEIVE_COUNT)
    assert record["last_error"].startswith("RuntimeError: downstream unavailable")
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "HandlerFailures")] == [1] * MAX_RECEIVE_COUNT
    assert published[("stripe", "DeliveriesDeadLettered")] == [1]


def test_a_malformed_envelope_ends_in_the_dlq_without_touching_the_ledger(aws, consumer, capsys):
    # Given a poison message
    message_id = aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody='{"provider": "stripe"}')["MessageId"]

    # When the consumer drains the queue
    drain(aws, invoke(consumer), new_context)

    # Then it is dead-lettered after maxReceiveCount receives, each logged with its message id
    assert [m["MessageId"] for m in aws.sqs.receive_message(QueueUrl=aws.dlq_url)["Messages"]] == [message_id]
    out = capsys.readouterr().out
    assert out.count(f'"message_id":"{message_id}"') == MAX_RECEIVE_COUNT
    assert emf_metrics(out)[("unknown", "DeliveriesDeadLettered")] == [1]
    assert aws.dynamodb.scan(TableName=DELIVERIES_TABLE)["Count"] == 0


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_claim_is_retried_not_dropped_nor_processed_twice(aws, consumer, registry, code):
    # Given DynamoDB throttling the first two claims (injected below botocore's retries, at the API boundary)
    handler = registry.on(*PAID)(Recorder())
    throttled = Counter()

    def throttle(params, **kwargs):
        if throttled["UpdateItem"] < 2:
            throttled["UpdateItem"] += 1
            error = {"Error": {"Code": code, "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
            return None, error
        return None

    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    send(aws, make_envelope())

    # When the consumer drains the queue
    invocations = drain(aws, invoke(consumer), new_context)

    # Then the two throttled receives were retried without running the handler, and the third processed it once
    assert invocations == 3
    assert handler.calls == 1
    assert (item(aws)["status"], item(aws)["attempts"]) == ("processed", 1)


def test_a_mixed_batch_reports_only_the_failed_records(aws, consumer, registry):
    # Given one failing handler among working ones, and a batch mixing them with a skip and a poison pill
    registry.on(*PAID)(Recorder())
    registry.on("stripe", "charge.failed")(Recorder(always_fail=True))
    registry.on("github", "*")(Recorder())
    ok = send(aws, make_envelope(delivery_id="evt_ok"))
    bad = send(aws, make_envelope(delivery_id="evt_bad", event_type="charge.failed"))
    send(aws, make_envelope("github", "d-1", "issues", b'{"action": "opened"}', delivery_id_signed=False))
    send(aws, make_envelope(delivery_id="evt_new", event_type="customer.created"))
    poison = aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="garbage")["MessageId"]

    # When one batch of all five is processed
    response = process_batch(_receive(aws), new_context(), consumer)

    # Then only the failing handler's record and the poison pill are reported
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted([bad, poison])
    assert ok not in str(response)
    assert item(aws, "stripe", "evt_new")["outcome"] == "skipped"
    assert item(aws, "github", "d-1")["status"] == "processed"


def test_a_claim_checked_body_is_read_back_from_s3_and_verified(aws, consumer, registry):
    # Given a large body the receiver put in the overflow bucket, and one whose object was tampered with
    raw = stripe_body("evt_big")[:-1] + b', "padding": "' + b"p" * 400_000 + b'"}'
    aws.s3.put_object(Bucket=OVERFLOW_BUCKET, Key="bodies/evt_big", Body=raw)
    aws.s3.put_object(Bucket=OVERFLOW_BUCKET, Key="bodies/evt_bad", Body=raw.replace(b"pi_1", b"pi_X"))
    handler = registry.on(*PAID)(Recorder())
    for key in ("evt_big", "evt_bad"):
        ref = BodyRef(bucket=OVERFLOW_BUCKET, key=f"bodies/{key}", size=len(raw))
        send(aws, make_envelope(delivery_id=key, raw=raw, body_ref=ref))

    # When both are processed
    response = process_batch(_receive(aws), new_context(), consumer)

    # Then the intact one reached the handler byte for byte; the tampered one failed without running it
    assert [event.delivery_id for event in handler.events] == ["evt_big"]
    assert handler.events[0].raw == raw
    assert len(response["batchItemFailures"]) == 1
    assert item(aws, "stripe", "evt_bad")["last_error"].startswith("BodyIntegrityError")


def test_failed_deliveries_are_listed_by_the_by_status_index(aws, consumer, registry):
    # Given one processed and one failed delivery
    registry.on(*PAID)(Recorder())
    registry.on("stripe", "charge.failed")(Recorder(always_fail=True))
    send(aws, make_envelope(delivery_id="evt_ok"))
    send(aws, make_envelope(delivery_id="evt_bad", event_type="charge.failed"))
    process_batch(_receive(aws), new_context(), consumer)

    # When an operator queries the GSI for failed deliveries
    found = aws.dynamodb.query(
        TableName=DELIVERIES_TABLE,
        IndexName=ledger.BY_STATUS_INDEX,
        KeyConditionExpression="#s = :failed AND last_attempt_at >= :since",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":failed": {"S": "failed"}, ":since": {"S": "2000-01-01T00:00:00.000Z"}},
    )["Items"]

    # Then exactly the failed one is listed, with readable keys
    assert [(i["provider"]["S"], i["delivery_id"]["S"]) for i in found] == [("stripe", "evt_bad")]


def test_dynamodb_calls_per_delivery(aws, consumer, registry):
    # Given a handler and a counter on every DynamoDB API call
    registry.on(*PAID)(Recorder())
    calls: list[str] = []
    aws.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **kwargs: calls.append(model.name))

    # When a new delivery, then a duplicate, then an unregistered event type are processed
    per_case = []
    for envelope in (make_envelope(), make_envelope(), make_envelope(delivery_id="evt_2", event_type="other")):
        calls.clear()
        send(aws, envelope)
        drain(aws, invoke(consumer), new_context)
        per_case.append(list(calls))

    # Then new = claim + complete, duplicate = one conditional write, skip = one write; never a read
    assert per_case == [["UpdateItem", "UpdateItem"], ["UpdateItem"], ["UpdateItem"]]


def _receive(aws) -> dict:
    """One receive of up to 10 messages, as the Lambda event the consumer gets."""
    messages = aws.sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    )["Messages"]
    return {"Records": [to_lambda_record(message, aws.queue_arn) for message in messages]}


def test_a_github_body_replayed_under_new_ids_is_processed_once_on_dynamodb(aws, consumer, registry):
    # Given a GitHub push queued once as sent, then three times more under forged GUIDs and hook ids (unsigned headers)
    handler = registry.on("github", "push")(Recorder())
    body = b'{"ref": "refs/heads/main", "before": "0", "after": "1", "commits": []}'
    for delivery_id in ("1:guid-real", "2:guid-x", "3:guid-y", "1:guid-z"):
        send(aws, make_envelope("github", delivery_id, "push", body, delivery_id_signed=False))

    # When the consumer drains the queue
    drain(aws, invoke(consumer), new_context, batch_size=1)

    # Then the handler ran once, for the first id; DynamoDB's conditional writes refused the body to the others
    assert handler.calls == 1
    assert handler.events[0].delivery_id == "1:guid-real"
    for replayed in ("2:guid-x", "3:guid-y", "1:guid-z"):
        assert item(aws, "github", replayed)["outcome"] == "duplicate_body"
        assert item(aws, "github", replayed)["duplicate_of"] == "1:guid-real"
    assert queue_depth(aws, aws.queue_url) == 0
