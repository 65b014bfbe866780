"""Retry with backoff, dead-lettering by the consumer, and the archive, through process_batch against fakes: only a
handler failure waits for the schedule (ChangeMessageVisibility); every other failure keeps the short retry."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.consumer.fakes import (
    ARCHIVE_BUCKET,
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeSQS,
    Recorder,
    client_error,
    emf_metrics,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.archive import load_archived
from webhook_gateway.consumer.processor import RETENTION_MARGIN_SECONDS, Consumer, process_batch
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.envelope import BodyRef, ReplayRequest

PAID = ("stripe", "payment_intent.succeeded")
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/deliveries"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/deliveries-dlq"
RETENTION = 345_600
ENVIRON = {
    "TABLE_NAME": DELIVERIES_TABLE,
    "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
    "ARCHIVE_RETENTION_DAYS": "30",
    "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
    "QUEUE_URL": QUEUE_URL,
    "DEAD_LETTER_QUEUE_URL": DLQ_URL,
    "RETRY_SCHEDULE": "1m,2m,4m",
    "MAX_ATTEMPTS": "3",
    "QUEUE_RETENTION_SECONDS": str(RETENTION),
}
REPLAY = ReplayRequest(id="r-1", requested_at="2025-06-20T00:00:00Z", requested_by="alice")


@pytest.fixture
def sqs() -> FakeSQS:
    return FakeSQS()


@pytest.fixture
def settings() -> ConsumerSettings:
    return ConsumerSettings.from_env(ENVIRON)


@pytest.fixture
def consumer(settings, registry, dynamodb, s3, clock, sqs) -> Consumer:
    # random() at 0.5: no jitter, each delay is its step
    return Consumer(
        settings=settings, registry=registry, dynamodb=dynamodb, s3=s3, sqs=sqs, clock=clock, random=lambda: 0.5
    )


def failures(response) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def request_replay(dynamodb, clock, provider, delivery_id, *, requested_by=""):
    """What ``hookctl replay`` records before it re-enqueues the copy (replay request r-1)."""
    ledger.request_replay(
        DELIVERIES_TABLE,
        provider,
        delivery_id,
        replay_id=REPLAY.id,
        requested_by=requested_by,
        now=clock.now,
        ttl_days=30,
        client=dynamodb,
    )


def record(envelope=None, *, receive_count=1, message_id="m-1", sent_at=None, **fields):
    result = sqs_record(
        envelope or make_envelope(),
        message_id=message_id,
        receive_count=receive_count,
        receipt_handle=f"rh-{receive_count}",
        sent_at=sent_at,
    )
    result["messageAttributes"] = {
        "provider": {"stringValue": "stripe", "dataType": "String"},
        "delivery_id": {"stringValue": "evt_1", "dataType": "String"},
        **fields,
    }
    return result


def test_a_handler_failure_records_when_it_is_due_and_hides_the_message_for_the_first_step(
    consumer, registry, dynamodb, sqs, clock, context, capsys
):
    # Given a handler that fails
    registry.on(*PAID)(Recorder(always_fail=True))

    # When the record is processed on its first receive
    response = process_batch(sqs_event([record()]), context, consumer)

    # Then it is reported failed, the ledger says when the next attempt is due, and the message is hidden until then
    assert failures(response) == ["m-1"]
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["run_attempts"]) == ("failed", 1)
    assert item["next_attempt_at"] == ledger.iso_utc(clock.now + 60)
    assert sqs.calls == [
        ("ChangeMessageVisibility", {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-1", "VisibilityTimeout": 60})
    ]
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "RetriesScheduled")] == [1]
    assert published[("stripe", "HandlerFailures")] == [1]


def test_successive_failures_wait_each_step_of_the_schedule_then_succeed(
    consumer, registry, dynamodb, sqs, clock, context
):
    # Given a handler that fails twice, then succeeds
    handler = registry.on(*PAID)(Recorder(failures=2))

    # When SQS redelivers the record each time its delay is over
    results = []
    for receive in (1, 2, 3):
        results.append(failures(process_batch(sqs_event([record(receive_count=receive)]), context, consumer)))
        if sqs.visibility_changes():
            clock.advance(sqs.visibility_changes()[-1][1])

    # Then the delays were the schedule's first two steps, on each receive's own handle, and it ran once
    assert results == [["m-1"], ["m-1"], []]
    assert sqs.visibility_changes() == [("rh-1", 60), ("rh-2", 120)]
    assert len(handler.events) == 1
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"]) == ("processed", 3)
    assert "next_attempt_at" not in item


def test_the_jitter_comes_from_the_consumers_random(settings, registry, dynamodb, s3, clock, sqs, context):
    # Given a consumer whose random() is at 0 (the lowest jitter: 20 % less)
    consumer = Consumer(
        settings=settings, registry=registry, dynamodb=dynamodb, s3=s3, sqs=sqs, clock=clock, random=lambda: 0.0
    )
    registry.on(*PAID)(Recorder(always_fail=True))

    # When the handler fails / Then the wait is 48 s, and the ledger agrees
    process_batch(sqs_event([record()]), context, consumer)
    assert sqs.visibility_changes() == [("rh-1", 48)]
    assert dynamodb.item("stripe", "evt_1")["next_attempt_at"] == ledger.iso_utc(clock.now + 48)


def test_a_body_that_cannot_be_loaded_keeps_the_short_retry(registry, dynamodb, s3, clock, sqs, context, capsys):
    # Given a claim-checked body whose object is missing (archive off: its copy would fail first)
    settings = ConsumerSettings.from_env({**ENVIRON, "ARCHIVE_RETENTION_DAYS": "0"})
    consumer = Consumer(settings, registry, dynamodb, s3, sqs, clock, random=lambda: 0.5)
    handler = registry.on(*PAID)(Recorder())
    envelope = make_envelope(body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="gone", size=10), raw=b"0123456789")

    # When processed
    response = process_batch(sqs_event([record(envelope)]), context, consumer)

    # Then it fails without a visibility change (no backoff), no retry is due, and the handler never ran
    assert failures(response) == ["m-1"]
    assert sqs.calls == [] and handler.calls == 0
    item = dynamodb.item("stripe", "evt_1")
    assert item["status"] == "failed" and "next_attempt_at" not in item
    assert ("stripe", "RetriesScheduled") not in emf_metrics(capsys.readouterr().out)


def test_a_claim_conflict_keeps_the_short_retry(consumer, registry, dynamodb, sqs, clock, context):
    # Given a delivery held by another consumer's live lease
    registry.on(*PAID)(Recorder())
    ledger.claim_delivery(
        DELIVERIES_TABLE,
        ledger.Delivery("stripe", "evt_1", PAID[1], make_envelope().received_at, "m-0"),
        owner="other",
        now=clock.now,
        lease_ms=60_000,
        ttl_days=30,
        client=dynamodb,
    )

    # When this consumer gets a copy / Then it is retried without a visibility change
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == ["m-1"]
    assert sqs.calls == []


def test_a_throttled_ledger_write_keeps_the_short_retry(consumer, registry, dynamodb, sqs, context):
    # Given a ledger that throttles the claim (the archive write before it succeeds)
    handler = registry.on(*PAID)(Recorder())
    original = dynamodb.update_item
    calls = iter(range(100))

    def throttled_claim(**params):
        if next(calls) == 1:  # the archive's UpdateItem is call 0, the claim is call 1
            raise client_error("ProvisionedThroughputExceededException")
        return original(**params)

    dynamodb.update_item = throttled_claim

    # When processed / Then retried without a visibility change, the handler not run
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == ["m-1"]
    assert sqs.calls == [] and handler.calls == 0


def test_an_archive_failure_keeps_the_short_retry_and_leaves_no_ledger_item(
    consumer, registry, dynamodb, sqs, context, capsys
):
    # Given an archive write that fails (the first UpdateItem)
    handler = registry.on(*PAID)(Recorder())
    dynamodb.errors.append(client_error("InternalServerError"))

    # When processed
    response = process_batch(sqs_event([record()]), context, consumer)

    # Then it is retried without a visibility change, and nothing was claimed: no ledger item, no handler run
    assert failures(response) == ["m-1"]
    assert sqs.calls == [] and handler.calls == 0
    assert dynamodb.items[DELIVERIES_TABLE] == {}
    assert emf_metrics(capsys.readouterr().out)[("stripe", "ArchiveErrors")] == [1]


def test_the_archive_is_written_before_the_claim(consumer, registry, dynamodb, context):
    # Given a handler that looks at the table while it runs
    seen = []
    registry.on(*PAID)(Recorder(on_call=lambda: seen.append(sorted(dynamodb.items[DELIVERIES_TABLE]))))
    envelope = make_envelope(headers={"stripe-signature": "t=1,v1=ab"})

    # When processed
    process_batch(sqs_event([record(envelope)]), context, consumer)

    # Then the archive item was there (first write) before the claim, and it holds the exact body and headers
    assert seen == [[("stripe", "evt_1"), ("stripe#archive", "evt_1")]]
    archived = load_archived(DELIVERIES_TABLE, "stripe", "evt_1", dynamodb=dynamodb, s3=consumer.s3)
    assert archived.raw == envelope.inline_body_bytes()
    assert archived.headers == {"stripe-signature": "t=1,v1=ab"}


def test_the_last_attempt_moves_the_message_to_the_dlq_and_acknowledges_it(
    consumer, registry, dynamodb, sqs, clock, context, capsys
):
    # Given a handler that always fails, and a delivery already failed twice (MAX_ATTEMPTS 3)
    handler = registry.on(*PAID)(Recorder(always_fail=True))
    for receive in (1, 2):
        process_batch(sqs_event([record(receive_count=receive)]), context, consumer)
    sqs.calls.clear()
    capsys.readouterr()
    third = record(receive_count=3, event_type={"stringValue": PAID[1], "dataType": "String"})

    # When the third attempt fails
    response = process_batch(sqs_event([third]), context, consumer)

    # Then the consumer sent the message to the DLQ unchanged and acknowledged it (not in batchItemFailures)
    assert failures(response) == []
    assert handler.calls == 3
    assert sqs.calls == [
        (
            "SendMessage",
            {
                "QueueUrl": DLQ_URL,
                "MessageBody": third["body"],
                "MessageAttributes": {
                    "provider": {"DataType": "String", "StringValue": "stripe"},
                    "delivery_id": {"DataType": "String", "StringValue": "evt_1"},
                    "event_type": {"DataType": "String", "StringValue": PAID[1]},
                },
            },
        )
    ]
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["dead_lettered_at"]) == ("failed", ledger.iso_utc(clock.now))
    assert item["last_error"] == "RuntimeError: downstream unavailable (call 3)"
    assert "next_attempt_at" not in item
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "DeliveriesDeadLettered")] == [1]
    assert ("stripe", "RetriesScheduled") not in published


def test_a_record_without_message_attributes_is_dead_lettered_with_its_body_alone(
    registry, dynamodb, s3, clock, sqs, context
):
    # Given a handler that always fails and one attempt allowed
    settings = ConsumerSettings.from_env({**ENVIRON, "MAX_ATTEMPTS": "1"})
    consumer = Consumer(settings, registry, dynamodb, s3, sqs, clock)
    registry.on(*PAID)(Recorder(always_fail=True))
    bare = sqs_record(make_envelope(), message_id="m-1")

    # When it fails / Then the DLQ copy carries the body and no (empty) attributes
    assert failures(process_batch(sqs_event([bare]), context, consumer)) == []
    assert sqs.sent() == [{"QueueUrl": DLQ_URL, "MessageBody": bare["body"]}]


def test_a_failed_move_to_the_dlq_is_retried_and_the_next_receive_dead_letters_without_the_handler(
    consumer, registry, dynamodb, sqs, context, capsys
):
    # Given a delivery on its last attempt and an SQS that refuses the first copy to the DLQ
    handler = registry.on(*PAID)(Recorder(always_fail=True))
    for receive in (1, 2):
        process_batch(sqs_event([record(receive_count=receive)]), context, consumer)
    sqs.calls.clear()
    sqs.errors.append(client_error("InternalError", "SendMessage"))

    # When the third attempt fails and the copy fails, then SQS delivers the record again
    third = failures(process_batch(sqs_event([record(receive_count=3)]), context, consumer))
    fourth = failures(process_batch(sqs_event([record(receive_count=4)]), context, consumer))

    # Then the third is reported failed (the message stays), the fourth moves it without running the handler again
    assert (third, fourth) == (["m-1"], [])
    assert handler.calls == 3
    assert [operation for operation, _ in sqs.calls] == ["SendMessage", "SendMessage"]
    item = dynamodb.item("stripe", "evt_1")
    assert item["status"] == "failed" and "dead_lettered_at" in item
    assert item["last_error"] == "RuntimeError: downstream unavailable (call 3)"
    assert emf_metrics(capsys.readouterr().out)[("stripe", "DeliveriesDeadLettered")] == [1]


def test_without_a_dlq_url_an_exhausted_delivery_is_left_to_the_redrive_policy(
    registry, dynamodb, s3, clock, sqs, context
):
    # Given no DEAD_LETTER_QUEUE_URL and one attempt allowed
    settings = ConsumerSettings.from_env({**ENVIRON, "DEAD_LETTER_QUEUE_URL": "", "MAX_ATTEMPTS": "1"})
    consumer = Consumer(settings=settings, registry=registry, dynamodb=dynamodb, s3=s3, sqs=sqs, clock=clock)
    registry.on(*PAID)(Recorder(always_fail=True))

    # When it fails / Then the record is reported failed (SQS's maxReceiveCount takes over), nothing sent
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == ["m-1"]
    assert sqs.calls == []
    assert dynamodb.item("stripe", "evt_1")["status"] == "failed"


def test_without_a_queue_url_the_failure_is_recorded_but_the_message_is_not_hidden(
    registry, dynamodb, s3, clock, sqs, context
):
    # Given no QUEUE_URL
    settings = ConsumerSettings.from_env({**ENVIRON, "QUEUE_URL": ""})
    consumer = Consumer(settings, registry, dynamodb, s3, sqs, clock, random=lambda: 0.5)
    registry.on(*PAID)(Recorder(always_fail=True))

    # When the handler fails / Then the ledger says when, and the queue's own visibility timeout brings it back
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == ["m-1"]
    assert sqs.calls == []
    assert dynamodb.item("stripe", "evt_1")["next_attempt_at"] == ledger.iso_utc(clock.now + 60)


def test_a_refused_visibility_change_still_fails_the_record(consumer, registry, dynamodb, sqs, context, capsys):
    # Given an SQS that refuses the visibility change
    registry.on(*PAID)(Recorder(always_fail=True))
    sqs.errors.append(client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibility"))

    # When the handler fails / Then the record is reported failed, and no retry is counted as scheduled
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == ["m-1"]
    assert [operation for operation, _ in sqs.calls] == ["ChangeMessageVisibility"]
    assert ("stripe", "RetriesScheduled") not in emf_metrics(capsys.readouterr().out)


@pytest.mark.parametrize(("slack", "dead_lettered"), [(59, True), (60, True), (61, False)])
def test_a_retry_that_would_outlive_the_queues_retention_dead_letters_now(
    consumer, registry, dynamodb, sqs, clock, context, slack, dead_lettered
):
    # Given a message sent so long ago that a 60 s wait plus the margin ends at, or just before/after, its retention
    registry.on(*PAID)(Recorder(always_fail=True))
    sent_at = clock.now - RETENTION + RETENTION_MARGIN_SECONDS + slack
    old = record(sent_at=sent_at)

    # When the handler fails on its first attempt
    response = process_batch(sqs_event([old]), context, consumer)

    # Then the consumer dead-letters it at once if SQS would delete it while it waits, else schedules the retry
    if dead_lettered:
        assert failures(response) == []
        assert [operation for operation, _ in sqs.calls] == ["SendMessage"]
        assert "dead_lettered_at" in dynamodb.item("stripe", "evt_1")
    else:
        assert failures(response) == ["m-1"]
        assert sqs.visibility_changes() == [("rh-1", 60)]


def test_a_replay_copy_is_not_archived_again_and_skips_the_body_check(
    consumer, registry, dynamodb, s3, sqs, clock, context, capsys
):
    # Given a GitHub delivery (unsigned id: body-checked) processed once, and a replay of it requested
    handler = registry.on("github", "push")(Recorder())
    envelope = make_envelope("github", "d-1", "push", raw=b'{"ref": "main"}', delivery_id_signed=False)
    process_batch(sqs_event([record(envelope)]), context, consumer)
    archived_item = dict(dynamodb.items[DELIVERIES_TABLE][("github#archive", "d-1")])
    request_replay(dynamodb, clock, "github", "d-1", requested_by="alice")
    dynamodb.calls.clear()
    clock.advance(3600)

    # When the replay copy arrives
    copy = envelope.model_copy(update={"replay": REPLAY})
    response = process_batch(sqs_event([record(copy, message_id="m-2")]), context, consumer)

    # Then the handler ran again, with no archive write and no body claim: claim + complete only
    assert failures(response) == []
    assert handler.calls == 2
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    assert dynamodb.items[DELIVERIES_TABLE][("github#archive", "d-1")] == archived_item
    assert "pending_replays" not in dynamodb.item("github", "d-1")
    published = emf_metrics(capsys.readouterr().out)
    assert published[("github", "ReplaysProcessed")] == [1]


def test_a_replayed_s3_body_is_read_from_the_archive_bucket(consumer, registry, dynamodb, s3, clock, context):
    # Given a large body archived in S3, and its replay envelope by reference to the archive object
    handler = registry.on(*PAID)(Recorder())
    raw = b"\x80" * (consumer.settings.archive_inline_max_bytes + 1)
    process_batch(sqs_event([record(make_envelope(raw=raw))]), context, consumer)
    request_replay(dynamodb, clock, "stripe", "evt_1")
    archived = load_archived(DELIVERIES_TABLE, "stripe", "evt_1", dynamodb=dynamodb, s3=s3)
    copy = archived.envelope_for_replay(REPLAY)

    # When the replay copy is processed
    response = process_batch(sqs_event([record(copy, message_id="m-2")]), context, consumer)

    # Then the handler got the same bytes, read from the archive bucket
    assert failures(response) == []
    assert [event.raw for event in handler.events] == [raw, raw]
    assert s3.reads[-1] == (ARCHIVE_BUCKET, f"stripe/{hashlib.sha256(raw).hexdigest()}")


def test_a_replayed_delivery_failing_gets_the_whole_schedule_again(consumer, registry, dynamodb, sqs, clock, context):
    # Given a delivery that failed twice (its next failure would be the last), then replayed
    registry.on(*PAID)(Recorder(always_fail=True))
    for receive in (1, 2):
        process_batch(sqs_event([record(receive_count=receive)]), context, consumer)
    clock.advance(600)
    request_replay(dynamodb, clock, "stripe", "evt_1")
    sqs.calls.clear()

    # When the replay copy fails
    copy = make_envelope().model_copy(update={"replay": REPLAY})
    process_batch(sqs_event([record(copy, message_id="m-2")]), context, consumer)

    # Then it waits the schedule's first step again, not dead-lettered
    assert sqs.visibility_changes() == [("rh-1", 60)]
    assert dynamodb.item("stripe", "evt_1")["run_attempts"] == 1


def test_the_archive_off_writes_no_archive_item(registry, dynamodb, s3, clock, sqs, context):
    # Given ARCHIVE_RETENTION_DAYS 0
    settings = ConsumerSettings.from_env({**ENVIRON, "ARCHIVE_RETENTION_DAYS": "0"})
    consumer = Consumer(settings, registry, dynamodb, s3, sqs, clock)
    registry.on(*PAID)(Recorder())

    # When a delivery is processed / Then only its ledger item exists (claim + complete)
    assert failures(process_batch(sqs_event([record()]), context, consumer)) == []
    assert list(dynamodb.items[DELIVERIES_TABLE]) == [("stripe", "evt_1")]
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
