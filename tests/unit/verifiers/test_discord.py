"""Discord interactions verifier, checked against Discord's own reference: ``discord_interactions.verify_key`` (0.4.0,
PyNaCl/libsodium underneath) and PyNaCl's ``SigningKey`` as the signer. Through the real receiver handler on moto:
tests/integration/receiver/test_discord_receiver.py."""

from __future__ import annotations

import hashlib
import json

import pytest
from discord_interactions import InteractionResponseType, InteractionType, verify_key
from nacl.signing import SigningKey

from webhook_gateway.verifiers import discord
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
)
from webhook_gateway.verifiers.samples import discord as discord_samples

KEY = SigningKey(hashlib.sha256(b"test-discord-application").digest())
PUBLIC = KEY.verify_key.encode().hex()
OLD_KEY = SigningKey(hashlib.sha256(b"test-discord-old-application-key").digest())
OLD_PUBLIC = OLD_KEY.verify_key.encode().hex()
OTHER_KEY = SigningKey(hashlib.sha256(b"someone-else").digest())
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", PUBLIC)]
COMMAND = {
    "application_id": "1187402634514382919",
    "channel_id": "1187403131170328647",
    "data": {"id": "1187404421850333214", "name": "deploy", "options": [], "type": 1},
    "guild_id": "1187403130268561489",
    "id": "1175928399411019837",
    "token": "aW50ZXJhY3Rpb246MTE3NTkyODM5OTQxMTAxOTgzNzp0b2tlbg",
    "type": InteractionType.APPLICATION_COMMAND,
    "version": 1,
}
BODY = json.dumps(COMMAND).encode()
PING = json.dumps({"application_id": "1187402634514382919", "id": "1175928399411019838", "type": 1}).encode()


def nacl_headers(body: bytes = BODY, key: SigningKey = KEY, timestamp: int | str = NOW) -> dict[str, str]:
    """What Discord sends: PyNaCl's detached Ed25519 signature of ``timestamp + body``, hex."""
    signed = str(timestamp).encode() + body
    return {"x-signature-ed25519": key.sign(signed).signature.hex(), "x-signature-timestamp": str(timestamp)}


def request(body: bytes = BODY, headers: dict[str, str] | None = None) -> WebhookRequest:
    signed = nacl_headers(body) if headers is None else headers
    return WebhookRequest(body=body, headers={"content-type": "application/json", **signed})


def rejection(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT, policy=POLICY) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        discord.verify(webhook, secrets, policy)
    return rejected.value


def reference_accepts(webhook: WebhookRequest, public: str = PUBLIC) -> bool:
    """discord_interactions.verify_key on the request as Discord's docs read it (the headers as they came)."""
    return verify_key(
        webhook.body,
        webhook.headers.get("x-signature-ed25519", ""),
        webhook.headers.get("x-signature-timestamp", ""),
        public,
    )


# --------------------------------------------------------------------------------------------------- signatures
def test_an_interaction_signed_with_pynacl_is_accepted_and_the_reference_agrees():
    # Given an interaction signed as Discord signs it (PyNaCl, the application's private key)
    webhook = request()
    # When the gateway verifies it with the application's public key
    matched = discord.verify(webhook, CURRENT, POLICY)
    # Then the current secret matched, and discord_interactions.verify_key agrees
    assert matched.version == "current"
    assert reference_accepts(webhook)


def test_our_sample_signer_is_pynacls_ed25519():
    # Given the sample signer and PyNaCl with the same seed (Ed25519 signatures are deterministic)
    seed = discord_samples.SAMPLE_SEED
    # Then the sample public key is PyNaCl's, and the signatures are byte for byte the same
    assert SigningKey(seed).verify_key.encode().hex() == discord.PROVIDER.secret_format.sample
    signed = discord_samples.sign(BODY, "https://x", "application/json", discord.PROVIDER.secret_format.sample, NOW)
    assert signed.headers == nacl_headers(BODY, SigningKey(seed), NOW)
    wrong = SigningKey(discord_samples.WRONG_SAMPLE_SEED).verify_key.encode().hex()
    assert wrong == discord.PROVIDER.secret_format.wrong_sample


def test_the_sample_signer_signs_with_a_hex_seed_and_never_verifies_for_an_unknown_secret():
    # Given a private seed in hex, and a secret that is neither a sample key nor a seed
    seed_hex = KEY.encode().hex()
    by_seed = discord_samples.sign(BODY, "u", "application/json", seed_hex, NOW)
    # Then the seed signs as PyNaCl does, and the other value signs for no configured key
    assert by_seed.headers == nacl_headers()
    unknown = discord_samples.sign(BODY, "u", "application/json", "not-a-key", NOW)
    assert not reference_accepts(request(headers=dict(unknown.headers)))


def test_upper_case_hex_and_surrounding_blanks_are_accepted():
    headers = nacl_headers()
    headers = {"x-signature-ed25519": f" {headers['x-signature-ed25519'].upper()} ",
               "x-signature-timestamp": f" {NOW} "}  # fmt: skip
    assert discord.verify(request(headers=headers), [SecretCandidate("current", f" {PUBLIC.upper()}\n")], POLICY)


def test_the_previous_public_key_still_verifies_during_a_change_of_key():
    webhook = request(headers=nacl_headers(key=OLD_KEY))
    rotated = [SecretCandidate("current", PUBLIC), SecretCandidate("previous", OLD_PUBLIC)]
    assert discord.verify(webhook, rotated, POLICY).version == "previous"
    assert rejection(webhook).reason is Reason.SIGNATURE_MISMATCH


def test_the_previous_key_is_not_read_when_the_current_one_verifies():
    def candidates():
        yield SecretCandidate("current", PUBLIC)
        raise AssertionError("the previous secret was fetched")

    assert discord.verify(request(), candidates(), POLICY).version == "current"


def test_an_empty_secret_never_verifies():
    assert rejection(request(), [SecretCandidate("current", "")]).reason is Reason.SIGNATURE_MISMATCH


def test_an_empty_current_secret_is_skipped_and_the_previous_one_still_tried():
    rotated = [SecretCandidate("current", ""), SecretCandidate("previous", PUBLIC)]
    assert discord.verify(request(), rotated, POLICY).version == "previous"


# Discord checks endpoints with deliberately invalid signatures and removes the URL if one is accepted.
def _with_signature(value: str) -> dict[str, str]:
    return {**nacl_headers(), "x-signature-ed25519": value}


def _other_timestamp() -> dict[str, str]:
    return {**nacl_headers(timestamp=NOW - 1), "x-signature-timestamp": str(NOW)}


INVALID_SIGNATURES = {
    "signed by another key": lambda: nacl_headers(key=OTHER_KEY),
    "valid signature over another body": lambda: nacl_headers(body=BODY + b" "),
    "valid signature over another timestamp": _other_timestamp,
    "truncated signature": lambda: _with_signature(nacl_headers()["x-signature-ed25519"][:126]),
    "one byte flipped": lambda: _with_signature(flip(nacl_headers()["x-signature-ed25519"])),
    "garbage": lambda: _with_signature("garbage"),
    "non-hex of the right length": lambda: _with_signature("zz" * 64),
    "all zeros": lambda: _with_signature("00" * 64),
    "empty signature": lambda: _with_signature(""),
    "empty timestamp": lambda: {**nacl_headers(), "x-signature-timestamp": ""},
    "empty headers": lambda: {"x-signature-ed25519": "", "x-signature-timestamp": ""},
    "no headers": lambda: {},
}


def flip(signature: str) -> str:
    raw = bytearray(bytes.fromhex(signature))
    raw[5] ^= 0x01
    return raw.hex()


@pytest.mark.parametrize("name", INVALID_SIGNATURES)
def test_discords_deliberately_invalid_signatures_are_refused_as_the_reference_refuses_them(name):
    # Given one of the invalid requests Discord sends to check an endpoint
    webhook = request(headers=INVALID_SIGNATURES[name]())
    # Then the gateway refuses it with a 401 reason, and discord_interactions.verify_key refuses it too
    assert rejection(webhook).reason in {
        Reason.MISSING_SIGNATURE, Reason.MALFORMED_SIGNATURE, Reason.SIGNATURE_MISMATCH,
    }  # fmt: skip
    assert not reference_accepts(webhook)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, Reason.MISSING_SIGNATURE),
        ({"x-signature-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128}, Reason.MISSING_SIGNATURE),
        ({"x-signature-ed25519": " ", "x-signature-timestamp": str(NOW)}, Reason.MISSING_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": "  "}, Reason.MISSING_SIGNATURE),
        ({"x-signature-ed25519": "a" * 127, "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 129, "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "g" * 128, "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 64, "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 126 + " a", "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "٠" * 128, "x-signature-timestamp": str(NOW)}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": "17e8"}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": "-1"}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": "1" * 13}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": "１７"}, Reason.MALFORMED_SIGNATURE),
        ({"x-signature-ed25519": "a" * 128, "x-signature-timestamp": str(NOW)}, Reason.SIGNATURE_MISMATCH),
    ],
)
def test_each_failure_has_its_reason(headers, reason):
    assert rejection(request(headers=headers)).reason is reason


def test_a_rejection_detail_names_the_missing_header_and_the_malformed_part():
    assert rejection(request(headers={})).detail == "no x-signature-ed25519 or x-signature-timestamp header"
    malformed = {"x-signature-ed25519": "a", "x-signature-timestamp": str(NOW)}
    assert rejection(request(headers=malformed)).detail == "expected 128 hex digits"
    bad_time = {**nacl_headers(), "x-signature-timestamp": "soon"}
    assert rejection(request(headers=bad_time)).detail == "the signature timestamp is not 1-12 digits"
    assert rejection(request(headers=nacl_headers(key=OTHER_KEY))).detail == ""


# ------------------------------------------------------------------------------------------------- the secret
# Values that are no usable Ed25519 public key: each verifies nothing, never raises, and the log says which to fix.
NOT_A_PUBLIC_KEY = {
    "not hex": "z" * 64,
    "too short": PUBLIC[:62],
    "too long": PUBLIC + "00",
    "the private seed's length twice": KEY.encode().hex() * 2,
    "a bot token": "MTE4NzQwMjYzNDUxNDM4MjkxOQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB",
    "hex of a y with no x": "02" + "00" * 31,  # y = 2: no point on the curve
    "y >= p": "ed" + "ff" * 30 + "7f",
    "x = 0 with the sign bit": "01" + "00" * 30 + "80",
    "the neutral point (order 1)": "01" + "00" * 31,
    "order 2": "ec" + "ff" * 30 + "7f",  # y = -1
    "order 4": "00" * 32,  # y = 0
    "order 8": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
}


@pytest.mark.parametrize("name", NOT_A_PUBLIC_KEY)
def test_a_secret_that_is_no_public_key_fails_closed_and_the_log_says_which(name):
    # Given a configured secret that holds no usable Ed25519 public key
    value = NOT_A_PUBLIC_KEY[name]
    assert discord.public_key(value) is None
    # When a request comes (here: one signed so that the neutral key would "verify" it, R = neutral and S = 0)
    forged = {"x-signature-ed25519": ("01" + "00" * 31) + "00" * 32, "x-signature-timestamp": str(NOW)}
    for headers in (forged, nacl_headers()):
        rejected = rejection(request(headers=headers), [SecretCandidate("current", value)])
        # Then it is refused, and the detail names the secret to fix, never its value
        assert rejected.reason is Reason.SIGNATURE_MISMATCH
        assert rejected.detail == "the current secret is no Ed25519 public key (64 hex digits)"
        assert value not in rejected.detail
    # And the reference (libsodium) accepts neither (or cannot even load the key)
    assert not reference_accepts(request(headers=forged), value)


def test_a_bad_current_key_does_not_hide_a_good_previous_one_and_both_bad_are_named():
    webhook = request()
    rotated = [SecretCandidate("current", "not-a-key"), SecretCandidate("previous", PUBLIC)]
    assert discord.verify(webhook, rotated, POLICY).version == "previous"
    both_bad = [SecretCandidate("current", "x"), SecretCandidate("previous", "y")]
    assert rejection(webhook, both_bad).detail == (
        "the current and previous secret is no Ed25519 public key (64 hex digits)"
    )


def test_a_public_key_of_prime_order_is_usable():
    assert discord.public_key(PUBLIC) == bytes.fromhex(PUBLIC)
    assert discord.public_key(f"  {PUBLIC.upper()}\t") == bytes.fromhex(PUBLIC)


# ------------------------------------------------------------------------------------------------- the window
@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (300, None),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (3600, Reason.TIMESTAMP_TOO_OLD),
        (-60, None),
        (-61, Reason.TIMESTAMP_IN_FUTURE),
        (-3600, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_the_signed_timestamp_window_both_directions(age, reason):
    # Discord documents no window, but it signs the timestamp (Unix seconds): the gateway's window applies
    webhook = request(headers=nacl_headers(timestamp=NOW - age))
    assert reference_accepts(webhook)
    if reason is None:
        assert discord.verify(webhook, CURRENT, POLICY).version == "current"
    else:
        assert rejection(webhook).reason is reason


def test_the_window_comes_from_the_policy():
    strict = VerificationPolicy(now=NOW, tolerance_seconds=99, future_tolerance_seconds=0)
    old = rejection(request(headers=nacl_headers(timestamp=NOW - 100)), policy=strict)
    assert (old.reason, old.detail) == (Reason.TIMESTAMP_TOO_OLD, "signed 100 s ago, tolerance 99 s")
    ahead = rejection(request(headers=nacl_headers(timestamp=NOW + 1)), policy=strict)
    assert ahead.reason is Reason.TIMESTAMP_IN_FUTURE


def test_the_signature_is_checked_before_the_timestamp():
    # A forgery an hour old is a forgery, not a replay
    forged = nacl_headers(key=OTHER_KEY, timestamp=NOW - 3600)
    assert rejection(request(headers=forged)).reason is Reason.SIGNATURE_MISMATCH


def test_a_twelve_digit_or_one_digit_timestamp_is_authentic_but_outside_the_window():
    for timestamp, reason in (("9" * 12, Reason.TIMESTAMP_IN_FUTURE), ("1", Reason.TIMESTAMP_TOO_OLD)):
        assert rejection(request(headers=nacl_headers(timestamp=timestamp))).reason is reason


# -------------------------------------------------------------------------------------------------- handshake
def test_a_ping_is_answered_pong():
    answer = discord.handshake(request(PING), CURRENT[0])
    assert answer is not None
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body) == {"type": InteractionResponseType.PONG}
    assert answer.body == '{"type":1}'


@pytest.mark.parametrize(
    "body",
    [BODY, b"not json", b"[1]", b"[" * 100_000, b'{"type": true}', b'{"type": 1.0}', b'{"type": "1"}', b"{}"],
)
def test_anything_else_is_not_a_handshake(body):
    assert discord.handshake(request(body), CURRENT[0]) is None


# ------------------------------------------------------------------------------------------------------ identity
def interaction(kind: int, **fields: object) -> WebhookRequest:
    return request(json.dumps({**COMMAND, "type": kind, **fields}).encode())


def test_an_application_command_is_named_by_its_signed_id_and_command_name():
    identity = discord.identify(request())
    assert identity == DeliveryIdentity("1175928399411019837", "application_command.deploy", delivery_id_signed=True)


@pytest.mark.parametrize("data", [None, {}, {"name": ""}, {"name": 42}, []])
def test_a_command_without_a_name_is_an_application_command(data):
    assert discord.identify(interaction(2, data=data)).event_type == "application_command"


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [(1, "ping"), (3, "message_component"), (4, "autocomplete"), (5, "modal_submit")],
)
def test_the_other_interactions_are_named_by_their_type(kind, event_type):
    identity = discord.identify(interaction(kind, data={"custom_id": "approve:1", "name": "deploy"}))
    assert (identity.delivery_id, identity.event_type, identity.delivery_id_signed) == (
        COMMAND["id"], event_type, True,
    )  # fmt: skip


def test_a_retry_is_the_same_delivery_and_two_interactions_are_distinct():
    # A re-sent interaction (same body, signed at another time) is the same delivery; another id is another one
    first = request(headers=nacl_headers(timestamp=NOW))
    again = request(headers=nacl_headers(timestamp=NOW + 30))
    assert discord.identify(again) == discord.identify(first)
    other = interaction(2, id="1175928399411019999")
    assert discord.identify(other).delivery_id != discord.identify(first).delivery_id


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        [1, 2],
        {},
        {"type": 6, "id": "1"},
        {"type": 0, "id": "1"},
        {"type": True, "id": "1"},
        {"type": "2", "id": "1"},
        {"type": 2.0, "id": "1"},
        {"type": 2},
        {"type": 2, "id": 1175928399411019837},
        {"type": 2, "id": ""},
        {"type": 2, "id": "abc"},
        {"type": 2, "id": "1" * 21},
        {"type": 2, "id": "١٢٣"},
    ],
)
def test_a_body_that_is_no_interaction_is_unparseable(document):
    body = document.encode() if isinstance(document, str) else json.dumps(document).encode()
    with pytest.raises(Rejected) as rejected:
        discord.identify(request(body))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_the_unparseable_details():
    for body, detail in (
        (b"[1]", "body is not a JSON object"),
        (b'{"type": 9, "id": "1"}', "no interaction type 1-5"),
        (b'{"type": 2, "id": "x"}', "no snowflake id"),
    ):
        with pytest.raises(Rejected) as rejected:
            discord.identify(request(body))
        assert rejected.value.detail == detail


def test_a_deeply_nested_body_is_unparseable_not_a_crash():
    with pytest.raises(Rejected) as rejected:
        discord.identify(request(b"[" * 100_000))
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


# ------------------------------------------------------------------------------------------------------ answers
@pytest.mark.parametrize(
    ("event_type", "answer"),
    [
        ("application_command.deploy", {"type": InteractionResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}),
        ("application_command", {"type": 5}),
        ("ping", {"type": InteractionResponseType.PONG}),
        ("anything else", {"type": 5}),
        ("modal_submit", {"type": 5}),
        ("message_component", {"type": InteractionResponseType.DEFERRED_UPDATE_MESSAGE}),
        ("autocomplete", {"type": InteractionResponseType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
                          "data": {"choices": []}}),
    ],
)  # fmt: skip
def test_each_interaction_is_answered_with_its_deferral(event_type, answer):
    ack = discord.acknowledge(DeliveryIdentity("1175928399411019837", event_type, True))
    assert (ack.status, ack.content_type) == (200, "application/json")
    assert json.loads(ack.body) == answer
    assert " " not in ack.body  # compact, as Discord's own examples


def test_the_signature_is_never_forwarded_but_its_time_is():
    assert "x-signature-ed25519" not in discord.PROVIDER.forwarded_headers
    assert {"content-type", "user-agent", "x-signature-timestamp"} <= set(discord.PROVIDER.forwarded_headers)
    assert discord.PROVIDER.acknowledge is discord.acknowledge and discord.PROVIDER.handshake is discord.handshake


# ------------------------------------------------------------------------------------------------ sample events
def test_the_generated_discord_events_verify_with_the_reference():
    from tools.make_events import EVENT_FILES, SAMPLE_SECRETS, build_event_file
    from webhook_gateway.http import request_from_event

    for name, outcome in EVENT_FILES.items():
        if outcome.provider != "discord":
            continue
        webhook = request_from_event(build_event_file(name))
        assert reference_accepts(webhook, SAMPLE_SECRETS["discord"]) == (name != "discord_bad_signature.json"), name
