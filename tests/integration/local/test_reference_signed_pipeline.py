"""Every provider through the local pipeline (what `make dev` runs) with a request signed by the provider's own
reference: its SDK where it has one that signs, else the documented algorithm written here, never the gateway's own
signer. The sample body and URL come from the provider's samples; the signature headers are replaced by the
reference's. Each delivery must be answered 2xx, processed once, and recorded under the id the provider names.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import boto3
import pytest
import stripe
from hubspot.utils.signature import Signature as HubspotSignature
from nacl.signing import SigningKey
from paddle_billing.Notifications import PaddleSignature
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook as StandardWebhook
from twilio.request_validator import RequestValidator

from hookctl import samples
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main
from webhook_gateway.verifiers.samples.discord import SAMPLE_SEED as DISCORD_SAMPLE_SEED

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
STACK = "hookctl-reference"

# (the sample request, its provider's sample secret) -> the signature headers the reference computes for it.
ReferenceSigner = Callable[[samples.SignedRequest, str], dict[str, str]]


def _hmac(secret: str, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(secret.encode("utf-8"), message, digest).digest()


def github(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """GitHub's documented scheme (no SDK signs): ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return {"x-hub-signature-256": "sha256=" + _hmac(secret, request.body).hex()}


def generic_hmac(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """The default Generic HMAC options: hex HMAC-SHA256 of the raw body in ``x-signature``."""
    return {"x-signature": _hmac(secret, request.body).hex()}


def stripe_signer(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        request.body.decode("utf-8"), secret, timestamp=int(request.sent_at)
    )
    return {"stripe-signature": header}


def slack(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    timestamp = str(int(request.sent_at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=request.body)
    assert signature is not None
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}


def twilio(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """twilio-python's signature of the URL and the form parameters (the default sample is a form)."""
    params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    return {"x-twilio-signature": RequestValidator(secret).compute_signature(request.url, params)}


def shopify(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """Shopify's documented scheme: base64 HMAC-SHA256 of the raw body with the client secret."""
    return {"x-shopify-hmac-sha256": base64.b64encode(_hmac(secret, request.body)).decode()}


def standard_webhooks(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    message_id = request.headers["webhook-id"]
    signed_at = datetime.fromtimestamp(int(request.sent_at), UTC)
    signature = StandardWebhook(secret).sign(message_id, signed_at, request.body.decode("utf-8"))
    return {"webhook-timestamp": str(int(request.sent_at)), "webhook-signature": signature}


def gitlab(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """GitLab's signing token is Standard Webhooks (webhook-* headers); a secret token is sent as is."""
    if secret.startswith("whsec_"):
        return standard_webhooks(request, secret)
    return {"x-gitlab-token": secret}


def hubspot(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """hubspot-api-client's v3 signature of method + URI + body + timestamp (ms); the sample URL has no escapes."""
    timestamp = str(round(request.sent_at * 1000))
    body = request.body.decode("utf-8")
    signature = HubspotSignature.get_signature(secret, body, "v3", request.url, request.method, timestamp)
    return {"x-hubspot-request-timestamp": timestamp, "x-hubspot-signature-v3": signature}


def paddle(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """paddle-python-sdk's HMAC of ``<ts>:<body>`` (the SDK builds no header: ``ts=...;h1=...`` as Paddle sends)."""
    timestamp = int(request.sent_at)
    digest = PaddleSignature.calculate_hmac(secret, f"{timestamp}:".encode() + request.body).hexdigest()
    return {"paddle-signature": f"ts={timestamp};h1={digest}"}


def linear(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """Linear's documented scheme (@linear/sdk is JavaScript): hex HMAC-SHA256 of the raw body, whose signed
    ``webhookTimestamp`` the sample stamped when it was made."""
    return {"linear-signature": _hmac(secret, request.body).hex()}


def discord(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """PyNaCl's Ed25519 over ``timestamp + body`` with the private key whose public key is the sample secret."""
    key = SigningKey(DISCORD_SAMPLE_SEED)
    assert key.verify_key.encode().hex() == secret
    timestamp = str(int(request.sent_at))
    signature = key.sign(timestamp.encode() + request.body).signature.hex()
    return {"x-signature-timestamp": timestamp, "x-signature-ed25519": signature}


def zoom(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """Zoom's documented scheme (no SDK signs; the formula of its official sample app, zoom/webhook-sample)."""
    timestamp = str(int(request.sent_at))
    digest = _hmac(secret, f"v0:{timestamp}:".encode() + request.body).hex()
    return {"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest}"}


def meta(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """Meta's documented scheme: ``sha256=`` + hex HMAC-SHA256 of the raw body with the App Secret (the JSON secret's
    ``app_secret``)."""
    app_secret = json.loads(secret)["app_secret"]
    return {"x-hub-signature-256": "sha256=" + _hmac(app_secret, request.body).hex()}


def square(request: samples.SignedRequest, secret: str) -> dict[str, str]:
    """squareup's algorithm (its SDK only verifies): base64 HMAC-SHA256 of the notification URL + the raw body."""
    signature = base64.b64encode(_hmac(secret, request.url.encode() + request.body)).decode()
    return {"x-square-hmacsha256-signature": signature}


REFERENCE_SIGNERS: dict[str, ReferenceSigner] = {
    "discord": discord,
    "generic_hmac": generic_hmac,
    "github": github,
    "gitlab": gitlab,
    "hubspot": hubspot,
    "linear": linear,
    "meta": meta,
    "paddle": paddle,
    "shopify": shopify,
    "slack": slack,
    "square": square,
    "standard_webhooks": standard_webhooks,
    "stripe": stripe_signer,
    "twilio": twilio,
    "zoom": zoom,
}


def test_every_provider_has_a_reference_signer() -> None:
    """Given the registry, then each provider is checked below by a signer that is not the gateway's own."""
    assert sorted(REFERENCE_SIGNERS) == sorted(samples.PROVIDERS)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("reference")
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        log_dir=work / "logs",
        environ={},
    )
    with LocalPipeline(config) as running:
        yield running


def post(pipeline: LocalPipeline, request: samples.SignedRequest, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=60)
    try:
        target = request.path + (f"?{request.query}" if request.query else "")
        connection.request(request.method, target, body=request.body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def processed(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", pipeline.endpoint.url)
    out, err = io.StringIO(), io.StringIO()
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    argv = ["deliveries", "list", "--status", "processed", "--json"]
    code = main(argv, session=session, environ={"HOOKCTL_STACK": STACK}, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return {(item["provider"], item["delivery_id"]) for item in json.loads(out.getvalue())}


@pytest.mark.parametrize("provider", samples.PROVIDERS)
def test_a_request_signed_by_the_providers_reference_is_processed_once(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    # Given the provider's default sample, its signature replaced by the reference's over the same body and URL
    request = samples.sign_request(provider, samples.delivery_kinds_of(provider)[0], base_url=pipeline.api_url)
    secret = samples.sample_secret(provider)
    reference = REFERENCE_SIGNERS[provider](request, secret)
    assert set(reference) & set(request.headers), "the reference replaces the sample's own signature headers"
    headers = {**request.headers, **reference}
    # When it is sent to the local HTTP API
    status, body = post(pipeline, request, headers)
    # Then the receiver accepts it, and the consumer processes it under the provider's own delivery id (each event's,
    # for a request that carries several)
    assert 200 <= status < 300, (status, body)
    assert pipeline.wait_until_drained(60)
    assert {(provider, delivery_id) for delivery_id in request.delivery_ids} <= processed(pipeline, monkeypatch)
    # And a single changed character in the middle of the reference's signature header is refused: a digit that hex
    # and base64 both hold, whatever the case, and away from base64's last character, whose low bits are padding
    # (changing those may decode to the same digest)
    name = sorted(set(reference) & set(request.headers))[-1]
    value, middle = reference[name], len(reference[name]) // 2
    flipped = value[:middle] + ("1" if value[middle] == "0" else "0") + value[middle + 1 :]
    status, _ = post(pipeline, request, {**headers, name: flipped})
    assert status == 401

