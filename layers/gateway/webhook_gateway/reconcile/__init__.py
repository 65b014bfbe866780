"""Reconciliation against the provider's own event log: find what the provider sent (or meant to send) that the
ledger never processed, and recover it through the provider (GitHub redelivers) or the queue (Stripe: a backfill
envelope). Used by ``hookctl backfill`` and the scheduled ReconcilerFunction; plain functions, clients injected.

Every provider-side item is put in exactly one state, from the ledger's item under the same key (``provider`` +
``delivery_id``, the key the receiver would have recorded):

=================  ==========================================================================  ==================
state              meaning                                                                     action
=================  ==========================================================================  ==================
in_ledger          the consumer processed it (handled, skipped or duplicate_body)              none
in_progress        processing, or failed with attempts left: the consumer still owns it        none
recent             newer than the settle window (the consumer may not have it yet)             none
missing            not in the ledger although the provider got a 2xx (lost on our side)        recover
                   (Stripe: not in the ledger; its API does not say per endpoint)
never_delivered    GitHub: no attempt got a 2xx, and not in the ledger                         recover
failed             in the ledger, failed and dead-lettered (out of attempts)                   recover
=================  ==========================================================================  ==================

With ``dry_run`` nothing is recovered: the actions are listed as ``would_recover``. A recovery that fails is
``error`` with the provider's message (never a token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_gateway.consumer.ledger import PK, SK, STATUS_FAILED, STATUS_PROCESSED

IN_LEDGER = "in_ledger"
IN_PROGRESS = "in_progress"
RECENT = "recent"
MISSING = "missing"
NEVER_DELIVERED = "never_delivered"
FAILED = "failed"
STATES = (IN_LEDGER, IN_PROGRESS, RECENT, MISSING, NEVER_DELIVERED, FAILED)
ACTIONABLE = frozenset({MISSING, NEVER_DELIVERED, FAILED})

WOULD_RECOVER = "would_recover"
RECOVERED = "recovered"
ERROR = "error"

# Deliveries newer than this are left alone: the receiver may have queued them and the consumer not processed them yet.
DEFAULT_SETTLE = timedelta(minutes=5)
# BatchGetItem reads at most 100 keys per call.
_BATCH_GET_KEYS = 100
_BATCH_GET_ROUNDS = 8


class WindowError(ValueError):
    """``--since`` reaches further back than the provider keeps (or lets us recover) its events."""


class RecoveryError(Exception):
    """One item could not be recovered; the message is the provider's or AWS's, never a token or a payload.

    ``stops_run``: the cause holds for every item (a rate limit longer than the run may wait), so the items after
    this one are not attempted either (they are reported as errors: run again later)."""

    stops_run = False


@dataclass
class Item:
    """One provider-side delivery (GitHub: a GUID with all its attempts; Stripe: an event)."""

    delivery_id: str
    event_type: str
    occurred_at: str  # ISO-8601 UTC: GitHub's latest attempt, Stripe's event creation
    state: str
    action: str = ""
    detail: str = ""


@dataclass
class Report:
    provider: str
    target: str
    since: str
    dry_run: bool
    items: list[Item] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        states = {state: sum(1 for item in self.items if item.state == state) for state in STATES}
        return {
            "found": len(self.items),
            **states,
            "recovered": sum(1 for item in self.items if item.action == RECOVERED),
            "would_recover": sum(1 for item in self.items if item.action == WOULD_RECOVER),
            "errors": sum(1 for item in self.items if item.action == ERROR),
        }

    @property
    def missing(self) -> int:
        """Items that needed recovering (missing, never delivered or failed)."""
        return sum(1 for item in self.items if item.state in ACTIONABLE)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "target": self.target,
            "since": self.since,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "items": [asdict(item) for item in self.items],
        }


class Pacer:
    """At most ``per_minute`` actions a minute, evenly spaced (GitHub's secondary limits allow roughly 180
    redeliveries a minute). ``clock`` and ``sleep`` are injected so tests never wait."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


# ``--since 3d`` is computed a moment before the run starts: that much beyond the horizon is taken as the horizon.
WINDOW_SLACK = timedelta(minutes=5)


def window_start(since: datetime, now: datetime, horizon: timedelta, what: str) -> datetime:
    """``since`` (UTC) when it lies within ``horizon`` of ``now``; refused when it lies further back (never clamped
    silently: an operator asking for 10 days must learn that only 3 can be recovered). Within :data:`WINDOW_SLACK`
    of the horizon it is the horizon."""
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    if since < now - horizon - WINDOW_SLACK:
        days = horizon / timedelta(days=1)
        raise WindowError(f"--since {iso(since)} is more than {days:g} days ago: {what}; give a later --since")
    return max(since, now - horizon)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ledger_items(table: str, provider: str, delivery_ids: Iterable[str], *, client: Any) -> dict[str, dict[str, Any]]:
    """The ledger's items of ``provider`` among ``delivery_ids`` (BatchGetItem, 100 keys a call, consistent reads;
    unprocessed keys are read again), as ``{delivery_id: {status, outcome, dead_lettered_at}}``."""
    ids = sorted(set(delivery_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _BATCH_GET_KEYS):
        keys = [{PK: {"S": provider}, SK: {"S": value}} for value in ids[start : start + _BATCH_GET_KEYS]]
        request: dict[str, Any] = {
            table: {
                "Keys": keys,
                "ConsistentRead": True,
                "ProjectionExpression": "#sk, #status, #outcome, #dead",
                "ExpressionAttributeNames": {
                    "#sk": SK,
                    "#status": "status",
                    "#outcome": "outcome",
                    "#dead": "dead_lettered_at",
                },
            }
        }
        for _ in range(_BATCH_GET_ROUNDS):
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item[SK]["S"]] = {name: value.get("S") for name, value in item.items() if name != SK}
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RecoveryError("the ledger left keys unprocessed (throttled); run again later")
    return found


def ledger_state(entry: dict[str, Any] | None) -> str | None:
    """The state an item's ledger entry decides (None: no entry that counts, the provider's side decides)."""
    if entry is None or not entry.get("status"):  # absent, or only a replay request so far
        return None
    if entry["status"] == STATUS_PROCESSED:
        return IN_LEDGER
    if entry["status"] == STATUS_FAILED and entry.get("dead_lettered_at"):
        return FAILED
    return IN_PROGRESS


def recover(
    items: Iterable[Item], act: Callable[[Item], None], *, dry_run: bool, pacer: Pacer | None = None
) -> None:
    """Run ``act`` on each actionable item (paced), recording ``recovered`` / ``error``; only list them when dry."""
    stopped: str | None = None
    for item in items:
        if item.state not in ACTIONABLE:
            continue
        if dry_run:
            item.action = WOULD_RECOVER
            continue
        if stopped is not None:
            item.action, item.detail = ERROR, f"not attempted: {stopped}"[:300]
            continue
        if pacer is not None:
            pacer.wait()
        try:
            act(item)
        except RecoveryError as error:
            item.action, item.detail = ERROR, str(error)[:300]
            if error.stops_run:
                stopped = str(error)
        else:
            item.action = RECOVERED
