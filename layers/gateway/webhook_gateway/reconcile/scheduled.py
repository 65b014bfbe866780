"""The scheduled reconciler (ReconcilerFunction): the same reconciliation as ``hookctl backfill``, for the hooks and
the Stripe account the template names, with the tokens read from Secrets Manager, and two metrics per provider:

* ``ReconcileMissing``: items that needed recovering (missing, never delivered, dead-lettered);
* ``DeliveriesRecovered``: those recovered (redelivered by GitHub, queued as Stripe backfills).

Both carry the ``provider`` dimension (and Powertools' ``service``); anything above 0 means the gateway lost events
that the provider still had, which the ``DeliveriesRecoveredAlarm`` reports. The tokens are never logged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from webhook_gateway.observability import logger
from webhook_gateway.reconcile import Pacer, RecoveryError, Report
from webhook_gateway.reconcile.github import (
    API_BASE,
    DEFAULT_REDELIVERIES_PER_MINUTE,
    REDELIVERY_WINDOW,
    GitHubApi,
    HookTarget,
    reconcile_github,
)

DELIVERIES_RECOVERED = "DeliveriesRecovered"
RECONCILE_MISSING = "ReconcileMissing"
PROVIDER_DIMENSION = "provider"
_HOOK = re.compile(r"(repo|org|app):([^:]*):(\d+)")


def parse_hooks(text: str) -> tuple[HookTarget, ...]:
    """``repo:OWNER/REPO:HOOK_ID``, ``org:ORG:HOOK_ID`` or ``app::HOOK_ID``, comma-separated."""
    hooks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _HOOK.fullmatch(part)
        if match is None:
            raise ValueError(f"{part!r}: expected repo:OWNER/REPO:HOOK_ID, org:ORG:HOOK_ID or app::HOOK_ID")
        kind, name, hook_id = match.groups()
        hooks.append(HookTarget(kind, hook_id, name))  # type: ignore[arg-type]
    return tuple(hooks)


class ReconcilerSettings(BaseModel):
    """From the environment the template declares (``RECONCILER_*`` parameters)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, arbitrary_types_allowed=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=3)
    queue_url: str = Field(alias="QUEUE_URL", default="")
    overflow_bucket: str = Field(alias="OVERFLOW_BUCKET", default="")
    lookback_hours: int = Field(alias="LOOKBACK_HOURS", default=48, ge=1, le=72)
    github_hooks: tuple[HookTarget, ...] = Field(alias="GITHUB_HOOKS", default=())
    github_token_secret: str = Field(alias="GITHUB_TOKEN_SECRET", default="")
    github_api_url: str = Field(alias="GITHUB_API_URL", default=API_BASE)
    github_provider: str = Field(alias="GITHUB_PROVIDER", default="github")
    redeliveries_per_minute: float = Field(
        alias="REDELIVERIES_PER_MINUTE", default=DEFAULT_REDELIVERIES_PER_MINUTE, gt=0
    )
    stripe_key_secret: str = Field(alias="STRIPE_KEY_SECRET", default="")
    stripe_api_url: str = Field(alias="STRIPE_API_URL", default="")
    stripe_types: tuple[str, ...] = Field(alias="STRIPE_TYPES", default=())
    stripe_provider: str = Field(alias="STRIPE_PROVIDER", default="stripe")

    @field_validator("github_hooks", mode="before")
    @classmethod
    def _hooks(cls, value: Any) -> Any:
        return parse_hooks(value) if isinstance(value, str) else value

    @field_validator("stripe_types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> Any:
        return tuple(t.strip() for t in value.split(",") if t.strip()) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReconcilerSettings:
        return cls.model_validate(dict(environ))


def _secret(secrets: Any, secret_id: str) -> str:
    value = str(secrets.get_secret_value(SecretId=secret_id).get("SecretString") or "").strip()
    if not value:
        raise RecoveryError(f"secret {secret_id} is empty")
    return value


def run(
    settings: ReconcilerSettings,
    *,
    secrets: Any,
    dynamodb: Any,
    sqs: Any = None,
    s3: Any = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Report]:
    """Reconcile every configured GitHub hook, then the Stripe account; one report each. A target that fails (its
    token, the provider's API) is logged and skipped, so the others still run; the caller's metrics show it."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=settings.lookback_hours)
    reports: list[Report] = []
    if settings.github_hooks:
        token = _secret(secrets, settings.github_token_secret)
        api = GitHubApi(token, base_url=settings.github_api_url, sleep=sleep)
        pacer = Pacer(settings.redeliveries_per_minute, sleep=sleep)
        for target in settings.github_hooks:
            try:
                reports.append(
                    reconcile_github(
                        api,
                        target,
                        table=settings.table_name,
                        since=max(since, now - REDELIVERY_WINDOW),
                        dynamodb=dynamodb,
                        provider=settings.github_provider,
                        pacer=pacer,
                        now=now,
                    )
                )
            except RecoveryError as error:
                logger.error("reconciling a GitHub hook failed", extra={"target": target.label, "error": str(error)})
    if settings.stripe_key_secret:
        from webhook_gateway.queue import EnvelopeSender
        from webhook_gateway.reconcile.stripe import reconcile_stripe, sdk_events

        key = _secret(secrets, settings.stripe_key_secret)
        sender = EnvelopeSender(settings.queue_url, settings.overflow_bucket, sqs_client=sqs, s3_client=s3)
        try:
            events = sdk_events(
                key,
                since=since,
                types=settings.stripe_types,
                api_base=settings.stripe_api_url or None,
                sleep=sleep,
            )
            reports.append(
                reconcile_stripe(
                    list(events),
                    table=settings.table_name,
                    since=since,
                    dynamodb=dynamodb,
                    sender=sender,
                    provider=settings.stripe_provider,
                    now=now,
                )
            )
        except RecoveryError as error:
            logger.error("reconciling Stripe failed", extra={"error": str(error)})
    return reports


def publish(reports: list[Report], metrics: Any) -> None:
    """One EMF document per provider: ``ReconcileMissing`` and ``DeliveriesRecovered`` (0 included, so that a run
    that found nothing is visible as such)."""
    from aws_lambda_powertools.metrics import MetricUnit

    totals: dict[str, tuple[int, int]] = {}
    for report in reports:
        missing, recovered = totals.get(report.provider, (0, 0))
        totals[report.provider] = (missing + report.missing, recovered + report.counts()["recovered"])
    for provider, (missing, recovered) in sorted(totals.items()):
        metrics.add_dimension(name=PROVIDER_DIMENSION, value=provider)
        metrics.add_metric(name=RECONCILE_MISSING, unit=MetricUnit.Count, value=missing)
        metrics.add_metric(name=DELIVERIES_RECOVERED, unit=MetricUnit.Count, value=recovered)
        metrics.flush_metrics()
