"""Slack's sending side: ``X-Slack-Signature: v0=<hex>`` over ``v0:<timestamp>:<body>`` with
``X-Slack-Request-Timestamp``, and the sample requests ``app_mention`` (an Events API ``event_callback``, the
default), ``url_verification`` (the Request URL check, answered with its challenge) and ``slash_command`` (a form)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, sample_hex

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
SOURCE_IP = "3.90.16.12"  # Slack sends from AWS us-east-1 addresses (it publishes no fixed list)
TEAM_ID = "T0GATEWAY01"
API_APP_ID = "A0GATEWAY01"


def signature_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """HMAC-SHA256 of ``v0:<timestamp>:<body>`` keyed with the Signing Secret (as is), hex, after ``v0=``: what
    slack_sdk's ``SignatureVerifier.generate_signature`` computes."""
    signed = f"v0:{int(timestamp)}:".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return {"x-slack-signature": f"v0={digest}", "x-slack-request-timestamp": str(int(timestamp))}


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, secret, int(sent_at)))


def _json_delivery(document: dict[str, object]) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": USER_AGENT, "accept": "*/*"},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _app_mention() -> SampleDelivery:
    event_time = SAMPLE_DELIVERY_TIME - 1
    return _json_delivery(
        {
            "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "api_app_id": API_APP_ID,
            "event": {
                "user": "U0GATEWAYUSR",
                "type": "app_mention",
                "ts": f"{event_time}.000200",
                "client_msg_id": "c7a1f0a2-5f0e-4d8a-9e0b-1a2b3c4d5e6f",
                "text": "<@U0GATEWAYBOT> deploy the gateway",
                "team": TEAM_ID,
                "channel": "C0GATEWAYCHN",
                "event_ts": f"{event_time}.000200",
            },
            "type": "event_callback",
            "event_id": "Ev0GATEWAY0001",
            "event_time": event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": "U0GATEWAYBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDBHQVRFV0FZMDEifQ",
        }
    )


def _url_verification() -> SampleDelivery:
    return _json_delivery(
        {
            "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )


def _slash_command() -> SampleDelivery:
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": TEAM_ID,
        "team_domain": "gateway-sample",
        "channel_id": "C0GATEWAYCHN",
        "channel_name": "deploys",
        "user_id": "U0GATEWAYUSR",
        "user_name": "jenny",
        "command": "/deploy",
        "text": "gateway production",
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": f"https://hooks.slack.com/commands/{TEAM_ID}/1234567890123/{sample_hex('slack:resp', 24)}",
        "trigger_id": f"1234567890123.1234567890.{sample_hex('slack:trigger', 32)}",
    }
    body = urlencode(fields).encode("ascii")
    return SampleDelivery(
        body=body,
        headers={"content-type": FORM_CONTENT_TYPE, "user-agent": USER_AGENT, "accept": "application/json,*/*"},
        content_type=FORM_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def new_delivery_id() -> str:
    """A fresh Events API event id."""
    return "Ev" + uuid.uuid4().hex[:12].upper()


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The id is in the signed body: the ``event_id`` of an event, the ``trigger_id`` of a command."""
    if sample.content_type.startswith(FORM_CONTENT_TYPE):
        fields = dict(parse_qsl(sample.body.decode("utf-8"), keep_blank_values=True))
        fields["trigger_id"] = delivery_id
        body = urlencode(fields).encode("ascii")
    else:
        document = json.loads(sample.body)
        document["event_id"] = delivery_id
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("x-slack-request-timestamp", "")
    return int(timestamp) if timestamp.isdigit() else None


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={
        "app_mention": _app_mention,
        "url_verification": _url_verification,
        "slash_command": _slash_command,
    },
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
    handshakes=frozenset({"url_verification"}),
)
