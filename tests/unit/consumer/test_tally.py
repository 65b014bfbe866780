"""BatchTally publishes the same EMF documents as one Powertools ``add_metric`` per value would."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from tests.unit.consumer.fakes import emf_metrics
from webhook_gateway.consumer.tally import (
    DELIVERIES_PROCESSED,
    DUPLICATES_DROPPED,
    END_TO_END_LAG_MS,
    PROVIDER_DIMENSION,
    BatchTally,
)
from webhook_gateway.observability import metrics


def publish_one_value_per_call(tally: BatchTally) -> None:
    """The reference: every lag sample through its own ``add_metric`` (Powertools starts a new document at 100)."""
    for provider in sorted(set(tally.counts) | set(tally.lags_ms)):
        metrics.add_dimension(name=PROVIDER_DIMENSION, value=provider)
        for name, value in sorted(tally.counts[provider].items()):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        for lag in tally.lags_ms[provider]:
            metrics.add_metric(name=END_TO_END_LAG_MS, unit=MetricUnit.Milliseconds, value=lag)
        metrics.flush_metrics()


def documents(stdout: str) -> list[dict]:
    """The EMF documents printed, without their timestamps."""
    found = [json.loads(line) for line in stdout.splitlines() if '"_aws"' in line]
    for document in found:
        del document["_aws"]["Timestamp"]
    return found


def a_tally(lag_samples: dict[str, int]) -> BatchTally:
    tally = BatchTally()
    for provider, samples in lag_samples.items():
        tally.count(provider, DUPLICATES_DROPPED)
        for n in range(samples):
            tally.count(provider, DELIVERIES_PROCESSED)
            tally.lag(provider, 10.0 + n / 4)
    return tally


# With exactly 100 samples the reference's final flush finds nothing left to publish, and Powertools warns about it.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize("samples", [1, 10, 99, 100, 101, 250])
def test_lag_samples_are_published_as_one_add_metric_per_sample_would(samples, capsys):
    # Given a batch's tally with lag samples for two providers (up to several EMF documents' worth)
    tally = a_tally({"stripe": samples, "github": 3})

    # When it is published, and the same figures go through one add_metric per value
    tally.publish(metrics)
    published = capsys.readouterr().out
    publish_one_value_per_call(tally)
    reference = capsys.readouterr().out

    # Then the documents are the same (values, order, units, dimensions, one array of at most 100 values each)
    assert documents(published) == documents(reference)
    assert emf_metrics(published)[("stripe", END_TO_END_LAG_MS)] == [10.0 + n / 4 for n in range(samples)]
    assert all(len(d.get(END_TO_END_LAG_MS, [])) <= 100 for d in documents(published))


def test_lag_samples_survive_powertools_flushing_a_full_set_of_metric_names(capsys):
    # Given metrics already pending so that EndToEndLagMs is the 100th metric name (Powertools flushes right then)
    def pending() -> None:
        for n in range(98):
            metrics.add_metric(name=f"Pending{n}", unit=MetricUnit.Count, value=1)

    tally = a_tally({"stripe": 5})
    tally.counts["stripe"].pop(DUPLICATES_DROPPED)

    # When published, and compared with one add_metric per value from the same starting point
    pending()
    tally.publish(metrics)
    published = capsys.readouterr().out
    pending()
    publish_one_value_per_call(tally)
    reference = capsys.readouterr().out

    # Then nothing is lost and the documents are the same
    assert documents(published) == documents(reference)
    assert emf_metrics(published)[("stripe", END_TO_END_LAG_MS)] == [10.0, 10.25, 10.5, 10.75, 11.0]
