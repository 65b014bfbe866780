"""HubSpot's sending side: ``X-HubSpot-Signature-v3`` (base64 HMAC-SHA256 of ``POST + URI + body + timestamp``,
keyed with the client secret) with ``X-HubSpot-Request-Timestamp`` in milliseconds, and the sample requests
``batch`` (one array of three events: a ``contact.creation`` and two ``contact.propertyChange``, the default) and
``contact_creation`` (an array of one event). Payloads follow the shape of HubSpot's webhooks API examples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from collections.abc import Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor"
SOURCE_IP = "54.174.62.123"  # HubSpot sends from AWS us-east-1 addresses
PORTAL_ID = 62515
APP_ID = 54321
FIRST_EVENT_ID = 4132007741
_DECODED_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def signature_headers(body: bytes, uri: str, secret: str, timestamp_ms: int, method: str = "POST") -> dict[str, str]:
    """What HubSpot sends: hubspot-api-client's ``Signature.get_signature(..., "v3", ...)`` of the same inputs, with
    the URI's listed escapes decoded first (HubSpot signs them decoded)."""
    signed_uri = _DECODED_ESCAPES.sub(lambda escape: chr(int(escape.group(1), 16)), uri)
    message = f"{method}{signed_uri}".encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return {
        "x-hubspot-signature-v3": base64.b64encode(digest).decode("ascii"),
        "x-hubspot-request-timestamp": str(timestamp_ms),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, url, secret, round(sent_at * 1000)))


def _event(index: int, subscription_type: str, object_id: int, **extra: object) -> dict[str, object]:
    return {
        "eventId": FIRST_EVENT_ID + index,
        "subscriptionId": 1_205_300 + (0 if subscription_type == "contact.creation" else 1),
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": (SAMPLE_DELIVERY_TIME - 2) * 1000 + 117 * index,
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        **extra,
    }


def _delivery(events: list[dict[str, object]]) -> SampleDelivery:
    body = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": USER_AGENT, "accept": "*/*"},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _batch() -> SampleDelivery:
    return _delivery(
        [
            _event(0, "contact.creation", 1246965, changeFlag="CREATED", changeSource="CRM_UI", sourceId="userId:9"),
            _event(
                1,
                "contact.propertyChange",
                1246965,
                propertyName="firstname",
                propertyValue="Zoë",
                changeSource="CRM_UI",
                sourceId="userId:9",
            ),
            _event(
                2,
                "contact.propertyChange",
                1246965,
                propertyName="lifecyclestage",
                propertyValue="marketingqualifiedlead",
                changeSource="API",
            ),
        ]
    )


def _contact_creation() -> SampleDelivery:
    return _delivery([_event(0, "contact.creation", 1246978, changeFlag="CREATED", changeSource="IMPORT")])


def new_delivery_id() -> str:
    """A fresh eventId (HubSpot's are integers)."""
    return str(random.randrange(10**9, 10**10))


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The id is in the signed body: the first event's ``eventId`` becomes ``delivery_id``, the next ones follow it
    (``+1``, ``+2`` for an integer; ``-1``, ``-2`` appended otherwise), so each event stays distinct."""
    events = json.loads(sample.body)
    for index, event in enumerate(events):
        if delivery_id.isdigit():
            event["eventId"] = int(delivery_id) + index
        else:
            event["eventId"] = f"{delivery_id}-{index}" if index else delivery_id
    body = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("x-hubspot-request-timestamp", "")
    return int(timestamp) // 1000 if timestamp.isdigit() else None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={"batch": _batch, "contact_creation": _contact_creation},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
)
