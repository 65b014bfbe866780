"""`hookctl dev` as a developer runs it, in its own process: a start-up error ends it with the error (never a hang);
a running one publishes where it listens, so that `hookctl send --local` reaches it on any --port, behind a
--public-url tunnel too; Ctrl-C stops it with a summary whose counts add up, and removes what it published."""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from hookctl import samples
from hookctl.local.state import read_state, state_path
from hookctl.main import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
START_TIMEOUT = 90.0


def hookctl_process(*argv: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKCTL_", "AWS_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "hookctl", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_to_end(*argv: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``hookctl`` and wait for it to end; a hang fails the test (and is killed) instead of blocking the suite."""
    process = hookctl_process(*argv)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"hookctl {' '.join(argv)} did not end within {timeout} s (hung)")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


RECEIVER = f"""
      CodeUri: {ROOT / "functions" / "receiver"}
      Handler: receiver_app.handler
      Runtime: python3.13
"""


def write_template(directory: Path, body: str) -> Path:
    path = directory / "template.yaml"
    path.write_text('AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n' + body)
    return path


@pytest.mark.parametrize(
    "case,resources,message",
    [
        (
            "seeding a secret fails",
            f"""Resources:
  AcmeSecret:
    Type: AWS::SecretsManager::Secret
  AcmeReceiverFunction:
    Type: AWS::Serverless::Function
    Properties:{RECEIVER}      Environment:
        Variables:
          PROVIDER: acme
          SECRET_ID: !Ref AcmeSecret
      Events:
        Api:
          Type: HttpApi
          Properties: {{Path: /webhooks/acme, Method: POST}}
""",
            "no sample secret for provider 'acme'",
        ),
        (
            "the endpoint refuses a resource",
            """Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Rule.Arn
        maxReceiveCount: 3
  Rule:
    Type: AWS::Events::Rule
""",
            "the local pipeline did not start: QueueDoesNotExist",
        ),
        ("the template is not YAML", "Resources: [\n", "template"),
    ],
    ids=["seed", "refused", "yaml"],
)
def test_a_start_up_error_ends_the_command_with_the_error(tmp_path, case, resources, message):
    # Given a template the local pipeline cannot start from (after its HTTP API socket is open, for the first two)
    template = write_template(tmp_path, resources)

    # When `hookctl dev` starts from it
    result = run_to_end(
        "dev", "--template", str(template), "--port", "0", "--moto-port", "0", "--log-dir", str(tmp_path)
    )

    # Then it ends, non-zero, saying what is wrong, and leaves no state file behind
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not state_path(template, "webhook-gateway-local").exists()


# -- a running `hookctl dev` -----------------------------------------------------------------------------------------


class Dev:
    """A `hookctl dev` process and its output, line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for stream, sink in ((process.stdout, self.stdout), (process.stderr, self.stderr)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    def _read(self, stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:
            sink.append(line.rstrip("\n"))
            if sink is self.stdout:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT, count: int = 1) -> list[str]:
        """The stdout lines up to the ``count``-th matching ``pattern``."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        matches = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None and self.lines.empty():
                pytest.fail(f"hookctl dev ended ({self.process.returncode}): {self.stderr}")
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if re.search(pattern, line):
                matches += 1
                if matches == count:
                    return seen
        pytest.fail(f"no {pattern!r} in {timeout} s; stdout so far: {self.stdout}; stderr: {self.stderr}")


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[Dev, str, list[str]]]:
    stack = f"it-dev-{uuid.uuid4().hex[:8]}"
    process = hookctl_process(
        "dev", "--port", "0", "--moto-port", "0", "--stack-name", stack, "--template", str(TEMPLATE),
        "--public-url", "https://abc.ngrok.app", "--log-dir", str(tmp_path / "logs"),
    )
    running = Dev(process)
    try:
        banner = running.wait_for("Ctrl-C to stop")
        yield running, stack, banner
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        state = state_path(TEMPLATE, stack)
        state.unlink(missing_ok=True)
        if state.parent.is_dir():
            state.parent.rmdir()


def send(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["send", *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_send_local_finds_the_running_dev_and_its_shutdown_summary_adds_up(dev, monkeypatch):
    running, stack, banner = dev
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("HOOKCTL_STACK", raising=False)
    # Given `hookctl dev --port 0 --public-url https://abc.ngrok.app` running: it says where, and publishes it
    text = "\n".join(banner)
    api_url = re.search(r"HTTP API\s+(http://127\.0\.0\.1:\d+)", text).group(1)
    assert not api_url.endswith(":3000")
    assert "https://abc.ngrok.app/webhooks/twilio" in text  # the URL to paste at the provider
    assert f"send github push --local --stack-name {stack}" in text  # a command that reaches this gateway
    state = read_state(state_path(TEMPLATE, stack))
    assert state is not None and state.api_url == api_url and state.pid == running.process.pid
    assert state.public_url == "https://abc.ngrok.app"

    # When the banner's command is run, for GitHub and for Twilio (which signs the public URL, not the local one)
    code, out, err = send("github", "push", "--local", "--stack-name", stack, "--json")
    assert code == 0, err
    assert json.loads(out)["statuses"] == {"202": 1}
    code, out, err = send("twilio", "--local", "--stack-name", stack, "--json")
    assert code == 0, err
    assert json.loads(out)["statuses"] == {"200": 1}
    # And a GitHub event no handler is registered for (skipped), and a forged one
    issues = json.dumps({"action": "opened", "issue": {"number": 1, "title": str(uuid.uuid4())}}).encode()
    code, _, err = send("github", "push", "--local", "--stack-name", stack, "--tamper")
    assert code == 0, err
    signed = samples.sign_request(
        "github", "push", body=issues, delivery_id=str(uuid.uuid4()), url=f"{api_url}/webhooks/github"
    )
    connection = http.client.HTTPConnection(api_url.removeprefix("http://"), timeout=30)
    headers = {**signed.headers, "x-github-event": "issues"}
    connection.request("POST", "/webhooks/github", body=signed.body, headers=headers)
    assert connection.getresponse().status == 202
    connection.close()
    running.wait_for(r"\b(processed|skipped)\b", count=3, timeout=60)

    # And its inbox (in the banner) answers on 127.0.0.1, not through the tunnel, and keeps an event stream open
    assert f"Inbox         {api_url}/_inbox" in text
    connection = http.client.HTTPConnection(api_url.removeprefix("http://"), timeout=30)
    connection.request("GET", "/_inbox")
    page = connection.getresponse()
    assert page.status == 200 and b"hookctl dev inbox" in page.read()
    connection.request("GET", "/_inbox", headers={"host": "abc.ngrok.app", "x-forwarded-for": "203.0.113.9"})
    tunneled = connection.getresponse()
    assert tunneled.status == 403 and tunneled.read()
    connection.close()
    stream = http.client.HTTPConnection(api_url.removeprefix("http://"), timeout=30)
    stream.request("GET", "/_inbox/api/stream")
    events = stream.getresponse()
    assert events.getheader("content-type") == "text/event-stream"
    assert b"event: change" in events.readline() + events.readline()  # "retry: ...", then the first event

    # And it is stopped with Ctrl-C (the open event stream does not hold it)
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=60) == 0

    # Then its summary puts each delivery in one count, skipped included, and the counts add up
    summary = "\n".join(running.stderr)
    assert "4 requests: 3 accepted, 1 rejected (signature_mismatch 1)" in summary, summary
    found = re.search(r"of the (\d+) accepted: (.*)", summary)
    assert found is not None, summary
    counts = {label: int(n) for n, label in (part.split(" ", 1) for part in found.group(2).split(", "))}
    assert counts["processed"] == 2 and counts["skipped (no handler)"] == 1, counts
    assert sum(counts.values()) == int(found.group(1)) == 3
    # And what it published is gone
    assert not state_path(TEMPLATE, stack).exists()
