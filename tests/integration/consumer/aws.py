"""Real AWS APIs in process (moto): the deliveries table as the template declares it, the overflow bucket, and a
queue with its DLQ, plus a driver that plays Lambda's SQS event source mapping."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from tests.unit.consumer.fakes import ARCHIVE_BUCKET, DELIVERIES_TABLE, OVERFLOW_BUCKET

MAX_RECEIVE_COUNT = 5


@dataclass
class Aws:
    dynamodb: Any
    s3: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str


def create_deliveries_table(dynamodb: Any, name: str = DELIVERIES_TABLE) -> None:
    """The ledger schema (fixed: others rely on it)."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "provider", "AttributeType": "S"},
            {"AttributeName": "delivery_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "last_attempt_at", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "provider", "KeyType": "HASH"},
            {"AttributeName": "delivery_id", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "last_attempt_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by-provider",
                "KeySchema": [
                    {"AttributeName": "provider", "KeyType": "HASH"},
                    {"AttributeName": "last_attempt_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )


@contextmanager
def moto_aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        s3 = boto3.client("s3")
        sqs = boto3.client("sqs")
        create_deliveries_table(dynamodb)
        s3.create_bucket(Bucket=OVERFLOW_BUCKET)
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
        dlq_url = sqs.create_queue(QueueName="deliveries-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        queue_url = sqs.create_queue(
            QueueName="deliveries", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": redrive}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield Aws(dynamodb=dynamodb, s3=s3, sqs=sqs, queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url)


@contextmanager
def atomic_moto_writes() -> Iterator[None]:
    """DynamoDB applies a conditional write atomically; moto checks then writes without a lock. Serialise moto's
    item writes so that racing threads see DynamoDB's semantics (and a failure means a real bug)."""
    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in ("update_item", "put_item", "delete_item")}

    def locked(original: Callable) -> Callable:
        def call(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return call

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


def send(aws: Aws, envelope: Any) -> str:
    """What a receiver does: the envelope as the body, its attributes as message attributes."""
    return aws.sqs.send_message(
        QueueUrl=aws.queue_url,
        MessageBody=envelope.model_dump_json(),
        MessageAttributes=envelope.sqs_message_attributes(),
    )["MessageId"]


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = {
        name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def drain(
    aws: Aws,
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    context_factory: Callable[[], Any],
    *,
    batch_size: int = 10,
    visibility_timeout: int = 0,
    max_invocations: int = 100,
    deadline_seconds: float = 20,
) -> int:
    """Play the event source mapping until the queue is empty: receive a batch, invoke, delete only the records not
    reported in batchItemFailures. Failed records come back after ``visibility_timeout`` (0: at once), and SQS moves
    a message to the DLQ on the receive after its maxReceiveCount-th. Returns the number of invocations."""
    invocations, deadline = 0, time.monotonic() + deadline_seconds
    while invocations < max_invocations and time.monotonic() < deadline:
        messages = aws.sqs.receive_message(
            QueueUrl=aws.queue_url,
            MaxNumberOfMessages=batch_size,
            VisibilityTimeout=visibility_timeout,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            if queue_depth(aws, aws.queue_url) == 0:
                return invocations
            time.sleep(0.05)  # messages in flight (another consumer, or waiting out their visibility timeout)
            continue
        response = handler({"Records": [to_lambda_record(m, aws.queue_arn) for m in messages]}, context_factory())
        invocations += 1
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                # ReceiptHandleIsInvalid: already deleted by another consumer that received it too (at-least-once)
                with suppress(aws.sqs.exceptions.ReceiptHandleIsInvalid):
                    aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"the queue did not drain ({invocations} invocations)")


def queue_depth(aws: Aws, url: str) -> int:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
