"""Linear's sending side: ``Linear-Signature: <hex HMAC-SHA256 of the body>``, and the sample payloads
``Issue.create`` (the default) and ``Comment.create``, compact JSON in the shape of Linear's documented examples.

Linear's signed time is the body's ``webhookTimestamp`` (Unix ms): the signer stamps it into the body before it
signs (``Signature.body``), as Linear stamps each attempt it sends, and also sends it as ``Linear-Timestamp`` (the
header @linear/sdk calls legacy; unsigned, never checked by the gateway, read back by ``signature_time``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, sample_uuid

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = "Linear-Webhook"
SOURCE_IP = (
    "35.231.147.226"  # a Google Cloud address, as Linear sends from (check its current list before allowlisting)
)
ORGANIZATION_ID = sample_uuid("linear:organization")
WEBHOOK_ID = sample_uuid("linear:webhook")
TEAM = {"id": sample_uuid("linear:team"), "key": "GW", "name": "Gateway"}
ACTOR = {
    "id": sample_uuid("linear:user"),
    "name": "Jenny Rosen",
    "email": "jenny.rosen@example.com",
    "url": "https://linear.app/gateway-sample/profiles/jenny",
    "type": "user",
}


def signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw body keyed with the signing secret (as is), as @linear/sdk's
    ``LinearWebhookClient.verify`` computes it."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def stamped(body: bytes, sent_at: float) -> bytes:
    """The payload with ``webhookTimestamp`` set to ``sent_at`` in milliseconds (same compact formatting)."""
    document = json.loads(body)
    document["webhookTimestamp"] = int(sent_at * 1000)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """Stamp the sending time into the body, then sign that body."""
    try:
        sent = stamped(body, sent_at)
    except (ValueError, TypeError):  # a body that is not a JSON object (hookctl send --body): signed as given
        sent = body
    headers = {"linear-signature": signature(sent, secret), "linear-timestamp": str(int(sent_at * 1000))}
    return Signature(url, headers, body=sent)


def _iso_ms(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _delivery(document: dict[str, Any]) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={
            "content-type": JSON_CONTENT_TYPE,
            "user-agent": USER_AGENT,
            "linear-delivery": str(uuid.uuid5(uuid.NAMESPACE_URL, f"linear-delivery:{document['data']['id']}")),
            "linear-event": document["type"],
        },
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _issue_create() -> SampleDelivery:
    created_ms = (SAMPLE_DELIVERY_TIME - 1) * 1000 + 84
    issue_id = sample_uuid("linear:issue:GW-42")
    return _delivery(
        {
            "action": "create",
            "actor": ACTOR,
            "createdAt": _iso_ms(created_ms),
            "data": {
                "id": issue_id,
                "createdAt": _iso_ms(created_ms),
                "updatedAt": _iso_ms(created_ms),
                "number": 42,
                "title": "Verify Linear signatures at the edge — café",
                "priority": 2,
                "priorityLabel": "High",
                "estimate": 3,
                "sortOrder": -1021.5,
                "boardOrder": 0,
                "teamId": TEAM["id"],
                "team": TEAM,
                "stateId": sample_uuid("linear:state:todo"),
                "state": {
                    "id": sample_uuid("linear:state:todo"),
                    "name": "Todo",
                    "type": "unstarted",
                    "color": "#e2e2e2",
                },
                "creatorId": ACTOR["id"],
                "assigneeId": ACTOR["id"],
                "labelIds": [sample_uuid("linear:label:security")],
                "labels": [{"id": sample_uuid("linear:label:security"), "name": "security", "color": "#eb5757"}],
                "subscriberIds": [ACTOR["id"]],
                "previousIdentifiers": [],
                "identifier": "GW-42",
                "url": "https://linear.app/gateway-sample/issue/GW-42/verify-linear-signatures-at-the-edge",
                "description": "Reject deliveries whose webhookTimestamp is more than 60 s away.",
            },
            "url": "https://linear.app/gateway-sample/issue/GW-42/verify-linear-signatures-at-the-edge",
            "type": "Issue",
            "organizationId": ORGANIZATION_ID,
            "webhookTimestamp": SAMPLE_DELIVERY_TIME * 1000,
            "webhookId": WEBHOOK_ID,
        }
    )


def _comment_create() -> SampleDelivery:
    created_ms = (SAMPLE_DELIVERY_TIME - 2) * 1000 + 517
    comment_id = sample_uuid("linear:comment:GW-42:1")
    issue_id = sample_uuid("linear:issue:GW-42")
    return _delivery(
        {
            "action": "create",
            "actor": ACTOR,
            "createdAt": _iso_ms(created_ms),
            "data": {
                "id": comment_id,
                "createdAt": _iso_ms(created_ms),
                "updatedAt": _iso_ms(created_ms),
                "body": "Signed body timestamp only: the header is not signed.",
                "issueId": issue_id,
                "issue": {"id": issue_id, "title": "Verify Linear signatures at the edge — café", "teamId": TEAM["id"]},
                "userId": ACTOR["id"],
                "reactionData": [],
            },
            "url": f"https://linear.app/gateway-sample/issue/GW-42#comment-{comment_id[:8]}",
            "type": "Comment",
            "organizationId": ORGANIZATION_ID,
            "webhookTimestamp": SAMPLE_DELIVERY_TIME * 1000,
            "webhookId": WEBHOOK_ID,
        }
    )


def new_delivery_id() -> str:
    """A fresh entity id (Linear ids are UUIDs): the part of the delivery id that makes another event."""
    return str(uuid.uuid4())


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """Another delivery: the entity id (``data.id``, in the signed body) becomes ``delivery_id``."""
    document = json.loads(sample.body)
    document["data"]["id"] = delivery_id
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = dict(sample.headers)
    headers["linear-delivery"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"linear-delivery:{delivery_id}"))
    return SampleDelivery(body, headers, sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    """The sending time (seconds) from ``linear-timestamp``, which carries the body's ``webhookTimestamp``."""
    value = headers.get("linear-timestamp", "")
    return int(value) // 1000 if value.isdigit() else None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={"Issue.create": _issue_create, "Comment.create": _comment_create},
    event_file_names={"Issue.create": "linear_issue_create", "Comment.create": "linear_comment_create"},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
)
