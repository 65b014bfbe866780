"""Consumer settings, validated once per cold start from the environment the template declares."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class ConsumerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # The deliveries ledger (idempotency record and audit trail), see webhook_gateway.consumer.ledger.
    table_name: str = Field(alias="TABLE_NAME", min_length=3, max_length=255)
    # The only bucket a claim-checked body may be fetched from (the receivers' overflow bucket).
    overflow_bucket: str = Field(alias="OVERFLOW_BUCKET", min_length=3, max_length=63)
    # Ledger items expire (DynamoDB TTL) this long after their last attempt; a provider retry arriving later than
    # this is processed again, so keep it above every provider's retry horizon (Stripe: 3 days).
    delivery_ttl_days: int = Field(alias="DELIVERY_TTL_DAYS", default=30, gt=0, le=3650)
    # Must equal the queue's redrive policy maxReceiveCount: a record failing on that receive is dead-lettered.
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", default=5, ge=1, le=1000)
    # Added to the invocation's remaining time to form the claim lease (clock skew between Lambda hosts).
    lease_margin_ms: int = Field(alias="LEASE_MARGIN_MS", default=1_000, ge=0, le=60_000)
    # Lease used when no Lambda context is available (local runs, scripts): Lambda's maximum timeout.
    default_lease_ms: int = Field(alias="DEFAULT_LEASE_MS", default=900_000, gt=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ConsumerSettings:
        # An empty variable means "not set": the template declares every variable so that SAM can override them.
        return cls.model_validate({key: value for key, value in environ.items() if value != ""})
