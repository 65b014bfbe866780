"""DynamoDB and S3 calls, write units and bytes per delivery of the real consumer on moto, archive off and on.

    .venv/bin/python -m bench.archive_calls

The real pipeline (``process_batch``) runs with boto3 DynamoDB and S3 clients on moto's in-process ``mock_aws``, the
table created by the integration tests' helper (the template's schema, its GSIs included). Hooks on those clients see
every API call. For each DynamoDB write, a second client (no hooks) reads the item just before and just after the
call, and the write units are computed from those images with DynamoDB's rules:

* table: ``ceil(max(size before, size after) / 1 KB)``, at least 1 (a failed condition still consumes a unit);
* each GSI (its key schema and projection read from DescribeTable): an item entering the index is a put, leaving it a
  delete, staying with the same key an update (only when a projected attribute changed), staying with a changed key a
  delete and a put ("two writes are required": DynamoDB developer guide, GSI.html#GSI.Writes); each one
  ``ceil(projected size / 1 KB)``.

Item sizes follow the developer guide (attribute names + values; bench/cost_inputs.py ``item_size``). S3: PutObject
count and body bytes, GetObject count. These are the per-delivery figures bench/cost.py assumes; it prints them next
to the model's. Not part of the test run.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from bench import cost  # noqa: E402
from bench.cost import GsiSchema as Index  # noqa: E402
from bench.cost import dynamodb_item_size as item_size  # noqa: E402
from bench.cost import gsi_write_units as index_units  # noqa: E402
from bench.cost import write_units_of_item as units  # noqa: E402
from bench.receiver_common import table  # noqa: E402
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
from webhook_gateway.consumer.processor import Consumer, process_batch  # noqa: E402
from webhook_gateway.consumer.registry import Registry  # noqa: E402
from webhook_gateway.consumer.settings import ConsumerSettings  # noqa: E402

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
ARCHIVE_BUCKET = "webhook-gateway-archivebucket-1x2y3z4a5b6c"  # as long as a CloudFormation-generated name
# The consumer setting's default (the template's ArchiveInlineMaxBytes default too: a contract test ties them).
INLINE_MAX_BYTES: int = ConsumerSettings.model_fields["archive_inline_max_bytes"].default


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    table_units: int = 0
    index_units: Counter[str] = field(default_factory=Counter)
    item_bytes: list[tuple[str, int]] = field(default_factory=list)  # (key prefix, bytes after) per write
    s3_puts: int = 0
    s3_put_bytes: int = 0
    s3_gets: int = 0


class Accountant:
    """Hooks on the measured clients; ``reader`` (no hooks) reads the item images around each write."""

    def __init__(self, dynamodb: Any, s3: Any, reader: Any) -> None:
        self.reader = reader
        self.tally = Tally()
        self._before: dict[str, Any] | None = None
        described = reader.describe_table(TableName=DELIVERIES_TABLE)["Table"]
        self.table_keys = tuple(key["AttributeName"] for key in described["KeySchema"])
        self.indexes = [
            Index(
                gsi["IndexName"],
                tuple(key["AttributeName"] for key in gsi["KeySchema"]),
                gsi["Projection"]["ProjectionType"],
                tuple(gsi["Projection"].get("NonKeyAttributes", ())),
            )
            for gsi in described.get("GlobalSecondaryIndexes", [])
        ]
        # before-parameter-build sees the API parameters (before-call only the serialised request)
        dynamodb.meta.events.register("before-parameter-build.dynamodb", self._before_dynamodb)
        dynamodb.meta.events.register("after-call.dynamodb", self._after_dynamodb)
        s3.meta.events.register("before-parameter-build.s3", self._before_s3)
        self._params: dict[str, Any] = {}

    def _item(self, params: dict[str, Any]) -> dict[str, Any] | None:
        key = params.get("Key") or {name: params["Item"][name] for name in self.table_keys}
        return self.reader.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True).get("Item")

    def _before_dynamodb(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        self.tally.calls[f"DynamoDB {model.name}"] += 1
        self._params = params
        self._before = self._item(params) if model.name in WRITES else None

    def _after_dynamodb(self, model: Any, **kwargs: Any) -> None:
        if model.name not in WRITES:
            return
        params = self._params
        after = self._item(params)
        before = self._before
        self.tally.table_units += max(units(before), units(after))
        key = (params.get("Key") or params.get("Item") or {}).get(self.table_keys[0], {}).get("S", "?")
        self.tally.item_bytes.append((key, item_size(after) if after else 0))
        if before != after:
            for index in self.indexes:
                self.tally.index_units[index.name] += index_units(index, self.table_keys, before, after)

    def _before_s3(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        self.tally.calls[f"S3 {model.name}"] += 1
        if model.name == "PutObject":
            body = params.get("Body", b"")
            self.tally.s3_puts += 1
            self.tally.s3_put_bytes += len(body) if isinstance(body, bytes | bytearray) else len(body.read())
        if model.name == "GetObject":
            self.tally.s3_gets += 1

    def take(self) -> Tally:
        result, self.tally = self.tally, Tally()
        return result


def model_units(consumer: Consumer, bodies: list[int], archive_bytes: list[int], new: bool) -> tuple[int, int, int]:
    """What bench/cost.py charges for these deliveries (table WRU, GSI WRU, S3 PUTs), given the archive items' measured
    sizes: a new delivery 2 ledger units + 5 index units (LEDGER_*_WRITE_UNITS), a duplicate 1 (the failed claim);
    with the archive, the archive item's units per delivery, and one PUT per body above the threshold."""
    settings = consumer.settings
    ledger = (cost.LEDGER_TABLE_WRITE_UNITS if new else 1) * len(bodies)
    indexes = cost.LEDGER_INDEX_WRITE_UNITS * len(bodies) if new else 0
    if not settings.archive_enabled:
        return ledger, indexes, 0
    archive_units = sum(cost.write_units(size) for size in archive_bytes)
    puts = sum(1 for size in bodies if size > settings.archive_inline_max_bytes)
    return ledger + archive_units, indexes, puts


def stripe_body(size: int, n: int) -> bytes:
    """A JSON body of exactly ``size`` bytes."""
    head = b'{"id":"evt_%08d","type":"payment_intent.succeeded","pad":"' % n
    return head + b"x" * (size - len(head) - 2) + b'"}'


def main() -> int:
    rows: list[list[object]] = []
    missed: list[bool] = []
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        create_deliveries_table(dynamodb)
        s3.create_bucket(Bucket=OVERFLOW_BUCKET)
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
        accountant = Accountant(dynamodb, s3, reader=boto3.client("dynamodb"))
        registry = Registry()
        registry.on("stripe", "payment_intent.succeeded")(Recorder())
        context = FakeLambdaContext()
        counter = iter(range(10**6))

        def consumer_for(archive: bool) -> Consumer:
            environment = {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET}
            if archive:
                environment |= {
                    "ARCHIVE_RETENTION_DAYS": "30",
                    "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                    "ARCHIVE_INLINE_MAX_BYTES": str(INLINE_MAX_BYTES),
                }
            settings = ConsumerSettings.from_env(environment)
            return Consumer(settings=settings, registry=registry, dynamodb=dynamodb, s3=s3)

        def run(
            label: str, consumer: Consumer, sizes: list[int], *, again: list | None = None, new: bool = True
        ) -> list:
            envelopes = again or [
                make_envelope(delivery_id=f"evt_{n:08d}", raw=stripe_body(size, n))
                for size, n in ((size, next(counter)) for size in sizes)
            ]
            process_batch(sqs_event(sqs_record(envelope) for envelope in envelopes), context, consumer)
            tally = accountant.take()
            records = len(envelopes)
            archive_bytes = [size for key, size in tally.item_bytes if key.endswith("#archive")]
            expected = model_units(consumer, [len(e.inline_body_bytes()) for e in envelopes], archive_bytes, new)
            measured = (tally.table_units, sum(tally.index_units.values()), tally.s3_puts)
            missed.append(expected != measured)
            rows.append(
                [
                    label,
                    records,
                    ", ".join(f"{name} x{count}" for name, count in sorted(tally.calls.items())),
                    f"{tally.table_units / records:g}",
                    " + ".join(f"{name} {count / records:g}" for name, count in sorted(tally.index_units.items()))
                    or "0",
                    max(archive_bytes) if archive_bytes else "-",
                    f"{tally.s3_puts / records:g}",
                    f"{tally.s3_put_bytes / records:,.0f}",
                    f"{expected[0] / records:g} + {expected[1] / records:g}, {expected[2] / records:g}",
                    "agrees" if expected == measured else "DIFFERS",
                ]
            )
            return envelopes

        off = consumer_for(archive=False)
        first = run("archive off: new delivery, 1 KiB", off, [1024])
        run("archive off: duplicate", off, [], again=first, new=False)
        run("archive off: batch of 10 new, 1 KiB", off, [1024] * 10)
        on = consumer_for(archive=True)
        small = run("archive on: new delivery, 1 KiB (inline)", on, [1024])
        run("archive on: duplicate of it", on, [], again=small, new=False)
        run(f"archive on: new delivery, {INLINE_MAX_BYTES:,} B (inline, at the threshold)", on, [INLINE_MAX_BYTES])
        large = run("archive on: new delivery, 16 KiB (S3)", on, [16384])
        run("archive on: duplicate of it", on, [], again=large, new=False)
        run("archive on: batch of 10 new, 1 KiB", on, [1024] * 10)

    print("# Consumer on moto: DynamoDB and S3 calls, write units and bytes per delivery")
    print()
    print(
        table(
            [
                "scenario",
                "records",
                "calls (whole batch)",
                "table WRU / delivery",
                "GSI WRU / delivery",
                "archive item bytes",
                "S3 PUT / delivery",
                "S3 bytes / delivery",
                "bench/cost.py model: table + GSI WRU, S3 PUT",
                "",
            ],
            rows,
            align="lrlrlrrrrl",
        )
    )
    return 1 if any(missed) else 0


if __name__ == "__main__":
    sys.exit(main())
