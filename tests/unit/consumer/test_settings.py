from __future__ import annotations

import pytest
from pydantic import ValidationError

from webhook_gateway.consumer.retry import DEFAULT_SCHEDULE, RetryPolicy, parse_schedule
from webhook_gateway.consumer.settings import ConsumerSettings


def test_defaults_apply_when_optional_variables_are_absent_or_empty():
    # Given the template's variables, optional ones empty
    environ = {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "DELIVERY_TTL_DAYS": "", "OTHER": "x"}

    # When the settings are read
    settings = ConsumerSettings.from_env(environ)

    # Then the documented defaults apply
    assert (settings.delivery_ttl_days, settings.max_receive_count, settings.lease_margin_ms) == (30, 20, 1000)


@pytest.mark.parametrize(
    "environ",
    [
        {"OVERFLOW_BUCKET": "overflow"},
        {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "DELIVERY_TTL_DAYS": "0"},
        {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "MAX_RECEIVE_COUNT": "zero"},
    ],
)
def test_a_missing_or_invalid_setting_fails_at_cold_start(environ):
    # Given / When an incomplete or invalid environment is read
    # Then validation fails (the first invocation errors instead of misbehaving)
    with pytest.raises(ValidationError):
        ConsumerSettings.from_env(environ)


BASE = {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow"}


def test_archive_and_retry_defaults_leave_the_archive_off_and_apply_the_default_schedule():
    # Given only the required variables, the new ones empty as the template may leave them
    environ = {**BASE, "ARCHIVE_BUCKET": "", "QUEUE_URL": "", "RETRY_SCHEDULE": ""}

    # When the settings are read
    settings = ConsumerSettings.from_env(environ)

    # Then the archive is off and the default retry policy applies, with the queue's 4-day retention
    assert (settings.archive_retention_days, settings.archive_enabled, settings.archive_bucket) == (0, False, "")
    assert settings.archive_inline_max_bytes == 5_120
    assert (settings.queue_url, settings.dead_letter_queue_url) == ("", "")
    assert settings.retry_policy == RetryPolicy(parse_schedule(DEFAULT_SCHEDULE), 12, 0.2)
    assert settings.queue_retention_seconds == 345_600


def test_the_archive_and_retry_variables_are_read_and_the_policy_built_from_them():
    # Given every new variable set
    environ = {
        **BASE,
        "ARCHIVE_RETENTION_DAYS": "30",
        "ARCHIVE_BUCKET": "archive",
        "ARCHIVE_INLINE_MAX_BYTES": "350000",
        "QUEUE_URL": "https://sqs.example/q",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq",
        "RETRY_SCHEDULE": "10s,1m30s",
        "MAX_ATTEMPTS": "4",
        "QUEUE_RETENTION_SECONDS": "3600",
        "RETRY_JITTER": "0",
    }

    # When the settings are read
    settings = ConsumerSettings.from_env(environ)

    # Then each is kept, and the retry policy is their combination
    assert (settings.archive_enabled, settings.archive_bucket, settings.archive_inline_max_bytes) == (
        True,
        "archive",
        350_000,
    )
    assert (settings.queue_url, settings.dead_letter_queue_url) == ("https://sqs.example/q", "https://sqs.example/dlq")
    assert settings.retry_policy == RetryPolicy((10, 90), 4, 0.0)
    assert settings.retry_policy is settings.retry_policy  # built once per cold start


@pytest.mark.parametrize("bucket", [{}, {"ARCHIVE_BUCKET": ""}, {"ARCHIVE_BUCKET": "ab"}])
def test_an_archive_without_its_bucket_is_refused(bucket):
    # Given archiving on (ARCHIVE_RETENTION_DAYS > 0) without a usable bucket name
    # When the settings are read / Then they are refused, naming the variable
    with pytest.raises(ValidationError, match="ARCHIVE_BUCKET is required when ARCHIVE_RETENTION_DAYS is above 0"):
        ConsumerSettings.from_env({**BASE, "ARCHIVE_RETENTION_DAYS": "1", **bucket})


def test_the_archive_off_needs_no_bucket():
    # Given ARCHIVE_RETENTION_DAYS 0 / When read / Then no bucket is needed
    assert not ConsumerSettings.from_env({**BASE, "ARCHIVE_RETENTION_DAYS": "0"}).archive_enabled


@pytest.mark.parametrize(
    "change",
    [
        {"ARCHIVE_INLINE_MAX_BYTES": "350001"},
        {"ARCHIVE_RETENTION_DAYS": "-1"},
        {"RETRY_SCHEDULE": "13h"},
        {"RETRY_SCHEDULE": "soon"},
        {"MAX_ATTEMPTS": "0"},
        {"RETRY_JITTER": "1"},
        {"QUEUE_RETENTION_SECONDS": "59"},
    ],
)
def test_an_invalid_archive_or_retry_variable_fails_at_cold_start(change):
    # Given one invalid value / When read / Then validation fails
    with pytest.raises(ValidationError):
        ConsumerSettings.from_env({**BASE, **change})


def test_a_schedule_longer_than_the_queue_keeps_a_message_is_refused():
    # Given a schedule whose longest run (12 h + 20 % jitter, held at 11 h 40 min, x 9 waits = 378,000 s) exceeds 4 days
    environ = {**BASE, "RETRY_SCHEDULE": "12h", "MAX_ATTEMPTS": "10", "QUEUE_RETENTION_SECONDS": "345600"}

    # When read / Then refused, with both numbers in the message
    with pytest.raises(ValidationError, match=r"up to 378000 s over 10 attempts.*QUEUE_RETENTION_SECONDS 345600"):
        ConsumerSettings.from_env(environ)


@pytest.mark.parametrize(("retention", "accepted"), [(60, False), (61, True)])
def test_the_schedule_must_end_strictly_before_the_retention(retention, accepted):
    # Given one 60 s wait without jitter, and a retention of exactly that long or a second more
    environ = {**BASE, "RETRY_SCHEDULE": "60s", "MAX_ATTEMPTS": "2", "RETRY_JITTER": "0"}
    environ["QUEUE_RETENTION_SECONDS"] = str(retention)

    # When read / Then only the longer retention is accepted
    if accepted:
        assert ConsumerSettings.from_env(environ).queue_retention_seconds == retention
    else:
        with pytest.raises(ValidationError, match="longer than the queue keeps a message"):
            ConsumerSettings.from_env(environ)


def test_a_copy_with_other_values_derives_its_policy_and_buckets_from_them():
    # Given settings whose retry policy and body buckets have been read once
    settings = ConsumerSettings.from_env({**BASE, "ARCHIVE_RETENTION_DAYS": "30", "ARCHIVE_BUCKET": "archive"})
    assert (settings.retry_policy.max_attempts, settings.body_buckets) == (12, frozenset({"overflow", "archive"}))

    # When a copy changes the values they come from (as tests and scripts do with model_copy)
    copy = settings.model_copy(update={"max_attempts": 3, "retry_schedule": (30,), "archive_bucket": "other"})

    # Then the copy's policy and buckets are its own, not the original's
    assert copy.retry_policy == RetryPolicy((30,), 3, 0.2)
    assert copy.body_buckets == frozenset({"overflow", "other"})
