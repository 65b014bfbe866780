"""Record -> claim -> body -> handler -> complete, through BatchProcessor, against fakes (no AWS, no moto)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from tests.unit.consumer.fakes import (
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    client_error,
    emf_metrics,
    make_envelope,
    sqs_event,
    sqs_record,
    stripe_body,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.processor import Consumer, lease_ms, process_batch
from webhook_gateway.envelope import BodyRef

PAID = ("stripe", "payment_intent.succeeded")


def failures(response) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_new_delivery_runs_its_handler_once_with_two_writes_and_no_read(
    consumer, registry, dynamodb, context, capsys
):
    # Given a handler for Stripe payments
    handler = registry.on(*PAID)(Recorder())

    # When a batch with one new delivery is processed
    response = process_batch(sqs_event([sqs_record(make_envelope(), message_id="m-1")]), context, consumer)

    # Then the handler got the typed event, the ledger says processed/handled, and it cost claim + complete
    assert failures(response) == []
    assert [event.body["data"]["object"]["id"] for event in handler.events] == ["pi_1"]
    assert handler.events[0].attempt == 1
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["outcome"], item["attempts"], item["message_id"]) == ("processed", "handled", 1, "m-1")
    assert item["lease_owner"] == "req-1:m-1"
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "DeliveriesProcessed")] == [1]
    # received 2025-06-15T15:06:40Z, the fake clock is at 1_750_000_000 = the same instant
    assert published[("stripe", "EndToEndLagMs")] == [0.0]


def test_the_same_delivery_five_times_in_a_row_runs_the_handler_once(consumer, registry, dynamodb, context, capsys):
    # Given a handler, and a provider that delivered the same event five times (five SQS messages)
    handler = registry.on(*PAID)(Recorder())
    copies = [sqs_record(make_envelope(), message_id=f"m-{n}") for n in range(5)]

    # When they arrive one after the other (one batch each)
    responses = [process_batch(sqs_event([copy]), context, consumer) for copy in copies]

    # Then all are acknowledged, the handler ran once, and each duplicate cost one write
    assert [failures(response) for response in responses] == [[]] * 5
    assert handler.calls == 1
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"], item["message_id"]) == ("processed", 1, "m-0")
    assert dynamodb.calls == ["UpdateItem"] * (2 + 4)
    assert emf_metrics(capsys.readouterr().out)[("stripe", "DuplicatesDropped")] == [1, 1, 1, 1]


def test_duplicates_in_one_batch_are_acknowledged_too(consumer, registry, dynamodb, context):
    # Given a handler and a batch holding three copies of one delivery
    handler = registry.on(*PAID)(Recorder())
    batch = sqs_event([sqs_record(make_envelope()) for _ in range(3)])

    # When the batch is processed
    response = process_batch(batch, context, consumer)

    # Then the handler ran once and nothing is retried
    assert failures(response) == []
    assert handler.calls == 1


def test_two_consumers_racing_on_five_copies_run_the_handler_once(consumer, registry, dynamodb, settings, clock):
    # Given a slow handler and five copies of one delivery, given to two consumers (threads) at the same instant
    start = threading.Barrier(2)
    handler = registry.on(*PAID)(Recorder(on_call=lambda: threading.Event().wait(0.05)))
    copies = [sqs_record(make_envelope(), message_id=f"m-{n}") for n in range(5)]
    retried: list[dict] = []
    lock = threading.Lock()

    def consume(worker: int) -> None:
        context = FakeLambdaContext(aws_request_id=f"worker-{worker}")
        start.wait()
        for copy in copies:
            response = process_batch(sqs_event([copy]), context, consumer)
            with lock:
                retried.extend(c for c in copies if c["messageId"] in failures(response))

    # When both consume all five copies concurrently, then SQS redelivers whatever they reported as failed
    threads = [threading.Thread(target=consume, args=(worker,)) for worker in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    redelivered = process_batch(sqs_event(retried), FakeLambdaContext(aws_request_id="later"), consumer)

    # Then the handler ran exactly once, the losers of the race were retried (not processed), one processed record
    assert handler.calls == 1
    assert failures(redelivered) == []
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"]) == ("processed", 1)


def test_a_consumer_that_died_mid_processing_is_taken_over_after_its_lease(consumer, registry, dynamodb, clock):
    # Given a consumer that claimed the delivery with 3 s left (lease 3 s + 1 s margin) and then died
    handler = registry.on(*PAID)(Recorder())
    dying = FakeLambdaContext(aws_request_id="dead", remaining_ms=3_000)
    record = sqs_record(make_envelope(), message_id="m-1")
    handler.on_call = lambda: (_ for _ in ()).throw(SystemExit("the sandbox was killed"))
    with pytest.raises(SystemExit):
        process_batch(sqs_event([record]), dying, consumer)
    handler.on_call = None
    assert dynamodb.item("stripe", "evt_1")["status"] == "processing"

    # When SQS redelivers it before the lease has expired, and again after
    clock.advance(3.9)
    early = process_batch(sqs_event([record]), FakeLambdaContext(aws_request_id="second"), consumer)
    clock.advance(0.2)
    late = process_batch(sqs_event([record]), FakeLambdaContext(aws_request_id="third"), consumer)

    # Then the early one is a conflict (retried, not run), the late one processes it once, as attempt 2
    assert failures(early) == ["m-1"]
    assert failures(late) == []
    assert handler.calls == 2 and len(handler.events) == 1
    assert handler.events[0].attempt == 2
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"], item["lease_owner"]) == ("processed", 2, "third:m-1")


def test_a_handler_failing_twice_then_succeeding_is_processed_once_in_three_attempts(
    consumer, registry, dynamodb, context, capsys
):
    # Given a handler whose downstream fails twice
    handler = registry.on(*PAID)(Recorder(failures=2))
    record = sqs_record(make_envelope(), message_id="m-1")

    # When SQS delivers the record until it is acknowledged
    results = [failures(process_batch(sqs_event([record]), context, consumer)) for _ in range(3)]

    # Then it failed twice, then was processed once; the ledger kept the count and the last error
    assert results == [["m-1"], ["m-1"], []]
    assert len(handler.events) == 1
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"]) == ("processed", 3)
    assert item["last_error"] == "RuntimeError: downstream unavailable (call 2)"
    assert dynamodb.calls == ["UpdateItem"] * 6
    assert emf_metrics(capsys.readouterr().out)[("stripe", "HandlerFailures")] == [1, 1]


def test_a_failure_on_the_last_receive_is_counted_as_dead_lettered(consumer, registry, dynamodb, context, capsys):
    # Given a handler that always fails, and a record on its last receive (maxReceiveCount, default 20), its attempts
    # not yet used up (short retries, conflicts, count receives too)
    registry.on(*PAID)(Recorder(always_fail=True))
    record = sqs_record(make_envelope(), message_id="m-1", receive_count=consumer.settings.max_receive_count)

    # When it is processed
    response = process_batch(sqs_event([record]), context, consumer)

    # Then it fails (SQS moves it to the DLQ), the ledger says failed, and the DLQ metric is emitted
    assert failures(response) == ["m-1"]
    assert dynamodb.item("stripe", "evt_1")["status"] == "failed"
    assert emf_metrics(capsys.readouterr().out)[("stripe", "DeliveriesDeadLettered")] == [1]


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalServerError"])
def test_a_throttled_claim_is_retried_never_dropped_nor_processed_twice(
    consumer, registry, dynamodb, context, code, capsys
):
    # Given DynamoDB throttling the first claim (after botocore's own retries)
    handler = registry.on(*PAID)(Recorder())
    dynamodb.errors.append(client_error(code))
    record = sqs_record(make_envelope(), message_id="m-1")

    # When the record is delivered, then redelivered by SQS
    first = process_batch(sqs_event([record]), context, consumer)
    second = process_batch(sqs_event([record]), context, consumer)
    third = process_batch(sqs_event([record]), context, consumer)

    # Then the first delivery is reported failed without running the handler, the retry processes it once
    assert (failures(first), failures(second), failures(third)) == (["m-1"], [], [])
    assert handler.calls == 1
    assert dynamodb.item("stripe", "evt_1")["attempts"] == 1
    assert emf_metrics(capsys.readouterr().out)[("stripe", "LedgerErrors")] == [1]


def test_a_mixed_batch_reports_only_its_failed_records(consumer, registry, dynamodb, context):
    # Given handlers that succeed, one that fails, and a batch mixing them with a duplicate, a skip and a poison pill
    registry.on(*PAID)(Recorder())
    registry.on("stripe", "charge.failed")(Recorder(always_fail=True))
    registry.on("github", "push")(Recorder())
    batch = sqs_event(
        [
            sqs_record(make_envelope(delivery_id="evt_ok"), message_id="ok"),
            sqs_record(make_envelope(delivery_id="evt_bad", event_type="charge.failed"), message_id="bad"),
            sqs_record(
                make_envelope("github", "d-1", "push", b'{"ref": "main"}', delivery_id_signed=False), message_id="push"
            ),
            sqs_record(make_envelope(delivery_id="evt_ok"), message_id="dup"),
            sqs_record(make_envelope(delivery_id="evt_x", event_type="customer.created"), message_id="skip"),
            sqs_record("{not an envelope", message_id="poison"),
        ]
    )

    # When the batch is processed
    response = process_batch(batch, context, consumer)

    # Then exactly the failing handler's record and the poison pill are retried
    assert failures(response) == ["bad", "poison"]
    assert dynamodb.item("stripe", "evt_bad")["status"] == "failed"
    assert dynamodb.item("github", "d-1")["status"] == "processed"


def test_an_unregistered_event_type_is_acknowledged_and_recorded_as_skipped(
    consumer, registry, dynamodb, context, s3, capsys
):
    # Given no handler for customer.created, and its body in S3 (it must not even be fetched)
    registry.on(*PAID)(Recorder())
    envelope = make_envelope(
        delivery_id="evt_c", event_type="customer.created", body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="k", size=2)
    )

    # When it is processed twice
    responses = [process_batch(sqs_event([sqs_record(envelope)]), context, consumer) for _ in range(2)]

    # Then it is acknowledged both times, recorded as processed/skipped with one write each, never fetched
    assert [failures(response) for response in responses] == [[], []]
    item = dynamodb.item("stripe", "evt_c")
    assert (item["status"], item["outcome"], item["attempts"], item["body_location"]) == (
        "processed",
        "skipped",
        1,
        "s3",
    )
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    assert s3.reads == []
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "DeliveriesSkipped")] == [1]
    assert published[("stripe", "DuplicatesDropped")] == [1]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"provider": "stripe"}',
        make_envelope().model_dump_json().replace('"version":1', '"version":2'),
        make_envelope().model_dump_json().replace('"body_ref":null', '"body_ref":{"bucket":"b","key":"k","size":1}'),
    ],
    ids=["not-json", "missing-fields", "unknown-version", "two-body-locations"],
)
def test_a_malformed_envelope_is_a_logged_failure_without_its_content(consumer, dynamodb, context, body, capsys):
    # Given a poison message
    record = sqs_record(body, message_id="poison-1")

    # When it is processed
    response = process_batch(sqs_event([record]), context, consumer)

    # Then it is reported failed (SQS dead-letters it after maxReceiveCount), logged with its message id, counted,
    # nothing is written, and the log does not quote the message body
    assert failures(response) == ["poison-1"]
    assert dynamodb.calls == []
    out = capsys.readouterr().out
    assert '"message_id":"poison-1"' in out
    assert "poison message" in out
    assert "pi_1" not in out and "not json" not in out
    assert emf_metrics(out)[("unknown", "PoisonMessages")] == [1]


def test_a_claim_checked_body_is_fetched_from_s3_for_the_handler(consumer, registry, dynamodb, context, s3):
    # Given a large body stored in the overflow bucket
    raw = stripe_body("evt_big")[:-1] + b', "padding": "' + b"p" * 300_000 + b'"}'
    s3.objects[(OVERFLOW_BUCKET, "2025/evt_big")] = raw
    ref = BodyRef(bucket=OVERFLOW_BUCKET, key="2025/evt_big", size=len(raw))
    handler = registry.on(*PAID)(Recorder())

    # When its envelope is processed
    envelope = make_envelope(delivery_id="evt_big", raw=raw, body_ref=ref)
    response = process_batch(sqs_event([sqs_record(envelope)]), context, consumer)

    # Then the handler got the exact bytes and the parsed body, and the ledger notes where the body was
    assert failures(response) == []
    assert handler.events[0].raw == raw
    assert handler.events[0].body_location == "s3"
    assert len(handler.events[0].body["padding"]) == 300_000
    assert dynamodb.item("stripe", "evt_big")["body_location"] == "s3"


def test_a_claim_checked_body_with_the_wrong_hash_fails_the_delivery(consumer, registry, dynamodb, context, s3):
    # Given an S3 body that does not match the envelope's SHA-256
    raw = stripe_body("evt_big")
    s3.objects[(OVERFLOW_BUCKET, "k")] = raw.replace(b"pi_1", b"pi_2")
    envelope = make_envelope(delivery_id="evt_big", raw=raw, body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="k", size=1))
    handler = registry.on(*PAID)(Recorder())

    # When processed
    response = process_batch(sqs_event([sqs_record(envelope, message_id="m-big")]), context, consumer)

    # Then the handler never runs, the delivery is failed with the reason, and the record is retried
    assert failures(response) == ["m-big"]
    assert handler.calls == 0
    item = dynamodb.item("stripe", "evt_big")
    assert item["status"] == "failed"
    assert item["last_error"] == "BodyIntegrityError: body SHA-256 does not match the envelope's body_sha256"


def test_an_unparseable_body_fails_the_delivery_without_running_the_handler(consumer, registry, dynamodb, context):
    # Given a JSON-looking body that does not parse
    handler = registry.on(*PAID)(Recorder())
    envelope = make_envelope(raw=b'{"id": "evt_1", ')

    # When processed
    response = process_batch(sqs_event([sqs_record(envelope, message_id="m-1")]), context, consumer)

    # Then it is a recorded failure
    assert failures(response) == ["m-1"]
    assert handler.calls == 0
    assert dynamodb.item("stripe", "evt_1")["last_error"].startswith("UnparseableBody: body is not valid JSON")


def test_a_completion_that_cannot_be_written_is_retried(consumer, registry, dynamodb, context):
    # Given a handler that succeeds, and DynamoDB failing the completion write
    handler = registry.on(*PAID)(Recorder())
    original = dynamodb.update_item

    def fail_completion(**kwargs):
        if ":outcome" in kwargs["ExpressionAttributeValues"]:
            raise client_error("InternalServerError")
        return original(**kwargs)

    dynamodb.update_item = fail_completion

    # When the record is processed
    response = process_batch(sqs_event([sqs_record(make_envelope(), message_id="m-1")]), context, consumer)

    # Then the record is retried (never silently lost); the claim's lease makes the retry wait for it to expire
    assert failures(response) == ["m-1"]
    assert handler.calls == 1
    assert dynamodb.item("stripe", "evt_1")["status"] == "processing"


def test_a_handler_finishing_after_its_lease_was_taken_over_is_acknowledged(
    consumer, registry, dynamodb, context, clock, capsys
):
    # Given a handler so slow that its lease expires and another consumer claims the delivery meanwhile
    record = sqs_record(make_envelope(), message_id="m-1")

    def slow(event) -> None:
        clock.advance(120)
        other = ledger.Delivery("stripe", "evt_1", "payment_intent.succeeded", datetime.now(UTC), "m-2")
        ledger.claim_delivery(
            "deliveries", other, owner="other", now=clock(), lease_ms=60_000, ttl_days=30, client=dynamodb
        )

    registry.on(*PAID)(slow)

    # When it finishes
    response = process_batch(sqs_event([record]), FakeLambdaContext(remaining_ms=10_000), consumer)

    # Then its message is acknowledged (the new holder settles the delivery), and the overlap is visible
    assert failures(response) == []
    assert dynamodb.item("stripe", "evt_1")["lease_owner"] == "other"
    assert emf_metrics(capsys.readouterr().out)[("stripe", "LeaseLost")] == [1]


def test_the_lease_covers_the_remaining_invocation_time_plus_the_margin(settings):
    # Given an invocation with 42 s left, and none (local run)
    # When the lease is computed
    # Then it is the remaining time plus the margin, or the default lease plus the margin
    assert lease_ms(FakeLambdaContext(remaining_ms=42_000), settings) == 43_000
    assert lease_ms(None, settings) == 900_000 + 1_000


def test_metrics_carry_the_provider_dimension_one_document_per_provider(consumer, registry, context, capsys):
    # Given handlers for two providers
    registry.on(*PAID)(Recorder())
    registry.on("twilio")(Recorder())
    twilio = make_envelope("twilio", "SM1", "message.status", b"MessageSid=SM1&MessageStatus=sent")

    # When a batch with both is processed
    process_batch(sqs_event([sqs_record(make_envelope()), sqs_record(twilio)]), context, consumer)

    # Then each provider has its own EMF document
    out = capsys.readouterr().out
    published = emf_metrics(out)
    assert published[("stripe", "DeliveriesProcessed")] == [1]
    assert published[("twilio", "DeliveriesProcessed")] == [1]
    assert sum('"_aws"' in line for line in out.splitlines()) == 2


def test_the_batch_never_raises_even_when_every_record_fails(consumer, registry, context):
    # Given a batch where every record fails
    registry.on(*PAID)(Recorder(always_fail=True))
    batch = sqs_event([sqs_record(make_envelope(delivery_id=f"e{n}"), message_id=f"m{n}") for n in range(3)])

    # When processed
    response = process_batch(batch, context, consumer)

    # Then every record is listed for retry in the response, instead of the invocation failing
    assert failures(response) == ["m0", "m1", "m2"]


def test_consumer_defaults_to_lazily_created_clients(settings, registry):
    # Given / When a consumer is built without clients
    consumer = Consumer(settings=settings, registry=registry)

    # Then none exists yet (the layer creates them on first use)
    assert consumer.dynamodb is None and consumer.s3 is None
