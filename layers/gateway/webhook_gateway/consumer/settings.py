"""Consumer settings, validated once per cold start from the environment the template declares."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from webhook_gateway.consumer.publishing import EventFilter, parse_filter
from webhook_gateway.consumer.retry import (
    DEFAULT_JITTER,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SCHEDULE,
    RetryPolicy,
    parse_schedule,
)

# DynamoDB's item limit is 400 KB; an archive item also holds the delivery's metadata (headers, ids, times).
MAX_ARCHIVE_INLINE_BYTES = 350_000


class ConsumerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, ignored_types=(cached_property,))

    # The deliveries ledger (idempotency record and audit trail), see webhook_gateway.consumer.ledger.
    table_name: str = Field(alias="TABLE_NAME", min_length=3, max_length=255)
    # The only bucket a claim-checked body may be fetched from (the receivers' overflow bucket).
    overflow_bucket: str = Field(alias="OVERFLOW_BUCKET", min_length=3, max_length=63)
    # Ledger items expire (DynamoDB TTL) this long after their last attempt; a provider retry arriving later than
    # this is processed again, so keep it above every provider's retry horizon (Stripe: 3 days).
    delivery_ttl_days: int = Field(alias="DELIVERY_TTL_DAYS", default=30, gt=0, le=3650)
    # Must equal the queue's redrive policy maxReceiveCount: a record failing on that receive is dead-lettered.
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", default=20, ge=1, le=1000)
    # Added to the invocation's remaining time to form the claim lease (clock skew between Lambda hosts).
    lease_margin_ms: int = Field(alias="LEASE_MARGIN_MS", default=1_000, ge=0, le=60_000)
    # The ordering guard's watermarks (ordering.py) expire this long after they last moved; unset: DELIVERY_TTL_DAYS.
    # An event older than a watermark that has expired is applied again, so keep it above the providers' retry horizon.
    ordering_watermark_ttl_days: int | None = Field(
        alias="ORDERING_WATERMARK_TTL_DAYS", default=None, gt=0, le=3650
    )
    # Lease used when no Lambda context is available (local runs, scripts): Lambda's maximum timeout.
    default_lease_ms: int = Field(alias="DEFAULT_LEASE_MS", default=900_000, gt=0)

    # The archive (webhook_gateway.consumer.archive): every delivery's exact body and headers, kept this many days;
    # 0 turns it off. Bodies up to archive_inline_max_bytes live in the ledger table, larger ones in archive_bucket.
    archive_retention_days: int = Field(alias="ARCHIVE_RETENTION_DAYS", default=0, ge=0, le=3650)
    archive_bucket: str = Field(alias="ARCHIVE_BUCKET", default="", max_length=63)
    archive_inline_max_bytes: int = Field(
        alias="ARCHIVE_INLINE_MAX_BYTES", default=5_120, ge=0, le=MAX_ARCHIVE_INLINE_BYTES
    )

    # Retry with backoff (webhook_gateway.consumer.retry). Without QUEUE_URL a failed delivery comes back after the
    # queue's visibility timeout; without DEAD_LETTER_QUEUE_URL one past MAX_ATTEMPTS is left to the redrive policy.
    queue_url: str = Field(alias="QUEUE_URL", default="")
    dead_letter_queue_url: str = Field(alias="DEAD_LETTER_QUEUE_URL", default="")
    retry_schedule: tuple[int, ...] = Field(alias="RETRY_SCHEDULE", default=parse_schedule(DEFAULT_SCHEDULE))
    # Keep MAX_RECEIVE_COUNT above it: short retries count receives too, and when SQS's redrive policy comes first it
    # dead-letters the delivery with fewer attempts (safe, nothing is lost, but earlier than the schedule says).
    max_attempts: int = Field(alias="MAX_ATTEMPTS", default=DEFAULT_MAX_ATTEMPTS, ge=1, le=1000)
    # The queue's MessageRetentionPeriod: a message still hidden when it runs out is deleted by SQS, so the consumer
    # never schedules a retry past it (it dead-letters instead), and the schedule must fit in it.
    queue_retention_seconds: int = Field(alias="QUEUE_RETENTION_SECONDS", default=345_600, ge=60, le=1_209_600)
    retry_jitter: float = Field(alias="RETRY_JITTER", default=DEFAULT_JITTER, ge=0, lt=1)
    # The listener tap (webhook_gateway.consumer.tap): the SNS topic every first receive is published to; empty
    # (ListenerTap Disabled, the default) publishes nothing.
    tap_topic_arn: str = Field(alias="TAP_TOPIC_ARN", default="", max_length=256)

    # The EventBridge destination (webhook_gateway.consumer.publishing): a bus name or ARN, "" (the default) = off;
    # the filter's "provider:pattern" terms, comma separated, "" = every delivery.
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", default="", max_length=1600)
    event_bus_filter: str = Field(alias="EVENT_BUS_FILTER", default="", max_length=4096)

    @field_validator("event_bus_filter")
    @classmethod
    def _filter_parses(cls, value: str) -> str:
        parse_filter(value)
        return value

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule_from_text(cls, value: object) -> object:
        return parse_schedule(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _limits_agree(self) -> ConsumerSettings:
        if self.archive_retention_days and len(self.archive_bucket) < 3:
            raise ValueError("ARCHIVE_BUCKET is required when ARCHIVE_RETENTION_DAYS is above 0")
        longest = self.retry_policy.total_bounds()[1]
        if longest >= self.queue_retention_seconds:
            raise ValueError(
                f"RETRY_SCHEDULE can take up to {longest} s over {self.max_attempts} attempts, longer than the queue "
                f"keeps a message (QUEUE_RETENTION_SECONDS {self.queue_retention_seconds})"
            )
        return self

    @property
    def watermark_ttl_days(self) -> int:
        return self.ordering_watermark_ttl_days or self.delivery_ttl_days

    @property
    def archive_enabled(self) -> bool:
        return self.archive_retention_days > 0

    @cached_property
    def body_buckets(self) -> frozenset[str]:
        """Where a body by reference may be read: the overflow bucket, and the archive bucket (a replayed large
        body travels by reference to its archive object)."""
        return frozenset(bucket for bucket in (self.overflow_bucket, self.archive_bucket) if bucket)

    @cached_property
    def event_filter(self) -> EventFilter:
        return parse_filter(self.event_bus_filter)

    def publishes(self, provider: str, event_type: str) -> bool:
        """Whether a processed delivery of this provider and type goes to the event bus."""
        return bool(self.event_bus_name) and self.event_filter.matches(provider, event_type)

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_schedule, self.max_attempts, self.retry_jitter)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ConsumerSettings:
        """A copy whose derived values (built once per cold start, cached on the instance) are derived again from
        its own fields: pydantic copies the instance's cache along with the fields."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _DERIVED:
            copy.__dict__.pop(name, None)
        return copy

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ConsumerSettings:
        # An empty variable means "not set": the template declares every variable so that SAM can override them.
        return cls.model_validate({key: value for key, value in environ.items() if value != ""})


# The cached properties above: derived from the fields, dropped from a copy (ConsumerSettings.model_copy).
_DERIVED = ("body_buckets", "retry_policy", "event_filter")
