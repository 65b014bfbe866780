"""The installed console script with the AWS CLI's options, against a moto server: --endpoint-url, --profile,
--region, credential and endpoint errors named as such (exit 3 and 4), and --local finding a running `hookctl dev`
from its state file (.local/<stack>/dev.json) with no AWS variable set at all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import boto3
import pytest

from hookctl.local.state import state_path, write_state

from . import test_console_e2e as e2e
from .gateway import create_gateway, envelope, ledger_item, put_ledger, send_envelope, stack_template, visible_count
from .test_console_e2e import hookctl_executable

# The moto server fixtures of the console suite.
endpoint, aws, clients = e2e.endpoint, e2e.aws, e2e.clients

pytestmark = pytest.mark.slow

GITHUB_ID = "501234567:110c4799-fde4-5f4a-8965-fd6405c535d3"  # 46 characters, as GitHub's are


def clean_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No AWS_* or HOOKCTL_* from the developer's shell, no shared config or credentials files, no IMDS."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKCTL_", "AWS_"))}
    environment.update(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            **extra,
        }
    )
    return environment


@pytest.fixture
def run(tmp_path: Path):
    executable = hookctl_executable()

    def run(*argv: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *argv], env=env, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=60, check=False
        )

    return run


CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def test_without_credentials_the_error_says_so_with_exit_3(run, tmp_path):
    # Given no credentials anywhere, and nothing naming the table
    env = clean_environment(tmp_path, AWS_DEFAULT_REGION="us-east-1")

    # When an operator lists deliveries (the stack is described to find the table)
    result = run("deliveries", "list", env=env)

    # Then the problem is named as what it is, not as the table it leaves unknown
    assert result.returncode == 3, result.stderr
    assert "hookctl: no AWS credentials found (set AWS_PROFILE, run `aws configure`, or use --local)" in result.stderr
    assert "table name is unknown" not in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_profile_and_a_missing_region_exit_3(run, tmp_path):
    env = clean_environment(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    # When the profile does not exist
    profile = run("dlq", "list", "--profile", "nope", env=env)
    # Or no region is configured
    region = run("deliveries", "list", "--table", "t", env=env)

    assert profile.returncode == 3 and "AWS profile 'nope' not found" in profile.stderr
    assert region.returncode == 3 and "no AWS region: pass --region" in region.stderr


def test_an_unreachable_endpoint_exits_4(run, tmp_path):
    # Given an endpoint nothing listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = clean_environment(tmp_path, **CREDENTIALS)

    result = run("deliveries", "list", "--table", "t", "--endpoint-url", f"http://127.0.0.1:{port}", env=env)

    assert result.returncode == 4, result.stderr
    assert f"cannot reach http://127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_endpoint_url_profile_and_region_options_reach_the_endpoint(run, tmp_path, clients, endpoint):
    # Given a gateway on the endpoint, a profile with credentials, and no AWS variable at all
    gateway = create_gateway(clients("dynamodb"), clients("sqs"))
    put_ledger(boto3.resource("dynamodb", endpoint_url=endpoint), gateway.table, ledger_item("github", GITHUB_ID))
    (tmp_path / "credentials").write_text("[gw]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = clean_environment(tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"))

    # When the operator names them all on the command line
    result = run(
        "deliveries", "list", "--table", gateway.table, "--endpoint-url", endpoint, "--profile", "gw",
        "--region", "us-east-1", "--output", "json", env=env,
    )  # fmt: skip

    # Then the ledger is read there
    assert result.returncode == 0, result.stderr
    assert [row["delivery_id"] for row in json.loads(result.stdout)] == [GITHUB_ID]


@pytest.fixture
def local_dev(tmp_path: Path, clients, endpoint):
    """A project where `hookctl dev` runs as stack webhook-gateway-local: its state file names the endpoint, whose
    CloudFormation holds the local stack with the resources' outputs (this test process stands for its pid)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "template.yaml").write_text("Resources: {}\n")
    cloudformation = clients("cloudformation")
    cloudformation.create_stack(StackName="webhook-gateway-local", TemplateBody=stack_template("local-"))
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName="webhook-gateway-local")["Stacks"][0]["Outputs"]
    }
    write_state(
        state_path(project / "template.yaml", "webhook-gateway-local"),
        {
            "stack_name": "webhook-gateway-local",
            "pid": os.getpid(),
            "api_url": "http://127.0.0.1:3999",
            "endpoint_url": endpoint,
            "region": "us-east-1",
        },
    )
    return project, outputs


def test_local_finds_the_running_dev_stack_without_any_aws_variable(run, tmp_path, local_dev, clients, endpoint):
    project, outputs = local_dev
    # Given a failed delivery in the local ledger and its envelope in the local DLQ
    sqs = clients("sqs")
    put_ledger(
        boto3.resource("dynamodb", endpoint_url=endpoint),
        outputs["DeliveriesTableName"],
        ledger_item("github", GITHUB_ID, status="failed"),
    )
    send_envelope(sqs, outputs["DeadLetterQueueUrl"], envelope("github", GITHUB_ID))
    # and no AWS variable; a HOOKCTL_TABLE meant for another target (not read with --local)
    env = clean_environment(tmp_path, HOOKCTL_TABLE="the-production-table")

    # When the operator uses --local from the project (and from a subdirectory of it)
    listed = run("deliveries", "list", "--local", env=env, cwd=project)
    (project / "functions").mkdir()
    peeked = run("dlq", "list", "--local", "--wait", "0", "--json", env=env, cwd=project / "functions")
    replayed = run("replay", "github", GITHUB_ID, "--local", "--json", env=env, cwd=project)

    # Then endpoint, region and resources came from the running dev and its stack's outputs; the id is whole
    assert listed.returncode == 0, listed.stderr
    assert GITHUB_ID in listed.stdout.splitlines()[1].split()
    assert peeked.returncode == 0, peeked.stderr
    assert [row["delivery_id"] for row in json.loads(peeked.stdout)] == [GITHUB_ID]
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["replayed_from"] == "dlq"
    assert visible_count(sqs, outputs["QueueUrl"]) == 1 and visible_count(sqs, outputs["DeadLetterQueueUrl"]) == 0


def test_local_redrive_copies_since_the_local_endpoint_has_no_move_tasks(run, tmp_path, local_dev, clients):
    project, outputs = local_dev
    sqs = clients("sqs")
    send_envelope(sqs, outputs["DeadLetterQueueUrl"], envelope("stripe", "evt_1", "invoice.paid"))

    result = run("dlq", "redrive", "--local", "--json", env=clean_environment(tmp_path), cwd=project)

    # Then auto mode goes straight to the copy (moto's server answers StartMessageMoveTask with a bare 500)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "copy" and report["moved"] == 1 and "moto" in report["fallback_reason"]
    assert visible_count(sqs, outputs["QueueUrl"]) == 1


def test_local_with_a_dev_that_is_gone_says_so_with_exit_4(run, tmp_path, local_dev):
    project, _ = local_dev
    # Given the state file of a `hookctl dev` that was killed
    path = state_path(project / "template.yaml", "webhook-gateway-local")
    document = json.loads(path.read_text())
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_state(path, {**document, "pid": dead.pid})

    result = run("deliveries", "list", "--local", env=clean_environment(tmp_path), cwd=project)

    assert result.returncode == 4
    assert "no longer running" in result.stderr and "no `hookctl dev` is running" in result.stderr
    assert "make dev" in result.stderr
