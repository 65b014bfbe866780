"""`make sam-local`: build an x86_64 copy of the stack and `sam local invoke` every sample event in Docker.

The functions run in the Lambda python3.13 image (or ../shared/tools/lambda-image.sh's local stand-in) and reach
AWS at a moto server on the Docker bridge address, through `--env-vars` (template.yaml declares AWS_ENDPOINT_URL
empty so that SAM lets us override it). Each answer is checked against events/README.md's expected status, and the
queue must hold exactly the accepted deliveries. The consumer's events (Lambda's SQS event carrying a receiver's
envelope) are invoked on ConsumerFunction: no batchItemFailures, and the ledger says processed.

    .venv/bin/python -m tools.sam_local_check [--sam PATH] [--bridge 172.17.0.1] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from tools.make_events import CONSUMER_EVENT_FILES, EVENT_FILES, SAMPLE_SECRETS, provider_samples, write_events
from webhook_gateway.verifiers import logical_name

ROOT = Path(__file__).resolve().parent.parent
X86_TEMPLATE = ROOT / ".template.x86_64.yaml"
BUILD_DIR = ROOT / ".aws-sam" / "build-x86_64"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
LEDGER_TABLE = "deliveries-ledger"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def python313_dir() -> str | None:
    for env in ({}, {"PYENV_VERSION": "3.13.0"}):
        try:
            out = subprocess.run(["python3.13", "-c", "import sys; print(sys.executable)"], capture_output=True,
                                 text=True, env={**os.environ, **env}, check=True).stdout.strip()
            return str(Path(out).parent)
        except (OSError, subprocess.CalledProcessError):
            continue
    return None


def build(sam: str) -> Path:
    """x86_64 copy of template.yaml (this machine cannot run arm64 without emulation), layer wheels for x86_64."""
    text = (ROOT / "template.yaml").read_text()
    X86_TEMPLATE.write_text(re.sub(r"\barm64\b", "x86_64", text))
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "LAYER_PLATFORM": "manylinux2014_x86_64"}
    if (py_dir := python313_dir()) is not None:
        env["PATH"] = f"{py_dir}:{env['PATH']}"
    # --language-extensions: the receivers are a Fn::ForEach loop (docs/template.md)
    command = [sam, "build", "--language-extensions", "--template-file", str(X86_TEMPLATE)]
    subprocess.run([*command, "--build-dir", str(BUILD_DIR), "--no-cached"],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return BUILD_DIR / "template.yaml"


def local_aws(bridge: str, port: int) -> tuple[dict[str, dict[str, str]], object, str]:
    """Queue, bucket and the sample secrets on a moto server the containers can reach; the --env-vars mapping."""
    local = f"http://127.0.0.1:{port}"
    sqs = boto3.client("sqs", endpoint_url=local, **_client_kwargs())
    queue_url = sqs.create_queue(QueueName="webhook-queue")["QueueUrl"]
    boto3.client("s3", endpoint_url=local, **_client_kwargs()).create_bucket(Bucket="overflow-bucket")
    secrets = boto3.client("secretsmanager", endpoint_url=local, **_client_kwargs())
    env_vars = {}
    for provider, value in SAMPLE_SECRETS.items():
        secrets.create_secret(Name=f"{provider}-webhook-secret", SecretString=value)
        env_vars[f"{logical_name(provider)}ReceiverFunction"] = {
            "QUEUE_URL": queue_url.replace("127.0.0.1", bridge),
            "SECRET_ID": f"{provider}-webhook-secret",
            "OVERFLOW_BUCKET": "overflow-bucket",
            "AWS_ENDPOINT_URL": f"http://{bridge}:{port}",
            **{key: value for key, value in FAKE_CREDENTIALS.items() if key != "AWS_DEFAULT_REGION"},
        }
    dynamodb = boto3.client("dynamodb", endpoint_url=local, **_client_kwargs())
    create_ledger(dynamodb)
    env_vars["ConsumerFunction"] = {
        "TABLE_NAME": LEDGER_TABLE,
        "OVERFLOW_BUCKET": "overflow-bucket",
        "AWS_ENDPOINT_URL": f"http://{bridge}:{port}",
        **{key: value for key, value in FAKE_CREDENTIALS.items() if key != "AWS_DEFAULT_REGION"},
    }
    return env_vars, sqs, queue_url


def create_ledger(dynamodb: object) -> None:
    """The deliveries table as template.yaml declares it (keys, attributes, indexes, billing): the ledger's contract
    is read from the template, not copied here."""
    from hookctl.local.language_extensions import expand
    from hookctl.local.template import load_yaml

    table = expand(load_yaml(ROOT / "template.yaml"))["Resources"]["DeliveriesTable"]["Properties"]
    dynamodb.create_table(  # type: ignore[attr-defined]
        TableName=LEDGER_TABLE,
        **{key: table[key] for key in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
    )


def check_consumer_event(sam: str, template: Path, event: Path, env_file: Path, dynamodb: object) -> bool:
    """The consumer processes the event's record: no batchItemFailures, and its ledger entry is processed."""
    answer = invoke(sam, template, "ConsumerFunction", event, env_file)
    [record] = json.loads(event.read_text())["Records"]
    envelope = json.loads(record["body"])
    item = dynamodb.get_item(  # type: ignore[attr-defined]
        TableName=LEDGER_TABLE,
        Key={"provider": {"S": envelope["provider"]}, "delivery_id": {"S": envelope["delivery_id"]}},
        ConsistentRead=True,
    ).get("Item", {})
    return answer == {"batchItemFailures": []} and item.get("status", {}).get("S") == "processed"


def _client_kwargs() -> dict[str, str]:
    return {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


def invoke(sam: str, template: Path, function: str, event: Path, env_file: Path) -> dict:
    result = subprocess.run(
        [sam, "local", "invoke", function, "--language-extensions", "-t", str(template), "-e", str(event),
         "--skip-pull-image", "--env-vars", str(env_file)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, timeout=180,
    )
    # stdout holds the handler's answer, then the EMF lines the function printed
    decoder = json.JSONDecoder()
    answer, _ = decoder.raw_decode(result.stdout.strip() or "{}")
    if "statusCode" not in answer and "batchItemFailures" not in answer:
        sys.stderr.write(result.stderr[-3000:])
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", default=shutil.which("sam") or str(ROOT / ".tools-venv/sam/bin/sam"))
    parser.add_argument("--bridge", default="172.17.0.1", help="address of the host as seen from a container")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args(argv)

    template = BUILD_DIR / "template.yaml" if args.skip_build else build(args.sam)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=port, verbose=False)
    server.start()
    failures = 0
    try:
        env_vars, sqs, queue_url = local_aws(args.bridge, port)
        with tempfile.TemporaryDirectory() as tmp:
            env_file = Path(tmp) / "env.json"
            env_file.write_text(json.dumps(env_vars))
            events_dir = Path(tmp) / "events"
            events_dir.mkdir()
            write_events(events_dir, only=CONSUMER_EVENT_FILES)
            print(f"{'event':40} {'function':24} {'expected':>8} {'got':>5}")
            for name, expected in sorted(EVENT_FILES.items()):
                # Signed right before its invoke: the whole run takes minutes, and Linear's window is 60 s.
                write_events(events_dir, only=[name])
                answer = invoke(args.sam, template, expected.function, events_dir / name, env_file)
                status = answer.get("statusCode")
                ok = status == expected.status
                if expected.reason and ok:
                    ok = json.loads(answer.get("body") or "{}").get("error") == expected.reason
                failures += not ok
                print(f"{name:40} {expected.function:24} {expected.status:>8} {status!s:>5} {'ok' if ok else 'FAIL'}")
            dynamodb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", **_client_kwargs())
            for name, spec in sorted(CONSUMER_EVENT_FILES.items()):
                ok = check_consumer_event(args.sam, template, events_dir / name, env_file, dynamodb)
                failures += not ok
                print(f"{name:40} {spec.function:24} {'no fails':>8} {'-':>5} {'ok' if ok else 'FAIL'}")
        # Every accepted delivery is queued; a handshake (Slack's url_verification) is answered and never queued; a
        # batch request (HubSpot's array) is one envelope per event (ExpectedOutcome.deliveries).
        accepted = sum(
            outcome.deliveries
            for outcome in EVENT_FILES.values()
            if outcome.valid and outcome.kind not in provider_samples(outcome.provider).handshakes
        )
        queued = int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
                     ["Attributes"]["ApproximateNumberOfMessages"])
        print(f"queued envelopes: {queued} (expected {accepted})")
        failures += queued != accepted
    finally:
        server.stop()
    print("sam-local: OK" if not failures else f"sam-local: {failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
