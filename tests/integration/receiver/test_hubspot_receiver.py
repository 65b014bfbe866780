"""HubSpot through the real receiver handler on moto (receiver_app.handler): a signed array of events is queued as
one envelope per event, each with its own delivery id and the exact bytes HubSpot sent for it; a forged array is 401
and queues nothing; an array that is not all events queues nothing; and after a partial enqueue failure (503) the
retried array is processed by the consumer once per event."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import boto3
import pytest
from hubspot.utils.signature import Signature as HubSpotSignature

import receiver_app
from tests.integration.consumer.aws import create_deliveries_table, to_lambda_record
from tests.throwaway_providers import api_event
from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings

SECRET = SAMPLE_SECRETS["hubspot"]
HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
# Three events as HubSpot writes them, with whitespace and raw UTF-8 that must survive byte for byte.
EVENTS = [
    b'{"eventId":100,"subscriptionId":1205300,"portalId":62515,"appId":54321,"occurredAt":1764590000000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeFlag":"CREATED",'
    b'"changeSource":"CRM"}',
    '{ "eventId": 101, "subscriptionId": 1205301, "portalId": 62515, "appId": 54321, "occurredAt": 1764590000117,\n'
    '  "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 123,\n'
    '  "propertyName": "firstname", "propertyValue": "Zoë \\u00e9", "changeSource": "CRM_UI" }'.encode(),
    b'{"eventId":100,"subscriptionId":1205301,"portalId":99999,"appId":54321,"occurredAt":1764590000000,'
    b'"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":7,"propertyName":"lifecyclestage",'
    b'"propertyValue":"lead","changeSource":"API"}',
]
IDS = ["62515:1205300:100:1764590000000", "62515:1205301:101:1764590000117", "99999:1205301:100:1764590000000"]


def array(events: list[bytes], attempt: int = 0) -> bytes:
    body = b"[" + b" ,\n ".join(events) + b"]"
    return body.replace(b'"attemptNumber":0', f'"attemptNumber":{attempt}'.encode())


def signed_event(body: bytes, secret: str = SECRET, **extra: str) -> dict[str, Any]:
    timestamp = str(int(time.time() * 1000))
    signature = HubSpotSignature.get_signature(
        secret, body.decode("utf-8"), "v3", http_uri=f"https://{HOST}/webhooks/hubspot", timestamp=timestamp
    )
    headers = {
        "content-type": "application/json",
        "x-hubspot-signature-v3": signature,
        "x-hubspot-request-timestamp": timestamp,
        **extra,
    }
    return api_event("hubspot", body=body, headers=headers)


def test_an_array_of_three_events_is_queued_as_three_envelopes_with_their_own_ids_and_bytes(gateway):
    """Given a signed array of 3 events, when the receiver handles it, then it answers 202 and 3 messages are
    queued, each with its event's delivery id and event type, its exact bytes (body and body_sha256) and its place in
    the batch (index, count, hash of the whole signed body)."""
    gateway.use_provider("hubspot")
    body = array(EVENTS)
    response = gateway.invoke(signed_event(body))
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"]) == {"status": "accepted"}
    messages = gateway.messages()
    assert len(messages) == 3
    by_index = sorted(messages, key=lambda m: m["body"]["batch"]["index"])
    for index, (message, part) in enumerate(zip(by_index, EVENTS, strict=True)):
        envelope = message["body"]
        assert envelope["delivery_id"] == IDS[index] == message["attributes"]["delivery_id"]["StringValue"]
        assert envelope["delivery_id_signed"] is True
        assert envelope["event_type"] == json.loads(part)["subscriptionType"]
        assert envelope["body"].encode("utf-8") == part
        assert envelope["body_sha256"] == hashlib.sha256(part).hexdigest() and envelope["body_size"] == len(part)
        assert envelope["batch"] == {"index": index, "count": 3, "request_sha256": hashlib.sha256(body).hexdigest()}
        assert "x-hubspot-signature-v3" not in envelope["headers"]


def test_a_forged_array_is_401_and_queues_nothing(gateway):
    gateway.use_provider("hubspot")
    response = gateway.invoke(signed_event(array(EVENTS), secret="not-the-client-secret"))
    assert response["statusCode"] == 401 and json.loads(response["body"])["error"] == "signature_mismatch"
    assert gateway.messages() == []


def test_a_legacy_signature_alone_is_401_missing_signature(gateway):
    gateway.use_provider("hubspot")
    body = array(EVENTS)
    legacy = HubSpotSignature.get_signature(SECRET, body.decode(), "v1")
    headers = {"x-hubspot-signature": legacy, "x-hubspot-signature-version": "v1"}
    event = api_event("hubspot", body=body, headers=headers)
    response = gateway.invoke(event)
    assert response["statusCode"] == 401 and json.loads(response["body"])["error"] == "missing_signature"
    assert gateway.messages() == []


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"eventId":1}',
        array([EVENTS[0], b'"not an event"']),
        array([EVENTS[0], EVENTS[1].replace(b'"subscriptionType"', b'"type"')]),
    ],
)
def test_a_signed_body_that_is_not_an_array_of_events_is_400_and_queues_nothing(gateway, body):
    """Given a signed empty array, an object, or an array with one element that is not an event, then nothing of it
    is queued (not even the valid events before the bad one): 400 unparseable_payload."""
    gateway.use_provider("hubspot")
    response = gateway.invoke(signed_event(body))
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "unparseable_payload"
    assert gateway.messages() == []


class FailingEntry:
    """An SQS client whose SendMessageBatch fails (server side) for entries whose delivery id is in ``failing``."""

    def __init__(self, real: Any, failing: set[str]) -> None:
        self.real, self.failing = real, failing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
        kept = [e for e in Entries if e["MessageAttributes"]["delivery_id"]["StringValue"] not in self.failing]
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries if e not in kept]
        response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {"Successful": []}
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_a_retried_array_after_a_partial_failure_is_processed_once_per_event(gateway, monkeypatch):
    """Given SQS keeps failing one event of a 3-event array, then the receiver answers 503 (two events queued, the
    third not). When HubSpot retries the whole array (attemptNumber 1) and SQS is well again, then it is 202 and all
    three are queued again; and the consumer processes each of the three events exactly once: the two queued twice
    are duplicates."""
    gateway.use_provider("hubspot")
    built = receiver_app.receiver()
    real_sqs = built.sender.sqs
    built.sender._sqs = FailingEntry(real_sqs, {IDS[1]})
    first = gateway.invoke(signed_event(array(EVENTS)))
    assert first["statusCode"] == 503 and json.loads(first["body"])["error"] == "enqueue_failed"
    built.sender._sqs = real_sqs
    retry = gateway.invoke(signed_event(array(EVENTS, attempt=1)))
    assert retry["statusCode"] == 202

    dynamodb = boto3.client("dynamodb")
    create_deliveries_table(dynamodb)
    processed: list[str] = []
    registry = Registry()
    registry.register("hubspot", "*", lambda event: processed.append(event.delivery_id))
    consumer = Consumer(
        settings=ConsumerSettings.from_env({"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow-bucket"}),
        registry=registry,
        dynamodb=dynamodb,
        s3=gateway.s3,
    )
    queue_arn = gateway.sqs.get_queue_attributes(QueueUrl=gateway.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    messages = gateway.sqs.receive_message(
        QueueUrl=gateway.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    )["Messages"]
    assert sorted(m["MessageAttributes"]["delivery_id"]["StringValue"] for m in messages) == sorted(
        [IDS[0], IDS[2], *IDS]
    )
    response = process_batch({"Records": [to_lambda_record(m, queue_arn) for m in messages]}, None, consumer)
    assert response["batchItemFailures"] == []
    assert sorted(processed) == sorted(IDS)
