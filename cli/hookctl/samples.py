"""Sample webhook deliveries of every provider, signed like the provider signs them: the generic machinery.

Each provider defines its signer and sample deliveries once, in the gateway's package
(``webhook_gateway/verifiers/samples/<name>.py``, named by its ``Provider``); this module reads them from the
registry (:func:`webhook_gateway.verifiers.registered_providers`). ``hookctl send`` POSTs them to a gateway,
``hookctl dev``/``demo`` seed the local secrets with :data:`SAMPLE_SECRETS`, and ``tools/make_events.py``
(``make events``) writes the ``events/`` files from them. Standard library only (the CLI's rule); the tests check
the signers against the providers' own SDKs (stripe-python, twilio-python) and official vectors.

* :data:`PROVIDERS`, :data:`KINDS` (provider -> its sample kinds), :data:`DEFAULT_KINDS`, :data:`SAMPLE_SECRETS`,
  :data:`WRONG_SECRETS`, :data:`FUNCTION_LOGICAL_IDS`: the registry as this module found it on import
  (:func:`provider_names` and :func:`kinds_of` read it again, for a provider registered later);
* :func:`sign_request` - a signed delivery (URL, lower-cased headers, raw body), optionally with another
  ``delivery_id`` (``--count`` sends distinct deliveries) and :func:`tamper` - the same delivery, forged;
* :func:`event_from_request` - the API Gateway HTTP API (payload format 2.0) event for it, built by
  :func:`http_api_event`, which the local gateway (``hookctl.local.gateway``) uses for real HTTP requests too.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from webhook_gateway.verifiers import load_provider, logical_name, registered_providers
from webhook_gateway.verifiers.base import Provider
from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples

# --------------------------------------------------------------------------------------------------------------------
# Where the sample events pretend to come from
# --------------------------------------------------------------------------------------------------------------------

API_ID = "abc123def4"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
DEFAULT_BASE_URL = f"https://{HOST}"
STAGE = "$default"

STRIPE_TOLERANCE_SECONDS = 300  # stripe-python's default, and the gateway's SIGNATURE_TOLERANCE_SECONDS default

# Reason codes (the values of webhook_gateway.verifiers.base.Reason; kept as strings so this tool needs no layer).
REASON_SIGNATURE_MISMATCH = "signature_mismatch"
REASON_TIMESTAMP_TOO_OLD = "timestamp_too_old"

# --------------------------------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """One webhook delivery exactly as the provider sends it: full URL, lower-cased headers and the raw body.

    ``headers`` are the provider's own headers (signature included); transport headers that a client or API Gateway
    adds (host, content-length, x-forwarded-*, x-amzn-trace-id) are not in it. ``sent_at`` is the delivery time.
    """

    provider: str
    kind: str
    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    source_ip: str
    sent_at: float
    method: str = "POST"
    # The id the gateway records the delivery under (its ledger key), as the provider's identify() names it: GitHub
    # ``<hook id>:<X-GitHub-Delivery>``, Stripe the event id, Twilio the signed resource SID (with its status). For a
    # batch provider (HubSpot: one request, several events) the first event's; ``delivery_ids`` names them all.
    delivery_id: str = ""
    # Every delivery the gateway records for this request, in order: one id, or one per event of a batch request.
    delivery_ids: tuple[str, ...] = ()

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        """``host[:port]`` as it appears in the Host header."""
        return urlsplit(self.url).netloc

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


# --------------------------------------------------------------------------------------------------------------------
# Deterministic sample identifiers
# --------------------------------------------------------------------------------------------------------------------


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode("utf-8")).digest()


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:length]


def _api_gateway_request_id(seed: str) -> str:
    """HTTP API request ids look like ``JKJaXmPLvHcESHA=`` (16 characters of base64)."""
    return base64.b64encode(_digest(f"apigw:{seed}")[:11]).decode("ascii")


# --------------------------------------------------------------------------------------------------------------------
# The providers (webhook_gateway.verifiers): names, secrets, sample kinds
# --------------------------------------------------------------------------------------------------------------------


def receiver_function_id(provider: str) -> str:
    """The SAM logical id of a provider's receiver function: ``<Name>ReceiverFunction`` (template.yaml)."""
    return f"{logical_name(provider)}ReceiverFunction"


def provider_names() -> tuple[str, ...]:
    """Every registered provider, read now (a provider registered after this module was imported included)."""
    return tuple(provider.name for provider in registered_providers())


def provider_samples(provider: str | Provider) -> Samples:
    """The provider's signer and sample deliveries (its ``Provider.samples`` module's ``SAMPLES``)."""
    spec = load_provider(provider) if isinstance(provider, str) else provider
    samples = getattr(importlib.import_module(spec.samples), "SAMPLES", None) if spec.samples else None
    if not isinstance(samples, Samples):
        raise ValueError(f"provider {spec.name!r} has no sample deliveries (Provider.samples)")
    return samples


def kinds_of(provider: str) -> tuple[str, ...]:
    """The provider's sample kinds, its default first."""
    return tuple(provider_samples(provider).kinds)


def delivery_kinds_of(provider: str) -> tuple[str, ...]:
    """The provider's sample kinds that are deliveries (queued and processed): all but its handshakes."""
    declared = provider_samples(provider)
    return tuple(kind for kind in declared.kinds if kind not in declared.handshakes)


def sample_secret(provider: str) -> str:
    """The provider's sample secret (``Provider.secret_format.sample``), read now; "" when it declares none."""
    return load_provider(provider).secret_format.sample


def new_delivery_id(provider: str) -> str:
    """A fresh, provider-shaped delivery id: a GUID (GitHub's X-GitHub-Delivery), a Stripe event id, a Twilio
    message SID..."""
    return provider_samples(provider).new_delivery_id()


PROVIDERS: tuple[str, ...] = provider_names()
FUNCTION_LOGICAL_IDS: dict[str, str] = {provider: receiver_function_id(provider) for provider in PROVIDERS}
# Sample secrets (plain strings). Never used outside local runs and tests; documented in events/README.md.
SAMPLE_SECRETS: dict[str, str] = {
    provider.name: provider.secret_format.sample for provider in registered_providers() if provider.secret_format.sample
}
# What the *_bad_signature files are signed with instead: a plausible secret, just not the configured one.
WRONG_SECRETS: dict[str, str] = {
    provider.name: provider.secret_format.wrong_sample
    for provider in registered_providers()
    if provider.secret_format.wrong_sample
}
KINDS: dict[str, tuple[str, ...]] = {
    provider.name: tuple(provider_samples(provider).kinds) for provider in registered_providers() if provider.samples
}
DEFAULT_KINDS: dict[str, str] = {provider: kinds[0] for provider, kinds in KINDS.items()}
# The kinds that are deliveries (no handshakes): what `send all` and the demo send.
DELIVERY_KINDS: dict[str, tuple[str, ...]] = {provider: delivery_kinds_of(provider) for provider in KINDS}


@cache
def _sample(provider: str, kind: str) -> SampleDelivery:
    """The unsigned sample (built once: ``send --count`` signs thousands of copies)."""
    builders = provider_samples(provider).kinds
    if kind not in builders:
        raise ValueError(f"unknown provider/kind {provider!r}/{kind!r}; known: {', '.join(builders)}")
    return builders[kind]()


def _gateway_delivery_ids(
    provider: str, url: str, headers: dict[str, str], body: bytes, method: str = "POST"
) -> tuple[str, ...]:
    """The ids the receiver records for this request, from the provider's own ``identify`` (empty if it refuses it,
    as for a handshake that is answered, never identified: Meta's GET verification): one, or one per part for a batch
    provider (``Provider.split``, each part identified on its own, as the receiver does)."""
    import dataclasses

    from webhook_gateway.verifiers.base import Rejected, WebhookRequest

    parts = urlsplit(url)
    request = WebhookRequest(
        body=body,
        headers=headers,
        method=method,
        scheme=parts.scheme,
        host=parts.netloc,
        raw_path=parts.path or "/",
        raw_query_string=parts.query,
    )
    spec = load_provider(provider)
    try:
        if spec.split is None:
            return (spec.identify(request).delivery_id,)
        return tuple(spec.identify(dataclasses.replace(request, body=part)).delivery_id for part in spec.split(request))
    except Rejected:
        return ()


# --------------------------------------------------------------------------------------------------------------------
# Signing (each provider's signer: webhook_gateway/verifiers/samples/<name>.py, checked against the SDKs by
# tests/unit/local/test_samples.py)
# --------------------------------------------------------------------------------------------------------------------


def route_method(provider: str) -> str:
    """The method of the provider's route in template.yaml: ``POST``, or ``ANY`` for a provider that also sends
    something else (Meta's GET verification; ``tests/contract/test_template.py`` checks the rows against this rule)."""
    return "POST" if load_provider(provider).methods == ("POST",) else "ANY"


def webhook_url(provider: str, base_url: str) -> str:
    """``<base_url>/webhooks/<provider>`` (the template's route for each provider)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/webhooks/{provider}"


def sign_request(
    provider: str,
    kind: str,
    *,
    secret: str | None = None,
    timestamp: float | None = None,
    base_url: str = DEFAULT_BASE_URL,
    body: bytes | None = None,
    delivery_id: str | None = None,
    url: str | None = None,
) -> SignedRequest:
    """A signed delivery of ``kind`` for ``provider``, addressed to ``<base_url>/webhooks/<provider>`` (or ``url``).

    ``secret`` defaults to the sample secret. ``timestamp`` is the delivery time in Unix seconds: a provider that
    signs it (Stripe) signs it (default: now); the others sign no time, so it only dates the event (default: a fixed
    sample time). ``body`` replaces the sample body (same content type); Twilio form bodies are re-parsed for signing.
    ``delivery_id`` replaces the sample's id where the provider carries it (GitHub's X-GitHub-Delivery, the Stripe
    event id, Twilio's idempotency token). Twilio signs the URL, so sign with the URL the request really goes to.
    """
    try:
        spec = load_provider(provider)
    except ValueError:
        raise ValueError(f"unknown provider {provider!r}; known: {provider_names()}") from None
    samples = provider_samples(spec)
    sample = _sample(provider, kind)
    if delivery_id is not None:
        sample = samples.with_delivery_id(sample, delivery_id)
    raw = sample.body if body is None else bytes(body)
    key = spec.secret_format.sample if secret is None else secret
    target = webhook_url(provider, base_url) if url is None else url
    if sample.query:  # a request the provider sends with a query of its own (Meta's GET verification)
        target += ("&" if urlsplit(target).query else "?") + sample.query
    default_time = time.time() if samples.signs_time else SAMPLE_DELIVERY_TIME
    sent_at = default_time if timestamp is None else timestamp
    signature = samples.sign(raw, target, sample.content_type, key, sent_at)
    if signature.body is not None:  # the provider stamped its signing time into the body (Linear)
        raw = signature.body
    headers = {**sample.headers, **signature.headers}
    ids = _gateway_delivery_ids(provider, signature.url, headers, raw, sample.method)

    return SignedRequest(
        provider=provider,
        kind=kind,
        url=signature.url,
        headers=dict(sorted(headers.items())),
        body=raw,
        source_ip=sample.source_ip,
        sent_at=float(sent_at),
        method=sample.method,
        delivery_id=ids[0] if ids else "",
        delivery_ids=ids,
    )


def tamper(request: SignedRequest) -> SignedRequest:
    """The same delivery with one byte added to its body after signing: what a forger without the secret can send.
    The gateway must answer 401 (``signature_mismatch``, or ``body_hash_mismatch`` for Twilio JSON bodies)."""
    return replace(request, body=request.body + b" ")


# --------------------------------------------------------------------------------------------------------------------
# API Gateway HTTP API (payload format 2.0) events
# --------------------------------------------------------------------------------------------------------------------


def api_gateway_sends_as_text(content_type: str) -> bool:
    """Whether HTTP API passes a body of this content type as text; anything else arrives base64-encoded
    (``isBase64Encoded: true``), form-urlencoded bodies included."""
    mime = content_type.split(";")[0].strip().lower()
    return (
        mime.startswith("text/")
        or mime in {"application/json", "application/xml", "application/javascript"}
        or mime.endswith(("+json", "+xml"))
    )


def api_gateway_time(time_epoch_ms: int) -> str:
    """``requestContext.time``: ``26/Nov/2026:18:42:17 +0000`` (English month names, whatever the locale)."""
    moment = datetime.fromtimestamp(time_epoch_ms // 1000, UTC)
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[moment.month - 1]
    return f"{moment:%d}/{month}/{moment:%Y:%H:%M:%S} +0000"


def http_api_event(
    *,
    method: str,
    raw_path: str,
    raw_query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
    time_epoch_ms: int,
    route_key: str,
    domain_name: str,
    api_id: str = API_ID,
    account_id: str = ACCOUNT_ID,
    stage: str = STAGE,
    protocol: str = "HTTP/1.1",
    base64_body: bool | None = None,
    cookies: list[str] | None = None,
    path_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway HTTP API hands a Lambda integration (payload format 2.0) for one request.

    ``headers`` must already be lower-cased and comma-joined (HTTP API does both). The body travels as text for
    text and JSON content types and base64-encoded otherwise (``base64_body`` forces either), and base64-encoded
    whenever it is not valid UTF-8, whatever its content type (text in a JSON event is Unicode).
    ``queryStringParameters`` holds the decoded values, repeated names comma-joined, and appears only when there is a
    query string.
    """
    content_type = headers.get("content-type", "")
    encode = not api_gateway_sends_as_text(content_type) if base64_body is None else base64_body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query_string,
    }
    if cookies:
        event["cookies"] = list(cookies)
    event["headers"] = dict(sorted(headers.items()))
    if raw_query_string:
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query_string, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": api_gateway_time(time_epoch_ms),
        "timeEpoch": time_epoch_ms,
    }
    if body and not encode:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:  # a JSON or text body that is not UTF-8 (Latin-1...): API Gateway base64-encodes it
            encode = True
    if body:
        event["body"] = base64.b64encode(body).decode("ascii") if encode else text
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = bool(body) and encode
    return event


def event_from_request(
    request: SignedRequest,
    *,
    seed: str | None = None,
    base64_body: bool | None = None,
) -> dict[str, Any]:
    """The HTTP API v2 event API Gateway delivers to the receiver Lambda for ``request``.

    ``seed`` makes the request id and trace id deterministic (default: provider and kind). ``base64_body`` forces the
    body encoding; by default it follows API Gateway (text and JSON as text, everything else base64).
    """
    parts = urlsplit(request.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    seed = seed or f"{request.provider}:{request.kind}"
    time_epoch_ms = int(round(request.sent_at * 1000)) + 412  # API Gateway receives it a moment after it was sent
    seconds = time_epoch_ms // 1000
    headers = dict(request.headers)
    headers.update(
        {
            "content-length": str(len(request.body)),
            "host": parts.netloc,
            "x-amzn-trace-id": f"Root=1-{seconds:08x}-{_hex(f'trace:{seed}', 24)}",
            "x-forwarded-for": request.source_ip,
            "x-forwarded-port": str(port),
            "x-forwarded-proto": parts.scheme,
        }
    )
    return http_api_event(
        method=request.method,
        raw_path=parts.path,
        raw_query_string=parts.query,
        headers=headers,
        body=request.body,
        source_ip=request.source_ip,
        request_id=_api_gateway_request_id(seed),
        time_epoch_ms=time_epoch_ms,
        route_key=f"{route_method(request.provider)} /webhooks/{request.provider}",
        domain_name=parts.hostname or "",
        base64_body=base64_body,
    )


def sign_and_build(
    provider: str,
    kind: str,
    *,
    secret: str | None = None,
    timestamp: float | None = None,
    base_url: str = DEFAULT_BASE_URL,
    body: bytes | None = None,
    seed: str | None = None,
) -> tuple[SignedRequest, dict[str, Any]]:
    """:func:`sign_request` and :func:`event_from_request` in one call: the HTTP request and its Lambda event."""
    request = sign_request(provider, kind, secret=secret, timestamp=timestamp, base_url=base_url, body=body)
    return request, event_from_request(request, seed=seed)


def build_event(
    provider: str,
    kind: str,
    *,
    secret: str | None = None,
    timestamp: float | None = None,
    base_url: str = DEFAULT_BASE_URL,
    body: bytes | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """A signed HTTP API v2 event for ``provider``/``kind`` (see :func:`sign_request` for the arguments)."""
    return sign_and_build(provider, kind, secret=secret, timestamp=timestamp, base_url=base_url, body=body, seed=seed)[
        1
    ]
