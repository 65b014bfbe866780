"""Sample webhook deliveries of every provider, signed like the provider signs them: the one implementation.

``hookctl send`` POSTs them to a gateway, ``hookctl dev``/``demo`` seed the local secrets with :data:`SAMPLE_SECRETS`,
and ``tools/make_events.py`` (``make events``) writes the ``events/`` files from them. Standard library only (the
CLI's rule): signatures are computed with ``hmac`` exactly as the providers document them; the tests check them
against the providers' own SDKs (stripe-python, twilio-python) and official vectors.

* :data:`KINDS` - provider -> the sample kinds (``github``: ``push``, ``ping``, ``push_form``; ``stripe``:
  ``payment_intent.succeeded``; ``twilio``: ``sms_inbound``, ``json_body``);
* :func:`sign_request` - a signed delivery (URL, lower-cased headers, raw body), optionally with another
  ``delivery_id`` (``--count`` sends distinct deliveries) and :func:`tamper` - the same delivery, forged;
* :func:`event_from_request` - the API Gateway HTTP API (payload format 2.0) event for it, built by
  :func:`http_api_event`, which the local gateway (``hookctl.local.gateway``) uses for real HTTP requests too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

# --------------------------------------------------------------------------------------------------------------------
# Where the sample events pretend to come from
# --------------------------------------------------------------------------------------------------------------------

API_ID = "abc123def4"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
DEFAULT_BASE_URL = f"https://{HOST}"
STAGE = "$default"

PROVIDERS: tuple[str, ...] = ("github", "stripe", "twilio")
FUNCTION_LOGICAL_IDS: dict[str, str] = {
    "github": "GithubReceiverFunction",
    "stripe": "StripeReceiverFunction",
    "twilio": "TwilioReceiverFunction",
}

# Sample secrets (plain strings). Never used outside local runs and tests; documented in events/README.md.
GITHUB_WEBHOOK_SECRET = "sample-github-webhook-secret"
STRIPE_ENDPOINT_SECRET = "whsec_sample_stripe_endpoint_secret"
TWILIO_AUTH_TOKEN = "sample_twilio_auth_token_0123456789"
SAMPLE_SECRETS: dict[str, str] = {
    "github": GITHUB_WEBHOOK_SECRET,
    "stripe": STRIPE_ENDPOINT_SECRET,
    "twilio": TWILIO_AUTH_TOKEN,
}
# What the *_bad_signature files are signed with instead: a plausible secret, just not the configured one.
WRONG_SECRETS: dict[str, str] = {
    "github": "not-the-github-webhook-secret",
    "stripe": "whsec_not_the_stripe_endpoint_secret",
    "twilio": "not_the_twilio_auth_token_98765432",
}

STRIPE_TOLERANCE_SECONDS = 300  # stripe-python's default, and the gateway's SIGNATURE_TOLERANCE_SECONDS default
STRIPE_API_VERSION = "2026-10-28.endive"  # stripe==16.1.0's pinned API version

# Delivery time of every event whose provider signs no timestamp (GitHub, Twilio): fixed, so files never churn.
SAMPLE_DELIVERY_TIME = 1795718537  # 2026-11-26T18:42:17Z

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
    # ``<hook id>:<X-GitHub-Delivery>``, Stripe the event id, Twilio the signed resource SID (with its status).
    delivery_id: str = ""

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


def _uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://example.invalid/webhook-gateway/{seed}"))


def _twilio_sid(prefix: str, seed: str) -> str:
    return prefix + _hex(f"twilio:{prefix}:{seed}", 32)


def _api_gateway_request_id(seed: str) -> str:
    """HTTP API request ids look like ``JKJaXmPLvHcESHA=`` (16 characters of base64)."""
    return base64.b64encode(_digest(f"apigw:{seed}")[:11]).decode("ascii")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------------------------
# Provider payloads (unsigned): content type, raw body, provider headers
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Payload:
    content_type: str
    body: bytes
    headers: dict[str, str]
    source_ip: str
    # Twilio JSON deliveries: the URL carries bodySHA256 and the signature covers the URL only.
    twilio_body_hash_in_url: bool = False


_GITHUB_REPO_ID = 873201456
_GITHUB_HOOK_ID_JSON = "501234567"
_GITHUB_HOOK_ID_FORM = "501234890"
_GITHUB_SOURCE_IP = "140.82.115.48"  # inside GitHub's published hooks range 140.82.112.0/20


def _github_user() -> dict[str, Any]:
    return {
        "login": "octocat",
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "gravatar_id": "",
        "url": "https://api.github.com/users/octocat",
        "html_url": "https://github.com/octocat",
        "followers_url": "https://api.github.com/users/octocat/followers",
        "following_url": "https://api.github.com/users/octocat/following{/other_user}",
        "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}",
        "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
        "subscriptions_url": "https://api.github.com/users/octocat/subscriptions",
        "organizations_url": "https://api.github.com/users/octocat/orgs",
        "repos_url": "https://api.github.com/users/octocat/repos",
        "events_url": "https://api.github.com/users/octocat/events{/privacy}",
        "received_events_url": "https://api.github.com/users/octocat/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


_GITHUB_NOREPLY_EMAIL = "583231+octocat@users.noreply.github.com"


def _github_repository(*, push_event: bool) -> dict[str, Any]:
    owner = _github_user()
    if push_event:  # push payloads add the owner's name and email to the usual user object
        owner = {"name": "octocat", "email": _GITHUB_NOREPLY_EMAIL} | owner
    api = "https://api.github.com/repos/octocat/webhook-gateway-demo"
    # Push payloads carry created_at/pushed_at as Unix integers; every other event uses ISO 8601 strings.
    created_at: int | str = 1762000000 if push_event else _iso(1762000000)
    pushed_at: int | str = SAMPLE_DELIVERY_TIME if push_event else _iso(SAMPLE_DELIVERY_TIME - 3600)
    repository: dict[str, Any] = {
        "id": _GITHUB_REPO_ID,
        "node_id": "R_kgDOM0FkMA",
        "name": "webhook-gateway-demo",
        "full_name": "octocat/webhook-gateway-demo",
        "private": False,
        "owner": owner,
        "html_url": "https://github.com/octocat/webhook-gateway-demo",
        "description": "Sample repository for the inbound webhook gateway",
        "fork": False,
        "url": "https://github.com/octocat/webhook-gateway-demo" if push_event else api,
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "git_url": "git://github.com/octocat/webhook-gateway-demo.git",
        "ssh_url": "git@github.com:octocat/webhook-gateway-demo.git",
        "clone_url": "https://github.com/octocat/webhook-gateway-demo.git",
        "homepage": None,
        "size": 142,
        "stargazers_count": 3,
        "watchers_count": 3,
        "language": "Python",
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "archived": False,
        "disabled": False,
        "open_issues_count": 1,
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": ["aws-lambda", "webhooks"],
        "visibility": "public",
        "forks": 0,
        "open_issues": 1,
        "watchers": 3,
        "default_branch": "main",
        "created_at": created_at,
        "updated_at": _iso(SAMPLE_DELIVERY_TIME - 86400),
        "pushed_at": pushed_at,
    }
    if push_event:
        repository["stargazers"] = 3
        repository["master_branch"] = "main"
    return repository


def _github_push_body() -> dict[str, Any]:
    before = _hex("github:commit:before", 40)
    first = _hex("github:commit:1", 40)
    after = _hex("github:commit:2", 40)
    repo_url = "https://github.com/octocat/webhook-gateway-demo"

    def commit(sha: str, message: str, offset: int, modified: list[str], added: list[str]) -> dict[str, Any]:
        author = {"name": "Mona Lisa Octocat", "email": _GITHUB_NOREPLY_EMAIL, "username": "octocat"}
        return {
            "id": sha,
            "tree_id": _hex(f"github:tree:{sha}", 40),
            "distinct": True,
            "message": message,
            "timestamp": datetime.fromtimestamp(SAMPLE_DELIVERY_TIME - offset, UTC).isoformat(),
            "url": f"{repo_url}/commit/{sha}",
            "author": author,
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": added,
            "removed": [],
            "modified": modified,
        }

    commits = [
        commit(first, "Verify Stripe signatures at the edge", 420, ["functions/receiver/app.py"], []),
        # Non-ASCII text travels as raw UTF-8: the signature covers those bytes, not an escaped form of them.
        commit(after, "Docs: replay windows — naïve retries are safe", 60, ["README.md"], ["docs/replay.md"]),
    ]
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": _github_repository(push_event=True),
        "pusher": {"name": "octocat", "email": _GITHUB_NOREPLY_EMAIL},
        "sender": _github_user(),
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{repo_url}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1],
    }


def _github_ping_body() -> dict[str, Any]:
    hook_api = f"https://api.github.com/repos/octocat/webhook-gateway-demo/hooks/{_GITHUB_HOOK_ID_JSON}"
    return {
        "zen": "Design for failure.",
        "hook_id": int(_GITHUB_HOOK_ID_JSON),
        "hook": {
            "type": "Repository",
            "id": int(_GITHUB_HOOK_ID_JSON),
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": "********",
                "url": f"{DEFAULT_BASE_URL}/webhooks/github",
            },
            "updated_at": _iso(SAMPLE_DELIVERY_TIME - 5),
            "created_at": _iso(SAMPLE_DELIVERY_TIME - 5),
            "url": hook_api,
            "test_url": f"{hook_api}/test",
            "ping_url": f"{hook_api}/pings",
            "deliveries_url": f"{hook_api}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        },
        "repository": _github_repository(push_event=False),
        "sender": _github_user(),
    }


def _github_payload(event: str, body: dict[str, Any], *, hook_id: str, form: bool) -> _Payload:
    # GitHub sends compact JSON with raw UTF-8.
    json_text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if form:
        # content_type "form": the JSON travels URL-encoded in the `payload` field; the signature covers these bytes.
        raw = ("payload=" + quote_plus(json_text, safe="")).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    else:
        raw = json_text.encode("utf-8")
        content_type = "application/json"
    return _Payload(
        content_type=content_type,
        body=raw,
        headers={
            "accept": "*/*",
            "content-type": content_type,
            "user-agent": "GitHub-Hookshot/4c2a1e9",
            "x-github-delivery": _uuid(f"github:delivery:{event}:{hook_id}"),
            "x-github-event": event,
            "x-github-hook-id": hook_id,
            "x-github-hook-installation-target-id": str(_GITHUB_REPO_ID),
            "x-github-hook-installation-target-type": "repository",
        },
        source_ip=_GITHUB_SOURCE_IP,
    )


def _github_push() -> _Payload:
    return _github_payload("push", _github_push_body(), hook_id=_GITHUB_HOOK_ID_JSON, form=False)


def _github_push_form() -> _Payload:
    return _github_payload("push", _github_push_body(), hook_id=_GITHUB_HOOK_ID_FORM, form=True)


def _github_ping() -> _Payload:
    return _github_payload("ping", _github_ping_body(), hook_id=_GITHUB_HOOK_ID_JSON, form=False)


def _stripe_payment_intent_succeeded() -> _Payload:
    created = SAMPLE_DELIVERY_TIME - 2
    intent_id = "pi_3QsAmPLeGaTeWay0a1B2c3D4"
    payment_intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 4999,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 4999,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_SampleClientSecret0123456789",
        "confirmation_method": "automatic",
        "created": created - 30,
        "currency": "usd",
        "customer": "cus_SampleGateway01",
        "description": "Order #1042",
        "last_payment_error": None,
        "latest_charge": "ch_3QsAmPLeGaTeWay0e5F6g7H8",
        "livemode": False,
        "metadata": {"order_id": "1042"},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": "pm_1QsAmPLeGaTeWayCard0001",
        "payment_method_configuration_details": {"id": "pmc_1QsAmPLeGaTeWayConfig01", "parent": None},
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": "jenny.rosen@example.com",
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    event = {
        "id": "evt_3QsAmPLeGaTeWay0i9J8k7L6",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": {"object": payment_intent},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_SampleGateway01", "idempotency_key": _uuid("stripe:idempotency:order-1042")},
        "type": "payment_intent.succeeded",
    }
    # Stripe sends pretty-printed JSON (2-space indent): the signature covers exactly these bytes and whitespace.
    raw = json.dumps(event, indent=2).encode("utf-8")
    content_type = "application/json; charset=utf-8"
    return _Payload(
        content_type=content_type,
        body=raw,
        headers={
            "accept": "*/*; q=0.5, application/xml",
            "cache-control": "no-cache",
            "content-type": content_type,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
        source_ip="54.187.174.169",  # one of Stripe's published webhook source addresses
    )


_TWILIO_ACCOUNT_SID = _twilio_sid("AC", "account")
TWILIO_IDEMPOTENCY_HEADER = "i-twilio-idempotency-token"
_TWILIO_SOURCE_IP = "54.172.60.17"


def _twilio_headers(content_type: str, seed: str) -> dict[str, str]:
    return {
        "accept": "*/*",
        "cache-control": "max-age=259200",
        "content-type": content_type,
        TWILIO_IDEMPOTENCY_HEADER: _uuid(f"twilio:idempotency:{seed}"),
        "user-agent": "TwilioProxy/1.1",
        "x-home-region": "us1",
    }


def _twilio_sms_inbound() -> _Payload:
    message_sid = _twilio_sid("SM", "inbound-sms")
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
        ("MessagingServiceSid", _twilio_sid("MG", "messaging-service")),
        ("ToZip", "94107"),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", _TWILIO_ACCOUNT_SID),
        ("From", "+14155550199"),
        ("ApiVersion", "2010-04-01"),
    ]
    content_type = "application/x-www-form-urlencoded"
    return _Payload(
        content_type=content_type,
        body=urlencode(params).encode("ascii"),
        headers=_twilio_headers(content_type, "inbound-sms"),
        source_ip=_TWILIO_SOURCE_IP,
    )


def _twilio_json_body() -> _Payload:
    # A JSON webhook (Voice Intelligence "transcript available"): Twilio adds bodySHA256 to the URL it signs.
    body = {
        "account_sid": _TWILIO_ACCOUNT_SID,
        "service_sid": _twilio_sid("GA", "intelligence-service"),
        "transcript_sid": _twilio_sid("GT", "transcript"),
        "customer_key": "order-1042",
        "event_type": "voice_intelligence_transcript_available",
    }
    content_type = "application/json"
    return _Payload(
        content_type=content_type,
        body=json.dumps(body, separators=(",", ":")).encode("utf-8"),
        headers=_twilio_headers(content_type, "json-body"),
        source_ip=_TWILIO_SOURCE_IP,
        twilio_body_hash_in_url=True,
    )


_KIND_BUILDERS: dict[str, dict[str, Callable[[], _Payload]]] = {
    "github": {"push": _github_push, "ping": _github_ping, "push_form": _github_push_form},
    "stripe": {"payment_intent.succeeded": _stripe_payment_intent_succeeded},
    "twilio": {"sms_inbound": _twilio_sms_inbound, "json_body": _twilio_json_body},
}
KINDS: dict[str, tuple[str, ...]] = {provider: tuple(kinds) for provider, kinds in _KIND_BUILDERS.items()}


DEFAULT_KINDS: dict[str, str] = {provider: kinds[0] for provider, kinds in KINDS.items()}


@cache
def _payload(provider: str, kind: str) -> _Payload:
    """The unsigned sample (built once: ``send --count`` signs thousands of copies)."""
    try:
        return _KIND_BUILDERS[provider][kind]()
    except KeyError:
        raise ValueError(f"unknown provider/kind {provider!r}/{kind!r}; known: {KINDS}") from None


def new_delivery_id(provider: str) -> str:
    """A fresh, provider-shaped delivery id: a GUID (GitHub's X-GitHub-Delivery), a Stripe event id or a Twilio
    message SID."""
    if provider == "stripe":
        return "evt_" + uuid.uuid4().hex[:24]
    if provider == "twilio":
        return "SM" + uuid.uuid4().hex
    return str(uuid.uuid4())


def _with_delivery_id(provider: str, payload: _Payload, delivery_id: str) -> _Payload:
    """The same sample as another delivery: ``delivery_id`` goes where the provider carries it, and the body differs
    wherever the gateway names a delivery by what is signed (a new id over the same bytes is a replay, not a delivery).
    """
    headers = dict(payload.headers)
    body = payload.body
    if provider == "github":
        # GUID and hook id are plain headers; each real delivery also has its own body (another push, another zen).
        headers["x-github-delivery"] = delivery_id
        body = _github_body_with(payload, delivery_id)
    elif provider == "twilio":  # the SID is a signed parameter (or field): it names the delivery
        headers[TWILIO_IDEMPOTENCY_HEADER] = _uuid(f"twilio:idempotency:{delivery_id}")
        body = _twilio_body_with(payload, delivery_id)
    elif provider == "stripe":  # the event id is in the signed body: same document, same formatting, another id
        document = json.loads(body)
        document["id"] = delivery_id
        body = json.dumps(document, indent=2).encode("utf-8")
    return replace(payload, headers=headers, body=body)


def _github_body_with(payload: _Payload, delivery_id: str) -> bytes:
    form = payload.content_type.startswith("application/x-www-form-urlencoded")
    json_text = dict(parse_qsl(payload.body.decode("ascii")))["payload"] if form else payload.body.decode("utf-8")
    document = json.loads(json_text)
    if "zen" in document:
        document["zen"] = f"{document['zen']} ({delivery_id})"
    else:
        document["after"] = hashlib.sha1(delivery_id.encode("utf-8")).hexdigest()
    json_text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return ("payload=" + quote_plus(json_text, safe="")).encode("ascii") if form else json_text.encode("utf-8")


def _twilio_body_with(payload: _Payload, delivery_id: str) -> bytes:
    if payload.content_type.startswith("application/x-www-form-urlencoded"):
        sid_params = {"MessageSid", "SmsSid", "SmsMessageSid"}
        params = parse_qsl(payload.body.decode("ascii"), keep_blank_values=True)
        return urlencode([(name, delivery_id if name in sid_params else value) for name, value in params]).encode()
    document = json.loads(payload.body)
    document["transcript_sid"] = delivery_id
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _gateway_delivery_id(provider: str, url: str, headers: dict[str, str], body: bytes) -> str:
    """The id the receiver records for this request, from the provider's own ``identify`` ("" if it refuses it)."""
    from webhook_gateway.verifiers import load_provider
    from webhook_gateway.verifiers.base import Rejected, WebhookRequest

    parts = urlsplit(url)
    request = WebhookRequest(
        body=body,
        headers=headers,
        scheme=parts.scheme,
        host=parts.netloc,
        raw_path=parts.path or "/",
        raw_query_string=parts.query,
    )
    try:
        return load_provider(provider).identify(request).delivery_id
    except Rejected:
        return ""



# --------------------------------------------------------------------------------------------------------------------
# Signing (standard library; tests/unit/local/test_samples.py checks each signer against the provider's SDK)
# --------------------------------------------------------------------------------------------------------------------


def github_signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """``X-Hub-Signature-256`` (what the gateway checks) and the legacy SHA-1 ``X-Hub-Signature`` GitHub also sends."""
    key = secret.encode("utf-8")
    return {
        "x-hub-signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        "x-hub-signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


def stripe_signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature: t=<timestamp>,v1=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the endpoint
    secret (``whsec_...``, used as is), as Stripe documents and stripe-python's ``generate_signature_header`` does."""
    signed = f"{int(timestamp)}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def twilio_form_params(body: bytes) -> dict[str, list[str]]:
    """Decoded form parameters of a Twilio form body; blank values count (Twilio signs ``name`` + ``""``)."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)):
        params.setdefault(name, []).append(value)
    return params


def twilio_url_with_body_hash(url: str, body: bytes) -> str:
    """The URL Twilio requests (and signs) for a JSON body: ``bodySHA256=<hex sha256 of the raw body>`` appended."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}bodySHA256={hashlib.sha256(body).hexdigest()}"


def twilio_signature(url: str, body: bytes, content_type: str, auth_token: str) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the Auth Token, of the URL followed by every form parameter
    (names sorted, each name's distinct values sorted) for form bodies, of the URL alone otherwise (a JSON body's
    hash is already in the URL), as twilio-python's ``RequestValidator.compute_signature``."""
    is_form = content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
    params = twilio_form_params(body) if is_form else {}
    data = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


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

    ``secret`` defaults to the sample secret. ``timestamp`` is the delivery time in Unix seconds: Stripe signs it
    (default: now); GitHub and Twilio sign no time, so it only dates the event (default: a fixed sample time).
    ``body`` replaces the sample body (same content type); Twilio form bodies are re-parsed for signing.
    ``delivery_id`` replaces the sample's id where the provider carries it (GitHub's X-GitHub-Delivery, the Stripe
    event id, Twilio's idempotency token). Twilio signs the URL, so sign with the URL the request really goes to.
    """
    if provider not in _KIND_BUILDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {PROVIDERS}")
    payload = _payload(provider, kind)
    if delivery_id is not None:
        payload = _with_delivery_id(provider, payload, delivery_id)
    raw = payload.body if body is None else bytes(body)
    key = SAMPLE_SECRETS[provider] if secret is None else secret
    target = webhook_url(provider, base_url) if url is None else url
    headers = dict(payload.headers)

    if provider == "stripe":
        sent_at = time.time() if timestamp is None else timestamp
        headers["stripe-signature"] = stripe_signature_header(raw, key, int(sent_at))
    else:
        sent_at = SAMPLE_DELIVERY_TIME if timestamp is None else timestamp
        if provider == "github":
            headers.update(github_signature_headers(raw, key))
        else:
            if payload.twilio_body_hash_in_url:
                target = twilio_url_with_body_hash(target, raw)
            headers["x-twilio-signature"] = twilio_signature(target, raw, payload.content_type, key)

    return SignedRequest(
        provider=provider,
        kind=kind,
        url=target,
        headers=dict(sorted(headers.items())),
        body=raw,
        source_ip=payload.source_ip,
        sent_at=float(sent_at),
        delivery_id=_gateway_delivery_id(provider, target, headers, raw),
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
        route_key=f"POST /webhooks/{request.provider}",
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
    return sign_and_build(
        provider, kind, secret=secret, timestamp=timestamp, base_url=base_url, body=body, seed=seed
    )[1]
