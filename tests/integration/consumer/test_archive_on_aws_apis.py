"""The archive holds exactly what the receiver received: real signed requests (signed with the providers' SDKs, or
HMAC for Generic HMAC) go through the receiver's Lambda handler into moto's SQS, the consumer processes the queue
with the archive on, and every archived body and header is compared with the request's own bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import stripe
from hubspot.utils.signature import Signature as HubSpotSignature

import receiver_app
from tests.integration.consumer.aws import Aws, drain, moto_aws, queue_depth
from tests.throwaway_providers import api_event
from tests.unit.consumer.fakes import ARCHIVE_BUCKET, DELIVERIES_TABLE, OVERFLOW_BUCKET, FakeLambdaContext
from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.consumer.archive import LOCATION_INLINE, LOCATION_S3, load_archived
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.observability import metrics
from webhook_gateway.verifiers import registered_providers

HUBSPOT_HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
# The receiver's claim-check threshold in these tests: an envelope over it goes to the overflow bucket.
RECEIVER_INLINE_LIMIT = 40_000
ARCHIVE_INLINE_MAX_BYTES = 6_144


class Pipeline:
    """Receiver and consumer on one moto account: deliver signed requests, then drain the queue into the archive."""

    def __init__(self, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws = aws
        self.monkeypatch = monkeypatch
        self.handled: list[tuple[str, bytes]] = []
        registry = Registry()
        for provider in ("stripe", "generic_hmac", "hubspot"):
            registry.register(provider, "*", lambda event: self.handled.append((event.delivery_id, event.raw)))
        settings = ConsumerSettings.from_env(
            {
                "TABLE_NAME": DELIVERIES_TABLE,
                "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
                "ARCHIVE_RETENTION_DAYS": "30",
                "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                "ARCHIVE_INLINE_MAX_BYTES": str(ARCHIVE_INLINE_MAX_BYTES),
                "QUEUE_URL": aws.queue_url,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            }
        )
        self.consumer = Consumer(settings=settings, registry=registry, dynamodb=aws.dynamodb, s3=aws.s3, sqs=aws.sqs)

    def deliver(self, provider: str, event: dict[str, Any]) -> None:
        for key, value in {
            "PROVIDER": provider,
            "QUEUE_URL": self.aws.queue_url,
            "SECRET_ID": f"{provider}-webhook-secret",
            "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
            "INLINE_ENVELOPE_LIMIT_BYTES": str(RECEIVER_INLINE_LIMIT),
            "AWS_ENDPOINT_URL": "",
        }.items():
            self.monkeypatch.setenv(key, value)
        receiver_app.receiver.cache_clear()
        response = receiver_app.handler(event, FakeLambdaContext(function_name=f"{provider}-receiver"))
        assert response["statusCode"] == 202, response

    def drain(self) -> None:
        # The consumer runs in its own execution environment: without the receiver's default provider dimension.
        metrics.clear_default_dimensions()
        drain(self.aws, lambda event, context: process_batch(event, context, self.consumer), FakeLambdaContext)
        assert queue_depth(self.aws, self.aws.queue_url) == 0
        assert queue_depth(self.aws, self.aws.dlq_url) == 0

    def archived(self, provider: str, delivery_id: str):
        archived = load_archived(DELIVERIES_TABLE, provider, delivery_id, dynamodb=self.aws.dynamodb, s3=self.aws.s3)
        assert archived is not None, f"{provider}/{delivery_id} was not archived"
        return archived


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with moto_aws() as aws:
        aws.sqs.set_queue_attributes(QueueUrl=aws.queue_url, Attributes={"MaximumMessageSize": "1048576"})
        manager = boto3.client("secretsmanager")
        for provider in registered_providers():
            if provider.secret_format.sample:
                name, sample = f"{provider.name}-webhook-secret", provider.secret_format.sample
                manager.create_secret(Name=name, SecretString=sample)
        receiver_app.receiver.cache_clear()
        yield Pipeline(aws, monkeypatch)
        receiver_app.receiver.cache_clear()


def stripe_event(event_id: str, padding: str = "", note: str = "") -> tuple[bytes, dict[str, Any]]:
    """A Stripe delivery signed with stripe-python, its body exactly as given (spaces and key order kept)."""
    data = f'{{"object": {{"id": "pi_1", "note": "{note}", "padding": "{padding}"}}}}'
    text = f'{{\n  "id": "{event_id}",\n  "object": "event",  "type": "payment_intent.succeeded",\n  "data": {data}\n}}'
    body = text.encode("utf-8")
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), SAMPLE_SECRETS["stripe"], timestamp=int(time.time())
    )
    headers = {"content-type": "application/json; charset=utf-8", "stripe-signature": header}
    headers["user-agent"] = "Stripe/1.0"
    return body, api_event("stripe", body=body, headers=headers)


def assert_archived_as_received(pipeline: Pipeline, provider: str, delivery_id: str, body: bytes, event: dict):
    archived = pipeline.archived(provider, delivery_id)
    assert archived.raw == body
    # Every forwarded header is the request's own value, and the signature header is never kept
    request_headers = {name.lower(): value for name, value in event["headers"].items()}
    assert archived.headers, "no forwarded headers archived"
    for name, value in archived.headers.items():
        assert request_headers[name] == value, name
    assert archived.metadata["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert archived.metadata["body_size"] == len(body)
    return archived


def test_an_inline_stripe_body_is_archived_inline_byte_for_byte(pipeline):
    # Given a small signed Stripe delivery with UTF-8 beyond ASCII
    body, event = stripe_event("evt_inline", note="Zo\u00eb \u2603")
    pipeline.deliver("stripe", event)

    # When the consumer processes the queue
    pipeline.drain()

    # Then the archive holds the exact bytes, inline, with the forwarded headers
    archived = assert_archived_as_received(pipeline, "stripe", "evt_inline", body, event)
    assert archived.location == LOCATION_INLINE
    assert archived.headers["user-agent"] == "Stripe/1.0"
    assert pipeline.handled == [("evt_inline", body)]


def test_a_body_over_the_archive_inline_limit_is_archived_in_s3_byte_for_byte(pipeline):
    # Given a signed Stripe delivery larger than ARCHIVE_INLINE_MAX_BYTES, still inline in its SQS message
    body, event = stripe_event("evt_large", padding="p" * (ARCHIVE_INLINE_MAX_BYTES + 100))
    pipeline.deliver("stripe", event)

    # When the consumer processes the queue
    pipeline.drain()

    # Then the archive points at an S3 object holding the exact bytes
    archived = assert_archived_as_received(pipeline, "stripe", "evt_large", body, event)
    assert (archived.location, archived.body_bucket) == (LOCATION_S3, ARCHIVE_BUCKET)
    obj = pipeline.aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=archived.body_key)
    assert obj["Body"].read() == body
    assert obj["Metadata"] == {"sha256": hashlib.sha256(body).hexdigest()}


def test_a_claim_checked_body_is_copied_from_the_overflow_bucket_byte_for_byte(pipeline):
    # Given a signed Stripe delivery over the receiver's inline limit (claim-checked to the overflow bucket)
    body, event = stripe_event("evt_overflow", padding="q" * RECEIVER_INLINE_LIMIT)
    pipeline.deliver("stripe", event)
    [overflow] = pipeline.aws.s3.list_objects_v2(Bucket=OVERFLOW_BUCKET)["Contents"]

    # When the consumer processes the queue
    pipeline.drain()

    # Then the archive holds its own copy in the archive bucket, the exact bytes, not a pointer to the overflow
    archived = assert_archived_as_received(pipeline, "stripe", "evt_overflow", body, event)
    assert (archived.location, archived.body_bucket) == (LOCATION_S3, ARCHIVE_BUCKET)
    assert archived.body_key != overflow["Key"]
    assert pipeline.aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=archived.body_key)["Body"].read() == body
    assert pipeline.handled == [("evt_overflow", body)]


@pytest.mark.parametrize("size", [200, ARCHIVE_INLINE_MAX_BYTES + 1])
def test_a_binary_non_utf8_body_is_archived_byte_for_byte(pipeline, size):
    # Given a Generic HMAC delivery whose body is not UTF-8 (every byte value, NULs included), inline or S3-sized
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    signature = hmac.new(SAMPLE_SECRETS["generic_hmac"].encode(), body, hashlib.sha256).hexdigest()
    event = api_event(
        "generic_hmac",
        body=body,
        headers={"content-type": "application/octet-stream", "x-signature": signature, "user-agent": "acme/2"},
    )
    pipeline.deliver("generic_hmac", event)
    delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()

    # When the consumer processes the queue
    pipeline.drain()

    # Then the archive holds the exact bytes
    archived = assert_archived_as_received(pipeline, "generic_hmac", delivery_id, body, event)
    assert archived.location == (LOCATION_INLINE if size <= ARCHIVE_INLINE_MAX_BYTES else LOCATION_S3)
    assert archived.headers["content-type"] == "application/octet-stream"
    assert pipeline.handled == [(delivery_id, body)]


HUBSPOT_EVENTS = [
    b'{"eventId":100,"subscriptionId":1205300,"portalId":62515,"appId":54321,"occurredAt":1764590000000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeFlag":"CREATED"}',
    '{ "eventId": 101, "subscriptionId": 1205301, "portalId": 62515, "appId": 54321, "occurredAt": 1764590000117,\n'
    '  "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 123,\n'
    '  "propertyName": "firstname", "propertyValue": "Zo\u00eb \\u00e9" }'.encode(),
]
HUBSPOT_IDS = ["62515:1205300:100:1764590000000", "62515:1205301:101:1764590000117"]


def hubspot_event(body: bytes) -> dict[str, Any]:
    """A HubSpot request signed (v3) with hubspot-api-client."""
    timestamp = str(int(time.time() * 1000))
    signature = HubSpotSignature.get_signature(
        SAMPLE_SECRETS["hubspot"],
        body.decode("utf-8"),
        "v3",
        http_uri=f"https://{HUBSPOT_HOST}/webhooks/hubspot",
        timestamp=timestamp,
    )
    headers = {
        "content-type": "application/json",
        "x-hubspot-signature-v3": signature,
        "x-hubspot-request-timestamp": timestamp,
    }
    return api_event("hubspot", body=body, headers=headers)


def test_each_event_of_a_hubspot_batch_is_archived_as_its_own_exact_bytes(pipeline):
    # Given a HubSpot array of two events, signed with hubspot-api-client
    body = b"[" + b" ,\n ".join(HUBSPOT_EVENTS) + b"]"
    event = hubspot_event(body)
    pipeline.deliver("hubspot", event)

    # When the consumer processes the queue
    pipeline.drain()

    # Then there is one archive item per event, each holding that event's exact bytes and its batch position
    for index, (delivery_id, part) in enumerate(zip(HUBSPOT_IDS, HUBSPOT_EVENTS, strict=True)):
        archived = assert_archived_as_received(pipeline, "hubspot", delivery_id, part, event)
        assert archived.metadata["batch"] == {
            "index": index,
            "count": 2,
            "request_sha256": hashlib.sha256(body).hexdigest(),
        }
    assert sorted(pipeline.handled) == sorted(zip(HUBSPOT_IDS, HUBSPOT_EVENTS, strict=True))
    items = pipeline.aws.dynamodb.query(
        TableName=DELIVERIES_TABLE,
        KeyConditionExpression="provider = :p",
        ExpressionAttributeValues={":p": {"S": "hubspot#archive"}},
    )["Items"]
    assert sorted(item["delivery_id"]["S"] for item in items) == sorted(HUBSPOT_IDS)
    assert json.loads(items[0]["envelope"]["S"])["provider"] == "hubspot"


def test_a_provider_retry_with_other_bytes_leaves_the_archived_copy_alone(pipeline):
    """Given a HubSpot array processed once, then HubSpot's retry of it (the same event ids; each event's bytes now
    say attemptNumber 1) When the consumer processes the retry (duplicates: nothing runs) Then the archive still holds
    the bytes the handler processed, not the retry's: a replay re-runs what was processed."""
    first = b"[" + b" ,\n ".join(HUBSPOT_EVENTS) + b"]"
    retry = first.replace(b'"attemptNumber":0', b'"attemptNumber":1').replace(
        b'"attemptNumber": 0', b'"attemptNumber": 1'
    )
    assert retry != first
    for body in (first, retry):
        pipeline.deliver("hubspot", hubspot_event(body))
        pipeline.drain()

    assert sorted(pipeline.handled) == sorted(zip(HUBSPOT_IDS, HUBSPOT_EVENTS, strict=True))
    for delivery_id, part in zip(HUBSPOT_IDS, HUBSPOT_EVENTS, strict=True):
        archived = pipeline.archived("hubspot", delivery_id)
        assert archived.raw == part
        assert archived.metadata["batch"]["request_sha256"] == hashlib.sha256(first).hexdigest()
