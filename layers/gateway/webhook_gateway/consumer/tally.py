"""Per-batch counters, published as CloudWatch EMF metrics with a ``provider`` dimension.

A batch mixes providers, and an EMF document has one value per dimension, so the processor counts in memory while
it works and :meth:`BatchTally.publish` writes one document per provider at the end of the batch (not one per
record: logging is what a Lambda consumer pays for).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from webhook_gateway.observability import logger

PROVIDER_DIMENSION = "provider"
UNKNOWN_PROVIDER = "unknown"  # poison messages: no trustworthy provider

DELIVERIES_PROCESSED = "DeliveriesProcessed"
DUPLICATES_DROPPED = "DuplicatesDropped"
HANDLER_FAILURES = "HandlerFailures"
DELIVERIES_SKIPPED = "DeliveriesSkipped"
CLAIM_CONFLICTS = "ClaimConflicts"
END_TO_END_LAG_MS = "EndToEndLagMs"
POISON_MESSAGES = "PoisonMessages"
DELIVERIES_DEAD_LETTERED = "DeliveriesDeadLettered"
LEDGER_ERRORS = "LedgerErrors"  # the ledger could not be written (throttling after retries, outage): retried
LEASE_LOST = "LeaseLost"  # a handler finished after its lease was taken over: it may have run twice


class BatchTally:
    def __init__(self) -> None:
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.lags_ms: defaultdict[str, list[float]] = defaultdict(list)

    def count(self, provider: str, metric: str, value: int = 1) -> None:
        self.counts[provider][metric] += value

    def lag(self, provider: str, milliseconds: float) -> None:
        self.lags_ms[provider].append(max(0.0, milliseconds))

    def totals(self) -> dict[str, int]:
        """Counts summed over providers (the batch summary log line)."""
        total: Counter[str] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return dict(total)

    def publish(self, metrics: Any) -> None:
        """Flush one EMF document per provider through Powertools ``metrics``. Never raises: metrics must not fail
        a batch whose ledger writes are done (a misconfigured namespace is logged instead)."""
        for provider in sorted(set(self.counts) | set(self.lags_ms)):
            try:
                metrics.add_dimension(name=PROVIDER_DIMENSION, value=provider)
                for name, value in sorted(self.counts[provider].items()):
                    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
                for lag in self.lags_ms[provider]:
                    metrics.add_metric(name=END_TO_END_LAG_MS, unit=MetricUnit.Milliseconds, value=lag)
                metrics.flush_metrics()
            except Exception:
                logger.exception("could not publish consumer metrics", extra={"provider": provider})
                metrics.clear_metrics()
