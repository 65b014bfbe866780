"""Meta (WhatsApp Cloud API, Instagram, Messenger, every Graph API webhook): two kinds of request on one URL.

* **POST** (an event notification): ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed with
  the app's App Secret. The legacy ``X-Hub-Signature`` (SHA-1) is never accepted. Meta signs no timestamp, so there
  is no replay window.
* **GET** (the endpoint verification Meta sends when the callback URL or the verify token is set):
  ``?hub.mode=subscribe&hub.challenge=<n>&hub.verify_token=<yours>``, unsigned. The verify token is its only
  credential: it is compared in constant time with the one the secret holds, and a match is answered 200 with the
  challenge as ``text/plain`` (``handshake``). Every GET is either answered or refused: none is ever identified or
  queued, and a POST always goes through the signature.

The secret is a JSON object ``{"app_secret": "...", "verify_token": "..."}`` (one secret holds both; both rotate
together, current then previous). A value that is not a JSON object is the App Secret alone: POSTs verify, and every
GET is refused (no verify token configured).

Delivery id: ``sha256:<hex of the signed body>``. Meta names no delivery: one POST can batch several ``entry[]``
with several ``changes[]`` (or ``messaging[]``) each, and a retry resends the same payload, so the body's hash makes a
retry a duplicate and two notifications distinct. Event type: ``<object>.<field>`` when every change of the batch has
the same field (``whatsapp_business_account.messages``, ``page.feed``, ``instagram.comments``; ``<object>.messaging``
for Messenger/Instagram ``messaging[]`` entries), ``<object>.mixed`` when the batch mixes fields, ``<object>`` when
it names none.
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
    Acknowledgement,
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
LEGACY_SIGNATURE_HEADER = "x-hub-signature"  # SHA-1: never checked, never forwarded
_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")
# What is echoed back: Meta's challenge is an integer; anything beyond a short token is refused, so the answer can
# never carry markup or a large reflected payload.
_CHALLENGE_FORMAT = re.compile(r"[0-9A-Za-z._~-]{1,256}")
SUBSCRIBE = "subscribe"


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta sends: ``sha256=`` and the lower-case hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(utf8(app_secret), body, hashlib.sha256).hexdigest()


def secret_field(candidate: SecretCandidate, name: str) -> str:
    """``app_secret`` or ``verify_token`` of a JSON secret ("" when absent or not a string); a value that is not a
    JSON object is the App Secret alone."""
    document = _json_object(candidate.value)
    if document is None:
        return candidate.value if name == "app_secret" else ""
    value = document.get(name)
    return value if isinstance(value, str) else ""


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return document if isinstance(document, dict) else None


def _parameter(request: WebhookRequest, name: str) -> str:
    """The query parameter's only value; "" when absent, blank or repeated (ambiguous)."""
    values = parse_qs(request.raw_query_string, keep_blank_values=True).get(name, [])
    return values[0] if len(values) == 1 else ""


def _verify_subscription(request: WebhookRequest, secrets: Iterable[SecretCandidate]) -> SecretCandidate:
    """The unsigned GET: the verify token is its credential. Never the POST checks."""
    if request.body:
        # Meta's verification has no body, and nothing would vouch for one.
        raise Rejected(Reason.SIGNATURE_MISMATCH, "a GET with a body")
    if _parameter(request, "hub.mode") != SUBSCRIBE:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "GET without hub.mode=subscribe")
    token = _parameter(request, "hub.verify_token")
    if not token:
        raise Rejected(Reason.MISSING_SIGNATURE, "GET without hub.verify_token")
    if not _CHALLENGE_FORMAT.fullmatch(_parameter(request, "hub.challenge")):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "GET without a usable hub.challenge")
    configured = False
    for candidate in secrets:
        expected = secret_field(candidate, "verify_token")
        if not expected:  # no token in this version: never compared, never matched
            continue
        configured = True
        if constant_time_equal(expected, token):
            return candidate
    raise Rejected(Reason.SIGNATURE_MISMATCH, "wrong verify token" if configured else "no verify token configured")


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    if request.method == "GET":
        return _verify_subscription(request, secrets)
    header = (request.header(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    match = _SIGNATURE_FORMAT.fullmatch(header)
    if not match:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected sha256=<64 hex digits>")
    received = match.group(1).lower()

    def matches(candidate: SecretCandidate) -> bool:
        app_secret = secret_field(candidate, "app_secret")
        # An empty App Secret (a JSON secret without one) is an HMAC key anyone has: never tried.
        return bool(app_secret) and constant_time_equal(sign(request.body, app_secret)[7:], received)

    return first_matching_secret(secrets, matches)


def handshake(request: WebhookRequest, matched_secret: SecretCandidate) -> Acknowledgement | None:
    """A verified GET is always answered (its challenge, as text): a GET is never a delivery."""
    if request.method != "GET":
        return None
    challenge = _parameter(request, "hub.challenge")
    if not _CHALLENGE_FORMAT.fullmatch(challenge):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "GET without a usable hub.challenge")
    return Acknowledgement(200, "text/plain", challenge)


def identify(request: WebhookRequest) -> DeliveryIdentity:
    if request.method != "POST":
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "only a POST is a notification")
    document = _document(request)
    fields = set()
    for entry in document["entry"]:
        if not isinstance(entry, dict):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "an entry is not an object")
        fields.update(_fields(entry))
    kind = document["object"]
    if not fields:
        event_type = kind
    elif len(fields) == 1:
        event_type = f"{kind}.{fields.pop()}"
    else:
        event_type = f"{kind}.mixed"
    delivery_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
    return DeliveryIdentity(delivery_id=delivery_id, event_type=event_type, delivery_id_signed=True)


def _document(request: WebhookRequest) -> dict[str, Any]:
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not a JSON object")
    kind, entries = document.get("object"), document.get("entry")
    if not isinstance(kind, str) or not kind or not isinstance(entries, list) or not entries:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body has no string object and entry list")
    return document


def _fields(entry: dict[str, Any]) -> set[str]:
    """The fields an entry reports: each ``changes[].field``, and ``messaging`` for a ``messaging[]`` entry."""
    found = set()
    changes = entry.get("changes")
    if isinstance(changes, list):
        for change in changes:
            field = change.get("field") if isinstance(change, dict) else None
            if isinstance(field, str) and field:
                found.add(field)
    messaging = entry.get("messaging")
    if isinstance(messaging, list) and messaging:
        found.add("messaging")
    return found


def acknowledge(identity: DeliveryIdentity) -> Acknowledgement:
    """Meta wants a fast ``200 OK``: an empty 200 once the notification is queued."""
    return Acknowledgement(200, "text/plain", "")


PROVIDER = Provider(
    name="meta",
    title="Meta",
    verify=verify,
    identify=identify,
    handshake=handshake,
    acknowledge=acknowledge,
    methods=("GET", "POST"),
    secret_format=SecretFormat(
        description='JSON {"app_secret": "<App Secret>", "verify_token": "<your verify token>"}: the App Secret '
        "(App settings > Basic) keys the POST signature, the verify token answers the GET verification",
        sample='{"app_secret": "sample-meta-app-secret-3f9c1a7e", "verify_token": "sample-meta-verify-token-58d2"}',
        wrong_sample='{"app_secret": "not-the-meta-app-secret-0b4d", "verify_token": "not-the-meta-verify-token-71"}',
    ),
    samples="webhook_gateway.verifiers.samples.meta",
    forwarded_headers=("content-type", "user-agent"),
    signature_headers=(SIGNATURE_HEADER,),
)
