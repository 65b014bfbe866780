"""Shopify verifier, checked against two independent references:

* ``@shopify/shopify-api`` 13.1.0 (npm), ``shopify.webhooks.validate``: the vectors below were produced by it (node
  20, web-api adapter), and ``test_shopify_api_js_agrees_on_random_deliveries`` runs it live when
  ``SHOPIFY_API_JS`` names a directory where it is installed (``npm install @shopify/shopify-api@13.1.0``);
* Shopify's documented verification snippet (``base64.b64encode(hmac.new(secret.encode('utf-8'), data,
  hashlib.sha256).digest())`` compared with ``hmac.compare_digest``), as ``documented_snippet_accepts``.

Through the real receiver handler on moto: tests/integration/receiver/test_shopify_receiver.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.make_events import build_event_file
from webhook_gateway.http import request_from_event
from webhook_gateway.verifiers import load_provider, shopify
from webhook_gateway.verifiers.base import (
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
    provider_instance,
)
from webhook_gateway.verifiers.samples import shopify as shopify_samples

SECRET = "sample-shopify-client-secret"
OLD_SECRET = "the-previous-shopify-client-secret"
POLICY = VerificationPolicy(now=1_700_000_000)
CURRENT = [SecretCandidate("current", SECRET)]
WEBHOOK_ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
EVENT_ID = "7b8c9d0a-1234-5678-90ab-cdef12345678"
X_HEADERS = {
    "x-shopify-topic": "orders/create",
    "x-shopify-shop-domain": "gateway-sample.myshopify.com",
    "x-shopify-api-version": "2026-07",
    "x-shopify-webhook-id": WEBHOOK_ID,
    "x-shopify-event-id": EVENT_ID,
    "x-shopify-triggered-at": "2026-11-26T18:42:16.000000123Z",
}
EVENTS_HEADERS = {
    "shopify-topic": "orders/create",
    "shopify-shop-domain": "gateway-sample.myshopify.com",
    "shopify-api-version": "unstable",
    "shopify-webhook-id": "0d5e3a8f-6c1b-4e2a-9f7d-3b8c1a2e4f60",
    "shopify-event-id": "5a1e9c3d-2b7f-4e8a-8c6d-1f3b5a7c9e20",
}
BODY = '{"name":"Café Crème — 1 kg","price":"24.50"}'.encode()

# (secret, body, header set, HMAC header value) that @shopify/shopify-api 13.1.0 webhooks.validate() called valid;
# the same body with one byte more under the same value it called invalid_hmac.
SDK_VECTORS = [
    (
        "hush",
        b'{"id":820982911946154508,"email":"jon@example.com"}',
        X_HEADERS,
        "x-shopify-hmac-sha256",
        "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=",
    ),
    (SECRET, BODY, X_HEADERS, "x-shopify-hmac-sha256", "pugexInofpffkAtaLeRq9wCUR61fCkTi0mtgwUM77bA="),
    (
        SECRET,
        b'{"topic":"Order","action":"create","handle":"orders"}',
        EVENTS_HEADERS,
        "shopify-hmac-sha256",
        "l4ZaLFkx1DUIDRRb05CEmrNNQP0diXedKhIfPHM0SRk=",
    ),
]


def documented_snippet_accepts(secret: str, data: bytes, hmac_header: str) -> bool:
    """Shopify's manual verification example (Python), as documented."""
    digest = hmac.new(secret.encode("utf-8"), data, digestmod=hashlib.sha256).digest()
    computed_hmac = base64.b64encode(digest)
    return hmac.compare_digest(computed_hmac, hmac_header.encode("utf-8"))


def digest(body: bytes = BODY, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def request(body: bytes = BODY, **headers: str) -> WebhookRequest:
    signed = {**X_HEADERS, "x-shopify-hmac-sha256": digest(body), **headers}
    return WebhookRequest(body=body, headers={"content-type": "application/json", **signed})


def events_request(body: bytes = BODY, **headers: str) -> WebhookRequest:
    signed = {**EVENTS_HEADERS, "shopify-hmac-sha256": digest(body), **headers}
    return WebhookRequest(body=body, headers={"content-type": "application/json", **signed})


def reason(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT) -> Reason:
    with pytest.raises(Rejected) as rejected:
        shopify.verify(webhook, secrets, POLICY)
    return rejected.value.reason


# --- the signature ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret,body,headers,header,value", SDK_VECTORS)
def test_what_shopify_api_js_validates_is_accepted_and_one_byte_more_is_not(secret, body, headers, header, value):
    # Given a delivery @shopify/shopify-api called valid
    webhook = WebhookRequest(body=body, headers={**headers, header: value})
    # Then the gateway accepts it with the current secret, and our signers compute the same value
    assert shopify.verify(webhook, [SecretCandidate("current", secret)], POLICY).version == "current"
    assert shopify.sign(body, secret) == value
    assert shopify_samples.signature_headers(body, secret) == {"x-shopify-hmac-sha256": value}
    # And the body with one byte more (the SDK said invalid_hmac) is a mismatch
    tampered = WebhookRequest(body=body + b" ", headers=webhook.headers)
    assert reason(tampered, [SecretCandidate("current", secret)]) is Reason.SIGNATURE_MISMATCH


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300),
    secret=st.text(min_size=1, max_size=40),
    forged=st.one_of(st.none(), st.text(max_size=60), st.binary(min_size=32, max_size=32)),
)
def test_the_gateway_accepts_exactly_what_the_documented_snippet_accepts(body, secret, forged):
    # Given the true digest, another digest's base64, or any text as the header value
    if forged is None:
        value = shopify.sign(body, secret)
    elif isinstance(forged, bytes):
        value = base64.b64encode(forged).decode()
    else:
        value = forged
    webhook = WebhookRequest(body=body, headers={"x-shopify-hmac-sha256": value})
    # Then the gateway verifies it exactly when Shopify's documented snippet does (blanks around it aside)
    try:
        shopify.verify(webhook, [SecretCandidate("current", secret)], POLICY)
        accepted = True
    except Rejected as rejected:
        accepted = False
        assert rejected.reason in (Reason.MISSING_SIGNATURE, Reason.MALFORMED_SIGNATURE, Reason.SIGNATURE_MISMATCH)
    assert accepted == documented_snippet_accepts(secret, body, value.strip())


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, Reason.MISSING_SIGNATURE),
        ("", Reason.MISSING_SIGNATURE),
        ("   ", Reason.MISSING_SIGNATURE),
        ("not base64 at all", Reason.MALFORMED_SIGNATURE),
        (hashlib.sha256(b"x").hexdigest(), Reason.MALFORMED_SIGNATURE),  # hex, not base64
        ("sha256=" + "A" * 43 + "=", Reason.MALFORMED_SIGNATURE),
        ("A" * 43, Reason.MALFORMED_SIGNATURE),  # padding missing
        ("A" * 44, Reason.MALFORMED_SIGNATURE),  # 33 bytes, no padding
        ("A" * 42 + "==", Reason.MALFORMED_SIGNATURE),  # 31 bytes
        ("A" * 44 + "=", Reason.MALFORMED_SIGNATURE),
        ("-" * 43 + "=", Reason.MALFORMED_SIGNATURE),  # URL-safe alphabet
        ("_" * 43 + "=", Reason.MALFORMED_SIGNATURE),
        ("Ã" * 43 + "=", Reason.MALFORMED_SIGNATURE),  # non-ASCII
        ("A" * 43 + "=\n" + "A", Reason.MALFORMED_SIGNATURE),
        ("A" * 43 + "=", Reason.SIGNATURE_MISMATCH),  # well-formed base64 of another digest
        (base64.b64encode(hashlib.sha256(BODY).digest()).decode(), Reason.SIGNATURE_MISMATCH),  # unkeyed
        (digest(BODY, OLD_SECRET), Reason.SIGNATURE_MISMATCH),  # another secret
    ],
)
def test_each_failure_has_its_reason(value, expected):
    headers = dict(X_HEADERS) if value is None else {**X_HEADERS, "x-shopify-hmac-sha256": value}
    assert reason(WebhookRequest(body=BODY, headers=headers)) is expected


def test_the_missing_and_malformed_details_name_the_headers_and_the_format():
    with pytest.raises(Rejected) as missing:
        shopify.verify(WebhookRequest(body=BODY, headers={}), CURRENT, POLICY)
    assert missing.value.detail == "no x-shopify-hmac-sha256 or shopify-hmac-sha256 header"
    with pytest.raises(Rejected) as malformed:
        shopify.verify(request(**{"x-shopify-hmac-sha256": "abc"}), CURRENT, POLICY)
    assert "base64" in malformed.value.detail and "abc" not in malformed.value.detail


def test_blanks_around_the_value_are_ignored():
    assert shopify.verify(request(**{"x-shopify-hmac-sha256": f"  {digest()}\t"}), CURRENT, POLICY).version == "current"


def test_the_comparison_is_case_sensitive_as_base64_is():
    swapped = digest().swapcase()
    assert reason(request(**{"x-shopify-hmac-sha256": swapped})) is Reason.SIGNATURE_MISMATCH


def test_a_changed_body_is_a_mismatch():
    assert reason(request(**{"x-shopify-hmac-sha256": digest(BODY + b"\n")})) is Reason.SIGNATURE_MISMATCH


def test_the_headers_are_not_signed_so_changing_them_keeps_the_signature_valid():
    # Shopify signs only the body: the identity must say so (see the identify tests)
    webhook = request(**{"x-shopify-topic": "app/uninstalled", "x-shopify-event-id": "another"})
    assert shopify.verify(webhook, CURRENT, POLICY).version == "current"


# --- rotation ---------------------------------------------------------------------------------------------------


def test_the_previous_secret_still_verifies_during_rotation():
    # Given Shopify still signing with the old secret (up to an hour after a rotation)
    webhook = request(**{"x-shopify-hmac-sha256": digest(BODY, OLD_SECRET)})
    secrets = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    # Then the previous secret matches, and it is the one reported
    assert shopify.verify(webhook, secrets, POLICY) == SecretCandidate("previous", OLD_SECRET)
    # And the current one is used first when it matches, without fetching the previous
    fetched: list[str] = []

    def lazy():
        yield SecretCandidate("current", SECRET)
        fetched.append("previous")
        yield SecretCandidate("previous", OLD_SECRET)

    assert shopify.verify(request(), lazy(), POLICY).version == "current"
    assert fetched == []


def test_neither_secret_matching_is_a_mismatch():
    secrets = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    assert reason(request(**{"x-shopify-hmac-sha256": digest(BODY, "a-third-secret")}), secrets) is (
        Reason.SIGNATURE_MISMATCH
    )


def test_an_empty_secret_never_verifies():
    # Even a delivery signed with the empty key (which anyone can compute)
    webhook = request(**{"x-shopify-hmac-sha256": digest(BODY, "")})
    assert reason(webhook, [SecretCandidate("current", ""), SecretCandidate("previous", "")]) is (
        Reason.SIGNATURE_MISMATCH
    )


# --- both header spellings --------------------------------------------------------------------------------------


def test_an_events_delivery_without_the_x_prefix_is_verified_and_named():
    webhook = events_request()
    assert shopify.verify(webhook, CURRENT, POLICY).version == "current"
    identity = shopify.identify(webhook)
    assert identity.delivery_id == f"{EVENTS_HEADERS['shopify-event-id']}:{EVENTS_HEADERS['shopify-webhook-id']}"
    assert identity.event_type == "orders/create"
    assert identity.delivery_id_signed is False


def test_the_events_signature_header_selects_the_events_names_for_everything():
    # Given both sets, the Events one carrying a wrong signature (as @shopify/shopify-api, Events win)
    webhook = request(**{"shopify-hmac-sha256": digest(BODY, OLD_SECRET), **EVENTS_HEADERS})
    assert reason(webhook) is Reason.SIGNATURE_MISMATCH
    # And with a right one, the ids and the topic come from the Events names, never the X- ones
    webhook = request(**{"shopify-hmac-sha256": digest(), **EVENTS_HEADERS, "shopify-topic": "app/uninstalled"})
    assert shopify.verify(webhook, CURRENT, POLICY).version == "current"
    identity = shopify.identify(webhook)
    assert identity.event_type == "app/uninstalled"
    assert WEBHOOK_ID not in identity.delivery_id and EVENT_ID not in identity.delivery_id


def test_an_events_request_without_its_own_ids_is_not_named_by_the_x_ones():
    webhook = WebhookRequest(
        body=BODY, headers={**X_HEADERS, "shopify-hmac-sha256": digest(), "shopify-topic": "orders/create"}
    )
    with pytest.raises(Rejected) as rejected:
        shopify.identify(webhook)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_a_blank_events_signature_header_falls_back_to_the_x_names():
    webhook = request(**{"shopify-hmac-sha256": "  "})
    assert shopify.verify(webhook, CURRENT, POLICY).version == "current"
    assert shopify.identify(webhook).delivery_id == f"{EVENT_ID}:{WEBHOOK_ID}"


def test_an_events_request_without_a_signature_is_missing_it():
    headers = {k: v for k, v in events_request().headers.items() if k != "shopify-hmac-sha256"}
    assert reason(WebhookRequest(body=BODY, headers=headers)) is Reason.MISSING_SIGNATURE


def test_header_prefixes():
    assert shopify.header_prefix(events_request()) == "shopify-"
    assert shopify.header_prefix(request()) == "x-shopify-"
    assert shopify.header_prefix(WebhookRequest(body=b"", headers={})) == "x-shopify-"


# --- the delivery -----------------------------------------------------------------------------------------------


def test_a_delivery_is_named_by_its_event_and_webhook_ids_and_typed_by_its_topic():
    identity = shopify.identify(request())
    assert identity.delivery_id == f"{EVENT_ID}:{WEBHOOK_ID}"
    assert identity.event_type == "orders/create"
    # Shopify signs neither: the consumer's body check must protect against a replay under a new id
    assert identity.delivery_id_signed is False


def test_a_retry_is_the_same_delivery_and_another_subscription_of_the_same_event_is_not():
    first = shopify.identify(request())
    retry = shopify.identify(request(**{"x-shopify-triggered-at": "2026-11-26T18:47:16.000000123Z"}))
    other_subscription = shopify.identify(request(**{"x-shopify-webhook-id": "another-webhook-id"}))
    assert retry.delivery_id == first.delivery_id
    assert other_subscription.delivery_id != first.delivery_id


def test_older_api_versions_without_an_event_id_are_named_by_the_webhook_id():
    without = {k: v for k, v in request().headers.items() if k != "x-shopify-event-id"}
    assert shopify.identify(WebhookRequest(body=BODY, headers=without)).delivery_id == WEBHOOK_ID
    blank = request(**{"x-shopify-event-id": "  "})
    assert shopify.identify(blank).delivery_id == WEBHOOK_ID


def test_a_delivery_with_only_an_event_id_is_named_by_it():
    without = {k: v for k, v in request().headers.items() if k != "x-shopify-webhook-id"}
    assert shopify.identify(WebhookRequest(body=BODY, headers=without)).delivery_id == EVENT_ID


def test_ids_and_topic_are_stripped():
    webhook = request(**{"x-shopify-topic": " orders/paid ", "x-shopify-event-id": " e ", "x-shopify-webhook-id": " w"})
    identity = shopify.identify(webhook)
    assert (identity.delivery_id, identity.event_type) == ("e:w", "orders/paid")


@pytest.mark.parametrize(
    "drop,blank,detail",
    [
        (("x-shopify-event-id", "x-shopify-webhook-id"), (), "neither a Shopify event id nor a webhook id header"),
        ((), ("x-shopify-event-id", "x-shopify-webhook-id"), "neither a Shopify event id nor a webhook id header"),
        (("x-shopify-topic",), (), "no Shopify topic header"),
        ((), ("x-shopify-topic",), "no Shopify topic header"),
    ],
)
def test_a_delivery_without_a_topic_or_any_id_is_unparseable(drop, blank, detail):
    headers = {k: v for k, v in request().headers.items() if k not in drop} | {name: " " for name in blank}
    with pytest.raises(Rejected) as rejected:
        shopify.identify(WebhookRequest(body=BODY, headers=headers))
    assert (rejected.value.reason, rejected.value.detail) == (Reason.UNPARSEABLE_PAYLOAD, detail)


@pytest.mark.parametrize(
    "body,detail",
    [
        (b"", "body is not JSON (JSONDecodeError)"),
        (b"<?xml version='1.0'?><order/>", "body is not JSON (JSONDecodeError)"),
        (b'{"a":"\xc3\x28"}', "body is not JSON (UnicodeDecodeError)"),
        (b"[" * 100_000 + b"]" * 100_000, "body is not JSON (RecursionError)"),
        (b"[1,2]", "body is not a JSON object"),
        (b'"orders/create"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_unparseable(body, detail):
    with pytest.raises(Rejected) as rejected:
        shopify.identify(request(body))
    assert (rejected.value.reason, rejected.value.detail) == (Reason.UNPARSEABLE_PAYLOAD, detail)


def test_an_empty_json_object_is_a_delivery():
    assert shopify.identify(request(b"{}")).event_type == "orders/create"


# --- what the gateway declares ----------------------------------------------------------------------------------


def test_the_provider_declares_its_title_default_answer_and_forwarded_headers():
    provider = load_provider("shopify")
    assert (provider.name, provider.title, provider.methods) == ("shopify", "Shopify", ("POST",))
    answer = provider.acknowledge(shopify.identify(request()))
    assert (answer.status, answer.content_type) == (202, "application/json")
    for name in ("topic", "shop-domain", "api-version", "webhook-id", "event-id", "triggered-at"):
        assert f"x-shopify-{name}" in provider.forwarded_headers
        assert f"shopify-{name}" in provider.forwarded_headers
    assert not any("hmac" in header for header in provider.forwarded_headers)
    assert provider.secret_format.sample and provider.secret_format.sample != provider.secret_format.wrong_sample


def test_each_shopify_app_is_its_own_instance_and_takes_no_options():
    # Given two Shopify apps (each with its own client secret), the second deployed as instance "shopify_eu"
    kind = load_provider("shopify")
    eu = provider_instance(kind, "shopify_eu", {})
    # Then it verifies and names deliveries as Shopify does, under its own name; the kind's own name keeps the kind
    assert (eu.name, eu.verify, eu.identify, eu.title) == ("shopify_eu", kind.verify, kind.identify, "Shopify")
    assert provider_instance(kind, "shopify", {}) is kind
    # And options are refused: the secret is all a Shopify instance needs
    with pytest.raises(ValueError, match="provider 'shopify' takes no options, got \\['header'\\]"):
        provider_instance(kind, "shopify_eu", {"header": "x-shopify-hmac-sha256"})


@pytest.mark.parametrize("kind", list(shopify_samples.SAMPLES.kinds))
def test_the_generated_events_verify_and_the_bad_signature_one_does_not(kind):
    event = build_event_file(f"shopify_{kind}.json")
    webhook = request_from_event(event)
    assert shopify.verify(webhook, CURRENT, POLICY).version == "current"
    assert documented_snippet_accepts(SECRET, webhook.body, webhook.header("x-shopify-hmac-sha256") or "")
    identity = shopify.identify(webhook)
    assert identity.event_type == kind.replace("_", "/", 1)
    bad = request_from_event(build_event_file("shopify_bad_signature.json"))
    assert reason(bad) is Reason.SIGNATURE_MISMATCH


def test_the_compliance_sample_is_what_shopify_sends_for_a_data_request():
    document = json.loads(shopify_samples.SAMPLES.kinds["customers_data_request"]().body)
    assert set(document) == {"shop_id", "shop_domain", "orders_requested", "customer", "data_request"}


# --- live @shopify/shopify-api (optional) -----------------------------------------------------------------------

_SDK_DIR = os.environ.get("SHOPIFY_API_JS", "")
_VALIDATE_JS = """
import '@shopify/shopify-api/adapters/web-api';
import { shopifyApi, ApiVersion } from '@shopify/shopify-api';
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const out = [];
for (const c of JSON.parse(Buffer.concat(chunks).toString('utf8'))) {
  const shopify = shopifyApi({ apiKey: 'k', apiSecretKey: c.secret, apiVersion: ApiVersion.July26,
    isEmbeddedApp: false, hostName: 'example.com', logger: { level: 0, log: async () => {} } });
  const rawBody = Buffer.from(c.body_b64, 'base64').toString('utf8');
  const rawRequest = new Request('https://example.com/webhooks/shopify',
    { method: 'POST', headers: c.headers, body: rawBody });
  out.push(await shopify.webhooks.validate({ rawBody, rawRequest }));
}
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(
    not (_SDK_DIR and shutil.which("node") and (Path(_SDK_DIR) / "node_modules/@shopify/shopify-api").is_dir()),
    reason="set SHOPIFY_API_JS to a directory with @shopify/shopify-api installed (and have node) to run it live",
)
def test_shopify_api_js_agrees_on_random_deliveries():
    rng = random.Random(20261126)
    cases = []
    for index in range(300):
        text = "".join(rng.choice('abc{}":,é—😀 \n') for _ in range(rng.randrange(1, 200)))
        # JSON (identify() parses it) in valid UTF-8 (the SDK reads the raw body as UTF-8 text), unescaped or not
        body = json.dumps({"t": text}, ensure_ascii=index % 2 == 0).encode("utf-8")
        secret = "".join(rng.choice("abcdef0123456789_-ñ") for _ in range(rng.randrange(1, 40)))
        prefix, headers = rng.choice([("x-shopify-", X_HEADERS), ("shopify-", EVENTS_HEADERS)])
        value = digest(body, secret)
        if index % 3 == 1:
            value = digest(body + b"!", secret)
        elif index % 3 == 2:
            value = base64.b64encode(rng.randbytes(32)).decode()
        cases.append((body, secret, {**headers, prefix + "hmac-sha256": value}))
    payload = [{"secret": s, "body_b64": base64.b64encode(b).decode(), "headers": h} for b, s, h in cases]
    result = subprocess.run(
        ["node", "--input-type=module", "-e", _VALIDATE_JS],
        input=json.dumps(payload).encode(),
        cwd=_SDK_DIR,
        capture_output=True,
        check=True,
        timeout=120,
    )
    verdicts = json.loads(result.stdout)
    assert len(verdicts) == len(cases)
    for (body, secret, headers), verdict in zip(cases, verdicts, strict=True):
        webhook = WebhookRequest(body=body, headers=headers)
        try:
            shopify.verify(webhook, [SecretCandidate("current", secret)], POLICY)
            ours = True
        except Rejected:
            ours = False
        assert ours == verdict["valid"], (headers, verdict)
        if ours:
            identity = shopify.identify(webhook)
            assert identity.delivery_id == f"{verdict['eventId']}:{verdict['webhookId']}"
