from __future__ import annotations

import sys

import pytest

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
from webhook_gateway.observability import logger, metrics


class _CurrentStdout:
    """Writes wherever ``sys.stdout`` points now (the Logger's handler keeps the stream it was created with)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def _logs_to_current_stdout(monkeypatch):
    """So that capsys sees the JSON log lines next to the EMF metrics, as CloudWatch would."""
    monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())


@pytest.fixture(autouse=True)
def _clean_metrics():
    """The Metrics singleton is shared with other suites (the receiver sets a default ``provider`` dimension):
    start from a clean slate, as the consumer's own execution environment does, and put it back afterwards."""
    defaults = dict(metrics.default_dimensions)
    metrics.clear_default_dimensions()
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
    metrics.set_default_dimensions(**defaults)


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

