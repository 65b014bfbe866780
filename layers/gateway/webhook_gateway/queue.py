"""Durable hand-off of an envelope to SQS, with the claim check for bodies too large for one message.

``send`` queues one envelope with one ``SendMessage`` (every single-event provider, the hot path). ``send_batch``
queues the envelopes of a batch request (``Provider.split``: one envelope per event) with ``SendMessageBatch``, in
chunks of at most 10 entries and at most 1 MiB of messages (SQS's limits for one call); entries SQS lists in
``Failed`` are sent again, a bounded number of times, unless SQS says the fault is ours (``SenderFault``), which a
resend cannot fix. Anything still not queued raises :class:`EnqueueError`: the receiver answers 503, the provider
retries the whole request, and the events already queued are deduplicated per event by the consumer's ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import boto3

from webhook_gateway.envelope import BodyRef, Envelope

# SendMessageBatch: at most 10 entries, and the sum of their messages (body and attributes) at most 1 MiB.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1_048_576
# How many times one entry is sent at most (the first try included) when SQS lists it in Failed without SenderFault.
BATCH_ATTEMPTS = 3


class EnqueueError(Exception):
    """The envelope is not durably queued: the receiver must answer 5xx so that the provider retries."""


class EnvelopeSender:
    def __init__(
        self,
        queue_url: str,
        overflow_bucket: str,
        *,
        inline_limit_bytes: int = 1_000_000,
        sqs_client: Any = None,
        s3_client: Any = None,
    ) -> None:
        self.queue_url = queue_url
        self.overflow_bucket = overflow_bucket
        self.inline_limit_bytes = inline_limit_bytes
        self._sqs = sqs_client
        self._s3 = s3_client

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.client("s3")
        return self._s3

    def send(self, envelope: Envelope, raw_body: bytes) -> Envelope:
        """Queue ``envelope`` (built with an inline body); move the body to S3 first if the message would not fit.

        Returns the envelope as queued. Raises :class:`EnqueueError` on any failure.
        """
        envelope, message = self._fitted(envelope, raw_body)
        try:
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=message,
                MessageAttributes=envelope.sqs_message_attributes(),
            )
        except Exception as error:  # any failure means "not queued": the caller answers 5xx
            raise EnqueueError(f"SendMessage failed: {_error_code(error)}") from error
        return envelope

    def send_batch(self, items: Sequence[tuple[Envelope, bytes]]) -> list[Envelope]:
        """Queue every ``(envelope, raw body)`` of one batch request; returns the envelopes as queued, in order.

        Raises :class:`EnqueueError` unless every one of them is queued (some may be: the consumer deduplicates them
        when the provider retries the request).
        """
        fitted = [self._fitted(envelope, raw_body) for envelope, raw_body in items]
        for chunk in _chunks([(index, message, envelope) for index, (envelope, message) in enumerate(fitted)]):
            self._send_chunk(chunk)
        return [envelope for envelope, _ in fitted]

    def _send_chunk(self, chunk: list[tuple[int, str, Envelope]]) -> None:
        pending = {
            str(index): {
                "Id": str(index),
                "MessageBody": message,
                "MessageAttributes": envelope.sqs_message_attributes(),
            }
            for index, message, envelope in chunk
        }
        for _ in range(BATCH_ATTEMPTS):
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=list(pending.values()))
            except Exception as error:  # the call itself failed (botocore already retried it): not queued
                raise EnqueueError(f"SendMessageBatch failed: {_error_code(error)}") from error
            failed = response.get("Failed") or []
            for entry in response.get("Successful") or []:
                pending.pop(entry["Id"], None)
            ours = [entry for entry in failed if entry.get("SenderFault")]
            if ours:
                raise EnqueueError(f"SendMessageBatch refused {len(ours)} entries: {ours[0].get('Code', 'unknown')}")
            if not pending:
                return
        raise EnqueueError(f"SendMessageBatch left {len(pending)} entries unqueued after {BATCH_ATTEMPTS} attempts")

    def _fitted(self, envelope: Envelope, raw_body: bytes) -> tuple[Envelope, str]:
        """The envelope as it will be queued and its message: the body moved to S3 first if it would not fit."""
        # A body over the limit cannot fit whatever the envelope around it: skip serialising it inline first.
        if len(raw_body) > self.inline_limit_bytes:
            envelope = self._store_body(envelope, raw_body)
        message = envelope.sqs_message_body()
        if envelope.body_ref is None and message_size(message, envelope) > self.inline_limit_bytes:
            envelope = self._store_body(envelope, raw_body)
            message = envelope.sqs_message_body()
        return envelope, message

    def _store_body(self, envelope: Envelope, raw_body: bytes) -> Envelope:
        key = overflow_key(envelope.provider, envelope.received_at)
        try:
            self.s3.put_object(
                Bucket=self.overflow_bucket,
                Key=key,
                Body=raw_body,
                ContentType="application/octet-stream",
                Metadata={"sha256": envelope.body_sha256},
            )
        except Exception as error:
            raise EnqueueError(f"PutObject to the overflow bucket failed: {_error_code(error)}") from error
        reference = BodyRef(bucket=self.overflow_bucket, key=key, size=len(raw_body))
        return envelope.model_copy(update={"body": None, "body_ref": reference})


def _chunks(entries: list[tuple[int, str, Envelope]]) -> list[list[tuple[int, str, Envelope]]]:
    """``entries`` in order, cut into SendMessageBatch calls: at most 10 entries and 1 MiB of messages each (one
    message is at most the inline limit, under 1 MiB, so it always fits in a call of its own)."""
    chunks: list[list[tuple[int, str, Envelope]]] = []
    current: list[tuple[int, str, Envelope]] = []
    size = 0
    for entry in entries:
        entry_size = message_size(entry[1], entry[2])
        if current and (len(current) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def overflow_key(provider: str, received_at: datetime) -> str:
    """``<provider>/YYYY/MM/DD/<uuid>``: each receiver may write only under its own provider prefix."""
    return f"{provider}/{received_at:%Y/%m/%d}/{uuid.uuid4()}"


def message_size(message: str, envelope: Envelope) -> int:
    """What SQS counts against its 1 MiB limit: the body and every attribute's name, type and value, in UTF-8 bytes."""
    attributes = sum(
        _utf8_size(name) + _utf8_size(value["DataType"]) + _utf8_size(value["StringValue"])
        for name, value in envelope.sqs_message_attributes().items()
    )
    return _utf8_size(message) + attributes


def _utf8_size(text: str) -> int:
    # ASCII (most envelopes) needs no copy to be measured.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
