"""A Generic HMAC sender with the default options: ``X-Signature: <hex HMAC-SHA256 of the raw body>``, no
timestamp, delivery id = the body's SHA-256, event type ``webhook``. The sample kinds are what a typical in-house
or SaaS sender posts: ``order_created`` (the default) and ``invoice_paid``, JSON with the sender's own ``id`` and
``type`` (which a deployment can point at with ``delivery_id_pointer: /id`` and ``event_type_pointer: /type``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, iso, sample_hex

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Acme-Webhooks/2.3 (+https://acme.example/docs/webhooks)"
SOURCE_IP = "203.0.113.24"  # TEST-NET-3: a sender we do not know publishes no address range
SIGNATURE_HEADER = "x-signature"


def signature(body: bytes, secret: str) -> str:
    """The default options' signature: HMAC-SHA256 of the raw body keyed with the secret (UTF-8), lower-case hex."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """The default options sign the body only: the URL is the one given, the time is not signed."""
    return Signature(url, {SIGNATURE_HEADER: signature(body, secret)})


def _delivery(document: dict[str, object]) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": USER_AGENT, "accept": "*/*"},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _order_created() -> SampleDelivery:
    return _delivery(
        {
            "id": f"evt_{sample_hex('generic_hmac:order', 24)}",
            "type": "order.created",
            "created_at": iso(SAMPLE_DELIVERY_TIME - 2),
            "data": {
                "order": {
                    "id": "ord_1042",
                    "number": 1042,
                    "currency": "EUR",
                    "total": "149.90",
                    "customer": {"id": "cus_77", "name": "Zoë Müller", "email": "zoe@example.com"},
                    "lines": [
                        {"sku": "GW-TSHIRT-M", "quantity": 2, "unit_price": "39.95"},
                        {"sku": "GW-MUG", "quantity": 1, "unit_price": "70.00"},
                    ],
                }
            },
        }
    )


def _invoice_paid() -> SampleDelivery:
    return _delivery(
        {
            "id": f"evt_{sample_hex('generic_hmac:invoice', 24)}",
            "type": "invoice.paid",
            "created_at": iso(SAMPLE_DELIVERY_TIME - 5),
            "data": {
                "invoice": {
                    "id": "inv_2026_0318",
                    "amount_paid": 14990,
                    "currency": "EUR",
                    "paid_at": iso(SAMPLE_DELIVERY_TIME - 6),
                    "customer": "cus_77",
                }
            },
        }
    )


def new_delivery_id() -> str:
    """A fresh sender event id (the body's ``id``)."""
    return "evt_" + uuid.uuid4().hex[:24]


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """Another delivery: the sender's ``id`` in the body changes, and with the body its hash (the default id)."""
    document = json.loads(sample.body)
    document["id"] = delivery_id
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


SAMPLES = Samples(
    sign=sign,
    kinds={"order_created": _order_created, "invoice_paid": _invoice_paid},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
)
