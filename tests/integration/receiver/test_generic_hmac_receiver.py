"""Generic HMAC through the real receiver handler on moto (receiver_app.handler), its options given as the template
gives them: a JSON object in PROVIDER_OPTIONS, read by ReceiverSettings.from_env. The default instance takes the
samples' deliveries; an instance named ``acme`` configured with a signed timestamp and a signed id header queues
under its own name, refuses replays and forgeries; bad options stop the function at init naming the option."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

import receiver_app
from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.settings import SettingsError

SECRET = SAMPLE_SECRETS["generic_hmac"]
ACME_OPTIONS = {
    "signature_header": "X-Acme-Signature",
    "signature_prefix": "t1=",
    "signed_payload": "{timestamp}.{delivery_id}.{body}",
    "timestamp_header": "X-Acme-Timestamp",
    "delivery_id_header": "X-Acme-Delivery",
    "event_type_pointer": "/event/name",
    "forwarded_headers": ["x-acme-retry"],
}
BODY = json.dumps({"event": {"name": "shipment.delivered"}, "shipment": {"id": "shp_9", "carrier": "DHL"}}).encode()


def use_acme(gateway, options=ACME_OPTIONS) -> None:
    gateway.use_provider(
        "acme",
        PROVIDER_KIND="generic_hmac",
        PROVIDER_OPTIONS=json.dumps(options),
        SECRET_ID="generic_hmac-webhook-secret",
    )


def acme_event(delivery: str = "dlv_0001", signed_at: int | None = None, secret: str = SECRET, **headers: str):
    timestamp = str(int(time.time()) if signed_at is None else signed_at)
    message = f"{timestamp}.{delivery}.".encode() + BODY
    signature = "t1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return api_event(
        "acme",
        body=BODY,
        headers={
            "content-type": "application/json",
            "x-acme-signature": signature,
            "x-acme-timestamp": timestamp,
            "x-acme-delivery": delivery,
            **headers,
        },
    )


def test_the_default_instance_queues_a_delivery_signed_with_the_default_options(gateway):
    gateway.use_provider("generic_hmac")
    body = b'{"id":"evt_1","type":"order.created"}'
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = gateway.invoke(
        api_event("generic_hmac", body=body, headers={"content-type": "application/json", "x-signature": signature})
    )
    assert response["statusCode"] == 202, response
    [message] = gateway.messages()
    envelope = message["body"]
    assert envelope["provider"] == "generic_hmac"
    assert (envelope["delivery_id"], envelope["event_type"]) == (
        "sha256:" + hashlib.sha256(body).hexdigest(),
        "webhook",
    )
    assert envelope["delivery_id_signed"] is True
    assert "x-signature" not in envelope["headers"]


def test_a_configured_instance_queues_under_its_name_with_its_signed_id_and_event_type(gateway):
    use_acme(gateway)
    first = gateway.invoke(acme_event())
    retry = gateway.invoke(acme_event(**{"x-acme-retry": "1"}))
    assert (first["statusCode"], retry["statusCode"]) == (202, 202), (first, retry)
    queued = [m["body"] for m in gateway.messages()]
    assert [(e["provider"], e["delivery_id"], e["event_type"]) for e in queued] == [
        ("acme", "dlv_0001", "shipment.delivered")
    ] * 2
    assert all(e["delivery_id_signed"] for e in queued)
    assert all("x-acme-signature" not in e["headers"] for e in queued)
    assert {e["headers"].get("x-acme-retry") for e in queued} == {None, "1"}
    assert all(e["headers"]["x-acme-delivery"] == "dlv_0001" for e in queued)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (lambda: acme_event(signed_at=int(time.time()) - 3600), "timestamp_too_old"),
        (lambda: acme_event(secret="not-the-acme-secret"), "signature_mismatch"),
        (lambda: {**acme_event(), "headers": {**acme_event()["headers"], "x-acme-delivery": "dlv_9999"}},
         "signature_mismatch"),
        (lambda: {**acme_event(), "headers": {**acme_event()["headers"], "x-acme-signature": "sha256=00"}},
         "malformed_signature"),
    ],
)  # fmt: skip
def test_a_configured_instance_refuses_replays_and_forgeries(gateway, event, reason):
    use_acme(gateway)
    response = gateway.invoke(event())
    assert response["statusCode"] == 401, response
    assert json.loads(response["body"])["error"] == reason
    assert gateway.messages() == []


def test_the_default_options_do_not_verify_an_acme_delivery(gateway):
    # The same kind without the instance's options: another header, another signed payload
    gateway.use_provider("generic_hmac")
    response = gateway.invoke({**acme_event(), "rawPath": "/webhooks/generic_hmac"})
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"] == "missing_signature"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ('{"algorithm": "md5"}', "PROVIDER_OPTIONS: algorithm: must be one of sha1, sha256, sha512"),
        ('{"timestamp_header": "x-ts"}', "PROVIDER_OPTIONS: timestamp_header"),
        ('{"signature_header": "whsec_pasted secret"}', "PROVIDER_OPTIONS: signature_header"),
    ],
)
def test_bad_options_stop_the_function_at_init_naming_the_option(gateway, options, named):
    gateway.use_provider("acme", PROVIDER_KIND="generic_hmac", PROVIDER_OPTIONS=options)
    with pytest.raises(SettingsError) as error:
        receiver_app.receiver()
    assert named in str(error.value)
    assert "whsec_pasted" not in str(error.value)
