from __future__ import annotations

import sys

import pytest

from tests.integration.consumer.aws import Aws, moto_aws
from tests.unit.consumer.fakes import DELIVERIES_TABLE, OVERFLOW_BUCKET, FakeClock
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
def aws() -> Aws:
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def settings() -> ConsumerSettings:
    return ConsumerSettings.from_env({"TABLE_NAME": DELIVERIES_TABLE, "OVERFLOW_BUCKET": OVERFLOW_BUCKET})


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def consumer(aws, settings, registry) -> Consumer:
    """Real clients on moto, real clock."""
    return Consumer(settings=settings, registry=registry, dynamodb=aws.dynamodb, s3=aws.s3)
