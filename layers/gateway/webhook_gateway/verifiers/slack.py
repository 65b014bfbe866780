"""Slack: ``X-Slack-Signature: v0=<hex>``, HMAC-SHA256 of ``f"v0:{X-Slack-Request-Timestamp}:{raw body}"`` keyed
with the app's Signing Secret.

The signature is checked before the timestamp (as for Stripe), so the timestamp reasons only ever describe authentic
but replayed or mis-clocked requests. A signed ``url_verification`` (the Events API's Request URL check) is answered
with its challenge and never queued (``handshake``).

Delivery ids, all from the signed body, so a retry (the same body again, with ``X-Slack-Retry-Num``) is a duplicate
and two different requests are distinct:

* Events API (JSON ``event_callback``): the ``event_id``; the event type is the inner ``event.type``
  (``app_mention``). Other JSON callbacks (``app_rate_limited``) carry no id: ``sha256:<hash of the body>``.
* Slash commands (form with ``command``): the ``trigger_id`` Slack mints per invocation; event type
  ``slash_command``.
* Interactivity (form whose only field is ``payload=<json>``): the payload's ``trigger_id``, else (no trigger, such
  as a ``block_actions`` from a message without one) ``sha256:<hash of the body>``; event type
  ``interactivity.<type>`` (``interactivity.block_actions``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from webhook_gateway.verifiers.base import (
    Acknowledgement,
    BodyFormat,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    json_object,
    v0_signature,
    verify_v0,
)

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


# The digest Slack sends after ``v0=`` (``base.v0_signature``, the scheme Slack and Zoom share).
sign = v0_signature


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    return verify_v0(request, secrets, policy, signature_header=SIGNATURE_HEADER, timestamp_header=TIMESTAMP_HEADER)


def _is_form(request: WebhookRequest) -> bool:
    return (request.header("content-type") or "").lower().startswith(FORM_CONTENT_TYPE)



def _form(request: WebhookRequest) -> dict[str, str]:
    try:
        fields = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except ValueError as error:  # UnicodeDecodeError is a ValueError
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not a form ({type(error).__name__})") from None
    return {name: values[0] for name, values in fields.items()}


def _string(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    return value if isinstance(value, str) else ""


def _body_hash(request: WebhookRequest) -> str:
    return hashlib.sha256(request.body).hexdigest()


def handshake(request: WebhookRequest, matched_secret: SecretCandidate) -> Acknowledgement | None:
    """A signed Events API ``url_verification``: answer ``{"challenge": ...}``. Anything else is a delivery."""
    if _is_form(request):
        return None
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError):
        return None  # not JSON: identify() rejects it
    if not isinstance(document, dict) or document.get("type") != "url_verification":
        return None
    challenge = _string(document, "challenge")
    if not challenge:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "url_verification without a challenge")
    return Acknowledgement(200, "application/json", json.dumps({"challenge": challenge}))


def identify(request: WebhookRequest) -> DeliveryIdentity:
    if _is_form(request):
        return _identify_form(request)
    document = json_object(request.body)
    callback_type = _string(document, "type")
    if callback_type == "event_callback":
        event = document.get("event")
        event_id = _string(document, "event_id")
        event_type = _string(event, "type") if isinstance(event, dict) else ""
        if not event_id or not event_type:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "event_callback without a string event_id and event.type")
        return DeliveryIdentity(delivery_id=event_id, event_type=event_type, delivery_id_signed=True)
    if not callback_type:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body has no string type")
    return DeliveryIdentity(f"sha256:{_body_hash(request)}", callback_type, delivery_id_signed=True)


def _identify_form(request: WebhookRequest) -> DeliveryIdentity:
    form = _form(request)
    if set(form) == {"payload"}:
        payload = json_object(form["payload"], "payload")
        interaction = _string(payload, "type")
        if not interaction:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "interactivity payload has no string type")
        delivery_id = _string(payload, "trigger_id") or f"sha256:{_body_hash(request)}"
        return DeliveryIdentity(delivery_id, f"interactivity.{interaction}", delivery_id_signed=True)
    if not form.get("command"):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "form is neither a slash command nor an interactivity payload")
    delivery_id = form.get("trigger_id") or f"sha256:{_body_hash(request)}"
    return DeliveryIdentity(delivery_id, "slash_command", delivery_id_signed=True)


def acknowledge(identity: DeliveryIdentity) -> Acknowledgement:
    """Slack wants a fast 2xx: an empty 200 (a slash command's empty answer shows nothing in the channel)."""
    return Acknowledgement(200, "text/plain", "")


PROVIDER = Provider(
    name="slack",
    title="Slack",
    verify=verify,
    identify=identify,
    handshake=handshake,
    acknowledge=acknowledge,
    # JSON (Events API), or a form (slash commands) whose only `payload` field is JSON (interactivity).
    body_format=BodyFormat(form_json_field="payload"),
    secret_format=SecretFormat(
        description="the Slack app's Signing Secret (hex, Basic Information > App Credentials), used as is as the "
        "HMAC-SHA256 key",
        sample="8f742231b10e8888abcd99e0d4e85a5b",
        wrong_sample="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    ),
    samples="webhook_gateway.verifiers.samples.slack",
    forwarded_headers=("x-slack-retry-num", "x-slack-retry-reason", "content-type", "user-agent"),
    signature_headers=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
)
