"""Stripe's sending side: ``Stripe-Signature: t=<time>,v1=<hex>`` over ``<time>.<body>``, and the sample delivery
``payment_intent.succeeded`` (pretty-printed JSON, as Stripe sends it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, sample_uuid

STRIPE_API_VERSION = "2026-10-28.endive"  # stripe==16.1.0's pinned API version


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature: t=<timestamp>,v1=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the endpoint
    secret (``whsec_...``, used as is), as Stripe documents and stripe-python's ``generate_signature_header`` does."""
    signed = f"{int(timestamp)}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, {"stripe-signature": signature_header(body, secret, int(sent_at))})


def _payment_intent_succeeded() -> SampleDelivery:
    created = SAMPLE_DELIVERY_TIME - 2
    intent_id = "pi_3QsAmPLeGaTeWay0a1B2c3D4"
    payment_intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 4999,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 4999,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_SampleClientSecret0123456789",
        "confirmation_method": "automatic",
        "created": created - 30,
        "currency": "usd",
        "customer": "cus_SampleGateway01",
        "description": "Order #1042",
        "last_payment_error": None,
        "latest_charge": "ch_3QsAmPLeGaTeWay0e5F6g7H8",
        "livemode": False,
        "metadata": {"order_id": "1042"},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": "pm_1QsAmPLeGaTeWayCard0001",
        "payment_method_configuration_details": {"id": "pmc_1QsAmPLeGaTeWayConfig01", "parent": None},
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": "jenny.rosen@example.com",
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    event = {
        "id": "evt_3QsAmPLeGaTeWay0i9J8k7L6",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": {"object": payment_intent},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_SampleGateway01", "idempotency_key": sample_uuid("stripe:idempotency:order-1042")},
        "type": "payment_intent.succeeded",
    }
    # Stripe sends pretty-printed JSON (2-space indent): the signature covers exactly these bytes and whitespace.
    raw = json.dumps(event, indent=2).encode("utf-8")
    content_type = "application/json; charset=utf-8"
    return SampleDelivery(
        content_type=content_type,
        body=raw,
        headers={
            "accept": "*/*; q=0.5, application/xml",
            "cache-control": "no-cache",
            "content-type": content_type,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
        source_ip="54.187.174.169",  # one of Stripe's published webhook source addresses
    )


def new_delivery_id() -> str:
    """A fresh Stripe event id."""
    return "evt_" + uuid.uuid4().hex[:24]


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The event id is in the signed body: same document, same formatting, another id."""
    document = json.loads(sample.body)
    document["id"] = delivery_id
    body = json.dumps(document, indent=2).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    """The ``t=`` of a ``stripe-signature`` header."""
    for item in headers.get("stripe-signature", "").split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t" and value.strip().isdigit():
            return int(value)
    return None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={"payment_intent.succeeded": _payment_intent_succeeded},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
)
