"""The deployed entry point: consumer_app.handler with its environment, the example handlers and lazily created
clients, on moto."""

from __future__ import annotations

import pytest

from tests.integration.consumer.aws import send, to_lambda_record
from tests.unit.consumer.fakes import DELIVERIES_TABLE, OVERFLOW_BUCKET, FakeLambdaContext, emf_metrics, make_envelope
from webhook_gateway.consumer import bodies, ledger


@pytest.fixture
def app(aws, monkeypatch):
    """consumer_app as Lambda loads it: settings from the template's variables, clients created on first use."""
    import consumer_app

    environment = {
        "TABLE_NAME": DELIVERIES_TABLE,
        "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
        "DELIVERY_TTL_DAYS": "",
        "POWERTOOLS_SERVICE_NAME": "consumer",
        "AWS_ENDPOINT_URL": "",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    caches = (consumer_app.consumer, ledger.default_client, bodies.default_s3_client)
    for cache in caches:
        cache.cache_clear()
    yield consumer_app
    for cache in caches:
        cache.cache_clear()


def test_the_handler_routes_each_provider_to_its_example_handler(aws, app, capsys):
    # Given deliveries for every provider's example handlers, and one event type nobody handles
    envelopes = [
        make_envelope(),
        make_envelope(
            "github",
            "gh-1",
            "push",
            b'{"ref": "refs/heads/main", "commits": [{}], "repository": {}}',
            delivery_id_signed=False,
        ),
        make_envelope("github", "gh-2", "pull_request.opened", b'{"action": "opened", "pull_request": {"number": 7}}'),
        make_envelope("twilio", "SM1", "message.status", b"MessageSid=SM1&MessageStatus=delivered&Body=secret+text"),
        make_envelope(delivery_id="evt_2", event_type="invoice.created"),
    ]
    for envelope in envelopes:
        send(aws, envelope)
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
    event = {"Records": [to_lambda_record(message, aws.queue_arn) for message in messages["Messages"]]}

    # When Lambda invokes the handler
    response = app.handler(event, FakeLambdaContext())

    # Then everything is acknowledged: four handled, one skipped, and the payloads never reached the logs
    assert response == {"batchItemFailures": []}
    outcomes = [
        ledger.get_delivery(DELIVERIES_TABLE, e.provider, e.delivery_id, client=aws.dynamodb)["outcome"]
        for e in envelopes
    ]
    assert outcomes == ["handled", "handled", "handled", "handled", "skipped"]
    out = capsys.readouterr().out
    stripe_line = next(line for line in out.splitlines() if '"message":"stripe payment succeeded"' in line)
    assert '"payment_intent":"pi_1"' in stripe_line
    assert '"delivery_id":"evt_1"' in stripe_line  # the consumer's per-record keys reach the handler's logs
    assert '"message":"github pull request"' in out and '"number":7' in out
    assert '"message":"twilio callback"' in out and '"message_status":"delivered"' in out
    assert "secret" not in out and '"amount"' not in out
    published = emf_metrics(out)
    assert published[("stripe", "DeliveriesProcessed")] == [1]
    assert published[("stripe", "DeliveriesSkipped")] == [1]
    assert published[("github", "DeliveriesProcessed")] == [2]


def test_settings_are_validated_once_per_cold_start(aws, app, monkeypatch):
    # Given a first invocation built the consumer
    first = app.consumer()

    # When the environment changes afterwards
    monkeypatch.setenv("TABLE_NAME", "another-table")

    # Then the same validated consumer is reused
    assert app.consumer() is first
    assert first.settings.delivery_ttl_days == 30
