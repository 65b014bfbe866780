"""Fakes for the consumer tests and benchmarks: an in-memory DynamoDB client, an S3 reader, a Lambda context,
envelopes and SQS records. Fakes over mocks: they behave like the service, tests assert on their state."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from webhook_gateway.envelope import BodyRef, Envelope

DELIVERIES_TABLE = "deliveries"
OVERFLOW_BUCKET = "overflow-bucket"
ARCHIVE_BUCKET = "archive-bucket"
LEDGER_KEY = ("provider", "delivery_id")


def client_error(code: str, operation: str = "UpdateItem", message: str = "", **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}, **extra}, operation)


# ---------------------------------------------------------------------------------------------------------------
# DynamoDB


class FakeDynamoDB:
    """The low-level DynamoDB client operations the ledger (and the benchmark's business handler) use.

    Behaves like DynamoDB where correctness depends on it: a conditional write is atomic (one lock, so racing
    threads are serialised like concurrent requests on one item), a failed condition raises
    ``ConditionalCheckFailedException`` carrying the old item when ``ReturnValuesOnConditionCheckFailure=ALL_OLD``,
    and unused expression names/values are rejected. Supports the expression subset the ledger writes: comparisons,
    AND/OR/parentheses, attribute_(not_)exists, SET with ``if_not_exists`` and ``+``, REMOVE.

    ``errors``: exceptions to raise on the next calls (fault injection: throttling, outages). ``calls``: operation
    names, in order. ``written``: (table, key, item after the write) of every successful write, in commit order.
    """

    def __init__(self, tables: dict[str, tuple[str, ...]] | None = None) -> None:
        self.key_schema = {DELIVERIES_TABLE: LEDGER_KEY, **(tables or {})}
        self.items: dict[str, dict[tuple, dict[str, Any]]] = {name: {} for name in self.key_schema}
        self.errors: list[Exception] = []
        self.calls: list[str] = []
        self.written: list[tuple[str, tuple, dict[str, Any]]] = []
        # ConsistentRead of every GetItem, in order
        self.consistent_reads: list[bool] = []
        self._lock = threading.Lock()

    # -- operations -------------------------------------------------------------------------------------------
    def update_item(
        self,
        *,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
    ) -> dict[str, Any]:
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        _check_all_used(names, values, UpdateExpression, ConditionExpression)
        with self._lock:
            self._call("UpdateItem")
            table = self.items[TableName]
            key = self._key(TableName, Key)
            old = table.get(key)
            self._check(ConditionExpression, old, names, values, ReturnValuesOnConditionCheckFailure, "UpdateItem")
            new = dict(old) if old else {name: dict(value) for name, value in Key.items()}
            updated = _compile_update(UpdateExpression)(new, names, values)
            table[key] = new
            self.written.append((TableName, key, dict(new)))
        if ReturnValues == "UPDATED_NEW":
            return {"Attributes": {name: new[name] for name in updated if name in new}}
        if ReturnValues == "ALL_NEW":
            return {"Attributes": dict(new)}
        return {}

    def put_item(
        self,
        *,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ReturnValuesOnConditionCheckFailure: str = "NONE",
    ) -> dict[str, Any]:
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        _check_all_used(names, values, ConditionExpression)
        with self._lock:
            self._call("PutItem")
            key = self._key(TableName, Item)
            old = self.items[TableName].get(key)
            self._check(ConditionExpression, old, names, values, ReturnValuesOnConditionCheckFailure, "PutItem")
            self.items[TableName][key] = dict(Item)
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        with self._lock:
            self._call("GetItem")
            self.consistent_reads.append(ConsistentRead)
            item = self.items[TableName].get(self._key(TableName, Key))
        return {"Item": dict(item)} if item is not None else {}

    # -- helpers for tests -----------------------------------------------------------------------------------
    def item(self, provider: str, delivery_id: str, table: str = DELIVERIES_TABLE) -> dict[str, Any] | None:
        """A ledger item as plain values (numbers as int)."""
        raw = self.items[table].get((provider, delivery_id))
        if raw is None:
            return None
        return {name: _plain(value) for name, value in raw.items()}

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        if self.errors:
            raise self.errors.pop(0)

    def _key(self, table: str, item: dict[str, Any]) -> tuple:
        return tuple([_scalar(item[name]) for name in self.key_schema[table]])

    @staticmethod
    def _check(condition, old, names, values, return_on_failure, operation) -> None:
        if condition and not _compile_condition(condition)(old or {}, names, values):
            extra = {"Item": dict(old)} if old and return_on_failure == "ALL_OLD" else {}
            raise client_error("ConditionalCheckFailedException", operation, "The conditional request failed", **extra)


def _check_all_used(names: dict, values: dict, *expressions: str | None) -> None:
    unused = _unused(tuple(names), tuple(values), expressions)
    if unused:
        raise client_error("ValidationException", message=f"unused in expressions: {sorted(unused)}")


@lru_cache(maxsize=1024)
def _unused(names: tuple[str, ...], values: tuple[str, ...], expressions: tuple[str | None, ...]) -> frozenset[str]:
    used = set(re.findall(r"[#:]\w+", " ".join(expression for expression in expressions if expression)))
    return frozenset((set(names) | set(values)) - used)


_TOKEN = re.compile(r"\s*(#\w+|:\w+|<>|<=|>=|=|<|>|\+|-|\(|\)|,|[A-Za-z_]\w*)")


def _tokenize(expression: str) -> list[str]:
    tokens, position = [], 0
    expression = expression.strip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if not match:
            raise client_error("ValidationException", message=f"cannot parse {expression[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


Evaluator = Callable[[dict, dict, dict], Any]


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokenize(expression)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise client_error("ValidationException", message=f"expected {expected}, got {token}")
        self.position += 1
        return token

    # condition := conjunction (OR conjunction)*
    def condition(self) -> Evaluator:
        parts = [self.conjunction()]
        while (self.peek() or "").upper() == "OR":
            self.take("OR")
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda item, n, v: any(part(item, n, v) for part in parts))

    def conjunction(self) -> Evaluator:
        parts = [self.predicate()]
        while (self.peek() or "").upper() == "AND":
            self.take("AND")
            parts.append(self.predicate())
        return parts[0] if len(parts) == 1 else (lambda item, n, v: all(part(item, n, v) for part in parts))

    def predicate(self) -> Evaluator:
        token = self.peek()
        if token == "(":
            self.take("(")
            inner = self.condition()
            self.take(")")
            return inner
        if token and token.upper() == "NOT":
            self.take("NOT")
            inner = self.predicate()
            return lambda item, n, v: not inner(item, n, v)
        if token == "contains":
            self.take()
            self.take("(")
            name = self.take()
            self.take(",")
            member = self.operand()
            self.take(")")
            return lambda item, n, v: _contains(item.get(n[name]), member(item, n, v))
        if token in ("attribute_exists", "attribute_not_exists"):
            self.take()
            self.take("(")
            name = self.take()
            self.take(")")
            exists = token == "attribute_exists"
            return lambda item, n, v: (n[name] in item) == exists
        left = self.operand()
        symbol = self.take()
        right = self.operand()
        return lambda item, n, v: _compare(symbol, left(item, n, v), right(item, n, v))

    def operand(self) -> Evaluator:
        token = self.take()
        if token.startswith("#"):
            return lambda item, n, v: item.get(n[token])
        if token.startswith(":"):
            return lambda item, n, v: v[token]
        if token == "if_not_exists":
            self.take("(")
            name = self.take()
            self.take(",")
            default = self.value()
            self.take(")")
            return lambda item, n, v: item.get(n[name]) or default(item, n, v)
        if token == "list_append":
            self.take("(")
            first = self.operand()
            self.take(",")
            second = self.operand()
            self.take(")")
            return lambda item, n, v: {"L": [*first(item, n, v)["L"], *second(item, n, v)["L"]]}
        raise client_error("ValidationException", message=f"unexpected {token}")

    # value := operand (('+'|'-') operand)?
    def value(self) -> Evaluator:
        left = self.operand()
        if self.peek() in ("+", "-"):
            sign = 1 if self.take() == "+" else -1
            right = self.operand()

            def arithmetic(item: dict, n: dict, v: dict) -> dict:
                return {"N": str(Decimal(left(item, n, v)["N"]) + sign * Decimal(right(item, n, v)["N"]))}

            return arithmetic
        return left

    def update(self) -> Callable[[dict, dict, dict], list[str]]:
        sets: list[tuple[str, Evaluator]] = []
        removes: list[str] = []
        adds: list[tuple[str, str]] = []  # ADD #set :members (string sets only)
        deletes: list[tuple[str, str]] = []  # DELETE #set :members
        while self.peek() is not None:
            clause = self.take().upper()
            while True:
                name = self.take()
                if clause == "SET":
                    self.take("=")
                    sets.append((name, self.value()))
                elif clause == "REMOVE":
                    removes.append(name)
                elif clause in ("ADD", "DELETE"):
                    (adds if clause == "ADD" else deletes).append((name, self.take()))
                else:
                    raise client_error("ValidationException", message=f"unsupported clause {clause}")
                if self.peek() != ",":
                    break
                self.take(",")

        def apply(item: dict, n: dict, v: dict) -> list[str]:
            computed = [(n[name], evaluate(item, n, v)) for name, evaluate in sets]  # right sides see the old item
            for attribute, value in computed:
                item[attribute] = value
            for name in removes:
                item.pop(n[name], None)
            _change_sets(item, n, v, adds, deletes)
            return [attribute for attribute, _ in computed] + [n[name] for name, _ in adds + deletes]

        return apply


_OPERATORS = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _scalar(value: dict[str, str]) -> str:
    return value["S"] if "S" in value else value["N"]


def _change_sets(item: dict, n: dict, v: dict, adds: list[tuple[str, str]], deletes: list[tuple[str, str]]) -> None:
    """ADD and DELETE on string sets; DynamoDB has no empty set, so a set whose last member goes is removed."""
    for name, members in adds:
        item[n[name]] = {"SS": sorted(set(item.get(n[name], {}).get("SS", [])) | set(v[members]["SS"]))}
    for name, members in deletes:
        remaining = set(item.get(n[name], {}).get("SS", [])) - set(v[members]["SS"])
        if remaining:
            item[n[name]] = {"SS": sorted(remaining)}
        else:
            item.pop(n[name], None)


def _plain(value: dict[str, Any]) -> Any:
    (kind, raw), = value.items()
    if kind == "N":
        return int(raw)
    if kind == "SS":
        return set(raw)
    if kind == "L":
        return [_plain(element) for element in raw]
    if kind == "M":
        return {name: _plain(element) for name, element in raw.items()}
    return raw  # S, B


def _contains(container: Any, member: Any) -> bool:
    if container is None or member is None:
        return False
    if "SS" in container:
        return member.get("S") in container["SS"]
    return "S" in container and "S" in member and member["S"] in container["S"]


def _compare(symbol: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    if "N" in left and "N" in right:
        return _OPERATORS[symbol](Decimal(left["N"]), Decimal(right["N"]))
    if "S" in left and "S" in right:
        return _OPERATORS[symbol](left["S"], right["S"])
    return symbol == "<>"


@lru_cache(maxsize=256)
def _compile_condition(expression: str) -> Evaluator:
    parser = _Parser(expression)
    evaluate = parser.condition()
    if parser.peek() is not None:
        raise client_error("ValidationException", message=f"trailing tokens in {expression!r}")
    return evaluate


@lru_cache(maxsize=256)
def _compile_update(expression: str) -> Callable[[dict, dict, dict], list[str]]:
    return _Parser(expression).update()


# ---------------------------------------------------------------------------------------------------------------
# S3, Lambda context, clock


class FakeS3:
    """``get_object``, ``put_object`` and ``copy_object`` over a dict of (bucket, key) -> bytes; a missing object
    raises NoSuchKey like S3. ``metadata``: (bucket, key) -> the user metadata last written; ``writes``: the write
    operations, in order; ``errors``: exceptions to raise on the next writes."""

    def __init__(self, objects: dict[tuple[str, str], bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.metadata: dict[tuple[str, str], dict[str, str]] = {}
        self.content_types: dict[tuple[str, str], str | None] = {}
        self.reads: list[tuple[str, str]] = []
        self.writes: list[str] = []
        self.errors: list[Exception] = []

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self.reads.append((Bucket, Key))
        try:
            return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}
        except KeyError:
            raise client_error("NoSuchKey", "GetObject", "The specified key does not exist.") from None

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        Metadata: dict[str, str] | None = None,
        ContentType: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self._write("PutObject")
        self.objects[(Bucket, Key)] = bytes(Body)
        self.metadata[(Bucket, Key)] = dict(Metadata or {})
        self.content_types[(Bucket, Key)] = ContentType
        return {}

    def copy_object(
        self,
        *,
        Bucket: str,
        Key: str,
        CopySource: dict[str, str],
        MetadataDirective: str = "COPY",
        Metadata: dict[str, str] | None = None,
        ContentType: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self._write("CopyObject")
        source = (CopySource["Bucket"], CopySource["Key"])
        if source not in self.objects:
            raise client_error("NoSuchKey", "CopyObject", "The specified key does not exist.")
        self.objects[(Bucket, Key)] = self.objects[source]
        replace = MetadataDirective == "REPLACE"
        self.metadata[(Bucket, Key)] = dict((Metadata if replace else self.metadata.get(source)) or {})
        self.content_types[(Bucket, Key)] = ContentType if replace else self.content_types.get(source)
        return {}

    def _write(self, operation: str) -> None:
        self.writes.append(operation)
        if self.errors:
            raise self.errors.pop(0)


class FakeSQS:
    """The SQS calls the consumer makes itself (the retry delay, the move to the DLQ), recorded in order as
    (operation, parameters); ``errors``: exceptions to raise on the next calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[Exception] = []

    def change_message_visibility(self, **params: Any) -> dict[str, Any]:
        self._call("ChangeMessageVisibility", params)
        return {}

    def send_message(self, **params: Any) -> dict[str, Any]:
        self._call("SendMessage", params)
        return {"MessageId": f"dlq-{len(self.calls)}"}

    def visibility_changes(self) -> list[tuple[str, int]]:
        """(receipt handle, visibility timeout) of every ChangeMessageVisibility, in order."""
        return [(p["ReceiptHandle"], p["VisibilityTimeout"]) for op, p in self.calls if op == "ChangeMessageVisibility"]

    def sent(self) -> list[dict[str, Any]]:
        return [params for operation, params in self.calls if operation == "SendMessage"]

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        self.calls.append((operation, params))
        if self.errors:
            raise self.errors.pop(0)


@dataclass
class FakeLambdaContext:
    aws_request_id: str = "req-1"
    remaining_ms: int = 60_000
    function_name: str = "consumer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:consumer"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class FakeClock:
    """Epoch seconds that only move when a test says so."""

    now: float = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---------------------------------------------------------------------------------------------------------------
# Envelopes and SQS records

_message_ids = itertools.count(1)


def stripe_body(delivery_id: str = "evt_1", event_type: str = "payment_intent.succeeded") -> bytes:
    return json.dumps(
        {"id": delivery_id, "type": event_type, "data": {"object": {"id": "pi_1", "amount": 1000}}}
    ).encode()


def make_envelope(
    provider: str = "stripe",
    delivery_id: str = "evt_1",
    event_type: str = "payment_intent.succeeded",
    raw: bytes | None = None,
    *,
    received_at: datetime | None = None,
    body_ref: BodyRef | None = None,
    headers: dict[str, str] | None = None,
    delivery_id_signed: bool = True,
) -> Envelope:
    """An envelope as a receiver queues it. ``delivery_id_signed``: pass False for GitHub, as its verifier does."""
    raw = stripe_body(delivery_id, event_type) if raw is None else raw
    fields: dict[str, Any] = Envelope.inline_body_fields(raw)
    if body_ref is not None:
        fields = {"body_ref": body_ref, "body_sha256": hashlib.sha256(raw).hexdigest(), "body_size": len(raw)}
    return Envelope(
        provider=provider,
        delivery_id=delivery_id,
        event_type=event_type,
        received_at=received_at or datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC),
        headers=headers or {},
        delivery_id_signed=delivery_id_signed,
        **fields,
    )


def sqs_record(
    body: Envelope | str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    receipt_handle: str = "rh",
    sent_at: float | None = None,
) -> dict[str, Any]:
    """A record as Lambda's SQS event source delivers it, sent at ``sent_at`` (epoch seconds; default: now, so that
    the queue's retention is ahead of every clock the tests use)."""
    text = body.model_dump_json() if isinstance(body, Envelope) else body
    sent_ms = str(int((time.time() if sent_at is None else sent_at) * 1000))
    return {
        "messageId": message_id or f"msg-{next(_message_ids)}",
        "receiptHandle": receipt_handle,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent_ms,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": sent_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 (SQS's own checksum)
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:deliveries",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


@dataclass
class Recorder:
    """A user handler that records the events it got, and fails as told (``failures`` times, or always)."""

    failures: int = 0
    always_fail: bool = False
    events: list = field(default_factory=list)
    calls: int = 0
    on_call: Callable[[], None] | None = None

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.on_call is not None:
            self.on_call()
        if self.always_fail or call <= self.failures:
            raise RuntimeError(f"downstream unavailable (call {call})")
        with self._lock:
            self.events.append(event)


def emf_metrics(stdout: str) -> dict[tuple[str, str], list[float]]:
    """(provider dimension, metric name) -> values, from the EMF documents Powertools printed on stdout."""
    found: dict[tuple[str, str], list[float]] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = document[definition["Name"]]
            values = values if isinstance(values, list) else [values]
            found.setdefault((document.get("provider", ""), definition["Name"]), []).extend(values)
    return found
