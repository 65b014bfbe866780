"""The archive: every accepted delivery's exact raw body and forwarded headers, kept for ``ARCHIVE_RETENTION_DAYS``,
so that anything can be read again (``hookctl deliveries show --body``) and replayed (``hookctl replay``) after its
SQS message is long gone.

Written by the consumer, before it claims the delivery, never by the receiver: the receiver's hot path stays one
``SendMessage``. Archiving first means no delivery is ever recorded in the ledger without its archive. The first copy
of a delivery is the one archived, and it is never overwritten: the item write is conditional on there being none yet,
so a retried record or a duplicate leaves it as it is. A duplicate's bytes may differ from the first copy's under the
same delivery id (HubSpot's retry of an event says ``"attemptNumber": 1``): rewriting would archive bytes the handler
never saw, and a replay would run them.

Where a body goes (docs/cost.md: ``bench/cost.py`` computes the break-even size):

* up to ``ARCHIVE_INLINE_MAX_BYTES``: in the archive item itself, a binary attribute, in the ledger table;
* larger: an object ``<provider>/<body sha256>`` in the archive bucket (a body claim-checked to the overflow bucket is
  copied there server side), the archive item pointing at it.

The archive item is one UpdateItem (the consumer's role has no PutItem): partition ``<provider>#archive`` (no
``status``, no ``last_attempt_at``: in no index, never met by ledger queries), sort key the delivery id; ``envelope``
(S: the envelope's JSON without its body), ``body`` (B) or ``body_bucket``/``body_key`` (S), ``body_sha256``,
``body_size``, ``archived_at`` (S, first archived), ``expires_at`` (N, DynamoDB TTL). Both stores are encrypted with
KMS (the table's SSE, the bucket's default encryption); only the consumer writes them and only roles given the
stack's ``DeliveryOperatorPolicy`` read them.

Reading back (:func:`load_archived`) checks size and SHA-256 against what the receiver recorded: a replay never
re-enqueues bytes that differ from what the provider signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from webhook_gateway.consumer.ledger import CONDITIONAL_CHECK_FAILED, PK, SK, default_client, iso_utc
from webhook_gateway.envelope import OPTIONAL_FIELDS, BodyRef, Envelope, ReplayRequest

ARCHIVE_PARTITION_SUFFIX = "#archive"
LOCATION_INLINE = "inline"
LOCATION_S3 = "s3"
# What one SQS message may carry, envelope included (the receivers' inline limit).
REPLAY_INLINE_LIMIT_BYTES = 1_000_000

_BODY_FIELDS = {"body", "body_ref", "replay"}
_SET_COMMON = (
    "#envelope = :envelope, #body_sha256 = :body_sha256, #body_size = :body_size, "
    "#archived_at = :now, #expires_at = :expires_at"
)
_INLINE_UPDATE = f"SET #body = :body, {_SET_COMMON}"
_OBJECT_UPDATE = f"SET #body_bucket = :body_bucket, #body_key = :body_key, {_SET_COMMON}"
# The first copy archived stays: a later one (a retried record, a duplicate) finds the item and changes nothing. An
# expired item (DynamoDB deletes it up to days after its TTL) is archived anew: the delivery is new to the ledger too.
_NOT_ARCHIVED = "attribute_not_exists(#body_sha256) OR #expires_at <= :now_epoch"
_COMMON_NAMES = {
    "#envelope": "envelope",
    "#body_sha256": "body_sha256",
    "#body_size": "body_size",
    "#archived_at": "archived_at",
    "#expires_at": "expires_at",
}
_INLINE_NAMES = {**_COMMON_NAMES, "#body": "body"}
_OBJECT_NAMES = {**_COMMON_NAMES, "#body_bucket": "body_bucket", "#body_key": "body_key"}


class ArchiveIntegrityError(Exception):
    """The archived body differs from what the receiver recorded (size or SHA-256): it must not be replayed."""


def archive_key(provider: str, delivery_id: str) -> dict[str, dict[str, str]]:
    """The key of a delivery's archive item: its own partition per provider, so ledger queries never meet it."""
    return {PK: {"S": provider + ARCHIVE_PARTITION_SUFFIX}, SK: {"S": delivery_id}}


def object_key(provider: str, body_sha256: str) -> str:
    """Content-addressed: the same body under one provider is one object, and a rewrite is the same bytes."""
    return f"{provider}/{body_sha256.lower()}"


def archive_delivery(
    envelope: Envelope,
    *,
    table_name: str,
    bucket: str,
    now: float,
    retention_days: int,
    inline_max_bytes: int,
    dynamodb: Any = None,
    s3: Any = None,
) -> str:
    """Archive the delivery ``envelope`` carries: its body (inline or S3) and metadata, unless an earlier copy of it
    is archived already. Returns where the archived body is.

    Raises whatever the write raises (``ClientError``, ...): the caller must not claim the delivery then.
    """
    values: dict[str, dict[str, Any]] = {
        ":envelope": {"S": envelope_metadata(envelope)},
        ":body_sha256": {"S": envelope.body_sha256.lower()},
        ":body_size": {"N": str(envelope.body_size)},
        ":now": {"S": iso_utc(now)},
        ":expires_at": {"N": str(int(now) + retention_days * 86_400)},
        ":now_epoch": {"N": str(int(now))},
    }
    if envelope.body_ref is None and envelope.body_size <= inline_max_bytes:
        values[":body"] = {"B": envelope.inline_body_bytes()}
        update, names, location = _INLINE_UPDATE, _INLINE_NAMES, LOCATION_INLINE
    else:
        key = object_key(envelope.provider, envelope.body_sha256)
        _store_object(envelope, bucket, key, s3 or _default_s3())
        values[":body_bucket"] = {"S": bucket}
        values[":body_key"] = {"S": key}
        update, names, location = _OBJECT_UPDATE, _OBJECT_NAMES, LOCATION_S3
    try:
        (dynamodb or default_client()).update_item(
            TableName=table_name,
            Key=archive_key(envelope.provider, envelope.delivery_id),
            UpdateExpression=update,
            ConditionExpression=_NOT_ARCHIVED,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != CONDITIONAL_CHECK_FAILED:
            raise
        # Already archived (by an earlier copy): where that copy's body is.
        existing = error.response.get("Item") or {}
        return LOCATION_INLINE if "body" in existing else LOCATION_S3
    return location


def envelope_metadata(envelope: Envelope) -> str:
    """The envelope's JSON without its body (and without a replay request): what a replay re-enqueues around it."""
    unset = {name for name in OPTIONAL_FIELDS if getattr(envelope, name) is None}
    return envelope.model_dump_json(exclude=_BODY_FIELDS | unset)


def _store_object(envelope: Envelope, bucket: str, key: str, s3: Any) -> None:
    metadata = {"sha256": envelope.body_sha256.lower()}
    if envelope.body_ref is None:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=envelope.inline_body_bytes(),
            ContentType="application/octet-stream",
            Metadata=metadata,
        )
    else:
        # Server side: the body never passes through the consumer.
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": envelope.body_ref.bucket, "Key": envelope.body_ref.key},
            MetadataDirective="REPLACE",
            ContentType="application/octet-stream",
            Metadata=metadata,
        )


@dataclass(frozen=True, slots=True)
class ArchivedDelivery:
    """One archived delivery, read back and checked: its envelope fields, its exact body, where the body lives."""

    metadata: dict[str, Any]
    raw: bytes
    location: str
    archived_at: str
    expires_at: int
    body_bucket: str = ""
    body_key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.metadata.get("headers") or {})

    def envelope_for_replay(self, replay: ReplayRequest) -> Envelope:
        """The envelope to re-enqueue: the archived metadata and body, unchanged, plus the replay request. A body
        archived in S3 travels by reference to its archive object (the consumer reads it from there)."""
        fields = {**self.metadata, "replay": replay}
        if self.location == LOCATION_S3:
            reference = BodyRef(bucket=self.body_bucket, key=self.body_key, size=len(self.raw))
            return Envelope.model_validate({**fields, "body": None, "body_ref": reference})
        envelope = Envelope.model_validate({**fields, **Envelope.inline_body_fields(self.raw)})
        if len(envelope.sqs_message_body().encode("utf-8")) > REPLAY_INLINE_LIMIT_BYTES:
            raise ArchiveIntegrityError("the archived body no longer fits in one SQS message")
        return envelope


def load_archived(
    table_name: str, provider: str, delivery_id: str, *, dynamodb: Any = None, s3: Any = None
) -> ArchivedDelivery | None:
    """The archived delivery, its body fetched and checked against the recorded size and SHA-256; None if there is
    none (never archived, or expired). Raises :class:`ArchiveIntegrityError` when the bytes do not match."""
    response = (dynamodb or default_client()).get_item(
        TableName=table_name, Key=archive_key(provider, delivery_id), ConsistentRead=True
    )
    item = response.get("Item")
    if not item:
        return None
    metadata = json.loads(item["envelope"]["S"])
    expected_sha, expected_size = item["body_sha256"]["S"], int(item["body_size"]["N"])
    if "body" in item:
        raw, location, bucket, key = bytes(item["body"]["B"]), LOCATION_INLINE, "", ""
    else:
        bucket, key = item["body_bucket"]["S"], item["body_key"]["S"]
        raw = (s3 or _default_s3()).get_object(Bucket=bucket, Key=key)["Body"].read()
        location = LOCATION_S3
    if len(raw) != expected_size or not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), expected_sha):
        raise ArchiveIntegrityError(
            f"archived body of {provider}/{delivery_id} is {len(raw)} bytes and does not match its recorded SHA-256"
        )
    return ArchivedDelivery(
        metadata=metadata,
        raw=raw,
        location=location,
        archived_at=item.get("archived_at", {}).get("S", ""),
        expires_at=int(item.get("expires_at", {}).get("N", "0")),
        body_bucket=bucket,
        body_key=key,
    )


def _default_s3() -> Any:
    from webhook_gateway.consumer.bodies import default_s3_client

    return default_s3_client()
