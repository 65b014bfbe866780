"""Throwaway providers the tests add to the verifier package through their module alone (README, "Adding a
provider"), and the helpers to install them and to build their API Gateway events.

Three are shaped after providers that confirm their endpoint synchronously (the handshake lane of
``verifiers/base.py``), each standard library only, with a ``sign`` helper for the tests:

* ``slackish`` (Slack-like): a signed POST ``{"type": "url_verification", "challenge": ...}`` is answered with the
  challenge; other events are deliveries.
* ``zoomish`` (Zoom-like): a signed POST ``endpoint.url_validation`` is answered with the plain token and its hex
  HMAC-SHA256 keyed with the secret that verified the request (current or previous).
* ``metaish`` (Meta-like, ``methods=("GET", "POST")``): an unsigned GET ``hub.mode=subscribe&hub.verify_token=...&
  hub.challenge=...`` is answered with the challenge as text when the token matches the one its secret holds (a JSON
  secret: ``app_secret`` signs the POST deliveries, ``verify_token`` is optional); POSTs are signed deliveries.
"""

from __future__ import annotations

import base64
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from webhook_gateway import verifiers
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import Provider

SLACKISH_SECRET = "sample-slackish-signing-secret"
ZOOMISH_SECRET = "sample-zoomish-secret-token"
METAISH_APP_SECRET = "sample-metaish-app-secret"
METAISH_VERIFY_TOKEN = "sample-metaish-verify-token"
# Every secret value above and the ones the tests rotate to, for the log-hygiene canaries (tests/log_hygiene.py).
SECRETS = {
    SLACKISH_SECRET: "the slackish throwaway provider's signing secret",
    ZOOMISH_SECRET: "the zoomish throwaway provider's secret token",
    "rotated-zoomish-secret-token": "the zoomish throwaway provider's rotated secret token",
    METAISH_APP_SECRET: "the metaish throwaway provider's app secret",
    METAISH_VERIFY_TOKEN: "the metaish throwaway provider's verify token",
    "rotated-metaish-app-secret": "the metaish throwaway provider's rotated app secret",
}

SLACKISH_MODULE = textwrap.dedent(
    f'''
    """Slackish: X-Slackish-Signature "v0=<hex HMAC-SHA256 of 'v0:<timestamp>:<body>'>" with
    X-Slackish-Request-Timestamp; a signed url_verification event is answered with its challenge."""

    import hashlib
    import hmac
    import json

    from webhook_gateway.verifiers.base import (
        Acknowledgement, DeliveryIdentity, Provider, Reason, Rejected, SecretFormat, constant_time_equal,
        first_matching_secret, utf8,
    )


    def sign(body, secret, timestamp):
        mac = hmac.new(utf8(secret), b"v0:" + utf8(timestamp) + b":" + body, hashlib.sha256).hexdigest()
        return {{"x-slackish-signature": "v0=" + mac, "x-slackish-request-timestamp": timestamp}}


    def verify(request, secrets, policy):
        received = (request.header("x-slackish-signature") or "").strip()
        timestamp = (request.header("x-slackish-request-timestamp") or "").strip()
        if not received or not timestamp:
            raise Rejected(Reason.MISSING_SIGNATURE, "no x-slackish-signature or timestamp")
        return first_matching_secret(
            secrets,
            lambda c: constant_time_equal(sign(request.body, c.value, timestamp)["x-slackish-signature"], received),
        )


    def _document(request):
        try:
            document = json.loads(request.body)
        except ValueError:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "not JSON") from None
        if not isinstance(document, dict):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "not a JSON object")
        return document


    def handshake(request, matched_secret):
        document = _document(request)
        if document.get("type") != "url_verification":
            return None
        challenge = document.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "url_verification without a challenge")
        return Acknowledgement(200, "application/json", json.dumps({{"challenge": challenge}}))


    def identify(request):
        document = _document(request)
        event = document.get("event")
        if not isinstance(document.get("event_id"), str) or not isinstance(event, dict):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no event_id and event")
        if not isinstance(event.get("type"), str):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no event type")
        return DeliveryIdentity(document["event_id"], event["type"], delivery_id_signed=True)


    PROVIDER = Provider(
        name="slackish",
        verify=verify,
        identify=identify,
        handshake=handshake,
        forwarded_headers=("content-type",),
        secret_format=SecretFormat("the signing secret", sample={SLACKISH_SECRET!r}, wrong_sample="not-the-secret"),
    )
    '''
)

ZOOMISH_MODULE = textwrap.dedent(
    f'''
    """Zoomish: x-zm-signature "v0=<hex HMAC-SHA256 of 'v0:<timestamp>:<body>'>" with x-zm-request-timestamp; a
    signed endpoint.url_validation is answered with the plain token and its HMAC keyed with the secret that
    verified."""

    import hashlib
    import hmac
    import json

    from webhook_gateway.verifiers.base import (
        Acknowledgement, DeliveryIdentity, Provider, Reason, Rejected, SecretFormat, constant_time_equal,
        first_matching_secret, utf8,
    )


    def sign(body, secret, timestamp):
        mac = hmac.new(utf8(secret), b"v0:" + utf8(timestamp) + b":" + body, hashlib.sha256).hexdigest()
        return {{"x-zm-signature": "v0=" + mac, "x-zm-request-timestamp": timestamp}}


    def verify(request, secrets, policy):
        received = (request.header("x-zm-signature") or "").strip()
        timestamp = (request.header("x-zm-request-timestamp") or "").strip()
        if not received or not timestamp:
            raise Rejected(Reason.MISSING_SIGNATURE, "no x-zm-signature or timestamp")
        return first_matching_secret(
            secrets, lambda c: constant_time_equal(sign(request.body, c.value, timestamp)["x-zm-signature"], received)
        )


    def _document(request):
        try:
            document = json.loads(request.body)
        except ValueError:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("event"), str):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no event")
        return document


    def handshake(request, matched_secret):
        document = _document(request)
        if document["event"] != "endpoint.url_validation":
            return None
        plain = (document.get("payload") or {{}}).get("plainToken")
        if not isinstance(plain, str) or not plain:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "url validation without a plainToken")
        encrypted = hmac.new(utf8(matched_secret.value), utf8(plain), hashlib.sha256).hexdigest()
        answer = {{"plainToken": plain, "encryptedToken": encrypted}}
        return Acknowledgement(200, "application/json", json.dumps(answer))


    def identify(request):
        document = _document(request)
        return DeliveryIdentity(f"{{document['event']}}-{{document.get('event_ts')}}", document["event"])


    PROVIDER = Provider(
        name="zoomish",
        verify=verify,
        identify=identify,
        handshake=handshake,
        secret_format=SecretFormat("the secret token", sample={ZOOMISH_SECRET!r}, wrong_sample="not-the-secret"),
    )
    '''
)

METAISH_SAMPLE_SECRET = f'{{"app_secret": "{METAISH_APP_SECRET}", "verify_token": "{METAISH_VERIFY_TOKEN}"}}'

METAISH_MODULE = textwrap.dedent(
    f'''
    """Metaish: POST deliveries carry X-Hub-Signature-256 "sha256=<hex HMAC-SHA256 of the body keyed with the app
    secret>"; the endpoint is confirmed by an unsigned GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..,
    answered with the challenge as text when the verify token matches. The secret is JSON: app_secret, verify_token
    (optional: without one, no GET is answered)."""

    import hashlib
    import hmac
    import json
    from urllib.parse import parse_qs

    from webhook_gateway.verifiers.base import (
        Acknowledgement, DeliveryIdentity, Provider, Reason, Rejected, SecretFormat, constant_time_equal,
        first_matching_secret, utf8,
    )


    def sign(body, app_secret):
        return {{"x-hub-signature-256": "sha256=" + hmac.new(utf8(app_secret), body, hashlib.sha256).hexdigest()}}


    def _field(candidate, name):
        try:
            value = json.loads(candidate.value).get(name)
        except (ValueError, AttributeError):
            return ""
        return value if isinstance(value, str) else ""


    def _parameter(request, name):
        values = parse_qs(request.raw_query_string, keep_blank_values=True).get(name, [])
        return values[0] if len(values) == 1 else ""


    def _verify_subscription(request, secrets):
        # Unsigned: the verify token is the only credential. Never the POST checks.
        if _parameter(request, "hub.mode") != "subscribe":
            raise Rejected(Reason.MALFORMED_SIGNATURE, "GET without hub.mode=subscribe")
        token = _parameter(request, "hub.verify_token")
        if not token:
            raise Rejected(Reason.MISSING_SIGNATURE, "GET without hub.verify_token")
        if not _parameter(request, "hub.challenge"):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "GET without hub.challenge")
        configured = False
        for candidate in secrets:
            expected = _field(candidate, "verify_token")
            if not expected:  # no token configured in this version: never compared, never matched
                continue
            configured = True
            if constant_time_equal(expected, token):
                return candidate
        raise Rejected(Reason.SIGNATURE_MISMATCH, "wrong verify token" if configured else "no verify token configured")


    def verify(request, secrets, policy):
        if request.method == "GET":
            return _verify_subscription(request, secrets)
        received = (request.header("x-hub-signature-256") or "").strip()
        if not received:
            raise Rejected(Reason.MISSING_SIGNATURE, "no x-hub-signature-256 header")

        def matches(candidate):
            app_secret = _field(candidate, "app_secret")
            expected = sign(request.body, app_secret)["x-hub-signature-256"]
            return bool(app_secret) and constant_time_equal(expected, received)

        return first_matching_secret(secrets, matches)


    def handshake(request, matched_secret):
        if request.method != "GET":
            return None
        return Acknowledgement(200, "text/plain; charset=utf-8", _parameter(request, "hub.challenge"))


    def identify(request):
        try:
            document = json.loads(request.body)
        except ValueError:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "not JSON") from None
        if not isinstance(document, dict) or not all(isinstance(document.get(k), str) for k in ("id", "object")):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no id and object")
        return DeliveryIdentity(document["id"], document["object"], delivery_id_signed=True)


    PROVIDER = Provider(
        name="metaish",
        verify=verify,
        identify=identify,
        handshake=handshake,
        methods=("GET", "POST"),
        secret_format=SecretFormat(
            "JSON: app_secret, verify_token (optional)", sample={METAISH_SAMPLE_SECRET!r}, wrong_sample="{{}}"
        ),
    )
    '''
)

MODULES: Mapping[str, str] = {"slackish": SLACKISH_MODULE, "zoomish": ZOOMISH_MODULE, "metaish": METAISH_MODULE}


@contextmanager
def installed(
    directory: Path, monkeypatch: pytest.MonkeyPatch, modules: Mapping[str, str] = MODULES
) -> Iterator[dict[str, Provider]]:
    """``<name>.py`` for each module in ``directory``, put on the verifier package's path: providers like the
    package's own (registered_providers() lists them, load_provider() finds them) until the context ends."""
    for name, source in modules.items():
        (directory / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(verifiers, "__path__", [*verifiers.__path__, str(directory)])
    try:
        yield {name: load_provider(name) for name in modules}
    finally:
        for name in modules:
            sys.modules.pop(f"{verifiers.__name__}.{name}", None)


def module_of(provider: str) -> Any:
    """The installed provider's module (its ``sign`` helper)."""
    return sys.modules[f"{verifiers.__name__}.{provider}"]


def api_event(
    provider: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for ``/webhooks/<provider>``, as API Gateway hands it to the receiver."""
    return {
        "version": "2.0",
        "routeKey": f"{method} /webhooks/{provider}",
        "rawPath": f"/webhooks/{provider}",
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "abc123def4.execute-api.us-east-1.amazonaws.com", **(headers or {})},
        "body": base64.b64encode(body).decode() if body else "",
        "isBase64Encoded": bool(body),
        "requestContext": {
            "http": {"method": method, "path": f"/webhooks/{provider}", "sourceIp": "203.0.113.9"},
            "requestId": "req-handshake",
            "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
        },
    }
