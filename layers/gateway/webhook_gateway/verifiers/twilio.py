"""Twilio: ``X-Twilio-Signature``, base64 HMAC of the public URL followed by the sorted form parameters.

* Form bodies: for each parameter name in sorted order, each of its values sorted, ``name + value`` is appended to
  the URL. The key is the Auth Token and the hash SHA-1, unless ``X-Twilio-Webhooks-Signature-Settings`` names another
  algorithm (``HMAC_SHA256``), in which case the key is the Webhook Setting's shared key.
* JSON bodies: Twilio adds ``bodySHA256=<hex>`` to the URL and signs the URL alone; the body hash is checked too.
* Ports: like twilio-python, the URL is tried without its port and with the scheme's default port.

The secret's value is the Auth Token, or a JSON object ``{"auth_token": "...", "shared_key": "..."}`` when Webhook
Settings sign with a shared key. Twilio signs no timestamp, so there is no replay window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

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
    constant_time_equal,
    first_matching_secret,
    public_url,
    utf8,
)

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
IDEMPOTENCY_HEADER = "i-twilio-idempotency-token"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
_DEFAULT_PORTS = {"https": 443, "http": 80}

# (resource id parameter, status parameter, event type prefix), most specific first: a transcription callback also
# names its recording and call, a recording or conference callback its call.
_RESOURCE_KEYS = (
    ("TranscriptionSid", "TranscriptionStatus", "transcription"),
    ("RecordingSid", "RecordingStatus", "recording"),
    ("ConferenceSid", "StatusCallbackEvent", "conference"),
    ("MessageSid", "MessageStatus", "message"),
    ("SmsSid", "SmsStatus", "message"),
    ("CallSid", "CallStatus", "call"),
)


def compute_signature(url: str, params: Mapping[str, Sequence[str]], key: str, algorithm: str = "HMAC_SHA1") -> str:
    data = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(utf8(key), utf8(data), _ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL without its port and with the scheme's default port, as twilio-python accepts."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a Host header no URL can hold: it matches no signature anyway
        return [url]
    if port is not None:
        without_port = urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))
        return [url, without_port]
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    with_port = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default_port}")) if default_port and host else url
    return [url, with_port]


def _algorithm(settings_header: str | None) -> str:
    if not settings_header:
        return "HMAC_SHA1"
    for part in settings_header.split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            if algorithm not in _ALGORITHMS:
                raise Rejected(Reason.MALFORMED_SIGNATURE, "unsupported signature algorithm")
            return algorithm
    return "HMAC_SHA1"


def _signing_key(candidate: SecretCandidate, shared_key: bool) -> str | None:
    """The Auth Token (plain secret, or ``auth_token``), or the Webhook Setting's ``shared_key``."""
    document = _json_object(candidate.value)
    if document is None:  # a plain Auth Token (digits are valid JSON too, and one may even start with "{")
        return None if shared_key else candidate.value
    key = document.get("shared_key" if shared_key else "auth_token")
    # An empty key would be an HMAC key anyone has: it never verifies.
    return key if isinstance(key, str) and key else None


def _json_object(text: str) -> dict[str, object] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _form_params(request: WebhookRequest) -> dict[str, list[str]]:
    return parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)


def _is_form(request: WebhookRequest) -> bool:
    return (request.header("content-type") or "").lower().startswith(FORM_CONTENT_TYPE)


def verify(
    request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy
) -> SecretCandidate:
    signature = (request.header(SIGNATURE_HEADER) or "").strip()
    if not signature:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    algorithm = _algorithm(request.header(SETTINGS_HEADER))
    try:
        decoded = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(Reason.MALFORMED_SIGNATURE, "signature is not base64") from None
    if len(decoded) != _ALGORITHMS[algorithm]().digest_size:
        raise Rejected(Reason.MALFORMED_SIGNATURE, f"signature length does not fit {algorithm}")

    url = public_url(request, policy)
    body_hashes = parse_qs(request.raw_query_string).get("bodySHA256")
    if body_hashes:
        params: dict[str, list[str]] = {}
    elif _is_form(request):
        params = _form_params(request)
    elif request.body:
        # Without bodySHA256 a non-form body is covered by no signature: accepting it would let anyone swap it.
        raise Rejected(Reason.MALFORMED_SIGNATURE, "body is neither form-encoded nor covered by bodySHA256")
    else:
        params = {}

    candidates_urls = url_variants(url)
    shared_key = request.header(SETTINGS_HEADER) is not None

    def matches(candidate: SecretCandidate) -> bool:
        key = _signing_key(candidate, shared_key)
        if key is None:
            return False
        results = [
            constant_time_equal(compute_signature(variant, params, key, algorithm), signature)
            for variant in candidates_urls
        ]
        return any(results)

    matched = first_matching_secret(secrets, matches)
    if body_hashes:
        actual = hashlib.sha256(request.body).hexdigest()
        if not constant_time_equal(actual, body_hashes[0].lower()):
            raise Rejected(Reason.BODY_HASH_MISMATCH, "bodySHA256 in the signed URL does not match the body")
    return matched


def identify(request: WebhookRequest) -> DeliveryIdentity:
    """Name the delivery from what Twilio signed, never from ``I-Twilio-Idempotency-Token``.

    The token is a plain header: a captured request re-sent under a new token would run the handler again. The
    resource SID with its status (a form parameter or a JSON field, both signed) names one callback; a conference
    event adds ``SequenceNumber`` (one conference sends many ``participant-join``). Without a SID, the signed content
    itself (path, query and body) is the id: Twilio's retries repeat it byte for byte.
    """
    fields = _identity_fields(request)
    for sid_key, status_key, prefix in _RESOURCE_KEYS:
        sid = _first(fields.get(sid_key))
        if not sid:
            continue
        status = _first(fields.get(status_key))
        parts = [sid, status, _first(fields.get("SequenceNumber"))] if prefix == "conference" else [sid, status]
        return DeliveryIdentity(
            delivery_id=":".join(part for part in parts if part),
            event_type=f"{prefix}.{status.lower()}" if status else prefix,
            delivery_id_signed=True,
        )
    # surrogatepass: a JSON event can carry lone surrogates in the path, and they must hash, not raise.
    signed_target = f"{request.raw_path}?{request.raw_query_string}\n".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(signed_target + request.body).hexdigest()
    return DeliveryIdentity(delivery_id=f"sha256:{digest[:40]}", event_type="webhook", delivery_id_signed=True)


def _identity_fields(request: WebhookRequest) -> Mapping[str, object]:
    if _is_form(request):
        return _form_params(request)
    if not request.body:
        return {}
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(
            Reason.UNPARSEABLE_PAYLOAD, f"body is neither a form nor JSON ({type(error).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "JSON body is not an object")
    return document


def _first(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def acknowledge(identity: DeliveryIdentity) -> Acknowledgement:
    """Twilio reads the answer as TwiML: an empty ``<Response/>`` means "no reply message"."""
    return Acknowledgement(200, "text/xml", EMPTY_TWIML)


PROVIDER = Provider(
    name="twilio",
    title="Twilio",
    verify=verify,
    identify=identify,
    # Twilio's webhooks are form-encoded unless they say otherwise (JSON bodies carry their content type).
    body_format=BodyFormat(untyped="form"),
    secret_format=SecretFormat(
        description='the Auth Token, or {"auth_token": "...", "shared_key": "..."} when Webhook Settings sign '
        "with a shared key",
        sample="sample_twilio_auth_token_0123456789",
        wrong_sample="not_the_twilio_auth_token_98765432",
    ),
    samples="webhook_gateway.verifiers.samples.twilio",
    acknowledge=acknowledge,
    forwarded_headers=(IDEMPOTENCY_HEADER, "content-type", "user-agent", SETTINGS_HEADER),
    # SETTINGS_HEADER (a shared-key signature's algorithm) is in forwarded_headers already.
    signature_headers=(SIGNATURE_HEADER,),
)
