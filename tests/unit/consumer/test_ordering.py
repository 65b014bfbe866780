"""The ordering guard (consumer/ordering.py) through the processor, against the fakes: stale events are recorded and
not run, equal versions run, retries/duplicates/replays, the watermark's item and TTL, and the cost in writes."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    FakeClock,
    FakeDynamoDB,
    FakeLambdaContext,
    FakeS3,
    Recorder,
    client_error,
    emf_metrics,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.events import build_event
from webhook_gateway.consumer.ordering import (
    NANOS,
    ObjectVersion,
    lifecycle_rank,
    paddle_object_version,
    parse_time,
    shopify_object_version,
    square_object_version,
    standard_webhooks_object_version,
    stripe_object_version,
)
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.envelope import Envelope, ReplayRequest
from webhook_gateway.verifiers.samples import paddle, shopify, square, standard_webhooks, stripe

SUBSCRIPTION = ("stripe", "customer.subscription.*")


def subscription_event(delivery_id: str, created: int, event_type: str = "customer.subscription.updated",
                       object_id: str = "sub_1") -> Envelope:
    body = json.dumps(
        {"id": delivery_id, "type": event_type, "created": created, "data": {"object": {"id": object_id}}}
    ).encode()
    return make_envelope("stripe", delivery_id, event_type, body)


def run(consumer: Consumer, *envelopes: Envelope) -> list[str]:
    """Process each envelope in its own batch; the ids SQS would retry."""
    failed = []
    for envelope in envelopes:
        response = process_batch(sqs_event([sqs_record(envelope)]), FakeLambdaContext(), consumer)
        failed += [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    return failed


def seen(handler: Recorder) -> list[int]:
    return [event.body["created"] for event in handler.events]


# ------------------------------------------------------------------------------------------------ through the processor
def test_an_older_event_after_a_newer_one_is_recorded_stale_and_not_run(consumer, registry, dynamodb, capsys):
    # Given a guarded subscription handler that already applied the event created at t=200
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    run(consumer, subscription_event("evt_new", 200))

    # When the event created at t=100 arrives late
    assert run(consumer, subscription_event("evt_old", 100)) == []

    # Then the handler never saw it; the ledger says processed/stale behind evt_new; it is counted, not retried
    assert seen(handler) == [200]
    old = dynamodb.item("stripe", "evt_old")
    assert (old["status"], old["outcome"], old["stale_behind"]) == ("processed", "stale", "evt_new")
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics[("stripe", "StaleEventsSkipped")] == [1]
    assert ("stripe", "DeliveriesSkipped") not in metrics


def test_a_guarded_event_costs_one_conditional_write_more_and_no_read(consumer, registry, dynamodb):
    # Given a guarded handler
    registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())

    # When a current event, then a stale one, are processed
    run(consumer, subscription_event("evt_new", 200))
    current = list(dynamodb.calls)
    run(consumer, subscription_event("evt_old", 100))

    # Then each cost claim + watermark + complete: three UpdateItems, no GetItem
    assert current == ["UpdateItem"] * 3
    assert dynamodb.calls == ["UpdateItem"] * 6


def test_the_watermark_is_an_unindexed_item_of_the_ledger_table_with_a_ttl(consumer, registry, dynamodb, clock):
    # Given a guarded handler (the default watermark TTL: DELIVERY_TTL_DAYS, 30)
    registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())

    # When one event is processed
    run(consumer, subscription_event("evt_1", 1_700_000_000))

    # Then the watermark item holds its version, who set it and when it expires, and no status (in no GSI)
    mark = dynamodb.item("stripe#order", "sub_1")
    assert mark["version"] == 1_700_000_000 * NANOS
    assert mark["tie"] == 1  # "updated"
    assert mark["watermark_delivery_id"] == "evt_1"
    assert mark["expires_at"] == int(clock()) + 30 * 86_400
    assert "status" not in mark and "last_attempt_at" not in mark


def test_the_watermark_ttl_has_its_own_setting(registry, dynamodb, s3, clock):
    # Given ORDERING_WATERMARK_TTL_DAYS 7
    own = ConsumerSettings.from_env(
        {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": "b-overflow", "ORDERING_WATERMARK_TTL_DAYS": "7"}
    )
    consumer = Consumer(settings=own, registry=registry, dynamodb=dynamodb, s3=s3, clock=clock)
    registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())

    # When an event is processed
    run(consumer, subscription_event("evt_1", 100))

    # Then its watermark expires after 7 days, the ledger item after DELIVERY_TTL_DAYS
    assert dynamodb.item("stripe#order", "sub_1")["expires_at"] == int(clock()) + 7 * 86_400
    assert dynamodb.item("stripe", "evt_1")["expires_at"] == int(clock()) + 30 * 86_400


def test_an_expired_watermark_no_longer_makes_older_events_stale(consumer, registry, dynamodb, clock):
    # Given a watermark set at t=200, and its TTL passed (DynamoDB deletes expired items up to days later)
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    run(consumer, subscription_event("evt_new", 200))
    clock.advance(31 * 86_400)

    # When an older event arrives
    run(consumer, subscription_event("evt_old", 100))

    # Then it is applied: an expired watermark counts as absent
    assert seen(handler) == [200, 100]


def test_equal_versions_are_not_stale(consumer, registry, dynamodb):
    # Given a guarded handler that applied an event for sub_1 at t=100
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    run(consumer, subscription_event("evt_a", 100))

    # When another event of the same second and the same lifecycle rank arrives
    run(consumer, subscription_event("evt_b", 100))

    # Then both ran (the guard cannot order what the provider does not)
    assert [event.delivery_id for event in handler.events] == ["evt_a", "evt_b"]


def test_within_one_second_a_deletion_is_not_overridden_by_an_update(consumer, registry):
    # Given the deletion of sub_1 applied
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    run(consumer, subscription_event("evt_del", 100, "customer.subscription.deleted"))

    # When an update of the same second arrives after it
    run(consumer, subscription_event("evt_upd", 100, "customer.subscription.updated"))

    # Then the update is stale (tie-break: created 0 < anything else 1 < deleted 2)
    assert [event.delivery_id for event in handler.events] == ["evt_del"]


def test_a_retry_after_the_handler_failed_runs_again_although_the_watermark_moved(consumer, registry, dynamodb):
    # Given a guarded handler that fails on its first call (the watermark already holds this event's version)
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder(failures=1))
    envelope = subscription_event("evt_1", 100)
    assert run(consumer, envelope)  # retried

    # When SQS delivers it again
    run(consumer, envelope)

    # Then the retry has an equal version: not stale, it runs and completes
    assert seen(handler) == [100]
    assert dynamodb.item("stripe", "evt_1")["outcome"] == "handled"


def test_a_failed_event_overtaken_by_a_newer_one_is_stale_on_its_retry(consumer, registry, dynamodb):
    # Given t=100 failed once (to be retried), then t=200 applied
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder(failures=1))
    old = subscription_event("evt_old", 100)
    run(consumer, old, subscription_event("evt_new", 200))

    # When the retry of t=100 comes back
    run(consumer, old)

    # Then it is stale: the newest state was applied, the older one never overwrites it
    assert seen(handler) == [200]
    assert dynamodb.item("stripe", "evt_old")["outcome"] == "stale"


def test_duplicates_never_reach_the_watermark(consumer, registry, dynamodb):
    # Given an event applied
    registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    run(consumer, subscription_event("evt_1", 100))
    calls = len(dynamodb.calls)

    # When the provider sends it again
    run(consumer, subscription_event("evt_1", 100))

    # Then only the ledger's claim was written (it failed: duplicate), not the watermark
    assert dynamodb.calls[calls:] == ["UpdateItem"]


def test_deliver_stale_hands_the_event_with_stale_true_and_records_stale_handled(consumer, registry, dynamodb, capsys):
    # Given a route that wants stale events too
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version, deliver_stale=True)(Recorder())

    # When t=200 then t=100 arrive
    run(consumer, subscription_event("evt_new", 200), subscription_event("evt_old", 100))

    # Then both ran, only the second flagged, and the ledger says which was stale
    assert [(event.delivery_id, event.stale) for event in handler.events] == [("evt_new", False), ("evt_old", True)]
    assert dynamodb.item("stripe", "evt_old")["outcome"] == "stale_handled"
    assert dynamodb.item("stripe", "evt_old")["stale_behind"] == "evt_new"
    assert ("stripe", "StaleEventsSkipped") not in emf_metrics(capsys.readouterr().out)


def test_a_replay_of_an_old_event_is_stale_and_of_the_newest_runs(consumer, registry, dynamodb, clock):
    # Given t=100 then t=200 applied
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    old, new = subscription_event("evt_old", 100), subscription_event("evt_new", 200)
    run(consumer, old, new)

    # When an operator replays both (hookctl replay)
    copies = []
    for envelope, replay_id in ((old, "r-old"), (new, "r-new")):
        ledger.request_replay(DELIVERIES_TABLE, "stripe", envelope.delivery_id, replay_id=replay_id,
                              requested_by="op", now=clock(), ttl_days=1, client=dynamodb)
        request = ReplayRequest(id=replay_id, requested_at=datetime.now(UTC), requested_by="op")
        copies.append(envelope.model_copy(update={"replay": request}))
    run(consumer, *copies)

    # Then the replay of the old event is recorded stale (replays are guarded), the newest one ran again
    assert seen(handler) == [100, 200, 200]
    assert dynamodb.item("stripe", "evt_old")["outcome"] == "stale"
    assert dynamodb.item("stripe", "evt_new")["outcome"] == "handled"


def test_an_event_the_extractor_does_not_guard_runs_unguarded(consumer, registry, dynamodb):
    # Given a guarded route and an event without data.object.id
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    body = json.dumps({"id": "evt_x", "type": "customer.subscription.updated", "created": 1, "data": {}}).encode()

    # When it is processed
    run(consumer, make_envelope("stripe", "evt_x", "customer.subscription.updated", body))

    # Then it ran with two writes (no watermark)
    assert handler.calls == 1
    assert dynamodb.calls == ["UpdateItem", "UpdateItem"]


def test_a_user_extractor_and_a_namespace_share_one_watermark_across_providers(consumer, registry, dynamodb):
    # Given two providers' routes keyed by the same customer id in one namespace
    def by_customer(event) -> ObjectVersion:
        return ObjectVersion(event.body["customer"], event.body["seq"])

    a = registry.on("stripe", "*", ordered_by=by_customer, order_namespace="customers")(Recorder())
    b = registry.on("github", "*", ordered_by=by_customer, order_namespace="customers")(Recorder())

    # When github's seq 2 lands before stripe's seq 1
    run(consumer, make_envelope("github", "gh-1", "push", b'{"customer": "c1", "seq": 2}'),
        make_envelope("stripe", "evt_1", "x", b'{"customer": "c1", "seq": 1}'))

    # Then stripe's is stale, under the shared namespace's watermark
    assert (a.calls, b.calls) == (0, 1)
    assert dynamodb.item("customers#order", "c1")["watermark_delivery_id"] == "gh-1"


def test_a_watermark_write_error_is_a_ledger_error_with_the_short_retry(consumer, registry, dynamodb, capsys):
    # Given a guarded handler and the watermark write throttled (the claim goes through)
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    original = dynamodb.update_item

    def throttled_watermark(**params):
        if params["Key"]["provider"]["S"].endswith("#order"):
            raise client_error("ProvisionedThroughputExceededException")
        return original(**params)

    dynamodb.update_item = throttled_watermark

    # When the event is processed
    failed = run(consumer, subscription_event("evt_1", 100))

    # Then the handler did not run, the record is retried without backoff, counted as a ledger error
    assert failed and handler.calls == 0
    item = dynamodb.item("stripe", "evt_1")
    assert item["status"] == "failed" and "next_attempt_at" not in item
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics[("stripe", "LedgerErrors")] == [1]
    assert ("stripe", "HandlerFailures") not in metrics


def test_an_extractor_that_raises_fails_like_the_handler(consumer, registry, dynamodb):
    # Given a user extractor that raises
    def broken(event) -> ObjectVersion:
        raise KeyError("seq")

    handler = registry.on(*SUBSCRIPTION, ordered_by=broken)(Recorder())

    # When the event is processed
    failed = run(consumer, subscription_event("evt_1", 100))

    # Then nothing ran, and it waits for the retry schedule like a handler failure
    assert failed and handler.calls == 0
    assert "next_attempt_at" in dynamodb.item("stripe", "evt_1")


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(8))), st.integers(min_value=0, max_value=7))
def test_shuffled_updates_apply_a_non_decreasing_sequence_ending_with_the_newest(order, duplicate):
    # Given eight updates of one object (one redelivered), in any arrival order
    dynamodb, registry = FakeDynamoDB(), Registry()
    settings_ = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": "b-overflow"})
    consumer = Consumer(settings=settings_, registry=registry, dynamodb=dynamodb, s3=FakeS3(), clock=FakeClock())
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    arrivals = [subscription_event(f"evt_{n}", 1000 + n) for n in [*order, order[duplicate]]]

    # When they are processed one by one
    run(consumer, *arrivals)

    # Then the handler saw a strictly increasing sequence (each at most once), the newest included, and the
    # watermark is the newest
    applied = seen(handler)
    assert applied == sorted(set(applied)) and applied[-1] == 1007
    assert dynamodb.item("stripe#order", "sub_1")["watermark_delivery_id"] == "evt_7"
    stale = [n for n in range(8) if dynamodb.item("stripe", f"evt_{n}")["outcome"] == "stale"]
    assert sorted(stale + [created - 1000 for created in applied]) == list(range(8))


def test_consumers_racing_on_one_object_admit_versions_in_increasing_order_only(registry, s3):
    # Given 4 consumers sharing one table, and 40 updates of one object spread over them in random order
    dynamodb = FakeDynamoDB()
    settings_ = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": "b-overflow"})
    consumer = Consumer(settings=settings_, registry=registry, dynamodb=dynamodb, s3=s3)
    handler = registry.on(*SUBSCRIPTION, ordered_by=stripe_object_version)(Recorder())
    updates = [subscription_event(f"evt_{n}", 1000 + n) for n in range(40)]
    random.Random(7).shuffle(updates)
    start = threading.Barrier(4)

    def worker(share: list[Envelope]) -> None:
        start.wait()
        run(consumer, *share)

    threads = [threading.Thread(target=worker, args=(updates[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the watermark only ever moved forward (in DynamoDB's commit order), ending at the newest, which ran;
    # every update ran once or was recorded stale, never both
    moves = [item["version"]["N"] for table, key, item in dynamodb.written if key == ("stripe#order", "sub_1")]
    assert [int(v) for v in moves] == sorted(int(v) for v in moves)
    assert int(moves[-1]) == 1039 * NANOS
    ran = seen(handler)
    assert 1039 in ran and len(ran) == len(set(ran))
    for n in range(40):
        item = dynamodb.item("stripe", f"evt_{n}")
        assert item["status"] == "processed"
        assert (item["outcome"] == "handled") == ((1000 + n) in ran)


# ------------------------------------------------------------------------------------------------ extractors, samples
def sample_event(provider: str, module, kind: str, event_type: str, **headers: str):
    delivery = module.SAMPLES.kinds[kind]()
    envelope = make_envelope(provider, "d-1", event_type, delivery.body,
                             headers={**dict(delivery.headers), **headers})
    return build_event(envelope, delivery.body)


def test_stripe_extractor_on_the_sample_event():
    event = sample_event("stripe", stripe, "payment_intent.succeeded", "payment_intent.succeeded")
    version = stripe_object_version(event)
    assert version == ObjectVersion(event.body["data"]["object"]["id"], event.body["created"] * NANOS, 1)


def test_shopify_extractor_uses_the_triggered_at_header_with_its_nanoseconds():
    event = sample_event("shopify", shopify, "orders_create", "orders/create")
    version = shopify_object_version(event)
    assert version is not None
    assert version.key == f"orders:{shopify.ORDER_ID}"
    assert version.version == parse_time(event.header("x-shopify-triggered-at"))
    assert version.version % 1000 == 123  # the header's nanosecond digits are kept
    assert version.tie == 0  # orders/create


def test_shopify_extractor_reads_the_events_spelling_of_the_headers_too():
    # Given the sample as Shopify Events sends it: the same headers without "x-"
    event = sample_event("shopify", shopify, "orders_create", "orders/create")
    headers = {name.removeprefix("x-"): value for name, value in event.headers.items()}
    classic = shopify_object_version(event)

    # Then the version is the same
    assert shopify_object_version(event.model_copy(update={"headers": headers})) == classic


def test_shopify_extractor_falls_back_to_updated_at_without_the_header():
    event = sample_event("shopify", shopify, "orders_create", "orders/create")
    headers = {name: value for name, value in event.headers.items() if name != "x-shopify-triggered-at"}
    version = shopify_object_version(event.model_copy(update={"headers": headers}))
    assert version is not None and version.version == parse_time(event.body["updated_at"])


def test_square_extractor_uses_updated_at_with_the_object_version_as_tie_break():
    event = sample_event("square", square, "payment.updated", "payment.updated")
    payment = event.body["data"]["object"]["payment"]
    assert square_object_version(event) == ObjectVersion(
        f"payment:{event.body['data']['id']}", parse_time(payment["updated_at"]), payment["version"]
    )


def test_paddle_extractor_uses_occurred_at_to_the_microsecond():
    event = sample_event("paddle", paddle, "transaction.completed", "transaction.completed")
    version = paddle_object_version(event)
    assert version is not None and version.key == event.body["data"]["id"]
    assert version.version == parse_time(event.body["occurred_at"]) and version.version % NANOS == 512_345_000


def test_standard_webhooks_extractor_uses_the_signed_timestamp_header():
    event = sample_event("standard_webhooks", standard_webhooks, "contact.created", "contact.created",
                         **{"webhook-timestamp": "1795718537"})
    assert standard_webhooks_object_version(event) == ObjectVersion(event.body["data"]["id"], 1795718537 * NANOS, 0)


@pytest.mark.parametrize(
    ("extractor", "body"),
    [
        (stripe_object_version, {"data": {"object": {"id": "x"}}}),
        (stripe_object_version, {"created": True, "data": {"object": {"id": "x"}}}),
        (shopify_object_version, {"id": 1}),
        (square_object_version, {"data": {"type": "payment"}}),
        (paddle_object_version, {"data": {"id": "txn_1"}, "occurred_at": "yesterday"}),
        (standard_webhooks_object_version, {"data": {"id": "x"}}),
    ],
)
def test_extractors_return_none_when_the_event_lacks_what_they_need(extractor, body):
    raw = json.dumps(body).encode()
    assert extractor(build_event(make_envelope("stripe", "d", "t.updated", raw), raw)) is None


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1970-01-01T00:00:01Z", NANOS),
        ("1970-01-01T00:00:01.5Z", NANOS + 500_000_000),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00:00.1234567891234Z", 123_456_789),
        ("not a time", None),
        (1700000000, None),
    ],
)
def test_parse_time(text, nanos):
    assert parse_time(text) == nanos


def test_lifecycle_rank():
    assert [lifecycle_rank(t) for t in ("a.created", "orders/create", "a.updated", "b.deleted", "app/uninstalled")] == [
        0, 0, 1, 2, 1,
    ]


def test_object_version_rejects_what_dynamodb_could_not_compare():
    with pytest.raises(TypeError):
        ObjectVersion("k", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 to 1024 bytes"):
        ObjectVersion("", 1)
