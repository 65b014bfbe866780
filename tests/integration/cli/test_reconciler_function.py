"""The scheduled ReconcilerFunction's handler (functions/reconciler) on moto, against the fake GitHub and Stripe
APIs: it reads the tokens from Secrets Manager, reconciles each configured hook and the Stripe account, and publishes
ReconcileMissing / DeliveriesRecovered per provider."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.fake_apis import GITHUB_TOKEN, STRIPE_KEY, FakeGitHub, FakeStripe, stripe_event
from webhook_gateway.reconcile.scheduled import ReconcilerSettings, parse_hooks

from .gateway import Gateway, drain, ledger_item, put_ledger

HOOK = "501234567"
REPO_PATH = f"/repos/octocat/demo/hooks/{HOOK}/deliveries"


@pytest.fixture(scope="module")
def apis() -> Iterator[tuple[FakeGitHub, FakeStripe]]:
    with FakeGitHub() as github, FakeStripe() as stripe_api:
        yield github, stripe_api  # type: ignore[misc]


@pytest.fixture
def environment(
    apis: tuple[FakeGitHub, FakeStripe], gateway: Gateway, session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeGitHub, FakeStripe]:
    github, stripe_api = apis
    github.reset()
    stripe_api.reset()
    secrets = session.client("secretsmanager")
    github_secret = secrets.create_secret(Name="reconciler/github", SecretString=GITHUB_TOKEN)["ARN"]
    stripe_secret = secrets.create_secret(Name="reconciler/stripe", SecretString=STRIPE_KEY)["ARN"]
    session.client("s3").create_bucket(Bucket="overflow-bucket")
    for name, value in {
        "TABLE_NAME": gateway.table,
        "QUEUE_URL": gateway.queue_url,
        "OVERFLOW_BUCKET": "overflow-bucket",
        "GITHUB_HOOKS": f"repo:octocat/demo:{HOOK}",
        "GITHUB_TOKEN_SECRET": github_secret,
        "GITHUB_API_URL": github.url,
        "STRIPE_KEY_SECRET": stripe_secret,
        "STRIPE_API_URL": stripe_api.url,
        "STRIPE_TYPES": "payment_intent.succeeded",
        "LOOKBACK_HOURS": "48",
        "POWERTOOLS_SERVICE_NAME": "reconciler",
    }.items():
        monkeypatch.setenv(name, value)
    import reconciler_app

    reconciler_app.settings.cache_clear()
    reconciler_app.client.cache_clear()
    return github, stripe_api


def emf(text: str) -> dict[tuple[str, str], float]:
    values = {}
    for line in text.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    values[(document["provider"], metric["Name"])] = document[metric["Name"]]
    return values


def test_the_handler_recovers_both_providers_and_publishes_what_it_did(
    environment: tuple[FakeGitHub, FakeStripe], gateway: Gateway, session: boto3.Session, capsys: Any
) -> None:
    """Given a GitHub delivery that never got a 2xx, one processed, and a Stripe event missing from the ledger
    When the scheduled handler runs
    Then GitHub is asked to redeliver the first, the Stripe event is queued as a backfill, and each provider's
    ReconcileMissing and DeliveriesRecovered are 1."""
    github, stripe_api = environment
    github.add(REPO_PATH, "down", delivered_at=time.time() - 3600, status_code=502)
    github.add(REPO_PATH, "fine", delivered_at=time.time() - 3600)
    put_ledger(session.resource("dynamodb"), gateway.table, ledger_item("github", f"{HOOK}:fine"))
    stripe_api.add(stripe_event("evt_missed", int(time.time()) - 3600))
    import reconciler_app

    result = reconciler_app.handler({}, _Context())

    assert [(r["provider"], r["recovered"]) for r in result["reports"]] == [("github", 1), ("stripe", 1)]
    assert len(github.redeliveries()) == 1
    assert stripe_api.listed()[0].query["types[0]"] == ["payment_intent.succeeded"]
    queued = drain(session.client("sqs"), gateway.queue_url)
    assert [m["MessageAttributes"]["delivery_id"]["StringValue"] for m in queued] == ["evt_missed"]
    published = emf(capsys.readouterr().out)
    assert published[("github", "ReconcileMissing")] == published[("github", "DeliveriesRecovered")] == [1.0]
    assert published[("stripe", "ReconcileMissing")] == published[("stripe", "DeliveriesRecovered")] == [1.0]


def test_hooks_are_parsed_from_the_parameter() -> None:
    """Given the ReconcilerGithubHooks forms
    When they are parsed
    Then each names its kind, owner and hook id, and a typo is refused."""
    hooks = parse_hooks("repo:octocat/demo:1, org:octo-org:2,app::3")
    assert [(h.kind, h.name, h.hook_id) for h in hooks] == [("repo", "octocat/demo", "1"), ("org", "octo-org", "2"),
                                                            ("app", "", "3")]  # fmt: skip
    with pytest.raises(ValueError, match="expected repo:"):
        parse_hooks("octocat/demo:1")
    assert ReconcilerSettings.from_env({"TABLE_NAME": "ledger"}).github_hooks == ()


class _Context:
    function_name = "reconciler"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:reconciler"
    aws_request_id = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000
