"""Deliveries whose id the provider does not sign (GitHub): a signed body re-sent under a new id is not processed again.

The ledger key of a GitHub delivery is ``<hook id>:<X-GitHub-Delivery>``, two plain headers: whoever captured one
delivery can re-send its signed body under fresh ones. The consumer therefore also takes the body itself
(``ledger.claim_body``, one more conditional write) and records a second id for the same bytes as
``duplicate_body``.
"""

from __future__ import annotations

import threading
import time

from tests.unit.consumer.fakes import (
    FakeLambdaContext,
    Recorder,
    client_error,
    emf_metrics,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.processor import lease_owner, process_batch
from webhook_gateway.envelope import Envelope

PUSH = b'{"ref": "refs/heads/main", "before": "0", "after": "1", "commits": []}'
PING = b'{"zen": "Design for failure.", "hook_id": 1}'


def github(delivery_id: str, event_type: str = "push", raw: bytes = PUSH):
    return make_envelope("github", delivery_id, event_type, raw, delivery_id_signed=False)


def failures(response) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_new_unsigned_id_delivery_costs_one_extra_conditional_write(consumer, registry, dynamodb, context):
    # Given a push handler
    handler = registry.on("github", "push")(Recorder())
    # When a new GitHub delivery is processed
    response = process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-1")]), context, consumer)
    # Then it ran once, for body claim + claim + complete: one write more than a signed-id delivery, no read
    assert failures(response) == []
    assert len(handler.events) == 1
    assert dynamodb.calls == ["UpdateItem", "UpdateItem", "UpdateItem"]
    body_item = dynamodb.item("github#body", make_envelope("github", raw=PUSH).body_sha256)
    assert body_item["first_delivery_id"] == "1:guid-a"
    assert "status" not in body_item  # never in the by-status index, never listed as a delivery


def test_a_signed_body_resent_under_a_new_delivery_id_is_not_processed_again(
    consumer, registry, dynamodb, context, capsys
):
    # Given a GitHub push that was processed
    handler = registry.on("github", "push")(Recorder())
    process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-1")]), context, consumer)
    capsys.readouterr()
    dynamodb.calls.clear()

    # When the same signed body arrives again under another GUID and hook id (headers nobody signed)
    response = process_batch(sqs_event([sqs_record(github("999:guid-forged"), message_id="m-2")]), context, consumer)

    # Then it is acknowledged, the handler did not run again, and the ledger says whose body it was
    assert failures(response) == []
    assert len(handler.events) == 1
    item = dynamodb.item("github", "999:guid-forged")
    assert (item["status"], item["outcome"], item["duplicate_of"]) == ("processed", "duplicate_body", "1:guid-a")
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]  # the refused body claim + recording the copy
    assert emf_metrics(capsys.readouterr().out)[("github", "DuplicatesDropped")] == [1]


def test_a_ping_body_resent_as_push_never_reaches_the_push_handler(consumer, registry, dynamodb, context):
    # Given a ping that was recorded as skipped (no ping handler), and a push handler
    push_handler = registry.on("github", "push")(Recorder())
    process_batch(sqs_event([sqs_record(github("1:guid-ping", "ping", PING), message_id="m-1")]), context, consumer)
    assert dynamodb.item("github", "1:guid-ping")["outcome"] == "skipped"

    # When the signed ping body is re-sent with X-GitHub-Event: push under a new GUID
    process_batch(sqs_event([sqs_record(github("1:guid-new", "push", PING), message_id="m-2")]), context, consumer)

    # Then the push handler never saw it
    assert push_handler.events == []
    assert dynamodb.item("github", "1:guid-new")["duplicate_of"] == "1:guid-ping"


def test_a_retry_of_the_same_delivery_takes_its_own_body_again(consumer, registry, dynamodb, context):
    # Given a push handler that fails once
    handler = registry.on("github", "push")(Recorder(failures=1))
    envelope = github("1:guid-a")
    # When the delivery is received, fails, and is received again (same id: the provider's retry or SQS's)
    first = process_batch(sqs_event([sqs_record(envelope, message_id="m-1")]), context, consumer)
    second = process_batch(sqs_event([sqs_record(envelope, message_id="m-1", receive_count=2)]), context, consumer)
    # Then the retry is not mistaken for a replay: it is processed on attempt 2
    assert (failures(first), failures(second)) == (["m-1"], [])
    assert handler.calls == 2
    assert [event.attempt for event in handler.events] == [2]
    assert dynamodb.item("github", "1:guid-a")["status"] == "processed"


def test_a_duplicate_under_the_same_id_is_still_one_refused_claim_after_the_body_claim(
    consumer, registry, dynamodb, context
):
    registry.on("github", "push")(Recorder())
    process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-1")]), context, consumer)
    dynamodb.calls.clear()
    process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-2")]), context, consumer)
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    assert dynamodb.item("github", "1:guid-a")["attempts"] == 1


def test_two_ids_racing_with_one_body_run_the_handler_once(consumer, registry, dynamodb):
    # Given a slow handler, and the same signed body under eight different ids, processed concurrently
    handler = registry.on("github", "push")(Recorder(on_call=lambda: time.sleep(0.01)))
    barrier = threading.Barrier(8)

    def deliver(n: int) -> None:
        barrier.wait()
        record = sqs_record(github(f"{n}:guid-{n}"), message_id=f"m-{n}")
        process_batch(sqs_event([record]), FakeLambdaContext(aws_request_id=f"req-{n}"), consumer)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one of them ran the handler; the seven others are recorded as copies of that one
    assert handler.calls == 1
    winner = handler.events[0].delivery_id
    copies = [dynamodb.item("github", f"{n}:guid-{n}") for n in range(8) if f"{n}:guid-{n}" != winner]
    assert {(item["outcome"], item["duplicate_of"]) for item in copies} == {("duplicate_body", winner)}


def test_signed_id_deliveries_pay_no_body_claim(consumer, registry, dynamodb, context):
    # Given a Stripe event (its id is in the signed body)
    registry.on("stripe", "payment_intent.succeeded")(Recorder())
    process_batch(sqs_event([sqs_record(make_envelope(), message_id="m-1")]), context, consumer)
    # Then only claim + complete were written
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]


def test_an_envelope_without_the_flag_is_treated_as_unsigned():
    # Given an envelope queued by a receiver that predates the flag
    envelope = make_envelope("github", "1:a", "push", PUSH).model_dump(exclude={"delivery_id_signed"})
    # Then it gets the body check (the safe side)
    assert Envelope.model_validate(envelope).delivery_id_signed is False


def test_a_throttled_body_claim_retries_the_record_and_holds_nothing(consumer, registry, dynamodb, context):
    # Given the body claim is throttled
    handler = registry.on("github", "push")(Recorder())
    dynamodb.errors.append(client_error("ProvisionedThroughputExceededException"))
    # When the delivery is processed, then again
    first = process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-1")]), context, consumer)
    second = process_batch(sqs_event([sqs_record(github("1:guid-a"), message_id="m-1")]), context, consumer)
    # Then the first attempt is retried without a lease left behind, and the second processes it
    assert (failures(first), failures(second)) == (["m-1"], [])
    assert len(handler.events) == 1


def test_local_lease_owners_are_unique_per_invocation():
    # Given no Lambda context (a local run), the same SQS message received twice at once
    # Then the two receipts never share a lease owner, so one of them is a claim conflict
    assert lease_owner(None, "m-1") != lease_owner(None, "m-1")
    assert lease_owner(FakeLambdaContext(aws_request_id="req-9"), "m-1") == "req-9:m-1"


def test_two_local_receipts_of_one_message_do_not_both_claim(consumer, registry, dynamodb):
    # Given a delivery claimed by one local consumer (no Lambda context) that is still running
    delivery = ledger.Delivery("stripe", "evt_1", "payment_intent.succeeded", make_envelope().received_at, "m-1")
    claim = ledger.claim_delivery(
        "deliveries", delivery, owner=lease_owner(None, "m-1"), now=1_750_000_000, lease_ms=60_000, ttl_days=1,
        client=dynamodb,
    )
    assert claim.status is ledger.ClaimStatus.CLAIMED
    # When a second local consumer receives the same message at the same moment
    handler = registry.on("stripe", "payment_intent.succeeded")(Recorder())
    response = process_batch(sqs_event([sqs_record(make_envelope(), message_id="m-1")]), None, consumer)
    # Then it sees a conflict and does not run the handler
    assert failures(response) == ["m-1"]
    assert handler.events == []
