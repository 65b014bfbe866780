"""GitHub: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed with the hook secret.

GitHub signs no timestamp, so there is no replay window; redeliveries keep ``X-GitHub-Delivery``, and one GUID can
reach several hooks, so the delivery id is ``<hook id>:<delivery GUID>``.

GitHub signs the body only: the GUID, the hook id and ``X-GitHub-Event`` are plain headers anyone can change on a
captured delivery. So the identity is marked unsigned (the consumer then refuses a body it already took under another
id), and the event type is checked against bodies that say what they are: a ping body names itself (``zen`` and
``hook_id``), a push body has ``ref``, ``before`` and ``after``. A ping re-sent as ``push`` never reaches a push
handler.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from webhook_gateway.verifiers.base import (
    BodyFormat,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    constant_time_equal,
    first_matching_secret,
    utf8,
)

SIGNATURE_HEADER = "x-hub-signature-256"
LEGACY_SIGNATURE_HEADER = "x-hub-signature"  # sha1=<hex>, HMAC-SHA1 of the body: never checked here
_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(utf8(secret), body, hashlib.sha256).hexdigest()


def verify(
    request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy
) -> SecretCandidate:
    header = request.header(SIGNATURE_HEADER)
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    match = _SIGNATURE_FORMAT.fullmatch(header.strip())
    if not match:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected sha256=<64 hex digits>")
    received = match.group(1).lower()
    return first_matching_secret(
        secrets, lambda candidate: constant_time_equal(sign(request.body, candidate.value)[7:], received)
    )


# Top-level keys a body of that event always has; a body with the ping keys is a ping, whatever the header says.
_PING_KEYS = frozenset({"zen", "hook_id"})
_REQUIRED_KEYS = {"ping": _PING_KEYS, "push": frozenset({"ref", "before", "after"})}


def identify(request: WebhookRequest) -> DeliveryIdentity:
    guid = (request.header("x-github-delivery") or "").strip()
    event = (request.header("x-github-event") or "").strip()
    if not guid or not event:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "missing X-GitHub-Delivery or X-GitHub-Event")
    _require_event_matches_body(event, _json_payload(request))
    hook_id = (request.header("x-github-hook-id") or "").strip() or "0"
    return DeliveryIdentity(delivery_id=f"{hook_id}:{guid}", event_type=event, delivery_id_signed=False)


def _require_event_matches_body(event: str, document: dict[str, Any]) -> None:
    if event != "ping" and document.keys() >= _PING_KEYS:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "a ping body under another X-GitHub-Event")
    required = _REQUIRED_KEYS.get(event)
    if required is not None and not required <= document.keys():
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "the body is not a payload of its X-GitHub-Event")


def _json_payload(request: WebhookRequest) -> dict[str, Any]:
    """The body is JSON, or (content type x-www-form-urlencoded) a form whose ``payload`` field is JSON."""
    content_type = (request.header("content-type") or "").lower()
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(request.body.decode("utf-8"), strict_parsing=True)
            document = json.loads(form["payload"][0])
        else:
            document = json.loads(request.body)
    except (ValueError, KeyError, IndexError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(
            Reason.UNPARSEABLE_PAYLOAD, f"body is not a GitHub JSON payload ({type(error).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "payload is not a JSON object")
    return document


PROVIDER = Provider(
    name="github",
    title="GitHub",
    verify=verify,
    identify=identify,
    # JSON, or (content type "form") a form whose `payload` field is the JSON.
    body_format=BodyFormat(form_json_field="payload"),
    secret_format=SecretFormat(
        description="the webhook's secret, used as is as the HMAC-SHA256 key",
        sample="sample-github-webhook-secret",
        wrong_sample="not-the-github-webhook-secret",
    ),
    samples="webhook_gateway.verifiers.samples.github",
    forwarded_headers=(
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-id",
        "x-github-hook-installation-target-type",
        "user-agent",
        "content-type",
    ),
    # The legacy SHA-1 X-Hub-Signature too: GitHub still sends it, and some libraries check only that one.
    signature_headers=(SIGNATURE_HEADER, LEGACY_SIGNATURE_HEADER),
)
