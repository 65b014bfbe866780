"""``hookctl deliveries``: read the exactly-once ledger (the DynamoDB deliveries table the consumer writes).

Ledger schema (owned by the consumer): key ``provider`` (S) + ``delivery_id`` (S); GSI ``by-status`` keyed by
``status`` + ``last_attempt_at`` (projection ALL). Timestamps are ISO-8601 UTC strings ending in 'Z'.

Access paths of ``list``:

* ``--status`` (with or without ``--provider``): Query on ``by-status``, newest first, ``last_attempt_at >= since``
  in the key condition, ``provider`` as a filter. Reads stop as soon as ``--limit`` items are collected.
* ``--provider`` only: Query on the table, ``since`` as a filter on ``last_attempt_at``.
* neither: Scan, ``since`` as a filter.

The table is keyed by delivery id, not time, so the last two paths read every matching page and then sort newest
first before cutting at ``--limit`` (the ledger is bounded by its TTL, ``expires_at``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext
from hookctl.output import Column, epoch_ms_to_iso, iso_utc, render_record, render_table, to_jsonable
from webhook_gateway.consumer.ledger import (
    BY_STATUS_INDEX,
    PK,
    SK,
    STATUS_FAILED,
    STATUS_PROCESSED,
    STATUS_PROCESSING,
)

# The ledger's contract (webhook_gateway.consumer.ledger, installed with hookctl): key, index and statuses.
STATUSES = (STATUS_PROCESSING, STATUS_PROCESSED, STATUS_FAILED)
STATUS_INDEX = BY_STATUS_INDEX
DEFAULT_LIMIT = 50

LIST_COLUMNS = (
    Column(PK, "PROVIDER"),
    Column(SK, "DELIVERY_ID", identifier=True),  # never cut: it is pasted into `show` and `replay`
    Column("status", "STATUS"),
    Column("outcome", "OUTCOME"),
    Column("attempts", "ATTEMPTS", align="right"),
    Column("event_type", "EVENT_TYPE", max_width=32),
    Column("last_attempt_at", "LAST_ATTEMPT_AT"),
    Column("last_error", "LAST_ERROR", max_width=60),
)

# ``show`` prints these first, in this order, then any other attribute alphabetically.
SHOW_ORDER = (
    PK,
    SK,
    "status",
    "outcome",
    "event_type",
    "attempts",
    "received_at",
    "first_seen_at",
    "last_attempt_at",
    "processed_at",
    "last_error",
    "lease_owner",
    "lease_expires_at",
    "message_id",
    "body_location",
    "expires_at",
)

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DESERIALIZER: Any = None  # boto3's TypeDeserializer, made on first use (importing boto3 is most of a start-up)


# -- time filters ----------------------------------------------------------------------------------------------


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration back from now (``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``1h30m``) or an ISO-8601 time.

    ``m`` is minutes; an ISO time without a zone is UTC.
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
            f"--since {text!r}: expected a duration such as 30m, 2h, 7d or 1h30m, "
            "or an ISO-8601 time such as 2026-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def since_bound(moment: datetime) -> str:
    """The lower bound compared with the ledger's ISO strings: whole seconds, no zone.

    ``"2026-01-31T12:00:00"`` is a prefix of both ``...:00Z`` and ``...:00.123Z``, so ``>=`` keeps every timestamp in
    that second or later whatever fractional precision the consumer writes, and drops everything earlier.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


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


def _recency(item: Mapping[str, Any]) -> tuple[str, str]:
    moment = item.get("last_attempt_at") or item.get("first_seen_at") or item.get("received_at") or ""
    return str(moment), str(item.get(SK, ""))


def _pages(call: Any, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    while True:
        page = call(**params)
        yield [deserialize(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return
        params = {**params, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def list_deliveries(
    table: str,
    *,
    provider: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    page_size: int | None = None,
    dynamodb: Any = None,
) -> list[dict[str, Any]]:
    """Ledger entries matching the filters, newest ``last_attempt_at`` first, at most ``limit``.

    ``page_size`` caps the items DynamoDB evaluates per request (its ``Limit``); by default pages are sized to the
    remaining ``limit`` on the index path and left to DynamoDB's 1 MB pages otherwise.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    client = _dynamodb(dynamodb)
    if status is not None:
        return _query_status(client, table, status, provider=provider, since=since, limit=limit, page_size=page_size)
    return _read_all(client, table, provider=provider, since=since, limit=limit, page_size=page_size)


def _query_status(
    client: Any,
    table: str,
    status: str,
    *,
    provider: str | None,
    since: datetime | None,
    limit: int,
    page_size: int | None,
) -> list[dict[str, Any]]:
    """``list_deliveries`` with a status: a query of the status index, newest first, stopping at ``limit``."""
    names: dict[str, str] = {"#status": "status"}
    values: dict[str, Any] = {":status": {"S": status}}
    key_condition = "#status = :status"
    if since is not None:
        names["#last"] = "last_attempt_at"
        values[":since"] = {"S": since_bound(since)}
        key_condition += " AND #last >= :since"
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": key_condition,
        "ScanIndexForward": False,  # newest first: the index is sorted by last_attempt_at
    }
    if provider is not None:
        names["#provider"] = PK
        values[":provider"] = {"S": provider}
        params["FilterExpression"] = "#provider = :provider"
    params.update(ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        # Without a filter every item read is kept, so read no more than needed; with one, read larger pages.
        remaining = limit - len(found)
        params["Limit"] = page_size or (remaining if provider is None else max(remaining, 100))
        page = client.query(**params)
        found.extend(deserialize(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found[:limit]


def _read_all(
    client: Any,
    table: str,
    *,
    provider: str | None,
    since: datetime | None,
    limit: int,
    page_size: int | None,
) -> list[dict[str, Any]]:
    """``list_deliveries`` without a status: a provider's partition (a query) or the whole table (a scan), every
    page read and sorted here, newest first."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if since is not None:
        values[":since"] = {"S": since_bound(since)}
    params: dict[str, Any] = {"TableName": table}
    if page_size:
        params["Limit"] = page_size
    if provider is not None:
        names["#provider"] = PK
        values[":provider"] = {"S": provider}
        params["KeyConditionExpression"] = "#provider = :provider"
    filters = []
    if provider is None:
        # A scan also meets the consumer's body items (``<provider>#body``, see ledger.claim_body): not deliveries.
        names["#status"] = "status"
        filters.append("attribute_exists(#status)")
    if since is not None:
        names["#last"] = "last_attempt_at"
        filters.append("#last >= :since")
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = values
    call = client.query if provider is not None else client.scan
    items = [item for page in _pages(call, params) for item in page]
    items.sort(key=_recency, reverse=True)
    return items[:limit]

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


# -- command line ----------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "deliveries",
        help="inspect the deliveries ledger (exactly-once records)",
        description="Inspect the deliveries ledger, the DynamoDB table the consumer uses to process exactly once.",
    )
    commands = group.add_subparsers(dest="deliveries_command", metavar="SUBCOMMAND", required=True)

    list_parser = commands.add_parser(
        "list",
        parents=parents,
        help="list deliveries, newest first",
        description="List ledger entries, newest last attempt first. --status reads the by-status index; "
        "--provider queries the table; neither scans it.",
    )
    list_parser.add_argument("--provider", help="only this provider (github, stripe, twilio, ...)")
    list_parser.add_argument("--status", choices=STATUSES, help="only entries in this status")
    list_parser.add_argument(
        "--since",
        metavar="DURATION_OR_ISO",
        help="only entries attempted since then: a duration back from now (30m, 2h, 7d, 1h30m) or an ISO-8601 time",
    )
    list_parser.add_argument(
        "--limit", type=_positive_int, default=DEFAULT_LIMIT, metavar="N", help="at most N (default 50)"
    )
    list_parser.set_defaults(handler=run_list)

    show_parser = commands.add_parser(
        "show",
        parents=parents,
        help="show one delivery",
        description="Show every attribute of one ledger entry. Exits 1 when there is none.",
    )
    show_parser.add_argument("provider", metavar="PROVIDER")
    show_parser.add_argument("delivery_id", metavar="DELIVERY_ID")
    show_parser.set_defaults(handler=run_show)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    table = ctx.resources.get("table")
    items = list_deliveries(
        table,
        provider=args.provider,
        status=args.status,
        since=since,
        limit=args.limit,
        dynamodb=ctx.client("dynamodb"),
    )
    def as_table() -> str:
        rows = [{**item, "last_error": error_summary(item.get("last_error"))} for item in items]
        return render_table(rows, LIST_COLUMNS, empty_message="No deliveries match.", width=ctx.width)

    ctx.emit_result(items, as_table)
    if not ctx.json:
        if since is not None:
            ctx.note(f"attempted since {iso_utc(since)}")
        if len(items) == args.limit:
            ctx.note(f"showing the newest {args.limit}; use --limit for more")
    return EXIT_OK


def run_show(args: argparse.Namespace, ctx: CommandContext) -> int:
    table = ctx.resources.get("table")
    item = get_delivery(table, args.provider, args.delivery_id, dynamodb=ctx.client("dynamodb"))
    if item is None:
        raise CliError(
            f"no delivery {args.delivery_id!r} from provider {args.provider!r} in table {table}", EXIT_FAILURE
        )
    ctx.emit_result(item, lambda: render_record(show_pairs(item)))
    return EXIT_OK
