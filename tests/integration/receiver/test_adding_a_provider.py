"""Adding a provider is adding its module: a throwaway provider, Acme, defined only by ``acme.py`` on the verifier
package's path (README, "Adding a provider"), is signed by ``hookctl.samples``, turned into an API Gateway event,
accepted by the real receiver handler (moto) and refused once tampered with, parsed by the consumer, and sent by
``hookctl send``: nothing else is edited for it."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterator

import boto3
import pytest

from hookctl import samples
from hookctl.local.gateway import HttpApi, Route
from hookctl.local.lambda_runtime import Invocation
from hookctl.main import main
from tests.throwaway_providers import installed
from webhook_gateway.consumer.events import build_event
from webhook_gateway.envelope import Envelope
from webhook_gateway.verifiers import registered_providers
from webhook_gateway.verifiers.base import Provider

# Acme: `X-Acme-Signature: <hex HMAC-SHA256 of the raw body>`, a JSON event naming itself; one sample kind. The
# contract half (verify, identify, PROVIDER) and the sending half (sign, the sample, SAMPLES) share the module here;
# the package's own providers keep the sending half in verifiers/samples/<name>.py.
ACME_MODULE = textwrap.dedent(
    '''
    """Acme: X-Acme-Signature, the hex HMAC-SHA256 of the raw body keyed with the hook key."""

    import hashlib
    import hmac
    import json
    import uuid

    from webhook_gateway.verifiers.base import (
        DeliveryIdentity, Provider, Reason, Rejected, SecretFormat, constant_time_equal, first_matching_secret, utf8,
    )
    from webhook_gateway.verifiers.samples import SampleDelivery, Samples, Signature


    def _mac(body, key):
        return hmac.new(utf8(key), body, hashlib.sha256).hexdigest()


    def verify(request, secrets, policy):
        received = (request.header("x-acme-signature") or "").strip()
        if not received:
            raise Rejected(Reason.MISSING_SIGNATURE, "no x-acme-signature header")
        return first_matching_secret(secrets, lambda c: constant_time_equal(_mac(request.body, c.value), received))


    def identify(request):
        try:
            document = json.loads(request.body)
        except ValueError:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "not JSON") from None
        if not isinstance(document, dict) or not all(isinstance(document.get(k), str) for k in ("id", "type")):
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no id and type")
        return DeliveryIdentity(document["id"], document["type"], delivery_id_signed=True)


    def sign(body, url, content_type, secret, sent_at):
        return Signature(url, {"x-acme-signature": _mac(body, secret)})


    def _order_created():
        body = json.dumps({"id": "acme_evt_0001", "type": "order.created", "order": {"total": 42}}).encode()
        headers = {"content-type": "application/json", "user-agent": "Acme-Hooks/1.0"}
        return SampleDelivery(body, headers, "application/json", "203.0.113.7")


    def with_delivery_id(sample, delivery_id):
        body = json.dumps({**json.loads(sample.body), "id": delivery_id}).encode()
        return SampleDelivery(body, dict(sample.headers), sample.content_type, sample.source_ip)


    SAMPLES = Samples(
        sign=sign,
        kinds={"order.created": _order_created},
        with_delivery_id=with_delivery_id,
        new_delivery_id=lambda: "acme_evt_" + uuid.uuid4().hex,
    )

    PROVIDER = Provider(
        name="acme",
        title="Acme",
        verify=verify,
        identify=identify,
        forwarded_headers=("content-type", "user-agent"),
        secret_format=SecretFormat("the hook key, used as is", sample="sample-acme-hook-key", wrong_sample="not-it"),
        samples=__name__,
    )
    '''
)


@pytest.fixture
def acme(tmp_path, monkeypatch) -> Iterator[Provider]:
    """``acme.py`` in a directory on the verifier package's path: a provider module like the package's own."""
    with installed(tmp_path, monkeypatch, {"acme": ACME_MODULE}) as providers:
        yield providers["acme"]
    samples._sample.cache_clear()


def test_the_module_alone_registers_the_provider(acme):
    assert "acme" in [provider.name for provider in registered_providers()]
    assert "acme" in samples.provider_names()
    assert samples.kinds_of("acme") == ("order.created",)
    assert samples.sample_secret("acme") == "sample-acme-hook-key"


def test_a_signed_acme_delivery_is_accepted_end_to_end_and_a_tampered_one_refused(acme, gateway):
    # Given Acme's sample, signed by the generic machinery with Acme's signer, as API Gateway delivers it
    request = samples.sign_request("acme", "order.created")
    assert request.url.endswith("/webhooks/acme") and request.headers["x-acme-signature"]
    assert request.delivery_id == "acme_evt_0001"  # named by Acme's own identify()
    event = samples.event_from_request(request)
    assert event["routeKey"] == "POST /webhooks/acme"
    # When the real receiver handler runs with PROVIDER=acme (its secret seeded from Acme's sample secret)
    gateway.use_provider("acme")
    accepted = gateway.invoke(event)
    refused = gateway.invoke(samples.event_from_request(samples.tamper(request)))
    # Then the genuine delivery is queued (Acme's default JSON acknowledgement) and the forged one refused
    assert accepted["statusCode"] == 202, accepted
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["error"] == "signature_mismatch"
    [message] = gateway.messages()
    # And the consumer reads the queued envelope back as an Acme event with its parsed body
    envelope = Envelope.model_validate(message["body"])
    webhook = build_event(envelope, envelope.inline_body_bytes())
    assert (webhook.provider, webhook.delivery_id, webhook.event_type) == ("acme", "acme_evt_0001", "order.created")
    assert webhook.body == {"id": "acme_evt_0001", "type": "order.created", "order": {"total": 42}}
    assert webhook.header("user-agent") == "Acme-Hooks/1.0"


def test_hookctl_send_targets_acme(acme, gateway):
    # Given an HTTP API routing /webhooks/acme to the real receiver handler (PROVIDER=acme)
    gateway.use_provider("acme")
    api = HttpApi([Route("POST", "/webhooks/acme", "acme")], lambda _, event: Invocation("r", gateway.invoke(event)))
    api.start()
    try:
        out, err = io.StringIO(), io.StringIO()
        argv = ["send", "acme", "--url", api.url, "--count", "3", "--json"]
        code = main(argv, session=boto3.Session(region_name="us-east-1"), environ={}, stdout=out, stderr=err)
        forged = main([*argv[:-3], "--tamper", "--json"], session=boto3.Session(region_name="us-east-1"),
                      environ={}, stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        api.stop()
    # Then three distinct Acme deliveries are accepted (fresh Acme-shaped ids, Acme's sample secret) and the forged
    # one is refused: the command's exit code says so
    assert code == 0, err.getvalue()
    summary = json.loads(out.getvalue())
    assert summary["accepted_deliveries"] == 3
    assert all(r["provider"] == "acme" and r["delivery_id"].startswith("acme_evt_") for r in summary["results"])
    assert forged == 0
    assert len(gateway.messages()) == 3
