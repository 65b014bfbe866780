"""Durable hand-off of an envelope to SQS, with the claim check for bodies too large for one message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import boto3

from webhook_gateway.envelope import BodyRef, Envelope


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
        # A body over the limit cannot fit whatever the envelope around it: skip serialising it inline first.
        if len(raw_body) > self.inline_limit_bytes:
            envelope = self._store_body(envelope, raw_body)
        message = envelope.sqs_message_body()
        if envelope.body_ref is None and message_size(message, envelope) > self.inline_limit_bytes:
            envelope = self._store_body(envelope, raw_body)
            message = envelope.sqs_message_body()
        try:
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=message,
                MessageAttributes=envelope.sqs_message_attributes(),
            )
        except Exception as error:  # any failure means "not queued": the caller answers 5xx
            raise EnqueueError(f"SendMessage failed: {_error_code(error)}") from error
        return envelope

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
