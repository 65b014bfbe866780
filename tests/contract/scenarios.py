"""Every outcome the receiver, the consumer and the reconciler can count, driven through the real code on moto,
recording what it publishes (CloudWatch EMF documents) and which AWS APIs it calls.

The dashboard and alarm contract (test_dashboard.py) compares the template with what the code *really* emits here,
names, namespace and dimensions included (Powertools adds a ``service`` dimension); the IAM contract
(test_iam_usage.py) compares the roles with the API calls. A metric added to the code without a scenario here fails
``test_every_metric_in_the_code_is_emitted_by_a_scenario``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from tests.integration.consumer.aws import moto_aws
from tests.throwaway_providers import METAISH_MODULE, METAISH_VERIFY_TOKEN, api_event, installed
from tests.unit.consumer.fakes import (
    ARCHIVE_BUCKET,
    DELIVERIES_TABLE,
    OVERFLOW_BUCKET,
    FakeLambdaContext,
    make_envelope,
    sqs_event,
    sqs_record,
)
from tools.make_events import KINDS, PROVIDERS, SAMPLE_SECRETS, WRONG_SECRETS, build_event
from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.ordering import stripe_object_version
from webhook_gateway.consumer.processor import Consumer
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.envelope import BodyRef, Envelope, ReplayRequest
from webhook_gateway.observability import logger, metrics

RECEIVER, CONSUMER, RECONCILER = "receiver", "consumer", "reconciler"
QUEUE_NAME = "scenario-webhook-queue"
BUCKET = "scenario-overflow-bucket"


IAM_ACTION_OF = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    # CopyObject is authorized as s3:GetObject on the source and s3:PutObject on the destination.
    "s3:CopyObject": "s3:PutObject",
}


@dataclass(frozen=True)
class Emitted:
    """One metric value in one EMF document."""

    component: str
    namespace: str
    name: str
    dimensions: frozenset[str]
    values: tuple[tuple[str, str], ...]  # the document's dimension values, sorted

    def value(self, dimension: str) -> str | None:
        return dict(self.values).get(dimension)


@dataclass
class Observed:
    emitted: list[Emitted] = field(default_factory=list)
    api_calls: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # component -> IAM actions
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))  # component -> JSON lines

    def names(self, component: str | None = None) -> set[str]:
        return {e.name for e in self.emitted if component in (None, e.component)}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in map(str.strip, text.splitlines()) if line.startswith("{")]


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [document for document in json_lines(text) if "_aws" in document]


def _collect(component: str, text: str, observed: Observed) -> None:
    observed.logs[component].extend(line for line in json_lines(text) if "_aws" not in line and "level" in line)
    for document in emf_documents(text):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                values = tuple(sorted((name, str(document[name])) for name in dimension_set))
                for metric in directive["Metrics"]:
                    observed.emitted.append(
                        Emitted(component, directive["Namespace"], metric["Name"], frozenset(dimension_set), values)
                    )


class _ApiRecorder:
    """Records ``<service>:<Operation>`` for every AWS API call the code makes while ``component`` is set."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self.component: str | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = BaseClient._make_api_call
        recorder = self

        def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            if recorder.component is not None:
                action = f"{client.meta.service_model.signing_name}:{operation_name}"
                # IAM authorizes some batch APIs with the single action's permission (SQS's SendMessageBatch needs
                # sqs:SendMessage; there is no sqs:SendMessageBatch action).
                action = IAM_ACTION_OF.get(action, action)
                with recorder._lock:
                    recorder.observed.api_calls[recorder.component].add(action)
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
        try:
            yield
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    @contextlib.contextmanager
    def as_component(self, component: str | None) -> Iterator[None]:
        """Attribute calls to ``component`` (None: the test's own set-up calls, not recorded)."""
        previous, self.component = self.component, component
        try:
            yield
        finally:
            self.component = previous


@dataclass
class _LambdaContext:
    function_name: str = "receiver"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:receiver"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 8_000


def _receiver_scenarios(recorder: _ApiRecorder, monkeypatch: pytest.MonkeyPatch) -> str:
    """Accepted (current and previous secret), rejected, claim-checked in S3 and not enqueued deliveries; a handshake
    answered (a throwaway Meta-like provider, tests/throwaway_providers.py) and a method no provider declares."""
    import receiver_app

    out = io.StringIO()
    with mock_aws():
        sqs, s3, secrets = boto3.client("sqs"), boto3.client("s3"), boto3.client("secretsmanager")
        queue_url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
        s3.create_bucket(Bucket=BUCKET)
        for provider, value in SAMPLE_SECRETS.items():
            secrets.create_secret(Name=f"{provider}-secret", SecretString=value)

        def use(provider: str, **overrides: str) -> None:
            env = {"PROVIDER": provider, "QUEUE_URL": queue_url, "SECRET_ID": f"{provider}-secret",
                   "OVERFLOW_BUCKET": BUCKET, "AWS_ENDPOINT_URL": "", **overrides}
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            receiver_app.receiver.cache_clear()

        def invoke(event: dict[str, Any]) -> int:
            with recorder.as_component(RECEIVER), contextlib.redirect_stdout(out):
                return receiver_app.handler(event, _LambdaContext())["statusCode"]

        for provider in PROVIDERS:
            kind = KINDS[provider][0]
            use(provider)
            assert invoke(build_event(provider, kind)) < 300, provider
            assert invoke(build_event(provider, kind, secret=WRONG_SECRETS[provider])) == 401, provider
            secrets.put_secret_value(SecretId=f"{provider}-secret", SecretString=f"rotated-{provider}-value")
            use(provider)
            assert invoke(build_event(provider, kind)) < 300, provider  # signed with what is now AWSPREVIOUS

        with tempfile.TemporaryDirectory() as directory, installed(
            Path(directory), monkeypatch, {"metaish": METAISH_MODULE}
        ) as throwaway:
            secrets.create_secret(Name="metaish-secret", SecretString=throwaway["metaish"].secret_format.sample)
            use("metaish")
            query = {"hub.mode": "subscribe", "hub.verify_token": METAISH_VERIFY_TOKEN, "hub.challenge": "1158201444"}
            assert invoke(api_event("metaish", method="GET", query=query)) == 200
        use("github")
        get = build_event("github", KINDS["github"][0])
        get["requestContext"]["http"]["method"] = "GET"
        assert invoke(get) == 405

        use("github", INLINE_ENVELOPE_LIMIT_BYTES="1024")
        body = json.dumps({"ref": "refs/heads/main", "before": "0", "after": "1", "padding": "x" * 4096}).encode()
        assert invoke(build_event("github", "push", secret="rotated-github-value", body=body)) == 202
        use("github", QUEUE_URL=queue_url + "-missing")
        assert invoke(build_event("github", "push", secret="rotated-github-value")) == 503
    receiver_app.receiver.cache_clear()
    return out.getvalue()


def subscription(delivery_id: str, created: int, received_at: datetime) -> Envelope:
    """A Stripe subscription update of one object (sub_1), created at ``created`` (Unix seconds)."""
    body = json.dumps(
        {"id": delivery_id, "type": "customer.subscription.updated", "created": created,
         "data": {"object": {"id": "sub_1"}}}
    ).encode()
    return make_envelope("stripe", delivery_id, "customer.subscription.updated", body, received_at=received_at)


def _consumer_scenarios(recorder: _ApiRecorder, monkeypatch: pytest.MonkeyPatch) -> str:
    """Processed (inline and S3 bodies), duplicate, skipped, handler failure dead-lettered, poison message, claim
    conflict, ledger error and lost lease, a stale event (ordering guard), published and unpublishable deliveries
    (the event bus), through the consumer's Lambda handler with real moto clients; with the listener tap on (each
    first receive published to its topic), and a tap publish that fails."""
    import consumer_app

    out = io.StringIO()
    with moto_aws() as aws:
        registry = Registry()
        sns = boto3.client("sns")
        topic_arn = sns.create_topic(Name="scenario-listener-tap")["TopicArn"]
        settings = ConsumerSettings.from_env(
            {
                "TABLE_NAME": DELIVERIES_TABLE,
                "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
                "ARCHIVE_RETENTION_DAYS": "30",
                "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                "ARCHIVE_INLINE_MAX_BYTES": "1024",  # the 2 KiB body below goes to the archive bucket
                "QUEUE_URL": aws.queue_url,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
                "MAX_ATTEMPTS": "2",
                "TAP_TOPIC_ARN": topic_arn,
                "EVENT_BUS_NAME": "org",
                "EVENT_BUS_FILTER": "stripe:customer.subscription.*",
            }
        )
        events = boto3.client("events")
        events.create_event_bus(Name="org")
        consumer = Consumer(
            settings=settings, registry=registry, dynamodb=aws.dynamodb, s3=aws.s3, sqs=aws.sqs, events=events, sns=sns
        )
        received_at = datetime.now(UTC)

        def steal_the_lease(event: Any) -> None:
            with recorder.as_component(None):
                aws.dynamodb.update_item(
                    TableName=DELIVERIES_TABLE,
                    Key={"provider": {"S": event.provider}, "delivery_id": {"S": event.delivery_id}},
                    UpdateExpression="SET lease_owner = :thief",
                    ExpressionAttributeValues={":thief": {"S": "another-consumer:msg"}},
                )

        def fail(event: Any) -> None:
            raise RuntimeError("the business handler failed")

        registry.register("stripe", "payment_intent.succeeded", lambda event: None)
        registry.register("github", "push", fail)
        registry.register("twilio", "message", steal_the_lease)
        registry.register("twilio", "held", lambda event: None)
        registry.register("stripe", "customer.subscription.*", lambda event: None, ordered_by=stripe_object_version)

        big = b'{"id": "evt_big", "type": "payment_intent.succeeded", "padding": "' + b"x" * 2048 + b'"}'
        aws.s3.put_object(Bucket=OVERFLOW_BUCKET, Key="stripe/evt_big", Body=big)
        held = make_envelope("twilio", "SM-held", "held", b"MessageSid=SM-held", received_at=received_at)
        ledger.claim_delivery(
            DELIVERIES_TABLE,
            ledger.Delivery("twilio", "SM-held", "held", received_at, "msg-other"),
            owner="another-consumer:msg-other",
            now=time.time(),
            lease_ms=600_000,
            ttl_days=1,
            client=aws.dynamodb,
        )
        # gh-last already failed once: its second attempt is the last MAX_ATTEMPTS allows.
        ledger.claim_delivery(
            DELIVERIES_TABLE,
            ledger.Delivery("github", "gh-last", "push", received_at, "msg-first"),
            owner="earlier:msg-first",
            now=time.time() - 60,
            lease_ms=1,
            ttl_days=1,
            client=aws.dynamodb,
        )
        # A retry needs a receipt handle SQS knows: the message is really in the queue.
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="gh-retry")
        (queued,) = aws.sqs.receive_message(QueueUrl=aws.queue_url)["Messages"]
        replayed = make_envelope(received_at=received_at).model_copy(
            update={"replay": ReplayRequest(id="r-1", requested_at=received_at, requested_by="arn:aws:iam::1:user/op")}
        )
        ledger.request_replay(
            DELIVERIES_TABLE, "stripe", "evt_1", replay_id="r-1", requested_by="op", now=time.time(), ttl_days=1,
            client=aws.dynamodb,
        )
        records = [
            sqs_record(make_envelope(received_at=received_at)),  # processed
            sqs_record(make_envelope(received_at=received_at)),  # duplicate of the first
            sqs_record(make_envelope("stripe", "evt_big", received_at=received_at, raw=big,
                                     body_ref=BodyRef(bucket=OVERFLOW_BUCKET, key="stripe/evt_big", size=len(big)))),
            sqs_record(make_envelope(delivery_id="evt_2", event_type="invoice.created", received_at=received_at)),
            sqs_record(make_envelope("github", "gh-1", "push", b"{}", received_at=received_at),
                       receive_count=settings.max_receive_count),  # fails on its last receive: dead-lettered
            sqs_record("this is not an envelope", receive_count=settings.max_receive_count),
            sqs_record(held),  # another consumer holds a live lease
            sqs_record(make_envelope("twilio", "SM-stolen", "message", b"MessageSid=SM-stolen",
                                     received_at=received_at)),  # its lease is taken over while it runs
            sqs_record(make_envelope("github", "gh-retry", "push", b"{}", received_at=received_at),
                       receipt_handle=queued["ReceiptHandle"]),  # fails: its retry waits for the schedule
            sqs_record(make_envelope("github", "gh-last", "push", b"{}", received_at=received_at)),  # out of attempts
            sqs_record(replayed),  # a replay of the processed evt_1 (hookctl replay): its handler runs again
            sqs_record(subscription("evt_sub_new", 200, received_at)),  # the ordering guard: applied
            sqs_record(subscription("evt_sub_old", 100, received_at)),  # older than the watermark: stale
        ]  # (both subscription updates are also published to the "org" bus: EVENT_BUS_FILTER)
        broken = Consumer(
            settings=settings.model_copy(
                update={
                    "table_name": "no-such-table",
                    "archive_retention_days": 0,
                    "tap_topic_arn": f"{topic_arn}-gone",  # the tap's publish fails too: TapPublishFailures
                }
            ),
            registry=registry,
            dynamodb=aws.dynamodb,
            s3=aws.s3,
            sns=sns,
        )
        with recorder.as_component(CONSUMER), contextlib.redirect_stdout(out):
            # The deployed entry point (Lambda context in the logs), with this consumer instead of the env-built one.
            monkeypatch.setattr(consumer_app, "consumer", lambda: consumer)
            consumer_app.handler(sqs_event(records), FakeLambdaContext())
            monkeypatch.setattr(consumer_app, "consumer", lambda: broken)
            consumer_app.handler(sqs_event([sqs_record(make_envelope(delivery_id="evt_3"))]), FakeLambdaContext())
            unarchivable = Consumer(
                settings=settings.model_copy(update={"archive_bucket": "no-such-bucket"}),
                registry=registry,
                dynamodb=aws.dynamodb,
                s3=aws.s3,
            )
            monkeypatch.setattr(consumer_app, "consumer", lambda: unarchivable)
            unarchived = sqs_record(make_envelope("stripe", "evt_4", raw=big))
            consumer_app.handler(sqs_event([unarchived]), FakeLambdaContext())
            unpublishable = Consumer(
                settings=settings.model_copy(update={"event_bus_name": "no-such-bus"}),
                registry=registry,
                dynamodb=aws.dynamodb,
                s3=aws.s3,
                sqs=aws.sqs,
                events=events,
            )
            monkeypatch.setattr(consumer_app, "consumer", lambda: unpublishable)
            # PutEvents refused: the delivery is retried (its handler succeeded: the retry only publishes)
            consumer_app.handler(
                sqs_event([sqs_record(subscription("evt_sub_newest", 300, received_at))]), FakeLambdaContext()
            )
    return out.getvalue()


def _reconciler_scenarios(recorder: _ApiRecorder, monkeypatch: pytest.MonkeyPatch) -> str:
    """The scheduled reconciler's handler on moto, against the fake GitHub and Stripe APIs (tests/fake_apis.py): a
    GitHub delivery that never got a 2xx (redelivered) and two Stripe events missing from the ledger, one too large
    for SQS (its backfill goes through the overflow bucket)."""
    import reconciler_app

    from tests.fake_apis import GITHUB_TOKEN, STRIPE_KEY, FakeGitHub, FakeStripe, stripe_event

    out = io.StringIO()
    now = time.time()
    with moto_aws() as aws, FakeGitHub() as github, FakeStripe() as stripe_api:
        with recorder.as_component(None):
            secrets = boto3.client("secretsmanager")
            github_secret = secrets.create_secret(Name="scenario/github", SecretString=GITHUB_TOKEN)["ARN"]
            stripe_secret = secrets.create_secret(Name="scenario/stripe", SecretString=STRIPE_KEY)["ARN"]
        github.add("/repos/octocat/demo/hooks/7/deliveries", "lost-guid", delivered_at=now - 3600, status_code=502)
        large = stripe_event("evt_large", int(now) - 3600)
        large["data"]["object"]["metadata"] = {"padding": "x" * 1_100_000}
        stripe_api.add(stripe_event("evt_missed", int(now) - 3600), large)
        for name, value in {
            "TABLE_NAME": DELIVERIES_TABLE,
            "QUEUE_URL": aws.queue_url,
            "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
            "GITHUB_HOOKS": "repo:octocat/demo:7",
            "GITHUB_TOKEN_SECRET": github_secret,
            "GITHUB_API_URL": github.url,
            "STRIPE_KEY_SECRET": stripe_secret,
            "STRIPE_API_URL": stripe_api.url,
        }.items():
            monkeypatch.setenv(name, value)
        reconciler_app.settings.cache_clear()
        reconciler_app.client.cache_clear()
        with recorder.as_component(RECONCILER), contextlib.redirect_stdout(out):
            reconciler_app.handler({}, FakeLambdaContext())
        reconciler_app.settings.cache_clear()
        reconciler_app.client.cache_clear()
    return out.getvalue()


class _CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@cache
def observe() -> Observed:
    """Run every scenario once per test session (a few seconds) and return what the code logged, published and
    called."""
    observed = Observed()
    recorder = _ApiRecorder(observed)
    defaults = dict(metrics.default_dimensions)
    try:
        with recorder.installed(), pytest.MonkeyPatch.context() as monkeypatch:
            # The Powertools handler keeps the stream it was created with: point it at what redirect_stdout sets.
            monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())
            _collect(RECEIVER, _receiver_scenarios(recorder, monkeypatch), observed)
            # The consumer's execution environment has no default dimensions (the receiver's build sets provider).
            metrics.clear_default_dimensions()
            metrics.clear_metrics()
            _collect(CONSUMER, _consumer_scenarios(recorder, monkeypatch), observed)
            metrics.clear_metrics()
            _collect(RECONCILER, _reconciler_scenarios(recorder, monkeypatch), observed)
    finally:
        metrics.clear_metrics()
        metrics.clear_default_dimensions()
        metrics.set_default_dimensions(**defaults)
    return observed
