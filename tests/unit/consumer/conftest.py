from __future__ import annotations

import pytest

from tests.consumer_fixtures import _clean_metrics, _logs_to_current_stdout  # noqa: F401  (autouse fixtures)
from tests.unit.consumer.fakes import (
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeClock,
    FakeDynamoDB,
    FakeLambdaContext,
    FakeS3,
)
from webhook_gateway.consumer.processor import Consumer
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings


@pytest.fixture
def settings() -> ConsumerSettings:
    return ConsumerSettings.from_env(
        {"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET, "LEASE_MARGIN_MS": "1000"}
    )


@pytest.fixture
def dynamodb() -> FakeDynamoDB:
    return FakeDynamoDB()


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def consumer(settings, registry, dynamodb, s3, clock) -> Consumer:
    return Consumer(settings=settings, registry=registry, dynamodb=dynamodb, s3=s3, clock=clock)
