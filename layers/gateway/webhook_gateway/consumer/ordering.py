"""The ordering guard: never hand a handler an older event about an object than one it was already given.

Stripe, Shopify and Square all say deliveries may arrive out of order (a retry of an old event can land after a
newer one). A handler opts in per route::

    @on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)
    def subscription_changed(event: WebhookEvent) -> None: ...

An **extractor** maps an event to the object it is about and that object's version (:class:`ObjectVersion`), or to
None (this event is not guarded: it runs as usual). The built-in ones are below; any function
``Callable[[WebhookEvent], ObjectVersion | None]`` works too.

**The watermark** is one item per object in the ledger table: partition ``<namespace>#order`` (the namespace is the
provider unless the route names another, so two routes can share or separate their watermarks), sort key the
object key; ``version`` (N), ``tie`` (N), ``delivery_id``/``event_type`` (S, the delivery that set it),
``advanced_at`` (S), ``expires_at`` (N, the table's TTL). No ``status`` and no ``last_attempt_at``: in no index, never
met by ledger queries (like the ``#archive`` and ``#body`` items). :func:`advance_watermark` is ONE conditional
UpdateItem, after the delivery's claim and before its handler::

    attribute_not_exists(version) OR version < :v OR (version = :v AND tie <= :tie) OR expires_at <= :now

It succeeds (the event is current: the handler runs) when the object is new, the event is newer than or exactly as
new as the watermark (an EQUAL version is not stale: a retry of the same event, or the same version delivered twice
under two ids, runs), or the watermark has expired. When it fails, ``ReturnValuesOnConditionCheckFailure=ALL_OLD``
hands back the newer watermark in the same round trip (no read): the event is **stale**.

Versions compare as the pair ``(version, tie)``. Time-based versions are epoch **nanoseconds** (Shopify's
``X-Shopify-Triggered-At`` has nanosecond digits; Stripe's ``created`` and ``webhook-timestamp`` are whole seconds,
scaled). The tie-break of the built-ins is the event's **lifecycle rank**, from the last word of its type:
``created``/``create`` 0, anything else 1, ``deleted``/``delete`` 2; so within one second a ``.deleted`` is never
overridden by an ``.updated`` of the same second, nor an ``.updated`` by a ``.created``. Two distinct updates with
the same time and rank are equal: both run, in arrival order (the guard cannot order what the provider does not).
Square puts the object's own ``version`` in the tie instead (it grows with every update of versioned objects).

An extractor must use one scale per object key: comparing a counter with a timestamp would make every event after
the first timestamped one stale. The built-ins keep time as the primary version for that reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from webhook_gateway.consumer.ledger import CONDITIONAL_CHECK_FAILED, PK, SK, default_client, iso_utc

if TYPE_CHECKING:
    from webhook_gateway.consumer.events import WebhookEvent

ORDER_PARTITION_SUFFIX = "#order"
NANOS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """Which object an event is about (``key``, unique within the watermark's namespace) and how new it is.

    ``version`` and ``tie`` are integers compared as the pair ``(version, tie)``; equal pairs are not stale.
    """

    key: str
    version: int
    tie: int = 0

    def __post_init__(self) -> None:
        if not self.key or len(self.key.encode("utf-8")) > 1024:
            raise ValueError("an object key must be 1 to 1024 bytes (a DynamoDB sort key)")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise TypeError("an object version must be an int")
        if isinstance(self.tie, bool) or not isinstance(self.tie, int):
            raise TypeError("an object version's tie-break must be an int")

    @property
    def order(self) -> tuple[int, int]:
        return (self.version, self.tie)


Extractor = Callable[["WebhookEvent"], ObjectVersion | None]


@dataclass(frozen=True, slots=True)
class Watermark:
    """The newest version applied for an object, and the delivery that applied it (from the failed write)."""

    version: int
    tie: int
    delivery_id: str
    event_type: str


# ------------------------------------------------------------------------------------------------ built-in extractors
def stripe_object_version(event: WebhookEvent) -> ObjectVersion | None:
    """Stripe: the object ``data.object.id``, versioned by the event's ``created`` (Unix seconds), tie-break the
    lifecycle rank. Stripe documents no per-object counter for events; ``created`` is when the change happened, not
    when it was sent, so a retry keeps its place."""
    body = _mapping(event.body)
    obj = _mapping(_mapping(body.get("data")).get("object"))
    key, created = obj.get("id"), body.get("created")
    if not isinstance(key, str) or not key or not isinstance(created, int) or isinstance(created, bool):
        return None
    return ObjectVersion(key, created * NANOS, lifecycle_rank(event.event_type))


def shopify_object_version(event: WebhookEvent) -> ObjectVersion | None:
    """Shopify: the resource (``<topic's resource>:<body id>``, e.g. ``orders:6154913497125``), versioned by the
    ``X-Shopify-Triggered-At`` header (``Shopify-Triggered-At`` for Shopify Events; RFC 3339, up to nanoseconds: when
    the event was triggered, kept by retries), else the body's ``updated_at``; tie-break the lifecycle rank of the
    topic (``orders/updated``)."""
    body = _mapping(event.body)
    resource_id = body.get("id")
    if not (_text(resource_id) or _integer(resource_id)):
        return None
    stamp = parse_time(_shopify_header(event, "triggered-at")) or parse_time(body.get("updated_at"))
    if stamp is None:
        return None
    topic = _shopify_header(event, "topic") or event.event_type
    resource = topic.split("/", 1)[0] if "/" in topic else ""
    key = f"{resource}:{resource_id}" if resource else str(resource_id)
    return ObjectVersion(key, stamp, lifecycle_rank(topic))


def _shopify_header(event: WebhookEvent, name: str) -> str | None:
    """A classic webhook's ``X-Shopify-<name>``, else the same header of Shopify's newer Events (``Shopify-<name>``:
    the verifier accepts both spellings)."""
    return event.header("x-shopify-" + name) or event.header("shopify-" + name)


def square_object_version(event: WebhookEvent) -> ObjectVersion | None:
    """Square: the object ``<data.type>:<data.id>``, versioned by the object's ``updated_at`` (the object is the value
    under ``data.object``, e.g. ``data.object.payment``), else its ``created_at``, else the event's ``created_at``;
    tie-break the object's ``version`` when it has one (Square increments it on every update of versioned objects:
    orders, customers, payments), else the lifecycle rank."""
    body = _mapping(event.body)
    data = _mapping(body.get("data"))
    object_id, object_type = data.get("id"), data.get("type")
    if not _text(object_id):
        return None
    holder = _mapping(data.get("object"))
    obj = _mapping(holder.get(object_type)) if isinstance(object_type, str) else {}
    if not obj and len(holder) == 1:
        obj = _mapping(next(iter(holder.values())))
    stamp = parse_time(obj.get("updated_at")) or parse_time(obj.get("created_at")) or parse_time(body.get("created_at"))
    if stamp is None:
        return None
    version = obj.get("version")
    tie = version if isinstance(version, int) and not isinstance(version, bool) else lifecycle_rank(event.event_type)
    key = f"{object_type}:{object_id}" if _text(object_type) else str(object_id)
    return ObjectVersion(key, stamp, tie)


def paddle_object_version(event: WebhookEvent) -> ObjectVersion | None:
    """Paddle Billing: the entity ``data.id`` (prefixed by kind: ``txn_``, ``sub_``...), versioned by the event's
    ``occurred_at`` (RFC 3339, microseconds), tie-break the lifecycle rank."""
    body = _mapping(event.body)
    key = _mapping(body.get("data")).get("id")
    stamp = parse_time(body.get("occurred_at"))
    if not _text(key) or stamp is None:
        return None
    return ObjectVersion(str(key), stamp, lifecycle_rank(event.event_type))


def standard_webhooks_object_version(event: WebhookEvent) -> ObjectVersion | None:
    """Standard Webhooks: the object ``data.id`` of the body, versioned by the signed ``webhook-timestamp`` header
    (Unix seconds). That is the time of the attempt, which a sender may refresh on a retry: the guard then orders by
    send time, the best such a sender offers. Tie-break the lifecycle rank."""
    key = _mapping(_mapping(event.body).get("data")).get("id")
    stamp = event.header("webhook-timestamp")
    if not _text(key) or stamp is None or not stamp.isdigit():
        return None
    return ObjectVersion(str(key), int(stamp) * NANOS, lifecycle_rank(event.event_type))


_CREATED = frozenset({"created", "create"})
_DELETED = frozenset({"deleted", "delete"})


def lifecycle_rank(event_type: str) -> int:
    """0 for a creation, 2 for a deletion, 1 for anything else, from the type's last word (``.`` or ``/``)."""
    last = re.split(r"[./]", event_type)[-1].lower()
    return 0 if last in _CREATED else 2 if last in _DELETED else 1


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:?\d{2})$"
)


def parse_time(value: object) -> int | None:
    """Epoch nanoseconds of an RFC 3339 timestamp (fraction up to nanoseconds, ``Z`` or an offset); None otherwise."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:
        return None
    nanos = int((fraction or "").ljust(9, "0"))
    return int(moment.astimezone(UTC).timestamp()) * NANOS + nanos


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------------------- watermark
_ADVANCEABLE = (
    "attribute_not_exists(#version) OR #version < :version OR (#version = :version AND #tie <= :tie) "
    "OR #expires_at <= :now_epoch"
)
_ADVANCE = (
    "SET #version = :version, #tie = :tie, #delivery_id_w = :delivery_id, #event_type = :event_type, "
    "#advanced_at = :now, #expires_at = :expires_at"
)
_NAMES = {
    "#version": "version",
    "#tie": "tie",
    "#delivery_id_w": "watermark_delivery_id",
    "#event_type": "event_type",
    "#advanced_at": "advanced_at",
    "#expires_at": "expires_at",
}


def watermark_key(namespace: str, object_key: str) -> dict[str, dict[str, str]]:
    return {PK: {"S": namespace + ORDER_PARTITION_SUFFIX}, SK: {"S": object_key}}


def advance_watermark(
    table_name: str,
    namespace: str,
    version: ObjectVersion,
    *,
    delivery_id: str,
    event_type: str,
    now: float,
    ttl_days: int,
    client: Any = None,
) -> Watermark | None:
    """Move the object's watermark to ``version`` if it is not older: ONE conditional UpdateItem, no read.

    Returns None when the event is current (the watermark now holds its version), or the newer :class:`Watermark`
    that makes it stale. Raises ``ClientError`` for anything but a failed condition (retry the record later).
    """
    try:
        (client or default_client()).update_item(
            TableName=table_name,
            Key=watermark_key(namespace, version.key),
            UpdateExpression=_ADVANCE,
            ConditionExpression=_ADVANCEABLE,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":version": {"N": str(version.version)},
                ":tie": {"N": str(version.tie)},
                ":delivery_id": {"S": delivery_id},
                ":event_type": {"S": event_type},
                ":now": {"S": iso_utc(now)},
                ":now_epoch": {"N": str(int(now))},
                ":expires_at": {"N": str(int(now) + ttl_days * 86_400)},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) != CONDITIONAL_CHECK_FAILED:
            raise
        item = error.response.get("Item") or {}
        return Watermark(
            version=int(item.get("version", {}).get("N", "0")),
            tie=int(item.get("tie", {}).get("N", "0")),
            delivery_id=item.get("watermark_delivery_id", {}).get("S", ""),
            event_type=item.get("event_type", {}).get("S", ""),
        )
    return None
