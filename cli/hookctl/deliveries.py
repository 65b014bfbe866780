"""``hookctl deliveries``: read the exactly-once ledger and the archive (the DynamoDB deliveries table the consumer
writes, and the archive bucket).

Ledger schema (owned by the consumer, ``webhook_gateway.consumer.ledger``): key ``provider`` (S) + ``delivery_id``
(S); GSI ``by-status`` keyed by ``status`` + ``last_attempt_at`` and GSI ``by-provider`` keyed by ``provider`` +
``last_attempt_at`` (both projection ALL). Timestamps are ISO-8601 UTC strings with milliseconds and a 'Z' (fixed
width: they sort like the instants). The consumer's other items, ``<provider>#body`` (body claims) and
``<provider>#archive`` (the archive), have no ``status`` and no ``last_attempt_at``: they are in neither index, so
no path of ``list`` can meet them.

Access paths of ``list`` (never a Scan; every path reads newest ``last_attempt_at`` first):

* ``--status processing|failed`` (with or without ``--provider``): Query on ``by-status``, ``provider`` a filter.
* ``--status processed --provider P``: Query on ``by-provider`` with ``status`` a filter. Processed is the bulk of
  the ledger (every delivery ends there), so reading one provider's partition of the time index reads less than
  reading every provider's processed deliveries; failed and processing are the small sets, so with those statuses
  the status partition reads less than a provider's whole history. (A guess from how the ledger fills, not a count:
  DynamoDB does not say how many items a partition key holds without reading them.)
* ``--provider P`` only: Query on ``by-provider``.
* neither: one Query on ``by-status`` per status, merged here (k-way, newest first) until ``--limit``.
* ``--waiting``: failed deliveries whose ``next_attempt_at`` is in the future, soonest first. Query on
  ``by-status`` (failed) bounded below by ``last_attempt_at >= now - WAITING_WINDOW`` (a retry is due at most the
  handler's run plus SQS's 12-hour visibility cap after its attempt), ``next_attempt_at > now`` a filter; that
  window is read whole and sorted here (nothing indexes ``next_attempt_at``).

``--since`` (inclusive) and ``--until`` (exclusive) bound ``last_attempt_at`` in every key condition, at whole-second
precision; ``--type`` (an exact ``event_type``) is a filter on every path. Each query reads ``limit + 1`` items (at
least 100 with a filter; per status on the merged path) so that the command knows whether another page exists.

Pagination: the page token is opaque to the operator, base64url of JSON: the filters (time bounds resolved, so that a
relative ``--since 2h`` keeps the first page's window) and the cursor, the sort key of the last item shown:
``(last_attempt_at, provider, delivery_id)`` (``next_attempt_at`` first with ``--waiting``). The next page queries
``last_attempt_at <= cursor`` and drops what sorts at or before the cursor. Items sharing one ``last_attempt_at`` are
put in ``(provider, delivery_id)`` order here (DynamoDB returns index ties in no documented order), so a page boundary
inside a tie neither skips nor repeats an item.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import heapq
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from botocore.exceptions import ClientError

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext, describe_client_error
from hookctl.output import Column, epoch_ms_to_iso, iso_utc, render_record, render_table, to_jsonable
from webhook_gateway.consumer.ledger import (
    BY_STATUS_INDEX,
    PK,
    SK,
    STATUS_FAILED,
    STATUS_PROCESSED,
    STATUS_PROCESSING,
)
from webhook_gateway.consumer.retry import MAX_VISIBILITY_SECONDS

# The ledger's contract (webhook_gateway.consumer.ledger, installed with hookctl): key, indexes and statuses.
STATUSES = (STATUS_PROCESSING, STATUS_PROCESSED, STATUS_FAILED)
STATUS_INDEX = BY_STATUS_INDEX
PROVIDER_INDEX = "by-provider"  # template.yaml's DeliveriesTable: HASH provider, RANGE last_attempt_at
DEFAULT_LIMIT = 50
# Lambda's maximum timeout (900 s): a failure is recorded at most that long after its attempt began.
_LAMBDA_MAX_SECONDS = 900
# How long after its last attempt a failed delivery's retry can be due: the processor's delay is capped at SQS's
# 12-hour visibility timeout, counted from the failure.
WAITING_WINDOW = timedelta(seconds=MAX_VISIBILITY_SECONDS + _LAMBDA_MAX_SECONDS)
# With a FilterExpression, DynamoDB's Limit counts items read before the filter: read pages at least this large.
_FILTERED_PAGE = 100
_TOKEN_VERSION = 1

LIST_COLUMNS = (
    Column(PK, "PROVIDER"),
    Column(SK, "DELIVERY_ID", identifier=True),  # never cut: it is pasted into `show` and `replay`
    Column("status", "STATUS"),
    Column("outcome", "OUTCOME"),
    Column("attempts", "ATTEMPTS", align="right"),
    Column("event_type", "EVENT_TYPE", max_width=32),
    Column("last_attempt_at", "LAST_ATTEMPT_AT"),
    Column("next_attempt_at", "NEXT_ATTEMPT_AT"),
    Column("replay_count", "REPLAYS", align="right"),
    Column("last_error", "LAST_ERROR", max_width=60),
)

# ``show`` prints these first, in this order, then any other attribute alphabetically.
SHOW_ORDER = (
    PK,
    SK,
    "status",
    "outcome",
    "stale_behind",
    "event_type",
    "attempts",
    "run_attempts",
    "received_at",
    "first_seen_at",
    "last_attempt_at",
    "next_attempt_at",
    "processed_at",
    "dead_lettered_at",
    "last_error",
    "lease_owner",
    "lease_expires_at",
    "message_id",
    "body_location",
    "replay_count",
    "last_replay_at",
    "expires_at",
)

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DESERIALIZER: Any = None  # boto3's TypeDeserializer, made on first use (importing boto3 is most of a start-up)


# -- time filters ----------------------------------------------------------------------------------------------


def parse_since(text: str, now: datetime | None = None, *, flag: str = "--since") -> datetime:
    """A duration back from now (``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``1h30m``) or an ISO-8601 time.

    ``m`` is minutes; an ISO time without a zone is UTC. ``flag`` names the option in the error message.
    """
    value = text.strip()
    now = now or datetime.now(UTC)
    if _DURATION.fullmatch(value.lower()):
        seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", value.lower()))
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{flag} {text!r}: expected a duration such as 30m, 2h, 7d or 1h30m, "
            "or an ISO-8601 time such as 2026-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def since_bound(moment: datetime) -> str:
    """The bound compared with the ledger's ISO strings: whole seconds, no zone.

    ``"2026-01-31T12:00:00"`` is a prefix of both ``...:00Z`` and ``...:00.123Z``, so ``>=`` keeps every timestamp in
    that second or later whatever fractional precision the consumer writes, and drops everything earlier; as an upper
    bound (``--until``) ``<`` drops that whole second and everything later.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ledger_time(moment: datetime) -> str:
    """``moment`` as the consumer writes times (``ledger.iso_utc``): milliseconds and 'Z'."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- page tokens -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListFilters:
    """What one listing selects, time bounds resolved to the strings compared with the ledger's."""

    provider: str | None = None
    status: str | None = None
    event_type: str | None = None
    waiting: bool = False
    since: str | None = None  # inclusive lower bound on last_attempt_at (since_bound)
    until: str | None = None  # exclusive upper bound on last_attempt_at (since_bound)
    now: str | None = None  # with waiting: next_attempt_at must be after it (ledger_time)

    def same_selection(self, other: ListFilters) -> bool:
        """The same provider, status, type and waiting (time bounds travel in the token)."""
        return (self.provider, self.status, self.event_type, self.waiting) == (
            other.provider,
            other.status,
            other.event_type,
            other.waiting,
        )


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """The sort key of the last item shown: its time (last_attempt_at, or next_attempt_at when waiting), provider
    and delivery id."""

    at: str
    provider: str
    delivery_id: str


def encode_page_token(filters: ListFilters, cursor: Cursor) -> str:
    # Only the filters that are set: a token stays short enough to paste.
    fields = {name: value for name, value in asdict(filters).items() if value not in (None, False)}
    document = {"v": _TOKEN_VERSION, "f": fields, "c": [cursor.at, cursor.provider, cursor.delivery_id]}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str) -> tuple[ListFilters, Cursor]:
    """The filters and cursor of a token made by :func:`encode_page_token`; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token.strip() + "=" * (-len(token.strip()) % 4))
        document = json.loads(raw)
        if document.get("v") != _TOKEN_VERSION:
            raise ValueError("unknown version")
        fields = document["f"]
        filters = ListFilters(
            provider=_optional_str(fields, "provider"),
            status=_optional_str(fields, "status"),
            event_type=_optional_str(fields, "event_type"),
            waiting=bool(fields.get("waiting", False)),
            since=_optional_str(fields, "since"),
            until=_optional_str(fields, "until"),
            now=_optional_str(fields, "now"),
        )
        at, provider, delivery_id = document["c"]
        if not all(isinstance(part, str) for part in (at, provider, delivery_id)):
            raise ValueError("cursor")
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("--page-token: not a token printed by `hookctl deliveries list`") from None
    return filters, Cursor(at, provider, delivery_id)


def _optional_str(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(name)
    return value


# -- reading the ledger ----------------------------------------------------------------------------------------


def _dynamodb(client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("dynamodb")


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB wire item as plain Python (numbers as int/float)."""
    global _DESERIALIZER
    if _DESERIALIZER is None:
        from boto3.dynamodb.types import TypeDeserializer

        _DESERIALIZER = TypeDeserializer()
    return to_jsonable({key: _DESERIALIZER.deserialize(value) for key, value in item.items()})


def _newest_key(item: Mapping[str, Any]) -> Cursor:
    return Cursor(str(item.get("last_attempt_at", "")), str(item.get(PK, "")), str(item.get(SK, "")))


def _waiting_key(item: Mapping[str, Any]) -> Cursor:
    return Cursor(str(item.get("next_attempt_at", "")), str(item.get(PK, "")), str(item.get(SK, "")))


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[dict[str, Any]]
    next_page_token: str | None = None


def list_deliveries(
    table: str,
    *,
    provider: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    page_size: int | None = None,
    dynamodb: Any = None,
    until: datetime | None = None,
    event_type: str | None = None,
    waiting: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Ledger entries matching the filters, newest ``last_attempt_at`` first (soonest ``next_attempt_at`` first with
    ``waiting``), at most ``limit``: the first page of :func:`list_page`.

    ``page_size`` caps the items DynamoDB evaluates per request (its ``Limit``); by default a request reads the
    page's size plus one, or at least 100 items when a filter drops some of them.
    """
    return list_page(
        table,
        provider=provider,
        status=status,
        since=since,
        until=until,
        event_type=event_type,
        waiting=waiting,
        now=now,
        limit=limit,
        page_size=page_size,
        dynamodb=dynamodb,
    ).items


def list_page(
    table: str,
    *,
    provider: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    waiting: bool = False,
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    page_token: str | None = None,
    page_size: int | None = None,
    dynamodb: Any = None,
) -> DeliveryPage:
    """One page of ledger entries (see the module doc for the access paths) and the token of the next page, None
    when there is none. With ``page_token`` the time bounds come from the token, and the other filters must be the
    ones it was issued for (ValueError otherwise)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if waiting and status not in (None, STATUS_FAILED):
        raise ValueError("--waiting lists failed deliveries only: drop --status or use --status failed")
    filters = ListFilters(
        provider=provider,
        status=STATUS_FAILED if waiting else status,
        event_type=event_type,
        waiting=waiting,
        since=since_bound(since) if since is not None else None,
        until=since_bound(until) if until is not None else None,
        now=ledger_time(now or datetime.now(UTC)) if waiting else None,
    )
    cursor: Cursor | None = None
    if page_token:
        issued_for, cursor = decode_page_token(page_token)
        if not issued_for.same_selection(filters):
            raise ValueError(
                "--page-token was issued for other filters ("
                + _describe(issued_for)
                + "): repeat the command that printed it, with the token"
            )
        filters = issued_for
    client = _dynamodb(dynamodb)
    if filters.waiting:
        return _waiting_page(client, table, filters, cursor, limit=limit, page_size=page_size)
    streams = [
        _ordered(_query(client, table, query, filters, cursor, limit=limit, page_size=page_size))
        for query in _queries(filters)
    ]
    merged: Iterable[dict[str, Any]] = heapq.merge(*streams, key=_newest_key, reverse=True)
    if cursor is not None:
        merged = (item for item in merged if _newest_key(item) < cursor)
    return _cut(merged, filters, limit, _newest_key)


def _describe(filters: ListFilters) -> str:
    """The selection a token was issued for, as the flags that make it."""
    flags = (("--provider", filters.provider), ("--status", filters.status), ("--type", filters.event_type))
    parts = [f"{flag} {value}" for flag, value in flags if value]
    if filters.waiting:
        parts = [part for part in parts if part != "--status failed"] + ["--waiting"]
    return " ".join(parts) or "no filter"


def _cut(
    items: Iterable[dict[str, Any]], filters: ListFilters, limit: int, key: Callable[[Mapping[str, Any]], Cursor]
) -> DeliveryPage:
    iterator = iter(items)
    page = [item for _, item in zip(range(limit), iterator, strict=False)]
    more = len(page) == limit and next(iterator, None) is not None
    return DeliveryPage(page, encode_page_token(filters, key(page[-1])) if more else None)


@dataclass(frozen=True, slots=True)
class _IndexQuery:
    index: str
    hash_name: str
    hash_value: str
    filters: tuple[tuple[str, str, str], ...]  # (attribute, operator, value) kept by a FilterExpression


def _queries(filters: ListFilters) -> list[_IndexQuery]:
    """The index queries a listing reads: one, or one per status (merged newest first)."""
    common: list[tuple[str, str, str]] = []
    if filters.event_type is not None:
        common.append(("event_type", "=", filters.event_type))
    if filters.status is not None and filters.provider is not None and filters.status == STATUS_PROCESSED:
        return [_IndexQuery(PROVIDER_INDEX, PK, filters.provider, (("status", "=", filters.status), *common))]
    if filters.status is not None:
        by_provider = [(PK, "=", filters.provider)] if filters.provider is not None else []
        return [_IndexQuery(STATUS_INDEX, "status", filters.status, (*by_provider, *common))]
    if filters.provider is not None:
        return [_IndexQuery(PROVIDER_INDEX, PK, filters.provider, tuple(common))]
    return [_IndexQuery(STATUS_INDEX, "status", status, tuple(common)) for status in STATUSES]


def _query(
    client: Any,
    table: str,
    query: _IndexQuery,
    filters: ListFilters,
    cursor: Cursor | None,
    *,
    limit: int,
    page_size: int | None,
    lower: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of one index query, newest ``last_attempt_at`` first, read page by page as the caller pulls."""
    names = {"#hash": query.hash_name, "#last": "last_attempt_at"}
    values: dict[str, Any] = {":hash": {"S": query.hash_value}}
    low = max(filter(None, (filters.since, lower)), default=None)
    # Upper bound: the cursor (inclusive: its ties are re-read, then dropped by sort key), else --until (exclusive).
    high, inclusive = (cursor.at, True) if cursor is not None and not filters.waiting else (filters.until, False)
    if low is not None and high is not None and low > high:
        return  # an empty window (--since after --until): DynamoDB refuses a BETWEEN with its bounds reversed
    key_condition = "#hash = :hash"
    if low is not None:
        values[":low"] = {"S": low}
    if high is not None:
        values[":high"] = {"S": high}
    if low is not None and high is not None:
        # BETWEEN is inclusive; against the exclusive --until bound it differs only for the bare string
        # "YYYY-MM-DDTHH:MM:SS", which is no ledger timestamp (they all end in 'Z').
        key_condition += " AND #last BETWEEN :low AND :high"
    elif low is not None:
        key_condition += " AND #last >= :low"
    elif high is not None:
        key_condition += " AND #last " + ("<=" if inclusive else "<") + " :high"
    else:
        del names["#last"]
    conditions = []
    for number, (attribute, operator, value) in enumerate(query.filters):
        names[f"#f{number}"] = attribute
        values[f":f{number}"] = {"S": value}
        conditions.append(f"#f{number} {operator} :f{number}")
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": query.index,
        "KeyConditionExpression": key_condition,
        "ScanIndexForward": False,  # newest first: both indexes are sorted by last_attempt_at
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if conditions:
        params["FilterExpression"] = " AND ".join(conditions)
    # Without a filter every item read is kept, so read what the page needs plus one (is there another page?).
    params["Limit"] = page_size or (limit + 1 if not conditions else max(limit + 1, _FILTERED_PAGE))
    while True:
        page = client.query(**params)
        yield from (deserialize(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _ordered(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Items newest ``last_attempt_at`` first with the ties in descending ``(provider, delivery_id)`` order: a total
    order, so that a cursor marks one place in it. A tie is held until the first item after it is read."""
    tie: list[dict[str, Any]] = []
    for item in items:
        if tie and item.get("last_attempt_at") != tie[0].get("last_attempt_at"):
            yield from sorted(tie, key=_newest_key, reverse=True)
            tie = []
        tie.append(item)
    yield from sorted(tie, key=_newest_key, reverse=True)


def _waiting_page(
    client: Any, table: str, filters: ListFilters, cursor: Cursor | None, *, limit: int, page_size: int | None
) -> DeliveryPage:
    """Failed deliveries whose retry is due after ``filters.now``, soonest first: the window of last attempts that
    can still be waiting, read whole, sorted here."""
    now = filters.now or ledger_time(datetime.now(UTC))
    earliest = since_bound(datetime.fromisoformat(now.replace("Z", "+00:00")) - WAITING_WINDOW)
    kept = [(PK, "=", filters.provider)] if filters.provider is not None else []
    if filters.event_type is not None:
        kept.append(("event_type", "=", filters.event_type))
    query = _IndexQuery(STATUS_INDEX, "status", STATUS_FAILED, (*kept, ("next_attempt_at", ">", now)))
    items = sorted(
        _query(client, table, query, filters, None, limit=limit, page_size=page_size, lower=earliest),
        key=_waiting_key,
    )
    if cursor is not None:
        items = [item for item in items if _waiting_key(item) > cursor]
    return _cut(items, filters, limit, _waiting_key)


def get_delivery(table: str, provider: str, delivery_id: str, *, dynamodb: Any = None) -> dict[str, Any] | None:
    """One ledger entry (strongly consistent read), or None."""
    response = _dynamodb(dynamodb).get_item(
        TableName=table,
        Key={PK: {"S": provider}, SK: {"S": delivery_id}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return deserialize(item) if item else None


def show_pairs(item: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``deliveries show`` lines: known attributes in a fixed order, epoch numbers annotated with their UTC time."""
    keys = [key for key in SHOW_ORDER if key in item] + sorted(key for key in item if key not in SHOW_ORDER)
    pairs: list[tuple[str, Any]] = []
    for key in keys:
        value, when = item[key], None
        if key == "lease_expires_at":  # epoch milliseconds
            when = epoch_ms_to_iso(value)
        elif key == "expires_at" and (seconds := _as_int(value)) is not None:  # TTL, epoch seconds
            when = epoch_ms_to_iso(seconds * 1000)
        pairs.append((key, f"{value} ({when})" if when else value))
    return pairs


def error_summary(error: Any) -> Any:
    """The line of ``last_error`` worth a table cell: a traceback's last line names the exception."""
    if not isinstance(error, str):
        return error
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Traceback"):
        return lines[-1]
    return error


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- the archive -----------------------------------------------------------------------------------------------

NO_ARCHIVE = "none (archiving off, expired after its retention, or not archived yet)"


def archive_summary(archived: Any) -> dict[str, Any]:
    """Where and what the archived body is (a ``webhook_gateway.consumer.archive.ArchivedDelivery``)."""
    summary: dict[str, Any] = {"archived_at": archived.archived_at, "location": archived.location}
    if archived.body_bucket:
        summary.update(bucket=archived.body_bucket, key=archived.body_key)
    summary.update(
        size=len(archived.raw),
        sha256=hashlib.sha256(archived.raw).hexdigest(),
        content_type=header_value(archived.headers, "content-type"),
        expires_at=archived.expires_at,
    )
    return summary


def archive_pairs(summary: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if summary is None:
        return [("archive", NO_ARCHIVE)]
    where = "inline (in the ledger table)"
    if summary.get("bucket"):
        where = f"s3://{summary['bucket']}/{summary['key']}"
    expires = summary["expires_at"]
    when = epoch_ms_to_iso(expires * 1000) if expires else None
    return [
        ("archive.archived_at", summary["archived_at"]),
        ("archive.body", where),
        ("archive.size", f"{summary['size']} bytes"),
        ("archive.sha256", summary["sha256"]),
        ("archive.content_type", summary["content_type"] or ""),
        ("archive.expires_at", f"{expires} ({when})" if when else expires),
    ]


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def render_headers(headers: Mapping[str, str]) -> str:
    """The archived forwarded headers, ``name: value`` one per line, in the order they were recorded."""
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def decode_text(raw: bytes, content_type: str | None) -> str | None:
    """The body as text (the content type's charset, else UTF-8), or None when it is not text in that charset."""
    charset = "utf-8"
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        return raw.decode(charset)
    except LookupError:  # an unknown charset: try UTF-8
        return decode_text(raw, None) if charset != "utf-8" else None
    except UnicodeDecodeError:
        return None


def render_body(raw: bytes, content_type: str | None) -> str | None:
    """The body for reading: JSON pretty-printed (2-space indent, keys in their order), a form one ``key = value``
    line per field, other text as is; None for bytes that are not text (write them with ``--raw``).

    The content type (the archived forwarded header) decides; without one, a body that parses as JSON is JSON.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    text = decode_text(raw, content_type)
    if text is None:
        return None
    is_json = media == "application/json" or media.endswith("+json")
    if is_json or (not media and text.lstrip()[:1] in ("{", "[")):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text  # not JSON after all (or truncated): as is
    if media == "application/x-www-form-urlencoded":
        return "\n".join(f"{key} = {value}" for key, value in parse_qsl(text, keep_blank_values=True))
    return text


def binary_note(raw: bytes) -> str:
    return (
        f"the body is binary ({len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}): "
        "write its exact bytes with --raw FILE"
    )


def _load_archive(ctx: CommandContext, table: str, provider: str, delivery_id: str) -> Any:
    from webhook_gateway.consumer.archive import ArchiveIntegrityError, load_archived

    try:
        return load_archived(table, provider, delivery_id, dynamodb=ctx.client("dynamodb"), s3=ctx.client("s3"))
    except ArchiveIntegrityError as exc:
        raise CliError(f"{exc}: the archive was altered or damaged", EXIT_FAILURE) from None


# -- command line ----------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "deliveries",
        help="inspect the deliveries ledger (exactly-once records) and the archive",
        description="Inspect the deliveries ledger, the DynamoDB table the consumer uses to process exactly once, "
        "and the archive of every delivery's exact body.",
    )
    commands = group.add_subparsers(dest="deliveries_command", metavar="SUBCOMMAND", required=True)

    list_parser = commands.add_parser(
        "list",
        parents=parents,
        help="list deliveries, newest first",
        description="List ledger entries, newest last attempt first (--waiting: soonest retry first). Every filter "
        "reads an index (by-status or by-provider), never the whole table; when more entries match than --limit, "
        "the next page's --page-token is printed on stderr.",
    )
    list_parser.add_argument("--provider", help="only this provider (github, stripe, twilio, ...)")
    list_parser.add_argument("--status", choices=STATUSES, help="only entries in this status")
    list_parser.add_argument("--type", dest="event_type", metavar="EVENT_TYPE", help="only this event type (exact)")
    list_parser.add_argument(
        "--since",
        metavar="DURATION_OR_ISO",
        help="only entries attempted since then: a duration back from now (30m, 2h, 7d, 1h30m) or an ISO-8601 time",
    )
    list_parser.add_argument(
        "--until", metavar="DURATION_OR_ISO", help="only entries attempted before then (the same forms as --since)"
    )
    list_parser.add_argument(
        "--waiting",
        action="store_true",
        help="only failed deliveries whose retry is scheduled in the future, soonest first",
    )
    list_parser.add_argument(
        "--limit", type=positive_int, default=DEFAULT_LIMIT, metavar="N", help="at most N per page (default 50)"
    )
    list_parser.add_argument(
        "--page-token", metavar="TOKEN", help="the next page: the token a previous run printed (same filters)"
    )
    list_parser.set_defaults(handler=run_list)

    show_parser = commands.add_parser(
        "show",
        parents=parents,
        help="show one delivery, its archive and body",
        description="Show every attribute of one ledger entry and where its archived body is. --body prints the "
        "body (JSON pretty-printed, forms one field a line), --headers the forwarded headers, --raw FILE writes the "
        "exact archived bytes. Exits 1 when there is no such entry, or no archive for --body/--headers/--raw.",
    )
    show_parser.add_argument("provider", metavar="PROVIDER")
    show_parser.add_argument("delivery_id", metavar="DELIVERY_ID")
    show_parser.add_argument("--body", action="store_true", help="print the archived body")
    show_parser.add_argument("--headers", action="store_true", help="print the archived forwarded headers")
    show_parser.add_argument(
        "--raw", type=Path, metavar="FILE", help="write the exact archived body bytes to FILE ('-': stdout)"
    )
    show_parser.set_defaults(handler=run_show)


def list_columns(items: Sequence[Mapping[str, Any]], *, waiting: bool = False) -> list[Column]:
    """The table's columns. NEXT_ATTEMPT_AT and REPLAYS only when a row has one (or with ``--waiting``): most
    deliveries have neither, and the usual table then still fits a 140-column terminal."""
    optional = {"next_attempt_at": waiting, "replay_count": False}
    for item in items:
        for key in optional:
            optional[key] = optional[key] or item.get(key) not in (None, "", 0)
    return [column for column in LIST_COLUMNS if optional.get(column.key, True)]


def positive_int(text: str) -> int:
    """argparse type: a whole number, at least 1 (``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above 0 (``--rate``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def run_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    try:
        since = parse_since(args.since) if args.since else None
        until = parse_since(args.until, flag="--until") if args.until else None
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    table = ctx.resources.get("table")
    try:
        page = list_page(
            table,
            provider=args.provider,
            status=args.status,
            event_type=args.event_type,
            since=since,
            until=until,
            waiting=args.waiting,
            limit=args.limit,
            page_token=args.page_token,
            dynamodb=ctx.client("dynamodb"),
        )
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except ClientError as exc:
        # DynamoDB: ValidationException "The table does not have the specified index"; moto: ResourceNotFound.
        code = exc.response.get("Error", {}).get("Code")
        if PROVIDER_INDEX in str(exc) and code in ("ValidationException", "ResourceNotFoundException"):
            raise CliError(
                f"{describe_client_error(exc)} (table {table} predates the {PROVIDER_INDEX} index: deploy the "
                "current template; --status still works)",
                EXIT_FAILURE,
            ) from None
        raise
    items = page.items

    def as_table() -> str:
        rows = [{**item, "last_error": error_summary(item.get("last_error"))} for item in items]
        columns = list_columns(items, waiting=args.waiting)
        return render_table(rows, columns, empty_message="No deliveries match.", width=ctx.width)

    ctx.emit_result(items, as_table)
    if not ctx.json:
        if since is not None and not args.page_token:
            ctx.note(f"attempted since {iso_utc(since)}")
        if until is not None and not args.page_token:
            ctx.note(f"attempted before {iso_utc(until)}")
    if page.next_page_token:
        # stderr in every output mode: stdout stays the JSON list that scripts and --query read.
        ctx.note(f"next page: --page-token {page.next_page_token}")
    return EXIT_OK


def run_show(args: argparse.Namespace, ctx: CommandContext) -> int:
    table = ctx.resources.get("table")
    item = get_delivery(table, args.provider, args.delivery_id, dynamodb=ctx.client("dynamodb"))
    if item is None:
        raise CliError(
            f"no delivery {args.delivery_id!r} from provider {args.provider!r} in table {table}", EXIT_FAILURE
        )
    if args.body or args.headers or args.raw is not None:
        return _show_content(ctx, table, item, args)
    return _show_entry(ctx, table, item, args)


def _show_content(ctx: CommandContext, table: str, item: dict[str, Any], args: argparse.Namespace) -> int:
    """``show --body/--headers/--raw``: from the archive, which must exist and pass its integrity check."""
    try:
        archived = _load_archive(ctx, table, args.provider, args.delivery_id)
    except ClientError as exc:
        raise CliError(f"archive of {args.provider}/{args.delivery_id}: {describe_client_error(exc)}") from None
    if archived is None:
        raise CliError(
            f"no archive of {args.provider}/{args.delivery_id} in table {table}: {NO_ARCHIVE.removeprefix('none ')}; "
            "without --body/--headers/--raw, show prints its ledger entry",
            EXIT_FAILURE,
        )
    if args.raw is not None:
        return _write_raw(ctx, args.raw, archived.raw)
    content_type = header_value(archived.headers, "content-type")
    if ctx.json or ctx.query is not None:
        ctx.emit_result({**item, "archive": content_document(archived, body=args.body, headers=args.headers)}, str)
        return EXIT_OK
    sections = []
    if args.headers:
        sections.append(render_headers(archived.headers))
    body = render_body(archived.raw, content_type) if args.body else None
    if body is not None:
        sections.append(body)
    if sections:
        ctx.emit("\n\n".join(sections))
    if args.body and body is None:
        ctx.note(binary_note(archived.raw))
    return EXIT_OK


def content_document(archived: Any, *, body: bool, headers: bool) -> dict[str, Any]:
    """The archive summary for ``--json``, with the headers and the body (text when it is UTF-8, else base64, as
    ``body_encoding`` says: the exact bytes either way)."""
    summary = archive_summary(archived)
    if headers:
        summary["headers"] = archived.headers
    if body:
        text = decode_text(archived.raw, None)  # UTF-8 or nothing: JSON carries the exact bytes
        summary["body_encoding"] = "utf-8" if text is not None else "base64"
        summary["body"] = text if text is not None else base64.b64encode(archived.raw).decode("ascii")
    return summary


def _show_entry(ctx: CommandContext, table: str, item: dict[str, Any], args: argparse.Namespace) -> int:
    """Plain ``show``: the ledger entry and, when it can be read, its archive's summary (the ledger alone still
    answers when the archive is missing or unreadable)."""
    summary: dict[str, Any] | None = None
    problem = None
    try:
        archived = _load_archive(ctx, table, args.provider, args.delivery_id)
        summary = archive_summary(archived) if archived is not None else None
    except CliError as exc:  # the integrity check failed: the entry is shown, the exit says something is wrong
        problem = str(exc)
    except ClientError as exc:
        ctx.note(f"archive not read: {describe_client_error(exc)}")
        pairs = [*show_pairs(item), ("archive", "unreadable (see the note on stderr)")]
        ctx.emit_result({**item, "archive": None}, lambda: render_record(pairs))
        return EXIT_OK
    if problem is not None:
        pairs = [*show_pairs(item), ("archive", "INTEGRITY CHECK FAILED (see stderr)")]
    else:
        pairs = [*show_pairs(item), *archive_pairs(summary)]
    ctx.emit_result({**item, "archive": summary}, lambda: render_record(pairs))
    if problem is not None:
        raise CliError(problem, EXIT_FAILURE)
    return EXIT_OK


def _write_raw(ctx: CommandContext, target: Path, raw: bytes) -> int:
    """The exact bytes and nothing else: to FILE, or to stdout's byte stream for ``-``."""
    if str(target) == "-":
        ctx.stdout.flush()
        stream = getattr(ctx.stdout, "buffer", None)
        if stream is None:
            raise CliError("--raw -: this standard output takes text only; give a file name", EXIT_USAGE)
        stream.write(raw)
        stream.flush()
        return EXIT_OK
    target.write_bytes(raw)
    ctx.note(f"wrote {len(raw)} bytes (sha256 {hashlib.sha256(raw).hexdigest()}) to {target}")
    return EXIT_OK
