"""Get an envelope's raw body back, inline or from the overflow bucket (claim check), and prove it is intact."""

from __future__ import annotations

import binascii
import hashlib
import hmac
from functools import cache
from typing import Any

from webhook_gateway.envelope import Envelope


class BodyIntegrityError(Exception):
    """The body cannot be trusted: wrong bucket, undecodable, or its size/SHA-256 differ from the envelope's."""


@cache
def default_s3_client() -> Any:
    """Created on first use, once per execution environment (boto3's import and client cost stay off cold start)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2))


def load_body(envelope: Envelope, *, allowed_buckets: frozenset[str] | str, client: Any = None) -> bytes:
    """The exact raw bytes the provider sent, checked against ``body_size`` and ``body_sha256``.

    Bodies by reference are only read from ``allowed_buckets`` (the receivers' overflow bucket, and the archive
    bucket for replays): a queue message must not be able to make the consumer read arbitrary objects, whatever the
    IAM policy allows.
    """
    if isinstance(allowed_buckets, str):
        allowed_buckets = frozenset({allowed_buckets})
    if envelope.body_ref is None:
        try:
            raw = envelope.inline_body_bytes()
        except (binascii.Error, ValueError):
            raise BodyIntegrityError("inline body is not valid base64") from None
    else:
        ref = envelope.body_ref
        if ref.bucket not in allowed_buckets:
            raise BodyIntegrityError("body_ref points outside the overflow and archive buckets")
        response = (client or default_s3_client()).get_object(Bucket=ref.bucket, Key=ref.key)
        raw = response["Body"].read()
    verify_body(envelope, raw)
    return raw


def verify_body(envelope: Envelope, raw: bytes) -> None:
    if len(raw) != envelope.body_size:
        raise BodyIntegrityError(f"body is {len(raw)} bytes, the envelope says {envelope.body_size}")
    if not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), envelope.body_sha256.lower()):
        raise BodyIntegrityError("body SHA-256 does not match the envelope's body_sha256")
