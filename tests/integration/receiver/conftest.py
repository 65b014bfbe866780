"""A receiver wired to moto's SQS, S3 and Secrets Manager, invoked through the real Lambda handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

import receiver_app
from tests.unit.receiver.fakes import StrictSqs
from webhook_gateway.receiver import Receiver
from webhook_gateway.verifiers import registered_providers

QUEUE_NAME = "webhook-queue"
BUCKET = "overflow-bucket"


@dataclass
class LambdaContext:
    function_name: str = "receiver"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:receiver"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Gateway:
    """One deployed-like receiver stack: invoke a provider's function, then look at what reached SQS and S3."""

    sqs: Any
    s3: Any
    secrets: Any
    queue_url: str
    monkeypatch: pytest.MonkeyPatch

    def use_provider(self, provider: str, **overrides: str) -> None:
        env = {
            "PROVIDER": provider,
            "QUEUE_URL": self.queue_url,
            "SECRET_ID": f"{provider}-webhook-secret",
            "OVERFLOW_BUCKET": BUCKET,
            "AWS_ENDPOINT_URL": "",
            **overrides,
        }
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        receiver_app.receiver.cache_clear()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return receiver_app.handler(event, LambdaContext())

    def messages(self) -> list[dict[str, Any]]:
        """Everything in the queue (received once, not deleted), as (body JSON, attributes)."""
        found = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            if not batch:
                return found
            found.extend({"body": json.loads(m["Body"]), "attributes": m.get("MessageAttributes", {})} for m in batch)

    def rotate(self, provider: str, new_value: str, *, cold_start: bool = True) -> None:
        """Put a new secret value; with ``cold_start=False`` the warm receiver keeps its cached values."""
        self.secrets.put_secret_value(SecretId=f"{provider}-webhook-secret", SecretString=new_value)
        if cold_start:
            receiver_app.receiver.cache_clear()


def strict_sqs_receiver(build: Any) -> Any:
    """``build_receiver`` whose SQS client refuses what real SQS refuses (characters, sizes) before moto sees it:
    moto checks neither, and an envelope SQS would refuse is a 503 on every provider retry."""

    def build_strict(settings: Any) -> Receiver:
        built = build(settings)
        built.sender._sqs = StrictSqs(forward_to=built.sender.sqs)
        return built

    return build_strict


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setattr(receiver_app, "build_receiver", strict_sqs_receiver(receiver_app.build_receiver))
    with mock_aws():
        sqs = boto3.client("sqs")
        s3 = boto3.client("s3")
        secrets = boto3.client("secretsmanager")
        queue_url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
        s3.create_bucket(Bucket=BUCKET)
        for provider in registered_providers():  # read now: a provider a test registered gets its secret too
            sample = provider.secret_format.sample
            if sample:
                secrets.create_secret(Name=f"{provider.name}-webhook-secret", SecretString=sample)
        receiver_app.receiver.cache_clear()
        yield Gateway(sqs=sqs, s3=s3, secrets=secrets, queue_url=queue_url, monkeypatch=monkeypatch)
        receiver_app.receiver.cache_clear()
