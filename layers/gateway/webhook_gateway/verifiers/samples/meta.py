"""Meta's sending side: POST notifications signed ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``
with the App Secret (and the legacy SHA-1 ``X-Hub-Signature`` Meta sends beside it, which the gateway ignores), and
the GET endpoint verification, whose only credential is the verify token the signer adds to its query.

Sample kinds: ``whatsapp_message`` (an inbound WhatsApp text message, the default), ``whatsapp_status`` (a delivery
status of a message the business sent) and ``verification`` (the GET ``hub.mode=subscribe`` Meta sends when the
callback URL or verify token is set: a handshake, answered with its challenge and never queued)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, sample_hex

JSON_CONTENT_TYPE = "application/json"
SOURCE_IP = "173.252.107.116"  # in Meta's AS32934 (Meta publishes its ranges only through that AS's routes)
NOTIFICATION_USER_AGENT = "facebookexternalua"
VERIFICATION_USER_AGENT = "facebookplatform/1.0 (+http://developers.facebook.com)"
_WABA_ID = "102290129340398"
_PHONE_NUMBER_ID = "106540352242922"
_DISPLAY_PHONE_NUMBER = "15550783881"
_CUSTOMER = "16505551234"


def secret_fields(secret: str) -> tuple[str, str]:
    """(App Secret, verify token) of the secret: a JSON object's ``app_secret`` and ``verify_token``, or a plain value
    as the App Secret alone."""
    try:
        document = json.loads(secret)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return secret, ""
    app_secret, token = document.get("app_secret"), document.get("verify_token")
    return (app_secret if isinstance(app_secret, str) else "", token if isinstance(token, str) else "")


def signature_headers(body: bytes, app_secret: str) -> dict[str, str]:
    """``X-Hub-Signature-256`` (what the gateway checks) and the legacy ``X-Hub-Signature`` (SHA-1)."""
    key = app_secret.encode("utf-8")
    return {
        "x-hub-signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        "x-hub-signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """A URL whose query is a verification (``hub.mode``): Meta adds the verify token to it and signs nothing. Any
    other request: the body is signed with the App Secret. Meta signs no time."""
    app_secret, verify_token = secret_fields(secret)
    if "hub.mode" in parse_qs(urlsplit(url).query):
        return Signature(f"{url}&{urlencode({'hub.verify_token': verify_token})}", {})
    return Signature(url, signature_headers(body, app_secret))


def _wamid(seed: str) -> str:
    """A WhatsApp message id: ``wamid.`` and base64 of an opaque identifier."""
    return "wamid." + base64.b64encode(bytes.fromhex("0a0b" + sample_hex(f"meta:wamid:{seed}", 40))).decode()


def _notification(value: dict[str, Any]) -> SampleDelivery:
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": _WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": _DISPLAY_PHONE_NUMBER,
                                "phone_number_id": _PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    return SampleDelivery(
        body=json.dumps(document, separators=(",", ":")).encode("ascii"),  # non-ASCII escaped, as Meta sends it
        headers={"accept": "*/*", "content-type": JSON_CONTENT_TYPE, "user-agent": NOTIFICATION_USER_AGENT},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _whatsapp_message() -> SampleDelivery:
    return _notification(
        {
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": _CUSTOMER}],
            "messages": [
                {
                    "from": _CUSTOMER,
                    "id": _wamid("inbound"),
                    "timestamp": str(SAMPLE_DELIVERY_TIME - 1),
                    "text": {"body": "Does the gateway come in another colour? 🎨"},
                    "type": "text",
                }
            ],
        }
    )


def _whatsapp_status() -> SampleDelivery:
    return _notification(
        {
            "statuses": [
                {
                    "id": _wamid("outbound"),
                    "status": "delivered",
                    "timestamp": str(SAMPLE_DELIVERY_TIME - 3),
                    "recipient_id": _CUSTOMER,
                    "conversation": {"id": sample_hex("meta:conversation", 32), "origin": {"type": "utility"}},
                    "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
                }
            ]
        }
    )


def _challenge(seed: str) -> str:
    """Meta's ``hub.challenge`` is an integer."""
    return str(int(sample_hex(f"meta:challenge:{seed}", 8), 16))


def _verification(challenge: str | None = None) -> SampleDelivery:
    return SampleDelivery(
        body=b"",
        headers={"accept": "*/*", "user-agent": VERIFICATION_USER_AGENT},
        content_type="",
        source_ip=SOURCE_IP,
        method="GET",
        query=urlencode({"hub.mode": "subscribe", "hub.challenge": challenge or _challenge("verification")}),
    )


def new_delivery_id() -> str:
    """A fresh WhatsApp message id (the gateway's id is the hash of the body that carries it)."""
    return _wamid(uuid.uuid4().hex)


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The message (or status) id is in the signed body, whose hash names the delivery; a verification gets another
    challenge instead (it is answered, never named)."""
    if sample.method == "GET":
        return _verification(_challenge(delivery_id))
    document = json.loads(sample.body)
    value = document["entry"][0]["changes"][0]["value"]
    for item in value.get("messages", []) + value.get("statuses", []):
        item["id"] = delivery_id
    body = json.dumps(document, separators=(",", ":")).encode("ascii")  # Meta escapes non-ASCII as \uXXXX
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


SAMPLES = Samples(
    sign=sign,
    kinds={"whatsapp_message": _whatsapp_message, "whatsapp_status": _whatsapp_status, "verification": _verification},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    handshakes=frozenset({"verification"}),
)
