"""Square's sending side: ``x-square-hmacsha256-signature`` (base64 HMAC-SHA256 of the notification URL followed by
the raw body) and the legacy ``x-square-signature`` (HMAC-SHA1, which the gateway ignores), and the sample
deliveries ``payment.updated`` (the default) and ``order.created``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from webhook_gateway.verifiers.samples import (
    SAMPLE_DELIVERY_TIME,
    SampleDelivery,
    Samples,
    Signature,
    iso,
    sample_hex,
    sample_uuid,
)

JSON_CONTENT_TYPE = "application/json"
SOURCE_IP = "54.245.1.154"  # an AWS us-west-2 address, as Square's webhook sources are (its list may change)
_MERCHANT_ID = "MLG9ZQ4XKR2T7"
_LOCATION_ID = "LQ8TQ3WBYV0D4"


def signature_headers(body: bytes, url: str, signature_key: str) -> dict[str, str]:
    """What squareup's ``verify_signature`` checks: base64 HMAC-SHA256 keyed with the signature key of
    ``url + body``; and the legacy HMAC-SHA1 header Square still sends beside it."""
    key, signed = signature_key.encode("utf-8"), url.encode("utf-8") + body
    return {
        "x-square-hmacsha256-signature": base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode(),
        "x-square-signature": base64.b64encode(hmac.new(key, signed, hashlib.sha1).digest()).decode(),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """Square signs the notification URL (the URL it calls) and the body; no time."""
    return Signature(url, signature_headers(body, url, secret))


def _headers(seed: str) -> dict[str, str]:
    return {
        "accept": "*/*",
        "content-type": JSON_CONTENT_TYPE,
        "square-environment": "Production",
        "square-version": "2025-10-16",
        "user-agent": "Square Connect v2",
        "x-request-id": sample_uuid(f"square:request:{seed}"),
    }


def _delivery(document: dict[str, Any], seed: str) -> SampleDelivery:
    return SampleDelivery(
        body=json.dumps(document, separators=(",", ":")).encode("utf-8"),
        headers=_headers(seed),
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _payment_updated() -> SampleDelivery:
    payment_id = "R2B3Z8WMVt3EAmzYWLZ" + sample_hex("square:payment", 10)
    order_id = "lgwOlEityYPJtcuvKTVK" + sample_hex("square:order", 8)
    created = iso(SAMPLE_DELIVERY_TIME - 40)
    updated = iso(SAMPLE_DELIVERY_TIME - 2)
    payment = {
        "amount_money": _money(4250),
        "approved_money": _money(4250),
        "card_details": {
            "avs_status": "AVS_ACCEPTED",
            "card": {
                "bin": "411111",
                "card_brand": "VISA",
                "card_type": "CREDIT",
                "exp_month": 11,
                "exp_year": 2028,
                "fingerprint": "sq-1-" + sample_hex("square:fingerprint", 40),
                "last_4": "1111",
                "prepaid_type": "NOT_PREPAID",
            },
            "card_payment_timeline": {"authorized_at": iso(SAMPLE_DELIVERY_TIME - 39), "captured_at": updated},
            "cvv_status": "CVV_ACCEPTED",
            "entry_method": "KEYED",
            "statement_description": "SQ *GATEWAY COFFEE",
            "status": "CAPTURED",
        },
        "created_at": created,
        "delay_action": "CANCEL",
        "delay_duration": "PT168H",
        "id": payment_id,
        "location_id": _LOCATION_ID,
        "order_id": order_id,
        "receipt_number": payment_id[:4],
        "receipt_url": f"https://squareup.com/receipt/preview/{payment_id}",
        "source_type": "CARD",
        "status": "COMPLETED",
        "total_money": _money(4250),
        "updated_at": updated,
        "version": 4,
    }
    return _delivery(
        {
            "merchant_id": _MERCHANT_ID,
            "type": "payment.updated",
            "event_id": sample_uuid("square:event:payment.updated"),
            "created_at": updated,
            "data": {"type": "payment", "id": payment_id, "object": {"payment": payment}},
        },
        "payment.updated",
    )


def _order_created() -> SampleDelivery:
    order_id = "eA3vssLHKJrv9H0IdJCM" + sample_hex("square:order-created", 8)
    created = iso(SAMPLE_DELIVERY_TIME - 5)
    return _delivery(
        {
            "merchant_id": _MERCHANT_ID,
            "type": "order.created",
            "event_id": sample_uuid("square:event:order.created"),
            "created_at": created,
            "data": {
                "type": "order_created",
                "id": order_id,
                "object": {
                    "order_created": {
                        "created_at": created,
                        "location_id": _LOCATION_ID,
                        "order_id": order_id,
                        "state": "OPEN",
                        "version": 1,
                    }
                },
            },
        },
        "order.created",
    )


def new_delivery_id() -> str:
    """A fresh event id (Square's are UUIDs)."""
    return str(uuid.uuid4())


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The ``event_id`` is in the signed body."""
    document = json.loads(sample.body)
    document["event_id"] = delivery_id
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


SAMPLES = Samples(
    sign=sign,
    kinds={"payment.updated": _payment_updated, "order.created": _order_created},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
)
