"""The ledger's conditional writes, against the in-memory DynamoDB fake (same semantics as DynamoDB)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

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
    body_location="inline",
)


def claim(dynamodb: FakeDynamoDB, owner: str = "me", now: float = NOW, lease_ms: int = 10_000) -> ledger.Claim:
    return ledger.claim_delivery(
        DELIVERIES_TABLE, DELIVERY, owner=owner, now=now, lease_ms=lease_ms, ttl_days=30, client=dynamodb
    )


def test_claiming_a_new_delivery_writes_the_whole_audit_record():
    # Given an empty ledger
    dynamodb = FakeDynamoDB()

    # When a consumer claims a delivery
    result = claim(dynamodb)

    # Then it holds the lease, with one write and the schema's readable attributes
    assert result == ledger.Claim(ClaimStatus.CLAIMED, attempts=1, run_attempts=1)
    assert dynamodb.calls == ["UpdateItem"]
    assert dynamodb.item("stripe", "evt_1") == {
        "provider": "stripe",
        "delivery_id": "evt_1",
        "status": "processing",
        "attempts": 1,
        "run_attempts": 1,
        "first_seen_at": "2025-06-15T15:06:40.000Z",
        "last_attempt_at": "2025-06-15T15:06:40.000Z",
        "lease_owner": "me",
        "lease_expires_at": int(NOW * 1000) + 10_000,
        "event_type": "payment_intent.succeeded",
        "received_at": "2025-06-15T15:06:30.000Z",
        "message_id": "msg-1",
        "body_location": "inline",
        "expires_at": int(NOW) + 30 * 86_400,
    }


def test_a_live_lease_is_a_conflict_and_leaves_the_item_untouched():
    # Given a delivery another consumer claimed a second ago
    dynamodb = FakeDynamoDB()
    claim(dynamodb, owner="other")
    before = dynamodb.item("stripe", "evt_1")

    # When this consumer tries to claim it
    result = claim(dynamodb, owner="me", now=NOW + 1)

    # Then it learns who holds it, from the failed write itself (no read)
    assert result.status is ClaimStatus.CONFLICT
    assert (result.lease_owner, result.lease_expires_at) == ("other", int(NOW * 1000) + 10_000)
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    assert dynamodb.item("stripe", "evt_1") == before


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_can_no_longer_settle():
    # Given a consumer that claimed the delivery and died (its lease was never released)
    dynamodb = FakeDynamoDB()
    claim(dynamodb, owner="dead", lease_ms=5_000)

    # When another consumer claims it after the lease expired
    result = claim(dynamodb, owner="me", now=NOW + 5.001)

    # Then the claim succeeds as a second attempt, and the dead consumer's late writes are refused
    assert result == ledger.Claim(ClaimStatus.CLAIMED, attempts=2, run_attempts=2)
    assert not ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="dead", now=NOW + 6, client=dynamodb)
    assert not ledger.fail_delivery(DELIVERIES_TABLE, DELIVERY, owner="dead", error=ValueError(), client=dynamodb)
    assert dynamodb.item("stripe", "evt_1")["lease_owner"] == "me"
    assert dynamodb.item("stripe", "evt_1")["status"] == "processing"


def test_the_lease_is_still_live_at_its_last_millisecond():
    # Given a lease ending at NOW + 5 s
    dynamodb = FakeDynamoDB()
    claim(dynamodb, owner="other", lease_ms=5_000)

    # When another consumer tries exactly at that instant
    result = claim(dynamodb, owner="me", now=NOW + 5)

    # Then it is still a conflict (expiry is strictly in the past)
    assert result.status is ClaimStatus.CONFLICT


def test_completion_marks_processed_and_releases_the_lease():
    # Given a claimed delivery
    dynamodb = FakeDynamoDB()
    claim(dynamodb)

    # When its holder completes it
    completed = ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="me", now=NOW + 0.25, client=dynamodb)

    # Then it is processed/handled, the lease expiry is gone and the holder stays on record
    item = dynamodb.item("stripe", "evt_1")
    assert completed
    assert (item["status"], item["outcome"]) == ("processed", "handled")
    assert item["processed_at"] == "2025-06-15T15:06:40.250Z"
    assert "lease_expires_at" not in item
    assert item["lease_owner"] == "me"


def test_completion_gives_the_next_replay_the_whole_retry_budget():
    # Given a delivery that failed once, then was claimed again
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    ledger.fail_delivery(DELIVERIES_TABLE, DELIVERY, owner="me", error=RuntimeError("503"), client=dynamodb)
    assert claim(dynamodb, owner="again", now=NOW + 60).run_attempts == 2

    # When it completes
    ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="again", now=NOW + 61, client=dynamodb)

    # Then run_attempts (what MAX_ATTEMPTS counts) starts again; attempts keeps the history
    item = dynamodb.item("stripe", "evt_1")
    assert (item["run_attempts"], item["attempts"]) == (0, 2)


def test_a_processed_delivery_is_a_duplicate_for_one_failed_write():
    # Given a processed delivery
    dynamodb = FakeDynamoDB()
    claim(dynamodb, owner="first")
    ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="first", now=NOW, client=dynamodb)
    dynamodb.calls.clear()

    # When the same delivery is claimed again
    result = claim(dynamodb, owner="second", now=NOW + 60)

    # Then it is a duplicate, known from the single conditional write, and nothing changed
    assert result == ledger.Claim(ClaimStatus.DUPLICATE, attempts=1, outcome="handled")
    assert dynamodb.calls == ["UpdateItem"]
    assert dynamodb.item("stripe", "evt_1")["lease_owner"] == "first"


def test_failure_records_a_short_error_and_the_delivery_is_claimable_again():
    # Given a claimed delivery whose handler raised with a long, multi-line message
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    error = RuntimeError("line one\nline two " + "x" * 500)

    # When the failure is recorded
    recorded = ledger.fail_delivery(DELIVERIES_TABLE, DELIVERY, owner="me", error=error, client=dynamodb)

    # Then the item is failed with a one-line error of at most 300 characters, and the next claim is attempt 2
    item = dynamodb.item("stripe", "evt_1")
    assert recorded
    assert item["status"] == "failed"
    assert item["last_error"].startswith("RuntimeError: line one line two xxx")
    assert len(item["last_error"]) == 300
    assert "lease_expires_at" not in item
    assert claim(dynamodb, owner="next", now=NOW + 1) == ledger.Claim(ClaimStatus.CLAIMED, attempts=2, run_attempts=2)
    assert dynamodb.item("stripe", "evt_1")["first_seen_at"] == "2025-06-15T15:06:40.000Z"


def test_a_retried_claim_whose_first_try_landed_is_still_ours():
    # Given a claim that was applied but whose response was lost (botocore retries the same request)
    dynamodb = FakeDynamoDB()
    claim(dynamodb, owner="me")

    # When the same owner's request arrives again
    result = claim(dynamodb, owner="me", now=NOW + 0.1)

    # Then it is recognised as our own claim, without counting another attempt
    assert result.status is ClaimStatus.CLAIMED
    assert result.attempts == 1
    assert dynamodb.item("stripe", "evt_1")["attempts"] == 1


def test_a_retried_completion_whose_first_try_landed_reports_success():
    # Given a completion that was applied but whose response was lost
    dynamodb = FakeDynamoDB()
    claim(dynamodb)
    ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="me", now=NOW, client=dynamodb)

    # When it is sent again
    completed = ledger.complete_delivery(DELIVERIES_TABLE, DELIVERY, owner="me", now=NOW, client=dynamodb)

    # Then it reports success
    assert completed


def test_skipping_records_processed_skipped_in_one_write_and_is_idempotent():
    # Given an empty ledger
    dynamodb = FakeDynamoDB()

    # When a delivery without handler is recorded twice, by two messages
    first = ledger.record_skipped(DELIVERIES_TABLE, DELIVERY, owner="a", now=NOW, ttl_days=30, client=dynamodb)
    second = ledger.record_skipped(DELIVERIES_TABLE, DELIVERY, owner="b", now=NOW + 1, ttl_days=30, client=dynamodb)

    # Then the first is recorded as processed/skipped in one write, the second is a duplicate
    assert first == ledger.Claim(ClaimStatus.CLAIMED, attempts=1, run_attempts=1)
    assert second.status is ClaimStatus.DUPLICATE
    assert second.outcome == "skipped"
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["outcome"], item["attempts"]) == ("processed", "skipped", 1)
    assert "lease_expires_at" not in item
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_errors_other_than_a_failed_condition_propagate(code):
    # Given DynamoDB throttling (after botocore's own retries) or failing
    dynamodb = FakeDynamoDB()
    dynamodb.errors.append(client_error(code))

    # When a consumer claims a delivery
    # Then the error reaches the caller (who must retry the record) and nothing was written
    with pytest.raises(ClientError) as raised:
        claim(dynamodb)
    assert raised.value.response["Error"]["Code"] == code
    assert dynamodb.item("stripe", "evt_1") is None


def test_timestamps_are_fixed_width_utc_and_sort_like_instants():
    # Given instants across a second boundary and a rounding edge
    instants = [1_750_000_000.0, 1_750_000_000.9996, 1_750_000_001.5, 1_750_000_010.0]

    # When they are formatted
    texts = [ledger.iso_utc(instant) for instant in instants]

    # Then they are ISO-8601 with milliseconds and Z, fixed width, in the same order
    assert texts[:2] == ["2025-06-15T15:06:40.000Z", "2025-06-15T15:06:41.000Z"]
    assert len(set(map(len, texts))) == 1
    assert texts == sorted(texts)


def test_a_naive_received_at_is_taken_as_utc():
    # Given a naive datetime
    naive = datetime(2025, 6, 15, 15, 6, 30)

    # When converted to epoch seconds
    # Then it is the UTC instant, whatever the host's time zone
    assert ledger.datetime_to_epoch(naive) == datetime(2025, 6, 15, 15, 6, 30, tzinfo=UTC).timestamp()
