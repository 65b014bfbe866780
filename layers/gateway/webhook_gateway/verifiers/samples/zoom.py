"""Zoom's sending side: ``x-zm-signature: v0=<hex>`` (HMAC-SHA256 of ``v0:<timestamp>:<body>`` keyed with the
Secret Token) with ``x-zm-request-timestamp`` (Unix seconds), as Zoom's sample app (zoom/webhook-sample) computes
it, and the sample events ``meeting.started`` (the default), ``endpoint.url_validation`` (the challenge-response
check, answered with the hashed token) and ``meeting.ended``, shaped like Zoom's documented examples.

Zoom names no delivery: the gateway's id is the hash of the body, so another delivery is another ``event_ts``
(milliseconds, what :func:`new_delivery_id` gives).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, iso, sample_hex

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = "Zoom Marketplace/1.0a"
SOURCE_IP = "3.235.82.9"  # a sample AWS us-east-1 address (Zoom publishes its webhook ranges; not checked here)
ACCOUNT_ID = "AbCdEfGhIjKlMnOpQrStUv"


def signature_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` keyed with the Secret Token (as is)."""
    signed = f"v0:{int(timestamp)}:".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return {"x-zm-signature": f"v0={digest}", "x-zm-request-timestamp": str(int(timestamp))}


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, secret, int(sent_at)))


def _delivery(document: Mapping[str, object], seed: str) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    headers = {
        "content-type": JSON_CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "x-zm-trackingid": "v=2.0;clid=us06;rid=WEB_" + sample_hex(f"zoom:{seed}", 32),
        "clientid": sample_hex("zoom:client", 22),
    }
    return SampleDelivery(body=body, headers=headers, content_type=JSON_CONTENT_TYPE, source_ip=SOURCE_IP)


def _meeting(started_seconds_ago: int) -> dict[str, object]:
    return {
        "duration": 60,
        "host_id": "x1yCzABCDEfg23HiJKl4mN",
        "id": "85746065432",
        "start_time": iso(SAMPLE_DELIVERY_TIME - started_seconds_ago),
        "timezone": "Europe/Berlin",
        "topic": "Gateway release review",
        "type": 2,
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
    }


def _meeting_started() -> SampleDelivery:
    document = {
        "event": "meeting.started",
        "event_ts": (SAMPLE_DELIVERY_TIME - 2) * 1000 + 572,
        "payload": {"account_id": ACCOUNT_ID, "object": _meeting(2)},
    }
    return _delivery(document, "meeting.started")


def _meeting_ended() -> SampleDelivery:
    meeting = {**_meeting(3600), "end_time": iso(SAMPLE_DELIVERY_TIME - 1)}
    document = {
        "event": "meeting.ended",
        "event_ts": (SAMPLE_DELIVERY_TIME - 1) * 1000 + 131,
        "payload": {"account_id": ACCOUNT_ID, "object": meeting},
    }
    return _delivery(document, "meeting.ended")


def _url_validation() -> SampleDelivery:
    document = {
        "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},  # Zoom's documented example token
        "event_ts": SAMPLE_DELIVERY_TIME * 1000 - 320,
        "event": "endpoint.url_validation",
    }
    return _delivery(document, "endpoint.url_validation")


def new_delivery_id() -> str:
    """A fresh ``event_ts``: now, in milliseconds, plus a random offset so that two calls differ."""
    return str(int(time.time() * 1000) + secrets.randbelow(1000))


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """Another delivery: ``event_ts`` set to the id when it is digits (else the meeting's ``uuid``), and with the body
    its hash, the gateway's id."""
    document = json.loads(sample.body)
    if delivery_id.isdigit():
        document["event_ts"] = int(delivery_id)
    else:
        document.setdefault("payload", {}).setdefault("object", {})["uuid"] = delivery_id
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("x-zm-request-timestamp", "")
    return int(timestamp) if timestamp.isdigit() else None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={
        "meeting.started": _meeting_started,
        "endpoint.url_validation": _url_validation,
        "meeting.ended": _meeting_ended,
    },
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
    handshakes=frozenset({"endpoint.url_validation"}),
)
