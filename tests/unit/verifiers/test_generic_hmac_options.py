"""Generic HMAC options: each bad option stops configure() with a ValueError naming it (never echoing its value), and
for random valid options a delivery signed by an independent signer (written here from the option descriptions in
docs/providers/generic_hmac.md) verifies, while any single changed byte of its body, signature or signed headers is
refused."""

from __future__ import annotations

import base64
import hmac
import os
import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from webhook_gateway.verifiers import generic_hmac
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW)
# Something a person might paste into the wrong field: no error message may repeat it.
LEAKED = "whsec_do-not-echo-me"

MUTATING = "mutmut" in sys.modules or bool(os.environ.get("MUTANT_UNDER_TEST"))
PROPERTY = settings(
    max_examples=200,
    phases=(Phase.explicit,) if MUTATING else tuple(Phase),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def option_error(options: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as error:
        generic_hmac.configure(options)
    message = str(error.value)
    assert LEAKED not in message
    return message


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"signature_header": LEAKED + " x"}, "signature_header"),
        ({"signature_header": ""}, "signature_header"),
        ({"signature_header": None}, "signature_header"),
        ({"signature_header": 1}, "signature_header"),
        ({"signature_header": "x" * 129}, "signature_header"),
        ({"signature_header": "x-sig:"}, "signature_header"),
        ({"algorithm": LEAKED}, "algorithm"),
        ({"algorithm": "md5"}, "algorithm"),
        ({"algorithm": "SHA256"}, "algorithm"),
        ({"algorithm": None}, "algorithm"),
        ({"encoding": "base64url"}, "encoding"),
        ({"encoding": ["hex"]}, "encoding"),
        ({"signature_prefix": 7}, "signature_prefix"),
        ({"signature_prefix": None}, "signature_prefix"),
        ({"signed_payload": ""}, "signed_payload"),
        ({"signed_payload": 1}, "signed_payload"),
        ({"signed_payload": LEAKED}, "signed_payload"),  # no {body}
        ({"signed_payload": "{body}{body}"}, "signed_payload"),
        ({"signed_payload": "{body}{nonce}"}, "signed_payload"),
        ({"signed_payload": "{}{body}"}, "signed_payload"),
        ({"signed_payload": "{0}{body}"}, "signed_payload"),
        ({"signed_payload": "{body!r}"}, "signed_payload"),
        ({"signed_payload": "{body:>9}"}, "signed_payload"),
        ({"signed_payload": "{body}}"}, "signed_payload"),
        ({"signed_payload": "{{body}"}, "signed_payload"),
        (
            {"signed_payload": "{timestamp}{timestamp}{body}", "timestamp_header": "x-ts"},
            "signed_payload",
        ),
        ({"signed_payload": "{delivery_id}{body}"}, "signed_payload"),  # needs delivery_id_header
        ({"signed_payload": "{timestamp}.{body}"}, "timestamp_header"),
        ({"timestamp_header": "x-ts"}, "timestamp_header"),  # a timestamp the signature does not cover
        ({"timestamp_header": "x ts", "signed_payload": "{timestamp}{body}"}, "timestamp_header"),
        ({"timestamp_unit": "microseconds"}, "timestamp_unit"),
        ({"timestamp_unit": "s"}, "timestamp_unit"),
        ({"delivery_id_header": ""}, "delivery_id_header"),
        ({"delivery_id_pointer": "id"}, "delivery_id_pointer"),
        ({"delivery_id_pointer": ""}, "delivery_id_pointer"),
        ({"delivery_id_pointer": "/a~2"}, "delivery_id_pointer"),
        ({"delivery_id_pointer": "/a~"}, "delivery_id_pointer"),
        ({"delivery_id_pointer": 3}, "delivery_id_pointer"),
        ({"delivery_id_pointer": "/id", "delivery_id_header": "x-id"}, "delivery_id_header, delivery_id_pointer"),
        ({"event_type_header": "bad header"}, "event_type_header"),
        ({"event_type_pointer": "type"}, "event_type_pointer"),
        ({"event_type": ""}, "event_type"),
        ({"event_type": 5}, "event_type"),
        ({"event_type": "x", "event_type_pointer": "/type"}, "event_type_pointer, event_type"),
        ({"event_type": "x", "event_type_header": "x-t"}, "event_type_header, event_type"),
        ({"event_type_header": "x-t", "event_type_pointer": "/type"}, "event_type_header, event_type_pointer"),
        ({"forwarded_headers": "x-a"}, "forwarded_headers"),
        ({"forwarded_headers": ["x-a", None]}, "forwarded_headers"),
        ({"forwarded_headers": ["x a"]}, "forwarded_headers"),
        ({"forwarded_headers": ["X-Signature"]}, "forwarded_headers"),
        ({"forwarded_headers": ["x-hub"], "signature_header": "X-Hub"}, "forwarded_headers"),
    ],
)
def test_a_bad_option_is_a_value_error_naming_it(options, named):
    # The message starts with the option's name (or, for two that exclude each other, names both)
    message = option_error(options)
    assert message.startswith(f"{named}: ") if "," not in named else message.endswith(f"one of {named}")


def test_an_unknown_option_is_named():
    assert option_error({"header": "x", "secret": LEAKED}) == "unknown options ['header', 'secret']"


def test_the_messages_say_what_is_allowed():
    assert option_error({"algorithm": "md5"}) == "algorithm: must be one of sha1, sha256, sha512"
    assert option_error({"encoding": "b64"}) == "encoding: must be one of hex, base64"
    assert option_error({"timestamp_unit": "us"}) == "timestamp_unit: must be one of seconds, milliseconds"
    assert option_error({"delivery_id_pointer": "/a", "delivery_id_header": "x"}) == (
        "delivery id: set only one of delivery_id_header, delivery_id_pointer"
    )
    assert option_error({"event_type": "a", "event_type_header": "x"}) == (
        "event type: set only one of event_type_header, event_type"
    )
    assert option_error({"signature_header": "a b"}).startswith("signature_header: must be an HTTP header name")
    assert option_error({"forwarded_headers": ["a b"]}).startswith("forwarded_headers: must be an HTTP header name")


@pytest.mark.parametrize(
    "options",
    [
        {"signature_header": "X-Acme-Signature"},
        {"signature_header": "x" * 128},
        {"signature_header": "!#$%&'*+.^_`|~09az-"},
        {"signature_prefix": ""},
        {"signature_prefix": "sha256="},
        {"algorithm": "sha1", "encoding": "base64"},
        {"signed_payload": "{timestamp}.{body}", "timestamp_header": "x-ts", "timestamp_unit": "milliseconds"},
        {"signed_payload": "{delivery_id}{body}", "delivery_id_header": "X-Id"},
        {"delivery_id_pointer": "/"},
        {"delivery_id_pointer": "//a/~0~1/0"},
        {"event_type_pointer": "/type", "delivery_id_pointer": "/id"},
        {"event_type": "acme"},
        {"forwarded_headers": []},
        {"forwarded_headers": ["X-Retry-Count", "x-trace"]},
        {"delivery_id_pointer": None, "event_type_header": None, "timestamp_header": None},
    ],
)
def test_valid_options_configure_a_provider(options):
    configured = generic_hmac.configure(options)
    assert configured.name == "generic_hmac" and configured.configure is generic_hmac.configure


def test_header_names_are_lower_cased():
    options = generic_hmac.parse_options(
        {"signature_header": "X-Sig", "delivery_id_header": "X-Id", "event_type_header": "X-Type",
         "forwarded_headers": ["X-Extra"]}
    )  # fmt: skip
    assert (options.signature_header, options.delivery_id_header, options.event_type_header) == (
        "x-sig",
        "x-id",
        "x-type",
    )
    assert options.forwarded_headers == ("x-extra",)


def test_the_placeholders_of_a_template():
    assert generic_hmac.template_fields("v0:{timestamp}:{body}") == ["timestamp", "body"]
    assert generic_hmac.template_fields("{{x}}{body}{{y}}") == ["body"]


# --------------------------------------------------------------------------------------------------------- property
def reference_message(template: str, body: bytes, values: dict[str, str]) -> bytes:
    """The signed bytes, from the docs' description: literal text (UTF-8, ``{{``/``}}`` one brace) and placeholders."""
    out = b""
    for piece in re.split(r"(\{\{|\}\}|\{body\}|\{timestamp\}|\{delivery_id\})", template):
        if piece in ("{{", "}}"):
            out += piece[0].encode()
        elif piece == "{body}":
            out += body
        elif piece in ("{timestamp}", "{delivery_id}"):
            out += values[piece[1:-1]].encode()
        else:
            out += piece.encode()
    return out


def reference_signature(algorithm: str, encoding: str, secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, algorithm).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


literal = st.text(st.characters(codec="utf-8", exclude_characters="{}", exclude_categories=("Cs",)), max_size=6)


@st.composite
def configurations(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """Random valid options and the header values a sender would send with them."""
    header = draw(st.sampled_from(["x-signature", "x-acme-sig", "webhook-signature"]))
    options: dict[str, Any] = {
        "signature_header": header,
        "algorithm": draw(st.sampled_from(generic_hmac.ALGORITHMS)),
        "encoding": draw(st.sampled_from(generic_hmac.ENCODINGS)),
        "signature_prefix": draw(st.sampled_from(["", "sha256=", "v1,", "v0="])),
    }
    parts = ["{body}"]
    values: dict[str, str] = {}
    if draw(st.booleans()):
        options["timestamp_header"] = "x-ts"
        millis = draw(st.booleans())
        options["timestamp_unit"] = "milliseconds" if millis else "seconds"
        values["timestamp"] = str(NOW * 1000 if millis else NOW)
        parts.insert(draw(st.integers(0, len(parts))), "{timestamp}")
    if draw(st.booleans()):
        options["delivery_id_header"] = "x-id"
        values["delivery_id"] = draw(st.text("abcdefXYZ0123456789_-", min_size=1, max_size=12))
        parts.insert(draw(st.integers(0, len(parts))), "{delivery_id}")
    separators = [draw(literal) for _ in range(len(parts) + 1)]
    if draw(st.booleans()):
        separators[0] = "{{" + separators[0] + "}}"
    options["signed_payload"] = "".join(s + p for s, p in zip(separators, parts, strict=False)) + separators[-1]
    return options, values


def signed_request(options: dict[str, Any], values: dict[str, str], body: bytes, secret: str) -> WebhookRequest:
    message = reference_message(options["signed_payload"], body, values)
    signature = options["signature_prefix"] + reference_signature(
        options["algorithm"], options["encoding"], secret, message
    )
    headers = {options["signature_header"]: signature}
    if "timestamp" in values:
        headers["x-ts"] = values["timestamp"]
    if "delivery_id" in values:
        headers["x-id"] = values["delivery_id"]
    return WebhookRequest(body=body, headers=headers)


SLACK_LIKE = (
    {"signature_header": "x-signature", "algorithm": "sha256", "encoding": "hex", "signature_prefix": "v0=",
     "signed_payload": "v0:{timestamp}:{body}", "timestamp_header": "x-ts", "timestamp_unit": "seconds"},
    {"timestamp": str(NOW)},
)  # fmt: skip
BRACED = (
    {"signature_header": "x-acme-sig", "algorithm": "sha512", "encoding": "base64", "signature_prefix": "v1,",
     "signed_payload": "{{é}}{delivery_id}.{body}", "delivery_id_header": "x-id"},
    {"delivery_id": "msg_1"},
)  # fmt: skip


@PROPERTY
@given(
    configuration=configurations(),
    body=st.binary(min_size=1, max_size=64),
    position=st.integers(0, 63),
    flip=st.integers(1, 255),
)
@example(configuration=SLACK_LIKE, body=b'{"a":1}', position=3, flip=1)
@example(configuration=BRACED, body=b"\x00\xff", position=1, flip=0x80)
def test_a_correctly_signed_body_verifies_and_any_changed_byte_is_refused(configuration, body, position, flip):
    # Given random valid options and a delivery signed as they describe
    options, values = configuration
    configured = generic_hmac.configure(options)
    secrets = [SecretCandidate("current", "k3y-€")]
    webhook = signed_request(options, values, body, "k3y-€")
    # Then it verifies
    assert configured.verify(webhook, secrets, POLICY).version == "current"
    # And with any one byte of the body changed it is refused as a mismatch
    changed = bytearray(body)
    changed[position % len(body)] ^= flip
    tampered = WebhookRequest(body=bytes(changed), headers=webhook.headers)
    with pytest.raises(Rejected) as rejected:
        configured.verify(tampered, secrets, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH
    # And so is a changed signed header value (timestamp or delivery id), or another secret
    for name in ("x-ts", "x-id"):
        if name in webhook.headers:
            moved = {**webhook.headers, name: "1" + webhook.headers[name]}
            with pytest.raises(Rejected):
                configured.verify(WebhookRequest(body=body, headers=moved), secrets, POLICY)
    with pytest.raises(Rejected) as rejected:
        configured.verify(webhook, [SecretCandidate("current", "another")], POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH
