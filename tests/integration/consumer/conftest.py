from __future__ import annotations

import pytest

from tests.consumer_fixtures import _clean_metrics, _logs_to_current_stdout  # noqa: F401  (autouse fixtures)
from tests.integration.consumer.aws import MAX_RECEIVE_COUNT, Aws, moto_aws
from tests.unit.consumer.fakes import DELIVERIES_TABLE, OVERFLOW_BUCKET, FakeClock
from webhook_gateway.consumer.processor import Consumer
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings


@pytest.fixture
def aws() -> Aws:
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def settings() -> ConsumerSettings:
    return ConsumerSettings.from_env(
        {
            "TABLE_NAME": DELIVERIES_TABLE,
            "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
            "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        }
    )


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
