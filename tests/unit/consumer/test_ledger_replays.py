"""The ledger's retry and replay attributes: run_attempts, next_attempt_at, dead_lettered_at, replay requests and the
replay copy's one-time claim, against the in-memory DynamoDB fake."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.unit.consumer.fakes import DELIVERIES_TABLE, FakeDynamoDB, client_error
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.ledger import ClaimStatus

NOW = 1_750_000_000.0
DELIVERY = ledger.Delivery(
    provider="stripe",
    delivery_id="evt_1",
    event_type="payment_intent.succeeded",
    received_at=datetime(2025, 6, 15, 15, 6, 30, tzinfo=UTC),
    message_id="msg-1",
)


def replay_copy(replay_id: str) -> ledger.Delivery:
    return dataclasses.replace(DELIVERY, replay_id=replay_id, message_id=f"msg-{replay_id}")


def claim(dynamodb, delivery=DELIVERY, owner="me", now=NOW, lease_ms=10_000) -> ledger.Claim:
    return ledger.claim_delivery(
        DELIVERIES_TABLE, delivery, owner=owner, now=now, lease_ms=lease_ms, ttl_days=30, client=dynamodb
    )


DOWN = RuntimeError("down")


def fail(dynamodb, delivery=DELIVERY, owner="me", error=DOWN, **times) -> bool:
    return ledger.fail_delivery(DELIVERIES_TABLE, delivery, owner=owner, error=error, client=dynamodb, **times)


def complete(dynamodb, delivery=DELIVERY, owner="me") -> bool:
    return ledger.complete_delivery(DELIVERIES_TABLE, delivery, owner=owner, now=NOW + 1, client=dynamodb)


def request(dynamodb, replay_id="r-1", now=NOW + 100, by="alice", delivery_id="evt_1") -> int:
    return ledger.request_replay(
        DELIVERIES_TABLE,
        "stripe",
        delivery_id,
        replay_id=replay_id,
        requested_by=by,
        now=now,
        ttl_days=30,
        client=dynamodb,
    )


def processed(dynamodb) -> None:
    claim(dynamodb)
    assert complete(dynamodb)


def test_run_attempts_count_every_claim_since_the_delivery_was_received():
    # Given a delivery that fails twice
    dynamodb = FakeDynamoDB()
    claims = []
    for _ in range(3):
        claims.append(claim(dynamodb))
        fail(dynamodb)

    # Then each claim counted one attempt, in attempts and run_attempts alike
    assert [(c.attempts, c.run_attempts) for c in claims] == [(1, 1), (2, 2), (3, 3)]
    assert dynamodb.item("stripe", "evt_1")["run_attempts"] == 3


def test_a_replay_request_resets_run_attempts_but_not_attempts():
    # Given a delivery that failed three times
    dynamodb = FakeDynamoDB()
    for _ in range(3):
        claim(dynamodb)
        fail(dynamodb)

    # When a replay is requested and its copy claims the delivery
    request(dynamodb)
    again = claim(dynamodb, replay_copy("r-1"))

    # Then the replay starts the schedule over (run_attempts 1) while attempts keeps the whole history
    assert dynamodb.item("stripe", "evt_1")["status"] == "processing"
    assert (again.status, again.attempts, again.run_attempts) == (ClaimStatus.CLAIMED, 4, 1)


def test_a_failure_with_a_retry_due_records_next_attempt_at():
    # Given a claimed delivery
    dynamodb = FakeDynamoDB()
    claim(dynamodb)

    # When it fails with its next attempt due in 60 s
    assert fail(dynamodb, next_attempt_at=NOW + 60)

    # Then the ledger says failed, why, and when it comes back
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["last_error"], item["next_attempt_at"]) == (
        "failed",
        "RuntimeError: down",
        "2025-06-15T15:07:40.000Z",
    )
    assert "lease_expires_at" not in item and "dead_lettered_at" not in item


def test_the_next_claim_removes_next_attempt_at_and_a_short_retry_failure_leaves_none():
    # Given a delivery failed with a retry due
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    fail(dynamodb, next_attempt_at=NOW + 60)

    # When it is claimed again / Then no retry is pending any more
    claim(dynamodb, now=NOW + 61)
    assert "next_attempt_at" not in dynamodb.item("stripe", "evt_1")

    # And a failure with no delay (the queue's short retry) records none
    fail(dynamodb, next_attempt_at=None)
    assert "next_attempt_at" not in dynamodb.item("stripe", "evt_1")


def test_a_failure_recorded_with_a_retry_due_then_without_one_removes_it():
    # Given a delivery whose failure recorded a retry due, still held (the fail is retried by botocore, say)
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    dynamodb.items[DELIVERIES_TABLE][("stripe", "evt_1")]["next_attempt_at"] = {"S": "2025-06-15T15:07:40.000Z"}

    # When its failure is recorded without a delay / Then next_attempt_at is gone
    fail(dynamodb)
    assert "next_attempt_at" not in dynamodb.item("stripe", "evt_1")


def test_a_dead_lettered_failure_records_when_and_keeps_the_last_error_when_none_is_given():
    # Given a delivery that failed once with an error
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    fail(dynamodb, error=ValueError("bad"))

    # When a later attempt (the move to the DLQ, no new error) records it as dead-lettered
    claim(dynamodb)
    assert fail(dynamodb, error=None, dead_lettered_at=NOW + 5)

    # Then the ledger keeps the first error and says when it was dead-lettered
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["last_error"], item["dead_lettered_at"]) == (
        "failed",
        "ValueError: bad",
        "2025-06-15T15:06:45.000Z",
    )
    assert "next_attempt_at" not in item


def test_a_failure_without_an_error_on_a_new_claim_writes_no_last_error():
    # Given a claimed delivery that never failed / When failed without an error / Then no last_error appears
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    fail(dynamodb, error=None)
    assert "last_error" not in dynamodb.item("stripe", "evt_1")


def test_a_replay_request_is_recorded_in_one_conditional_write():
    # Given a processed delivery
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    dynamodb.calls.clear()

    # When two replays are requested
    first = request(dynamodb, "r-1", now=NOW + 100, by="alice")
    second = request(dynamodb, "r-2", now=NOW + 200, by="")

    # Then each is one write; the count, the list, the pending set and the last time say what was asked and by whom
    assert (first, second) == (1, 2)
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    item = dynamodb.item("stripe", "evt_1")
    assert item["replay_count"] == 2
    assert item["pending_replays"] == {"r-1", "r-2"}
    assert item["replays"] == [
        {"id": "r-1", "at": "2025-06-15T15:08:20.000Z", "by": "alice"},
        {"id": "r-2", "at": "2025-06-15T15:10:00.000Z", "by": "unknown"},
    ]
    assert item["last_replay_at"] == "2025-06-15T15:10:00.000Z"
    assert (item["status"], item["run_attempts"]) == ("processed", 0)


def test_a_replay_request_keeps_the_items_expiry_and_sets_one_on_an_absent_item():
    # Given a processed delivery (expiring 30 days after its attempt) and a delivery id never seen
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    expiry = dynamodb.item("stripe", "evt_1")["expires_at"]

    # When replays are requested on both
    request(dynamodb, now=NOW + 86_400)
    request(dynamodb, delivery_id="evt_gone", now=NOW)

    # Then the known item keeps its expiry and the new one gets 30 days from the request
    assert dynamodb.item("stripe", "evt_1")["expires_at"] == expiry == int(NOW) + 30 * 86_400
    absent = dynamodb.item("stripe", "evt_gone")
    assert absent["expires_at"] == int(NOW) + 30 * 86_400
    assert "status" not in absent and absent["pending_replays"] == {"r-1"}


def test_a_replay_request_is_refused_while_a_live_lease_is_held():
    # Given a delivery held by a consumer until NOW + 10 s
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    before = dynamodb.item("stripe", "evt_1")

    # When a replay is requested during the lease / Then it is refused and nothing changes
    with pytest.raises(ledger.ReplayRefused, match="stripe/evt_1 is being processed right now"):
        request(dynamodb, now=NOW + 9.999)
    assert dynamodb.item("stripe", "evt_1") == before

    # And once the lease has expired it is accepted
    assert request(dynamodb, now=NOW + 10.001) == 1


@pytest.mark.parametrize("state", ["absent", "failed", "processed"])
def test_a_replay_request_is_allowed_on_absent_failed_and_processed_deliveries(state):
    # Given a delivery in that state
    dynamodb = FakeDynamoDB()
    if state != "absent":
        claim(dynamodb)
        (complete if state == "processed" else fail)(dynamodb)

    # When a replay is requested / Then it is recorded
    assert request(dynamodb) == 1
    assert dynamodb.item("stripe", "evt_1")["pending_replays"] == {"r-1"}


def test_a_replay_request_propagates_errors_other_than_the_lease():
    # Given a throttled table / When a replay is requested / Then the error propagates (not a refusal)
    dynamodb = FakeDynamoDB()
    dynamodb.errors.append(client_error("ProvisionedThroughputExceededException"))
    with pytest.raises(Exception, match="ProvisionedThroughputExceededException") as raised:
        request(dynamodb)
    assert not isinstance(raised.value, ledger.ReplayRefused)


@pytest.mark.parametrize("state", ["absent", "failed", "processed"])
def test_a_replay_copy_claims_once_per_request_then_is_a_duplicate(state):
    # Given a delivery in that state, and a replay requested for it
    dynamodb = FakeDynamoDB()
    if state != "absent":
        claim(dynamodb)
        (complete if state == "processed" else fail)(dynamodb)
    request(dynamodb, "r-1")

    # When the replay copy claims it and completes, and a second copy of the same request arrives
    first = claim(dynamodb, replay_copy("r-1"), owner="replayer", now=NOW + 200)
    assert complete(dynamodb, replay_copy("r-1"), owner="replayer")
    second = claim(dynamodb, replay_copy("r-1"), owner="other", now=NOW + 300)

    # Then the first consumed the request, and the second is a duplicate
    assert first.status is ClaimStatus.CLAIMED and first.run_attempts == 1
    assert second.status is ClaimStatus.DUPLICATE
    item = dynamodb.item("stripe", "evt_1")
    assert "pending_replays" not in item
    assert (item["status"], item["lease_owner"]) == ("processed", "replayer")


def test_a_replay_copy_without_a_pending_request_is_a_duplicate_of_a_processed_delivery():
    # Given a processed delivery with no replay requested
    dynamodb = FakeDynamoDB()
    processed(dynamodb)

    # When a copy carrying an unknown replay id claims it / Then it is a duplicate
    assert claim(dynamodb, replay_copy("r-unknown")).status is ClaimStatus.DUPLICATE


def test_two_pending_replays_each_run_once():
    # Given a processed delivery with two replay requests
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    request(dynamodb, "r-1")
    request(dynamodb, "r-2")

    # When each copy claims and completes, and the first is delivered again
    outcomes = []
    for replay_id in ("r-1", "r-2", "r-1"):
        result = claim(dynamodb, replay_copy(replay_id), owner=replay_id, now=NOW + 200)
        outcomes.append(result.status)
        if result.status is ClaimStatus.CLAIMED:
            complete(dynamodb, replay_copy(replay_id), owner=replay_id)

    # Then each request ran once
    assert outcomes == [ClaimStatus.CLAIMED, ClaimStatus.CLAIMED, ClaimStatus.DUPLICATE]
    assert "pending_replays" not in dynamodb.item("stripe", "evt_1")


def test_a_plain_copy_never_claims_a_processed_delivery_even_with_a_replay_pending():
    # Given a processed delivery with a replay pending
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    request(dynamodb, "r-1")

    # When the provider's own retry (no replay id) arrives / Then it is a duplicate and the request stays pending
    assert claim(dynamodb).status is ClaimStatus.DUPLICATE
    assert dynamodb.item("stripe", "evt_1")["pending_replays"] == {"r-1"}


def test_a_replay_copy_still_conflicts_with_a_live_lease():
    # Given a delivery held by a consumer, with a replay id pending from before
    dynamodb = FakeDynamoDB()
    request(dynamodb, "r-1", now=NOW - 10)
    claim(dynamodb, owner="first")

    # When the replay copy tries to claim it during the lease / Then it conflicts, the request still pending
    result = claim(dynamodb, replay_copy("r-1"), owner="second", now=NOW + 1)
    assert (result.status, result.lease_owner) == (ClaimStatus.CONFLICT, "first")
    assert dynamodb.item("stripe", "evt_1")["pending_replays"] == {"r-1"}


def test_a_replay_copy_with_no_handler_is_recorded_skipped_and_consumes_its_request():
    # Given a processed delivery with a replay pending
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    request(dynamodb, "r-1")

    # When the copy is recorded as skipped (no handler any more), twice
    skip = [
        ledger.record_skipped(
            DELIVERIES_TABLE, replay_copy("r-1"), owner="me", now=NOW + 200, ttl_days=30, client=dynamodb
        )
        for _ in range(2)
    ]

    # Then the first is recorded, the second a duplicate, and the request is consumed
    assert [result.status for result in skip] == [ClaimStatus.CLAIMED, ClaimStatus.DUPLICATE]
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["outcome"]) == ("processed", "skipped")
    assert "pending_replays" not in item


def test_a_replay_copy_recorded_as_a_duplicate_body_consumes_its_request():
    # Given a processed delivery with a replay pending
    dynamodb = FakeDynamoDB()
    processed(dynamodb)
    request(dynamodb, "r-1")

    # When the copy is recorded as a duplicate body, twice
    results = [
        ledger.record_duplicate_body(
            DELIVERIES_TABLE,
            replay_copy("r-1"),
            duplicate_of="evt_0",
            owner="me",
            now=NOW + 200,
            ttl_days=30,
            client=dynamodb,
        )
        for _ in range(2)
    ]

    # Then the first is recorded with duplicate_of, the second a duplicate, and the request is consumed
    assert [result.status for result in results] == [ClaimStatus.CLAIMED, ClaimStatus.DUPLICATE]
    item = dynamodb.item("stripe", "evt_1")
    assert (item["outcome"], item["duplicate_of"]) == ("duplicate_body", "evt_0")
    assert "pending_replays" not in item
