"""``Provider.signature_headers`` against the truth derived from each provider's signed samples.

For every registered provider and every sample kind, the signed request verifies; then each of its headers that
``forwarded_headers`` does not keep anyway is dropped, one at a time, and the verifier run again. Every header whose
removal makes verification fail must be declared in ``signature_headers`` (else a forward with
``KEEP_SIGNATURE_HEADERS`` could not be verified), and every declared header must appear in some signed sample or be
one of the module's ``OPTIONAL_SIGNATURE_HEADERS`` (the other spelling a sender may use: Svix's, Shopify Events'):
nothing is kept that no signature needs. Generic HMAC instances name their headers in their options.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from urllib.parse import urlsplit

import pytest

from hookctl import samples
from webhook_gateway.verifiers import generic_hmac, registered_providers
from webhook_gateway.verifiers.base import (
    Provider,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
    provider_instance,
)

PROVIDERS = {provider.name: provider for provider in registered_providers()}
SIGNED_KINDS = [
    (name, kind)
    for name in PROVIDERS
    for kind in samples.kinds_of(name)
    # Meta's GET verification carries a token in its query, no signature header.
    if samples.sign_request(name, kind).method == "POST"
]


def webhook_request(signed: samples.SignedRequest, headers: dict[str, str] | None = None) -> WebhookRequest:
    parts = urlsplit(signed.url)
    return WebhookRequest(
        body=signed.body,
        headers=dict(signed.headers) if headers is None else headers,
        method=signed.method,
        scheme=parts.scheme,
        host=parts.netloc,
        raw_path=parts.path or "/",
        raw_query_string=parts.query,
        source_ip=signed.source_ip,
    )


def verifies(provider: Provider, request: WebhookRequest, secret: str, now: float) -> bool:
    try:
        provider.verify(request, [SecretCandidate("current", secret)], VerificationPolicy(now=now))
    except Rejected:
        return False
    return True


def needed_headers(provider: Provider, signed: samples.SignedRequest, secret: str) -> set[str]:
    """The headers (outside forwarded_headers) without which the signed request no longer verifies."""
    return {
        name
        for name in signed.headers
        if name not in provider.forwarded_headers
        and not verifies(
            provider,
            webhook_request(signed, {key: value for key, value in signed.headers.items() if key != name}),
            secret,
            signed.sent_at,
        )
    }


def headers_failing_without(
    provider: Provider, body: bytes, headers: dict[str, str], secret: str, now: float
) -> set[str]:
    """The headers of a request signed by hand whose removal, one at a time, makes it fail verification."""
    return {
        name
        for name in headers
        if not verifies(
            provider, WebhookRequest(body=body, headers={k: v for k, v in headers.items() if k != name}), secret, now
        )
    }


@pytest.mark.parametrize(("provider_name", "kind"), SIGNED_KINDS)
def test_every_header_the_signature_needs_is_declared(provider_name: str, kind: str) -> None:
    """Given a provider's sample delivery, signed as the provider signs it
    When each header the envelope would not keep anyway is dropped in turn and the verifier run
    Then every header whose absence makes verification fail is in the provider's signature_headers"""
    provider = PROVIDERS[provider_name]
    signed = samples.sign_request(provider_name, kind)
    secret = provider.secret_format.sample
    assert verifies(provider, webhook_request(signed), secret, signed.sent_at)

    assert needed_headers(provider, signed, secret) <= set(provider.signature_headers)


@pytest.mark.parametrize("provider_name", sorted(PROVIDERS))
def test_every_declared_header_is_one_a_sample_signs_or_an_optional_spelling(provider_name: str) -> None:
    """Given a provider's signature_headers
    When they are compared with the headers of its signed samples
    Then each is lower-case and sent by some sample, or is one of the module's OPTIONAL_SIGNATURE_HEADERS"""
    provider = PROVIDERS[provider_name]
    kinds = samples.kinds_of(provider_name)
    sent = {name for kind in kinds for name in samples.sign_request(provider_name, kind).headers}
    module = importlib.import_module(f"webhook_gateway.verifiers.{provider_name}")
    optional = set(getattr(module, "OPTIONAL_SIGNATURE_HEADERS", ()))

    assert provider.signature_headers, "every provider signs something"
    assert all(name == name.lower() for name in provider.signature_headers)
    assert set(provider.signature_headers) - sent <= optional
    assert optional <= set(provider.signature_headers)


def test_a_gitlab_secret_token_is_never_a_signature_header() -> None:
    """Given GitLab, whose token mode sends the secret token itself in X-Gitlab-Token
    When its signature_headers are read
    Then the token header is not among them (it would put the secret in the queue and the archive)"""
    assert "x-gitlab-token" not in PROVIDERS["gitlab"].signature_headers
    assert "x-gitlab-token" not in PROVIDERS["gitlab"].forwarded_headers


SLACK_LIKE = {
    "signature_header": "X-Acme-Signature",
    "signature_prefix": "v0=",
    "signed_payload": "v0:{timestamp}:{body}",
    "timestamp_header": "X-Acme-Timestamp",
    "delivery_id_header": "X-Acme-Delivery",  # not signed: no part of the signature
}


def test_a_generic_hmac_instance_declares_its_configured_headers() -> None:
    """Given a Generic HMAC instance configured with its own signature and timestamp headers (and an unsigned id)
    When its signature_headers are read, and a request signed independently (hmac over v0:<ts>:<body>) loses each
    header in turn
    Then they are the configured signature and timestamp headers, exactly those whose removal fails verification"""
    instance = provider_instance(generic_hmac.PROVIDER, "acme", SLACK_LIKE)
    body, timestamp, secret = b'{"id":"a1"}', "1700000000", "acme-secret"
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "x-acme-signature": f"v0={digest}",
        "x-acme-timestamp": timestamp,
        "x-acme-delivery": "d-1",
        "content-type": "application/json",
    }
    request = WebhookRequest(body=body, headers=headers)
    assert verifies(instance, request, secret, 1_700_000_000)

    failing = headers_failing_without(instance, body, headers, secret, 1_700_000_000)
    assert instance.signature_headers == ("x-acme-signature", "x-acme-timestamp")
    assert failing == set(instance.signature_headers)
    assert generic_hmac.PROVIDER.signature_headers == ("x-signature",)


def test_a_generic_hmac_instance_that_signs_its_delivery_id_declares_that_header() -> None:
    """Given a Generic HMAC instance whose signed_payload covers the delivery id header (and no timestamp)
    When its signature_headers are read, and a request signed independently (hmac over <id>.<body>) loses each
    header in turn
    Then they are the signature header and the delivery id header, exactly those whose removal fails verification"""
    options = {
        "signature_header": "X-Acme-Signature",
        "signed_payload": "{delivery_id}.{body}",
        "delivery_id_header": "X-Acme-Delivery",
    }
    instance = provider_instance(generic_hmac.PROVIDER, "acme", options)
    body, delivery_id, secret = b'{"id":"a1"}', "d-1", "acme-secret"
    digest = hmac.new(secret.encode(), delivery_id.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"x-acme-signature": digest, "x-acme-delivery": delivery_id, "content-type": "application/json"}
    assert verifies(instance, WebhookRequest(body=body, headers=headers), secret, 1_700_000_000)

    failing = headers_failing_without(instance, body, headers, secret, 1_700_000_000)
    assert instance.signature_headers == ("x-acme-signature", "x-acme-delivery")
    assert failing == set(instance.signature_headers)
