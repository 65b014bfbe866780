"""The local pipeline as a developer uses it: `hookctl send` to its HTTP API, `hookctl deliveries`/`dlq` against its
endpoint and stack, `hookctl replay` of a dead-lettered delivery after its handler is fixed, the `sam local`
env-vars file, `hookctl demo`, bodies too large for SQS (the S3 claim check), bodies that are not UTF-8, and a Twilio
request that came through a tunnel."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hookctl import samples
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main
from tools.make_events import deliveries_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = Path(__file__).resolve().parent / "handlers"
STACK = "hookctl-it"
# A retry within a second (the default schedule starts at a minute), dead-lettered by SQS after two receives.
PARAMETERS = {"MaxReceiveCount": "2", "RetrySchedule": "1s"}
# Redeliveries within seconds (the template's smallest visibility timeout is 90 s)
OVERRIDES = {"ConsumerFunction.Timeout": "2", "WebhookQueue.VisibilityTimeout": "3"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("local")
    overrides = {
        **OVERRIDES,
        "ConsumerFunction.Environment.Variables.LOCAL_TEST_FAIL_FILE": str(work / "failing.txt"),
        "ConsumerFunction.Environment.Variables.LOCAL_TEST_RUNS_FILE": str(work / "runs.txt"),
        "ConsumerFunction.Environment.Variables.LOCAL_TEST_BODIES_FILE": str(work / "bodies.txt"),
    }
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        parameter_overrides=PARAMETERS,
        overrides=overrides,
        prepend_paths={"ConsumerFunction": [HANDLERS]},
        log_dir=work / "logs",
        environ={},
    )
    with LocalPipeline(config) as running:
        running.work = work  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def hookctl(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", pipeline.endpoint.url)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
        code = main(list(argv), session=session, environ={"HOOKCTL_STACK": STACK}, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    return run


def runs(pipeline: LocalPipeline) -> list[str]:
    path = pipeline.work / "runs.txt"  # type: ignore[attr-defined]
    return path.read_text().split("\n")[:-1] if path.exists() else []


def bodies(pipeline: LocalPipeline) -> list[str]:
    """``<delivery id> <inline|s3> <size> <sha256>`` of each body the test handlers got."""
    path = pipeline.work / "bodies.txt"  # type: ignore[attr-defined]
    return path.read_text().splitlines() if path.exists() else []


def post(
    pipeline: LocalPipeline, signed: samples.SignedRequest, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST a signed request to the local HTTP API (its path and query as signed, wherever it was signed for)."""
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=60)
    try:
        target = signed.path + (f"?{signed.query}" if signed.query else "")
        connection.request("POST", target, body=signed.body, headers={**signed.headers, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def padded_push(size: int) -> bytes:
    """A GitHub push body of exactly ``size`` bytes (a push with very many commits, as far as size goes)."""
    document = json.loads(samples.sign_request("github", "push").body)
    document["padding"] = ""
    unpadded = len(json.dumps(document, separators=(",", ":")).encode())
    document["padding"] = (uuid.uuid4().hex * (size // 32 + 1))[: size - unpadded]
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) == size
    return body


def test_sent_deliveries_are_processed_once_and_visible_to_hookctl(pipeline, hookctl):
    code, out, err = hookctl(
        "send", "all", "--url", pipeline.api_url, "--count", "6", "--duplicate", "2", "--concurrency", "3", "--json"
    )
    assert code == 0, err
    sent = {(r["provider"], r["delivery_id"]) for r in json.loads(out)["results"]}
    assert pipeline.wait_until_drained(60)

    code, out, err = hookctl("deliveries", "list", "--status", "processed", "--json")
    assert code == 0, err
    listed = {(item["provider"], item["delivery_id"]) for item in json.loads(out)}
    assert sent <= listed
    handled = [tuple(line.split(" ", 1)) for line in runs(pipeline)]
    assert sorted(key for key in handled if key in sent) == sorted(sent)  # each exactly once, duplicates dropped
    summary = pipeline.tracker.summary()
    assert summary["duplicates"] >= 6 and summary["metrics"]["consumer"]["DuplicatesDropped"] >= 6


def test_a_dead_lettered_delivery_is_replayed_once_its_handler_is_fixed(pipeline, hookctl):
    failing = pipeline.work / "failing.txt"  # type: ignore[attr-defined]
    failing.write_text("501234567:7b2d2f3e-0000-4000-8000-00000000d1a1\n")
    code, _, err = hookctl(
        "send", "github", "push", "--url", pipeline.api_url, "--delivery-id", "7b2d2f3e-0000-4000-8000-00000000d1a1"
    )
    assert code == 0, err
    delivery = "501234567:7b2d2f3e-0000-4000-8000-00000000d1a1"
    assert pipeline.wait_until_drained(60)  # two failed receives, then SQS moved it to the DLQ

    code, out, _ = hookctl("dlq", "list", "--json")
    assert delivery in [m["delivery_id"] for m in json.loads(out)]
    code, out, _ = hookctl("deliveries", "show", "github", delivery, "--json")
    assert json.loads(out)["status"] == "failed" and json.loads(out)["attempts"] == 2

    failing.write_text("")  # the handler is fixed
    code, out, err = hookctl("replay", "github", delivery, "--wait", "30", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["replayed_from"] == "archive" and report["replay_count"] == 1
    assert report["replay_processed"] is True and report["ledger_status_after"] == "processed"
    assert runs(pipeline).count(f"github {delivery}") == 1

    code, _, err = hookctl("replay", "github", delivery)  # processed: only with --force
    assert code == 1 and "--force" in err
    code, out, err = hookctl("replay", "github", delivery, "--force", "--wait", "30", "--json")
    assert code == 0, err
    assert json.loads(out)["replay_count"] == 2 and runs(pipeline).count(f"github {delivery}") == 2
    code, out, err = hookctl("replay", "github", delivery, "--reset-only", "--json")
    assert code == 0, err
    code, out, _ = hookctl("deliveries", "show", "github", delivery, "--json")
    assert json.loads(out)["status"] == "failed" and "replay_requested_at" in json.loads(out)


def test_the_sam_local_env_vars_file_names_the_running_stacks_resources(pipeline, hookctl):
    argv = ["dev", "--print-env-vars", "--moto-port", str(pipeline.endpoint.port), "--stack-name", STACK]
    argv += ["--template", str(ROOT / "template.yaml")]
    argv += ["--parameter-overrides", *(f"{k}={v}" for k, v in PARAMETERS.items())]
    code, out, err = hookctl(*argv)
    assert code == 0, err
    env = json.loads(out)
    stack = pipeline.stack
    docker = f"http://172.17.0.1:{pipeline.endpoint.port}"
    assert env["Parameters"] == {"AWS_ENDPOINT_URL": docker}
    assert env["GithubReceiverFunction"]["SECRET_ID"] == stack.output("GithubSecretArn")
    assert env["GithubReceiverFunction"]["QUEUE_URL"] == stack.output("QueueUrl")
    assert env["GithubReceiverFunction"]["AWS_ENDPOINT_URL"] == docker
    assert env["ConsumerFunction"]["TABLE_NAME"] == stack.output("DeliveriesTableName")
    assert env["ConsumerFunction"]["MAX_RECEIVE_COUNT"] == "2"
    assert set(env) == {"Parameters", *stack.functions}


def test_the_local_endpoint_serves_every_service_on_one_url(pipeline):
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    dynamodb = session.client("dynamodb", endpoint_url=pipeline.endpoint.url)  # passed on to the DynamoDB process
    table = pipeline.stack.output("DeliveriesTableName")
    assert dynamodb.describe_table(TableName=table)["Table"]["TableName"] == table
    stacks = session.client("cloudformation", endpoint_url=pipeline.endpoint.url).describe_stacks(StackName=STACK)
    assert {o["OutputKey"] for o in stacks["Stacks"][0]["Outputs"]} >= {"QueueUrl", "GithubWebhookUrl"}


def test_demo_runs_the_product_and_reports_nothing_lost(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    argv = ["demo", "--json", "--template", str(ROOT / "template.yaml"), "--log-dir", str(tmp_path)]
    code = main(argv, environ={}, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    assert report["nothing_lost"] and report["drained"] and report["lost"] == []
    total = report["total"]
    # Every delivery kind of every provider, then per provider its default delivery again (a retry: a duplicate)
    # and a forged one.
    # A batch request (HubSpot's array) is one delivery per event, counted from the samples as the receiver splits them.
    deliveries = sum(deliveries_of(p, kind) for p, kinds in samples.DELIVERY_KINDS.items() for kind in kinds)
    retried = sum(deliveries_of(p, samples.DEFAULT_KINDS[p]) for p in samples.DELIVERY_KINDS)
    providers = len(samples.DELIVERY_KINDS)
    assert (total["accepted"], total["processed"]) == (deliveries + retried, deliveries)
    assert total["duplicates"] == retried and total["rejected"] == providers
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("size", [1_500_000, 5 * 1024 * 1024], ids=["1.5MB", "5MiB=MaxBodyBytes"])
def test_a_push_too_large_for_sqs_goes_through_the_claim_check_and_is_processed(pipeline, hookctl, size):
    # Given a signed GitHub push over SQS's 1 MiB (up to MaxBodyBytes, 5 MiB, the most a receiver takes)
    body = padded_push(size)
    delivery = str(uuid.uuid4())
    url = samples.webhook_url("github", pipeline.api_url)
    signed = samples.sign_request("github", "push", body=body, delivery_id=delivery, url=url)

    # When it is POSTed to the running local HTTP API
    status, answer = post(pipeline, signed)

    # Then it is accepted as in AWS: its body goes to the S3 bucket, the envelope through the queue
    assert status == 202, answer
    assert pipeline.wait_until_drained(60)
    # And the consumer fetched it from S3 and its handler got the exact bytes, once
    assert f"{signed.delivery_id} s3 {size} {hashlib.sha256(body).hexdigest()}" in bodies(pipeline)
    assert runs(pipeline).count(f"github {signed.delivery_id}") == 1
    code, out, err = hookctl("deliveries", "show", "github", signed.delivery_id, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "processed"


def test_a_signed_body_that_is_not_utf8_gets_an_answer_from_the_receiver(pipeline):
    # Given a GitHub ping whose JSON is Latin-1, correctly signed over those bytes
    document = json.loads(samples.sign_request("github", "ping").body)
    document["zen"] = f"Caf\xe9 cr\xe8me {uuid.uuid4()}"
    body = json.dumps(document, ensure_ascii=False).encode("latin-1")
    headers = {"content-type": "application/json; charset=iso-8859-1"}
    url = samples.webhook_url("github", pipeline.api_url)
    signed = samples.sign_request("github", "ping", body=body, url=url, delivery_id=str(uuid.uuid4()))
    forged = samples.tamper(signed)

    # When it and a forged copy are POSTed
    status, answer = post(pipeline, signed, headers)
    forged_status, _ = post(pipeline, forged, headers)

    # Then both are answered by the receiver, not by a dropped connection or a 500: the genuine one passed the
    # signature check over the exact bytes (whatever the receiver then makes of Latin-1 JSON), the forged one did not
    assert status not in (401, 500) and status < 600, answer
    assert forged_status == 401


def test_a_twilio_request_through_a_tunnel_verifies_with_the_forwarded_proto_and_host(pipeline):
    # Given a Twilio delivery signed for the tunnel's public URL (Twilio signs the URL it calls)
    public = "https://tunnel.example.com"
    signed = samples.sign_request(
        "twilio",
        "sms_inbound",
        url=samples.webhook_url("twilio", public),
        delivery_id=samples.new_delivery_id("twilio"),
    )

    # When the tunnel delivers it to the local gateway over HTTP, saying where it came in
    status, answer = post(pipeline, signed, {"x-forwarded-proto": "https", "x-forwarded-host": "tunnel.example.com"})

    # Then the receiver verifies it and it is processed
    assert status == 200, answer
    assert pipeline.wait_until_drained(60)
    assert runs(pipeline).count(f"twilio {signed.delivery_id}") == 1
