"""The EventBridge destination (consumer/publishing.py) through the processor, against fakes: what is published,
the filter, the size limit, failures and partial failures through the retry schedule, and no second handler run."""

from __future__ import annotations

import json

import pytest

from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    client_error,
    emf_metrics,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.publishing import ENTRY_MAX_BYTES, EventFilter, entry_size, parse_filter
from webhook_gateway.consumer.settings import ConsumerSettings

BUS = "arn:aws:events:us-east-1:123456789012:event-bus/org"


class FakeEvents:
    """``put_events``: records entries; ``refuse`` entries get an ErrorCode (a partial failure), ``errors`` raise."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.refuse = 0
        self.errors: list[Exception] = []

    def put_events(self, *, Entries: list[dict]) -> dict:
        if self.errors:
            raise self.errors.pop(0)
        if self.refuse:
            self.refuse -= 1
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": f"ev-{len(self.entries)}"} for _ in Entries]}

    def details(self) -> list[dict]:
        return [json.loads(entry["Detail"]) for entry in self.entries]


@pytest.fixture
def events() -> FakeEvents:
    return FakeEvents()


def make(registry, dynamodb, s3, clock, events, **env: str) -> Consumer:
    settings = ConsumerSettings.from_env(
        {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET, "EVENT_BUS_NAME": BUS, **env}
    )
    return Consumer(settings=settings, registry=registry, dynamodb=dynamodb, s3=s3, clock=clock, events=events,
                    random=lambda: 0.5)


def run(consumer: Consumer, *envelopes) -> list[str]:
    response = process_batch(sqs_event([sqs_record(e) for e in envelopes]), FakeLambdaContext(), consumer)
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_delivery_without_a_handler_is_published_and_recorded_published(registry, dynamodb, s3, clock, events,
                                                                           capsys):
    # Given a bus and no handler for Stripe
    consumer = make(registry, dynamodb, s3, clock, events)

    # When a delivery is processed
    assert run(consumer, make_envelope()) == []

    # Then one entry went to the bus, with the delivery's metadata and parsed body, and the ledger says so
    (entry,) = events.entries
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "webhook-gateway.stripe", "payment_intent.succeeded", BUS,
    )
    detail = json.loads(entry["Detail"])
    assert detail == {
        "provider": "stripe",
        "delivery_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "received_at": "2025-06-15T15:06:40.000Z",
        "body": {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "amount": 1000}}},
    }
    item = dynamodb.item("stripe", "evt_1")
    assert (item["status"], item["outcome"]) == ("processed", "published")
    assert item["published_at"] == item["processed_at"]
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics[("stripe", "EventsPublished")] == [1]
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]  # claim + complete, as for a handled delivery


def test_a_handled_delivery_is_published_after_its_handler(registry, dynamodb, s3, clock, events):
    # Given a handler that checks nothing was published yet
    seen_before: list[int] = []
    registry.on("stripe", "payment_intent.succeeded")(lambda event: seen_before.append(len(events.entries)))
    consumer = make(registry, dynamodb, s3, clock, events)

    # When the delivery is processed
    run(consumer, make_envelope())

    # Then the handler ran first, then the entry was published, and the outcome stays handled
    assert seen_before == [0] and len(events.entries) == 1
    assert dynamodb.item("stripe", "evt_1")["outcome"] == "handled"


def test_the_filter_decides_what_is_published_and_unmatched_deliveries_are_skipped(registry, dynamodb, s3, clock,
                                                                                    events):
    # Given a filter for Stripe payment intents and all of GitHub
    consumer = make(registry, dynamodb, s3, clock, events, EVENT_BUS_FILTER="stripe:payment_intent.*, github")

    # When three deliveries without handlers are processed
    run(consumer, make_envelope(), make_envelope(delivery_id="evt_2", event_type="invoice.paid"),
        make_envelope("github", "gh-1", "push", b"{}"))

    # Then the two matching ones were published, the other recorded skipped as before
    assert [(d["provider"], d["delivery_id"]) for d in events.details()] == [("stripe", "evt_1"), ("github", "gh-1")]
    assert dynamodb.item("stripe", "evt_2")["outcome"] == "skipped"


def test_a_publish_failure_retries_with_backoff_and_the_retry_does_not_run_the_handler_again(
    registry, dynamodb, s3, clock, events, capsys
):
    # Given a handler, and EventBridge refusing the entry once (FailedEntryCount 1, ErrorCode)
    handler = registry.on("stripe", "payment_intent.succeeded")(Recorder())
    consumer = make(registry, dynamodb, s3, clock, events)
    events.refuse = 1

    # When the delivery is processed, then retried
    assert run(consumer, make_envelope()) != []
    failed = dynamodb.item("stripe", "evt_1")
    run(consumer, make_envelope())

    # Then the failure was recorded with handler_succeeded and a scheduled retry; the retry only published
    assert (failed["status"], failed["handler_succeeded"]) == ("failed", True)
    assert "next_attempt_at" in failed and "InternalFailure" in failed["last_error"]
    assert handler.calls == 1 and len(events.entries) == 1
    done = dynamodb.item("stripe", "evt_1")
    assert (done["status"], done["outcome"], done["attempts"]) == ("processed", "handled", 2)
    assert "handler_succeeded" not in done and "published_at" in done
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics[("stripe", "PublishFailures")] == [1]
    assert metrics[("stripe", "EventsPublished")] == [1]
    assert ("stripe", "HandlerFailures") not in metrics


def test_a_put_events_error_fails_the_delivery_like_a_refused_entry(registry, dynamodb, s3, clock, events):
    # Given PutEvents throttled
    consumer = make(registry, dynamodb, s3, clock, events)
    events.errors.append(client_error("ThrottlingException", "PutEvents"))

    # When a delivery without a handler is processed
    failed = run(consumer, make_envelope())

    # Then it is retried, and no handler_succeeded is recorded (there is no handler)
    item = dynamodb.item("stripe", "evt_1")
    assert failed and item["status"] == "failed" and "handler_succeeded" not in item
    assert "ThrottlingException" in item["last_error"]


def test_a_body_too_large_for_an_entry_is_replaced_by_its_archive_pointer(registry, dynamodb, s3, clock, events):
    # Given the archive on, and a body over EventBridge's 256 KB entry limit
    consumer = make(registry, dynamodb, s3, clock, events, ARCHIVE_RETENTION_DAYS="30", ARCHIVE_BUCKET="archive")
    raw = json.dumps({"id": "evt_big", "padding": "x" * ENTRY_MAX_BYTES}).encode()

    # When it is processed
    run(consumer, make_envelope(delivery_id="evt_big", raw=raw))

    # Then the entry carries the archive's S3 object (larger than ARCHIVE_INLINE_MAX_BYTES) instead of the body
    (detail,) = events.details()
    assert detail["body"] is None and detail["body_omitted"] is True and detail["body_size"] == len(raw)
    assert detail["archive"] == {"bucket": "archive", "key": f"stripe/{detail['body_sha256']}"}
    entry = events.entries[0]
    assert entry_size(entry["Source"], entry["DetailType"], entry["Detail"]) < ENTRY_MAX_BYTES


def test_publishing_is_off_without_a_bus(registry, dynamodb, s3, clock, events):
    # Given no EVENT_BUS_NAME (the default)
    consumer = make(registry, dynamodb, s3, clock, events, EVENT_BUS_NAME="")

    # When a delivery without a handler is processed / Then it is skipped, as always, and nothing is published
    run(consumer, make_envelope())
    assert events.entries == [] and dynamodb.item("stripe", "evt_1")["outcome"] == "skipped"


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("", ()),
        ("stripe:payment_intent.*,github:*", (("stripe", "payment_intent.*"), ("github", "*"))),
        (" github ", (("github", "*"),)),
        ("*:invoice.paid", (("*", "invoice.paid"),)),
    ],
)
def test_parse_filter(text, terms):
    assert parse_filter(text) == EventFilter(terms)


@pytest.mark.parametrize("text", ["stripe:a*b", ",", ":push", "st*ripe:x"])
def test_bad_filters_are_refused_at_start(text):
    with pytest.raises(ValueError):
        ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
                                   "EVENT_BUS_FILTER": text})


def test_filter_matching():
    f = parse_filter("stripe:payment_intent.*,github:push,*:ping")
    assert f.matches("stripe", "payment_intent.created") and not f.matches("stripe", "invoice.paid")
    assert f.matches("github", "push") and not f.matches("github", "pull_request")
    assert f.matches("twilio", "ping")


def test_stale_events_are_published_and_a_publish_retry_keeps_the_guard_s_verdict(registry, dynamodb, s3, clock,
                                                                                   events):
    # Given a guarded route, a bus, and the newer update already applied
    from tests.unit.consumer.test_ordering import subscription_event
    from webhook_gateway.consumer.ordering import stripe_object_version

    handler = registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)(Recorder())
    consumer = make(registry, dynamodb, s3, clock, events)
    run(consumer, subscription_event("evt_new", 200))

    # When the older one arrives, its publication fails once, and it is retried
    events.refuse = 1
    old = subscription_event("evt_old", 100)
    assert run(consumer, old) != []
    run(consumer, old)

    # Then the handler only saw the newer one, both were published, and the older is recorded stale
    assert [e.delivery_id for e in handler.events] == ["evt_new"]
    assert [d["delivery_id"] for d in events.details()] == ["evt_new", "evt_old"]
    item = dynamodb.item("stripe", "evt_old")
    assert (item["outcome"], item["stale_behind"]) == ("stale", "evt_new") and "published_at" in item
