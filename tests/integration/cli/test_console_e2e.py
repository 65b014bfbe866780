"""The installed ``hookctl`` console script, in a subprocess, against a moto server (AWS_ENDPOINT_URL).

Two setups: no CloudFormation at all (resources by flags and environment variables), and a stack whose outputs
name the resources (the stack-output resolution end to end).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .gateway import (
    create_gateway,
    drain,
    envelope,
    ledger_item,
    put_ledger,
    send_envelope,
    stack_template,
    visible_count,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(endpoint: str) -> boto3.Session:
    """A clean moto server, and a session for the test's own setup calls (the endpoint given per client)."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def clients(aws: boto3.Session, endpoint: str):
    def client(service: str):
        return aws.client(service, endpoint_url=endpoint)

    return client


def hookctl_executable() -> str:
    found = shutil.which("hookctl", path=str(Path(sys.executable).parent))
    assert found, "the hookctl console script is missing: run `.venv/bin/pip install --no-deps -e .`"
    return found


@pytest.fixture
def hookctl(endpoint: str):
    """Run the console script with AWS_ENDPOINT_URL, fake credentials and us-east-1 (and no HOOKCTL_* leaking in)."""
    executable = hookctl_executable()

    def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKCTL_", "AWS_"))}
        environment.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            **(env or {}),
        )
        return subprocess.run(
            [executable, *argv], env=environment, capture_output=True, text=True, timeout=60, check=False
        )

    return run


def test_without_cloudformation_resources_come_from_flags_and_environment(hookctl, clients):
    # Given a gateway created directly (no stack), a ledger entry and two dead letters
    sqs = clients("sqs")
    gateway = create_gateway(clients("dynamodb"), sqs)
    put_ledger(
        boto3.resource("dynamodb", endpoint_url=sqs.meta.endpoint_url),
        gateway.table,
        ledger_item("github", "gh-1", status="failed"),
        ledger_item("stripe", "evt_1", status="processed"),
    )
    for env in (envelope("github", "gh-1"), envelope("stripe", "evt_9", "invoice.paid")):
        send_envelope(sqs, gateway.dlq_url, env)
    env = {"HOOKCTL_TABLE": gateway.table, "HOOKCTL_DLQ_URL": gateway.dlq_url, "HOOKCTL_STACK": "no-such-stack"}

    # When an operator lists and shows deliveries
    listed = hookctl("deliveries", "list", "--status", "failed", "--json", env=env)
    shown = hookctl("deliveries", "show", "stripe", "evt_1", env=env)
    missing = hookctl("deliveries", "show", "stripe", "evt_404", env=env)

    # Then the ledger is read through the endpoint; a missing delivery exits 1 with a clear message
    assert listed.returncode == 0, listed.stderr
    assert [row["delivery_id"] for row in json.loads(listed.stdout)] == ["gh-1"]
    assert shown.returncode == 0 and "evt_1" in shown.stdout and "processed" in shown.stdout
    assert missing.returncode == 1 and "no delivery 'evt_404' from provider 'stripe'" in missing.stderr

    # When peeking at the DLQ, then redriving it by copy (moto's server lacks StartMessageMoveTask)
    peeked = hookctl("dlq", "list", "--json", "--wait", "0", env=env)
    redriven = hookctl("dlq", "redrive", "--mode", "copy", "--queue-url", gateway.queue_url, "--json", env=env)

    # Then the peek left both messages in place, and the redrive moved them to the main queue
    assert peeked.returncode == 0, peeked.stderr
    assert sorted(row["delivery_id"] for row in json.loads(peeked.stdout)) == ["evt_9", "gh-1"]
    assert redriven.returncode == 0, redriven.stderr
    assert json.loads(redriven.stdout)["moved"] == 2
    arrived = drain(sqs, gateway.queue_url)
    assert sorted(json.loads(m["Body"])["delivery_id"] for m in arrived) == ["evt_9", "gh-1"]
    assert visible_count(sqs, gateway.dlq_url) == 0


def test_resources_come_from_the_stack_outputs(hookctl, clients):
    # Given a CloudFormation stack whose outputs name the ledger and the queues
    cloudformation = clients("cloudformation")
    cloudformation.create_stack(StackName="gw-e2e", TemplateBody=stack_template("e2e-"))
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName="gw-e2e")["Stacks"][0]["Outputs"]
    }
    sqs = clients("sqs")
    put_ledger(
        boto3.resource("dynamodb", endpoint_url=sqs.meta.endpoint_url),
        outputs["DeliveriesTableName"],
        ledger_item("twilio", "SM1", status="processing"),
    )
    send_envelope(sqs, outputs["DeadLetterQueueUrl"], envelope("twilio", "SM1", "sms"))

    # When the operator names only the stack (by flag, then by environment)
    listed = hookctl("deliveries", "list", "--stack-name", "gw-e2e")
    peeked = hookctl("dlq", "list", "--json", "--wait", "0", env={"HOOKCTL_STACK": "gw-e2e"})
    redriven = hookctl("dlq", "redrive", "--stack-name", "gw-e2e", "--mode", "copy")

    # Then every resource was found through the outputs
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.startswith("PROVIDER") and row.split()[:3] == ["twilio", "SM1", "processing"]
    assert peeked.returncode == 0, peeked.stderr
    assert [(r["provider"], r["event_type"]) for r in json.loads(peeked.stdout)] == [("twilio", "sms")]
    assert redriven.returncode == 0, redriven.stderr
    assert "moved:" in redriven.stdout
    assert [json.loads(m["Body"])["delivery_id"] for m in drain(sqs, outputs["QueueUrl"])] == ["SM1"]


def test_auto_redrive_on_moto_server_explains_how_to_proceed(hookctl, clients):
    # Given moto's server, which answers StartMessageMoveTask with a bare HTTP 500 (not "unsupported")
    gateway = create_gateway(clients("dynamodb"), clients("sqs"))

    # When redriving in auto mode (one attempt: botocore would retry the 500 twice more)
    result = hookctl(
        "dlq", "redrive", "--dlq-url", gateway.dlq_url, "--queue-url", gateway.queue_url, env={"AWS_MAX_ATTEMPTS": "1"}
    )

    # Then nothing is guessed: the error is shown with the way forward
    assert result.returncode == 1
    assert "StartMessageMoveTask failed: HTTP 500" in result.stderr and "--mode copy" in result.stderr
    assert "<html" not in result.stderr
    assert "Traceback" not in result.stderr
