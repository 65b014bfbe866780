"""``hookctl backfill stripe`` and ``webhook_gateway.reconcile.stripe`` against a fake Stripe API (tests/fake_apis.py)
called by stripe-python's own ``StripeClient``, with the ledger and the queue on moto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.fake_apis import STRIPE_KEY, FakeStripe, stripe_event, stripe_rate_limited
from webhook_gateway.envelope import Envelope
from webhook_gateway.queue import EnvelopeSender
from webhook_gateway.reconcile import FAILED, IN_LEDGER, IN_PROGRESS, MISSING, RECENT, RECOVERED, RecoveryError
from webhook_gateway.reconcile.stripe import reconcile_stripe, sdk_events

from .gateway import Gateway, drain, ledger_item, put_ledger

BUCKET = "webhook-gateway-overflow"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def stripe_api(fake: FakeStripe) -> FakeStripe:
    fake.reset()
    return fake


def ago(**delta: float) -> int:
    return int((datetime.now(UTC) - timedelta(**delta)).timestamp())


def events(stripe_api: FakeStripe, since: datetime, **options: Any) -> list[dict[str, Any]]:
    return list(sdk_events(STRIPE_KEY, since=since, api_base=stripe_api.url, **options))


def reconcile(stripe_api: FakeStripe, gateway: Gateway, session: boto3.Session, **options: Any):
    since = datetime.now(UTC) - timedelta(days=2)
    sender = EnvelopeSender(
        gateway.queue_url, BUCKET, sqs_client=session.client("sqs"), s3_client=session.client("s3")
    )
    return reconcile_stripe(
        events(stripe_api, since),
        table=gateway.table,
        since=since,
        dynamodb=session.client("dynamodb"),
        sender=sender,
        **options,
    )


def test_nothing_missing_queues_nothing(stripe_api: FakeStripe, gateway: Gateway, session: boto3.Session) -> None:
    """Given two events both processed in the ledger under their event ids
    When the account is reconciled
    Then both are in the ledger and nothing is queued; the SDK asked for created[gte] with the key as bearer."""
    stripe_api.add(stripe_event("evt_a", ago(hours=1)), stripe_event("evt_b", ago(hours=2)))
    entries = (ledger_item("stripe", "evt_a"), ledger_item("stripe", "evt_b"))
    put_ledger(session.resource("dynamodb"), gateway.table, *entries)

    report = reconcile(stripe_api, gateway, session)

    assert report.counts()[IN_LEDGER] == 2
    assert drain(session.client("sqs"), gateway.queue_url) == []
    listing = stripe_api.listed()[0]
    assert listing.headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert "created[gte]" in listing.query and listing.query["limit"] == ["100"]


def test_missing_and_dead_lettered_events_are_queued_as_backfills(
    stripe_api: FakeStripe, gateway: Gateway, session: boto3.Session
) -> None:
    """Given an event absent from the ledger, one dead-lettered, one still retrying and one created a minute ago
    When the account is reconciled
    Then the first two are queued as backfill envelopes (event id, type, the event's JSON, its SHA-256, the
    receivers' attributes), the other two left alone."""
    stripe_api.add(
        stripe_event("evt_lost", ago(hours=3)),
        stripe_event("evt_dead", ago(hours=4), "invoice.paid"),
        stripe_event("evt_retrying", ago(hours=5)),
        stripe_event("evt_fresh", ago(minutes=1)),
    )
    put_ledger(
        session.resource("dynamodb"),
        gateway.table,
        ledger_item("stripe", "evt_dead", status="failed", dead_lettered_at="2026-01-01T00:00:00.000Z"),
        ledger_item("stripe", "evt_retrying", status="failed"),
    )

    report = reconcile(stripe_api, gateway, session)

    states = {item.delivery_id: (item.state, item.action) for item in report.items}
    assert states == {
        "evt_lost": (MISSING, RECOVERED),
        "evt_dead": (FAILED, RECOVERED),
        "evt_retrying": (IN_PROGRESS, ""),
        "evt_fresh": (RECENT, ""),
    }
    messages = drain(session.client("sqs"), gateway.queue_url)
    queued = {m["MessageAttributes"]["delivery_id"]["StringValue"]: m for m in messages}
    assert sorted(queued) == ["evt_dead", "evt_lost"]
    envelope = Envelope.model_validate_json(queued["evt_dead"]["Body"])
    assert (envelope.provider, envelope.event_type, envelope.source) == ("stripe", "invoice.paid", "backfill")
    raw = envelope.inline_body_bytes()
    assert hashlib.sha256(raw).hexdigest() == envelope.body_sha256
    assert json.loads(raw)["id"] == "evt_dead"
    assert '"source":"backfill"' in queued["evt_dead"]["Body"]
    assert queued["evt_dead"]["MessageAttributes"]["event_type"]["StringValue"] == "invoice.paid"


def test_a_webhook_envelope_is_written_without_the_source_field() -> None:
    """Given an envelope as a receiver builds it
    When it is serialised for SQS
    Then it carries no source field (older consumers and tooling see what they always saw) and parses back as
    a webhook."""
    envelope = Envelope(
        provider="stripe",
        delivery_id="evt_1",
        event_type="x",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        **Envelope.inline_body_fields(b"{}"),
    )
    message = envelope.sqs_message_body()
    assert '"source"' not in message
    assert Envelope.model_validate_json(message).source == "webhook"


def test_dry_run_queues_nothing(stripe_api: FakeStripe, gateway: Gateway, session: boto3.Session) -> None:
    """Given a missing event
    When the account is reconciled with dry_run
    Then it is listed as would_recover and the queue stays empty."""
    stripe_api.add(stripe_event("evt_lost", ago(hours=3)))

    report = reconcile(stripe_api, gateway, session, dry_run=True)

    assert [item.action for item in report.items] == ["would_recover"]
    assert drain(session.client("sqs"), gateway.queue_url) == []


def test_pages_are_followed_with_starting_after(stripe_api: FakeStripe) -> None:
    """Given 230 events since the window's start and 3 older
    When the events are listed
    Then three pages of 100 are asked for, each after the previous page's last event, and the older ones are not
    listed."""
    stripe_api.add(*(stripe_event(f"evt_{n:03d}", ago(hours=1, seconds=n)) for n in range(230)))
    stripe_api.add(*(stripe_event(f"evt_old{n}", ago(days=3, seconds=n)) for n in range(3)))

    listed = events(stripe_api, datetime.now(UTC) - timedelta(days=2))

    assert len(listed) == 230
    pages = stripe_api.listed()
    assert len(pages) == 3
    assert [p.query.get("starting_after") for p in pages] == [None, ["evt_099"], ["evt_199"]]


def test_types_are_passed_to_the_api(stripe_api: FakeStripe) -> None:
    """Given events of two types
    When the events are listed with types
    Then only that type is listed (types[] sent to Stripe)."""
    stripe_api.add(stripe_event("evt_a", ago(hours=1)), stripe_event("evt_b", ago(hours=1), "invoice.paid"))

    listed = events(stripe_api, datetime.now(UTC) - timedelta(days=1), types=["invoice.paid"])

    assert [event["id"] for event in listed] == ["evt_b"]


def test_a_429_is_retried_after_a_backoff(stripe_api: FakeStripe) -> None:
    """Given Stripe answers the first list call 429 (rate_limit)
    When the events are listed
    Then the listing sleeps 1 s (asked of the injected sleep, no wall time) and asks again."""
    stripe_api.add(stripe_event("evt_a", ago(hours=1)))
    stripe_api.fail_next.append(stripe_rate_limited())
    asked: list[float] = []

    listed = events(stripe_api, datetime.now(UTC) - timedelta(days=1), sleep=asked.append)

    assert [event["id"] for event in listed] == ["evt_a"]
    assert asked == [1.0]


def test_a_bad_key_fails_with_stripes_message(stripe_api: FakeStripe) -> None:
    """Given a key Stripe refuses
    When the events are listed
    Then a RecoveryError names the 401, not the key."""
    with pytest.raises(RecoveryError, match="401") as raised:
        list(sdk_events("rk_test_wrong", since=datetime.now(UTC), api_base=stripe_api.url))
    assert "rk_test_wrong" not in str(raised.value)


def test_the_cli_queues_a_backfill_and_refuses_more_than_30_days(
    stripe_api: FakeStripe, gateway: Gateway, hookctl: Any, session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a missing event and STRIPE_API_KEY in the environment
    When `hookctl backfill stripe --json` runs
    Then the report says recovered, the queue holds its backfill envelope, the key is printed nowhere; and
    --since 31d is refused (exit 2)."""
    stripe_api.add(stripe_event("evt_cli", ago(hours=3)))
    monkeypatch.setenv("STRIPE_API_KEY", STRIPE_KEY)
    common = ("--stripe-api-url", stripe_api.url, "--table", gateway.table, "--queue-url", gateway.queue_url,
              "--bucket", BUCKET)  # fmt: skip

    result = hookctl("backfill", "stripe", "--since", "1d", "--json", *common)

    assert result.code == 0, result.err
    assert result.json()["counts"]["recovered"] == 1
    queued = drain(session.client("sqs"), gateway.queue_url)
    assert [m["MessageAttributes"]["delivery_id"]["StringValue"] for m in queued] == ["evt_cli"]
    assert STRIPE_KEY not in result.out + result.err
    refused = hookctl("backfill", "stripe", "--since", "31d", *common)
    assert refused.code == 2
    assert "30 days" in refused.err


def test_the_layer_does_not_load_stripe_until_events_are_listed() -> None:
    """Given a fresh interpreter
    When the Stripe reconciler module (what the layer ships) is imported
    Then stripe-python is not loaded: the layer does not depend on it, only listing events does."""
    import subprocess
    import sys

    probe = "import sys, webhook_gateway.reconcile.stripe; print('stripe' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
