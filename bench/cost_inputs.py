"""The measured inputs of the cost model (bench/cost.py): what the real code writes and spends per delivery.

    .venv/bin/python -m bench.cost_inputs [--deliveries 200]

Runs in this process, without AWS:

* receiver: the real ``receiver_app.handler`` (Powertools decorators included) with in-memory SQS/S3/Secrets
  Manager fakes (the ones bench/receiver_warm_path.py uses), for GitHub push bodies of 1, 4, 16 and 64 KiB. It
  reports the bytes written to stdout per warm delivery (log lines and EMF documents: what CloudWatch Logs ingests),
  the SQS message (body + message attributes, what SQS bills in 64 KiB chunks) and the handler's CPU time
  (``time.process_time``, median of rounds);
* consumer: ``process_batch`` wrapped in ``logger.inject_lambda_context`` as ``consumer_app.handler`` is, on the
  in-memory ``FakeDynamoDB`` (tests/unit/consumer/fakes.py), a registered handler that does nothing, every record a
  new Stripe delivery, in batches of 10 and of 1: stdout bytes per delivery and CPU time per record.

stdout is redirected at the file-descriptor level to a temporary file and counted (Powertools' Logger keeps its own
reference to sys.stdout). Lambda's own START/END/REPORT lines and the API access log are not written by this code:
bench/cost.py states them as assumptions. Not a test; the figures go into the constants of bench/cost.py.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

# The warm-path benchmark sets the Lambda-like environment and sys.path, then imports receiver_app: import it first.
from bench import receiver_warm_path
from bench.cost import dynamodb_item_size as item_size
from bench.receiver_common import LambdaContext, github_body, stdout_to_devnull, table
from tests.unit.consumer.fakes import (  # noqa: E402
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeDynamoDB,
    FakeLambdaContext,
    make_envelope,
    sqs_event,
    sqs_record,
)
from tools.make_events import build_event  # noqa: E402
from webhook_gateway.consumer import archive
from webhook_gateway.consumer.processor import Consumer, process_batch  # noqa: E402
from webhook_gateway.consumer.registry import Registry  # noqa: E402
from webhook_gateway.consumer.settings import ConsumerSettings  # noqa: E402
from webhook_gateway.envelope import Envelope
from webhook_gateway.observability import logger  # noqa: E402

SIZES = (1024, 4 * 1024, 16 * 1024, 64 * 1024)
ROUNDS = 7


@contextlib.contextmanager
def captured_stdout() -> Iterator[Callable[[], bytes]]:
    """fd 1 into a temporary file; yields a function returning what was written so far."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)

        def written() -> bytes:
            sys.stdout.flush()
            sink.seek(0)
            return sink.read()

        try:
            yield written
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def cpu_per_call(call: Callable[[], Any], calls: int) -> float:
    """Median over ROUNDS rounds of the CPU seconds per call (stdout to /dev/null, GC left on as in Lambda)."""
    rounds = []
    with stdout_to_devnull():
        for _ in range(ROUNDS):
            start = time.process_time()
            for _ in range(calls):
                call()
            rounds.append((time.process_time() - start) / calls)
    return statistics.median(rounds)


def receiver_figures(deliveries: int) -> list[dict[str, Any]]:
    sqs, _, _ = receiver_warm_path.install_fake_clients()
    receiver_app = receiver_warm_path.receiver_app
    context = LambdaContext()
    results = []
    for size in SIZES:
        event = build_event("github", "push", body=github_body(size), seed=f"cost-{size}")
        with stdout_to_devnull():
            for _ in range(5):  # warm: the secret is cached, validators built
                assert receiver_app.handler(event, context)["statusCode"] == 202
        with captured_stdout() as written:
            for _ in range(deliveries):
                receiver_app.handler(event, context)
            output = written()
        assert sqs.last is not None
        attributes = sqs.last.get("MessageAttributes") or {}
        attribute_bytes = sum(
            len(name.encode())
            + len(value.get("DataType", "").encode())
            + len(str(value.get("StringValue", "")).encode())
            for name, value in attributes.items()
        )
        body_bytes = len(sqs.last["MessageBody"].encode("utf-8"))
        inline_item, metadata_item = archive_item_bytes(sqs.last["MessageBody"])
        lines = output.splitlines()
        emf = sum(1 for line in lines if b'"_aws"' in line)
        results.append(
            {
                "size": size,
                "log_bytes": len(output) / deliveries,
                "log_lines": len(lines) / deliveries,
                "emf_documents": emf / deliveries,
                "sqs_body_bytes": body_bytes,
                "sqs_attribute_bytes": attribute_bytes,
                "archive_inline_item_bytes": inline_item,
                "archive_metadata_item_bytes": metadata_item,
                "cpu_us": cpu_per_call(lambda event=event: receiver_app.handler(event, context), 200) * 1e6,
            }
        )
    return results


class _S3Sink:
    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"ETag": '"0"'}


def archive_item_bytes(message_body: str) -> tuple[int, int]:
    """The archive item the consumer writes for this envelope (the real ``archive_delivery`` on the DynamoDB fake):
    its DynamoDB size with the body inline, and as a metadata item pointing at an S3 object."""
    envelope = Envelope.model_validate_json(message_body)
    sizes = []
    for inline_max in (10**6, 0):
        dynamodb = FakeDynamoDB()
        archive.archive_delivery(
            envelope,
            table_name=DELIVERIES_TABLE,
            bucket="webhook-gateway-archivebucket-1x2y3z4a5b6c",  # a CloudFormation-generated name
            now=time.time(),
            retention_days=30,
            inline_max_bytes=inline_max,
            dynamodb=dynamodb,
            s3=_S3Sink(),
        )
        item = dynamodb.items[DELIVERIES_TABLE][
            (envelope.provider + archive.ARCHIVE_PARTITION_SUFFIX, envelope.delivery_id)
        ]
        sizes.append(item_size(item))
    return sizes[0], sizes[1]


def stripe_payload(n: int) -> bytes:
    from bench.consumer_overhead import stripe_payload as payload

    return payload(n)


def consumer_figures(deliveries: int, batch_size: int) -> dict[str, Any]:
    registry = Registry()
    registry.on("stripe", "payment_intent.succeeded")(lambda event: None)
    settings = ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})
    counter = iter(range(10**9))

    def batches(records: int) -> list[dict]:
        bodies = []
        for _ in range(records):
            n = next(counter)
            # received now, so that EndToEndLagMs holds realistic (short) numbers in the EMF document
            envelope = make_envelope(delivery_id=f"evt_{n:08d}", raw=stripe_payload(n), received_at=datetime.now(UTC))
            bodies.append(sqs_record(envelope, message_id=f"m-{n}"))
        return [sqs_event(bodies[i : i + batch_size]) for i in range(0, records, batch_size)]

    consumer = Consumer(settings=settings, registry=registry, dynamodb=FakeDynamoDB())
    context = FakeLambdaContext()

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> Any:
        return process_batch(event, context, consumer)

    with captured_stdout() as written:
        for event in batches(deliveries):
            assert not handler(event, context)["batchItemFailures"]
        output = written()
    lines = output.splitlines()
    ledger = list(consumer_items(consumer))
    pending = batches(deliveries * ROUNDS)

    def one_batch() -> None:
        assert not handler(pending.pop(), context)["batchItemFailures"]

    calls = deliveries // batch_size
    gc.collect()
    cpu = cpu_per_call(one_batch, calls) / batch_size
    return {
        "batch_size": batch_size,
        "log_bytes": len(output) / deliveries,
        "log_lines": len(lines) / deliveries,
        "emf_documents": sum(1 for line in lines if b'"_aws"' in line) / deliveries,
        "cpu_us": cpu * 1e6,
        "sample_line": lines[0].decode() if lines else "",
        "ledger_item_bytes": statistics.median(item_size(item) for item in ledger),
    }


def consumer_items(consumer: Consumer) -> Any:
    return consumer.dynamodb.items[DELIVERIES_TABLE].values()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=200, help="deliveries per figure (default 200)")
    args = parser.parse_args(argv)

    receiver = receiver_figures(args.deliveries)
    consumers = [consumer_figures(args.deliveries, batch) for batch in (10, 1)]

    print(f"# Cost model inputs (python {sys.version.split()[0]}, nproc {os.cpu_count()})")
    print()
    print("## Receiver, per warm delivery (GitHub push bodies; real handler, fake AWS clients)")
    print()
    print(
        table(
            [
                "body",
                "stdout bytes",
                "lines",
                "EMF docs",
                "SQS body bytes",
                "SQS attribute bytes",
                "archive item, inline",
                "archive item, S3",
                "CPU µs (median)",
            ],
            [
                [
                    f"{r['size'] // 1024} KiB",
                    f"{r['log_bytes']:.0f}",
                    f"{r['log_lines']:.2f}",
                    f"{r['emf_documents']:.2f}",
                    r["sqs_body_bytes"],
                    r["sqs_attribute_bytes"],
                    r["archive_inline_item_bytes"],
                    r["archive_metadata_item_bytes"],
                    f"{r['cpu_us']:.0f}",
                ]
                for r in receiver
            ],
        )
    )
    print()
    print(
        "## Consumer, per new delivery (Stripe envelopes ~1.6 KB; process_batch in inject_lambda_context, "
        "fake DynamoDB)"
    )
    print()
    print(
        table(
            [
                "batch size",
                "stdout bytes per delivery",
                "lines per delivery",
                "EMF docs per delivery",
                "CPU µs per record",
            ],
            [
                [
                    c["batch_size"],
                    f"{c['log_bytes']:.0f}",
                    f"{c['log_lines']:.2f}",
                    f"{c['emf_documents']:.2f}",
                    f"{c['cpu_us']:.0f}",
                ]
                for c in consumers
            ],
        )
    )
    print()
    print(f"ledger item after completion (DynamoDB item size): {consumers[0]['ledger_item_bytes']:.0f} bytes")
    print()
    print("first consumer line (batch 10):", consumers[0]["sample_line"][:400])
    return 0


if __name__ == "__main__":
    sys.exit(main())
