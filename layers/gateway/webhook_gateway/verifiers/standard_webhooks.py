"""Standard Webhooks (https://www.standardwebhooks.com, the scheme of Svix and of OpenAI, Clerk, Resend, GitLab's
signing token...): ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers (Svix's ``svix-id``,
``svix-timestamp``, ``svix-signature`` are accepted too), the signed content ``f"{id}.{timestamp}.{raw body}"``.

The signature header is a space-separated list of ``<version>,<base64>`` entries (a sender rotating its key signs
with each active key): any entry that matches verifies. Two versions exist:

* ``v1``: HMAC-SHA256 of the signed content, keyed with the base64-decoded part of the ``whsec_<base64>`` secret (a
  secret without the prefix is read as base64, as the ``standardwebhooks`` and ``svix`` libraries read it);
* ``v1a``: Ed25519 over the signed content (64-byte signature), checked with the sender's public key
  ``whpk_<base64 of 32 bytes>``, by the RFC 8032 verification below (standard library only).

A secret of one type verifies only entries of its version; entries of an unknown version are ignored, and a header
with no usable entry at all is ``malformed_signature``. The signature is checked before the timestamp (as for
Stripe and Slack), so the timestamp reasons only ever describe authentic but replayed or mis-clocked deliveries.

``webhook-id`` is signed and, by the spec, the same on every retry: it is the delivery id. The event type is the
JSON body's ``type`` (OpenAI, Clerk, Resend and the spec's payload all carry one), ``""`` when the body is JSON
without a string ``type``; a body that is not JSON is ``unparseable_payload`` (the spec's payloads are JSON).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Iterable

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
    require_fresh,
    utf8,
)

# The spec's names, then Svix's: when a request carries both sets, the webhook-* one is read (never a mix of the two).
HEADER_SETS = (
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ("svix-id", "svix-timestamp", "svix-signature"),
)
# The set a delivery may lack (Provider.signature_headers keeps both sets; a sender uses one).
OPTIONAL_SIGNATURE_HEADERS = HEADER_SETS[1]
SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
# Signature version -> length of its decoded signature.
SIGNATURE_BYTES = {"v1": 32, "v1a": 64}
# A rotating sender signs with each of its active keys (two, three): more entries than this is no sender's header.
# It bounds the work one request can ask for: an Ed25519 check costs about 1.5 ms (docs/providers/
# standard_webhooks.md), so a forgery to a v1a instance costs at most 8 entries x 2 keys of them.
MAX_SIGNATURES = 8


def _base64(text: str) -> bytes | None:
    """Standard base64 (with its padding) as the libraries write it, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def _unpadded_base64(text: str) -> bytes | None:
    """Base64 with or without its ``=`` padding, as the libraries read a secret (they append ``==``), or None."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return utf8(message_id) + b"." + utf8(timestamp) + b"." + body


def sign(message_id: str, timestamp: str, body: bytes, key: bytes) -> str:
    """The base64 v1 signature (what follows ``v1,``) keyed with the decoded secret."""
    digest = hmac.new(key, signed_content(message_id, timestamp, body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def secret_key(secret: str) -> tuple[str, bytes] | None:
    """The signature version a configured secret verifies and its key bytes, or None when it is no usable key:
    ``whsec_<base64>`` (or bare base64) -> ``("v1", HMAC key)``, ``whpk_<base64>`` -> ``("v1a", public key)``.
    A ``whsk_`` value (the sender's private signing key, which has no place here) is no base64: it verifies
    nothing."""
    value = secret.strip()
    if value.startswith(PUBLIC_KEY_PREFIX):
        public = _unpadded_base64(value.removeprefix(PUBLIC_KEY_PREFIX))
        return ("v1a", public) if public is not None and len(public) == 32 else None
    key = _unpadded_base64(value.removeprefix(SECRET_PREFIX))
    return ("v1", key) if key else None


def _signature_headers(request: WebhookRequest) -> tuple[str, str, str]:
    """The id, timestamp and signature: of the webhook-* set when any of its headers is present, else of svix-*."""
    names = HEADER_SETS[0] if any(request.header(name) is not None for name in HEADER_SETS[0]) else HEADER_SETS[1]
    message_id, timestamp, signature = ((request.header(name) or "").strip() for name in names)
    return message_id, timestamp, signature


def _signatures(header: str) -> list[tuple[str, bytes]]:
    """The usable ``(version, signature)`` entries of a signature header."""
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"more than {MAX_SIGNATURES} signature entries")
    usable = []
    for entry in entries:
        version, _, encoded = entry.partition(",")
        signature = _base64(encoded)
        if signature is not None and len(signature) == SIGNATURE_BYTES.get(version):
            usable.append((version, signature))
    if not usable:
        raise Rejected(Reason.MALFORMED_SIGNATURE, "no v1,<base64 of 32 bytes> or v1a,<base64 of 64 bytes> entry")
    return usable


def _matches(version: str, key: bytes, content: bytes, signatures: list[tuple[str, bytes]]) -> bool:
    candidates = [signature for entry_version, signature in signatures if entry_version == version]
    if version == "v1":
        expected = hmac.new(key, content, hashlib.sha256).digest()
        return any(hmac.compare_digest(expected, signature) for signature in candidates)
    return any(ed25519_verify(key, content, signature) for signature in candidates)


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    message_id, timestamp, header = _signature_headers(request)
    if not message_id or not timestamp or not header:
        raise Rejected(Reason.MISSING_SIGNATURE, "no id, timestamp and signature headers (webhook-* or svix-*)")
    if not SIGNED_TIMESTAMP.fullmatch(timestamp):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "the webhook timestamp is not 1-12 digits")
    signatures = _signatures(header)
    content = signed_content(message_id, timestamp, request.body)
    unusable = []
    for candidate in secrets:  # lazily: the previous secret is only fetched when the current one does not match
        if not candidate.value:
            continue  # "" is no secret (first_matching_secret): an HMAC keyed with nothing anyone can compute
        key = secret_key(candidate.value)
        if key is None:
            unusable.append(candidate.version)
        elif _matches(*key, content, signatures):
            require_fresh(int(timestamp), policy)
            return candidate
    # A secret that is no key verifies nothing (a forgery must stay a 401, whatever the configuration); the detail
    # tells the operator which one to fix, never its value.
    detail = f"the {' and '.join(unusable)} secret is no whsec_ or whpk_ key" if unusable else ""
    raise Rejected(Reason.SIGNATURE_MISMATCH, detail)


def identify(request: WebhookRequest) -> DeliveryIdentity:
    message_id, _, _ = _signature_headers(request)
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None
    event_type = document.get("type") if isinstance(document, dict) else None
    return DeliveryIdentity(
        delivery_id=message_id,
        event_type=event_type if isinstance(event_type, str) else "",
        delivery_id_signed=True,
    )


# Ed25519 verification, RFC 8032 section 5.1 (standard library only) ---------------------------------------------------
# Points are extended homogeneous coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z, on -x^2 + y^2 = 1 + d x^2 y^2
# over GF(P). Only public data is ever computed on (a public key, a signature, a message), so nothing here needs to
# run in constant time.

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
D = -121665 * pow(121666, P - 2, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]


def edwards_add(first: Point, second: Point) -> Point:
    """RFC 8032 5.1.4's addition (add-2008-hwcd-3); complete: it also doubles, and adds the neutral element."""
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def edwards_double(point: Point) -> Point:
    """RFC 8032 5.1.4's doubling (dbl-2008-hwcd): cheaper than adding a point to itself."""
    x1, y1, z1, _ = point
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def decode_point(encoded: bytes) -> Point | None:
    """RFC 8032 5.1.3: the point a 32-byte encoding names, or None when it names none (y >= p, no square root,
    or x = 0 with the sign bit set)."""
    if len(encoded) != 32:
        return None
    number = int.from_bytes(encoded, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P != u:
        if v * x * x % P != P - u:
            return None
        x = x * SQRT_MINUS_ONE % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def encode_point(point: Point) -> bytes:
    """RFC 8032 5.1.2: y, little-endian, with the parity of x in the top bit."""
    x, y, z, _ = point
    inverse = pow(z, -1, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960  # 4/5
BASE: Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % P)
NEUTRAL: Point = (0, 1, 1, 0)


WINDOW_BITS = 4


def multiples(point: Point) -> tuple[Point, ...]:
    """``[0]point, [1]point, ..., [15]point``: the table of a 4-bit window."""
    table = [NEUTRAL, point]
    while len(table) < 1 << WINDOW_BITS:
        table.append(edwards_add(table[-1], point))
    return tuple(table)


BASE_MULTIPLES = multiples(BASE)


@functools.lru_cache(maxsize=8)
def _negated_key_multiples(public_key: bytes) -> tuple[Point, ...] | None:
    """The window table of -A for a public key (a configured secret: the same few keys on every delivery), or None
    when its encoding names no point."""
    point = decode_point(public_key)
    if point is None:
        return None
    x, y, z, t = point
    return multiples((-x % P, y, z, -t % P))


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 5.1.7 with the cofactorless equation ``[S]B = R + [k]A`` (what OpenSSL and libsodium check).

    Refuses a signature whose S is not below L (malleability) and a public key whose encoding names no point. R is
    compared by its encoding: ``[S]B + [k](-A)`` is computed (Straus, 4-bit windows over S and k at once) and encoded,
    and an encoding is always canonical, so an R that names no point, or names one non-canonically (y >= p), never
    equals it: the same verdict as decoding R first, without the cost of a square root.
    """
    negated_key = _negated_key_multiples(public_key)
    scalar = int.from_bytes(signature[32:], "little")
    if len(signature) != 64 or negated_key is None or scalar >= L:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % L
    total = NEUTRAL
    for shift in range(252, -1, -WINDOW_BITS):  # S and k are below L < 2^253: windows at bits 252, 248, ..., 0
        for _ in range(WINDOW_BITS):
            total = edwards_double(total)
        digit, key_digit = scalar >> shift & 15, k >> shift & 15
        if digit:
            total = edwards_add(total, BASE_MULTIPLES[digit])
        if key_digit:
            total = edwards_add(total, negated_key[key_digit])
    return encode_point(total) == signature[:32]


PROVIDER = Provider(
    name="standard_webhooks",
    title="Standard Webhooks",
    verify=verify,
    identify=identify,
    secret_format=SecretFormat(
        description="the endpoint's signing secret whsec_<base64> (v1: its base64-decoded part is the HMAC-SHA256 "
        "key; a value without the prefix is read as base64), or the sender's Ed25519 public key whpk_<base64> (v1a)",
        sample="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        wrong_sample="whsec_c2FtcGxlLW5vdC10aGUtY29uZmlndXJlZC1rZXk=",
    ),
    samples="webhook_gateway.verifiers.samples.standard_webhooks",
    forwarded_headers=("content-type", "user-agent", "webhook-timestamp", "svix-timestamp"),
    # Both sets; a delivery carries one (OPTIONAL_SIGNATURE_HEADERS: Svix's, which the samples do not send).
    signature_headers=(*HEADER_SETS[0], *HEADER_SETS[1]),
)
