"""Standard Webhooks through the real receiver handler on moto (receiver_app.handler): one provider module deployed as
two instances (OpenAI with ``webhook-*`` headers, Clerk with ``svix-*``), each with its own secret, each refusing
the other's deliveries, envelopes named after the instance; rotation; a v1a (Ed25519) instance; the sample events."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook
from svix.webhooks import Webhook as SvixWebhook

from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS, build_event

OPENAI_SECRET = "whsec_" + base64.b64encode(b"openai endpoint secret, 32 bytes").decode()
CLERK_SECRET = "whsec_" + base64.b64encode(b"clerk endpoint secret, 24 b").decode()
OPENAI_EVENT = {
    "object": "event",
    "id": "evt_685343a1381c819085d44c354e1b330e",
    "type": "response.completed",
    "created_at": 1_750_287_018,
    "data": {"id": "resp_abc123"},
}
CLERK_EVENT = {
    "data": {"id": "user_29w83sxmDNGwOuEthce5gg56FcC", "object": "user"},
    "object": "event",
    "type": "user.created",
    "timestamp": 1_654_012_591_835,
}


def signed(
    instance: str, document: dict[str, Any], secret: str, message_id: str, *, prefix: str = "webhook"
) -> dict[str, Any]:
    """A delivery to /webhooks/<instance>, signed now by the standardwebhooks library (svix for svix-* names)."""
    body = json.dumps(document).encode()
    now = datetime.now(UTC)
    signer = SvixWebhook(secret) if prefix == "svix" else Webhook(secret)
    headers = {
        "content-type": "application/json",
        "user-agent": "Svix-Webhooks/1.62.0",
        f"{prefix}-id": message_id,
        f"{prefix}-timestamp": str(int(now.timestamp())),
        f"{prefix}-signature": signer.sign(message_id, now, body.decode()),
    }
    return api_event(instance, body=body, headers=headers)


def deploy_instances(gateway: Any) -> None:
    gateway.secrets.create_secret(Name="openai-webhook-secret", SecretString=OPENAI_SECRET)
    gateway.secrets.create_secret(Name="clerk-webhook-secret", SecretString=CLERK_SECRET)


def openai_delivery(secret: str = OPENAI_SECRET, message_id: str = "wh_685342e6c53c8190a1be43f081506c52"):
    return signed("openai", OPENAI_EVENT, secret, message_id)


def clerk_delivery(secret: str = CLERK_SECRET, message_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"):
    return signed("clerk", CLERK_EVENT, secret, message_id, prefix="svix")


def test_two_instances_each_verify_their_own_deliveries_and_name_their_envelopes(gateway):
    # Given Standard Webhooks deployed twice, as OpenAI and as Clerk, each with its own secret
    deploy_instances(gateway)
    # When each receives a delivery signed with its own secret
    gateway.use_provider("openai", PROVIDER_KIND="standard_webhooks")
    openai = gateway.invoke(openai_delivery())
    gateway.use_provider("clerk", PROVIDER_KIND="standard_webhooks")
    clerk = gateway.invoke(clerk_delivery())
    # Then both are accepted and queued under the instance's name, the signed webhook-id and the body's type
    assert (openai["statusCode"], clerk["statusCode"]) == (202, 202), (openai, clerk)
    assert json.loads(openai["body"]) == {"status": "accepted", "delivery_id": "wh_685342e6c53c8190a1be43f081506c52"}
    queued = {m["body"]["provider"]: m["body"] for m in gateway.messages()}
    assert set(queued) == {"openai", "clerk"}
    assert (queued["openai"]["delivery_id"], queued["openai"]["event_type"]) == (
        "wh_685342e6c53c8190a1be43f081506c52",
        "response.completed",
    )
    assert (queued["clerk"]["delivery_id"], queued["clerk"]["event_type"]) == (
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "user.created",
    )
    assert all(envelope["delivery_id_signed"] for envelope in queued.values())
    # And each envelope names the kind, so the consumer parses the body as standard_webhooks declares
    assert {envelope["provider_kind"] for envelope in queued.values()} == {"standard_webhooks"}
    # And what is forwarded is the content type, the user agent and the signed timestamp, never the signature
    assert set(queued["clerk"]["headers"]) == {"content-type", "user-agent", "svix-timestamp"}
    assert set(queued["openai"]["headers"]) == {"content-type", "user-agent", "webhook-timestamp"}


def test_each_instance_refuses_the_other_instances_deliveries(gateway):
    # Given the two instances
    deploy_instances(gateway)
    # When OpenAI's instance receives a delivery signed with Clerk's secret, and Clerk's one with OpenAI's
    gateway.use_provider("openai", PROVIDER_KIND="standard_webhooks")
    to_openai = gateway.invoke(openai_delivery(secret=CLERK_SECRET))
    gateway.use_provider("clerk", PROVIDER_KIND="standard_webhooks")
    to_clerk = gateway.invoke(clerk_delivery(secret=OPENAI_SECRET))
    # Then both are 401 signature_mismatch and nothing is queued
    for response in (to_openai, to_clerk):
        assert response["statusCode"] == 401, response
        assert json.loads(response["body"]) == {"error": "signature_mismatch"}
    assert gateway.messages() == []


def test_a_delivery_signed_with_the_previous_secret_is_accepted_after_rotation(gateway, capsys):
    # Given the OpenAI instance whose secret was just rotated, while OpenAI still signs with the old one
    deploy_instances(gateway)
    gateway.use_provider("openai", PROVIDER_KIND="standard_webhooks")
    new_secret = "whsec_" + base64.b64encode(b"the rotated openai secret").decode()
    gateway.rotate("openai", new_secret)
    # When a delivery signed with the old secret arrives, then it is accepted with the previous secret
    assert gateway.invoke(openai_delivery())["statusCode"] == 202
    [message] = gateway.messages()
    assert (message["body"]["provider"], message["body"]["secret_version"]) == ("openai", "previous")
    assert "VerifiedWithPreviousSecret" in capsys.readouterr().out
    # And one signed with the new secret matches the current one
    assert gateway.invoke(openai_delivery(secret=new_secret, message_id="wh_2"))["statusCode"] == 202
    assert gateway.messages()[0]["body"]["secret_version"] == "current"


def test_a_retry_is_queued_under_the_same_delivery_id(gateway):
    # Standard Webhooks retries with the same webhook-id (and a fresh timestamp and signature): one delivery id
    deploy_instances(gateway)
    gateway.use_provider("clerk", PROVIDER_KIND="standard_webhooks")
    first = gateway.invoke(clerk_delivery())
    retry = gateway.invoke(clerk_delivery())
    assert (first["statusCode"], retry["statusCode"]) == (202, 202)
    assert [m["body"]["delivery_id"] for m in gateway.messages()] == ["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"] * 2


def test_a_v1a_instance_verifies_ed25519_signatures_with_its_whpk_key(gateway):
    # Given an instance configured with a sender's Ed25519 public key
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    gateway.secrets.create_secret(Name="acme-webhook-secret", SecretString="whpk_" + base64.b64encode(public).decode())
    gateway.use_provider("acme", PROVIDER_KIND="standard_webhooks")
    # When a delivery signed v1a by OpenSSL arrives, then it is queued; a v1 one is refused
    body = json.dumps({"type": "invoice.paid", "data": {}}).encode()
    timestamp = str(int(time.time()))
    content = f"msg_acme1.{timestamp}.".encode() + body
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_acme1",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1a," + base64.b64encode(private.sign(content)).decode(),
    }
    assert gateway.invoke(api_event("acme", body=body, headers=headers))["statusCode"] == 202
    v1 = Webhook(OPENAI_SECRET).sign("msg_acme2", datetime.now(UTC), body.decode())
    forged = {**headers, "webhook-id": "msg_acme2", "webhook-signature": v1}
    response = gateway.invoke(api_event("acme", body=body, headers=forged))
    assert response["statusCode"] == 401
    assert [m["body"]["event_type"] for m in gateway.messages()] == ["invoice.paid"]


def test_the_sample_events_are_accepted_or_refused_as_documented(gateway):
    # Given the module deployed under its own name with the sample secret (what make dev does)
    gateway.use_provider("standard_webhooks")
    for kind in ("contact.created", "response.completed"):
        assert gateway.invoke(build_event("standard_webhooks", kind))["statusCode"] == 202
    forged = build_event("standard_webhooks", "contact.created", secret="whsec_" + base64.b64encode(b"x" * 24).decode())
    response = gateway.invoke(forged)
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": "signature_mismatch"})
    assert {m["body"]["event_type"] for m in gateway.messages()} == {"contact.created", "response.completed"}
    assert SAMPLE_SECRETS["standard_webhooks"].startswith("whsec_")


def test_a_verified_body_that_is_not_json_is_400_unparseable_and_not_queued(gateway):
    deploy_instances(gateway)
    gateway.use_provider("openai", PROVIDER_KIND="standard_webhooks")
    now = datetime.now(UTC)
    body = b"not json"
    headers = {
        "content-type": "text/plain",
        "webhook-id": "wh_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(OPENAI_SECRET).sign("wh_1", now, body.decode()),
    }
    response = gateway.invoke(api_event("openai", body=body, headers=headers))
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "unparseable_payload"})
    assert gateway.messages() == []
