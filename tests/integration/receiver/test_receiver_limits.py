"""Limits real AWS enforces and moto does not, through the real Lambda handler: delivery ids that the ledger's sort key
(1,024 bytes) or an SQS attribute cannot hold, and characters SQS refuses. The gateway fixture's SQS client is
``StrictSqs`` in front of moto, so an envelope real SQS would refuse fails here too."""

from __future__ import annotations

import json

import pytest

import receiver_app
from tests.unit.receiver.fakes import StrictSqs
from tools.make_events import build_event
from webhook_gateway.consumer.bodies import load_body
from webhook_gateway.envelope import Envelope

from .conftest import BUCKET


def github_push(**headers: str) -> dict:
    event = build_event("github", "push")
    event["headers"].update(headers)  # plain headers: the signature still holds
    return event


@pytest.mark.parametrize(
    "guid",
    ["d" * 600, "\U0001f600" * 300, "guid\x00nul", "guid\r\nsplit"],
    ids=["600-characters", "300-emoji-1200-bytes", "nul", "crlf"],
)
def test_a_signed_push_with_an_uncarryable_delivery_id_is_400_never_500_never_accepted(gateway, guid):
    # Given a correctly signed GitHub push whose X-GitHub-Delivery the ledger or SQS cannot carry
    gateway.use_provider("github")
    # When the real handler gets it
    response = gateway.invoke(github_push(**{"x-github-delivery": guid}))
    # Then it is a 400 with the reason (GitHub shows it in the hook's deliveries), and nothing is queued
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "invalid_delivery_id"})
    assert gateway.messages() == []


def test_the_receiver_sends_through_the_strict_sqs_client(gateway):
    gateway.use_provider("github")
    assert gateway.invoke(github_push())["statusCode"] == 202
    assert isinstance(receiver_app.receiver().sender.sqs, StrictSqs)


def test_a_body_and_header_sqs_would_refuse_arrive_queued_and_byte_exact(gateway):
    # Given a signed push whose body and User-Agent hold U+FFFF, which SQS refuses raw
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40, "note": "\uffff"},
                      ensure_ascii=False).encode("utf-8")
    event = build_event("github", "push", body=body)
    event["headers"]["user-agent"] = "GitHub-Hookshot/\uffff"
    gateway.use_provider("github")
    # When it is delivered
    response = gateway.invoke(event)
    # Then it is queued, and the consumer's side gets the exact signed bytes and header back
    assert response["statusCode"] == 202
    [message] = gateway.messages()
    envelope = Envelope.model_validate(message["body"])
    assert envelope.body_encoding == "base64"
    assert load_body(envelope, allowed_buckets=BUCKET, client=gateway.s3) == body
    assert envelope.headers["user-agent"] == "GitHub-Hookshot/\uffff"
