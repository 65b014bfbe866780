"""Stripe: list the account's events, compare them with the ledger by event id, queue what we never processed.

Stripe retries a failed delivery for 3 days and then gives up; its API keeps events for 30 days
(``GET /v1/events`` with ``created[gte]``, ``types[]``, ``limit`` at most 100 and ``starting_after`` pagination).
There is no API to make Stripe send an event again, so a missing event is queued here as a *backfill* envelope
(``Envelope.source = "backfill"``): provider ``stripe`` (or the instance's name), delivery id the event id (the
webhook's key, so a later real delivery of it is a duplicate), event type the event's ``type``, and as body the event
as the API rendered it (JSON, not the webhook's exact bytes: ``body_sha256`` covers what was queued). It goes through
the receivers' own sender (``queue.EnvelopeSender``: one SendMessage, the same attributes, the overflow to S3).

``stripe`` (stripe-python) is imported only by :func:`sdk_events`, never when this module is imported: the layer does
not ship it (the ReconcilerFunction and the CLI do).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_gateway.envelope import SOURCE_BACKFILL, Envelope
from webhook_gateway.queue import EnqueueError, EnvelopeSender
from webhook_gateway.reconcile import (
    DEFAULT_SETTLE,
    MISSING,
    RECENT,
    Item,
    RecoveryError,
    Report,
    iso,
    ledger_items,
    ledger_state,
    recover,
    window_start,
)

# Stripe's API lists the events of the last 30 days.
EVENT_RETENTION = timedelta(days=30)
PAGE_LIMIT = 100
MAX_TYPES = 20  # types[] takes at most 20 event types
RATE_LIMIT_ATTEMPTS = 5
BACKFILL_USER_AGENT = "webhook-gateway-reconciler"


def sdk_events(
    api_key: str,
    *,
    since: datetime,
    types: Sequence[str] = (),
    api_base: str | None = None,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """The account's events created at or after ``since``, newest first, through stripe-python's ``StripeClient``.

    Pages with ``starting_after`` (the last event of the previous page). A 429 (``RateLimitError``) waits and asks
    for the same page again, with exponential backoff (1, 2, 4, 8 s), then gives up.
    """
    import stripe  # lazily: the layer does not depend on stripe-python

    if len(types) > MAX_TYPES:
        raise ValueError(f"Stripe filters on at most {MAX_TYPES} event types, got {len(types)}")
    if client is None:
        base = {"api": api_base} if api_base else None
        client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=0)  # type: ignore[arg-type]
    params: dict[str, Any] = {"created": {"gte": int(since.timestamp())}, "limit": PAGE_LIMIT}
    if types:
        params["types"] = list(types)
    while True:
        for attempt in range(RATE_LIMIT_ATTEMPTS):
            try:
                page = client.v1.events.list(params=params)
                break
            except stripe.RateLimitError:
                if attempt == RATE_LIMIT_ATTEMPTS - 1:
                    raise RecoveryError("Stripe rate limited the events list; run again later") from None
                sleep(float(2**attempt))
            except stripe.StripeError as error:
                raise RecoveryError(f"Stripe answered {error.http_status}: {error.user_message or ''}") from None
        events = [event.to_dict() for event in page.data]
        yield from events
        if not page.has_more or not events:
            return
        params["starting_after"] = events[-1]["id"]


def backfill_envelope(event: dict[str, Any], *, provider: str, kind: str, now: float) -> tuple[Envelope, bytes]:
    """The envelope that queues ``event`` as a backfill, and its body (the event's JSON)."""
    raw = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    envelope = Envelope(
        provider=provider,
        provider_kind=kind if kind != provider else None,
        delivery_id=str(event["id"]),
        # The id came from an authenticated API read, not from an unsigned header.
        delivery_id_signed=True,
        event_type=str(event.get("type") or ""),
        received_at=datetime.fromtimestamp(now, tz=UTC),
        headers={"content-type": "application/json", "user-agent": BACKFILL_USER_AGENT},
        source=SOURCE_BACKFILL,
        **Envelope.inline_body_fields(raw),
    )
    return envelope, raw


def reconcile_stripe(
    events: Iterable[dict[str, Any]],
    *,
    table: str,
    since: datetime,
    dynamodb: Any,
    sender: EnvelopeSender | None,
    provider: str = "stripe",
    kind: str = "stripe",
    dry_run: bool = False,
    settle: timedelta = DEFAULT_SETTLE,
    now: datetime | None = None,
) -> Report:
    """Classify ``events`` (from :func:`sdk_events`, listed since ``since``: at most 30 days back) against the
    ledger and queue a backfill envelope for each missing or dead-lettered one (none with ``dry_run``)."""
    now = now or datetime.now(UTC)
    since = window_start(since, now, EVENT_RETENTION, "Stripe's API keeps events for 30 days")
    listed = [event for event in events if int(event.get("created") or 0) >= int(since.timestamp())]
    ledger = ledger_items(table, provider, (str(event["id"]) for event in listed), client=dynamodb)
    report = Report(provider=provider, target="events", since=iso(since), dry_run=dry_run)
    by_id: dict[str, dict[str, Any]] = {}
    for event in listed:
        event_id = str(event["id"])
        if event_id in by_id:
            continue
        by_id[event_id] = event
        created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
        state = ledger_state(ledger.get(event_id))
        if state is None:
            state = RECENT if now - created < settle else MISSING
        report.items.append(Item(event_id, str(event.get("type") or ""), iso(created), state))

    def queue(item: Item) -> None:
        if sender is None:
            raise RecoveryError("no queue to backfill into")
        envelope, raw = backfill_envelope(by_id[item.delivery_id], provider=provider, kind=kind, now=time.time())
        try:
            sender.send(envelope, raw)
        except EnqueueError as error:
            raise RecoveryError(str(error)) from None

    recover(report.items, queue, dry_run=dry_run)
    return report
