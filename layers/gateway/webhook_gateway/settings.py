"""Function settings, validated once per cold start from the environment the template declares."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

SQS_MAX_MESSAGE_BYTES = 1_048_576


class ReceiverSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    provider: str = Field(alias="PROVIDER")
    queue_url: str = Field(alias="QUEUE_URL")
    secret_id: str = Field(alias="SECRET_ID")
    overflow_bucket: str = Field(alias="OVERFLOW_BUCKET")
    max_body_bytes: int = Field(alias="MAX_BODY_BYTES", default=5 * 1024 * 1024, gt=0)
    # Envelopes larger than this go to S3 (claim check). SQS's hard limit is 1 MiB (1,048,576 bytes) for the body and
    # the attributes together: a larger value would make SendMessage fail, and every provider retry get a 503.
    inline_envelope_limit_bytes: int = Field(
        alias="INLINE_ENVELOPE_LIMIT_BYTES", default=1_000_000, gt=0, le=SQS_MAX_MESSAGE_BYTES
    )
    tolerance_seconds: int = Field(alias="SIGNATURE_TOLERANCE_SECONDS", default=300, ge=0)
    future_tolerance_seconds: int = Field(alias="SIGNATURE_FUTURE_TOLERANCE_SECONDS", default=60, ge=0)
    public_base_url: str | None = Field(alias="PUBLIC_BASE_URL", default=None)
    secret_max_age_seconds: int = Field(alias="SECRET_MAX_AGE_SECONDS", default=300, ge=0)
    # Comma-separated CIDRs; empty means any source (signatures are the real control).
    allowed_source_cidrs: str = Field(alias="ALLOWED_SOURCE_CIDRS", default="")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReceiverSettings:
        # An empty variable means "not set": the template declares every variable so that SAM can override them.
        return cls.model_validate({key: value for key, value in environ.items() if value != ""})
