"""Discord's sending side: ``X-Signature-Ed25519`` (hex Ed25519 signature of ``timestamp + body``) with
``X-Signature-Timestamp`` (Unix seconds), what PyNaCl's ``SigningKey.sign`` makes (the tests check it against
PyNaCl and ``discord_interactions.verify_key``), and the sample interactions ``application_command`` (a slash command
``/deploy``, the default), ``ping`` (the endpoint check, answered PONG), ``message_component`` (a button),
``autocomplete`` and ``modal_submit``.

The gateway's secret is the application's public key, which cannot sign: the signer knows the private seeds of the
two sample public keys (``SecretFormat.sample`` and ``wrong_sample``) and signs with the one the secret names. Any
other secret is read as a private seed in hex (64 digits), else a seed is derived from it: a signature nobody's
configured key verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, iso
from webhook_gateway.verifiers.samples.standard_webhooks import ed25519_public_key, ed25519_sign

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Discord-Interactions/1.0 (+https://discord.com)"
SOURCE_IP = "35.227.62.178"  # Discord sends from Google Cloud addresses (it publishes no list)
DISCORD_EPOCH_MS = 1_420_070_400_000
_HEX_SEED = re.compile(r"[0-9a-fA-F]{64}")


def _sample_seed(label: str) -> bytes:
    return hashlib.sha256(label.encode("utf-8")).digest()


SAMPLE_SEED = _sample_seed("webhook-gateway discord sample application key")
WRONG_SAMPLE_SEED = _sample_seed("webhook-gateway discord wrong sample key")
# Sample public key (hex, what the gateway's secret holds) -> its private seed.
SAMPLE_SEEDS = {ed25519_public_key(seed).hex(): seed for seed in (SAMPLE_SEED, WRONG_SAMPLE_SEED)}


def seed_for(secret: str) -> bytes:
    """The private seed that signs for ``secret``: a sample public key's own seed, a hex seed as is, else one derived
    from the value."""
    value = secret.strip().lower()
    if value in SAMPLE_SEEDS:
        return SAMPLE_SEEDS[value]
    if _HEX_SEED.fullmatch(value):
        return bytes.fromhex(value)
    return _sample_seed("discord seed for " + secret)


def signature_headers(body: bytes, seed: bytes, timestamp: int) -> dict[str, str]:
    signed = str(int(timestamp)).encode("ascii") + body
    return {
        "x-signature-ed25519": ed25519_sign(seed, signed).hex(),
        "x-signature-timestamp": str(int(timestamp)),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, seed_for(secret), int(sent_at)))


# Sample interactions ---------------------------------------------------------------------------------------------

APPLICATION_ID = "1187402634514382919"
GUILD_ID = "1187403130268561489"
CHANNEL_ID = "1187403131170328647"
USER = {
    "avatar": None,
    "avatar_decoration_data": None,
    "discriminator": "0",
    "global_name": "Jenny",
    "id": "1187401987611156510",
    "public_flags": 0,
    "username": "jenny.gateway",
}


def snowflake(epoch_ms: int, sequence: int) -> str:
    return str((epoch_ms - DISCORD_EPOCH_MS) << 22 | sequence & (1 << 22) - 1)


def _token(seed: str) -> str:
    """An interaction token's shape (Discord's are opaque base64-like strings of ~200 characters)."""
    return "aW50ZXJhY3Rpb246" + hashlib.sha512(seed.encode()).hexdigest() + hashlib.sha256(seed.encode()).hexdigest()


def _interaction(kind: int, sequence: int, **fields: object) -> dict[str, object]:
    interaction_id = snowflake(SAMPLE_DELIVERY_TIME * 1000 - 1500, sequence)
    document: dict[str, object] = {
        "app_permissions": "562949953421311",
        "application_id": APPLICATION_ID,
        "authorizing_integration_owners": {"0": GUILD_ID},
        "channel": {"flags": 0, "guild_id": GUILD_ID, "id": CHANNEL_ID, "name": "deploys", "type": 0},
        "channel_id": CHANNEL_ID,
        "context": 0,
        "entitlements": [],
        "guild": {"features": [], "id": GUILD_ID, "locale": "en-US"},
        "guild_id": GUILD_ID,
        "guild_locale": "en-US",
        "id": interaction_id,
        "locale": "en-US",
        "member": {
            "avatar": None,
            "deaf": False,
            "flags": 0,
            "joined_at": iso(SAMPLE_DELIVERY_TIME - 86_400 * 30).replace("Z", ".000000+00:00"),
            "mute": False,
            "nick": None,
            "pending": False,
            "permissions": "562949953421311",
            "premium_since": None,
            "roles": [],
            "user": USER,
        },
        **fields,
        "token": _token(f"discord:{interaction_id}"),
        "type": kind,
        "version": 1,
    }
    return document


def _delivery(document: Mapping[str, object]) -> SampleDelivery:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(
        body=body,
        headers={"content-type": JSON_CONTENT_TYPE, "user-agent": USER_AGENT},
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _application_command() -> SampleDelivery:
    data = {
        "guild_id": GUILD_ID,
        "id": "1187404421850333214",
        "name": "deploy",
        "options": [{"name": "service", "type": 3, "value": "gateway"}],
        "type": 1,
    }
    return _delivery(_interaction(2, 1, data=data))


def _ping() -> SampleDelivery:
    interaction_id = snowflake(SAMPLE_DELIVERY_TIME * 1000 - 1500, 2)
    document = {
        "application_id": APPLICATION_ID,
        "entitlements": [],
        "id": interaction_id,
        "token": _token(f"discord:{interaction_id}"),
        "type": 1,
        "user": USER,
        "version": 1,
    }
    return _delivery(document)


def _message(content: str) -> dict[str, object]:
    return {
        "application_id": APPLICATION_ID,
        "author": {"bot": True, "discriminator": "0", "id": APPLICATION_ID, "username": "Gateway"},
        "channel_id": CHANNEL_ID,
        "components": [
            {
                "components": [{"custom_id": "approve:release-42", "label": "Approve", "style": 3, "type": 2}],
                "id": 1,
                "type": 1,
            }
        ],
        "content": content,
        "flags": 0,
        "id": snowflake(SAMPLE_DELIVERY_TIME * 1000 - 60_000, 7),
        "timestamp": iso(SAMPLE_DELIVERY_TIME - 60).replace("Z", ".000000+00:00"),
        "type": 0,
    }


def _message_component() -> SampleDelivery:
    data = {"component_type": 2, "custom_id": "approve:release-42", "id": 2}
    return _delivery(_interaction(3, 3, data=data, message=_message("Release 42 is ready.")))


def _autocomplete() -> SampleDelivery:
    data = {
        "guild_id": GUILD_ID,
        "id": "1187404421850333214",
        "name": "deploy",
        "options": [{"focused": True, "name": "service", "type": 3, "value": "gat"}],
        "type": 1,
    }
    return _delivery(_interaction(4, 4, data=data))


def _modal_submit() -> SampleDelivery:
    data = {
        "components": [
            {
                "components": [{"custom_id": "reason", "id": 2, "type": 4, "value": "hotfix for the receiver"}],
                "id": 1,
                "type": 1,
            }
        ],
        "custom_id": "release-notes",
    }
    return _delivery(_interaction(5, 5, data=data))


def new_delivery_id() -> str:
    """A fresh interaction id: a snowflake of now."""
    return snowflake(int(time.time() * 1000), secrets.randbits(22))


def as_snowflake(delivery_id: str) -> str:
    """``delivery_id`` if it is a snowflake (1-20 digits), else one derived from it (63 bits of its SHA-256): Discord
    only ever sends snowflakes, and the gateway refuses any other interaction id."""
    if re.fullmatch(r"[0-9]{1,20}", delivery_id):
        return delivery_id
    return str(int.from_bytes(hashlib.sha256(delivery_id.encode("utf-8")).digest()[:8], "big") >> 1)


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The id is the signed body's ``id``: ``delivery_id`` itself when it is a snowflake (``as_snowflake``)."""
    document = json.loads(sample.body)
    document["id"] = as_snowflake(delivery_id)
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("x-signature-timestamp", "")
    return int(timestamp) if timestamp.isdigit() else None


KINDS: dict[str, Callable[[], SampleDelivery]] = {
    "application_command": _application_command,
    "ping": _ping,
    "message_component": _message_component,
    "autocomplete": _autocomplete,
    "modal_submit": _modal_submit,
}

SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds=KINDS,
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    signs_time=True,
    handshakes=frozenset({"ping"}),
)
