"""The ordering guard against real AWS APIs (moto): the watermark's conditional write with ALL_OLD, shuffled
updates through a real SQS queue, and consumers racing on one object. One moto world for the module."""

from __future__ import annotations

import itertools
import json
import random
import threading

import pytest

from tests.integration.consumer.aws import atomic_moto_writes, drain, moto_aws, send
from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger, ordering
from webhook_gateway.consumer.ordering import NANOS, ObjectVersion, stripe_object_version
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings

_requests = itertools.count(1)
_objects = itertools.count(1)


@pytest.fixture(scope="module")
def aws():
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def object_id() -> str:
    """A fresh object per test: the module shares one table."""
    return f"sub_{next(_objects)}"


def make_consumer(aws, registry: Registry) -> Consumer:
    settings = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})
    return Consumer(settings=settings, registry=registry, dynamodb=aws.dynamodb, s3=aws.s3)


def update(object_id: str, n: int):
    body = json.dumps(
        {"id": f"evt_{object_id}_{n}", "type": "customer.subscription.updated", "created": 1_000 + n,
         "data": {"object": {"id": object_id}}}
    ).encode()
    return make_envelope("stripe", f"evt_{object_id}_{n}", "customer.subscription.updated", body)


def new_context() -> FakeLambdaContext:
    return FakeLambdaContext(aws_request_id=f"req-{next(_requests)}")


def outcome(aws, object_id: str, n: int) -> str:
    return ledger.get_delivery(DELIVERIES_TABLE, "stripe", f"evt_{object_id}_{n}", client=aws.dynamodb)["outcome"]


def test_the_watermark_write_returns_the_newer_item_when_it_refuses(aws, object_id):
    # Given a watermark at t=200
    def advance(seconds: int, delivery_id: str):
        return ordering.advance_watermark(
            DELIVERIES_TABLE, "stripe", ObjectVersion(object_id, seconds * NANOS, 1), delivery_id=delivery_id,
            event_type="customer.subscription.updated", now=1_800_000_000, ttl_days=3, client=aws.dynamodb,
        )

    assert advance(200, "evt_200") is None

    # When an older, an equal and a newer version try to move it
    older, equal, newer = advance(100, "evt_100"), advance(200, "evt_200b"), advance(300, "evt_300")

    # Then only the older one is refused, with the watermark it lost to (DynamoDB's ALL_OLD, no read)
    assert older == ordering.Watermark(200 * NANOS, 1, "evt_200", "customer.subscription.updated")
    assert (equal, newer) == (None, None)
    item = aws.dynamodb.get_item(TableName=DELIVERIES_TABLE, Key=ordering.watermark_key("stripe", object_id))["Item"]
    assert item["version"] == {"N": str(300 * NANOS)}
    assert item["expires_at"] == {"N": str(1_800_000_000 + 3 * 86_400)}
    assert "status" not in item


def test_shuffled_updates_through_the_queue_apply_only_the_newest_so_far(aws, object_id):
    # Given a guarded handler and 12 updates of one object queued in random order
    registry = Registry()
    handler = registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)(Recorder())
    consumer = make_consumer(aws, registry)
    arrivals = list(range(12))
    random.Random(3).shuffle(arrivals)
    for n in arrivals:
        send(aws, update(object_id, n))

    # When the consumer drains the queue one message at a time
    drain(aws, lambda event, context: process_batch(event, context, consumer), new_context, batch_size=1)

    # Then the handler saw a strictly increasing sequence ending with the newest; the rest are recorded stale
    applied = [event.body["created"] - 1_000 for event in handler.events]
    expected = [n for i, n in enumerate(arrivals) if n > max(arrivals[:i], default=-1)]
    assert applied == expected and applied[-1] == 11
    assert {n: outcome(aws, object_id, n) for n in range(12)} == {
        n: "handled" if n in applied else "stale" for n in range(12)
    }


def test_consumers_racing_on_one_object_only_ever_move_the_watermark_forward(aws, object_id):
    # Given 3 consumer threads, each with 8 of 24 updates of one object in random order
    registry = Registry()
    handler = registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)(Recorder())
    consumer = make_consumer(aws, registry)
    updates = [update(object_id, n) for n in range(24)]
    random.Random(11).shuffle(updates)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker(share) -> None:
        start.wait()
        try:
            for envelope in share:
                process_batch(sqs_event([sqs_record(envelope)]), new_context(), consumer)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    # When they race (moto's writes serialised, as DynamoDB's per-item writes are)
    with atomic_moto_writes():
        threads = [threading.Thread(target=worker, args=(updates[i::3],)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then the newest was applied, the watermark holds it, and every update ran once or was recorded stale
    assert errors == []
    applied = [event.body["created"] - 1_000 for event in handler.events]
    assert 23 in applied and len(applied) == len(set(applied))
    mark = aws.dynamodb.get_item(TableName=DELIVERIES_TABLE, Key=ordering.watermark_key("stripe", object_id))["Item"]
    assert mark["watermark_delivery_id"] == {"S": f"evt_{object_id}_23"}
    for n in range(24):
        assert outcome(aws, object_id, n) == ("handled" if n in applied else "stale")
