"""Test helpers: the gateway's resources as the template declares them, ledger entries and DLQ envelopes.

Used both in process (moto's ``mock_aws``) and against a moto server (clients with ``endpoint_url``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_gateway.envelope import Envelope

TABLE = "webhook-gateway-deliveries"
QUEUE = "webhook-gateway-ingest"
DLQ = "webhook-gateway-dlq"

# Key schema and indexes of the ledger (fixed by the consumer's contract).
TABLE_PROPERTIES: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("provider", "delivery_id", "status", "last_attempt_at")
    ],
    "KeySchema": [
        {"AttributeName": "provider", "KeyType": "HASH"},
        {"AttributeName": "delivery_id", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
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
}


@dataclass(frozen=True)
class Gateway:
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create_gateway(dynamodb: Any, sqs: Any, prefix: str = "") -> Gateway:
    """The ledger table and both queues, created directly (no CloudFormation)."""
    dynamodb.create_table(TableName=prefix + TABLE, **TABLE_PROPERTIES)
    dlq_url = sqs.create_queue(QueueName=prefix + DLQ)["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=prefix + QUEUE,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})},
    )["QueueUrl"]
    return Gateway(prefix + TABLE, queue_url, _arn(sqs, queue_url), dlq_url, dlq_arn)


def stack_template(prefix: str = "") -> str:
    """A minimal stand-in for the SAM template: the same resources and output names."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": prefix + DLQ}},
            "IngestQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": prefix + QUEUE,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                        "maxReceiveCount": 3,
                    },
                },
            },
            "DeliveriesTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"TableName": prefix + TABLE, **TABLE_PROPERTIES},
            },
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "IngestQueue"}},
            "QueueArn": {"Value": {"Fn::GetAtt": ["IngestQueue", "Arn"]}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
            "DeadLetterQueueArn": {"Value": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}},
            "DeliveriesTableName": {"Value": {"Ref": "DeliveriesTable"}},
            "HttpApiUrl": {"Value": "https://api.example.test/"},
        },
    }
    return json.dumps(template)


def iso(moment: datetime) -> str:
    """The consumer's timestamp format: milliseconds, 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def ledger_item(
    provider: str, delivery_id: str, *, status: str = "processed", last_attempt_at: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A ledger entry as the consumer writes it (plain Python values, for Table.put_item)."""
    last = last_attempt_at or ago(minutes=1)
    item = {
        "provider": provider,
        "delivery_id": delivery_id,
        "status": status,
        "attempts": 1,
        "first_seen_at": last,
        "last_attempt_at": last,
        "event_type": "push",
        "received_at": last,
        "message_id": f"msg-{delivery_id}",
        "body_location": "inline",
        "expires_at": 1_900_000_000,
    }
    if status == "processed":
        item.update(processed_at=last, outcome="handled")
    if status == "failed":
        item["last_error"] = "HandlerError: downstream returned 503"
    item.update(extra)
    return item


def put_ledger(dynamodb_resource: Any, table: str, *items: dict[str, Any]) -> None:
    with dynamodb_resource.Table(table).batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def envelope(provider: str, delivery_id: str, event_type: str = "push") -> Envelope:
    raw = json.dumps({"id": delivery_id, "type": event_type}).encode()
    return Envelope(
        provider=provider,
        delivery_id=delivery_id,
        event_type=event_type,
        received_at=datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
        **Envelope.inline_body_fields(raw),
    )


def send_envelope(sqs: Any, queue_url: str, env: Envelope, *, with_attributes: bool = True) -> str:
    params: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": env.model_dump_json()}
    if with_attributes:
        params["MessageAttributes"] = env.sqs_message_attributes()
    return sqs.send_message(**params)["MessageId"]


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of a queue (received and deleted)."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def visible_count(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
