"""Paddle Billing's sending side: ``Paddle-Signature: ts=<time>;h1=<hex>`` over ``<time>:<body>``, and the sample
notification ``transaction.completed`` (compact JSON, in the shape of Paddle's documented example)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, iso

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Paddle"
SOURCE_IP = "34.232.58.13"  # one of Paddle's published live webhook addresses
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Paddle ids: a prefix and 26 lower-case ULID characters


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``Paddle-Signature: ts=<timestamp>;h1=<hex>``: HMAC-SHA256 of ``<timestamp>:<body>`` keyed with the
    destination's secret key (used as is), as paddle-python-sdk's ``PaddleSignature`` checks it."""
    digest = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}:".encode() + body, hashlib.sha256).hexdigest()
    return f"ts={int(timestamp)};h1={digest}"


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, {"paddle-signature": signature_header(body, secret, int(sent_at))})


def _transaction_completed() -> SampleDelivery:
    occurred = SAMPLE_DELIVERY_TIME - 3
    billed = occurred - 40
    transaction_id = "txn_01jgatewaysample00000000001"
    totals = {
        "subtotal": "4999",
        "tax": "1000",
        "discount": "0",
        "total": "5999",
        "grand_total": "5999",
        "fee": "350",
        "earnings": "4649",
        "currency_code": "USD",
    }
    document = {
        "event_id": "evt_01jgatewaysample00000000001",
        "event_type": "transaction.completed",
        "occurred_at": iso(occurred).replace("Z", ".512345Z"),
        "notification_id": "ntf_01jgatewaysample00000000001",
        "data": {
            "id": transaction_id,
            "items": [
                {
                    "price": {
                        "id": "pri_01jgatewaysample00000000001",
                        "name": "Monthly (per seat)",
                        "type": "standard",
                        "status": "active",
                        "quantity": {"maximum": 999, "minimum": 1},
                        "tax_mode": "account_setting",
                        "product_id": "pro_01jgatewaysample00000000001",
                        "unit_price": {"amount": "4999", "currency_code": "USD"},
                        "custom_data": None,
                        "description": "Monthly",
                        "trial_period": None,
                        "billing_cycle": {"interval": "month", "frequency": 1},
                        "unit_price_overrides": [],
                    },
                    "quantity": 1,
                    "proration": None,
                }
            ],
            "origin": "web",
            "status": "completed",
            "details": {
                "totals": totals,
                "line_items": [
                    {
                        "id": "txnitm_01jgatewaysample0000000001",
                        "totals": {"tax": "1000", "total": "5999", "discount": "0", "subtotal": "4999"},
                        "price_id": "pri_01jgatewaysample00000000001",
                        "quantity": 1,
                        "tax_rate": "0.2",
                        "unit_totals": {"tax": "1000", "total": "5999", "discount": "0", "subtotal": "4999"},
                    }
                ],
                "payout_totals": dict(totals),
            },
            "checkout": {"url": f"https://gateway.example.com/pay?_ptxn={transaction_id}"},
            "payments": [
                {
                    "amount": "5999",
                    "status": "captured",
                    "created_at": iso(billed),
                    "error_code": None,
                    "captured_at": iso(occurred - 5),
                    "method_details": {"card": {"type": "visa", "last4": "4242"}, "type": "card"},
                    "payment_method_id": "paymtd_01jgatewaysample000000001",
                    "payment_attempt_id": "5f5d1a1e-6a5c-4c38-9a55-6d1b2c3d4e5f",
                    "stored_payment_method_id": "5f5d1a1e-6a5c-4c38-9a55-6d1b2c3d4e60",
                }
            ],
            "billed_at": iso(billed),
            "address_id": "add_01jgatewaysample00000000001",
            "created_at": iso(billed - 20),
            "invoice_id": "inv_01jgatewaysample00000000001",
            "updated_at": iso(occurred),
            "business_id": None,
            "custom_data": {"order_id": "1042"},
            "customer_id": "ctm_01jgatewaysample00000000001",
            "discount_id": None,
            "currency_code": "USD",
            "billing_period": {"ends_at": iso(billed + 30 * 86400), "starts_at": iso(billed)},
            "invoice_number": "325-10042",
            "billing_details": None,
            "collection_mode": "automatic",
            "subscription_id": "sub_01jgatewaysample00000000001",
        },
    }
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": USER_AGENT, "accept": "*/*"},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def new_delivery_id() -> str:
    """A fresh Paddle event id (``evt_`` and 26 ULID characters)."""
    return "evt_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The event id is in the signed body: same document, another ``event_id``."""
    document = json.loads(sample.body)
    document["event_id"] = delivery_id
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    """The ``ts=`` of a ``paddle-signature`` header."""
    for item in headers.get("paddle-signature", "").split(";"):
        name, _, value = item.partition("=")
        if name.strip() == "ts" and value.strip().isdigit():
            return int(value)
    return None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={"transaction.completed": _transaction_completed},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
)
