from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.unit.consumer.fakes import OVERFLOW_BUCKET, FakeS3, make_envelope
from webhook_gateway.consumer.bodies import BodyIntegrityError, load_body
from webhook_gateway.envelope import BodyRef, Envelope

RAW = b'{"id": "evt_big", "padding": "' + b"x" * 2000 + b'"}'


def by_reference(raw: bytes = RAW, bucket: str = OVERFLOW_BUCKET, key: str = "bodies/evt_big") -> Envelope:
    return make_envelope(delivery_id="evt_big", raw=raw, body_ref=BodyRef(bucket=bucket, key=key, size=len(raw)))


def test_an_inline_body_is_returned_byte_for_byte():
    # Given an inline envelope
    envelope = make_envelope(raw=RAW)

    # When its body is loaded
    # Then the exact bytes come back, and S3 is not touched
    s3 = FakeS3()
    assert load_body(envelope, allowed_buckets=OVERFLOW_BUCKET, client=s3) == RAW
    assert s3.reads == []


def test_a_non_utf8_inline_body_travels_as_base64():
    # Given raw bytes that are not UTF-8
    raw = b"\xff\xfe binary"
    envelope = make_envelope(raw=raw)

    # When loaded
    # Then the original bytes come back
    assert envelope.body_encoding == "base64"
    assert load_body(envelope, allowed_buckets=OVERFLOW_BUCKET) == raw


def test_a_claim_checked_body_is_fetched_from_the_overflow_bucket():
    # Given an envelope whose body is in S3
    s3 = FakeS3({(OVERFLOW_BUCKET, "bodies/evt_big"): RAW})

    # When loaded
    # Then it is read from S3 once and verified
    assert load_body(by_reference(), allowed_buckets=OVERFLOW_BUCKET, client=s3) == RAW
    assert s3.reads == [(OVERFLOW_BUCKET, "bodies/evt_big")]


def test_a_tampered_s3_body_is_refused():
    # Given an S3 object whose bytes differ from what the receiver hashed (same size)
    tampered = RAW.replace(b"x", b"y", 1)
    s3 = FakeS3({(OVERFLOW_BUCKET, "bodies/evt_big"): tampered})

    # When loaded
    # Then the SHA-256 check fails
    with pytest.raises(BodyIntegrityError, match="SHA-256"):
        load_body(by_reference(), allowed_buckets=OVERFLOW_BUCKET, client=s3)


def test_a_truncated_body_is_refused_on_size():
    # Given an S3 object shorter than the envelope says
    s3 = FakeS3({(OVERFLOW_BUCKET, "bodies/evt_big"): RAW[:-1]})

    # When loaded
    # Then the size check fails
    with pytest.raises(BodyIntegrityError, match="bytes"):
        load_body(by_reference(), allowed_buckets=OVERFLOW_BUCKET, client=s3)


def test_a_reference_outside_the_overflow_bucket_is_never_read():
    # Given an envelope pointing at another bucket
    s3 = FakeS3({("someone-elses-bucket", "secrets"): RAW})

    # When loaded
    # Then it is refused before any S3 call
    with pytest.raises(BodyIntegrityError, match="outside"):
        load_body(
            by_reference(bucket="someone-elses-bucket", key="secrets"), allowed_buckets=OVERFLOW_BUCKET, client=s3
        )
    assert s3.reads == []


def test_a_missing_object_raises_the_s3_error():
    # Given an envelope whose object is gone (lifecycle expiry, wrong key)
    # When loaded
    # Then S3's error propagates (the delivery fails and is retried)
    with pytest.raises(ClientError):
        load_body(by_reference(), allowed_buckets=OVERFLOW_BUCKET, client=FakeS3())


def test_an_inline_body_that_does_not_match_its_hash_is_refused():
    # Given an envelope whose inline body was altered after hashing
    envelope = make_envelope(raw=b'{"a": 1}').model_copy(update={"body": '{"a": 2}'})

    # When loaded
    # Then it is refused
    with pytest.raises(BodyIntegrityError):
        load_body(envelope, allowed_buckets=OVERFLOW_BUCKET)


def test_a_base64_body_that_does_not_decode_to_the_hashed_bytes_is_refused():
    # Given a base64 envelope whose body is not valid base64
    raw = b"\xff"
    envelope = make_envelope(raw=raw).model_copy(update={"body": "***"})

    # When loaded
    # Then it is an integrity error, not a crash and not garbage handed to the handler
    assert envelope.body_encoding == "base64"
    with pytest.raises(BodyIntegrityError):
        load_body(envelope, allowed_buckets=OVERFLOW_BUCKET)
