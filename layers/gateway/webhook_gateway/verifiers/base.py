"""The contract every provider verifier implements.

A provider module (``github.py``, ``stripe.py``, ...) exposes one ``PROVIDER: Provider`` built from two plain
functions:

* ``verify(request, secrets, policy) -> SecretCandidate``: checks the signature over the exact raw bytes, trying each
  secret candidate in order (current first, then previous), and returns the candidate that matched. It raises
  :class:`Rejected` with a :class:`Reason` on any failure and never anything else.
* ``identify(request) -> DeliveryIdentity``: after a valid signature, parses the body just enough to name the delivery
  (idempotency key and event type), from signed data wherever the provider signs one. It raises
  ``Rejected(Reason.UNPARSEABLE_PAYLOAD)`` when the body is not in the provider's format.

A provider that confirms its endpoint synchronously (Slack's ``url_verification``, Zoom's
``endpoint.url_validation``, Discord's PING, Meta's GET subscription check) adds one optional function:

* ``handshake(request, matched_secret) -> Acknowledgement | None``: called by the receiver after ``verify`` succeeded
  (``matched_secret`` is the candidate that verified, so an answer can be keyed with it, as Zoom's must) and before
  ``identify``. ``None``: not a handshake, the delivery goes on as usual. An :class:`Acknowledgement`: the answer, sent
  to the provider as is; nothing is queued. It may raise :class:`Rejected` (a handshake missing its challenge).

A provider whose one request carries several events (HubSpot's JSON array) declares ``split``:

* ``split(request) -> Sequence[bytes]``: called after ``verify`` (and a ``handshake`` that answered None), it returns
  the verified body's exact byte slices, one per event (:func:`json_array_parts` for a JSON array of objects). The
  receiver then runs ``identify`` once per part, on the request with that part as its body (so ``identify`` stays
  single-event), queues one envelope per part and answers 2xx only when every part is queued. It raises
  ``Rejected(Reason.UNPARSEABLE_PAYLOAD)`` for a body that is not the provider's batch format. ``None`` (the
  default): the whole request is one delivery, as it always was.

``methods`` lists the HTTP methods the provider sends (default ``("POST",)``); the receiver answers any other with
405 ``method_not_allowed`` before reading a secret. A provider whose handshake is a GET (Meta) declares
``("GET", "POST")`` and its own ``verify`` handles the GET, which carries no signature: it compares the token in the
query with the one its secret holds, in constant time (:func:`constant_time_equal`), refuses when no token is
configured (empty values are never tried, as in :func:`first_matching_secret`), and never runs the POST checks; its
``handshake`` then answers the challenge. The receiver stays the same for every provider.

Beside the two functions, the ``Provider`` declares what the rest of the gateway needs to know about it, so that nothing
else keeps a per-provider table: the request headers worth forwarding and those its signature needs
(``signature_headers``), its acknowledgement, how the consumer parses its body (:class:`BodyFormat`), what its secret
holds (:class:`SecretFormat`, with the sample secrets of local runs and tests) and where its sending side lives
(``samples``: the signer and sample deliveries of ``verifiers/samples/<name>.py``, imported only by the CLI, tools and
tests, never by a Lambda function).

One provider module can serve several deployed *instances* (one per sender: Standard Webhooks for OpenAI and for
Clerk, two GitHub organisations): the template names each instance and its kind (the module), and
:func:`provider_instance` renames the module's ``PROVIDER`` to the instance, so the instance's name is what envelopes,
metrics, logs and the ledger carry. A provider configured per deployment (Generic HMAC: which header, which
algorithm) sets ``configure``: the instance's options (a JSON object in the template) -> the configured provider.

Nothing here touches AWS or the environment, so verifiers are tested with plain values.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


class Reason(enum.StrEnum):
    """Why a delivery was rejected. The values are the public reason codes (logs, metrics, response bodies)."""

    MISSING_SIGNATURE = "missing_signature"
    MALFORMED_SIGNATURE = "malformed_signature"
    SIGNATURE_MISMATCH = "signature_mismatch"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    BODY_HASH_MISMATCH = "body_hash_mismatch"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNPARSEABLE_PAYLOAD = "unparseable_payload"
    SECRET_UNAVAILABLE = "secret_unavailable"
    SOURCE_IP_NOT_ALLOWED = "source_ip_not_allowed"
    # Checked by the receiver for every provider, after identify(): an id or event type that SQS attributes and the
    # ledger's sort key cannot carry (empty, too many UTF-8 bytes, control characters). Accepting it would queue a
    # delivery no consumer can record.
    INVALID_DELIVERY_ID = "invalid_delivery_id"
    INVALID_EVENT_TYPE = "invalid_event_type"
    # Checked by the receiver before anything else: an HTTP method the provider does not declare (Provider.methods).
    METHOD_NOT_ALLOWED = "method_not_allowed"


class Rejected(Exception):
    """A delivery that must not be enqueued. ``detail`` is for logs and must never hold a secret or the payload."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SecretCandidate:
    """One usable value of a provider secret. ``version`` is ``"current"`` or ``"previous"`` (rotation)."""

    version: Literal["current", "previous"]
    value: str = field(repr=False)


@dataclass(frozen=True)
class WebhookRequest:
    """An inbound HTTP request reduced to what verification needs: the exact raw body and lower-cased headers."""

    body: bytes = field(repr=False)
    headers: Mapping[str, str]
    method: str = "POST"
    scheme: str = "https"
    host: str = ""
    raw_path: str = "/"
    raw_query_string: str = ""
    source_ip: str = ""
    request_id: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def url(self) -> str:
        """The URL as the client requested it, rebuilt from the request (Twilio signs it)."""
        query = f"?{self.raw_query_string}" if self.raw_query_string else ""
        return f"{self.scheme}://{self.host}{self.raw_path}{query}"


@dataclass(frozen=True)
class VerificationPolicy:
    """Knobs a verifier may need. Time is injected so that replay windows are tested without sleeping."""

    now: float
    tolerance_seconds: int = 300
    future_tolerance_seconds: int = 60
    public_base_url: str | None = None


@dataclass(frozen=True)
class DeliveryIdentity:
    """What makes a delivery unique for its provider, and what kind of event it is.

    ``delivery_id_signed`` says whether the signature covers the delivery id (Stripe's event id is in the signed body,
    Twilio's resource SID is a signed parameter). When it does not (GitHub's ``X-GitHub-Delivery`` is a plain header),
    anyone holding one captured delivery can re-send its signed body under a new id, so the consumer also refuses a
    signed body it has already taken under another id (``ledger.claim_body``). False is the safe default: it costs
    one conditional write per delivery, never a replay.
    """

    delivery_id: str
    event_type: str
    delivery_id_signed: bool = False


@dataclass(frozen=True)
class Acknowledgement:
    """The HTTP answer a provider expects once its delivery is durably queued."""

    status: int
    content_type: str
    body: str


def json_acknowledgement(identity: DeliveryIdentity) -> Acknowledgement:
    """The default answer: 202 with the delivery id as JSON."""
    return _accepted_json(identity, 202)


def json_acknowledgement_200(identity: DeliveryIdentity) -> Acknowledgement:
    """The same JSON with 200, for providers that count only a 200 as delivered and retry a 202 (Zoom, Paddle,
    Linear)."""
    return _accepted_json(identity, 200)


def _accepted_json(identity: DeliveryIdentity, status: int) -> Acknowledgement:
    body = json.dumps({"status": "accepted", "delivery_id": identity.delivery_id}, separators=(",", ":"))
    return Acknowledgement(status, "application/json", body)


def no_handshake(request: WebhookRequest, matched_secret: SecretCandidate) -> Acknowledgement | None:
    """The default: the provider has no handshake, every verified request is a delivery."""
    return None


@dataclass(frozen=True)
class BodyFormat:
    """How the consumer parses the provider's raw body (``webhook_gateway.consumer.events.parse_body``).

    A forwarded content type decides first: form-urlencoded bodies become form fields, ``*json`` bodies JSON. Without
    one, ``untyped`` says what the provider sends: ``"form"`` (Twilio's webhooks) or ``"json"`` (a body that starts
    like a JSON object or array is parsed as JSON, anything else is left unparsed). ``form_json_field`` names the
    one field of a form that carries the JSON payload (GitHub's content type "form": ``payload=<json>``): such a form
    is unwrapped to that JSON, and an untyped body starting with ``<field>=`` is read as that form.
    """

    untyped: Literal["json", "form"] = "json"
    form_json_field: str | None = None


@dataclass(frozen=True)
class SecretFormat:
    """What the provider's secret (the value in Secrets Manager) holds, and the samples local runs and tests use.

    ``sample`` signs every sample delivery (``hookctl send``, ``hookctl dev``, ``events/``); ``wrong_sample`` is a
    plausible secret that is not the configured one (the ``*_bad_signature`` events). Neither is ever a real secret.
    """

    description: str = "the shared HMAC key, used as is"
    sample: str = field(default="", repr=False)
    wrong_sample: str = field(default="", repr=False)


@dataclass(frozen=True)
class Provider:
    name: str
    verify: Callable[[WebhookRequest, Iterable[SecretCandidate], VerificationPolicy], SecretCandidate]
    identify: Callable[[WebhookRequest], DeliveryIdentity]
    # The endpoint confirmation, if the provider has one (see the module docstring): the verified request and the
    # secret that verified it -> the answer, or None for a delivery.
    handshake: Callable[[WebhookRequest, SecretCandidate], Acknowledgement | None] = no_handshake
    # The HTTP methods the provider sends (upper case); the receiver answers any other with 405.
    methods: tuple[str, ...] = ("POST",)
    # Request headers worth keeping in the envelope for the consumer (lower-case); never the signature itself.
    forwarded_headers: tuple[str, ...] = ()
    # The request headers the provider's signature scheme needs besides the body (lower-case): the signature, and the
    # signed timestamp and id headers (some of which forwarded_headers keeps anyway). Kept in the envelope only by a
    # receiver with KEEP_SIGNATURE_HEADERS on (a stack with the listener tap: docs/local.md), so that code behind
    # `hookctl listen --forward-to` can verify the original signature. Never a secret itself (GitLab's
    # X-Gitlab-Token is the secret token, not a signature: never kept). tests/unit/verifiers/
    # test_signature_headers.py derives them from each provider's signed samples.
    signature_headers: tuple[str, ...] = ()
    acknowledge: Callable[[DeliveryIdentity], Acknowledgement] = json_acknowledgement
    # The provider's name as people write it (help texts): "GitHub". Empty: the name, capitalized.
    title: str = ""
    body_format: BodyFormat = BodyFormat()
    secret_format: SecretFormat = SecretFormat()
    # The module (dotted name) whose ``SAMPLES`` (``webhook_gateway.verifiers.samples.Samples``) signs and builds
    # the provider's sample deliveries; empty when there are none. A name, not an import: the Lambda functions never
    # load sample data.
    samples: str = ""
    # Per-deployment options (the instance's JSON object, PROVIDER_OPTIONS) -> the provider they configure; raises
    # ValueError naming what is wrong. None: the provider takes no options.
    configure: Callable[[Mapping[str, Any]], Provider] | None = None
    # A batch provider (one request, several events): the verified request -> its exact byte slices, one per event
    # (see the module docstring and json_array_parts). None: one delivery per request.
    split: Callable[[WebhookRequest], Sequence[bytes]] | None = None


def provider_instance(kind: Provider, name: str, options: Mapping[str, Any]) -> Provider:
    """``kind`` deployed as the instance ``name``, configured with ``options``; ValueError when they do not fit."""
    if kind.configure is not None:
        configured = kind.configure(options)
    elif options:
        raise ValueError(f"provider {kind.name!r} takes no options, got {sorted(options)}")
    else:
        configured = kind
    return configured if configured.name == name else dataclasses.replace(configured, name=name)


def public_url(request: WebhookRequest, policy: VerificationPolicy) -> str:
    """The URL the provider called, for providers that sign it (Twilio, Square, HubSpot): the request's own URL, or,
    behind a proxy or custom domain that changes the host, the configured public base URL (``PUBLIC_BASE_URL``)
    followed by the request's raw path and query string."""
    if not policy.public_base_url:
        return request.url
    query = f"?{request.raw_query_string}" if request.raw_query_string else ""
    return policy.public_base_url.rstrip("/") + request.raw_path + query


def utf8(text: str) -> bytes:
    """UTF-8 bytes of any str, never raising: a lone surrogate (JSON's ``"\\ud800"``) is encoded as is.

    Providers sign valid UTF-8, so such input only ever yields bytes no signature matches.
    """
    return text.encode("utf-8", "surrogatepass")


def constant_time_equal(expected: str | bytes, received: str | bytes) -> bool:
    """``hmac.compare_digest`` that never raises: str input (non-ASCII, lone surrogates) is compared as UTF-8."""
    if isinstance(expected, str):
        expected = utf8(expected)
    if isinstance(received, str):
        received = utf8(received)
    return hmac.compare_digest(expected, received)


def json_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """``raw`` parsed as a JSON object, or ``Rejected(UNPARSEABLE_PAYLOAD)`` naming ``what`` (never the content)."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"{what} is not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"{what} is not a JSON object")
    return document


def signed_body_identity(request: WebhookRequest, id_key: str, type_key: str) -> DeliveryIdentity:
    """The identity of a provider whose JSON body names its event with two string fields (Stripe ``id``/``type``,
    Square ``event_id``/``type``, Paddle ``event_id``/``event_type``); both are in the signed body."""
    document = json_object(request.body)
    event_id, event_type = document.get(id_key), document.get(type_key)
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body has no string {id_key} and {type_key}")
    return DeliveryIdentity(delivery_id=event_id, event_type=event_type, delivery_id_signed=True)


# A signed Unix timestamp: 1 to 12 ASCII digits (10 until 2286; int() of 4,301+ digits raises ValueError).
SIGNED_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def require_fresh(timestamp: float, policy: VerificationPolicy) -> None:
    """The replay window of providers that sign a timestamp; call it after the signature matched, so that these
    reasons only ever describe authentic but replayed or mis-clocked deliveries."""
    age = policy.now - timestamp
    if age > policy.tolerance_seconds:
        raise Rejected(Reason.TIMESTAMP_TOO_OLD, f"signed {int(age)} s ago, tolerance {policy.tolerance_seconds} s")
    if -age > policy.future_tolerance_seconds:
        raise Rejected(
            Reason.TIMESTAMP_IN_FUTURE, f"signed {int(-age)} s ahead, allowance {policy.future_tolerance_seconds} s"
        )


_V0_SIGNATURE = re.compile(r"v0=([0-9a-fA-F]{64})")


def v0_signature(body: bytes, secret: str, timestamp: str) -> str:
    """Slack's ``v0`` scheme, which Zoom uses too: hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` keyed with the
    secret as is (the digest the header carries after ``v0=``)."""
    return hmac.new(utf8(secret), b"v0:" + utf8(timestamp) + b":" + body, hashlib.sha256).hexdigest()


def verify_v0(
    request: WebhookRequest,
    secrets: Iterable[SecretCandidate],
    policy: VerificationPolicy,
    *,
    signature_header: str,
    timestamp_header: str,
) -> SecretCandidate:
    """Verify ``<signature_header>: v0=<hex>`` over ``v0:<timestamp_header>:<body>`` (:func:`v0_signature`), then the
    signed Unix-seconds timestamp's window; the reasons every provider on the scheme gives."""
    header = (request.header(signature_header) or "").strip()
    timestamp = (request.header(timestamp_header) or "").strip()
    if not header or not timestamp:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {signature_header} or {timestamp_header} header")
    match = _V0_SIGNATURE.fullmatch(header)
    if not match:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "expected v0=<64 hex digits>")
    if not SIGNED_TIMESTAMP.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the request timestamp is not 1-12 digits")
    received = match.group(1).lower()
    matched = first_matching_secret(
        secrets, lambda candidate: constant_time_equal(v0_signature(request.body, candidate.value, timestamp), received)
    )
    require_fresh(int(timestamp), policy)
    return matched


def first_matching_secret(
    secrets: Iterable[SecretCandidate], matches: Callable[[SecretCandidate], bool]
) -> SecretCandidate:
    """Return the first candidate the signature matches, or raise ``SIGNATURE_MISMATCH``.

    ``secrets`` may be lazy: the previous secret is only fetched when the current one does not match. An empty value
    (say, a previous version stored as ``""``) is never tried: an HMAC keyed with nothing is one anyone can compute.
    """
    for candidate in secrets:
        if candidate.value and matches(candidate):
            return candidate
    raise Rejected(Reason.SIGNATURE_MISMATCH)


_JSON_WHITESPACE = " \t\n\r"
_JSON_DECODER = json.JSONDecoder()


def json_array_parts(body: bytes) -> tuple[bytes, ...]:
    """The exact bytes of each element of a JSON array of objects, in order: ``b'[{"a":1}, {"b":2}]'`` ->
    ``(b'{"a":1}', b'{"b":2}')``.

    Each part is the element's own text, byte for byte (whitespace inside an element, escapes and non-ASCII kept as
    sent), so a hash of the part covers exactly what the provider sent for that event. Raises
    ``Rejected(Reason.UNPARSEABLE_PAYLOAD)`` for a body that is not UTF-8, not a JSON array, holds an element that is
    not an object, or is an empty array (no event: nothing to queue, and a 2xx means queued).
    """
    try:
        text = body.decode()  # UTF-8, strict (the default codec on every Python, whatever the locale)
    except UnicodeDecodeError:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not UTF-8") from None
    position = _skip_whitespace(text, 0)
    if text[position : position + 1] != "[":
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not a JSON array")
    position = _skip_whitespace(text, position + 1)
    if text[position : position + 1] == "]":
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is an empty JSON array")
    parts: list[bytes] = []
    while True:
        try:
            element, end = _JSON_DECODER.raw_decode(text, position)
        except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
            raise Rejected(
                Reason.UNPARSEABLE_PAYLOAD, f"element {len(parts)} is not JSON ({type(error).__name__})"
            ) from None
        if not isinstance(element, dict):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"element {len(parts)} is not a JSON object")
        parts.append(text[position:end].encode())  # back to UTF-8: valid UTF-8 round-trips byte for byte
        position = _skip_whitespace(text, end)
        separator = text[position : position + 1]
        if separator == "]":
            break
        if separator != ",":
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"expected , or ] after element {len(parts) - 1}")
        position = _skip_whitespace(text, position + 1)
    if _skip_whitespace(text, position + 1) != len(text):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "data after the JSON array")
    return tuple(parts)


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _JSON_WHITESPACE:
        position += 1
    return position
