"""``hookctl send`` against the in-process HTTP API: signing, distinct and duplicated deliveries, forged ones,
concurrency, provider-style resends after a 5xx, the JSON summary, a stack's URL and secret, and the real receiver."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hookctl import samples
from hookctl.local.gateway import HttpApi, Route
from hookctl.local.lambda_runtime import Invocation
from hookctl.main import main
from hookctl.send import Job, Progress, Result
from webhook_gateway.http import json_response, request_from_event
from webhook_gateway.secrets import CURRENT
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import Rejected, SecretCandidate, VerificationPolicy

ROUTES = [Route("POST", f"/webhooks/{p}", p) for p in samples.PROVIDERS]


class VerifyingReceiver:
    """The receiver's checks without AWS: the layer's verifiers, 202 with the delivery id or 401 with the reason."""

    def __init__(self, secrets: dict[str, str] | None = None, fail_first: int = 0) -> None:
        self.secrets = secrets or dict(samples.SAMPLE_SECRETS)
        self.accepted: list[tuple[str, str]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, provider: str, event: dict[str, Any]) -> Invocation:
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                return Invocation("r", result=json_response(503, {"error": "enqueue_failed"}))
        webhook = request_from_event(event)
        verifier = load_provider(provider)
        policy = VerificationPolicy(now=time.time(), tolerance_seconds=300, future_tolerance_seconds=60)
        try:
            verifier.verify(webhook, [SecretCandidate(CURRENT, self.secrets[provider])], policy)
        except Rejected as rejected:
            return Invocation("r", result=json_response(401, {"error": rejected.reason.value}))
        # one delivery, or one per event of a batch request (Provider.split: HubSpot), as the receiver names them
        parts = [webhook] if verifier.split is None else [replace(webhook, body=p) for p in verifier.split(webhook)]
        identities = [verifier.identify(part) for part in parts]
        with self.lock:
            self.accepted.extend((provider, identity.delivery_id) for identity in identities)
        return Invocation("r", result={"statusCode": 202, "body": "{}"})


@pytest.fixture
def gateway() -> Iterator[tuple[HttpApi, VerifyingReceiver]]:
    receiver = VerifyingReceiver()
    api = HttpApi(ROUTES, lambda function, event: receiver(function, event), port=0)
    api.start()
    yield api, receiver
    api.stop()


def hookctl(*argv: str, session: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv), session=session or boto3.Session(region_name="us-east-1"), environ={}, stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


def test_count_duplicate_and_concurrency_across_every_provider(gateway):
    api, receiver = gateway
    # One delivery per sample kind of every provider
    n = sum(len(kinds) for kinds in samples.DELIVERY_KINDS.values())
    code, out, err = hookctl(
        "send", "all", "--url", api.url, "--count", str(n), "--duplicate", "2", "--concurrency", "4", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    # A batch request (HubSpot's array) carries several deliveries: they are counted one by one
    events = sum(len(r["delivery_ids"]) for r in summary["results"]) // 2
    assert events >= n
    assert (summary["requests"], summary["deliveries"], summary["copies"]) == (2 * n, events, 2 * n)
    assert summary["accepted_deliveries"] == events and summary["not_accepted"] == 0
    assert summary["statuses"] == {"202": 2 * n}
    kinds = {(r["provider"], r["kind"]) for r in summary["results"]}
    assert kinds == {(p, k) for p, ks in samples.DELIVERY_KINDS.items() for k in ks}
    # Each delivery reached the gateway twice under the same id; the ids are what the receiver identified
    sent = [(r["provider"], d) for r in summary["results"] for d in r["delivery_ids"]]
    assert sorted(receiver.accepted) == sorted(sent)
    assert all(r["delivery_id"] == r["delivery_ids"][0] for r in summary["results"])
    assert len(set(receiver.accepted)) == events


def test_a_tampered_delivery_is_rejected_and_that_is_success(gateway):
    api, receiver = gateway
    code, out, _ = hookctl("send", "twilio", "json_body", "--url", api.url, "--tamper")
    assert code == 0 and receiver.accepted == []
    assert out.startswith("401  twilio") and "body_hash_mismatch" in out and "(forged)" in out
    assert "1 of 1 forged rejected" in out


def test_the_provider_resends_after_a_5xx(gateway):
    api, receiver = gateway
    receiver.fail_first = 2
    code, out, _ = hookctl("send", "stripe", "--url", api.url, "--retries", "3", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["resends"] == 2 and summary["results"][0]["statuses"] == [503, 503, 202]
    [(provider, delivery_id)] = receiver.accepted
    assert summary["results"][0]["delivery_id"] == delivery_id and delivery_id.startswith("evt_")


def test_without_resends_a_5xx_fails_the_command(gateway):
    api, receiver = gateway
    receiver.fail_first = 1
    code, out, _ = hookctl("send", "github", "ping", "--url", api.url)
    assert code == 1 and out.startswith("503  github")


def test_a_stacks_url_and_secret_are_used(gateway):
    api, receiver = gateway
    receiver.secrets["github"] = "the-deployed-secret"
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        arn = session.client("secretsmanager").create_secret(Name="gh", SecretString="the-deployed-secret")["ARN"]
        template = {
            "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {"GithubWebhookUrl": {"Value": f"{api.url}/webhooks/github"}, "GithubSecretArn": {"Value": arn}},
        }
        with pytest.warns(UserWarning):
            session.client("cloudformation").create_stack(StackName="deployed", TemplateBody=json.dumps(template))
        code, out, err = hookctl("send", "github", "--stack-name", "deployed", session=session)
    assert code == 0, err
    assert "signing with the stack's secret (GithubSecretArn)" in err and out.startswith("202  github")


def test_an_unknown_kind_is_a_usage_error(gateway):
    api, _ = gateway
    code, _, err = hookctl("send", "github", "nope", "--url", api.url)
    assert code == 2 and "unknown kind 'nope'" in err


def test_the_progress_bar():
    stream = io.StringIO()
    progress = Progress(3, stream, enabled=True)
    for status in (202, 401, None):
        progress.update(Result(Job("github", "push", "x"), status=status))
    text = stream.getvalue()
    assert "[" + "#" * 30 + "] 3/3 100%" in text and "2xx 1  4xx 1  errors 1" in text and text.endswith("\n")


def test_send_through_the_real_receiver_lands_in_the_queue(monkeypatch):
    import receiver_app

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sqs = session.client("sqs")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        session.client("s3").create_bucket(Bucket="overflow")
        secretsmanager = session.client("secretsmanager")
        arn = secretsmanager.create_secret(Name="gh", SecretString=samples.SAMPLE_SECRETS["github"])["ARN"]
        receiver_env = {"PROVIDER": "github", "QUEUE_URL": queue, "SECRET_ID": arn, "OVERFLOW_BUCKET": "overflow"}
        for key, value in receiver_env.items():
            monkeypatch.setenv(key, value)
        receiver_app.receiver.cache_clear()
        context = type(
            "Context",
            (),
            {
                "function_name": "r",
                "memory_limit_in_mb": 256,
                "invoked_function_arn": "arn",
                "aws_request_id": "id",
                "get_remaining_time_in_millis": lambda self: 8000,
            },
        )()
        lock = threading.Lock()

        def invoke(function: str, event: dict[str, Any]) -> Invocation:
            with lock:  # one instance: one invocation at a time
                return Invocation("r", result=receiver_app.handler(event, context))

        api = HttpApi([route for route in ROUTES if route.function == "github"], invoke, port=0)
        api.start()
        try:
            code, out, err = hookctl("send", "github", "--url", api.url, "--count", "3", "--duplicate", "2", "--json")
        finally:
            api.stop()
            receiver_app.receiver.cache_clear()
        messages = []
        receive = {"QueueUrl": queue, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]}
        while batch := sqs.receive_message(**receive).get("Messages"):
            messages += batch
    assert code == 0, err
    sent = sorted(r["delivery_id"] for r in json.loads(out)["results"])
    queued = sorted(m["MessageAttributes"]["delivery_id"]["StringValue"] for m in messages)
    assert queued == sent and len(set(queued)) == 3
