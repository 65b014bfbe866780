"""DynamoDB calls per delivery processed by the consumer, counted with botocore's event hooks against moto.

    .venv/bin/python bench/consumer_ddb_calls.py        (or: .venv/bin/python -m bench.consumer_ddb_calls)

The real pipeline (``process_batch``) runs with a boto3 DynamoDB client on moto's in-process ``mock_aws``; hooks on
that client count ``before-call`` (one per API call) and ``before-send`` (one per HTTP attempt, so botocore retries
would show). The table is created before the hooks are registered, so the setup is not counted.

Targets: a new delivery costs 2 writes (claim + complete) and 0 reads; a duplicate 1 conditional write. A provider
whose delivery id is not signed (GitHub) pays at most one more conditional write per delivery (the body claim that
turns a replay under a new id into a duplicate). A route with the ordering guard (``ordered_by``) pays ONE more
conditional write per guarded delivery (the watermark), whether it is current or stale, and none per duplicate.
Exit status 1 when a target is missed. Not part of the test run.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/gateway"), str(ROOT / "functions/consumer")]
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "WebhookGateway",
    "POWERTOOLS_SERVICE_NAME": "consumer",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from tests.integration.consumer.aws import create_deliveries_table  # noqa: E402
from tests.unit.consumer.fakes import (  # noqa: E402
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    Recorder,
    make_envelope,
    sqs_event,
    sqs_record,
)
from webhook_gateway.consumer import ledger  # noqa: E402
from webhook_gateway.consumer.ordering import stripe_object_version  # noqa: E402
from webhook_gateway.consumer.processor import Consumer, process_batch  # noqa: E402
from webhook_gateway.consumer.registry import Registry  # noqa: E402
from webhook_gateway.consumer.settings import ConsumerSettings  # noqa: E402

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


class CallCounter:
    def __init__(self, client) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts = 0
        client.meta.events.register("before-call.dynamodb", self._call)
        client.meta.events.register("before-send.dynamodb", self._send)

    def _call(self, model, **kwargs) -> None:
        self.calls[model.name] += 1

    def _send(self, **kwargs) -> None:
        self.attempts += 1

    def take(self) -> tuple[int, int, int, str]:
        writes = sum(n for op, n in self.calls.items() if op in WRITES)
        reads = sum(n for op, n in self.calls.items() if op in READS)
        detail = ", ".join(f"{op} x{n}" for op, n in sorted(self.calls.items())) or "-"
        result = (writes, reads, self.attempts, detail)
        self.calls.clear()
        self.attempts = 0
        return result


def main() -> int:
    rows: list[tuple[str, int, tuple[int, int, int, str], tuple[int, int] | None]] = []
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_deliveries_table(dynamodb)
        counter = CallCounter(dynamodb)
        registry = Registry()
        registry.on("stripe", "payment_intent.succeeded")(Recorder())
        registry.on("github", "push")(Recorder())
        flaky = registry.on("stripe", "charge.failed")(Recorder(failures=1))
        registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)(Recorder())
        settings = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})
        consumer = Consumer(settings=settings, registry=registry, dynamodb=dynamodb)
        context = FakeLambdaContext()

        def run(label: str, envelopes: list, target: tuple[int, int] | None) -> None:
            event = sqs_event(sqs_record(envelope) for envelope in envelopes)
            process_batch(event, context, consumer)
            rows.append((label, len(envelopes), counter.take(), target))

        run("new delivery (handled)", [make_envelope(delivery_id="evt_new")], (2, 0))
        run("duplicate of a processed delivery", [make_envelope(delivery_id="evt_new")], (1, 0))
        run("unregistered event type (skipped)", [make_envelope(delivery_id="evt_s", event_type="x.y")], (1, 0))
        run("duplicate of a skipped delivery", [make_envelope(delivery_id="evt_s", event_type="x.y")], (1, 0))
        failing = make_envelope(delivery_id="evt_f", event_type="charge.failed")
        run("handler raises (recorded failed)", [failing], (2, 0))
        run("redelivery after a failure (handled)", [failing], (2, 0))
        assert flaky.calls == 2
        held = ledger.Delivery("stripe", "evt_held", "payment_intent.succeeded", failing.received_at, "m-other")
        ledger.claim_delivery(
            DELIVERIES_TABLE, held, owner="other", now=consumer.clock(), lease_ms=60_000, ttl_days=30, client=dynamodb
        )
        counter.take()
        run("claim conflict (lease held elsewhere)", [make_envelope(delivery_id="evt_held")], (1, 0))
        run("batch of 10 new deliveries", [make_envelope(delivery_id=f"evt_b{n}") for n in range(10)], (20, 0))

        def github(delivery_id: str, after: str = "1"):
            body = b'{"ref": "refs/heads/main", "before": "0", "after": "%s"}' % after.encode()
            return make_envelope("github", delivery_id, "push", body, delivery_id_signed=False)

        run("GitHub (unsigned id): new delivery", [github("1:guid-a")], (3, 0))
        run("GitHub: duplicate (same id)", [github("1:guid-a")], (2, 0))
        run("GitHub: same body under a new id (replay)", [github("9:guid-forged")], (2, 0))
        run("GitHub: batch of 10 new deliveries", [github(f"1:guid-{n}", after=str(n + 2)) for n in range(10)], (30, 0))

        def subscription(delivery_id: str, created: int, object_id: str = "sub_1"):
            body = json.dumps(
                {"id": delivery_id, "type": "customer.subscription.updated", "created": created,
                 "data": {"object": {"id": object_id}}}
            ).encode()
            return make_envelope("stripe", delivery_id, "customer.subscription.updated", body)

        run("guarded: new object (handled)", [subscription("evt_g1", 200)], (3, 0))
        run("guarded: newer version (handled)", [subscription("evt_g2", 300)], (3, 0))
        run("guarded: older version (stale)", [subscription("evt_g0", 100)], (3, 0))
        stale = ledger.get_delivery(DELIVERIES_TABLE, "stripe", "evt_g0", client=dynamodb)
        assert stale is not None and stale["outcome"] == ledger.OUTCOME_STALE, stale
        counter.take()  # the check above is not the pipeline's
        run("guarded: duplicate", [subscription("evt_g2", 300)], (1, 0))
        batch = [subscription(f"evt_gb{n}", 1_000 + n, object_id=f"sub_b{n % 3}") for n in range(10)]
        run("guarded: batch of 10 (3 objects)", batch, (30, 0))

        # The EventBridge destination adds no DynamoDB call: published_at rides on the completion.
        events = boto3.client("events")
        events.create_event_bus(Name="org")
        publishing = Consumer(
            settings=settings.model_copy(update={"event_bus_name": "org"}),
            registry=registry,
            dynamodb=dynamodb,
            events=events,
        )

        def run_published(label: str, envelopes: list, target: tuple[int, int]) -> None:
            process_batch(sqs_event(sqs_record(envelope) for envelope in envelopes), context, publishing)
            rows.append((label, len(envelopes), counter.take(), target))

        run_published("bus: handled and published", [make_envelope(delivery_id="evt_p1")], (2, 0))
        run_published("bus: no handler, published", [make_envelope(delivery_id="evt_p2", event_type="x.z")], (2, 0))

    print("DynamoDB calls per SQS batch, consumer on moto (boto3 client hooks)")
    print(f"{'scenario':40} {'records':>7} {'writes':>6} {'reads':>5} {'http':>4}  {'target':>10}  calls")
    missed = 0
    for label, records, (writes, reads, attempts, detail), target in rows:
        verdict = ""
        if target is not None:
            ok = (writes, reads) == target
            missed += not ok
            verdict = f"{target[0]}w+{target[1]}r " + ("ok" if ok else "MISSED")
        print(f"{label:40} {records:>7} {writes:>6} {reads:>5} {attempts:>4}  {verdict:>10}  {detail}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
