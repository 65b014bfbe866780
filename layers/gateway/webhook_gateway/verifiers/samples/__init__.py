"""The sending side of each provider: how it signs a delivery and what its deliveries look like.

``verifiers/<name>.py`` is what the gateway does with a delivery; ``verifiers/samples/<name>.py`` is how the provider
sends one. Its ``SAMPLES`` (a :class:`Samples`, named by the provider's ``Provider.samples``) holds:

* ``sign(body, url, content_type, secret, time) -> Signature``: the URL the request goes to (Twilio adds
  ``bodySHA256`` for JSON bodies; for a sample with a ``query``, the URL already carries it, and Meta's signer adds
  the verify token of a GET verification), the signature headers and, for a provider whose signed time is in the
  body (Linear), the body stamped with that time, computed with the standard library as the provider documents it
  (the tests check each signer against the provider's SDK);
* ``kinds``: sample kind -> builder of the unsigned :class:`SampleDelivery` (body, headers, content type, source
  IP); the first kind is the provider's default;
* ``with_delivery_id(sample, delivery_id)``: the same sample as another delivery (``hookctl send --count``), and
  ``new_delivery_id()``: a fresh id shaped like the provider's.

``make events`` writes one file per kind into ``events/`` (``<provider>_<kind>.json``), plus
``<provider>_bad_signature.json`` (the default kind signed with the wrong sample secret) and, for a provider that
signs the time, ``<provider>_stale_timestamp.json`` (signed an hour before delivery).

``hookctl.samples`` turns these into signed requests and API Gateway events. Never imported by a Lambda function;
standard library only (the CLI's rule).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Delivery time of every sample whose provider signs no timestamp (GitHub, Twilio): fixed, so files never churn.
SAMPLE_DELIVERY_TIME = 1795718537  # 2026-11-26T18:42:17Z
# The HTTP API the samples are addressed to (hookctl.samples.DEFAULT_BASE_URL).
SAMPLE_BASE_URL = "https://abc123def4.execute-api.us-east-1.amazonaws.com"


@dataclass(frozen=True)
class SampleDelivery:
    """One delivery as the provider sends it before signing: raw body, lower-cased headers (no signature yet).

    ``method`` and ``query`` describe a request that is not a plain POST to the webhook URL: Meta's endpoint
    verification is a GET whose query (``hub.mode=subscribe&hub.challenge=...``) is added to the URL before signing
    (the signer may add its credential to it, as Meta's adds ``hub.verify_token``)."""

    body: bytes = field(repr=False)
    headers: Mapping[str, str]
    content_type: str
    source_ip: str
    method: str = "POST"
    query: str = ""


@dataclass(frozen=True)
class Signature:
    """What signing adds to a delivery: the URL to send it to, and the signature headers (lower-case). ``body``: the
    bytes to send instead of the given ones, for a provider that stamps its signing time into the signed body
    (Linear's ``webhookTimestamp``); None (the default): the body as given."""

    url: str
    headers: Mapping[str, str]
    body: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Samples:
    # (body, url, content type, secret, delivery time in Unix seconds) -> URL and signature headers
    sign: Callable[[bytes, str, str, str, float], Signature]
    kinds: Mapping[str, Callable[[], SampleDelivery]]
    with_delivery_id: Callable[[SampleDelivery, str], SampleDelivery]
    new_delivery_id: Callable[[], str]
    # Whether the signature covers the delivery time (Stripe): samples are then signed now by default, else at
    # SAMPLE_DELIVERY_TIME.
    signs_time: bool = False
    # Sample kinds that are endpoint confirmations (Slack's url_verification): answered by the receiver, never
    # queued, so `hookctl send all` and the demo, which count what gets processed, leave them out.
    handshakes: frozenset[str] = frozenset()
    # The signing time a provider that signs it (signs_time) put in a request's lower-cased headers (Stripe's t=,
    # Slack's timestamp header), or None: lets `make events --check` rebuild a time-signed file byte for byte.
    signature_time: Callable[[Mapping[str, str]], int | None] = lambda headers: None
    # Sample kind -> the name (without .json) of its file in events/, where it is not <provider>_<kind> (dots as _).
    event_file_names: Mapping[str, str] = field(default_factory=dict)


# Deterministic sample identifiers -------------------------------------------------------------------------------------


def sample_hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:length]


def sample_uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://example.invalid/webhook-gateway/{seed}"))


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
