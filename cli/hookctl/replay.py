"""``hookctl replay PROVIDER DELIVERY_ID``: process one delivery again, from its envelope in the dead-letter queue.

The ledger holds no body (it is an audit trail of ids, states and errors), and the overflow bucket holds only the
bodies too large for SQS, under keys that only their envelope names. So the envelope of a delivery exists in one place
once it has left the main queue: the DLQ, when it was dead-lettered. ``replay`` finds it there by delivery id (a scan
of the DLQ: every message is received once and made visible again, except the delivery's own copies), sends it to the
main queue unchanged (body, claim check reference and message attributes: the consumer fetches an S3 body as usual),
and deletes its copies from the DLQ. A targeted ``hookctl dlq redrive`` of one delivery.

The ledger decides whether the consumer runs the handler again:

* ``failed`` (what a dead-lettered delivery normally is), or no entry: the consumer claims it as usual;
* ``processed``: the consumer would acknowledge the replay as a duplicate, so ``replay`` refuses unless ``--force``,
  which sets the entry back to ``failed`` (one conditional UpdateItem: only if it is still ``processed`` with the same
  number of attempts, and it records ``replay_requested_at``);
* ``processing`` with a live lease: a consumer is working on it right now; ``replay`` refuses.

Limits: a delivery that was processed (or skipped) is no longer anywhere in the stack with its body; to process it
again, reset its entry with ``--reset-only`` and have the provider redeliver it (GitHub: Recent Deliveries ->
Redeliver; Stripe: ``stripe events resend <evt_id>``; Twilio has no redelivery). A copy is at-least-once: a crash
between the send and the delete leaves the DLQ copy, which the ledger absorbs if replayed again.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext
from hookctl.deliveries import get_delivery
from hookctl.dlq import _copyable_attributes, message_attribute_names, release_messages
from hookctl.output import render_record
from webhook_gateway.consumer.ledger import (
    CONDITIONAL_CHECK_FAILED,
    PK,
    SK,
    STATUS_FAILED,
    STATUS_PROCESSED,
    STATUS_PROCESSING,
)

SCAN_VISIBILITY_TIMEOUT = 60  # seconds a scanned DLQ message stays hidden if it cannot be released
DEFAULT_MAX_SCAN = 10_000


def find_in_dlq(
    dlq_url: str, provider: str, delivery_id: str, *, sqs: Any, max_scan: int = DEFAULT_MAX_SCAN
) -> tuple[list[dict[str, Any]], int]:
    """The DLQ messages of one delivery (held invisible for the caller) and how many messages were scanned. Every
    other message received during the scan is made visible again before returning."""
    matches: list[dict[str, Any]] = []
    others: list[str] = []
    seen: set[str] = set()
    try:
        while len(seen) < max_scan:
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=SCAN_VISIBILITY_TIMEOUT,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                others.extend(m["ReceiptHandle"] for m in messages)
                break
            for message in fresh:
                seen.add(message["MessageId"])
                if _identity(message) == (provider, delivery_id):
                    matches.append(message)
                else:
                    others.append(message["ReceiptHandle"])
    finally:
        if others:
            release_messages(dlq_url, others, sqs=sqs)
    return matches, len(seen)


def _identity(message: dict[str, Any]) -> tuple[str | None, str | None]:
    attributes = message.get("MessageAttributes") or {}
    attr_provider, attr_delivery_id, _, _ = message_attribute_names()
    provider = (attributes.get(attr_provider) or {}).get("StringValue")
    delivery_id = (attributes.get(attr_delivery_id) or {}).get("StringValue")
    if provider is None or delivery_id is None:
        try:
            envelope = json.loads(message.get("Body", ""))
        except ValueError:
            envelope = {}
        if isinstance(envelope, dict):
            # the attributes are named after the envelope's fields
            provider = provider or envelope.get(attr_provider)
            delivery_id = delivery_id or envelope.get(attr_delivery_id)
    return provider, delivery_id


def reset_to_failed(table: str, provider: str, delivery_id: str, attempts: int, *, dynamodb: Any) -> bool:
    """``processed`` -> ``failed`` so that the consumer processes the delivery again; False if it changed meanwhile."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={PK: {"S": provider}, SK: {"S": delivery_id}},
            UpdateExpression="SET #status = :failed, #replay = :now",
            ConditionExpression="#status = :processed AND #attempts = :attempts",
            ExpressionAttributeNames={"#status": "status", "#attempts": "attempts", "#replay": "replay_requested_at"},
            ExpressionAttributeValues={
                ":failed": {"S": STATUS_FAILED},
                ":processed": {"S": STATUS_PROCESSED},
                ":attempts": {"N": str(attempts)},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        parents=parents,
        help="process one delivery again, from its envelope in the DLQ",
        description="Find the delivery's envelope in the dead-letter queue, send it to the main queue unchanged and "
        "delete its DLQ copies. A delivery the ledger says is processed needs --force (its entry is set back to "
        "failed, or the consumer would drop the replay as a duplicate). The ledger holds no body: a delivery that "
        "is not in the DLQ cannot be replayed from the stack; --reset-only prepares its entry for a redelivery "
        "by the provider.",
    )
    parser.add_argument("provider", metavar="PROVIDER")
    parser.add_argument("delivery_id", metavar="DELIVERY_ID")
    parser.add_argument("--force", action="store_true", help="replay even if the ledger says processed")
    parser.add_argument(
        "--reset-only",
        action="store_true",
        help="only set a processed entry back to failed (for a provider redelivery)",
    )
    parser.add_argument("--max-scan", type=int, default=DEFAULT_MAX_SCAN, metavar="N", help="DLQ messages to look at")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then wait up to SECONDS for the ledger to say processed",
    )
    parser.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace, ctx: CommandContext) -> int:
    table = ctx.resources.get("table")
    dynamodb, sqs = ctx.client("dynamodb"), ctx.client("sqs")
    entry = get_delivery(table, args.provider, args.delivery_id, dynamodb=dynamodb) or {}
    status = entry.get("status")
    attempts = int(entry.get("attempts") or 0)
    if status == STATUS_PROCESSING and int(entry.get("lease_expires_at") or 0) > time.time() * 1000:
        raise CliError(f"{args.provider}/{args.delivery_id} is being processed right now (lease held): not replayed")
    if status == STATUS_PROCESSED and not (args.force or args.reset_only):
        raise CliError(
            f"{args.provider}/{args.delivery_id} is already processed (outcome {entry.get('outcome')}): the consumer "
            "would drop a replay as a duplicate; pass --force to process it again",
            EXIT_FAILURE,
        )
    report: dict[str, Any] = {"provider": args.provider, "delivery_id": args.delivery_id, "ledger_status": status}

    if args.reset_only:
        if status != STATUS_PROCESSED:
            raise CliError(f"--reset-only applies to a processed entry; this one is {status or 'absent'}", EXIT_USAGE)
        if not reset_to_failed(table, args.provider, args.delivery_id, attempts, dynamodb=dynamodb):
            raise CliError("the ledger entry changed meanwhile; nothing was reset")
        report["ledger_reset"] = True
        report["next"] = "have the provider redeliver it; the consumer will process it again"
        ctx.emit_result(report, lambda: render_record(report.items()))
        return EXIT_OK

    dlq_url, queue_url = ctx.resources.get("dlq_url"), ctx.resources.get("queue_url")
    matches, scanned = find_in_dlq(dlq_url, args.provider, args.delivery_id, sqs=sqs, max_scan=args.max_scan)
    if not matches:
        raise CliError(
            f"{args.provider}/{args.delivery_id} is not in the dead-letter queue ({scanned} messages looked at): the "
            "ledger holds no body, so it cannot be replayed from the stack. For a processed delivery: "
            f"hookctl replay {args.provider} {args.delivery_id} --reset-only, then have the provider redeliver it",
            EXIT_FAILURE,
        )
    try:
        if status == STATUS_PROCESSED:
            if not reset_to_failed(table, args.provider, args.delivery_id, attempts, dynamodb=dynamodb):
                raise CliError("the ledger entry changed meanwhile; nothing was replayed")
            report["ledger_reset"] = True
        message = matches[0]
        params: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            params["MessageAttributes"] = _copyable_attributes(message["MessageAttributes"])
        sent = sqs.send_message(**params)
    except BaseException:
        release_messages(dlq_url, [m["ReceiptHandle"] for m in matches], sqs=sqs)
        raise
    deleted = sqs.delete_message_batch(
        QueueUrl=dlq_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(matches)]
    )
    report.update(
        {
            "replayed_from": "dlq",
            "dlq_message_id": message["MessageId"],
            "new_message_id": sent["MessageId"],
            "dlq_copies_removed": len(deleted.get("Successful", [])),
            "dlq_messages_scanned": scanned,
        }
    )
    if args.wait > 0:
        report["ledger_status_after"] = _wait_processed(table, args, attempts, dynamodb, args.wait)
    ctx.emit_result(report, lambda: render_record(report.items()))
    return EXIT_OK if args.wait <= 0 or report["ledger_status_after"] == STATUS_PROCESSED else EXIT_FAILURE


def _wait_processed(table: str, args: argparse.Namespace, attempts: int, dynamodb: Any, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        entry = get_delivery(table, args.provider, args.delivery_id, dynamodb=dynamodb) or {}
        status = entry.get("status")
        if status == STATUS_PROCESSED and int(entry.get("attempts") or 0) > attempts:
            return status
        time.sleep(0.5)
    return status
