"""``hookctl replay``: run any delivery's handler again, from the archive: one delivery, or a filtered set in bulk.

**One delivery** (``hookctl replay PROVIDER DELIVERY_ID``): whatever the ledger says (processed, skipped, failed,
dead-lettered, or no entry at all), as long as the consumer archived it (``webhook_gateway.consumer.archive``):

1. read the ledger entry and the archive; :func:`~webhook_gateway.consumer.archive.load_archived` checks the body's
   size and SHA-256 against what the receiver recorded, and a mismatch refuses the replay (nothing recorded, nothing
   sent): **a replay never re-enqueues edited bytes**, only what the provider signed;
2. refuse while a consumer holds a live lease (``processing``, lease in the future); a ``processed`` delivery (outcome
   handled, skipped or duplicate_body) needs ``--force``;
3. record the request in the ledger (``ledger.request_replay``: one conditional UpdateItem; replay id, when, and who
   asked, from STS ``GetCallerIdentity``), then
4. send the archived envelope, unchanged, plus the ``replay`` field naming the request, to the main queue.

**Exactly once per request.** The request adds its id to the entry's ``pending_replays``; the consumer lets a copy
carrying that id claim the delivery (even a processed one) and removes the id in the same conditional write, so a
second copy of the same request (SQS delivers at least once) is a duplicate, and each new request runs the handler
once more.

**Why record first, then send.** A send that fails after the request was recorded leaves a pending id that no
message carries: nothing ever consumes it, so nothing runs because of it (the command reports it and exits 1; run
it again for a new request). The other order could leave a copy in the queue whose id the ledger does not know: the
consumer would drop it as a duplicate of a processed delivery.

**No archive** (archiving turned off, expired, or a delivery older than the archive): the envelope may still be in
the dead-letter queue. ``replay`` then finds it there by delivery id (a scan of the DLQ: every other message is made
visible again), sends it through the same replay request (the ``replay`` field added to its metadata; its body, inline
or by reference, unchanged), deletes its DLQ copies, and says ``replayed_from: dlq``. With neither, the stack holds no
body: the provider must redeliver it, and ``--reset-only`` sets a processed entry back to ``failed`` first, so that
the redelivery (the same delivery id, no replay id) is not dropped as a duplicate.

**Bulk** (``hookctl replay --status failed --since 2h [--provider P] [--type T]``): the ledger's ``by-status`` index
(``hookctl.deliveries.list_deliveries``) selects the entries, ``--until``/``--type``/``dead_lettered`` filter them
here; ``--dry-run`` lists them; otherwise each is replayed as above from the archive (no DLQ scan per delivery),
paced by a token bucket (``--rate``), after a confirmation (``--yes`` when there is no terminal). Exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from hookctl.awserrors import classify
from hookctl.context import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    CommandContext,
    describe_client_error,
)
from hookctl.deliveries import get_delivery, list_deliveries, parse_since, positive_float, positive_int
from hookctl.dlq import message_attribute_names, release_messages
from hookctl.output import Column, iso_utc, render_record, render_table
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
WAIT_POLL_SECONDS = 0.5
# The consumer's DELIVERY_TTL_DAYS default (template: DeliveryTtlDays). Used only when the request creates the
# ledger item (no entry, an archive): the consumer's claim then sets the stack's own TTL.
REQUEST_TTL_DAYS = 30

SOURCE_ARCHIVE = "archive"
SOURCE_DLQ = "dlq"

# Bulk selection. ``dead_lettered``: failed, and moved to the DLQ by the consumer (``dead_lettered_at``).
DEAD_LETTERED = "dead_lettered"
BULK_STATUSES = (STATUS_FAILED, DEAD_LETTERED, STATUS_PROCESSED)
DEFAULT_RATE = 10.0  # replays sent per second in bulk
DEFAULT_BULK_LIMIT = 1_000
# Entries read from the index before the filters applied here (--until, --type, dead_lettered) and --limit.
BULK_READ_LIMIT = 10_000

RESULT_REPLAYED = "replayed"
RESULT_SKIPPED = "skipped"
RESULT_FAILED = "failed"


@dataclass
class Clock:
    """Wall time (the request's timestamp, lease checks), a monotonic clock and sleep (pacing, ``--wait``)."""

    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


CLOCK = Clock()  # tests replace it, so that nothing sleeps


def _stdin() -> TextIO:
    return sys.stdin


class NotReplayed(Exception):
    """The delivery was not replayed; ``result`` says whether it was skipped (by rule) or failed."""

    result = RESULT_FAILED

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


class Skipped(NotReplayed):
    result = RESULT_SKIPPED


class Failed(NotReplayed):
    result = RESULT_FAILED


@dataclass
class ReplayTarget:
    """Where and how one replay is made: the stack's resources, the clients, who asks, and the rules."""

    table: str
    queue_url: str
    dynamodb: Any
    sqs: Any
    s3: Any
    requested_by: str
    force: bool = False
    clock: Clock = field(default_factory=lambda: CLOCK)
    # Single replays fall back to the DLQ when there is no archive (a scan of the DLQ); bulk replays do not.
    dlq_url: Callable[[], str] | None = None
    max_scan: int = DEFAULT_MAX_SCAN
    before_send: Callable[[], None] = lambda: None


# -- the rules ---------------------------------------------------------------------------------------------------


def refusal(entry: dict[str, Any], *, force: bool, now: float) -> str | None:
    """Why the ledger entry must not be replayed now (a skip, not a failure), or None."""
    status = entry.get("status")
    if status == STATUS_PROCESSING and int(entry.get("lease_expires_at") or 0) > now * 1000:
        return "a consumer is processing it right now (lease held); try again shortly"
    if status == STATUS_PROCESSED and not force:
        return (
            f"already processed (outcome {entry.get('outcome') or '?'}): pass --force to run its handler again "
            "(once per replay request)"
        )
    return None


def _state(entry: dict[str, Any]) -> str:
    """The ledger status as an operator reads it: ``failed (dead-lettered)``, ``processed (skipped)``, ``absent``."""
    status = entry.get("status")
    if status is None:
        return "absent"
    if status == STATUS_FAILED and entry.get("dead_lettered_at"):
        return "failed (dead-lettered)"
    if status == STATUS_PROCESSED and entry.get("outcome"):
        return f"processed ({entry['outcome']})"
    return str(status)


# -- one replay ----------------------------------------------------------------------------------------------------


def replay_delivery(provider: str, delivery_id: str, target: ReplayTarget) -> dict[str, Any]:
    """Replay one delivery; returns its report. Raises :class:`Skipped` (lease held, processed without ``--force``)
    or :class:`Failed` (no archive nor DLQ copy, integrity error, a send that failed), with the report so far."""
    from webhook_gateway.consumer.archive import ArchiveIntegrityError, load_archived
    from webhook_gateway.envelope import ReplayRequest

    entry = get_delivery(target.table, provider, delivery_id, dynamodb=target.dynamodb) or {}
    report: dict[str, Any] = {
        "provider": provider,
        "delivery_id": delivery_id,
        "ledger_status": entry.get("status"),
        "ledger_state": _state(entry),
    }
    for name in ("outcome", "dead_lettered_at", "duplicate_of", "stale_behind"):
        if entry.get(name):
            report[name] = entry[name]
    now = target.clock.now()
    reason = refusal(entry, force=target.force, now=now)
    if reason is not None:
        raise Skipped(reason, report)

    request = ReplayRequest(
        id=uuid.uuid4().hex, requested_at=datetime.fromtimestamp(now, UTC), requested_by=target.requested_by
    )
    try:
        archived = load_archived(target.table, provider, delivery_id, dynamodb=target.dynamodb, s3=target.s3)
        if archived is not None:
            envelope = archived.envelope_for_replay(request)
    except ArchiveIntegrityError as error:
        raise Failed(f"{error}: refused, nothing recorded or sent", report) from None
    if archived is None:
        if target.dlq_url is None:
            raise Failed("not archived (archiving off, or expired); replay it alone to look in the DLQ", report)
        return _replay_from_dlq(provider, delivery_id, target, request, report)
    if (envelope.provider, envelope.delivery_id) != (provider, delivery_id):
        raise Failed("the archive item names another delivery: refused, nothing recorded or sent", report)
    report["replayed_from"] = SOURCE_ARCHIVE
    report["body_location"] = archived.location
    report["archived_at"] = archived.archived_at
    _record_and_send(envelope, request, target, report)
    return report


def _record_and_send(envelope: Any, request: Any, target: ReplayTarget, report: dict[str, Any]) -> None:
    """The request first, then the copy that carries it (see the module's doc for why this order)."""
    from webhook_gateway.consumer.ledger import ReplayRefused, request_replay

    try:
        count = request_replay(
            target.table,
            envelope.provider,
            envelope.delivery_id,
            replay_id=request.id,
            requested_by=request.requested_by,
            now=target.clock.now(),
            ttl_days=REQUEST_TTL_DAYS,
            client=target.dynamodb,
        )
    except ReplayRefused:
        raise Skipped("a consumer is processing it right now (lease held); try again shortly", report) from None
    report.update(replay_id=request.id, requested_by=request.requested_by, replay_count=count)
    target.before_send()
    try:
        sent = target.sqs.send_message(
            QueueUrl=target.queue_url,
            MessageBody=envelope.sqs_message_body(),
            MessageAttributes=envelope.sqs_message_attributes(),
        )
    except (ClientError, BotoCoreError) as error:
        problem = describe_client_error(error) if isinstance(error, ClientError) else str(error)
        report["sent"] = False
        raise Failed(
            f"replay request {request.id} was recorded but the message could not be sent ({problem}); nothing will "
            "run for it (only a copy carrying its id consumes it): run the replay again",
            report,
        ) from None
    report["new_message_id"] = sent["MessageId"]


def _replay_from_dlq(
    provider: str, delivery_id: str, target: ReplayTarget, request: Any, report: dict[str, Any]
) -> dict[str, Any]:
    """No archive: the envelope's copy in the DLQ, sent through the same replay request, then its copies deleted."""
    from pydantic import ValidationError

    from webhook_gateway.consumer.bodies import BodyIntegrityError, verify_body
    from webhook_gateway.envelope import Envelope

    assert target.dlq_url is not None
    dlq_url = target.dlq_url()
    matches, scanned = find_in_dlq(dlq_url, provider, delivery_id, sqs=target.sqs, max_scan=target.max_scan)
    report["dlq_messages_scanned"] = scanned
    if not matches:
        raise Failed(
            f"neither archived nor in the dead-letter queue ({scanned} messages looked at): the stack holds no body. "
            "Have the provider redeliver it (GitHub: Recent Deliveries -> Redeliver; Stripe: stripe events resend "
            f"<id>); if the ledger says processed, first: hookctl replay {provider} {delivery_id} --reset-only",
            report,
        )
    try:
        message = matches[0]
        try:
            original = Envelope.model_validate_json(message["Body"])
            if original.body_ref is None:
                verify_body(original, original.inline_body_bytes())
        except (ValidationError, ValueError, BodyIntegrityError) as error:
            reason = type(error).__name__
            raise Failed(f"its DLQ copy is not a valid envelope ({reason}): not replayed", report) from None
        if (original.provider, original.delivery_id) != (provider, delivery_id):
            raise Failed("its DLQ copy names another delivery: not replayed", report)
        report["replayed_from"] = SOURCE_DLQ
        report["body_location"] = original.body_location
        report["dlq_message_id"] = message["MessageId"]
        # The metadata gains the request; the body (inline text or the claim check) is the DLQ copy's, unchanged.
        _record_and_send(original.model_copy(update={"replay": request}), request, target, report)
    except BaseException:
        release_messages(dlq_url, [m["ReceiptHandle"] for m in matches], sqs=target.sqs)
        raise
    deleted = target.sqs.delete_message_batch(
        QueueUrl=dlq_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(matches)]
    )
    report["dlq_copies_removed"] = len(deleted.get("Successful", []))
    return report


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
    import json

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


def wait_processed(
    table: str, provider: str, delivery_id: str, replay_id: str, *, dynamodb: Any, timeout: float, clock: Clock
) -> tuple[bool, str | None]:
    """Poll the ledger until the replay was processed (its id left ``pending_replays`` and the status is
    ``processed``) or ``timeout`` seconds passed. Returns whether it was, and the last status seen (a delivery that
    was already processed stays ``processed`` while its replay waits in the queue: the status alone says nothing)."""
    deadline = clock.monotonic() + timeout
    while True:
        entry = get_delivery(table, provider, delivery_id, dynamodb=dynamodb) or {}
        status = entry.get("status")
        if status == STATUS_PROCESSED and replay_id not in (entry.get("pending_replays") or ()):
            return True, status
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return False, status
        clock.sleep(min(WAIT_POLL_SECONDS, remaining))


def reset_to_failed(
    table: str, provider: str, delivery_id: str, attempts: int, *, dynamodb: Any, now: float | None = None
) -> bool:
    """``processed`` -> ``failed`` so that a provider redelivery (same id, no replay request) is processed again;
    False if the entry changed meanwhile. ``run_attempts`` starts again, as for a replay: a delivery processed on its
    last allowed attempt would otherwise be dead-lettered by the redelivery's claim without running."""
    moment = datetime.fromtimestamp(CLOCK.now() if now is None else now, UTC)
    try:
        dynamodb.update_item(
            TableName=table,
            Key={PK: {"S": provider}, SK: {"S": delivery_id}},
            UpdateExpression="SET #status = :failed, #replay = :now, #run_attempts = :zero",
            ConditionExpression="#status = :processed AND #attempts = :attempts",
            ExpressionAttributeNames={
                "#status": "status",
                "#attempts": "attempts",
                "#replay": "replay_requested_at",
                "#run_attempts": "run_attempts",
            },
            ExpressionAttributeValues={
                ":failed": {"S": STATUS_FAILED},
                ":processed": {"S": STATUS_PROCESSED},
                ":attempts": {"N": str(attempts)},
                ":zero": {"N": "0"},
                ":now": {"S": iso_utc(moment, "milliseconds")},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


def caller_identity(ctx: CommandContext) -> str:
    """Who asks, for the ledger's ``replays``: STS ``GetCallerIdentity``'s ARN (through the context's client, so
    --profile/--region/--endpoint-url apply); "unknown", with a warning, if STS refuses or does not answer it."""
    try:
        return str(ctx.client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError, KeyError) as error:
        if not isinstance(error, KeyError) and classify(error, endpoint_url=ctx.endpoint_url) is not None:
            raise  # no credentials, an unreachable endpoint: every other call would fail the same way (exit 3, 4)
        problem = describe_client_error(error) if isinstance(error, ClientError) else type(error).__name__
        ctx.note(f"warning: STS GetCallerIdentity failed ({problem}); the replay is recorded as requested by 'unknown'")
        return "unknown"


# -- bulk ------------------------------------------------------------------------------------------------------------


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts of up to ``burst`` (default: one second's worth)."""

    def __init__(self, rate: float, *, clock: Clock, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.rate, self.clock = rate, clock
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = clock.monotonic()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def acquire(self) -> None:
        self._refill()
        if self.tokens < 1:
            self.clock.sleep((1 - self.tokens) / self.rate)
            self._refill()
        self.tokens -= 1


class Progress:
    """A bar redrawn in place on a terminal; otherwise a ``replayed k/n`` line every tenth of the way."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.step = max(1, total // 10)

    def update(self, done: int, counts: dict[str, int]) -> None:
        tally = f"replayed {counts[RESULT_REPLAYED]}, skipped {counts[RESULT_SKIPPED]}, failed {counts[RESULT_FAILED]}"
        if self.tty:
            filled = self.WIDTH * done // max(1, self.total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total}  {tally}")
            if done == self.total:
                self.stream.write("\n")
        elif done == self.total or done % self.step == 0:
            self.stream.write(f"hookctl: replayed {done}/{self.total} ({tally})\n")
        self.stream.flush()


def select_deliveries(
    table: str,
    *,
    status: str,
    since: datetime,
    until: datetime | None = None,
    provider: str | None = None,
    event_type: str | None = None,
    limit: int = DEFAULT_BULK_LIMIT,
    dynamodb: Any,
) -> tuple[list[dict[str, Any]], bool]:
    """The ledger entries a bulk replay selects, newest first, at most ``limit``; and whether more may match."""
    index_status = STATUS_FAILED if status == DEAD_LETTERED else status
    # The time window and the event type are conditions of the query itself (deliveries.list_page); only "moved to
    # the DLQ by the consumer" is a property the index cannot select.
    items = list_deliveries(
        table,
        provider=provider,
        status=index_status,
        since=since,
        until=until,
        event_type=event_type,
        limit=BULK_READ_LIMIT,
        dynamodb=dynamodb,
    )
    selected = [item for item in items if status != DEAD_LETTERED or item.get("dead_lettered_at")]
    return selected[:limit], len(selected) > limit or len(items) >= BULK_READ_LIMIT


BULK_COLUMNS = (
    Column(PK, "PROVIDER"),
    Column(SK, "DELIVERY_ID", identifier=True),
    Column("ledger_state", "LEDGER"),
    Column("event_type", "EVENT_TYPE", max_width=32),
    Column("last_attempt_at", "LAST_ATTEMPT_AT"),
    Column("result", "RESULT"),
    Column("detail", "DETAIL", max_width=80),
)


def _moment(text: str, option: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise CliError(str(exc).replace("--since", option), EXIT_USAGE) from None


def run_bulk(args: argparse.Namespace, ctx: CommandContext) -> int:
    since = _moment(args.since, "--since")
    until = _moment(args.until, "--until") if args.until else None
    table = ctx.resources.get("table")
    dynamodb = ctx.client("dynamodb")
    items, more = select_deliveries(
        table,
        status=args.status,
        since=since,
        until=until,
        provider=args.provider_filter,
        event_type=args.event_type,
        limit=args.limit,
        dynamodb=dynamodb,
    )
    if more:
        ctx.note(f"more entries may match than the {len(items)} selected: narrow --since/--until or raise --limit")
    rows = _plan(items, force=args.force, now=CLOCK.now())
    to_replay = [row for row in rows if row["result"] == RESULT_REPLAYED]
    summary: dict[str, Any] = {
        "status": args.status,
        "since": iso_utc(since),
        "until": iso_utc(until) if until else None,
        "selected": len(rows),
    }
    if args.dry_run:
        for row in rows:
            row["result"] = "would replay" if row["result"] == RESULT_REPLAYED else "would skip"
        summary.update(dry_run=True, would_replay=len(to_replay), would_skip=len(rows) - len(to_replay))
        _emit_bulk(summary, rows, ctx)
        return EXIT_OK
    if to_replay and not args.yes:
        _confirm(len(to_replay), len(rows) - len(to_replay), ctx)
    counts = {RESULT_REPLAYED: 0, RESULT_SKIPPED: len(rows) - len(to_replay), RESULT_FAILED: 0}
    if to_replay:
        target = _target(args, ctx, before_send=TokenBucket(args.rate, clock=CLOCK).acquire)
        summary["requested_by"] = target.requested_by
        _replay_rows(to_replay, target, counts, ctx)
    summary.update(counts)
    _emit_bulk(summary, rows, ctx)
    return EXIT_FAILURE if counts[RESULT_FAILED] else EXIT_OK


def _plan(items: list[dict[str, Any]], *, force: bool, now: float) -> list[dict[str, Any]]:
    """One row per selected entry: replayed (to be), or skipped with the rule's reason."""
    rows = []
    for item in items:
        reason = refusal(item, force=force, now=now)
        rows.append(
            {
                PK: item[PK],
                SK: item[SK],
                "ledger_status": item.get("status"),
                "ledger_state": _state(item),
                "event_type": item.get("event_type"),
                "last_attempt_at": item.get("last_attempt_at"),
                "result": RESULT_SKIPPED if reason else RESULT_REPLAYED,
                "detail": reason or "",
            }
        )
    return rows


def _replay_rows(rows: list[dict[str, Any]], target: ReplayTarget, counts: dict[str, int], ctx: CommandContext) -> None:
    progress = Progress(len(rows), ctx.stderr)
    for done, row in enumerate(rows, start=1):
        try:
            # Read again (consistent): the index is eventually consistent, and the entry may have moved on since.
            report = replay_delivery(row[PK], row[SK], target)
            row["detail"] = f"{report['replayed_from']} -> message {report['new_message_id']}"
            row.update({key: report[key] for key in ("replay_id", "replay_count", "new_message_id") if key in report})
        except NotReplayed as outcome:
            row["result"], row["detail"] = outcome.result, str(outcome)
        except (ClientError, BotoCoreError) as error:
            if classify(error, endpoint_url=ctx.endpoint_url) is not None:
                raise  # credentials or the endpoint: every other replay would fail the same way
            row["result"] = RESULT_FAILED
            row["detail"] = describe_client_error(error) if isinstance(error, ClientError) else str(error)
        counts[row["result"]] += 1
        progress.update(done, counts)


def _emit_bulk(summary: dict[str, Any], rows: list[dict[str, Any]], ctx: CommandContext) -> None:
    def human() -> str:
        table = render_table(rows, BULK_COLUMNS, "No deliveries match.", width=ctx.width)
        return f"{table}\n\n{render_record(summary.items())}"

    ctx.emit_result({**summary, "deliveries": rows}, human)


def _confirm(replays: int, skips: int, ctx: CommandContext) -> None:
    stdin = _stdin()
    try:
        interactive = stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        raise CliError(
            f"would replay {replays} deliveries: pass --yes to confirm (no terminal to ask), or --dry-run to list them",
            EXIT_USAGE,
        )
    skipped = f" ({skips} skipped)" if skips else ""
    ctx.stderr.write(f"Replay {replays} deliveries{skipped}? Each runs its handler once more. [y/N] ")
    ctx.stderr.flush()
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("not confirmed: nothing was replayed", EXIT_FAILURE)


# -- command line ------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        parents=parents,
        help="run a delivery's handler again from the archive (one delivery, or in bulk)",
        description="Replay one delivery (PROVIDER DELIVERY_ID) or, with --status and --since, every matching one: "
        "the archived envelope, byte for byte, is sent to the main queue with a replay request recorded in the "
        "ledger (who, when), and the consumer runs the handler once per request. Processed deliveries need --force; "
        "a delivery a consumer holds right now is skipped. Without an archive, one delivery is replayed from its "
        "DLQ copy.",
    )
    parser.add_argument("provider", metavar="PROVIDER", nargs="?", help="one delivery: its provider")
    parser.add_argument("delivery_id", metavar="DELIVERY_ID", nargs="?", help="one delivery: its id")
    parser.add_argument("--force", action="store_true", help="replay even if the ledger says processed")
    one = parser.add_argument_group("one delivery")
    one.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then wait up to SECONDS for the consumer to process the replay (exit 1 if it does not)",
    )
    one.add_argument("--max-scan", type=int, default=DEFAULT_MAX_SCAN, metavar="N", help="DLQ messages to look at")
    one.add_argument(
        "--reset-only",
        action="store_true",
        help="send nothing: set a processed entry back to failed, so that a provider redelivery is processed "
        "(for a delivery neither archived nor in the DLQ)",
    )
    bulk = parser.add_argument_group("bulk (without PROVIDER DELIVERY_ID)")
    bulk.add_argument(
        "--status", choices=BULK_STATUSES, help="entries in this status (dead_lettered: failed and moved to the DLQ)"
    )
    bulk.add_argument("--since", metavar="DURATION_OR_ISO", help="last attempted since then (30m, 2h, 7d, ISO-8601)")
    bulk.add_argument("--until", metavar="DURATION_OR_ISO", help="and before then (default: now)")
    bulk.add_argument("--provider", dest="provider_filter", metavar="P", help="only this provider")
    bulk.add_argument("--type", dest="event_type", metavar="T", help="only this event type (exact)")
    bulk.add_argument(
        "--limit", type=positive_int, default=DEFAULT_BULK_LIMIT, metavar="N", help="at most N (default 1000)"
    )
    bulk.add_argument("--dry-run", action="store_true", help="list what would be replayed; send nothing")
    bulk.add_argument(
        "--rate",
        type=positive_float,
        default=DEFAULT_RATE,
        metavar="PER_SECOND",
        help=f"replays sent per second at most (default {DEFAULT_RATE:g})",
    )
    bulk.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(handler=run_replay)


# Bulk options (argparse dest -> flag): refused next to PROVIDER DELIVERY_ID.
_BULK_OPTIONS = {
    "status": "--status",
    "since": "--since",
    "until": "--until",
    "provider_filter": "--provider",
    "event_type": "--type",
    "dry_run": "--dry-run",
    "yes": "--yes",
}


def run_replay(args: argparse.Namespace, ctx: CommandContext) -> int:
    bulk_given = [flag for name, flag in _BULK_OPTIONS.items() if getattr(args, name) not in (None, False)]
    if args.provider is None:
        if args.status is None or args.since is None:
            raise CliError(
                "give PROVIDER DELIVERY_ID for one delivery, or --status and --since for a bulk replay", EXIT_USAGE
            )
        if args.wait or args.reset_only:
            raise CliError("--wait and --reset-only apply to one delivery (PROVIDER DELIVERY_ID)", EXIT_USAGE)
        return run_bulk(args, ctx)
    if args.delivery_id is None:
        raise CliError("give PROVIDER and DELIVERY_ID (or neither, with --status and --since)", EXIT_USAGE)
    if bulk_given:
        raise CliError(
            f"{', '.join(bulk_given)}: bulk options; leave out PROVIDER DELIVERY_ID to replay in bulk", EXIT_USAGE
        )
    if args.reset_only:
        return _run_reset_only(args, ctx)
    return _run_one(args, ctx)


def _target(args: argparse.Namespace, ctx: CommandContext, **options: Any) -> ReplayTarget:
    """The stack's resources and clients for replays, who asks (STS), ``--force``; ``options``: the mode's own."""
    return ReplayTarget(
        table=ctx.resources.get("table"),
        queue_url=ctx.resources.get("queue_url"),
        dynamodb=ctx.client("dynamodb"),
        sqs=ctx.client("sqs"),
        s3=ctx.client("s3"),
        requested_by=caller_identity(ctx),
        force=args.force,
        **options,
    )


def _run_one(args: argparse.Namespace, ctx: CommandContext) -> int:
    target = _target(args, ctx, dlq_url=lambda: ctx.resources.get("dlq_url"), max_scan=args.max_scan)
    try:
        report = replay_delivery(args.provider, args.delivery_id, target)
    except NotReplayed as outcome:
        raise CliError(f"{args.provider}/{args.delivery_id}: {outcome}", EXIT_FAILURE) from None
    if report["replayed_from"] == SOURCE_DLQ:
        ctx.note("not archived: replayed from its copy in the dead-letter queue (the replay request recorded as usual)")
    if report.get("duplicate_of"):
        ctx.note(f"its body was first processed as delivery {report['duplicate_of']}: its handler runs for it again")
    if args.wait > 0:
        report["replay_processed"], report["ledger_status_after"] = wait_processed(
            target.table,
            args.provider,
            args.delivery_id,
            report["replay_id"],
            dynamodb=target.dynamodb,
            timeout=args.wait,
            clock=target.clock,
        )
    ctx.emit_result(report, lambda: render_record(report.items()))
    if args.wait > 0 and not report["replay_processed"]:
        ctx.note(f"the replay was not processed within {args.wait:g} s (ledger: {report['ledger_status_after']})")
        return EXIT_FAILURE
    return EXIT_OK


def _run_reset_only(args: argparse.Namespace, ctx: CommandContext) -> int:
    table = ctx.resources.get("table")
    dynamodb = ctx.client("dynamodb")
    entry = get_delivery(table, args.provider, args.delivery_id, dynamodb=dynamodb) or {}
    status = entry.get("status")
    if status != STATUS_PROCESSED:
        raise CliError(f"--reset-only applies to a processed entry; this one is {status or 'absent'}", EXIT_USAGE)
    if not reset_to_failed(table, args.provider, args.delivery_id, int(entry.get("attempts") or 0), dynamodb=dynamodb):
        raise CliError("the ledger entry changed meanwhile; nothing was reset")
    report = {
        "provider": args.provider,
        "delivery_id": args.delivery_id,
        "ledger_status": status,
        "ledger_reset": True,
        "next": "have the provider redeliver it; the consumer will process it again",
    }
    ctx.emit_result(report, lambda: render_record(report.items()))
    return EXIT_OK
