"""The deliveries ledger: the exactly-once claim, its completion, and the audit trail, in one DynamoDB table.

Every state change is ONE conditional write on the delivery's own item, so DynamoDB's per-item atomicity is the
only synchronisation between concurrent consumers:

    (absent) ──claim──▶ processing ──complete──▶ processed (outcome=handled)
                           │    ▲                      │
                       fail│    │claim (status failed, │ claim by a replay copy, once per
                           ▼    │ or an expired lease) │ request in pending_replays
                          failed ◀────────────────────-┘ (then processing as above)
    (absent | failed | expired lease) ──record_skipped──▶ processed (outcome=skipped)  [no handler registered]
    (absent | failed | expired lease) ──record_duplicate_body──▶ processed (outcome=duplicate_body, duplicate_of)

"absent" includes an item that holds only a replay request (no ``status`` yet). A failure records when the retry
schedule brings the delivery back (``next_attempt_at``), or, out of attempts, ``dead_lettered_at``.

* :func:`claim_delivery` (UpdateItem) succeeds only if the item is absent, ``failed``, or ``processing`` with
  ``lease_expires_at`` in the past. It increments ``attempts`` and writes the lease: ``lease_owner`` (Lambda request
  id + SQS message id) and ``lease_expires_at`` (now + the invocation's remaining time + a margin, so a consumer that
  times out never leaves a delivery stuck: once its lease has expired the invocation is certainly dead). When the
  condition fails, ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` hands back the current item in the same round
  trip: ``processed`` is a duplicate (acknowledge it), a live lease is a conflict (retry later). One write, no read.
* :func:`complete_delivery` / :func:`fail_delivery` (UpdateItem) only apply while ``lease_owner = me AND status =
  processing``: a consumer whose lease expired and was taken over cannot overwrite its successor's state.
* A retried request whose first attempt did land (a lost response, retried by botocore) finds its own lease_owner
  in the returned item and counts as done: the calls are safe to retry.

Per new delivery: 2 writes (claim + complete), no read. Per duplicate: 1 (failed) conditional write.

**Deliveries whose id is not signed** (``Envelope.delivery_id_signed`` is false: GitHub's ``X-GitHub-Delivery`` is a
plain header) could be replayed: the same signed body re-sent under a new id is a new ledger key. So before the claim,
:func:`claim_body` takes the body itself, ONE conditional UpdateItem on a body item (partition ``<provider>#body``,
sort key the body's SHA-256): it succeeds when the body is new or already belongs to this delivery id (a retry), and
otherwise hands back the id that took it first (ALL_OLD, no read). Such a replay is recorded
``processed``/``duplicate_body`` with ``duplicate_of`` (:func:`record_duplicate_body`, one write) and never reaches a
handler. Cost: one extra conditional write per delivery of those providers (3 per new delivery, 2 per duplicate or
replay); none for providers that sign their ids. Body items expire with the ledger's TTL, so the protection lasts
``DeliveryTtlDays``.

Why not Powertools' idempotency utility (the reference for this design)? Its record key is a hash
(``<function>#<md5 of the payload or a JMESPath subset>``) in a single ``id`` attribute and its record holds only
status/expiry/response, while this table is also the audit trail other tools query by readable
``provider``/``delivery_id`` and by ``status`` (GSI ``by-status``), with attempts, errors, timings and the lease
holder. Powertools also deletes its record when the handler raises (the failure history would be lost) and reads
the record back on a conflict. So the conditional expressions are written here, against the fixed schema below.

**Replays** (``hookctl replay``): :func:`request_replay` (one conditional UpdateItem, refused while a live lease is
held) adds a fresh replay id to ``pending_replays``, appends ``{id, at, by}`` to ``replays``, counts
``replay_count`` and resets ``run_attempts``; the replay copy (``Envelope.replay``) may then claim the delivery even
if it is processed, and its claim removes its id from the set, so each request runs the handler once however many
times SQS delivers the copy.

Schema (others rely on it): partition key ``provider`` (S), sort key ``delivery_id`` (S); ``status`` (S:
processing|processed|failed), ``attempts`` (N), ``first_seen_at``/``last_attempt_at``/``processed_at`` (S, ISO-8601
UTC, millisecond precision, ``Z``: sortable), ``event_type`` (S), ``last_error`` (S, type + short message, <= 300
chars, never the payload; kept after a later success as history), ``lease_expires_at`` (N, epoch ms; removed once the
lease is released), ``lease_owner`` (S; kept as "who did the last attempt"), ``outcome`` (S:
handled|skipped|duplicate_body|stale|stale_handled|published), ``stale_behind`` (S, on the ordering guard's
outcomes: the delivery whose newer version was applied), ``published_at`` (S: published to the event bus, see
``publishing.py``), ``handler_succeeded`` (BOOL, on a failed delivery whose handler succeeded and whose publication
failed: its retry only publishes; removed by the completion),
``received_at`` (S), ``message_id`` (S, last SQS message id), ``body_location`` (S: inline|s3), ``expires_at`` (N,
epoch seconds, TTL, refreshed on every attempt), ``duplicate_of`` (S, on ``duplicate_body`` only: the delivery id the
same signed body was first received under), ``run_attempts`` (N: attempts since the delivery was received or last
replayed, what the retry schedule and ``MAX_ATTEMPTS`` count), ``next_attempt_at`` (S: when a failed delivery's
retry is due; removed by the next claim), ``dead_lettered_at`` (S: the consumer moved it to the DLQ, out of
attempts), ``replay_count`` (N), ``last_replay_at`` (S), ``replays`` (L of M ``{id, at, by}``), ``pending_replays``
(SS: replay requests not yet claimed). GSI ``by-status``: HASH ``status``, RANGE ``last_attempt_at``; GSI
``by-provider``: HASH ``provider``, RANGE ``last_attempt_at`` (``hookctl deliveries list`` without a Scan). Archive
items (``<provider>#archive``, see ``archive.py``) have neither ``status`` nor ``last_attempt_at``: in no index.
Watermark items of the ordering guard (``<namespace>#order``, see ``ordering.py``): no ``status``, in no index.
Body items (no ``status``, so never in the index): ``provider`` = ``<provider>#body``, ``delivery_id`` = body SHA-256
(hex), ``first_delivery_id`` (S), ``first_seen_at`` (S), ``expires_at`` (N, TTL).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from botocore.exceptions import ClientError

# Attribute and index names: the table's public schema.
PK = "provider"
SK = "delivery_id"
BY_STATUS_INDEX = "by-status"

STATUS_PROCESSING = "processing"
STATUS_PROCESSED = "processed"
STATUS_FAILED = "failed"
OUTCOME_HANDLED = "handled"
OUTCOME_SKIPPED = "skipped"
OUTCOME_DUPLICATE_BODY = "duplicate_body"
# The ordering guard (ordering.py): older than the object's watermark, not handed to the handler / handed with
# event.stale True (a route with deliver_stale=True).
OUTCOME_STALE = "stale"
OUTCOME_STALE_HANDLED = "stale_handled"
# No handler registered, published to the event bus (publishing.py).
OUTCOME_PUBLISHED = "published"
BODY_PARTITION_SUFFIX = "#body"

LAST_ERROR_MAX_CHARS = 300
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"

_NAMES = {
    "#provider": PK,
    "#status": "status",
    "#attempts": "attempts",
    "#first_seen_at": "first_seen_at",
    "#last_attempt_at": "last_attempt_at",
    "#processed_at": "processed_at",
    "#event_type": "event_type",
    "#last_error": "last_error",
    "#lease_expires_at": "lease_expires_at",
    "#lease_owner": "lease_owner",
    "#outcome": "outcome",
    "#received_at": "received_at",
    "#message_id": "message_id",
    "#body_location": "body_location",
    "#expires_at": "expires_at",
    "#duplicate_of": "duplicate_of",
    "#first_delivery_id": "first_delivery_id",
    "#run_attempts": "run_attempts",
    "#pending_replays": "pending_replays",
    "#next_attempt_at": "next_attempt_at",
    "#dead_lettered_at": "dead_lettered_at",
    "#replay_count": "replay_count",
    "#replays": "replays",
    "#last_replay_at": "last_replay_at",
    "#stale_behind": "stale_behind",
    "#handler_succeeded": "handler_succeeded",
    "#published_at": "published_at",
}


def _names(*placeholders: str) -> dict[str, str]:
    # DynamoDB rejects unused ExpressionAttributeNames, so every call sends exactly the ones it uses.
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


# The delivery may be (re)claimed: new (or only a replay request so far), failed, or held by a lease that has
# expired. A replay copy may also claim a processed delivery, once per replay request (``pending_replays``).
_CLAIMABLE = (
    "attribute_not_exists(#status) OR #status = :failed OR (#status = :processing AND #lease_expires_at < :now_ms)"
)
_REPLAY_CLAIMABLE = f"{_CLAIMABLE} OR (#status = :processed AND contains(#pending_replays, :replay_id))"
_ATTEMPT = (
    "#attempts = if_not_exists(#attempts, :zero) + :one, "
    "#first_seen_at = if_not_exists(#first_seen_at, :now), "
    "#last_attempt_at = :now, #lease_owner = :owner, #event_type = :event_type, #received_at = :received_at, "
    "#message_id = :message_id, #body_location = :body_location, #expires_at = :expires_at"
)
# run_attempts is what the retry schedule and MAX_ATTEMPTS count: a claim or a skip adds one, and completing (the
# handler succeeded) sets it back to 0, so that several replay requests of one delivery, consumed one after the
# other, each get the whole budget instead of sharing it (the third of three would be dead-lettered unrun with
# MAX_ATTEMPTS 2).
_RUN_ATTEMPT = "#run_attempts = if_not_exists(#run_attempts, :zero) + :one"
_RUN_SETTLED = "#run_attempts = :zero"
_CLAIM_UPDATE = (
    f"SET #status = :processing, #lease_expires_at = :lease_expires_at, {_ATTEMPT}, {_RUN_ATTEMPT} "
    "REMOVE #next_attempt_at"
)
_SKIP_UPDATE = (
    f"SET #status = :processed, #outcome = :skipped, #processed_at = :now, {_ATTEMPT}, {_RUN_ATTEMPT} "
    "REMOVE #lease_expires_at, #next_attempt_at"
)
_CLAIM_NAMES = _names(
    "#status",
    "#run_attempts",
    "#next_attempt_at",
    "#attempts",
    "#first_seen_at",
    "#last_attempt_at",
    "#lease_owner",
    "#event_type",
    "#received_at",
    "#message_id",
    "#body_location",
    "#expires_at",
    "#lease_expires_at",
)
_SKIP_NAMES = {**_CLAIM_NAMES, **_names("#outcome", "#processed_at")}
_DUPLICATE_BODY_UPDATE = (
    "SET #status = :processed, #outcome = :duplicate_body, #duplicate_of = :duplicate_of, #processed_at = :now, "
    f"{_ATTEMPT}, {_RUN_ATTEMPT} REMOVE #lease_expires_at, #next_attempt_at"
)
# A replay copy consumes its request: a second copy of the same request finds it gone and is a duplicate.
_CONSUME_REPLAY = " DELETE #pending_replays :replay_ids"
_DUPLICATE_BODY_NAMES = {**_SKIP_NAMES, **_names("#duplicate_of")}

# The body is new, or it is this very delivery's (a retry of it).
_BODY_CLAIMABLE = "attribute_not_exists(#provider) OR #first_delivery_id = :delivery_id"
_BODY_UPDATE = (
    "SET #first_delivery_id = :delivery_id, #first_seen_at = if_not_exists(#first_seen_at, :now), "
    "#expires_at = :expires_at"
)
_BODY_NAMES = _names("#provider", "#first_delivery_id", "#first_seen_at", "#expires_at")

# Only the current lease holder may settle the delivery.
_HELD_BY_ME = "#lease_owner = :owner AND #status = :processing"
_COMPLETE_UPDATE = (
    f"SET #status = :processed, #outcome = :outcome, #processed_at = :now, {_RUN_SETTLED} "
    "REMOVE #lease_expires_at, #handler_succeeded"
)
_COMPLETE_NAMES = _names(
    "#lease_owner", "#status", "#outcome", "#processed_at", "#lease_expires_at", "#run_attempts", "#handler_succeeded"
)
_FAIL_NAMES = _names("#lease_owner", "#status", "#lease_expires_at")

# A replay request may be recorded unless a consumer holds a live lease on the delivery right now.
_REPLAY_REQUESTABLE = "attribute_not_exists(#status) OR #status <> :processing OR #lease_expires_at < :now_ms"
_REPLAY_REQUEST_UPDATE = (
    "SET #replay_count = if_not_exists(#replay_count, :zero) + :one, #last_replay_at = :now, "
    "#replays = list_append(if_not_exists(#replays, :no_replays), :replay), #run_attempts = :zero, "
    "#expires_at = if_not_exists(#expires_at, :expires_at) ADD #pending_replays :replay_ids"
)
_REPLAY_REQUEST_NAMES = _names(
    "#status",
    "#lease_expires_at",
    "#replay_count",
    "#last_replay_at",
    "#replays",
    "#run_attempts",
    "#expires_at",
    "#pending_replays",
)

_S_PROCESSING = {"S": STATUS_PROCESSING}
_S_PROCESSED = {"S": STATUS_PROCESSED}
_S_FAILED = {"S": STATUS_FAILED}
_N_ZERO = {"N": "0"}
_N_ONE = {"N": "1"}


@cache
def default_client() -> Any:
    """The low-level DynamoDB client, created on first use (not at import) and reused by the execution environment.

    Botocore's standard retry mode retries throttling and 5xx with backoff before an error reaches the caller; the
    claim is safe to retry (see the module doc) and so are the settling writes.
    """
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5)
    return boto3.client("dynamodb", config=config)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the ledger records about one delivery (from its envelope and the SQS message that carried it)."""

    provider: str
    delivery_id: str
    event_type: str
    received_at: datetime
    message_id: str
    body_location: str = "inline"
    # The replay request this copy serves (Envelope.replay), or None for a delivery as the receiver queued it.
    replay_id: str | None = None

    @property
    def key(self) -> dict[str, dict[str, str]]:
        return {PK: {"S": self.provider}, SK: {"S": self.delivery_id}}


class ClaimStatus(enum.StrEnum):
    CLAIMED = "claimed"  # this consumer holds the lease: run the handler, then complete or fail the delivery
    DUPLICATE = "duplicate"  # already processed: acknowledge the message, run nothing
    CONFLICT = "conflict"  # another consumer holds a live lease: report the record as failed, SQS retries it later


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    attempts: int = 0  # attempts recorded so far, this one included when CLAIMED
    run_attempts: int = 0  # of those, since the delivery was received or last replayed (what the schedule counts)
    lease_owner: str = ""  # on CONFLICT, who holds the lease
    lease_expires_at: int | None = None  # epoch ms
    outcome: str = ""  # on DUPLICATE, how it was processed (handled|skipped)
    # CLAIMED: an earlier attempt's handler succeeded and only its publication to the event bus failed.
    handler_succeeded: bool = False


def claim_delivery(
    table_name: str,
    delivery: Delivery,
    *,
    owner: str,
    now: float,
    lease_ms: int,
    ttl_days: int,
    client: Any = None,
) -> Claim:
    """Try to take the delivery for processing: ONE conditional UpdateItem, whatever the outcome.

    ``now`` is epoch seconds, ``lease_ms`` how long this consumer may hold the delivery (its remaining invocation
    time plus a margin). Raises ``botocore.exceptions.ClientError`` for anything but a failed condition (throttling
    after botocore's retries, access denied, ...): the caller must then retry the record later, not process it.
    """
    now_ms = int(now * 1000)
    values = _attempt_values(delivery, owner=owner, now=now, ttl_days=ttl_days)
    values[":processing"] = _S_PROCESSING
    values[":failed"] = _S_FAILED
    values[":now_ms"] = {"N": str(now_ms)}
    values[":lease_expires_at"] = {"N": str(now_ms + lease_ms)}
    return _claim_write(table_name, delivery, _CLAIM_UPDATE, _CLAIM_NAMES, values, owner=owner, client=client)


def record_skipped(
    table_name: str,
    delivery: Delivery,
    *,
    owner: str,
    now: float,
    ttl_days: int,
    client: Any = None,
) -> Claim:
    """Record a delivery no handler is registered for as ``processed``/``skipped``: ONE conditional UpdateItem.

    Nothing runs, so there is no lease to hold: claim and completion are the same write, under the claim's
    condition (a delivery already processed is still a duplicate, a live lease still a conflict).
    """
    values = _attempt_values(delivery, owner=owner, now=now, ttl_days=ttl_days)
    values[":processing"] = _S_PROCESSING
    values[":processed"] = _S_PROCESSED
    values[":failed"] = _S_FAILED
    values[":skipped"] = {"S": OUTCOME_SKIPPED}
    values[":now_ms"] = {"N": str(int(now * 1000))}
    return _claim_write(table_name, delivery, _SKIP_UPDATE, _SKIP_NAMES, values, owner=owner, client=client)


def claim_body(
    table_name: str,
    delivery: Delivery,
    *,
    body_sha256: str,
    now: float,
    ttl_days: int,
    client: Any = None,
) -> str:
    """Take the delivery's signed body for its id: ONE conditional UpdateItem on the body item.

    Returns the delivery id the body belongs to: ``delivery.delivery_id`` when the body is new or already this
    delivery's, the earlier id when the same bytes were first received under another one (a replay under a new,
    unsigned id). Raises ``ClientError`` for anything but a failed condition.
    """
    try:
        (client or default_client()).update_item(
            TableName=table_name,
            Key=body_key(delivery.provider, body_sha256),
            UpdateExpression=_BODY_UPDATE,
            ConditionExpression=_BODY_CLAIMABLE,
            ExpressionAttributeNames=_BODY_NAMES,
            ExpressionAttributeValues={
                ":delivery_id": {"S": delivery.delivery_id},
                ":now": {"S": iso_utc(now)},
                ":expires_at": {"N": str(int(now) + ttl_days * 86_400)},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if _code(error) != CONDITIONAL_CHECK_FAILED:
            raise
        # An item without its owner cannot be told apart from a replay: not processing it again is the safe side.
        return _string(error.response.get("Item") or {}, "first_delivery_id") or "<unknown>"
    return delivery.delivery_id


def body_key(provider: str, body_sha256: str) -> dict[str, dict[str, str]]:
    """The key of a body item: its own partition per provider, so deliveries queries never meet it."""
    return {PK: {"S": provider + BODY_PARTITION_SUFFIX}, SK: {"S": body_sha256.lower()}}


def record_duplicate_body(
    table_name: str,
    delivery: Delivery,
    *,
    duplicate_of: str,
    owner: str,
    now: float,
    ttl_days: int,
    client: Any = None,
) -> Claim:
    """Record a replayed body (see :func:`claim_body`) as ``processed``/``duplicate_body``: ONE conditional write.

    Under the claim's condition, like :func:`record_skipped`: CLAIMED means it is recorded now, DUPLICATE that this id
    was already processed, CONFLICT that another consumer holds it.
    """
    values = _attempt_values(delivery, owner=owner, now=now, ttl_days=ttl_days)
    values[":processing"] = _S_PROCESSING
    values[":processed"] = _S_PROCESSED
    values[":failed"] = _S_FAILED
    values[":duplicate_body"] = {"S": OUTCOME_DUPLICATE_BODY}
    values[":duplicate_of"] = {"S": duplicate_of}
    values[":now_ms"] = {"N": str(int(now * 1000))}
    return _claim_write(
        table_name, delivery, _DUPLICATE_BODY_UPDATE, _DUPLICATE_BODY_NAMES, values, owner=owner, client=client
    )


def complete_delivery(
    table_name: str,
    delivery: Delivery,
    *,
    owner: str,
    now: float,
    outcome: str = OUTCOME_HANDLED,
    stale_behind: str | None = None,
    published_at: float | None = None,
    client: Any = None,
) -> bool:
    """Mark the claimed delivery ``processed``: ONE UpdateItem, applied only while ``owner`` holds it.

    ``stale_behind``: for an outcome of the ordering guard, the delivery id that set the newer watermark (recorded
    as ``stale_behind``). ``published_at``: when the delivery was published to the event bus. Removes
    ``handler_succeeded`` (a later replay runs the handler). Returns False when the lease was lost (it expired and
    another consumer claimed the delivery since): the new holder settles it.
    Raises ``ClientError`` for any other failure.
    """
    values = {
        ":owner": {"S": owner},
        ":processing": _S_PROCESSING,
        ":processed": _S_PROCESSED,
        ":outcome": {"S": outcome},
        ":now": {"S": iso_utc(now)},
        ":zero": _N_ZERO,
    }
    update, names = _COMPLETE_UPDATE, _COMPLETE_NAMES
    if stale_behind is not None:
        update = update.replace(" REMOVE", ", #stale_behind = :stale_behind REMOVE", 1)
        names = {**names, **_names("#stale_behind")}
        values[":stale_behind"] = {"S": stale_behind}
    if published_at is not None:
        update = update.replace(" REMOVE", ", #published_at = :published_at REMOVE", 1)
        names = {**names, **_names("#published_at")}
        values[":published_at"] = {"S": iso_utc(published_at)}
    return _settle(table_name, delivery, update, names, values, owner, STATUS_PROCESSED, client)


def fail_delivery(
    table_name: str,
    delivery: Delivery,
    *,
    owner: str,
    error: BaseException | None,
    next_attempt_at: float | None = None,
    dead_lettered_at: float | None = None,
    handler_succeeded: bool = False,
    client: Any = None,
) -> bool:
    """Mark the claimed delivery ``failed`` with ``last_error``: ONE UpdateItem, applied only while ``owner`` holds it.

    ``attempts`` was already counted by the claim. ``next_attempt_at`` (epoch seconds) records when the retry
    schedule brings it back (absent: the queue's short retry); ``dead_lettered_at`` that the consumer moved it to the
    DLQ. ``handler_succeeded`` records that the handler ran to completion and only the publication to the event bus
    failed: the next claim reports it, and the retry publishes without running the handler again.
    ``error`` None keeps the ``last_error`` already recorded. A failed delivery is claimable again at once (the
    next SQS receive). Returns False when the lease was lost, raises ``ClientError`` for any other failure.
    """
    values: dict[str, dict[str, str]] = {":owner": {"S": owner}, ":processing": _S_PROCESSING, ":failed": _S_FAILED}
    names = dict(_FAIL_NAMES)
    sets = ["#status = :failed"]
    removes = ["#lease_expires_at"]
    if error is not None:
        sets.append("#last_error = :error")
        values[":error"] = {"S": describe_error(error)}
        names.update(_names("#last_error"))
    names.update(_names("#next_attempt_at"))
    if next_attempt_at is not None:
        sets.append("#next_attempt_at = :next_attempt_at")
        values[":next_attempt_at"] = {"S": iso_utc(next_attempt_at)}
    else:
        removes.append("#next_attempt_at")
    if dead_lettered_at is not None:
        sets.append("#dead_lettered_at = :dead_lettered_at")
        values[":dead_lettered_at"] = {"S": iso_utc(dead_lettered_at)}
        names.update(_names("#dead_lettered_at"))
    if handler_succeeded:
        sets.append("#handler_succeeded = :true")
        values[":true"] = {"BOOL": True}  # type: ignore[dict-item]
        names.update(_names("#handler_succeeded"))
    update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)}"
    return _settle(table_name, delivery, update, names, values, owner, STATUS_FAILED, client)


class ReplayRefused(Exception):
    """The replay request was not recorded: a consumer holds a live lease on the delivery (try again shortly)."""


def request_replay(
    table_name: str,
    provider: str,
    delivery_id: str,
    *,
    replay_id: str,
    requested_by: str,
    now: float,
    ttl_days: int,
    client: Any = None,
) -> int:
    """Record a replay request on the delivery's ledger item: ONE conditional UpdateItem. Returns the replay count.

    Adds ``replay_id`` to ``pending_replays`` (the replay copy's claim consumes it: the handler runs once per
    request, even for a processed delivery), appends ``{id, at, by}`` to ``replays``, counts ``replay_count``, sets
    ``last_replay_at``, and resets ``run_attempts`` so that the replay gets the whole retry schedule. Refused
    (:class:`ReplayRefused`) while a consumer holds a live lease; raises ``ClientError`` for any other failure.
    """
    now_ms = int(now * 1000)
    entry = {"M": {"id": {"S": replay_id}, "at": {"S": iso_utc(now)}, "by": {"S": requested_by or "unknown"}}}
    try:
        response = (client or default_client()).update_item(
            TableName=table_name,
            Key={PK: {"S": provider}, SK: {"S": delivery_id}},
            UpdateExpression=_REPLAY_REQUEST_UPDATE,
            ConditionExpression=_REPLAY_REQUESTABLE,
            ExpressionAttributeNames=_REPLAY_REQUEST_NAMES,
            ExpressionAttributeValues={
                ":processing": _S_PROCESSING,
                ":now_ms": {"N": str(now_ms)},
                ":zero": _N_ZERO,
                ":one": _N_ONE,
                ":now": {"S": iso_utc(now)},
                ":no_replays": {"L": []},
                ":replay": {"L": [entry]},
                ":expires_at": {"N": str(int(now) + ttl_days * 86_400)},
                ":replay_ids": {"SS": [replay_id]},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if _code(error) == CONDITIONAL_CHECK_FAILED:
            raise ReplayRefused(f"{provider}/{delivery_id} is being processed right now (lease held)") from None
        raise
    return _number(response.get("Attributes", {}), "replay_count")


def get_delivery(table_name: str, provider: str, delivery_id: str, *, client: Any = None) -> dict[str, Any] | None:
    """The ledger item as plain Python values (for tests and operators; the processing path never reads)."""
    response = (client or default_client()).get_item(
        TableName=table_name, Key={PK: {"S": provider}, SK: {"S": delivery_id}}, ConsistentRead=True
    )
    item = response.get("Item")
    return None if item is None else {name: _plain(value) for name, value in item.items()}


def describe_error(error: BaseException) -> str:
    """``Type: message`` on one line, at most LAST_ERROR_MAX_CHARS characters (what ``last_error`` stores)."""
    message = " ".join(str(error).split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= LAST_ERROR_MAX_CHARS else text[: LAST_ERROR_MAX_CHARS - 1] + "…"


def iso_utc(epoch_seconds: float) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z``: fixed width, so strings sort like the instants."""
    seconds, ms = divmod(int(round(epoch_seconds * 1000)), 1000)
    return f"{_iso_second(seconds)}.{ms:03d}Z"


@lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> str:
    # A batch's timestamps share a handful of seconds: format each once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def datetime_to_epoch(value: datetime) -> float:
    """Epoch seconds of ``value``; a naive datetime is taken as UTC (never as the host's local time)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _claim_write(
    table_name: str,
    delivery: Delivery,
    update: str,
    names: dict[str, str],
    values: dict[str, dict[str, Any]],
    *,
    owner: str,
    client: Any,
) -> Claim:
    """One UpdateItem under the claim's condition; a refused one reports the item it found (no read needed)."""
    condition = _CLAIMABLE
    if delivery.replay_id is not None:
        condition, update = _REPLAY_CLAIMABLE, update + _CONSUME_REPLAY
        names = {**names, **_names("#pending_replays")}
        values = {
            **values,
            ":processed": _S_PROCESSED,
            ":replay_id": {"S": delivery.replay_id},
            ":replay_ids": {"SS": [delivery.replay_id]},
        }
    try:
        response = (client or default_client()).update_item(
            TableName=table_name,
            Key=delivery.key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            # ALL_NEW: the claim also reports ``handler_succeeded`` (publishing.py), which it does not write.
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        return _existing_claim(error, owner)
    attributes = response.get("Attributes", {})
    return Claim(
        ClaimStatus.CLAIMED,
        attempts=_number(attributes, "attempts"),
        run_attempts=_number(attributes, "run_attempts"),
        handler_succeeded=_bool(attributes, "handler_succeeded"),
    )


def _attempt_values(delivery: Delivery, *, owner: str, now: float, ttl_days: int) -> dict[str, dict[str, str]]:
    return {
        ":zero": _N_ZERO,
        ":one": _N_ONE,
        ":now": {"S": iso_utc(now)},
        ":owner": {"S": owner},
        ":event_type": {"S": delivery.event_type},
        ":received_at": {"S": iso_utc(datetime_to_epoch(delivery.received_at))},
        ":message_id": {"S": delivery.message_id},
        ":body_location": {"S": delivery.body_location},
        ":expires_at": {"N": str(int(now) + ttl_days * 86_400)},
    }


def _existing_claim(error: ClientError, owner: str) -> Claim:
    """Interpret a failed claim from the item DynamoDB returned with the failure (ALL_OLD): no extra read."""
    if _code(error) != CONDITIONAL_CHECK_FAILED:
        raise error
    item = error.response.get("Item") or {}
    attempts = _number(item, "attempts")
    holder = _string(item, "lease_owner")
    status = _string(item, "status")
    if status == STATUS_PROCESSED:
        return Claim(ClaimStatus.DUPLICATE, attempts=attempts, outcome=_string(item, "outcome"))
    if status == STATUS_PROCESSING and holder == owner:
        # Our own claim already landed (botocore retried a request whose response was lost).
        return Claim(
            ClaimStatus.CLAIMED,
            attempts=attempts,
            run_attempts=_number(item, "run_attempts"),
            lease_owner=holder,
            handler_succeeded=_bool(item, "handler_succeeded"),
        )
    lease = item.get("lease_expires_at")
    return Claim(
        ClaimStatus.CONFLICT,
        attempts=attempts,
        lease_owner=holder,
        lease_expires_at=int(lease["N"]) if lease else None,
    )


def _settle(
    table_name: str,
    delivery: Delivery,
    update: str,
    names: dict[str, str],
    values: dict[str, dict[str, str]],
    owner: str,
    target_status: str,
    client: Any,
) -> bool:
    try:
        (client or default_client()).update_item(
            TableName=table_name,
            Key=delivery.key,
            UpdateExpression=update,
            ConditionExpression=_HELD_BY_ME,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if _code(error) != CONDITIONAL_CHECK_FAILED:
            raise
        item = error.response.get("Item") or {}
        # Our own earlier attempt of this very write landed (lost response, retried by botocore).
        return _string(item, "lease_owner") == owner and _string(item, "status") == target_status
    return True


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value.get("S", "") if value else ""


def _number(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else 0


def _bool(item: dict[str, Any], name: str) -> bool:
    value = item.get(name)
    return bool(value.get("BOOL")) if value else False


def _plain(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "N":
        number = float(raw)
        return int(number) if number.is_integer() else number
    return raw  # S, B, BOOL
