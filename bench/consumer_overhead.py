"""Consumer overhead per record vs the bare user handler, both through Powertools' BatchProcessor.

    .venv/bin/python bench/consumer_overhead.py [--records 5000] [--batch 10] [--rounds 7]

Both runs share the same in-memory DynamoDB fake (tests/unit/consumer/fakes.py, no network, no moto), the same
SQS batches and the same user handler, which does its business write (one PutItem into an "orders" table):

* baseline: BatchProcessor -> json.loads(envelope) -> json.loads(body) -> user handler;
* consumer: process_batch -> envelope validation -> claim (conditional UpdateItem) -> body integrity check ->
  typed event -> registry -> user handler -> completion (conditional UpdateItem) -> per-provider EMF metrics + one
  batch log line.

Every record is a new delivery (the expensive path). Logs and EMF go to /dev/null. Rounds alternate baseline and
consumer; the median round is reported. "in fake" is the time inside the fake, "gc" the time in Python's cyclic
garbage collector (which runs wherever an allocation triggers it, often inside the fake, so the fake's time leaves
collections out). Not part of the test run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/gateway"), str(ROOT / "functions/consumer")]

import os  # noqa: E402

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WebhookGateway")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "consumer")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402

from tests.unit.consumer.fakes import (  # noqa: E402
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeDynamoDB,
    FakeLambdaContext,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer.processor import Consumer, process_batch  # noqa: E402
from webhook_gateway.consumer.registry import Registry  # noqa: E402
from webhook_gateway.consumer.settings import ConsumerSettings  # noqa: E402
from webhook_gateway.observability import logger  # noqa: E402

ORDERS = "orders"


class GcTimer:
    """Seconds spent in the cyclic garbage collector since start-up (once ``install()``-ed, via gc.callbacks)."""

    seconds = 0.0
    _start = 0.0

    @classmethod
    def install(cls) -> None:
        if cls._callback not in gc.callbacks:
            gc.callbacks.append(cls._callback)

    @classmethod
    def _callback(cls, phase: str, info: dict) -> None:
        if phase == "start":
            cls._start = time.perf_counter()
        else:
            cls.seconds += time.perf_counter() - cls._start


class TimedFakeDynamoDB(FakeDynamoDB):
    """The same fake, accounting the time spent inside it (what DynamoDB itself would do, server-side), garbage
    collections that happen to run during a call excepted (they are reported separately)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = 0.0

    def update_item(self, **kwargs):
        start, collected = time.perf_counter(), GcTimer.seconds
        try:
            return super().update_item(**kwargs)
        finally:
            self.seconds += time.perf_counter() - start - (GcTimer.seconds - collected)

    def put_item(self, **kwargs):
        start, collected = time.perf_counter(), GcTimer.seconds
        try:
            return super().put_item(**kwargs)
        finally:
            self.seconds += time.perf_counter() - start - (GcTimer.seconds - collected)


def spin(microseconds: float) -> None:
    """Stand-in for the rest of a real handler's work (a downstream call): a precise busy wait."""
    if microseconds:
        end = time.perf_counter() + microseconds / 1e6
        while time.perf_counter() < end:
            pass


def stripe_payload(n: int) -> bytes:
    """A realistic payment_intent.succeeded event (~1.6 KB)."""
    return json.dumps(
        {
            "id": f"evt_{n:08d}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_750_000_000 + n,
            "type": "payment_intent.succeeded",
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": f"req_{n:08d}", "idempotency_key": f"key-{n}"},
            "data": {
                "object": {
                    "id": f"pi_{n:08d}",
                    "object": "payment_intent",
                    "amount": 2000 + n % 100,
                    "amount_received": 2000 + n % 100,
                    "currency": "eur",
                    "customer": f"cus_{n % 977:06d}",
                    "description": "Order from the web shop",
                    "latest_charge": f"ch_{n:08d}",
                    "metadata": {"order_id": f"ord_{n:08d}", "cart": "3 items", "channel": "web"},
                    "payment_method": f"pm_{n:08d}",
                    "payment_method_types": ["card"],
                    "shipping": {
                        "name": "Jenny Rosen",
                        "address": {"line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"},
                    },
                    "status": "succeeded",
                }
            },
        }
    ).encode()


def make_batches(records: int, batch_size: int) -> list[dict]:
    bodies = [
        sqs_record(make_envelope(delivery_id=f"evt_{n:08d}", raw=stripe_payload(n)), message_id=f"m-{n}")
        for n in range(records)
    ]
    return [sqs_event(bodies[i : i + batch_size]) for i in range(0, records, batch_size)]


def business_write(dynamodb: FakeDynamoDB, body: dict, extra_us: float = 0) -> None:
    """The user's logic: record the paid order (plus ``extra_us`` of other work)."""
    spin(extra_us)
    payment = body["data"]["object"]
    dynamodb.put_item(
        TableName=ORDERS,
        Item={
            "order_id": {"S": payment["metadata"]["order_id"]},
            "status": {"S": "paid"},
            "amount": {"N": str(payment["amount_received"])},
        },
    )


def run_baseline(batches: list[dict], extra_us: float = 0) -> tuple[float, float, float]:
    """(seconds in total, seconds inside the DynamoDB fake, seconds in garbage collections)."""
    dynamodb = TimedFakeDynamoDB({ORDERS: ("order_id",)})
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record) -> None:
        envelope = json.loads(record.body)
        business_write(dynamodb, json.loads(envelope["body"]), extra_us)

    context = FakeLambdaContext()
    start, collected = time.perf_counter(), GcTimer.seconds
    for event in batches:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        assert not response["batchItemFailures"]
    elapsed = time.perf_counter() - start
    collected = GcTimer.seconds - collected
    assert len(dynamodb.items[ORDERS]) == sum(len(event["Records"]) for event in batches)
    return elapsed, dynamodb.seconds, collected


def run_consumer(batches: list[dict], extra_us: float = 0) -> tuple[float, float, float]:
    """(seconds in total, seconds inside the DynamoDB fake, seconds in garbage collections)."""
    dynamodb = TimedFakeDynamoDB({ORDERS: ("order_id",)})
    registry = Registry()
    registry.on("stripe", "payment_intent.succeeded")(lambda event: business_write(dynamodb, event.body, extra_us))
    settings = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})
    consumer = Consumer(settings=settings, registry=registry, dynamodb=dynamodb)
    context = FakeLambdaContext()
    start, collected = time.perf_counter(), GcTimer.seconds
    for event in batches:
        response = process_batch(event, context, consumer)
        assert not response["batchItemFailures"]
    elapsed = time.perf_counter() - start
    collected = GcTimer.seconds - collected
    total = sum(len(event["Records"]) for event in batches)
    assert len(dynamodb.items[ORDERS]) == total
    assert sum(1 for item in dynamodb.items[DELIVERIES_TABLE].values() if item["status"]["S"] == "processed") == total
    assert dynamodb.calls.count("UpdateItem") == 2 * total and "GetItem" not in dynamodb.calls
    return elapsed, dynamodb.seconds, collected


def measure(batches: list[dict], rounds: int, extra_us: float) -> dict[str, float]:
    """Median over ``rounds`` alternating rounds, in microseconds per record."""
    runs: dict[str, list[tuple[float, float, float]]] = {"baseline": [], "consumer": []}
    for _ in range(rounds):
        for name, run in (("baseline", run_baseline), ("consumer", run_consumer)):
            gc.collect()
            runs[name].append(run(batches, extra_us))
    records = sum(len(event["Records"]) for event in batches)
    result = {}
    for name, samples in runs.items():
        result[name] = statistics.median(total for total, _, _ in samples) / records * 1e6
        result[f"{name}_fake"] = statistics.median(fake for _, fake, _ in samples) / records * 1e6
        result[f"{name}_gc"] = statistics.median(collected for _, _, collected in samples) / records * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--handler-us",
        type=float,
        nargs="*",
        default=[0, 100, 1000],
        help="extra work (busy wait) the user handler does besides its write, one measurement per value",
    )
    args = parser.parse_args()

    batches = make_batches(args.records, args.batch)
    GcTimer.install()
    devnull = open(os.devnull, "w")  # noqa: SIM115
    logger.registered_handler.stream = devnull
    print(
        f"python {sys.version.split()[0]}, {args.records} new deliveries in batches of {args.batch}, "
        f"median of {args.rounds} alternating rounds; microseconds per record"
    )
    print(
        f"{'handler extra work':>18} | {'baseline':>8} | {'consumer':>8} | {'overhead':>8} | {'ratio':>6} | "
        f"{'in fake: base/cons':>18} | {'ratio w/o fake':>14} | {'gc: base/cons':>13}"
    )
    for extra_us in args.handler_us:
        records = args.records if extra_us < 500 else min(args.records, 1000)
        with contextlib.redirect_stdout(devnull):
            run_baseline(batches[:10]), run_consumer(batches[:10])  # warm-up (imports, caches)
            r = measure(batches[: records // args.batch], args.rounds, extra_us)
        base, cons = r["baseline"], r["consumer"]
        base_nofake, cons_nofake = base - r["baseline_fake"], cons - r["consumer_fake"]
        print(
            f"{extra_us:>15.0f} us | {base:8.1f} | {cons:8.1f} | {cons - base:+8.1f} | {cons / base:5.2f}x | "
            f"{r['baseline_fake']:8.1f}/{r['consumer_fake']:<9.1f} | {cons_nofake / base_nofake:13.2f}x | "
            f"{r['baseline_gc']:6.1f}/{r['consumer_gc']:<6.1f}"
        )
    print("target: ratio <= 1.5x")


if __name__ == "__main__":
    main()
