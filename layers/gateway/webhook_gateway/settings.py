"""Function settings, validated once per cold start from the environment the template declares.

A bad value must stop the function at init with one clear error naming the variable (and its template parameter),
not surface later as a 500 with a traceback on every request: :meth:`ReceiverSettings.from_env` raises
:class:`SettingsError`, and ``receiver_app`` builds the receiver during Lambda's init.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError, ValidationInfo, field_validator

from webhook_gateway.verifiers import logical_name

SQS_MAX_MESSAGE_BYTES = 1_048_576

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """The function's environment is invalid; the message names each variable and what is wrong with it."""


def parse_cidr_list(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated IPv4/IPv6 CIDRs or addresses (an address is its /32 or /128); blanks around items are ignored,
    and so are empty items (a trailing comma). Raises ValueError naming the first bad item."""
    networks = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"item {position}, {item!r}, is not an IPv4/IPv6 address or CIDR") from None
    return tuple(networks)


class ReceiverSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # The deployed instance's name (envelopes, metrics, logs, the ledger), and the provider module it runs (its kind):
    # the same unless one module serves several senders (Standard Webhooks for OpenAI and for Clerk).
    provider: str = Field(alias="PROVIDER", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    provider_kind: str | None = Field(alias="PROVIDER_KIND", default=None)
    # The instance's options (a JSON object; see Provider.configure), from the template's Providers mapping.
    provider_options: Json[dict[str, Any]] = Field(alias="PROVIDER_OPTIONS", default_factory=dict)
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
    # Also keep the provider's signature headers (Provider.signature_headers) and the URL it called in the envelope,
    # so that `hookctl listen --forward-to` hands local code a delivery it can verify. On only where the listener tap
    # is (template: ListenerTap=Enabled, dev and staging): signatures then sit in the queue and the archive
    # (SECURITY.md).
    keep_signature_headers: bool = Field(alias="KEEP_SIGNATURE_HEADERS", default=False)

    @field_validator("allowed_source_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_cidr_list(value)
        except ValueError as error:
            provider = str(info.data.get("provider") or "<provider>")
            raise ValueError(
                f"ALLOWED_SOURCE_CIDRS (template parameter AllowedSourceCidrs, item {logical_name(provider)}=): {error}"
            ) from None
        return value

    @property
    def kind(self) -> str:
        return self.provider_kind or self.provider

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReceiverSettings:
        """Validated settings; raises :class:`SettingsError` naming every bad or missing variable."""
        # An empty variable means "not set": the template declares every variable so that SAM can override them.
        try:
            return cls.model_validate({key: value for key, value in environ.items() if value != ""})
        except ValidationError as error:
            raise SettingsError(_describe(cls, error)) from None


def _describe(model: type[BaseModel], error: ValidationError) -> str:
    """One line per problem, by environment variable name: ``VARIABLE: message``."""
    aliases = {name: field.alias or name for name, field in model.model_fields.items()}
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        variable = aliases.get(field, field) or "<settings>"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(message if message.startswith(variable) else f"{variable}: {message}")
    return f"invalid receiver settings: {'; '.join(problems)}"
