"""The verifier contract for every provider: ``verify`` and ``identify`` return or raise ``Rejected``, nothing else.

The receiver turns any other exception into a 401 with an ERROR log and a traceback ("unexpected verifier error").
That path is for bugs only: no request, however odd, may reach it. These tests feed every registered provider
arbitrary bodies, headers, URLs and query strings (huge digit strings, non-ASCII and lone surrogates, empty values,
odd base64, deeply nested JSON) and accept only a return value or a ``Rejected``.
"""

from __future__ import annotations

import base64
import os
import string
import sys

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from webhook_gateway.verifiers import load_provider, registered_providers
from webhook_gateway.verifiers import stripe as stripe_verifier
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
)

PROVIDERS = tuple(provider.name for provider in registered_providers())
NOW = 1_700_000_000

# Under mutation testing only the explicit @example inputs run: every mutant runs these tests, so generated examples
# would make `make mutants` slow, and its verdicts would depend on chance. Mutants are killed by deliberate inputs;
# `make test` explores with generated ones. mutmut imports the tests before it sets MUTANT_UNDER_TEST (its workers
# fork from that process), so its being loaded is what tells.
MUTATING = "mutmut" in sys.modules or bool(os.environ.get("MUTANT_UNDER_TEST"))
PROPERTY = settings(
    max_examples=150,
    phases=(Phase.explicit,) if MUTATING else tuple(Phase),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

HEADER_NAMES = (
    "content-type",
    "x-hub-signature-256",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "stripe-signature",
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "i-twilio-idempotency-token",
    "x-hubspot-signature-v3",
    "x-hubspot-request-timestamp",
    "x-hubspot-signature",
    "paddle-signature",
    "linear-signature",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "x-square-hmacsha256-signature",
    "x-square-signature",
)

# Any code point, lone surrogates included: a Lambda event is JSON, and JSON can carry "\ud800".
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
huge_digits = st.integers(min_value=13, max_value=6000).map(lambda n: "9" * n)
odd_base64 = st.one_of(
    st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode()),
    st.binary(max_size=40).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")),
    st.text(string.ascii_letters + string.digits + "+/=-_ \n", max_size=40),
)
stripe_header = st.builds(
    lambda t, v1, extra: f"t={t},v1={v1}{extra}",
    st.one_of(huge_digits, st.text("0123456789", max_size=14), any_text),
    st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), any_text),
    st.sampled_from(["", ",", ",v0=ab", ",t=1", ",=", ",v1"]),
)
header_value = st.one_of(any_text, huge_digits, odd_base64, stripe_header, st.just(""))
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_value, max_size=len(HEADER_NAMES))
content_type = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/xml", ""])
body = st.one_of(
    st.binary(max_size=200),
    any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.just(b"payload=%7B%7D"),
)
secret_value = st.one_of(
    any_text,
    st.just(""),
    st.builds(
        lambda token, key: f'{{"auth_token": {token}, "shared_key": {key}}}',
        st.sampled_from(['"t"', '""', "1", "null", '"\\ud800"']),
        st.sampled_from(['"k"', '""', "[]", "null"]),
    ),
)
secrets = st.lists(st.builds(SecretCandidate, st.sampled_from(["current", "previous"]), secret_value), max_size=2)
policy = st.builds(
    VerificationPolicy,
    now=st.integers(min_value=0, max_value=10**11),
    public_base_url=st.one_of(st.none(), st.just(""), any_text, st.just("https://hooks.example.com/")),
)


def request_strategy(url_text: st.SearchStrategy[str]) -> st.SearchStrategy[WebhookRequest]:
    """Requests with arbitrary body and headers; ``url_text`` draws the scheme, host, path and query string."""
    query = st.one_of(
        url_text,
        st.builds(lambda digest, rest: f"bodySHA256={digest}{rest}", st.one_of(url_text, huge_digits), url_text),
    )
    return st.builds(
        lambda body, headers, content_type, scheme, host, path, query: WebhookRequest(
            body=body,
            headers={"content-type": content_type, **headers},
            scheme=scheme,
            host=host,
            raw_path=path,
            raw_query_string=query,
        ),
        body,
        headers,
        content_type,
        st.one_of(st.sampled_from(["https", "http"]), url_text),
        st.one_of(st.sampled_from(["example.com", "example.com:443", "[::bad", "h:99999"]), url_text),
        st.one_of(st.just("/"), url_text),
        query,
    )


requests = request_strategy(any_text)

HUGE_T = WebhookRequest(body=b"{}", headers={"stripe-signature": "t=" + "1" * 5000 + ",v1=" + "a" * 64})
DEEP_JSON = WebhookRequest(
    body=b"[" * 100_000,
    headers={"content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d"},
)
SURROGATES = WebhookRequest(
    body=b"a=b",
    headers={
        "content-type": "application/x-www-form-urlencoded",
        "stripe-signature": f"t={NOW},v1=\ud800",
        "x-hub-signature-256": "sha256=\ud800",
        "x-twilio-signature": base64.b64encode(b"\0" * 20).decode(),
    },
    host="example.com",
    raw_path="/\ud800",
    raw_query_string="bodySHA256=\udfff",
)


@pytest.mark.parametrize("provider_name", PROVIDERS)
@PROPERTY
@given(request=requests, secrets=secrets, policy=policy)
@example(request=HUGE_T, secrets=[SecretCandidate("current", "whsec_x")], policy=VerificationPolicy(now=NOW))
@example(request=SURROGATES, secrets=[SecretCandidate("current", "k")], policy=VerificationPolicy(now=NOW))
@example(request=DEEP_JSON, secrets=[], policy=VerificationPolicy(now=NOW, public_base_url="https://h/\ud800"))
def test_verify_only_ever_returns_a_candidate_or_raises_rejected(provider_name, request, secrets, policy):
    # Given any request, any configured secret values and any policy
    provider = load_provider(provider_name)
    # When the provider verifies it, Then it returns a candidate it was given or raises Rejected: nothing else
    try:
        matched = provider.verify(request, secrets, policy)
    except Rejected as rejection:
        assert isinstance(rejection.reason, Reason)
    else:
        assert matched in secrets


@pytest.mark.parametrize("provider_name", PROVIDERS)
@PROPERTY
@given(request=requests)
@example(request=HUGE_T)
@example(request=SURROGATES)
@example(request=DEEP_JSON)
@example(request=WebhookRequest(body=b"[" * 100_000, headers={"content-type": "text/plain"}))
def test_identify_only_ever_returns_an_identity_or_raises_rejected(provider_name, request):
    # Given any request (identify() runs only after verify() accepted it, but must not rely on that)
    provider = load_provider(provider_name)
    # When the provider names the delivery, Then it returns an identity or raises Rejected: nothing else
    try:
        identity = provider.identify(request)
    except Rejected as rejection:
        assert isinstance(rejection.reason, Reason)
    else:
        assert isinstance(identity, DeliveryIdentity)


@pytest.mark.parametrize("digits", [13, 4300, 4301, 5000, 100_000])
def test_stripe_timestamp_with_too_many_digits_is_malformed_not_an_error(digits):
    # Given a Stripe-Signature whose t= has more digits than any Unix time (5,000 would make int() raise ValueError)
    header = "t=" + "1" * digits + ",v1=" + "a" * 64
    # When it is verified, Then it is a malformed signature, rejected before any HMAC or int() conversion
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.verify(
            WebhookRequest(body=b"{}", headers={"stripe-signature": header}), [], VerificationPolicy(now=NOW)
        )
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


def test_stripe_timestamp_of_twelve_digits_is_still_parsed():
    # Twelve digits reach the year 33658: the bound rejects nothing Stripe can send.
    assert stripe_verifier.parse_header("t=999999999999,v1=ab") == (999_999_999_999, ["ab"])

