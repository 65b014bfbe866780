"""Discord interactions (an application's Interactions Endpoint URL): ``X-Signature-Ed25519`` (hex, 64 bytes) is an
Ed25519 signature of ``X-Signature-Timestamp + raw body``, checked with the application's **public** key (hex, 32
bytes), the value the secret holds (current, then previous: both verify during a change of key).

Ed25519 is the RFC 8032 verification of ``standard_webhooks.py`` (``ed25519_verify``, standard library only, about
1.5 ms a check), imported from there rather than copied. A key that is no usable Ed25519 public key (not 64 hex
digits, no point on the curve, or a point of small order, which libsodium refuses too: anyone can sign for it)
verifies nothing: a forgery stays a 401 whatever the configuration, and the log says which secret to fix.

The signature is checked before the timestamp (as for Slack and Stripe). Discord documents no window, but it signs
the timestamp (Unix seconds), so the gateway's replay window applies: a captured interaction cannot be replayed
later.

A signed PING (``{"type": 1}``, Discord's check of the URL, also repeated at random with deliberately invalid
signatures, which must get 401) is answered ``{"type": 1}`` and never queued (``handshake``). Every other
interaction is queued under its ``id`` (a snowflake, in the signed body: a retry is a duplicate, two interactions
are distinct) and answered at once with a deferral, so that the consumer's handler follows up through the
interaction webhook within the token's 15 minutes:

=================================  =====================================  =================================
interaction ``type``               event type                             answer
=================================  =====================================  =================================
2 APPLICATION_COMMAND              ``application_command.<data.name>``    ``{"type": 5}`` deferred message
3 MESSAGE_COMPONENT                ``message_component``                  ``{"type": 6}`` deferred update
4 APPLICATION_COMMAND_AUTOCOMPLETE ``autocomplete``                       ``{"type": 8}`` with no choices
5 MODAL_SUBMIT                     ``modal_submit``                       ``{"type": 5}`` deferred message
=================================  =====================================  =================================

Autocomplete cannot be deferred (its only answer is the choices); a queue-first gateway answers an empty list
(docs/providers/discord.md).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from webhook_gateway.verifiers.base import (
    SIGNED_TIMESTAMP,
    Acknowledgement,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    require_fresh,
    utf8,
)
from webhook_gateway.verifiers.standard_webhooks import P, decode_point, ed25519_verify, edwards_double

SIGNATURE_HEADER = "x-signature-ed25519"
TIMESTAMP_HEADER = "x-signature-timestamp"
_SIGNATURE_FORMAT = re.compile(r"[0-9a-fA-F]{128}")
_PUBLIC_KEY_FORMAT = re.compile(r"[0-9a-fA-F]{64}")
# A snowflake: a 64-bit integer in decimal.
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")

PING = 1
# Interaction type -> event type (application commands add ".<command name>"). A PING is answered by handshake()
# and never reaches identify() in the receiver; it is named all the same, as any verified interaction.
EVENT_TYPES = {1: "ping", 2: "application_command", 3: "message_component", 4: "autocomplete", 5: "modal_submit"}
# Interaction response types (Discord's "interaction callback type").
PONG = 1
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8


@functools.lru_cache(maxsize=8)
def public_key(secret: str) -> bytes | None:
    """The Ed25519 public key a configured secret holds (64 hex digits, surrounding blanks ignored), or None when it
    holds none: not 64 hex digits, no point on the curve, or a point of small order ([8]A is the neutral point)."""
    value = secret.strip()
    if not _PUBLIC_KEY_FORMAT.fullmatch(value):
        return None
    key = bytes.fromhex(value)
    point = decode_point(key)
    if point is None:
        return None
    for _ in range(3):
        point = edwards_double(point)
    x, y, z, _ = point
    if x % P == 0 and (y - z) % P == 0:
        return None
    return key


def signed_message(timestamp: str, body: bytes) -> bytes:
    return utf8(timestamp) + body


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    signature = (request.header(SIGNATURE_HEADER) or "").strip()
    timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not signature or not timestamp:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not _SIGNATURE_FORMAT.fullmatch(signature):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected 128 hex digits")
    if not SIGNED_TIMESTAMP.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the signature timestamp is not 1-12 digits")
    message = signed_message(timestamp, request.body)
    raw = bytes.fromhex(signature)
    unusable = []
    for candidate in secrets:  # lazily: the previous secret is only fetched when the current one does not match
        if not candidate.value:
            continue  # "" is no secret (first_matching_secret)
        key = public_key(candidate.value)
        if key is None:
            unusable.append(candidate.version)
        elif ed25519_verify(key, message, raw):
            require_fresh(int(timestamp), policy)
            return candidate
    # The detail names the secret to fix, never its value.
    detail = f"the {' and '.join(unusable)} secret is no Ed25519 public key (64 hex digits)" if unusable else ""
    raise Rejected(Reason.SIGNATURE_MISMATCH, detail)


def _document(request: WebhookRequest) -> dict[str, Any] | None:
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return document if isinstance(document, dict) else None


def _interaction_type(document: dict[str, Any]) -> int | None:
    kind = document.get("type")
    return kind if type(kind) is int else None  # never a bool: JSON's true is no interaction type


def _answer(document: dict[str, Any]) -> Acknowledgement:
    """An interaction response: 200, compact JSON (as Discord's examples)."""
    return Acknowledgement(200, "application/json", json.dumps(document, separators=(",", ":")))


def handshake(request: WebhookRequest, matched_secret: SecretCandidate) -> Acknowledgement | None:
    """A signed PING: answer PONG. Anything else is a delivery (or a body identify() refuses)."""
    document = _document(request)
    if document is None or _interaction_type(document) != PING:
        return None
    return _answer({"type": PONG})


def identify(request: WebhookRequest) -> DeliveryIdentity:
    document = _document(request)
    if document is None:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not a JSON object")
    event_type = EVENT_TYPES.get(_interaction_type(document) or 0)
    if event_type is None:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no interaction type 1-5")
    interaction_id = document.get("id")
    if not isinstance(interaction_id, str) or not _SNOWFLAKE.fullmatch(interaction_id):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no snowflake id")
    if event_type == "application_command":
        data = document.get("data")
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and name:
            event_type = f"application_command.{name}"
    return DeliveryIdentity(interaction_id, event_type, delivery_id_signed=True)


def acknowledge(identity: DeliveryIdentity) -> Acknowledgement:
    """The deferral of the interaction's kind (module docstring); a deferred message for anything else."""
    answer: dict[str, Any] = {"type": DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
    if identity.event_type == "ping":
        answer = {"type": PONG}
    elif identity.event_type == "message_component":
        answer = {"type": DEFERRED_UPDATE_MESSAGE}
    elif identity.event_type == "autocomplete":
        answer = {"type": APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, "data": {"choices": []}}
    return _answer(answer)


PROVIDER = Provider(
    name="discord",
    title="Discord",
    verify=verify,
    identify=identify,
    handshake=handshake,
    acknowledge=acknowledge,
    secret_format=SecretFormat(
        description="the application's Public Key (64 hex digits, Developer Portal > General Information), which "
        "verifies the Ed25519 signatures; never the bot token or the client secret",
        sample="a4a2271be9859bd7fbee29a1386b26b5a6c9dbfeb8e67bf5f6539bf241314c7f",
        wrong_sample="634fb307a43c46f5516a05d704bf3835c2d0456d7480339c6aa7411b7da4a39a",
    ),
    samples="webhook_gateway.verifiers.samples.discord",
    forwarded_headers=("content-type", "user-agent", "x-signature-timestamp"),
    signature_headers=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
)
