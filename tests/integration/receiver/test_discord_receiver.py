"""Discord interactions through the real receiver handler on moto (receiver_app.handler), signed with PyNaCl (what
Discord signs with: libsodium's Ed25519) by the sample application key: a PING is answered PONG and never queued,
each interaction is queued once and answered with its deferral, and every invalid request Discord sends on purpose
is a 401 with nothing queued, as ``discord_interactions.verify_key`` judges it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from discord_interactions import verify_key
from nacl.signing import SigningKey

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.verifiers.samples.discord import SAMPLE_SEED

APPLICATION_KEY = SigningKey(SAMPLE_SEED)  # its public key is the sample secret the gateway fixture stores
OTHER_KEY = SigningKey(b"\x07" * 32)
COMMAND = {
    "application_id": "1187402634514382919",
    "data": {"id": "1187404421850333214", "name": "deploy", "type": 1},
    "guild_id": "1187403130268561489",
    "id": "1175928399411019837",
    "token": "aW50ZXJhY3Rpb246dGVzdA",
    "type": 2,
    "version": 1,
}
PING = {"application_id": "1187402634514382919", "id": "1175928399411019838", "token": "dG9rZW4", "type": 1,
        "version": 1}  # fmt: skip


def headers_for(body: bytes, key: SigningKey = APPLICATION_KEY, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"x-signature-ed25519": key.sign(stamp.encode() + body).signature.hex(), "x-signature-timestamp": stamp}


def event(document: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = json.dumps(document, separators=(",", ":")).encode()
    signed = headers_for(body) if headers is None else headers
    return api_event("discord", body=body, headers={"content-type": "application/json", **signed})


def test_the_public_key_of_the_signing_key_is_the_sample_secret():
    assert APPLICATION_KEY.verify_key.encode().hex() == SAMPLE_SECRETS["discord"]


def test_a_ping_is_answered_pong_and_nothing_is_queued(gateway):
    # Given Discord's signed PING (the check it makes when the Interactions Endpoint URL is saved)
    gateway.use_provider("discord")
    # When the receiver handles it
    response = gateway.invoke(event(PING))
    # Then it is answered PONG as JSON, and nothing is queued
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"type": 1}
    assert gateway.messages() == []


@pytest.mark.parametrize(
    ("kind", "data", "event_type", "answer"),
    [
        (2, {"name": "deploy", "type": 1}, "application_command.deploy", {"type": 5}),
        (3, {"component_type": 2, "custom_id": "approve:42"}, "message_component", {"type": 6}),
        (4, {"name": "deploy", "options": [{"focused": True}]}, "autocomplete", {"type": 8, "data": {"choices": []}}),
        (5, {"custom_id": "release-notes", "components": []}, "modal_submit", {"type": 5}),
    ],
)
def test_an_interaction_is_queued_once_and_answered_with_its_deferral(gateway, kind, data, event_type, answer):
    # Given a signed interaction of each kind
    gateway.use_provider("discord")
    # When the receiver handles it
    response = gateway.invoke(event({**COMMAND, "type": kind, "data": data}))
    # Then the deferral for that kind is the answer, and exactly one envelope is queued under the interaction id
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == answer
    [message] = gateway.messages()
    envelope = message["body"]
    assert (envelope["provider"], envelope["delivery_id"], envelope["event_type"]) == (
        "discord", COMMAND["id"], event_type,
    )  # fmt: skip
    assert "x-signature-ed25519" not in envelope["headers"]
    assert "x-signature-timestamp" in envelope["headers"]


def test_a_resent_interaction_is_queued_under_the_same_id(gateway):
    gateway.use_provider("discord")
    body = json.dumps(COMMAND).encode()
    now = int(time.time())
    for timestamp in (now - 10, now):
        signed = headers_for(body, timestamp=timestamp)
        api = api_event("discord", body=body, headers={"content-type": "application/json", **signed})
        assert gateway.invoke(api)["statusCode"] == 200
    assert [m["body"]["delivery_id"] for m in gateway.messages()] == [COMMAND["id"], COMMAND["id"]]


def _invalid_requests() -> dict[str, tuple[bytes, dict[str, str]]]:
    body = json.dumps(COMMAND).encode()
    good = headers_for(body)
    signature, stamp = good["x-signature-ed25519"], good["x-signature-timestamp"]
    return {
        "signed by another key": (body, headers_for(body, OTHER_KEY)),
        "valid signature over another body": (body, headers_for(body + b"\n")),
        "valid signature over another timestamp": (
            body, {**headers_for(body, timestamp=int(stamp) - 1), "x-signature-timestamp": stamp}),
        "truncated signature": (body, {**good, "x-signature-ed25519": signature[:-2]}),
        "garbage signature": (body, {**good, "x-signature-ed25519": "not a signature"}),
        "non-hex signature": (body, {**good, "x-signature-ed25519": "x" * 128}),
        "zero signature": (body, {**good, "x-signature-ed25519": "0" * 128}),
        "empty headers": (body, {"x-signature-ed25519": "", "x-signature-timestamp": ""}),
        "no headers": (body, {}),
        "a PING signed by another key": (json.dumps(PING).encode(), headers_for(json.dumps(PING).encode(), OTHER_KEY)),
    }  # fmt: skip


INVALID = list(_invalid_requests())


@pytest.mark.parametrize("name", INVALID)
def test_discords_deliberately_invalid_requests_are_401_and_never_queued(gateway, name):
    # Given an invalid request of the kind Discord sends on purpose (it removes the URL of an endpoint that accepts one)
    body, headers = _invalid_requests()[name]
    gateway.use_provider("discord")
    # When the receiver handles it
    response = gateway.invoke(api_event("discord", body=body, headers={"content-type": "application/json", **headers}))
    # Then it is 401 with a signature reason, no PONG or deferral is given, nothing is queued
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"])["error"] in {"missing_signature", "malformed_signature", "signature_mismatch"}
    assert '"type"' not in response["body"]
    assert gateway.messages() == []
    # And Discord's reference verifier refuses it too
    assert not verify_key(
        body,
        headers.get("x-signature-ed25519", ""),
        headers.get("x-signature-timestamp", ""),
        SAMPLE_SECRETS["discord"],
    )


def test_a_replayed_interaction_is_401_timestamp_too_old(gateway):
    gateway.use_provider("discord")
    body = json.dumps(COMMAND).encode()
    old = headers_for(body, timestamp=int(time.time()) - 3600)
    response = gateway.invoke(api_event("discord", body=body, headers={"content-type": "application/json", **old}))
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": "timestamp_too_old"})
    assert gateway.messages() == []
