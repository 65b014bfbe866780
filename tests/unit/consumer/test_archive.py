"""The archive: where a body goes (inline or S3), what the item holds, reading it back checked, and the replay
envelope built from it; against the in-memory DynamoDB and S3 fakes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from tests.unit.consumer.fakes import (
    ARCHIVE_BUCKET,
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeDynamoDB,
    FakeS3,
    client_error,
    make_envelope,
)
from webhook_gateway.consumer import archive
from webhook_gateway.consumer.archive import ArchiveIntegrityError, archive_delivery, load_archived
from webhook_gateway.envelope import BatchPosition, BodyRef, Envelope, ReplayRequest

NOW = 1_750_000_000.0
LIMIT = 1_000  # above make_envelope()'s default body (about 110 bytes)
REPLAY = ReplayRequest(id="r-1", requested_at=datetime(2025, 6, 20, tzinfo=UTC), requested_by="alice")


def store(envelope: Envelope, dynamodb: FakeDynamoDB, s3: FakeS3, *, now: float = NOW, limit: int = LIMIT) -> str:
    return archive_delivery(
        envelope,
        table_name=DELIVERIES_TABLE,
        bucket=ARCHIVE_BUCKET,
        now=now,
        retention_days=30,
        inline_max_bytes=limit,
        dynamodb=dynamodb,
        s3=s3,
    )


def load(dynamodb: FakeDynamoDB, s3: FakeS3, delivery_id: str = "evt_1") -> archive.ArchivedDelivery | None:
    return load_archived(DELIVERIES_TABLE, "stripe", delivery_id, dynamodb=dynamodb, s3=s3)


def archive_item(dynamodb: FakeDynamoDB, delivery_id: str = "evt_1") -> dict:
    return dynamodb.items[DELIVERIES_TABLE][("stripe#archive", delivery_id)]


@pytest.mark.parametrize(("size", "location"), [(LIMIT - 1, "inline"), (LIMIT, "inline"), (LIMIT + 1, "s3")])
def test_a_body_up_to_the_inline_limit_stays_in_the_item_one_byte_more_goes_to_s3(size, location):
    # Given a body just under, exactly at, and one byte over ARCHIVE_INLINE_MAX_BYTES
    raw = b"x" * size
    dynamodb, s3 = FakeDynamoDB(), FakeS3()

    # When it is archived
    where = store(make_envelope(raw=raw), dynamodb, s3)

    # Then it lives where the limit says, and reads back byte for byte
    assert where == location
    item = archive_item(dynamodb)
    sha = hashlib.sha256(raw).hexdigest()
    if location == "inline":
        assert item["body"] == {"B": raw}
        assert "body_bucket" not in item and s3.writes == []
    else:
        assert "body" not in item
        assert (item["body_bucket"], item["body_key"]) == ({"S": ARCHIVE_BUCKET}, {"S": f"stripe/{sha}"})
        assert s3.objects[(ARCHIVE_BUCKET, f"stripe/{sha}")] == raw
        assert s3.metadata[(ARCHIVE_BUCKET, f"stripe/{sha}")] == {"sha256": sha}
        assert s3.content_types[(ARCHIVE_BUCKET, f"stripe/{sha}")] == "application/octet-stream"
        assert s3.writes == ["PutObject"]
    assert (item["body_sha256"], item["body_size"]) == ({"S": sha}, {"N": str(size)})
    assert load(dynamodb, s3).raw == raw


def test_the_archive_item_is_one_update_in_its_own_partition_with_its_expiry_and_archive_time():
    # Given a delivery archived
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    assert store(make_envelope(), dynamodb, s3) == "inline"

    # Then it was one UpdateItem on <provider>#archive, in no index (no status, no last_attempt_at)
    assert dynamodb.calls == ["UpdateItem"]
    assert list(dynamodb.items[DELIVERIES_TABLE]) == [("stripe#archive", "evt_1")]
    item = archive_item(dynamodb)
    assert item["archived_at"] == {"S": "2025-06-15T15:06:40.000Z"}
    assert item["expires_at"] == {"N": str(int(NOW) + 30 * 86_400)}
    assert "status" not in item and "last_attempt_at" not in item
    loaded = load(dynamodb, s3)
    assert (loaded.archived_at, loaded.expires_at) == ("2025-06-15T15:06:40.000Z", int(NOW) + 30 * 86_400)


@pytest.mark.parametrize(
    ("later", "limit"),
    [
        (make_envelope(), LIMIT),  # a retried record, or the provider's retry with the same bytes
        (make_envelope(raw=b'{"id": "evt_1", "attemptNumber": 1}'), LIMIT),  # the same id with other bytes
        (make_envelope(raw=b"z" * (LIMIT + 1), headers={"x-retry": "1"}), LIMIT),  # other bytes, S3-sized
        (make_envelope(), 0),  # the same bytes with a lower inline limit (a redeploy)
    ],
)
def test_a_later_copy_leaves_the_first_archived_copy_as_it_is(later, limit):
    # Given a delivery archived a day ago
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    first = make_envelope()
    store(first, dynamodb, s3)
    before = dict(archive_item(dynamodb))

    # When a later copy of it is archived
    where = store(later, dynamodb, s3, now=NOW + 86_400, limit=limit)

    # Then nothing changed (one refused conditional write), and the answer is where the first copy's body is
    assert where == "inline"
    assert archive_item(dynamodb) == before
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]
    assert load(dynamodb, s3).raw == first.inline_body_bytes()


def test_a_later_copy_of_an_s3_archived_body_answers_s3():
    # Given a large body archived in S3 / When the same delivery is archived again / Then it is still in S3
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    raw = b"y" * (LIMIT + 1)
    store(make_envelope(raw=raw), dynamodb, s3)
    assert store(make_envelope(raw=raw), dynamodb, s3, limit=10 * LIMIT) == "s3"
    assert "body" not in archive_item(dynamodb) and load(dynamodb, s3).raw == raw


def test_an_expired_archive_item_is_archived_anew():
    # Given an archive item past its expiry that DynamoDB has not deleted yet (TTL deletes lag)
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    store(make_envelope(raw=b"old"), dynamodb, s3)
    expired = NOW + 30 * 86_400

    # When the delivery comes again at its expiry (new to the ledger too: processed again) / Then it is rewritten
    store(make_envelope(raw=b"new"), dynamodb, s3, now=expired)
    assert load(dynamodb, s3).raw == b"new"
    assert archive_item(dynamodb)["archived_at"] == {"S": "2025-07-15T15:06:40.000Z"}

    # And a second earlier than that, it would not have been
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    store(make_envelope(raw=b"old"), dynamodb, s3)
    store(make_envelope(raw=b"new"), dynamodb, s3, now=expired - 1)
    assert load(dynamodb, s3).raw == b"old"


def test_an_archive_write_error_other_than_the_condition_propagates():
    # Given a throttled table / When a delivery is archived / Then the error propagates (the record is retried)
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    dynamodb.errors.append(client_error("ProvisionedThroughputExceededException"))
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        store(make_envelope(), dynamodb, s3)


def test_a_claim_checked_body_is_copied_server_side_to_the_archive_bucket():
    # Given a body the receiver claim-checked to the overflow bucket (whatever its size)
    raw = b"large body"
    s3 = FakeS3({(OVERFLOW_BUCKET, "stripe/evt_1"): raw})
    envelope = make_envelope(raw=raw, body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="stripe/evt_1", size=len(raw)))
    dynamodb = FakeDynamoDB()

    # When it is archived
    where = store(envelope, dynamodb, s3, limit=LIMIT)

    # Then the object is copied (never read by the consumer) and the item points at the copy
    sha = hashlib.sha256(raw).hexdigest()
    assert where == "s3"
    assert s3.writes == ["CopyObject"] and s3.reads == []
    assert s3.objects[(ARCHIVE_BUCKET, f"stripe/{sha}")] == raw
    assert s3.metadata[(ARCHIVE_BUCKET, f"stripe/{sha}")] == {"sha256": sha}
    # The archive object is bytes, whatever the overflow object said it was
    assert s3.content_types[(ARCHIVE_BUCKET, f"stripe/{sha}")] == "application/octet-stream"
    assert load(dynamodb, s3).raw == raw


def test_an_s3_failure_propagates_and_writes_no_item():
    # Given an S3 that refuses the write
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    s3.errors.append(RuntimeError("S3 down"))

    # When a large body is archived / Then the error propagates and no archive item points at a missing object
    with pytest.raises(RuntimeError, match="S3 down"):
        store(make_envelope(raw=b"z" * (LIMIT + 1)), dynamodb, s3)
    assert dynamodb.items[DELIVERIES_TABLE] == {}


def test_the_metadata_is_the_envelope_without_its_body_its_reference_or_a_replay():
    # Given an envelope with headers, a batch position and a replay request, its body by reference
    raw = b"event"
    envelope = make_envelope(
        raw=raw, body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="k", size=5), headers={"stripe-signature": "t=1,v1=ab"}
    ).model_copy(update={"batch": BatchPosition(index=1, count=3, request_sha256="c" * 64), "replay": REPLAY})

    # When its metadata is taken
    metadata = json.loads(archive.envelope_metadata(envelope))

    # Then the body, its reference and the replay are left out, and everything else is kept
    assert not {"body", "body_ref", "replay"} & set(metadata)
    assert metadata["headers"] == {"stripe-signature": "t=1,v1=ab"}
    assert metadata["batch"] == {"index": 1, "count": 3, "request_sha256": "c" * 64}
    assert (metadata["body_sha256"], metadata["body_size"]) == (hashlib.sha256(raw).hexdigest(), 5)
    # An unset optional field is left out, as the receiver leaves it out of the SQS message
    assert "batch" not in json.loads(archive.envelope_metadata(make_envelope()))
    assert "provider_kind" not in json.loads(archive.envelope_metadata(make_envelope()))


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00binary \x80", "caf\u00e9 \u2603".encode(), b"plain"])
def test_inline_binary_and_non_ascii_bodies_round_trip_byte_for_byte(raw):
    # Given bodies that are not UTF-8, UTF-8 beyond ASCII, and ASCII
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    envelope = make_envelope(raw=raw, headers={"x-h": "v"})

    # When archived and read back
    store(envelope, dynamodb, s3)
    loaded = load(dynamodb, s3)

    # Then the bytes, the headers and the envelope fields are what was received, read consistently, no object named
    assert (loaded.raw, loaded.location, loaded.headers) == (raw, "inline", {"x-h": "v"})
    assert (loaded.body_bucket, loaded.body_key) == ("", "")
    assert dynamodb.consistent_reads == [True]
    assert loaded.metadata["delivery_id"] == "evt_1"
    assert loaded.metadata["body_encoding"] == envelope.body_encoding


def test_nothing_archived_reads_back_as_none():
    # Given an empty table / When loaded / Then None
    assert load(FakeDynamoDB(), FakeS3()) is None


def test_a_changed_inline_byte_is_an_integrity_error():
    # Given an archived body one byte of which is then changed (same size)
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    store(make_envelope(raw=b"abcdef"), dynamodb, s3)
    archive_item(dynamodb)["body"] = {"B": b"abcdeF"}

    # When read back / Then refused
    with pytest.raises(ArchiveIntegrityError, match="stripe/evt_1 is 6 bytes and does not match its recorded SHA-256"):
        load(dynamodb, s3)


def test_a_changed_size_is_an_integrity_error_even_if_the_hash_matched():
    # Given an archived body whose recorded size is then changed
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    store(make_envelope(raw=b"abcdef"), dynamodb, s3)
    archive_item(dynamodb)["body_size"] = {"N": "7"}

    # When read back / Then refused
    with pytest.raises(ArchiveIntegrityError):
        load(dynamodb, s3)


def test_a_changed_s3_object_is_an_integrity_error():
    # Given a body archived in S3, one byte of which is then changed, then one byte appended
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    raw = b"q" * (LIMIT + 1)
    store(make_envelope(raw=raw), dynamodb, s3)
    key = (ARCHIVE_BUCKET, archive_item(dynamodb)["body_key"]["S"])

    for changed in (b"Q" + raw[1:], raw + b"q"):
        s3.objects[key] = changed
        # When read back / Then refused
        with pytest.raises(ArchiveIntegrityError):
            load(dynamodb, s3)


def test_an_inline_archive_replays_as_an_inline_envelope_with_the_replay_attached():
    # Given a binary body archived inline
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    raw = b"\x00\xffbinary"
    original = make_envelope(raw=raw, headers={"stripe-signature": "sig"})
    store(original, dynamodb, s3)

    # When the replay envelope is built
    replay = load(dynamodb, s3).envelope_for_replay(REPLAY)

    # Then it is the original delivery, same bytes and hash, plus the replay request
    assert replay.replay == REPLAY
    assert (replay.body_ref, replay.inline_body_bytes(), replay.body_encoding) == (None, raw, "base64")
    assert (replay.body_sha256, replay.body_size) == (original.body_sha256, len(raw))
    assert replay.model_dump(exclude={"replay"}) == original.model_dump(exclude={"replay"})


def test_an_s3_archive_replays_by_reference_to_the_archive_object():
    # Given a body archived in S3
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    raw = "\u00e9".encode() * LIMIT
    original = make_envelope(raw=raw)
    store(original, dynamodb, s3)
    loaded = load(dynamodb, s3)

    # When the replay envelope is built
    replay = loaded.envelope_for_replay(REPLAY)

    # Then it points at the archive object, with the recorded hash and size, and the replay attached
    assert replay.body is None
    assert replay.body_ref == BodyRef(bucket=ARCHIVE_BUCKET, key=loaded.body_key, size=len(raw))
    assert (loaded.body_bucket, loaded.body_key) == (ARCHIVE_BUCKET, f"stripe/{original.body_sha256}")
    assert (replay.body_sha256, replay.body_size, replay.replay) == (original.body_sha256, len(raw), REPLAY)
    assert replay.delivery_id == original.delivery_id


def test_an_inline_replay_that_no_longer_fits_in_one_sqs_message_is_refused():
    # Given an archived inline body whose envelope would exceed one SQS message (a limit raised by hand)
    raw = b"\xff" * 800_000  # base64: about 1.07 MB
    archived = archive.ArchivedDelivery(
        metadata=json.loads(archive.envelope_metadata(make_envelope(raw=raw))),
        raw=raw,
        location=archive.LOCATION_INLINE,
        archived_at="",
        expires_at=0,
    )

    # When the replay envelope is built / Then refused
    with pytest.raises(ArchiveIntegrityError, match="no longer fits in one SQS message"):
        archived.envelope_for_replay(REPLAY)


def test_the_object_key_is_content_addressed_per_provider():
    # Given / When the key for a body hash is built / Then it is <provider>/<lowercase sha>
    assert archive.object_key("github", "ABC") == "github/abc"
    assert archive.archive_key("github", "d-1") == {"provider": {"S": "github#archive"}, "delivery_id": {"S": "d-1"}}


def test_an_item_without_its_optional_times_loads_with_empty_ones():
    # Given an archive item without archived_at and expires_at (written by hand, or by an older consumer)
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    store(make_envelope(), dynamodb, s3)
    del archive_item(dynamodb)["archived_at"], archive_item(dynamodb)["expires_at"]

    # When loaded / Then the body is there and the times are empty, not an error
    loaded = load(dynamodb, s3)
    assert (loaded.archived_at, loaded.expires_at) == ("", 0)
    assert loaded.raw == make_envelope().inline_body_bytes()


def test_an_s3_archive_whose_metadata_still_holds_a_body_replays_by_reference_only():
    # Given archived metadata that still carries an inline body (written by hand), the body archived in S3
    raw = b"payload"
    metadata = json.loads(archive.envelope_metadata(make_envelope(raw=raw)))
    metadata["body"] = "stale"
    archived = archive.ArchivedDelivery(
        metadata=metadata,
        raw=raw,
        location=archive.LOCATION_S3,
        archived_at="",
        expires_at=0,
        body_bucket=ARCHIVE_BUCKET,
        body_key="stripe/k",
    )

    # When the replay envelope is built / Then it travels by reference alone
    replay = archived.envelope_for_replay(REPLAY)
    assert (replay.body, replay.body_ref) == (None, BodyRef(bucket=ARCHIVE_BUCKET, key="stripe/k", size=len(raw)))


def test_an_inline_replay_of_exactly_one_sqs_message_is_accepted_one_byte_more_is_refused():
    # Given archived ASCII bodies whose replay envelope is exactly the SQS limit, and one byte over
    def archived_of(size: int) -> archive.ArchivedDelivery:
        raw = b"a" * size
        metadata = json.loads(archive.envelope_metadata(make_envelope(raw=raw)))
        return archive.ArchivedDelivery(metadata, raw, archive.LOCATION_INLINE, "", 0)

    guess = 999_000  # body_size has as many digits as the answer: the envelope's overhead is the same
    overhead = len(archived_of(guess).envelope_for_replay(REPLAY).sqs_message_body().encode()) - guess
    fits = archive.REPLAY_INLINE_LIMIT_BYTES - overhead
    at_limit = archived_of(fits).envelope_for_replay(REPLAY)

    # When built / Then the message of exactly the limit is accepted, the next size refused
    assert len(at_limit.sqs_message_body().encode()) == archive.REPLAY_INLINE_LIMIT_BYTES
    with pytest.raises(ArchiveIntegrityError):
        archived_of(fits + 1).envelope_for_replay(REPLAY)


def test_an_archive_write_error_without_an_error_code_propagates_as_it_is():
    # Given a ClientError that carries no Error element (botocore allows it) / When archiving / Then it propagates
    dynamodb, s3 = FakeDynamoDB(), FakeS3()
    dynamodb.errors.append(ClientError({}, "UpdateItem"))
    with pytest.raises(ClientError):
        store(make_envelope(), dynamodb, s3)
