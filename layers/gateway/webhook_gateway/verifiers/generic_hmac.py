"""Generic HMAC: any sender that signs with a shared-secret HMAC, configured per deployment instead of in code.

Each deployed instance gets its options as a JSON object (``PROVIDER_OPTIONS``, from the template's Providers
mapping); :func:`configure` validates them once, at the function's init, and returns the provider they describe. A
bad option stops the function with a ``ValueError`` naming the option and what is wrong (never its value: someone
may have pasted a secret into the wrong field). Empty options, ``{}``, are the defaults: the module's ``PROVIDER``.

Options (docs/providers/generic_hmac.md has them all with worked examples):

* ``signature_header`` (``x-signature``), ``algorithm`` (``sha256``; or ``sha1``, ``sha512``), ``encoding``
  (``hex``, compared case-insensitively; or ``base64``, standard alphabet, padding optional), ``signature_prefix``
  (``""``; GitHub's ``sha256=``, Slack's ``v0=``).
* ``signed_payload`` (``{body}``): what the HMAC covers, a template of UTF-8 text around the placeholders ``{body}``
  (the raw body bytes, exactly once), ``{timestamp}`` (the ``timestamp_header`` value as sent) and ``{delivery_id}``
  (the ``delivery_id_header`` value as sent); ``{{`` and ``}}`` are literal braces. Slack: ``v0:{timestamp}:{body}``.
* ``timestamp_header`` (none) and ``timestamp_unit`` (``seconds`` or ``milliseconds``): a signed timestamp, checked
  against the policy's replay window (``SIGNATURE_TOLERANCE_SECONDS`` back, ``SIGNATURE_FUTURE_TOLERANCE_SECONDS``
  ahead) after the signature matched. The header and the ``{timestamp}`` placeholder come together: a timestamp the
  signature does not cover proves nothing, so it is refused as configuration rather than checked.
* Delivery id: ``delivery_id_header`` or ``delivery_id_pointer`` (RFC 6901, into the JSON body), else
  ``sha256:<hex SHA-256 of the body>``. ``delivery_id_signed`` is True when the signature covers the id: a pointer
  into the (signed) body, the body hash, or a header that ``signed_payload`` includes as ``{delivery_id}``.
* Event type: ``event_type_header``, ``event_type_pointer`` or the constant ``event_type``; default the constant
  ``webhook``.
* ``forwarded_headers``: extra request headers to keep in the envelope (``content-type``, ``user-agent`` and the
  configured timestamp, delivery id and event type headers always are; the signature header never is, except in
  ``signature_headers``, which a receiver keeps only with ``KEEP_SIGNATURE_HEADERS``).

As for every provider: the signature is compared in constant time with each secret candidate (current, then
previous: rotation), an empty secret never verifies, and anything unexpected is a :class:`Rejected`, never a pass.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from webhook_gateway.verifiers.base import (
    SIGNED_TIMESTAMP,
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
    require_fresh,
    utf8,
)

ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
TIMESTAMP_UNITS = ("seconds", "milliseconds")
PLACEHOLDERS = ("body", "timestamp", "delivery_id")
DEFAULT_EVENT_TYPE = "webhook"
ALWAYS_FORWARDED = ("content-type", "user-agent")
# An HTTP field name (RFC 9110 token), lower case: what WebhookRequest.headers holds.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]{1,128}")
# RFC 6901: "" or "/" followed by reference tokens in which "~" only ever starts "~0" or "~1". "" (the whole
# document) names no id, so a pointer here has at least one token.
_JSON_POINTER = re.compile(r"(/([^~/]|~[01])*)+")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
# Milliseconds since 1970 have 13 digits until 2286; 15 bound them as SIGNED_TIMESTAMP bounds seconds.
_SIGNED_MILLISECONDS = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class Options:
    """One instance's validated options; the defaults are the module's ``PROVIDER``."""

    signature_header: str = "x-signature"
    algorithm: str = "sha256"
    encoding: str = "hex"
    signature_prefix: str = ""
    signed_payload: str = "{body}"
    timestamp_header: str | None = None
    timestamp_unit: str = "seconds"
    delivery_id_header: str | None = None
    delivery_id_pointer: str | None = None
    event_type_header: str | None = None
    event_type_pointer: str | None = None
    event_type: str | None = None
    forwarded_headers: tuple[str, ...] = ()


DEFAULT_OPTIONS = Options()


# ------------------------------------------------------------------------------------------------------- options
def _text(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or not (value or empty):
        raise ValueError(f"{name}: must be a {'' if empty else 'non-empty '}string")
    return value


def _choice(options: Mapping[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = options.get(name, default)
    if value not in allowed:
        raise ValueError(f"{name}: must be one of {', '.join(allowed)}")
    return str(value)


def _header(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value.lower()):
        raise ValueError(f"{name}: must be an HTTP header name (letters, digits, '-' and the like)")
    return value.lower()


def _header_name(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    return None if value is None else _header(value, name)


def _pointer(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _JSON_POINTER.fullmatch(value):
        raise ValueError(f"{name}: must be a JSON pointer (RFC 6901) such as /id or /data/event_id")
    return value


def _one_source(options: Options, what: str, *names: str) -> None:
    given = [name for name in names if getattr(options, name) is not None]
    if len(given) > 1:
        raise ValueError(f"{what}: set only one of {', '.join(given)}")


def template_fields(template: str) -> list[str]:
    """The placeholders of ``signed_payload`` in order; ValueError for anything that is not a plain placeholder."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError("signed_payload: unbalanced braces (write {{ and }} for literal braces)") from None
    fields = []
    for _, field_name, format_spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in PLACEHOLDERS or format_spec or conversion:
            raise ValueError("signed_payload: placeholders are {body}, {timestamp} and {delivery_id} only")
        fields.append(field_name)
    if fields.count("body") != 1 or len(set(fields)) != len(fields):
        raise ValueError("signed_payload: must hold {body} exactly once, and each other placeholder at most once")
    return fields


def signs(options: Options, placeholder: str) -> bool:
    """Whether ``signed_payload`` covers the placeholder (``{{timestamp}}`` is literal text, not a placeholder)."""
    return placeholder in template_fields(options.signed_payload)


def _require_signed_headers(options: Options, fields: list[str]) -> None:
    if ("timestamp" in fields) != (options.timestamp_header is not None):
        raise ValueError("timestamp_header: set it exactly when signed_payload holds {timestamp}")
    if "delivery_id" in fields and options.delivery_id_header is None:
        raise ValueError("signed_payload: {delivery_id} needs delivery_id_header")


def _forwarded(options: Mapping[str, Any], signature_header: str) -> tuple[str, ...]:
    value = options.get("forwarded_headers", [])
    if not isinstance(value, list):
        raise ValueError("forwarded_headers: must be a list of HTTP header names")
    names = tuple(_header(name, "forwarded_headers") for name in value)
    if signature_header in names:
        raise ValueError("forwarded_headers: the signature header is never forwarded")
    return names


def parse_options(options: Mapping[str, Any]) -> Options:
    """Validated options; ValueError naming the first bad option (never echoing its value)."""
    unknown = sorted(set(options) - {field.name for field in dataclasses.fields(Options)})
    if unknown:
        raise ValueError(f"unknown options {unknown}")
    signature_header = _header(options.get("signature_header", DEFAULT_OPTIONS.signature_header), "signature_header")
    parsed = Options(
        signature_header=signature_header,
        algorithm=_choice(options, "algorithm", DEFAULT_OPTIONS.algorithm, ALGORITHMS),
        encoding=_choice(options, "encoding", DEFAULT_OPTIONS.encoding, ENCODINGS),
        signature_prefix=_text(options.get("signature_prefix", ""), "signature_prefix", empty=True),
        signed_payload=_text(options.get("signed_payload", DEFAULT_OPTIONS.signed_payload), "signed_payload"),
        timestamp_header=_header_name(options, "timestamp_header"),
        timestamp_unit=_choice(options, "timestamp_unit", DEFAULT_OPTIONS.timestamp_unit, TIMESTAMP_UNITS),
        delivery_id_header=_header_name(options, "delivery_id_header"),
        delivery_id_pointer=_pointer(options, "delivery_id_pointer"),
        event_type_header=_header_name(options, "event_type_header"),
        event_type_pointer=_pointer(options, "event_type_pointer"),
        event_type=None if options.get("event_type") is None else _text(options["event_type"], "event_type"),
        forwarded_headers=_forwarded(options, signature_header),
    )
    _require_signed_headers(parsed, template_fields(parsed.signed_payload))
    _one_source(parsed, "delivery id", "delivery_id_header", "delivery_id_pointer")
    _one_source(parsed, "event type", "event_type_header", "event_type_pointer", "event_type")
    return parsed


# --------------------------------------------------------------------------------------------------- signatures
def _digest_size(options: Options) -> int:
    return hashlib.new(options.algorithm).digest_size


def signature_format(options: Options) -> re.Pattern[str]:
    """What the header holds after the prefix: the digest's hex digits, or its base64 (padding optional)."""
    size = _digest_size(options)
    if options.encoding == "hex":
        return re.compile(f"[0-9a-fA-F]{{{2 * size}}}")
    unpadded = -(-4 * size // 3)
    return re.compile(f"[A-Za-z0-9+/]{{{unpadded}}}={{0,{-unpadded % 4}}}")


def signed_bytes(options: Options, body: bytes, values: Mapping[str, str]) -> bytes:
    """``signed_payload`` with its placeholders filled: the raw body as is, the header values as UTF-8."""
    parts = []
    for literal, field_name, _, _ in string.Formatter().parse(options.signed_payload):
        parts.append(utf8(literal))
        if field_name == "body":
            parts.append(body)
        elif field_name:
            parts.append(utf8(values[field_name]))
    return b"".join(parts)


def encoded_signature(options: Options, key: str, message: bytes) -> str:
    """The signature as the sender writes it after the prefix (hex lower case; base64 with its padding)."""
    digest = hmac.new(utf8(key), message, options.algorithm).digest()
    if options.encoding == "hex":
        return digest.hex()
    return base64.b64encode(digest).decode()


def _received_signature(options: Options, request: WebhookRequest) -> str:
    header = (request.header(options.signature_header) or "").strip()
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {options.signature_header} header")
    if not header.startswith(options.signature_prefix):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the signature does not start with its configured prefix")
    received = header[len(options.signature_prefix) :]
    if not signature_format(options).fullmatch(received):
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"expected the {options.algorithm} digest in {options.encoding}")
    # Hex in lower case; base64 with its padding, which some senders leave out (it carries no information).
    return received.lower() if options.encoding == "hex" else received + "=" * (-len(received) % 4)


def _signed_header_values(options: Options, request: WebhookRequest) -> dict[str, str]:
    """The header values the template signs (placeholder -> value as sent, blanks around it removed)."""
    values = {}
    for placeholder, name in (("timestamp", options.timestamp_header), ("delivery_id", options.delivery_id_header)):
        if name is None or not signs(options, placeholder):
            continue
        value = (request.header(name) or "").strip()
        if not value:
            raise Rejected(Reason.MISSING_SIGNATURE, f"no {name} header (it is signed)")
        values[placeholder] = value
    return values


def signed_time(options: Options, timestamp: str) -> int:
    """The signed timestamp in Unix seconds; MALFORMED_SIGNATURE unless it is digits of the configured unit."""
    pattern = _SIGNED_MILLISECONDS if options.timestamp_unit == "milliseconds" else SIGNED_TIMESTAMP
    if not pattern.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"the timestamp is not Unix {options.timestamp_unit}")
    return int(timestamp) // 1000 if options.timestamp_unit == "milliseconds" else int(timestamp)


def verify(
    options: Options, request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy
) -> SecretCandidate:
    received = _received_signature(options, request)
    values = _signed_header_values(options, request)
    timestamp = signed_time(options, values["timestamp"]) if "timestamp" in values else None
    message = signed_bytes(options, request.body, values)
    matched = first_matching_secret(
        secrets, lambda candidate: constant_time_equal(encoded_signature(options, candidate.value, message), received)
    )
    if timestamp is not None:
        require_fresh(timestamp, policy)
    return matched


# ------------------------------------------------------------------------------------------------------ identity
def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or UNPARSEABLE_PAYLOAD when the document has none there."""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and token in document:
            document = document[token]
        elif isinstance(document, list) and _ARRAY_INDEX.fullmatch(token) and int(token) < len(document):
            document = document[int(token)]
        else:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"the body has nothing at {pointer}")
    return document


def _json_body(request: WebhookRequest) -> Any:
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None


def _pointed_text(request: WebhookRequest, pointer: str) -> str:
    """A string, or an integer (many senders number their events), at the pointer; nothing else names a delivery."""
    value = resolve_pointer(_json_body(request), pointer)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"the body's {pointer} is not a non-empty string or an integer")
    return value


def _header_text(request: WebhookRequest, name: str) -> str:
    value = (request.header(name) or "").strip()
    if not value:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"no {name} header")
    return value


def _delivery_id(options: Options, request: WebhookRequest) -> tuple[str, bool]:
    if options.delivery_id_header is not None:
        signed = signs(options, "delivery_id")
        return _header_text(request, options.delivery_id_header), signed
    if options.delivery_id_pointer is not None:
        return _pointed_text(request, options.delivery_id_pointer), True
    return f"sha256:{hashlib.sha256(request.body).hexdigest()}", True


def _event_type(options: Options, request: WebhookRequest) -> str:
    if options.event_type_header is not None:
        return _header_text(request, options.event_type_header)
    if options.event_type_pointer is not None:
        return _pointed_text(request, options.event_type_pointer)
    return options.event_type or DEFAULT_EVENT_TYPE


def identify(options: Options, request: WebhookRequest) -> DeliveryIdentity:
    delivery_id, signed = _delivery_id(options, request)
    return DeliveryIdentity(delivery_id, _event_type(options, request), delivery_id_signed=signed)


# ------------------------------------------------------------------------------------------------------ provider
def forwarded_headers(options: Options) -> tuple[str, ...]:
    configured = (options.timestamp_header, options.delivery_id_header, options.event_type_header)
    names = (*ALWAYS_FORWARDED, *(name for name in configured if name), *options.forwarded_headers)
    return tuple(dict.fromkeys(name for name in names if name != options.signature_header))


def signature_headers(options: Options) -> tuple[str, ...]:
    """The configured signature header and the header of each placeholder ``signed_payload`` covers (a timestamp
    or delivery id header it does not sign is no part of the signature)."""
    signed = (
        name
        for placeholder, name in (("timestamp", options.timestamp_header), ("delivery_id", options.delivery_id_header))
        if name is not None and signs(options, placeholder)
    )
    return tuple(dict.fromkeys((options.signature_header, *signed)))


def provider(options: Options) -> Provider:
    """The provider these (validated) options describe."""
    return Provider(
        name="generic_hmac",
        title="Generic HMAC",
        verify=partial(verify, options),
        identify=partial(identify, options),
        forwarded_headers=forwarded_headers(options),
        signature_headers=signature_headers(options),
        secret_format=SecretFormat(
            description="the shared HMAC key the sender signs with, used as is (UTF-8) as the key",
            sample="sample-generic-hmac-secret",
            wrong_sample="not-the-generic-hmac-secret",
        ),
        samples="webhook_gateway.verifiers.samples.generic_hmac",
        configure=configure,
    )


def configure(options: Mapping[str, Any]) -> Provider:
    """The instance's options (``PROVIDER_OPTIONS``) -> its provider; the defaults (``{}``) are ``PROVIDER``."""
    parsed = parse_options(options)
    return PROVIDER if parsed == DEFAULT_OPTIONS else provider(parsed)


PROVIDER = provider(DEFAULT_OPTIONS)
