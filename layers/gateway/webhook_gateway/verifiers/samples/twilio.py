"""Twilio's sending side: ``X-Twilio-Signature`` (base64 HMAC-SHA1 of the URL and the sorted form parameters; JSON
bodies: of the URL with ``bodySHA256`` added), and the sample deliveries ``sms_inbound`` (form) and ``json_body``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

from webhook_gateway.verifiers.samples import SampleDelivery, Samples, Signature, sample_hex, sample_uuid

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def form_params(body: bytes) -> dict[str, list[str]]:
    """Decoded form parameters of a Twilio form body; blank values count (Twilio signs ``name`` + ``""``)."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)):
        params.setdefault(name, []).append(value)
    return params


def url_with_body_hash(url: str, body: bytes) -> str:
    """The URL Twilio requests (and signs) for a JSON body: ``bodySHA256=<hex sha256 of the raw body>`` appended."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}bodySHA256={hashlib.sha256(body).hexdigest()}"


def signature(url: str, body: bytes, content_type: str, auth_token: str) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the Auth Token, of the URL followed by every form parameter
    (names sorted, each name's distinct values sorted) for form bodies, of the URL alone otherwise (a JSON body's
    hash is already in the URL), as twilio-python's ``RequestValidator.compute_signature``."""
    is_form = _is_form(content_type)
    params = form_params(body) if is_form else {}
    data = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _is_form(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """Form bodies: the URL as given and its parameters are signed. Any other body: Twilio requests (and signs) the
    URL with ``bodySHA256`` added. Twilio signs no time."""
    target = url if _is_form(content_type) else url_with_body_hash(url, body)
    return Signature(target, {"x-twilio-signature": signature(target, body, content_type, secret)})


def _sid(prefix: str, seed: str) -> str:
    return prefix + sample_hex(f"twilio:{prefix}:{seed}", 32)


_ACCOUNT_SID = _sid("AC", "account")
IDEMPOTENCY_HEADER = "i-twilio-idempotency-token"
_SOURCE_IP = "54.172.60.17"


def _headers(content_type: str, seed: str) -> dict[str, str]:
    return {
        "accept": "*/*",
        "cache-control": "max-age=259200",
        "content-type": content_type,
        IDEMPOTENCY_HEADER: sample_uuid(f"twilio:idempotency:{seed}"),
        "user-agent": "TwilioProxy/1.1",
        "x-home-region": "us1",
    }


def _sms_inbound() -> SampleDelivery:
    message_sid = _sid("SM", "inbound-sms")
    params = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", message_sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        # Spaces, '&', '+', '=' and an emoji: all of them are URL-encoded in the body but signed decoded.
        ("Body", "Where is order #1042? Tracking says A&B+C = late 📦"),
        ("FromCountry", "US"),
        ("To", "+14155550100"),
        ("MessagingServiceSid", _sid("MG", "messaging-service")),
        ("ToZip", "94107"),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", _ACCOUNT_SID),
        ("From", "+14155550199"),
        ("ApiVersion", "2010-04-01"),
    ]
    content_type = "application/x-www-form-urlencoded"
    return SampleDelivery(
        content_type=content_type,
        body=urlencode(params).encode("ascii"),
        headers=_headers(content_type, "inbound-sms"),
        source_ip=_SOURCE_IP,
    )


def _json_body() -> SampleDelivery:
    # A JSON webhook (Voice Intelligence "transcript available"): Twilio adds bodySHA256 to the URL it signs.
    body = {
        "account_sid": _ACCOUNT_SID,
        "service_sid": _sid("GA", "intelligence-service"),
        "transcript_sid": _sid("GT", "transcript"),
        "customer_key": "order-1042",
        "event_type": "voice_intelligence_transcript_available",
    }
    content_type = "application/json"
    return SampleDelivery(
        content_type=content_type,
        body=json.dumps(body, separators=(",", ":")).encode("utf-8"),
        headers=_headers(content_type, "json-body"),
        source_ip=_SOURCE_IP,
    )


def new_delivery_id() -> str:
    """A fresh message SID."""
    return "SM" + uuid.uuid4().hex


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The SID is a signed parameter (or field): it names the delivery; the idempotency token follows it."""
    headers = {**sample.headers, IDEMPOTENCY_HEADER: sample_uuid(f"twilio:idempotency:{delivery_id}")}
    return SampleDelivery(_body_with(sample, delivery_id), headers, sample.content_type, sample.source_ip)


def _body_with(sample: SampleDelivery, delivery_id: str) -> bytes:
    if sample.content_type.startswith("application/x-www-form-urlencoded"):
        sid_params = {"MessageSid", "SmsSid", "SmsMessageSid"}
        params = parse_qsl(sample.body.decode("ascii"), keep_blank_values=True)
        return urlencode([(name, delivery_id if name in sid_params else value) for name, value in params]).encode()
    document = json.loads(sample.body)
    document["transcript_sid"] = delivery_id
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


SAMPLES = Samples(
    sign=sign,
    kinds={"sms_inbound": _sms_inbound, "json_body": _json_body},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    event_file_names={"json_body": "twilio_json_body_sha256"},  # signed through the bodySHA256 query parameter
)
