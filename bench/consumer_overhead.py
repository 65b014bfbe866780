"""Consumer overhead per record vs the bare user handler and vs Powertools' idempotency, all through BatchProcessor.

    .venv/bin/python bench/consumer_overhead.py [--records 5000] [--batch 10] [--rounds 7] [--handler-us 0 100 1000]
                                                [--no-duplicates] [--clock wall|cpu]

All three sides share the same in-memory DynamoDB fake class (tests/unit/consumer/fakes.py, no network, no moto),
the same SQS batches and the same user handler, which does its business write (one PutItem into an "orders" table):

* baseline: BatchProcessor -> json.loads(envelope) -> json.loads(body) -> user handler;
* powertools: BatchProcessor -> json.loads(envelope) -> a function decorated with Powertools' ``idempotent_function``
  (``DynamoDBPersistenceLayer`` on the fake, key ``[provider, delivery_id]`` of the envelope, the default config
  otherwise, the Lambda context registered per batch) -> json.loads(body) -> user handler. This is what a user would
  write instead of our ledger: conditional PutItem INPROGRESS, handler, UpdateItem COMPLETED;
* consumer: process_batch -> envelope validation -> claim (conditional UpdateItem) -> body integrity check ->
  typed event -> registry -> user handler -> completion (conditional UpdateItem) -> per-provider EMF metrics + one
  batch log line.

Every record is a new delivery (the expensive path); with --duplicates (on by default, at the first --handler-us
value) the same batches run a second time on the same fake, every record a duplicate, and that second pass is timed.
Logs and EMF go to /dev/null. Rounds cycle through the sides (baseline, powertools, consumer); the median round is
reported, and "cons/pt paired" is the median of the per-round consumer/powertools ratios. "in fake" is the time
inside the fake, "gc" the time in Python's cyclic garbage collector (which runs wherever an allocation triggers it,
often inside the fake, so the fake's time leaves collections out). "calls" are the fake's DynamoDB calls per record,
the business PutItem included. Every figure is wall time unless --clock cpu, which times (and busy-waits) on this
process's CPU time: on a machine shared with other jobs, time spent descheduled then inflates no side. Not part of the
test run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/gateway"), str(ROOT / "functions/consumer")]

import os  # noqa: E402

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WebhookGateway")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "consumer")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402
from aws_lambda_powertools.utilities.idempotency import (  # noqa: E402
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from bench.receiver_common import table  # noqa: E402
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


def clock() -> float:
    """The benchmark's clock: wall time (time.perf_counter) unless --clock cpu picks this process's CPU time."""
    return _clock()


_clock = time.perf_counter
IDEMPOTENCY = "idempotency"  # Powertools' table: partition key "id" (its default key_attr), no sort key
SIDES = ("baseline", "powertools", "consumer")


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
            cls._start = clock()
        else:
            cls.seconds += clock() - cls._start


class TimedFakeDynamoDB(FakeDynamoDB):
    """The same fake, accounting the time spent inside it (what DynamoDB itself would do, server-side), garbage
    collections that happen to run during a call excepted (they are reported separately)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = 0.0

    def update_item(self, **kwargs):
        start, collected = clock(), GcTimer.seconds
        try:
            return super().update_item(**kwargs)
        finally:
            self.seconds += clock() - start - (GcTimer.seconds - collected)

    def put_item(self, **kwargs):
        start, collected = clock(), GcTimer.seconds
        try:
            return super().put_item(**kwargs)
        finally:
            self.seconds += clock() - start - (GcTimer.seconds - collected)

    def get_item(self, **kwargs):
        start, collected = clock(), GcTimer.seconds
        try:
            return super().get_item(**kwargs)
        finally:
            self.seconds += clock() - start - (GcTimer.seconds - collected)


def spin(microseconds: float) -> None:
    """Stand-in for the rest of a real handler's work (a downstream call): a precise busy wait, on the benchmark's
    clock (with --clock cpu, ``microseconds`` of CPU)."""
    if microseconds:
        end = clock() + microseconds / 1e6
        while clock() < end:
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


BatchHandler = Callable[[dict, FakeLambdaContext], dict]


def baseline_side(extra_us: float) -> tuple[TimedFakeDynamoDB, BatchHandler]:
    dynamodb = TimedFakeDynamoDB({ORDERS: ("order_id",)})
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record) -> None:
        envelope = json.loads(record.body)
        business_write(dynamodb, json.loads(envelope["body"]), extra_us)

    def handle(event: dict, context: FakeLambdaContext) -> dict:
        return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)

    return dynamodb, handle


def powertools_side(extra_us: float) -> tuple[TimedFakeDynamoDB, BatchHandler]:
    dynamodb = TimedFakeDynamoDB({ORDERS: ("order_id",), IDEMPOTENCY: ("id",)})
    persistence = DynamoDBPersistenceLayer(table_name=IDEMPOTENCY, boto3_client=dynamodb)
    config = IdempotencyConfig(event_key_jmespath="[provider, delivery_id]")
    processor = BatchProcessor(event_type=EventType.SQS)

    @idempotent_function(data_keyword_argument="envelope", config=config, persistence_store=persistence)
    def process_delivery(envelope: dict) -> None:
        business_write(dynamodb, json.loads(envelope["body"]), extra_us)

    def record_handler(record) -> None:
        process_delivery(envelope=json.loads(record.body))

    def handle(event: dict, context: FakeLambdaContext) -> dict:
        config.register_lambda_context(context)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)

    return dynamodb, handle


def consumer_side(extra_us: float) -> tuple[TimedFakeDynamoDB, BatchHandler]:
    dynamodb = TimedFakeDynamoDB({ORDERS: ("order_id",)})
    registry = Registry()
    registry.on("stripe", "payment_intent.succeeded")(lambda event: business_write(dynamodb, event.body, extra_us))
    settings = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})
    consumer = Consumer(settings=settings, registry=registry, dynamodb=dynamodb)

    def handle(event: dict, context: FakeLambdaContext) -> dict:
        return process_batch(event, context, consumer)

    return dynamodb, handle


SIDE_FACTORIES = {"baseline": baseline_side, "powertools": powertools_side, "consumer": consumer_side}


@dataclass
class Run:
    seconds: float  # in total
    fake: float  # inside the DynamoDB fake
    gc: float  # in garbage collections
    calls: list[str]  # the fake's operations, in order


def run_side(name: str, batches: list[dict], extra_us: float = 0, *, duplicates: bool = False) -> Run:
    """One timed pass over ``batches``; with ``duplicates``, an untimed first pass makes every record a duplicate."""
    dynamodb, handle = SIDE_FACTORIES[name](extra_us)
    context = FakeLambdaContext()
    total = sum(len(event["Records"]) for event in batches)
    if duplicates:
        for event in batches:
            assert not handle(event, context)["batchItemFailures"]
        dynamodb.seconds, dynamodb.calls = 0.0, []
    start, collected = clock(), GcTimer.seconds
    for event in batches:
        response = handle(event, context)
        assert not response["batchItemFailures"]
    elapsed = clock() - start
    collected = GcTimer.seconds - collected
    # Each side did the work it claims, so the times compare like with like.
    assert len(dynamodb.items[ORDERS]) == total
    if name == "consumer":
        ledger = dynamodb.items[DELIVERIES_TABLE].values()
        assert sum(1 for item in ledger if item["status"]["S"] == "processed") == total
        assert dynamodb.calls.count("UpdateItem") == (1 if duplicates else 2) * total
        assert "GetItem" not in dynamodb.calls
    if name == "powertools":
        records = dynamodb.items[IDEMPOTENCY].values()
        assert sum(1 for item in records if item["status"]["S"] == "COMPLETED") == total
    if duplicates and name != "baseline":
        assert "PutItem" not in dynamodb.calls or name == "powertools"  # no business write: the handler did not run
        assert dynamodb.calls.count("PutItem") == (total if name == "powertools" else 0)
    return Run(elapsed, dynamodb.seconds, collected, list(dynamodb.calls))


def measure(batches: list[dict], rounds: int, extra_us: float, *, duplicates: bool = False) -> dict[str, Any]:
    """Medians over ``rounds`` rounds (each side once per round, in turn), in microseconds per record."""
    runs: dict[str, list[Run]] = {name: [] for name in SIDES}
    for _ in range(rounds):
        for name in SIDES:
            gc.collect()
            runs[name].append(run_side(name, batches, extra_us, duplicates=duplicates))
    records = sum(len(event["Records"]) for event in batches)
    result: dict[str, Any] = {}
    for name, samples in runs.items():
        result[name] = statistics.median(run.seconds for run in samples) / records * 1e6
        result[f"{name}_fake"] = statistics.median(run.fake for run in samples) / records * 1e6
        result[f"{name}_gc"] = statistics.median(run.gc for run in samples) / records * 1e6
        calls = samples[-1].calls
        result[f"{name}_calls"] = len(calls) / records
        result[f"{name}_call_mix"] = " + ".join(
            f"{calls.count(operation) / records:g} {operation}" for operation in sorted(set(calls))
        )
    result["paired"] = statistics.median(
        c.seconds / p.seconds for c, p in zip(runs["consumer"], runs["powertools"], strict=True)
    )
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
    parser.add_argument("--no-duplicates", action="store_true", help="skip the all-duplicates pass")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time, this process's CPU time, "
                             "which time spent descheduled by other jobs on a busy machine does not inflate")
    args = parser.parse_args()
    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter

    batches = make_batches(args.records, args.batch)
    GcTimer.install()
    devnull = open(os.devnull, "w")  # noqa: SIM115
    logger.registered_handler.stream = devnull
    print(
        f"python {sys.version.split()[0]}, {args.records} deliveries in batches of {args.batch}, "
        f"median of {args.rounds} rounds (baseline, powertools, consumer in turn); microseconds per record, "
        f"{'CPU time (time.process_time)' if args.clock == 'cpu' else 'wall time (time.perf_counter)'}"
    )
    print()
    scenarios = [(extra_us, False) for extra_us in args.handler_us]
    if not args.no_duplicates and args.handler_us:
        scenarios.append((args.handler_us[0], True))
    time_rows, calls_rows, verdicts = [], [], []
    for extra_us, duplicates in scenarios:
        records = args.records if extra_us < 500 else min(args.records, 1000)
        with contextlib.redirect_stdout(devnull):
            for name in SIDES:
                run_side(name, batches[:10], duplicates=duplicates)  # warm-up (imports, caches)
            r = measure(batches[: records // args.batch], args.rounds, extra_us, duplicates=duplicates)
        label = f"{'duplicates' if duplicates else 'new'}, handler +{extra_us:.0f} us"
        base, pt, cons = r["baseline"], r["powertools"], r["consumer"]
        time_rows.append([
            label, f"{base:.1f}", f"{pt:.1f}", f"{cons:.1f}", f"{cons / base:.2f}x", f"{cons / pt:.2f}x",
            f"{r['paired']:.2f}x", f"{(cons - r['consumer_fake']) / (pt - r['powertools_fake']):.2f}x",
            f"{r['baseline_fake']:.1f} / {r['powertools_fake']:.1f} / {r['consumer_fake']:.1f}",
            f"{r['baseline_gc']:.1f} / {r['powertools_gc']:.1f} / {r['consumer_gc']:.1f}",
        ])
        calls_rows.append([label, *(f"{r[f'{name}_calls']:g}: {r[f'{name}_call_mix']}" for name in SIDES)])
        verdicts.append((label, r["paired"] <= 1.0, r["consumer_calls"] <= r["powertools_calls"]))
        print(f"  {label}: done", file=sys.stderr, flush=True)
    print(table(["records", "baseline", "powertools", "consumer", "cons/base", "cons/pt", "cons/pt paired",
                 "cons/pt w/o fake", "in fake: base / pt / cons", "gc: base / pt / cons"], time_rows))
    print()
    print("DynamoDB calls per record (the fake's operations, the business PutItem included):")
    print()
    print(table(["records", "baseline", "powertools idempotency", "consumer"], calls_rows, align="llll"))
    print()
    print("target: consumer no slower per record than Powertools idempotency (cons/pt paired <= 1.00x) and no more "
          "DynamoDB calls")
    for label, time_ok, calls_ok in verdicts:
        print(f"  {label}: time {'MET' if time_ok else 'MISSED'}, calls {'MET' if calls_ok else 'MISSED'}")


if __name__ == "__main__":
    main()
