"""``hookctl backfill`` end to end on the local pipeline (what `make dev` runs): a GitHub redelivery comes back through
the HTTP API, the receiver and the consumer; a Stripe backfill is processed once, and the real webhook of the same
event arriving later (signed by stripe-python) is a duplicate."""

from __future__ import annotations

import http.client
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import stripe

from hookctl import samples
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main
from tests.fake_apis import GITHUB_TOKEN, STRIPE_KEY, FakeGitHub, FakeStripe, stripe_event
from webhook_gateway.consumer.ledger import get_delivery

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
STACK = "hookctl-backfill"
HOOK = "501234567"  # the GitHub push sample's X-GitHub-Hook-Id
REPO_PATH = f"/repos/octocat/webhook-gateway-demo/hooks/{HOOK}/deliveries"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("backfill")
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        log_dir=work / "logs",
        environ={},
        prewarm=False,  # these tests call a few of the functions: cold-start only those
    )
    with LocalPipeline(config) as running:
        yield running


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def hookctl(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", pipeline.endpoint.url)  # type: ignore[union-attr]
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("STRIPE_API_KEY", STRIPE_KEY)

    def run(*argv: str) -> Any:
        out, err = io.StringIO(), io.StringIO()
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
        code = main([*argv, "--json"], session=session, environ={"HOOKCTL_STACK": STACK}, stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())

    return run


def post(pipeline: LocalPipeline, path: str, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=60)  # type: ignore[union-attr]
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def ledger(pipeline: LocalPipeline, provider: str, delivery_id: str) -> dict[str, Any] | None:
    table = pipeline.stack.output("DeliveriesTableName")  # type: ignore[union-attr]
    return get_delivery(table, provider, delivery_id, client=pipeline.client("dynamodb"))


def duplicates(pipeline: LocalPipeline) -> int:
    return sum(counter.get("DuplicatesDropped", 0) for counter in pipeline.tracker.metrics.values())


def test_a_github_delivery_that_never_got_a_2xx_is_redelivered_through_the_gateway_once(
    pipeline: LocalPipeline, github: FakeGitHub, hookctl: Any
) -> None:
    """Given a push GitHub failed to deliver (our endpoint answered 502), absent from the ledger
    When `hookctl backfill github` runs against the local stack
    Then GitHub's redelivery (the signed push, same GUID) is accepted by the local HTTP API and processed once,
    and a second backfill finds it in the ledger and redelivers nothing."""
    guid = samples.new_delivery_id("github")

    def redeliver(attempt: dict[str, Any]) -> int:
        signed = samples.sign_request("github", "push", base_url=pipeline.api_url, delivery_id=attempt["guid"])
        return post(pipeline, signed.path, signed.body, signed.headers)

    github.on_redeliver = redeliver
    github.add(REPO_PATH, guid, delivered_at=time.time() - 3600, status_code=502)
    args = ("backfill", "github", "--repo", "octocat/webhook-gateway-demo", "--hook-id", HOOK, "--since", "1d",
            "--github-api-url", github.url)  # fmt: skip

    first = hookctl(*args)

    assert first["counts"]["never_delivered"] == 1 and first["counts"]["recovered"] == 1
    newest = github.hooks[REPO_PATH][0]
    assert newest["redelivery"] and 200 <= newest["status_code"] < 300  # the gateway answered the redelivery 2xx
    assert pipeline.wait_until_drained(60)
    entry = ledger(pipeline, "github", f"{HOOK}:{guid}")
    assert entry is not None and entry["status"] == "processed" and entry["attempts"] == 1
    second = hookctl(*args)
    assert second["counts"]["in_ledger"] == 1 and second["counts"]["recovered"] == 0
    assert len(github.redeliveries()) == 1


def test_a_stripe_backfill_is_processed_once_and_the_late_webhook_is_a_duplicate(
    pipeline: LocalPipeline, stripe_api: FakeStripe, hookctl: Any
) -> None:
    """Given a payment_intent.succeeded event an hour old that the gateway never received
    When `hookctl backfill stripe` runs, and later Stripe's own (retried) delivery of it arrives, signed
    Then the backfill is processed once (source backfill), and the real delivery is accepted and dropped as a
    duplicate: the ledger still says one attempt."""
    event = stripe_event(f"evt_backfill{int(time.time())}", int(time.time()) - 3600)
    stripe_api.add(event)

    report = hookctl("backfill", "stripe", "--since", "1d", "--stripe-api-url", stripe_api.url)

    assert report["counts"]["missing"] == 1 and report["counts"]["recovered"] == 1
    assert pipeline.wait_until_drained(60)
    entry = ledger(pipeline, "stripe", event["id"])
    assert entry is not None and entry["status"] == "processed" and entry["attempts"] == 1
    # When Stripe's own delivery of the same event arrives (its exact bytes: the event JSON, pretty-printed)
    body = json.dumps(event, indent=2)
    signature = stripe.WebhookSignature.generate_signature_header(
        body, samples.sample_secret("stripe"), timestamp=int(datetime.now(UTC).timestamp())
    )
    before = duplicates(pipeline)
    status = post(
        pipeline,
        "/webhooks/stripe",
        body.encode(),
        {"content-type": "application/json; charset=utf-8", "stripe-signature": signature},
    )
    assert 200 <= status < 300
    assert pipeline.wait_until_drained(60)
    assert duplicates(pipeline) == before + 1
    assert ledger(pipeline, "stripe", event["id"])["attempts"] == 1  # type: ignore[index]
