"""Generic HMAC verifier, configured like senders we know and checked against their references: GitHub's documented
test vector (``sha256=`` hex of the body), slack_sdk's ``SignatureVerifier`` (``v0:{timestamp}:{body}``), Shopify's
base64 of the body, and the default options the samples sign with. Options errors and the property over random
options: test_generic_hmac_options.py; through the real receiver: tests/integration/receiver/
test_generic_hmac_receiver.py."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tools.make_events import SAMPLE_SECRETS, build_event_file
from webhook_gateway.verifiers import generic_hmac
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
    provider_instance,
)
from webhook_gateway.verifiers.samples import generic_hmac as generic_samples

SECRET = "sample-generic-hmac-secret"
OLD_SECRET = "previous-generic-hmac-secret"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
BODY = json.dumps({"id": "evt_1", "type": "order.created", "data": {"n": 1}}).encode()

GITHUB = {
    "signature_header": "X-Hub-Signature-256",
    "signature_prefix": "sha256=",
    "delivery_id_header": "X-GitHub-Delivery",
    "event_type_header": "X-GitHub-Event",
}
SLACK = {
    "signature_header": "x-slack-signature",
    "signature_prefix": "v0=",
    "signed_payload": "v0:{timestamp}:{body}",
    "timestamp_header": "x-slack-request-timestamp",
    "delivery_id_pointer": "/event_id",
    "event_type_pointer": "/event/type",
}
SHOPIFY = {
    "signature_header": "x-shopify-hmac-sha256",
    "encoding": "base64",
    "delivery_id_header": "x-shopify-event-id",
    "event_type_header": "x-shopify-topic",
}
# Standard-Webhooks-like: the id header is signed, the timestamp in milliseconds
SIGNED_ID = {
    "signature_header": "webhook-signature",
    "signature_prefix": "v1,",
    "encoding": "base64",
    "algorithm": "sha512",
    "signed_payload": "{delivery_id}.{timestamp}.{body}",
    "timestamp_header": "webhook-timestamp",
    "timestamp_unit": "milliseconds",
    "delivery_id_header": "webhook-id",
    "event_type": "acme.event",
}


def provider(options: dict[str, object]) -> Provider:
    return generic_hmac.configure(options)


def hex_hmac(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, algorithm).hexdigest()


def b64_hmac(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, algorithm).digest()).decode()


def rejection(configured: Provider, webhook: WebhookRequest, secrets=CURRENT, policy=POLICY) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        configured.verify(webhook, secrets, policy)
    return rejected.value


def default_request(body: bytes = BODY, secret: str = SECRET, **headers: str) -> WebhookRequest:
    return WebhookRequest(body=body, headers={"x-signature": hex_hmac(secret, body), **headers})


# ------------------------------------------------------------------------------------------------------ defaults
def test_empty_options_are_the_default_provider():
    assert generic_hmac.configure({}) is generic_hmac.PROVIDER
    explicit = {"signature_header": "x-signature", "algorithm": "sha256", "encoding": "hex", "signed_payload": "{body}"}
    assert generic_hmac.configure(explicit) is generic_hmac.PROVIDER
    assert generic_hmac.configure({"algorithm": "sha512"}) is not generic_hmac.PROVIDER


def test_the_defaults_are_hex_hmac_sha256_of_the_body_in_x_signature():
    assert (
        generic_hmac.Options(
            signature_header="x-signature",
            algorithm="sha256",
            encoding="hex",
            signature_prefix="",
            signed_payload="{body}",
            timestamp_header=None,
            timestamp_unit="seconds",
            delivery_id_header=None,
            delivery_id_pointer=None,
            event_type_header=None,
            event_type_pointer=None,
            event_type=None,
            forwarded_headers=(),
        )
        == generic_hmac.DEFAULT_OPTIONS
    )
    assert generic_hmac.PROVIDER.verify(default_request(), CURRENT, POLICY).version == "current"
    assert (generic_hmac.PROVIDER.name, generic_hmac.PROVIDER.title) == ("generic_hmac", "Generic HMAC")


def test_a_configured_provider_differs_from_the_default_only_in_what_the_options_change():
    configured = provider({"algorithm": "sha512", "event_type_header": "x-kind"})
    assert configured == dataclasses.replace(
        generic_hmac.PROVIDER,
        verify=configured.verify,
        identify=configured.identify,
        forwarded_headers=("content-type", "user-agent", "x-kind"),
    )
    assert configured.secret_format.sample == "sample-generic-hmac-secret"
    assert configured.samples == "webhook_gateway.verifiers.samples.generic_hmac"


def test_an_instance_of_generic_hmac_is_configured_and_renamed():
    # The receiver's path (base.provider_instance): the kind's configure() with the options, then the instance's name
    acme = provider_instance(generic_hmac.PROVIDER, "acme", {"signature_header": "x-acme-signature"})
    assert acme.name == "acme" and acme.title == "Generic HMAC"
    signed = WebhookRequest(body=BODY, headers={"x-acme-signature": hex_hmac(SECRET, BODY)})
    assert acme.verify(signed, CURRENT, POLICY).version == "current"
    assert rejection(acme, default_request()).reason is Reason.MISSING_SIGNATURE
    assert provider_instance(generic_hmac.PROVIDER, "generic_hmac", {}) is generic_hmac.PROVIDER
    default_acme = provider_instance(generic_hmac.PROVIDER, "acme", {})
    assert default_acme == dataclasses.replace(generic_hmac.PROVIDER, name="acme")
    with pytest.raises(ValueError, match="algorithm"):
        provider_instance(generic_hmac.PROVIDER, "acme", {"algorithm": "md5"})


def test_a_kind_without_configure_takes_no_options():
    unconfigurable = dataclasses.replace(generic_hmac.PROVIDER, configure=None)
    with pytest.raises(ValueError, match=r"takes no options, got \['algorithm'\]"):
        provider_instance(unconfigurable, "acme", {"algorithm": "sha1"})
    assert provider_instance(unconfigurable, "generic_hmac", {}) is unconfigurable
    assert provider_instance(unconfigurable, "acme", {}) == dataclasses.replace(unconfigurable, name="acme")


def test_the_default_identity_is_the_signed_body_hash_and_the_type_webhook():
    identity = generic_hmac.PROVIDER.identify(default_request(b"not even json"))
    assert identity == DeliveryIdentity(
        "sha256:" + hashlib.sha256(b"not even json").hexdigest(), "webhook", delivery_id_signed=True
    )


def test_the_default_forwarded_headers_and_never_the_signature():
    assert generic_hmac.PROVIDER.forwarded_headers == ("content-type", "user-agent")
    configured = provider({**SLACK, "event_type_header": "x-kind", "event_type_pointer": None})
    assert configured.forwarded_headers == ("content-type", "user-agent", "x-slack-request-timestamp", "x-kind")
    extra = provider({"forwarded_headers": ["X-Retry", "user-agent"], "delivery_id_header": "x-id"})
    assert extra.forwarded_headers == ("content-type", "user-agent", "x-id", "x-retry")
    assert "x-signature" not in provider({"event_type_header": "x-signature"}).forwarded_headers


def test_the_sample_signer_is_the_default_verifier_and_names_the_sample():
    signed = generic_samples.sign(BODY, "https://h/webhooks/generic_hmac", "application/json", SECRET, NOW)
    assert signed.url == "https://h/webhooks/generic_hmac"
    assert signed.headers == {"x-signature": hex_hmac(SECRET, BODY)}


def test_the_generated_events_verify_with_the_sample_secret():
    for name in ("generic_hmac_order_created.json", "generic_hmac_invoice_paid.json"):
        event = build_event_file(name)
        body = event["body"].encode()
        assert event["headers"]["x-signature"] == hex_hmac(SAMPLE_SECRETS["generic_hmac"], body), name
    bad = build_event_file("generic_hmac_bad_signature.json")
    assert bad["headers"]["x-signature"] != hex_hmac(SAMPLE_SECRETS["generic_hmac"], bad["body"].encode())


# ------------------------------------------------------------------------------------------- configured as GitHub
def test_github_configuration_accepts_githubs_documented_vector():
    # GitHub's docs: secret "It's a Secret to Everybody", body "Hello, World!"
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"x-hub-signature-256": expected, "x-github-delivery": "72d3162e", "x-github-event": "ping"}
    secrets = [SecretCandidate("current", "It's a Secret to Everybody")]
    configured = provider(GITHUB)
    assert configured.verify(WebhookRequest(body=body, headers=headers), secrets, POLICY).version == "current"
    # Upper-case hex is the same digest
    upper = {**headers, "x-hub-signature-256": "sha256=" + expected[7:].upper()}
    assert configured.verify(WebhookRequest(body=body, headers=upper), secrets, POLICY).version == "current"
    # The delivery GUID is a plain header GitHub does not sign
    identity = configured.identify(WebhookRequest(body=body, headers=headers))
    assert identity == DeliveryIdentity("72d3162e", "ping", delivery_id_signed=False)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        ("   ", Reason.MISSING_SIGNATURE),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.MALFORMED_SIGNATURE),
        ("sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.MALFORMED_SIGNATURE),
        ("SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.MALFORMED_SIGNATURE),
        ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1", Reason.MALFORMED_SIGNATURE),
        ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e170", Reason.MALFORMED_SIGNATURE),
        ("sha256=g57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.MALFORMED_SIGNATURE),
        ("sha256=657107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", Reason.SIGNATURE_MISMATCH),
    ],
)
def test_each_signature_failure_has_its_reason(signature, reason):
    headers = {} if signature is None else {"x-hub-signature-256": signature}
    webhook = WebhookRequest(body=b"Hello, World!", headers=headers)
    assert rejection(provider(GITHUB), webhook, [SecretCandidate("current", "It's a Secret to Everybody")]).reason is (
        reason
    )


def test_the_missing_header_detail_names_the_configured_header():
    assert rejection(provider(GITHUB), WebhookRequest(body=b"x", headers={})).detail == "no x-hub-signature-256 header"


def test_blanks_around_the_signature_are_ignored():
    webhook = WebhookRequest(body=BODY, headers={"x-signature": f"  {hex_hmac(SECRET, BODY)}\t"})
    assert generic_hmac.PROVIDER.verify(webhook, CURRENT, POLICY).version == "current"


# -------------------------------------------------------------------------------------------- configured as Slack
class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self.fixed = now

    def now(self) -> float:
        return self.fixed


SLACK_SECRET = "8f742231b10e8888abcd99e0d4e85a5b"
SLACK_EVENT = json.dumps(
    {"type": "event_callback", "event_id": "Ev0001ABCD", "event": {"type": "app_mention", "text": "hi"}}
).encode()


def slack_request(body: bytes = SLACK_EVENT, timestamp: int = NOW, secret: str = SLACK_SECRET) -> WebhookRequest:
    sdk = SignatureVerifier(secret, clock=FixedClock(NOW))
    signature = sdk.generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    headers = {"x-slack-signature": signature, "x-slack-request-timestamp": str(timestamp)}
    assert SignatureVerifier(secret, clock=FixedClock(timestamp)).is_valid_request(body, headers)
    return WebhookRequest(body=body, headers=headers)


def test_slack_configuration_accepts_what_slack_sdk_signs_and_names_it_from_the_signed_body():
    configured = provider(SLACK)
    secrets = [SecretCandidate("current", SLACK_SECRET)]
    assert configured.verify(slack_request(), secrets, POLICY).version == "current"
    assert configured.identify(slack_request()) == DeliveryIdentity("Ev0001ABCD", "app_mention", True)
    assert rejection(configured, slack_request(secret="another-signing-secret"), secrets).reason is (
        Reason.SIGNATURE_MISMATCH
    )


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (300, None),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (-60, None),
        (-61, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_the_slack_timestamp_window_is_the_policys(age, reason):
    configured = provider(SLACK)
    secrets = [SecretCandidate("current", SLACK_SECRET)]
    webhook = slack_request(timestamp=NOW - age)
    if reason is None:
        assert configured.verify(webhook, secrets, POLICY).version == "current"
    else:
        assert rejection(configured, webhook, secrets).reason is reason


def test_the_signature_is_checked_before_the_timestamp():
    forged = WebhookRequest(
        body=SLACK_EVENT, headers={"x-slack-signature": "v0=" + "a" * 64, "x-slack-request-timestamp": str(NOW - 3600)}
    )
    assert rejection(provider(SLACK), forged, [SecretCandidate("current", SLACK_SECRET)]).reason is (
        Reason.SIGNATURE_MISMATCH
    )


def test_a_moved_timestamp_is_a_mismatch():
    webhook = slack_request()
    moved = WebhookRequest(body=webhook.body, headers={**webhook.headers, "x-slack-request-timestamp": str(NOW + 1)})
    assert rejection(provider(SLACK), moved, [SecretCandidate("current", SLACK_SECRET)]).reason is (
        Reason.SIGNATURE_MISMATCH
    )


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        (None, Reason.MISSING_SIGNATURE),
        (" ", Reason.MISSING_SIGNATURE),
        ("17e8", Reason.MALFORMED_SIGNATURE),
        ("-1", Reason.MALFORMED_SIGNATURE),
        ("1" * 13, Reason.MALFORMED_SIGNATURE),
        ("１７", Reason.MALFORMED_SIGNATURE),
    ],
)
def test_a_missing_or_malformed_signed_timestamp_has_its_reason(timestamp, reason):
    headers = {"x-slack-signature": "v0=" + "a" * 64}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    webhook = WebhookRequest(body=SLACK_EVENT, headers=headers)
    assert rejection(provider(SLACK), webhook).reason is reason


def test_twelve_digit_seconds_are_a_timestamp():
    assert generic_hmac.signed_time(generic_hmac.parse_options(SLACK), "9" * 12) == 999_999_999_999


# ------------------------------------------------------------------------------------------ configured as Shopify
def shopify_request(body: bytes = BODY, signature: str | None = None) -> WebhookRequest:
    headers = {
        "x-shopify-hmac-sha256": b64_hmac(SECRET, body) if signature is None else signature,
        "x-shopify-event-id": " 98880550-7158-44d4-b7cd-2c97c8a091b5 ",
        "x-shopify-topic": "orders/create",
    }
    return WebhookRequest(body=body, headers=headers)


def test_shopify_configuration_accepts_base64_of_the_body_with_or_without_padding():
    configured = provider(SHOPIFY)
    padded = b64_hmac(SECRET, BODY)
    assert padded.endswith("=") and len(padded) == 44
    assert configured.verify(shopify_request(), CURRENT, POLICY).version == "current"
    assert configured.verify(shopify_request(signature=padded.rstrip("=")), CURRENT, POLICY).version == "current"
    identity = configured.identify(shopify_request())
    assert identity == DeliveryIdentity("98880550-7158-44d4-b7cd-2c97c8a091b5", "orders/create", False)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda s: s + "=", Reason.MALFORMED_SIGNATURE),  # 43 characters and two "="
        (lambda s: s[:-2] + "=", Reason.MALFORMED_SIGNATURE),  # one character short
        (lambda s: "A" + s, Reason.MALFORMED_SIGNATURE),  # one character long
        (lambda s: s[:-2] + "-=", Reason.MALFORMED_SIGNATURE),  # base64url alphabet
        (lambda s: s.lower() if s != s.lower() else s.upper(), Reason.SIGNATURE_MISMATCH),  # base64 is case-sensitive
    ],
)
def test_base64_signatures_must_be_the_digest(mangle, reason):
    assert rejection(provider(SHOPIFY), shopify_request(signature=mangle(b64_hmac(SECRET, BODY)))).reason is reason


@pytest.mark.parametrize(("algorithm", "length", "padding"), [("sha1", 27, 1), ("sha256", 43, 1), ("sha512", 86, 2)])
def test_each_algorithm_in_each_encoding(algorithm, length, padding):
    for encoding, signature in (
        ("hex", hex_hmac(SECRET, BODY, algorithm)),
        ("base64", b64_hmac(SECRET, BODY, algorithm)),
    ):
        configured = provider({"algorithm": algorithm, "encoding": encoding})
        webhook = WebhookRequest(body=BODY, headers={"x-signature": signature})
        assert configured.verify(webhook, CURRENT, POLICY).version == "current", encoding
        other = "sha256" if algorithm != "sha256" else "sha512"
        assert rejection(provider({"algorithm": other, "encoding": encoding}), webhook).reason is (
            Reason.MALFORMED_SIGNATURE
        )
    b64 = b64_hmac(SECRET, BODY, algorithm)
    assert len(b64.rstrip("=")) == length and len(b64) - length == padding
    assert generic_hmac.signature_format(generic_hmac.parse_options({"algorithm": algorithm, "encoding": "base64"})) \
        .fullmatch(b64.rstrip("=") + "=" * padding)  # fmt: skip


# ------------------------------------------------------------------------------ a signed delivery id, milliseconds
def signed_id_request(
    delivery_id: str = "msg_2q5Kpz", millis: int = NOW * 1000, body: bytes = BODY, secret: str = SECRET
) -> WebhookRequest:
    message = f"{delivery_id}.{millis}.".encode() + body
    signature = "v1," + b64_hmac(secret, message, "sha512")
    headers = {"webhook-signature": signature, "webhook-timestamp": str(millis), "webhook-id": delivery_id}
    return WebhookRequest(body=body, headers=headers)


def test_a_signed_id_header_is_a_signed_delivery_id():
    configured = provider(SIGNED_ID)
    assert configured.verify(signed_id_request(), CURRENT, POLICY).version == "current"
    assert configured.identify(signed_id_request()) == DeliveryIdentity("msg_2q5Kpz", "acme.event", True)
    # Another id under the same signature is refused: the id is signed
    webhook = signed_id_request()
    renamed = WebhookRequest(body=webhook.body, headers={**webhook.headers, "webhook-id": "msg_other"})
    assert rejection(configured, renamed).reason is Reason.SIGNATURE_MISMATCH
    missing = WebhookRequest(body=webhook.body, headers={**webhook.headers, "webhook-id": ""})
    assert rejection(configured, missing).reason is Reason.MISSING_SIGNATURE


@pytest.mark.parametrize(
    ("millis", "reason"),
    [
        ((NOW - 300) * 1000, None),
        ((NOW - 300) * 1000 - 1, Reason.TIMESTAMP_TOO_OLD),  # 300.001 s ago is 301 whole seconds
        ((NOW + 60) * 1000 + 999, None),
        ((NOW + 61) * 1000, Reason.TIMESTAMP_IN_FUTURE),
        (NOW, Reason.TIMESTAMP_TOO_OLD),  # seconds where milliseconds are expected: 1970
    ],
)
def test_millisecond_timestamps_are_checked_in_seconds(millis, reason):
    webhook = signed_id_request(millis=millis)
    if reason is None:
        assert provider(SIGNED_ID).verify(webhook, CURRENT, POLICY).version == "current"
    else:
        assert rejection(provider(SIGNED_ID), webhook).reason is reason


def test_a_fractional_second_never_rounds_into_the_window():
    # 60.5 s ahead: in whole seconds (floor) 60 s ahead, within the 60 s allowance; true division would refuse it
    webhook = signed_id_request(millis=(NOW + 60) * 1000 + 500)
    assert provider(SIGNED_ID).verify(webhook, CURRENT, POLICY).version == "current"


def test_milliseconds_allow_fifteen_digits_and_no_more():
    options = generic_hmac.parse_options(SIGNED_ID)
    assert generic_hmac.signed_time(options, "9" * 15) == 999_999_999_999
    assert generic_hmac.signed_time(options, "1999") == 1
    with pytest.raises(Rejected) as rejected:
        generic_hmac.signed_time(options, "9" * 16)
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


def test_literal_braces_and_text_around_the_body_are_signed_as_written():
    configured = provider({"signed_payload": "{{v1}}|{body}|end"})
    webhook = WebhookRequest(body=BODY, headers={"x-signature": hex_hmac(SECRET, b"{v1}|" + BODY + b"|end")})
    assert configured.verify(webhook, CURRENT, POLICY).version == "current"
    # "{{timestamp}}" is literal text: it needs no timestamp header
    literal = provider({"signed_payload": "{{timestamp}}{body}"})
    webhook = WebhookRequest(body=BODY, headers={"x-signature": hex_hmac(SECRET, b"{timestamp}" + BODY)})
    assert literal.verify(webhook, CURRENT, POLICY).version == "current"


def test_non_ascii_template_text_is_utf8():
    configured = provider({"signed_payload": "é:{body}"})
    webhook = WebhookRequest(body=BODY, headers={"x-signature": hex_hmac(SECRET, "é:".encode() + BODY)})
    assert configured.verify(webhook, CURRENT, POLICY).version == "current"


# ------------------------------------------------------------------------------------------------------ rotation
def test_the_previous_secret_still_verifies_during_rotation():
    rotated = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    webhook = default_request(secret=OLD_SECRET)
    assert generic_hmac.PROVIDER.verify(webhook, rotated, POLICY).version == "previous"
    assert rejection(generic_hmac.PROVIDER, webhook).reason is Reason.SIGNATURE_MISMATCH


def test_an_empty_secret_never_verifies():
    webhook = default_request(secret="")
    assert rejection(generic_hmac.PROVIDER, webhook, [SecretCandidate("current", "")]).reason is (
        Reason.SIGNATURE_MISMATCH
    )


def test_a_changed_body_is_a_mismatch():
    webhook = default_request()
    changed = WebhookRequest(body=BODY + b" ", headers=webhook.headers)
    assert rejection(generic_hmac.PROVIDER, changed).reason is Reason.SIGNATURE_MISMATCH


# ------------------------------------------------------------------------------------------------------ identity
DOCUMENT = {"a/b": {"m~n": "slashed"}, "items": [{"id": 7}, {"id": "second"}], "n": 42, "t": True, "e": "", "f": 1.5}


def identify_at(pointer: str, body: bytes | None = None) -> DeliveryIdentity:
    configured = provider({"delivery_id_pointer": pointer, "event_type_pointer": pointer})
    return configured.identify(WebhookRequest(body=json.dumps(DOCUMENT).encode() if body is None else body, headers={}))


@pytest.mark.parametrize(
    ("pointer", "value"),
    [("/a~1b/m~0n", "slashed"), ("/items/0/id", "7"), ("/items/1/id", "second"), ("/n", "42")],
)
def test_json_pointers_follow_rfc_6901(pointer, value):
    identity = identify_at(pointer)
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (value, value, True)


@pytest.mark.parametrize(
    "pointer",
    ["/missing", "/items/2/id", "/items/01/id", "/items/-", "/items/x", "/a~1b/m~1n", "/t", "/e", "/f", "/items",
     "/n/0", "/a/b"],
)  # fmt: skip
def test_a_pointer_to_nothing_or_to_no_string_or_integer_is_unparseable(pointer):
    with pytest.raises(Rejected) as rejected:
        identify_at(pointer)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_the_pointer_escapes_are_undone_in_rfc_order():
    # "~01" is "~" then "1" (not "/"): ~1 is replaced first, then ~0
    body = json.dumps({"~1": "tilde-one", "/": "slash"}).encode()
    assert identify_at("/~01", body).delivery_id == "tilde-one"
    assert identify_at("/~1", body).delivery_id == "slash"


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[" * 100_000, b""])
def test_a_body_that_is_not_json_is_unparseable_when_a_pointer_is_configured(body):
    with pytest.raises(Rejected) as rejected:
        identify_at("/id", body)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_a_top_level_array_is_pointed_into():
    assert identify_at("/1", b'["a", "b"]').delivery_id == "b"


@pytest.mark.parametrize("headers", [{}, {"x-id": " ", "x-kind": "k"}, {"x-id": "1", "x-kind": ""}])
def test_a_missing_id_or_event_header_is_unparseable(headers):
    configured = provider({"delivery_id_header": "x-id", "event_type_header": "X-Kind"})
    with pytest.raises(Rejected) as rejected:
        configured.identify(WebhookRequest(body=b"{}", headers=headers))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_a_constant_event_type():
    configured = provider({"event_type": "acme.order"})
    assert configured.identify(WebhookRequest(body=b"x", headers={})).event_type == "acme.order"


def test_header_ids_are_unsigned_unless_the_template_signs_them():
    unsigned = provider({"delivery_id_header": "x-id"}).identify(WebhookRequest(body=b"x", headers={"x-id": "d1"}))
    assert (unsigned.delivery_id, unsigned.delivery_id_signed) == ("d1", False)
    signed = provider({"delivery_id_header": "x-id", "signed_payload": "{delivery_id}{body}"})
    assert signed.identify(WebhookRequest(body=b"x", headers={"x-id": "d1"})).delivery_id_signed is True
    literal = provider({"delivery_id_header": "x-id", "signed_payload": "{{delivery_id}}{body}"})
    assert literal.identify(WebhookRequest(body=b"x", headers={"x-id": "d1"})).delivery_id_signed is False


def test_the_default_acknowledgement_is_202_json():
    ack = generic_hmac.PROVIDER.acknowledge(DeliveryIdentity("d", "webhook"))
    assert (ack.status, ack.content_type) == (202, "application/json")


def test_sample_kinds_verify_and_another_id_is_another_delivery():
    sample = generic_samples.SAMPLES.kinds["order_created"]()
    renamed = generic_samples.with_delivery_id(sample, "evt_other")
    assert json.loads(renamed.body) == {**json.loads(sample.body), "id": "evt_other"}
    for delivery in (sample, renamed):
        signed = generic_samples.sign(delivery.body, "https://h", delivery.content_type, SECRET, time.time())
        webhook = WebhookRequest(body=delivery.body, headers={**delivery.headers, **signed.headers})
        assert generic_hmac.PROVIDER.verify(webhook, CURRENT, POLICY).version == "current"
    assert generic_hmac.PROVIDER.identify(WebhookRequest(body=renamed.body, headers={})) != (
        generic_hmac.PROVIDER.identify(WebhookRequest(body=sample.body, headers={}))
    )
