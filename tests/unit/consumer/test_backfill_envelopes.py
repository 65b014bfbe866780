"""A backfill envelope (``source: backfill``, queued by ``hookctl backfill stripe`` from the provider's API) is
processed like any delivery, under the webhook's own key: once, and a later real delivery of the event is a
duplicate."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.unit.consumer.fakes import Recorder, emf_metrics, make_envelope, sqs_event, sqs_record
from webhook_gateway.consumer.processor import process_batch
from webhook_gateway.reconcile.stripe import backfill_envelope

PAID = ("stripe", "payment_intent.succeeded")
EVENT = {
    "id": "evt_1",
    "object": "event",
    "created": 1_750_000_000,
    "type": "payment_intent.succeeded",
    "data": {"object": {"id": "pi_1", "amount": 1000}},
}


def test_a_backfill_runs_the_handler_once_and_the_later_webhook_is_a_duplicate(
    consumer, registry, dynamodb, context, capsys
):
    """Given a handler for Stripe payments and the backfill envelope of an event fetched from Stripe's API
    When the backfill is processed, then the webhook of the same event (its own bytes) arrives
    Then the handler ran once, for the backfill (event.source says so, raw is what was queued), and the webhook
    was acknowledged as a duplicate under the same ledger key."""
    handler = registry.on(*PAID)(Recorder())
    backfill, raw = backfill_envelope(EVENT, provider="stripe", kind="stripe", now=1_750_000_000)
    webhook = make_envelope(received_at=datetime(2025, 6, 15, 16, 0, tzinfo=UTC))

    queued = sqs_record(backfill.sqs_message_body(), message_id="m-backfill")
    first = process_batch(sqs_event([queued]), context, consumer)
    second = process_batch(sqs_event([sqs_record(webhook, message_id="m-webhook")]), context, consumer)

    assert first["batchItemFailures"] == second["batchItemFailures"] == []
    assert handler.calls == 1
    event = handler.events[0]
    assert (event.source, event.delivery_id, event.raw) == ("backfill", "evt_1", raw)
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["attempts"], item["message_id"]) == ("processed", 1, "m-backfill")
    published = emf_metrics(capsys.readouterr().out)
    assert published[("stripe", "DeliveriesProcessed")] == [1]
    assert published[("stripe", "DuplicatesDropped")] == [1]


def test_a_webhook_delivery_is_marked_as_such_for_handlers(consumer, registry, context):
    """Given a delivery as a receiver queues it (no source field)
    When it is processed
    Then the handler's event says source webhook."""
    handler = registry.on(*PAID)(Recorder())
    process_batch(sqs_event([sqs_record(make_envelope())]), context, consumer)
    assert [event.source for event in handler.events] == ["webhook"]
