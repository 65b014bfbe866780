"""Per-batch counters, published as CloudWatch EMF metrics with a ``provider`` dimension.

A batch mixes providers, and an EMF document has one value per dimension, so the processor counts in memory while
it works and :meth:`BatchTally.publish` writes one document per provider at the end of the batch (not one per
record: logging is what a Lambda consumer pays for).

Counting is plain dict arithmetic; Powertools is only called at the flush, once per metric name (the
``EndToEndLagMs`` samples included, see :meth:`BatchTally.publish`).
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
RETRIES_SCHEDULED = "RetriesScheduled"  # a handler failure whose next attempt waits for the retry schedule
ARCHIVE_ERRORS = "ArchiveErrors"  # the archive could not be written: nothing claimed, the record is retried
STALE_EVENTS_SKIPPED = "StaleEventsSkipped"  # ordering guard: older than the object's watermark, recorded stale
EVENTS_PUBLISHED = "EventsPublished"  # deliveries published to the event bus (EVENT_BUS_NAME)
PUBLISH_FAILURES = "PublishFailures"  # PutEvents failed or refused the entry: the delivery is retried
REPLAYS_PROCESSED = "ReplaysProcessed"  # replay copies (hookctl replay) whose handler ran and completed
TAP_PUBLISH_FAILURES = "TapPublishFailures"  # the listener tap (ListenerTap) could not publish: never retried

# EMF allows at most 100 values in one metric's array (Powertools' MAX_METRICS): more lag samples than that for one
# provider go out in several documents.
EMF_MAX_VALUES = 100


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
                lags = self.lags_ms.get(provider, [])
                for start in range(0, len(lags), EMF_MAX_VALUES):
                    if start:  # the previous document is full: the next one carries the rest (same dimensions)
                        metrics.flush_metrics()
                        metrics.add_dimension(name=PROVIDER_DIMENSION, value=provider)
                    first, *rest = lags[start : start + EMF_MAX_VALUES]
                    metrics.add_metric(name=END_TO_END_LAG_MS, unit=MetricUnit.Milliseconds, value=first)
                    _extend_lag_samples(metrics, rest)
                metrics.flush_metrics()
            except Exception:
                logger.exception("could not publish consumer metrics", extra={"provider": provider})
                metrics.clear_metrics()


def _extend_lag_samples(metrics: Any, values: list[float]) -> None:
    """Append more samples to the ``EndToEndLagMs`` entry that ``add_metric`` just created: the same EMF array as
    one ``add_metric`` per value, without its per-call cost.

    Powertools' ``add_metric`` takes one value per call and costs ~3 µs each (validation, and a debug message that
    formats the growing list of values even when debug logging is off), i.e. ~3 µs per delivery for the lag alone.
    So the first sample of a document goes through ``add_metric`` (name, unit and value validated, the entry created
    the way Powertools makes it) and the others are appended to the entry's ``Value`` list, the format
    ``serialize_metric_set`` documents and ``flush_metrics`` publishes (aws-lambda-powertools is pinned in
    constraints.txt; the consumer's unit tests check the published arrays).
    """
    entry = metrics.metric_set.get(END_TO_END_LAG_MS)
    if entry is None:  # Powertools has just flushed a full document (100 metric names): one call per value, then
        for value in values:
            metrics.add_metric(name=END_TO_END_LAG_MS, unit=MetricUnit.Milliseconds, value=value)
    else:
        entry["Value"].extend(float(value) for value in values)
