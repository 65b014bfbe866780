"""``hookctl dlq``: look into the dead-letter queue and send its messages back to the main queue.

``list`` peeks: it receives with a short visibility timeout, never deletes, and makes what it saw visible again at
once (ChangeMessageVisibility 0). Receiving still counts as a receive (``ApproximateReceiveCount`` grows).

``redrive`` uses SQS's own message move task (StartMessageMoveTask: DLQ -> main queue, server side, rate-limited).
Where the endpoint says it does not support that API (moto, some emulators) it falls back to ``--mode copy``:
receive from the DLQ, send to the main queue, delete from the DLQ. The copy is at-least-once (a crash between send
and delete leaves a duplicate, which the consumer's ledger absorbs) and the copies are new messages (new message id,
sent time and receive count); the body and message attributes are kept.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext, describe_client_error
from hookctl.output import Column, epoch_ms_to_iso, render_record, render_table
from hookctl.resources import StackResources

DEFAULT_LIST_LIMIT = 50
PEEK_VISIBILITY_TIMEOUT = 10  # seconds a peeked message stays hidden if releasing it fails
COPY_VISIBILITY_TIMEOUT = 60  # seconds a message being copied stays hidden from other readers
DEFAULT_WAIT_SECONDS = 1  # long polling, so that an empty answer means an empty queue (short polls sample)
MAX_MOVE_RATE = 500  # SQS limit of MaxNumberOfMessagesPerSecond

MODE_AUTO, MODE_MOVE_TASK, MODE_COPY = "auto", "move-task", "copy"
LOCAL_NO_MOVE_TASKS = "the local endpoint (moto) implements no StartMessageMoveTask"
MODES = (MODE_AUTO, MODE_MOVE_TASK, MODE_COPY)

# Error codes by which an endpoint says "I do not have this API". moto in-process raises NotImplementedError.
UNSUPPORTED_ERROR_CODES = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "NotImplemented",
        "NotImplementedException",
        "UnknownOperation",
        "UnknownOperationException",
    }
)

LIST_COLUMNS = (
    Column("message_id", "MESSAGE_ID", identifier=True),
    Column("provider", "PROVIDER"),
    Column("delivery_id", "DELIVERY_ID", identifier=True),  # never cut: it is pasted into `replay`
    Column("event_type", "EVENT_TYPE", max_width=32),
    Column("receive_count", "RECEIVES", align="right"),
    Column("sent_at", "SENT_AT"),
)
TASK_COLUMNS = (
    Column("status", "STATUS"),
    Column("started_at", "STARTED_AT"),
    Column("moved", "MOVED", align="right"),
    Column("to_move", "TO_MOVE", align="right"),
    Column("max_messages_per_second", "RATE", align="right"),
    Column("destination_arn", "DESTINATION"),
    Column("failure_reason", "FAILURE_REASON", max_width=40),
    Column("task_handle", "TASK_HANDLE", identifier=True),
)


def _sqs(client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("sqs")


def _chunks(items: Sequence[Any], size: int = 10) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- peeking ---------------------------------------------------------------------------------------------------


def message_attribute_names() -> tuple[str, str, str, str]:
    """The queue contract's SQS message attribute names (webhook_gateway.envelope.ATTR_*): provider, delivery id,
    event type, body location. Imported when a message is read: the envelope module loads pydantic."""
    from webhook_gateway import envelope

    return envelope.ATTR_PROVIDER, envelope.ATTR_DELIVERY_ID, envelope.ATTR_EVENT_TYPE, envelope.ATTR_BODY_LOCATION


def _envelope(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def describe_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """What an operator needs from a DLQ message: message attributes first, the envelope body as a fallback."""
    system = message.get("Attributes", {})
    attributes = message.get("MessageAttributes", {})
    envelope = _envelope(message.get("Body", ""))
    attr_provider, attr_delivery_id, attr_event_type, attr_body_location = message_attribute_names()

    def field(name: str) -> Any:
        # The attributes are named after the envelope's fields: the body names the delivery when they are missing.
        return attributes.get(name, {}).get("StringValue") or envelope.get(name)

    body_location = attributes.get(attr_body_location, {}).get("StringValue")
    if body_location is None and envelope:
        body_location = "s3" if envelope.get("body_ref") else "inline"
    receive_count = system.get("ApproximateReceiveCount")
    return {
        "message_id": message.get("MessageId"),
        "provider": field(attr_provider),
        "delivery_id": field(attr_delivery_id),
        "event_type": field(attr_event_type),
        "body_location": body_location,
        "receive_count": int(receive_count) if receive_count is not None else None,
        "sent_at": epoch_ms_to_iso(system.get("SentTimestamp")),
        "first_received_at": epoch_ms_to_iso(system.get("ApproximateFirstReceiveTimestamp")),
        "received_at": envelope.get("received_at"),  # when the receiver accepted the webhook
    }


def release_messages(queue_url: str, receipt_handles: Sequence[str], *, sqs: Any = None) -> int:
    """Make received messages visible again now; returns how many could not be released (they reappear later)."""
    client = _sqs(sqs)
    failed = 0
    for chunk in _chunks(list(receipt_handles)):
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)]
        try:
            failed += len(client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []))
        except ClientError:
            failed += len(entries)
    return failed


def peek_messages(
    queue_url: str,
    *,
    limit: int = DEFAULT_LIST_LIMIT,
    visibility_timeout: int = PEEK_VISIBILITY_TIMEOUT,
    wait_time_seconds: int = DEFAULT_WAIT_SECONDS,
    sqs: Any = None,
) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` messages, described, oldest sent first, left in the queue; and the count not released."""
    client = _sqs(sqs)
    seen: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            response = client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_time_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            handles.extend(m["ReceiptHandle"] for m in messages)
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = describe_message(message)
    finally:
        not_released = release_messages(queue_url, handles, sqs=client) if handles else 0
    described = sorted(seen.values(), key=lambda m: (m["sent_at"] or "", m["message_id"] or ""))
    return described[:limit], not_released


# -- redrive ---------------------------------------------------------------------------------------------------


def unsupported_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means "this endpoint does not implement the API", or None when it is any other failure."""
    if isinstance(exc, NotImplementedError):  # moto, in process
        return str(exc) or "not implemented"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") in UNSUPPORTED_ERROR_CODES or status == 501:
            return f"{error.get('Code') or status}: {error.get('Message', '')}".rstrip(": ")
    return None


def start_move_task(source_arn: str, destination_arn: str, *, rate: int | None = None, sqs: Any = None) -> dict:
    """StartMessageMoveTask from the DLQ to the main queue; SQS moves the messages in the background."""
    params: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
    if rate is not None:
        params["MaxNumberOfMessagesPerSecond"] = rate
    response = _sqs(sqs).start_message_move_task(**params)
    return {
        "mode": MODE_MOVE_TASK,
        "task_handle": response["TaskHandle"],
        "source_arn": source_arn,
        "destination_arn": destination_arn,
        "max_messages_per_second": rate,
    }


def list_move_tasks(source_arn: str, *, max_results: int = 10, sqs: Any = None) -> list[dict[str, Any]]:
    """The most recent message move tasks of the DLQ (ListMessageMoveTasks), newest first as SQS returns them."""
    response = _sqs(sqs).list_message_move_tasks(SourceArn=source_arn, MaxResults=max_results)
    return [
        {
            "task_handle": task.get("TaskHandle"),  # only while RUNNING
            "status": task.get("Status"),
            "source_arn": task.get("SourceArn"),
            "destination_arn": task.get("DestinationArn"),
            "max_messages_per_second": task.get("MaxNumberOfMessagesPerSecond"),
            "moved": task.get("ApproximateNumberOfMessagesMoved"),
            "to_move": task.get("ApproximateNumberOfMessagesToMove"),
            "failure_reason": task.get("FailureReason"),
            "started_at": epoch_ms_to_iso(task.get("StartedTimestamp")),
        }
        for task in response.get("Results", [])
    ]


def _copyable_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Received message attributes as SendMessage accepts them (drops the empty list fields SQS echoes)."""
    copied = {}
    for name, value in attributes.items():
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        copied[name] = kept
    return copied


def copy_messages(
    source_url: str,
    destination_url: str,
    *,
    rate: int | None = None,
    max_messages: int | None = None,
    visibility_timeout: int = COPY_VISIBILITY_TIMEOUT,
    wait_time_seconds: int = DEFAULT_WAIT_SECONDS,
    sqs: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The fallback redrive: receive from ``source_url``, send to ``destination_url``, then delete from the source.

    Moves at most ``max_messages`` (default: the source's ApproximateNumberOfMessages when it starts, so that
    messages failing again and coming back cannot keep it running), at most ``rate`` per second.
    """
    client = _sqs(sqs)
    if max_messages is None:
        attributes = client.get_queue_attributes(QueueUrl=source_url, AttributeNames=["ApproximateNumberOfMessages"])
        max_messages = int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))
    fifo = destination_url.endswith(".fifo")
    moved = failed = 0
    errors: list[str] = []
    started = clock()
    while moved + failed < max_messages:
        batch = min(10, max_messages - moved - failed, rate or 10)
        messages = client.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=batch,
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=wait_time_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = []
        for i, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = _copyable_attributes(message["MessageAttributes"])
            if fifo:
                system = message.get("Attributes", {})
                entry["MessageGroupId"] = system.get("MessageGroupId", "redrive")
                if system.get("MessageDeduplicationId"):
                    entry["MessageDeduplicationId"] = system["MessageDeduplicationId"]
            entries.append(entry)
        result = client.send_message_batch(QueueUrl=destination_url, Entries=entries)
        sent = {entry["Id"] for entry in result.get("Successful", [])}
        errors.extend(f"{f.get('Code')}: {f.get('Message', '')}" for f in result.get("Failed", []))
        # Delete only what reached the main queue; a failed send stays in the DLQ (visible again after the timeout).
        done = [
            {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
            for i, message in enumerate(messages)
            if str(i) in sent
        ]
        if done:
            deleted = client.delete_message_batch(QueueUrl=source_url, Entries=done)
            errors.extend(f"delete {f.get('Code')}: {f.get('Message', '')}" for f in deleted.get("Failed", []))
        moved += len(sent)
        failed += len(messages) - len(sent)
        if rate:
            ahead = moved / rate - (clock() - started)
            if ahead > 0:
                sleep(ahead)
    return {
        "mode": MODE_COPY,
        "source_url": source_url,
        "destination_url": destination_url,
        "moved": moved,
        "failed": failed,
        "errors": errors,
        "max_messages_per_second": rate,
    }


def redrive(
    resources: StackResources,
    *,
    mode: str = MODE_AUTO,
    rate: int | None = None,
    max_messages: int | None = None,
    wait_time_seconds: int = DEFAULT_WAIT_SECONDS,
    sqs: Any = None,
    on_fallback: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Move the DLQ's messages back to the main queue (see the module docstring for the modes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    client = _sqs(sqs)
    fallback_reason = None
    if mode in (MODE_AUTO, MODE_MOVE_TASK):
        source_arn, destination_arn = resources.queue_arn("dlq", client), resources.queue_arn("queue", client)
        try:
            return start_move_task(source_arn, destination_arn, rate=rate, sqs=client)
        except (ClientError, NotImplementedError) as exc:
            fallback_reason = unsupported_reason(exc)
            if fallback_reason is None:
                raise
            if mode == MODE_MOVE_TASK:
                raise CliError(
                    f"this endpoint does not support StartMessageMoveTask ({fallback_reason}); "
                    "use --mode copy to redrive by receive/send/delete"
                ) from None
            if on_fallback is not None:
                on_fallback(fallback_reason)
    result = copy_messages(
        resources.get("dlq_url"),
        resources.get("queue_url"),
        rate=rate,
        max_messages=max_messages,
        wait_time_seconds=wait_time_seconds,
        sqs=client,
    )
    result["fallback_reason"] = fallback_reason  # None when --mode copy was asked for
    return result


# -- command line ----------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "dlq",
        help="inspect and redrive the dead-letter queue",
        description="Inspect the dead-letter queue and move its messages back to the main queue.",
    )
    commands = group.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)

    list_parser = commands.add_parser(
        "list",
        parents=parents,
        help="peek at DLQ messages (nothing is deleted)",
        description="Peek at dead-letter messages: receive them with a short visibility timeout, never delete them, "
        "and make them visible again at once. Each peek counts as a receive.",
    )
    list_parser.add_argument(
        "--limit", type=_int_range(1, 10_000), default=DEFAULT_LIST_LIMIT, metavar="N", help="at most N (default 50)"
    )
    list_parser.add_argument(
        "--visibility-timeout",
        type=_int_range(1, 43_200),
        default=PEEK_VISIBILITY_TIMEOUT,
        metavar="SECONDS",
        help=f"how long peeked messages stay hidden if they cannot be released (default {PEEK_VISIBILITY_TIMEOUT})",
    )
    list_parser.add_argument(
        "--wait", type=_int_range(0, 20), default=DEFAULT_WAIT_SECONDS, metavar="SECONDS", help="long-poll wait (1)"
    )
    list_parser.set_defaults(handler=run_list)

    redrive_parser = commands.add_parser(
        "redrive",
        parents=parents,
        help="move DLQ messages back to the main queue (or --status)",
        description="Start an SQS message move task from the DLQ to the main queue and print its handle. "
        "--mode auto (default) falls back to a receive/send/delete copy only when the endpoint reports that it "
        "does not support StartMessageMoveTask.",
    )
    redrive_parser.add_argument(
        "--rate",
        type=_int_range(1, MAX_MOVE_RATE),
        metavar="N",
        help="at most N messages per second (MaxNumberOfMessagesPerSecond; default: SQS decides)",
    )
    redrive_parser.add_argument(
        "--mode",
        choices=MODES,
        default=MODE_AUTO,
        help="move-task: SQS StartMessageMoveTask; copy: the fallback (receive, send, delete); "
        "auto: move-task, copy if the endpoint does not support it (default)",
    )
    redrive_parser.add_argument(
        "--max-messages", type=_int_range(1, 10_000_000), metavar="N", help="copy mode: move at most N"
    )
    redrive_parser.add_argument(
        "--wait", type=_int_range(0, 20), default=DEFAULT_WAIT_SECONDS, metavar="SECONDS", help="copy mode: long poll"
    )
    redrive_parser.add_argument(
        "--status", action="store_true", help="list the DLQ's recent message move tasks instead (ListMessageMoveTasks)"
    )
    redrive_parser.set_defaults(handler=run_redrive)


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def run_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    queue_url = ctx.resources.get("dlq_url")
    messages, not_released = peek_messages(
        queue_url,
        limit=args.limit,
        visibility_timeout=args.visibility_timeout,
        wait_time_seconds=args.wait,
        sqs=ctx.client("sqs"),
    )
    ctx.emit_result(
        messages,
        lambda: render_table(messages, LIST_COLUMNS, empty_message="The dead-letter queue is empty.", width=ctx.width),
    )
    if not_released:
        ctx.note(f"{not_released} peeked message(s) stay hidden for up to {args.visibility_timeout}s")
    return EXIT_OK


def _is_aws_endpoint(client: Any) -> bool:
    return "amazonaws.com" in (getattr(client.meta, "endpoint_url", "") or "")


def run_redrive(args: argparse.Namespace, ctx: CommandContext) -> int:
    sqs = ctx.client("sqs")
    if args.status:
        return _run_status(ctx, sqs)
    if args.max_messages is not None and args.mode == MODE_MOVE_TASK:
        raise CliError("--max-messages applies to --mode copy only; a move task moves the whole queue", EXIT_USAGE)

    def fallback(reason: str) -> None:
        ctx.note(
            f"this endpoint does not support StartMessageMoveTask ({reason}); "
            "FALLBACK --mode copy: receiving from the DLQ, sending to the main queue, deleting from the DLQ"
        )

    mode, local_reason = args.mode, None
    if ctx.local is not None and mode == MODE_AUTO:
        # The local endpoint is moto's server, which answers StartMessageMoveTask with a bare HTTP 500.
        mode, local_reason = MODE_COPY, LOCAL_NO_MOVE_TASKS
        ctx.note(f"--local: {LOCAL_NO_MOVE_TASKS}; redriving by copy (receive from the DLQ, send, delete)")
    try:
        result = redrive(
            ctx.resources,
            mode=mode,
            rate=args.rate,
            max_messages=args.max_messages,
            wait_time_seconds=args.wait,
            sqs=sqs,
            on_fallback=fallback,
        )
    except ClientError as exc:
        if exc.operation_name == "StartMessageMoveTask":
            raise _move_task_error(exc, sqs, "use: hookctl dlq redrive --mode copy") from None
        raise
    if local_reason is not None:
        result["fallback_reason"] = local_reason

    ctx.emit_result(result, lambda: _redrive_text(result))
    for error in result.get("errors", [])[:10]:
        ctx.note(f"copy error: {error}")
    return EXIT_FAILURE if result.get("failed") else EXIT_OK


def _redrive_text(result: Mapping[str, Any]) -> str:
    if result["mode"] == MODE_MOVE_TASK:
        rate = result["max_messages_per_second"]
        record = render_record(
            [
                ("task handle", result["task_handle"]),
                ("source", result["source_arn"]),
                ("destination", result["destination_arn"]),
                ("rate", f"{rate} messages/s" if rate else "SQS default"),
            ]
        )
        return (
            "Started a message move task (StartMessageMoveTask); SQS moves the messages in the background.\n"
            f"{record}\nFollow it with: hookctl dlq redrive --status"
        )
    label = "fallback after StartMessageMoveTask was refused" if result["fallback_reason"] else "--mode copy"
    record = render_record(
        [
            ("moved", result["moved"]),
            ("failed", result["failed"]),
            ("source", result["source_url"]),
            ("destination", result["destination_url"]),
        ]
    )
    return f"Redrove by copy ({label}): receive from the DLQ, send to the main queue, delete from the DLQ.\n{record}"


def _run_status(ctx: CommandContext, sqs: Any) -> int:
    dlq_arn = ctx.resources.queue_arn("dlq", sqs)
    try:
        tasks = list_move_tasks(dlq_arn, sqs=sqs)
    except (ClientError, NotImplementedError) as exc:
        reason = unsupported_reason(exc)
        if reason is not None:
            raise CliError(
                f"this endpoint does not support ListMessageMoveTasks ({reason}); copy-mode redrives run to "
                "completion in the foreground, so there is no task to follow"
            ) from None
        raise _move_task_error(exc, sqs, "there are no move tasks to list there") from None
    ctx.emit_result(
        tasks,
        lambda: render_table(
            tasks, TASK_COLUMNS, empty_message=f"No message move tasks for {dlq_arn}.", width=ctx.width
        ),
    )
    return EXIT_OK


def _move_task_error(exc: ClientError, sqs: Any, hint: str) -> Exception:
    """An emulator that lacks the move-task APIs may fail without saying so (moto's server: a bare HTTP 500).

    That is not taken as "unsupported" (it could be a real failure), but the operator is told what it may mean.
    """
    if _is_aws_endpoint(sqs):
        return exc
    return CliError(
        f"{describe_client_error(exc)}\n  If {sqs.meta.endpoint_url} does not implement SQS message move tasks "
        f"(moto's server answers HTTP 500), {hint}."
    )
