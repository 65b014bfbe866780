"""``hookctl listen``: a stack's real deliveries on a laptop, without a tunnel (like ``stripe listen``).

    hookctl listen --stack-name webhook-gateway-dev --forward-to http://localhost:8000/webhooks/stripe
    hookctl listen --local --provider github --handlers   # the local consumer_handlers, in process, no ledger
    hookctl listen --remove                               # delete this listener's subscription and queue

The stack must have the listener tap (template parameter ``ListenerTap=Enabled``): the consumer publishes every
delivery on its first receive to the ``ListenerTapTopicArn`` topic (``webhook_gateway.consumer.tap``). Each listener
has a queue of its own, ``<stack>-listen-<name>`` (``--name``, default user@host), created on first use and reused:
subscribed to the topic with raw message delivery (a filter policy on ``provider`` with ``--provider``), SSE on, a
policy that lets only that topic send to it, and 4 days' retention: deliveries wait there while the laptop sleeps or
``listen`` is stopped. A delivery is deleted from it only once the local side answered 2xx (or its handler returned);
otherwise it comes back after :data:`RETRY_AFTER_SECONDS`. The command prints one line per delivery, reconnects by
itself after network errors (capped exponential backoff, announced once) and prints a summary when it stops.

The pure parts (names, policies, lines, acknowledgement decisions, backoff) are plain functions tested without AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import http.client
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from hookctl.context import EXIT_OK, EXIT_USAGE, CliError, CommandContext

if TYPE_CHECKING:  # pydantic is imported by the command, not by `hookctl --help` (webhook_gateway.envelope)
    from webhook_gateway.envelope import Envelope

TAP_OUTPUT = "ListenerTapTopicArn"
QUEUE_INFIX = "-listen-"
MAX_QUEUE_NAME = 80  # SQS
RETENTION_SECONDS = 345_600  # 4 days (SQS's default; at most 14): how long deliveries wait for the laptop
# A received delivery stays hidden this long while it is forwarded (more than the forward timeout: it is never
# handed out twice while one attempt is still running) ...
VISIBILITY_SECONDS = 30
# ... and, after a non-2xx answer or a refused connection, comes back this soon.
RETRY_AFTER_SECONDS = 5
WAIT_SECONDS = 20  # SQS long polling's maximum
FORWARD_TIMEOUT_SECONDS = 10.0
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 30.0
# Headers never copied from the envelope to the forwarded request: the HTTP connection's own.
_HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive", "expect"})

# Outcomes of one delivery (the summary's keys)
FORWARDED, FAILED, HANDLED, NO_HANDLER, TOO_LARGE_OUTCOME, UNREADABLE = (
    "forwarded",
    "failed",
    "handled",
    "no handler",
    "too large",
    "unreadable",
)


# -- names and policies ----------------------------------------------------------------------------------------------


def sanitize(text: str) -> str:
    """``text`` in SQS's queue-name alphabet (letters, digits, ``-``, ``_``): anything else becomes ``-``."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9_-]", "-", text)).strip("-") or "listener"


def default_name(user: str | None = None, host: str | None = None) -> str:
    """``user@host``, sanitized (``ada-laptop``): one queue per developer and machine."""
    if user is None:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = "user"
    host = socket.gethostname().split(".")[0] if host is None else host
    return sanitize(f"{user}@{host}")


def listener_queue_name(stack_name: str, name: str) -> str:
    """``<stack>-listen-<name>``, cut to SQS's 80 characters (the ListenerPolicy grants ``<stack>-listen-*``)."""
    prefix = f"{stack_name}{QUEUE_INFIX}"
    if len(prefix) >= MAX_QUEUE_NAME:
        raise CliError(f"stack name {stack_name!r} is too long for a listener queue name (SQS: 80 characters)")
    return prefix + sanitize(name)[: MAX_QUEUE_NAME - len(prefix)]


def filter_policy(providers: Sequence[str]) -> str:
    """The subscription's filter policy: only these providers' deliveries (``""``: every delivery)."""
    from webhook_gateway.envelope import ATTR_PROVIDER

    return json.dumps({ATTR_PROVIDER: sorted(set(providers))}) if providers else ""


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    """Only the tap's topic may send to the listener's queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheListenerTap",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


def queue_attributes(queue_arn: str | None, topic_arn: str) -> dict[str, str]:
    attributes = {
        "MessageRetentionPeriod": str(RETENTION_SECONDS),
        "VisibilityTimeout": str(VISIBILITY_SECONDS),
        "SqsManagedSseEnabled": "true",
    }
    if queue_arn:
        attributes["Policy"] = queue_policy(queue_arn, topic_arn)
    return attributes


# -- what one message is ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tapped:
    """One message of the listener's queue: an envelope, or the stub of one too large for SNS (``too_large``)."""

    provider: str
    delivery_id: str
    event_type: str
    envelope: Envelope | None = None
    body_size: int = 0


def parse_message(body: str) -> Tapped:
    """The queue message (raw delivery: the envelope as the consumer received it; an SNS notification wrapper is
    unwrapped too). ValueError when it is neither an envelope nor a stub."""
    from webhook_gateway.consumer.tap import TOO_LARGE
    from webhook_gateway.envelope import Envelope

    document = json.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        return parse_message(document["Message"])
    if isinstance(document, dict) and document.get(TOO_LARGE):
        return Tapped(
            str(document.get("provider", "?")),
            str(document.get("delivery_id", "?")),
            str(document.get("event_type", "")),
            body_size=int(document.get("body_size", 0)),
        )
    envelope = Envelope.model_validate(document)
    return Tapped(envelope.provider, envelope.delivery_id, envelope.event_type, envelope, envelope.body_size)


# -- decisions and lines ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # FORWARDED, FAILED, HANDLED, ...
    detail: str  # "200", "500", "connection refused", "RuntimeError: ..."
    acknowledge: bool  # delete it from the queue
    elapsed_ms: float | None = None


def forward_outcome(status: int | None, error: str | None = None, elapsed_ms: float | None = None) -> Outcome:
    """Acknowledge only a 2xx: anything else (an HTTP error, a refused or broken connection) stays in the queue."""
    if status is not None and 200 <= status < 300:
        return Outcome(FORWARDED, str(status), True, elapsed_ms)
    return Outcome(FAILED, str(status) if status is not None else (error or "no answer"), False, elapsed_ms)


def format_line(when: datetime, tapped: Tapped, outcome: Outcome) -> str:
    """``22:10:01  stripe  payment_intent.succeeded  evt_1  -> 200 (12 ms)``: one line per delivery."""
    result = f"-> {outcome.detail}"
    if outcome.elapsed_ms is not None:
        result += f" ({outcome.elapsed_ms:.0f} ms)"
    if not outcome.acknowledge:
        result += f", left in the queue (back in {RETRY_AFTER_SECONDS} s)"
    return "  ".join(
        (when.astimezone().strftime("%H:%M:%S"), tapped.provider, tapped.event_type or "-", tapped.delivery_id, result)
    )


def format_summary(counts: Mapping[str, int], queue_name: str, deliveries: int | None = None) -> str:
    """``stopped: 2 deliveries, 3 attempts: 2 forwarded, 1 failed``: each attempt in one count; ``deliveries`` is
    how many distinct ones were seen (a failed one comes back: several attempts)."""
    attempts = sum(counts.values())
    parts = [f"{counts[kind]} {kind}" for kind in (FORWARDED, HANDLED, NO_HANDLER, FAILED, TOO_LARGE_OUTCOME,
                                                   UNREADABLE) if counts.get(kind)]
    seen = attempts if deliveries is None else deliveries
    text = f"hookctl listen: stopped: {seen} deliver{'y' if seen == 1 else 'ies'}"
    if attempts != seen:
        text += f", {attempts} attempts"
    text += f": {', '.join(parts) or 'none'}"
    if counts.get(FAILED):
        text += f"\n  what failed last is still in {queue_name}: it comes back when listen starts again"
    return text


class Backoff:
    """Capped exponential backoff for reconnecting: 1, 2, 4, ... 30 s; :meth:`reset` after a call that worked."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP) -> None:
        self.first, self.cap, self.failures = first, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * (2**self.failures))
        self.failures += 1
        return delay

    def reset(self) -> bool:
        """True when there had been failures (the caller announces the reconnection)."""
        had, self.failures = self.failures > 0, 0
        return had


def forward_headers(envelope: Envelope) -> dict[str, str]:
    """The original request headers the envelope keeps, as they are, minus the connection's own: the provider's
    ``forwarded_headers`` (content type, user agent, its timestamps and ids) and, on a stack with the listener tap
    (the receivers' ``KEEP_SIGNATURE_HEADERS``), its ``signature_headers``, so local code can verify the original
    signature (docs/local.md, "Which signatures survive a forward")."""
    return {name: value for name, value in envelope.headers.items() if name.lower() not in _HOP_BY_HOP}


def gateway_headers(envelope: Envelope) -> dict[str, str]:
    """Added to every forwarded request: what the gateway verified, for local code that skips its own check in
    development, and ``x-hookctl-original-url``, the URL the provider called (and signed, for Twilio, Square and
    HubSpot), when the receiver kept it (``Envelope.request_url``)."""
    headers = {
        "x-hookctl-provider": envelope.provider,
        "x-hookctl-delivery-id": envelope.delivery_id,
        "x-hookctl-event-type": envelope.event_type,
        "x-hookctl-verified": f"{envelope.secret_version} secret",
    }
    if envelope.request_url:
        headers["x-hookctl-original-url"] = envelope.request_url
    return headers


# -- delivering one message ------------------------------------------------------------------------------------------


def http_forward(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = FORWARD_TIMEOUT_SECONDS
                 ) -> Outcome:
    """POST ``body`` to ``url`` as is; the outcome of its answer (or of the connection's failure)."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    began = time.monotonic()
    connection = connection_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return forward_outcome(response.status, elapsed_ms=(time.monotonic() - began) * 1000)
    except ConnectionRefusedError:
        return forward_outcome(None, "connection refused")
    except (OSError, http.client.HTTPException) as error:
        return forward_outcome(None, f"{type(error).__name__}: {error}"[:200])
    finally:
        connection.close()


def forward_target(url: str, *, timeout: float = FORWARD_TIMEOUT_SECONDS) -> Callable[[Envelope, bytes, str], Outcome]:
    """``--forward-to URL``: each delivery POSTed there with its original body bytes, the headers the envelope keeps
    and the gateway's own (:func:`gateway_headers`)."""

    def deliver(envelope: Envelope, raw: bytes, message_id: str) -> Outcome:
        headers = {**forward_headers(envelope), **gateway_headers(envelope)}
        return http_forward(url, raw, headers, timeout=timeout)

    return deliver


@dataclass
class HandlerTarget:
    """``--handlers``: the consumer's own registry (``consumer_handlers``) and event building, in process, without
    the ledger: a handler that raises leaves the delivery in the queue."""

    registry: Any

    def __call__(self, envelope: Envelope, raw: bytes, message_id: str) -> Outcome:
        from webhook_gateway.consumer.events import build_event

        handler = self.registry.resolve(envelope.provider, envelope.event_type)
        if handler is None:
            return Outcome(NO_HANDLER, "no handler", True)
        began = time.monotonic()
        try:
            handler(build_event(envelope, raw, message_id=message_id))
        except Exception as error:  # the developer's code: report it, keep the delivery
            return Outcome(FAILED, f"{type(error).__name__}: {error}"[:200], False)
        return Outcome(HANDLED, "handled", True, (time.monotonic() - began) * 1000)


def load_handlers(project: Path | None) -> Any:
    """The ``consumer_handlers`` package of ``functions/consumer`` (as the consumer imports it) and its registry."""
    directory = (project or Path.cwd()) / "functions" / "consumer"
    if not (directory / "consumer_handlers").is_dir():
        raise CliError(f"--handlers: no consumer_handlers package in {directory}", EXIT_USAGE)
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    import importlib

    importlib.import_module("consumer_handlers")
    from webhook_gateway.consumer.registry import default_registry

    return default_registry


# -- the listener ----------------------------------------------------------------------------------------------------


@dataclass
class ListenerQueue:
    url: str
    arn: str
    name: str
    subscription_arn: str


def ensure_queue(sqs: Any, sns: Any, topic_arn: str, name: str, providers: Sequence[str]) -> ListenerQueue:
    """Create (or reuse) the listener's queue and its subscription; a changed ``--provider`` list updates the
    subscription's filter policy."""
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if not _no_such_queue(error):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes(None, topic_arn))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Reused queues get the current settings too (an older hookctl, or a changed topic after a redeploy).
    sqs.set_queue_attributes(QueueUrl=url, Attributes=queue_attributes(arn, topic_arn))
    policy = filter_policy(providers)
    existing = find_subscription(sns, topic_arn, arn)
    if existing is None:
        attributes = {"RawMessageDelivery": "true"}
        if policy:
            attributes["FilterPolicy"] = policy
        subscription = sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
    else:
        subscription = existing
        sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="RawMessageDelivery",
                                        AttributeValue="true")
        sns.set_subscription_attributes(
            SubscriptionArn=subscription, AttributeName="FilterPolicy", AttributeValue=policy or "{}"
        )
    return ListenerQueue(url, arn, name, subscription)


def _no_such_queue(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return "NonExistentQueue" in code or "QueueDoesNotExist" in code


def find_subscription(sns: Any, topic_arn: str, queue_arn: str) -> str | None:
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            if subscription.get("Endpoint") == queue_arn and subscription.get("Protocol") == "sqs":
                return str(subscription["SubscriptionArn"])
    return None


def remove_queue(sqs: Any, sns: Any, topic_arn: str | None, name: str) -> list[str]:
    """Delete the listener's subscription (when the tap still exists) and queue; what was deleted."""
    removed: list[str] = []
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if not _no_such_queue(error):
            raise
        return removed
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = find_subscription(sns, topic_arn, arn) if topic_arn else None
    if subscription is not None:
        sns.unsubscribe(SubscriptionArn=subscription)
        removed.append(f"subscription {subscription}")
    sqs.delete_queue(QueueUrl=url)
    removed.append(f"queue {name}")
    return removed


# The network errors after which the listener waits and tries again (the laptop slept, Wi-Fi changed).
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (BotoConnectionError, OSError, http.client.HTTPException)


def _transient(error: BaseException) -> bool:
    if isinstance(error, _NETWORK_ERRORS):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = str(error.response.get("Error", {}).get("Code", ""))
        return int(status) >= 500 or code == "RequestExpired" or "Throttl" in code
    return isinstance(error, BotoCoreError)


@dataclass
class Listener:
    """Long-polls the listener's queue and delivers each message to ``deliver`` (forward or handlers); ``stop()``
    (or Ctrl-C in the command) ends it after the current message: what was not acknowledged stays in the queue."""

    sqs: Any
    queue: ListenerQueue
    deliver: Callable[[Envelope, bytes, str], Outcome]
    load_body: Callable[[Envelope], bytes]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    wait_seconds: int = WAIT_SECONDS
    retry_after: int = RETRY_AFTER_SECONDS
    json_lines: bool = False
    sleep: Callable[[float], Any] | None = None  # default: waits on the stop event
    backoff: Backoff = field(default_factory=Backoff)
    counts: Counter[str] = field(default_factory=Counter)
    seen: set[tuple[str, str]] = field(default_factory=set)  # (provider, delivery id) of every delivery received
    _stop: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Counter[str]:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.wait_seconds,
                ).get("Messages", [])
            except Exception as error:
                if not _transient(error):
                    raise
                self._wait_to_reconnect(error)
                continue
            if self.backoff.reset():
                self.err.write("hookctl listen: reconnected\n")
            for index, message in enumerate(messages):
                if self._stop.is_set():  # received but not handled: visible again at once, for the next start
                    self._release(messages[index:])
                    break
                self.handle(message)
        return self.counts

    def _wait_to_reconnect(self, error: BaseException) -> None:
        first = self.backoff.failures == 0
        delay = self.backoff.next_delay()
        if first:  # announced once; the next attempts are quiet until it works again
            self.err.write(f"hookctl listen: connection lost ({type(error).__name__}); reconnecting with backoff "
                           f"(up to {self.backoff.cap:.0f} s between attempts)\n")
        (self.sleep or self._stop.wait)(delay)

    def handle(self, message: Mapping[str, Any]) -> Outcome:
        receipt = message["ReceiptHandle"]
        try:
            tapped = parse_message(message["Body"])
        except ValueError as error:  # not ours to deliver, and retrying cannot fix it
            self.err.write(f"hookctl listen: dropping an unreadable message {message.get('MessageId')}: "
                           f"{type(error).__name__}\n")
            self.counts[UNREADABLE] += 1
            self._acknowledge(receipt)
            return Outcome(UNREADABLE, "unreadable", True)
        if tapped.envelope is None:
            outcome = Outcome(
                TOO_LARGE_OUTCOME,
                f"too large for the tap ({tapped.body_size} B): hookctl deliveries show {tapped.provider} "
                f"{tapped.delivery_id} --body",
                True,
            )
        else:
            try:
                raw = self.load_body(tapped.envelope)
            except Exception as error:
                outcome = Outcome(FAILED, f"body not readable: {type(error).__name__}", False)
            else:
                outcome = self.deliver(tapped.envelope, raw, str(message.get("MessageId", "")))
        self.counts[outcome.kind] += 1
        self.seen.add((tapped.provider, tapped.delivery_id))
        self._print(tapped, outcome)
        if outcome.acknowledge:
            self._acknowledge(receipt)
        else:
            self._retry_soon(receipt)
        return outcome

    def _print(self, tapped: Tapped, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        if self.json_lines:
            line = json.dumps({"time": now.isoformat(), "provider": tapped.provider, "event_type": tapped.event_type,
                               "delivery_id": tapped.delivery_id, "outcome": outcome.kind, "detail": outcome.detail,
                               "acknowledged": outcome.acknowledge})
        else:
            line = format_line(now, tapped, outcome)
        self.out.write(line + "\n")
        self.out.flush()

    def _acknowledge(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue.url, ReceiptHandle=receipt)
        except Exception as error:  # it comes back and is delivered again: at least once
            self.err.write(f"hookctl listen: could not acknowledge ({type(error).__name__}); it will come back\n")

    def _retry_soon(self, receipt: str) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue.url, ReceiptHandle=receipt, VisibilityTimeout=self.retry_after
            )
        except Exception as error:  # it comes back after the queue's visibility timeout instead
            self.err.write(f"hookctl listen: could not shorten the wait ({type(error).__name__}); it comes back "
                           f"in {VISIBILITY_SECONDS} s\n")

    def _release(self, messages: Iterable[Mapping[str, Any]]) -> None:
        for message in messages:
            with contextlib.suppress(Exception):  # else it comes back after the queue's visibility timeout
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )


# -- the command -----------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "listen",
        parents=parents,
        help="receive a stack's deliveries on this machine (forward them to a local URL or run the local handlers)",
        description="Long-poll this listener's own queue, subscribed to the stack's listener tap (ListenerTap="
        "Enabled; --local: `hookctl dev --parameter-overrides ListenerTap=Enabled`), and forward each delivery to "
        "a local URL with its original body and headers, or run the local consumer_handlers on it. A delivery is "
        "acknowledged only after a 2xx (or a handler that returned); the queue keeps deliveries 4 days while "
        "listen is stopped. Ctrl-C prints a summary.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--forward-to", metavar="URL", help="POST each delivery here (http://localhost:8000/...)")
    target.add_argument(
        "--handlers", action="store_true", help="run functions/consumer/consumer_handlers on each one (no ledger)"
    )
    parser.add_argument(
        "--provider", action="append", default=[], metavar="P", help="only this provider's deliveries (repeatable)"
    )
    parser.add_argument("--name", metavar="N", help="this listener's name (default: user@host): its queue's suffix")
    parser.add_argument("--remove", action="store_true", help="delete this listener's subscription and queue")
    parser.set_defaults(handler=run_listen)


def run_listen(args: argparse.Namespace, ctx: CommandContext) -> int:
    from hookctl.resources import ResourceNotFound

    outputs = ctx.resources.stack_outputs()
    topic_arn = outputs.get(TAP_OUTPUT)
    stack_name = ctx.resources.stack_name
    name = listener_queue_name(stack_name, args.name or default_name())
    sqs, sns = ctx.client("sqs"), ctx.client("sns")
    if args.remove:  # also once the tap is gone (ListenerTap back to Disabled): its subscriptions went with it
        removed = remove_queue(sqs, sns, topic_arn or None, name)
        ctx.note(f"removed {' and '.join(removed)}" if removed else f"no listener queue {name}: nothing to remove")
        return EXIT_OK
    if not topic_arn:
        hint = (
            "start `hookctl dev --parameter-overrides ListenerTap=Enabled`"
            if ctx.local
            else "deploy it with --parameter-overrides ListenerTap=Enabled (dev and staging stacks)"
        )
        raise CliError(f"stack {stack_name} has no listener tap (no {TAP_OUTPUT} output): {hint}", EXIT_USAGE)
    if not args.forward_to and not args.handlers:
        raise CliError("hookctl listen: say where deliveries go: --forward-to URL or --handlers", EXIT_USAGE)
    if args.forward_to and urlsplit(args.forward_to).scheme not in ("http", "https"):
        raise CliError(f"--forward-to {args.forward_to!r}: an http:// or https:// URL", EXIT_USAGE)
    try:
        bucket = ctx.resources.get("bucket")
    except ResourceNotFound:
        bucket = ""
    queue = ensure_queue(sqs, sns, topic_arn, name, args.provider)
    if args.handlers:
        from hookctl.local.state import project_dir

        deliver: Callable[[Envelope, bytes, str], Outcome] = HandlerTarget(load_handlers(project_dir()))
    else:
        deliver = forward_target(args.forward_to)

    listener = Listener(
        sqs=sqs,
        queue=queue,
        deliver=deliver,
        load_body=body_loader(bucket, ctx.client("s3") if bucket else None),
        out=ctx.stdout,
        err=ctx.stderr,
        json_lines=ctx.json,
    )
    where = args.forward_to or "the local consumer_handlers"
    only = f" ({', '.join(sorted(set(args.provider)))} only)" if args.provider else ""
    ctx.note(f"listening on {name}{only} -> {where}; Ctrl-C to stop")
    with _terminate_like_ctrl_c():
        try:
            listener.run()
        except KeyboardInterrupt:
            listener.stop()
    ctx.stderr.write(format_summary(listener.counts, name, len(listener.seen)) + "\n")
    return EXIT_OK


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (a supervisor, ``kill``) stops the listener as Ctrl-C does: the summary, nothing lost. Only in the main
    thread (tests run the command in others)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def body_loader(bucket: str, s3: Any) -> Callable[[Envelope], bytes]:
    """The raw body of an envelope: inline, or (claim check) from the overflow bucket, checked against its SHA-256
    (``webhook_gateway.consumer.bodies``, as the consumer does)."""
    from webhook_gateway.consumer.bodies import load_body

    def load(envelope: Envelope) -> bytes:
        return load_body(envelope, allowed_buckets=frozenset({bucket} if bucket else set()), client=s3)

    return load


# -- which signatures survive a forward (docs/local.md's table, derived here from the registry) ----------------------


@dataclass(frozen=True)
class ForwardSurvival:
    provider: str
    title: str
    signs_url: bool  # the signature covers the URL the provider called
    signs_time: bool  # the signature covers the sending time (a verifier refuses it outside its window)
    # One signed request carries several events, each queued (and forwarded by listen) alone (Provider.split).
    batch: bool = False


def forward_survival() -> list[ForwardSurvival]:
    """For every registered provider with samples: whether its signature covers the URL (found by signing the same
    sample for two URLs: the signature changes) and the time (``Samples.signs_time``)."""
    from hookctl import samples as sample_module
    from webhook_gateway.verifiers import registered_providers

    found = []
    for provider in registered_providers():
        try:
            declared = sample_module.provider_samples(provider)
        except ValueError:
            continue
        kind = next(iter(sample_module.delivery_kinds_of(provider.name)))
        sample = declared.kinds[kind]()
        secret = provider.secret_format.sample

        def signature(url: str) -> Mapping[str, str]:
            return declared.sign(sample.body, url, sample.content_type, secret, 1_750_000_000).headers  # noqa: B023

        signs_url = signature("https://a.example/webhooks/x") != signature("http://127.0.0.1:8000/webhooks/x")
        title = provider.title or provider.name.capitalize()
        found.append(ForwardSurvival(provider.name, title, signs_url, declared.signs_time, provider.split is not None))
    return found


def listen_verdict(row: ForwardSurvival) -> str:
    """Whether a delivery forwarded by ``listen`` from a tapped stack (its receivers keep the signature headers)
    still verifies with the provider's own check."""
    if row.batch:
        return "no: each event is forwarded alone and the signature covers the whole batch (`x-hookctl-verified`)"
    if row.signs_url and row.signs_time:
        return "only against `x-hookctl-original-url`, and within the time window"
    if row.signs_url:
        return "only against `x-hookctl-original-url` (the URL the provider called), not the local URL"
    if row.signs_time:
        return "yes, if forwarded within the time window (not after waiting in the queue)"
    return "yes, whenever"


def forward_table(rows: Iterable[ForwardSurvival] | None = None) -> str:
    """The Markdown table of docs/local.md ("Which signatures survive a forward")."""
    lines = [
        "| provider | its signature covers | re-verifies after a tunnel or `stripe listen` forward "
        "| re-verifies after `hookctl listen --forward-to` |",
        "|---|---|---|---|",
    ]
    for row in rows if rows is not None else forward_survival():
        covers = ["the body"]
        if row.signs_url:
            covers.append("the URL it called")
        if row.signs_time:
            covers.append("the sending time")
        if row.signs_url and row.signs_time:
            verdict = "only at the URL the provider called (`--public-url`), and within the time window"
        elif row.signs_url:
            verdict = "only at the URL the provider called (`--public-url`): not at another local URL"
        elif row.signs_time:
            verdict = "yes, within the time window (not after the laptop slept)"
        else:
            verdict = "yes, whenever and wherever"
        lines.append(f"| {row.title} (`{row.provider}`) | {', '.join(covers)} | {verdict} | {listen_verdict(row)} |")
    return "\n".join(lines)
