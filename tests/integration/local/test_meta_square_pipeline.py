"""Meta and Square through the local pipeline (the template's routes, the real receiver and consumer on the local
endpoint), as `hookctl send` drives it: Meta's GET verification travels as a GET on the ANY route and is answered
with its challenge, never processed, a forged one is 401; its notifications are processed once; Square signed for a
tunnel's public URL (hookctl's signed URL, as for Twilio) verifies behind it."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from hookctl import samples
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main
from hookctl.send import Job, Sender

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = Path(__file__).resolve().parent / "handlers"
STACK = "hookctl-meta-square-it"
PUBLIC = "https://tunnel.example.com"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("local")
    overrides = {
        "ConsumerFunction.Environment.Variables.LOCAL_TEST_FAIL_FILE": str(work / "failing.txt"),
        "ConsumerFunction.Environment.Variables.LOCAL_TEST_RUNS_FILE": str(work / "runs.txt"),
    }
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        overrides=overrides,
        prepend_paths={"ConsumerFunction": [HANDLERS]},
        log_dir=work / "logs",
        environ={},
        prewarm=False,  # these tests call a few of the functions: cold-start only those
    )
    with LocalPipeline(config) as running:
        running.work = work  # type: ignore[attr-defined]
        yield running


def runs(pipeline: LocalPipeline) -> list[str]:
    path = pipeline.work / "runs.txt"  # type: ignore[attr-defined]
    return path.read_text().split("\n")[:-1] if path.exists() else []


def hookctl(pipeline: LocalPipeline, *argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    code = main(list(argv), session=session, environ={"HOOKCTL_STACK": STACK}, stdout=out, stderr=err)
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


def test_hookctl_sends_metas_verification_as_a_get_answered_with_its_challenge(pipeline):
    # When `hookctl send meta verification` sends the GET to the local HTTP API (route ANY /webhooks/meta)
    code, report, err = hookctl(pipeline, "send", "meta", "verification", "--url", pipeline.api_url, "--json")
    # Then it is answered 200 and names no delivery; nothing reaches the consumer
    assert code == 0, err
    [result] = report["results"]
    assert (result["status"], result["delivery_id"]) == (200, "")
    # And the answer is the challenge itself, as text
    signed = samples.sign_request("meta", "verification", base_url=pipeline.api_url)
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=30)
    try:
        connection.request("GET", f"{signed.path}?{signed.query}", headers=signed.headers)
        response = connection.getresponse()
        answer = (response.status, response.getheader("content-type"), response.read().decode())
    finally:
        connection.close()
    assert answer == (200, "text/plain", parse_qs(urlsplit(signed.url).query)["hub.challenge"][0])
    # A forged one (a body added to it) is refused
    code, report, err = hookctl(
        pipeline, "send", "meta", "verification", "--url", pipeline.api_url, "--tamper", "--json"
    )
    assert code == 0 and report["results"][0]["status"] == 401, err
    assert pipeline.wait_until_drained(30)
    assert not [line for line in runs(pipeline) if line.startswith("meta ")]


def test_metas_notifications_are_processed_once(pipeline):
    code, report, err = hookctl(pipeline, "send", "meta", "--url", pipeline.api_url, "--duplicate", "2", "--json")
    assert code == 0, err
    ids = {r["delivery_id"] for r in report["results"]}
    assert [r["status"] for r in report["results"]] == [200, 200] and len(ids) == 1
    assert pipeline.wait_until_drained(60)
    assert runs(pipeline).count(f"meta {ids.pop()}") == 1


def test_square_signed_for_a_tunnels_public_url_verifies_behind_it(pipeline):
    # Given hookctl's sender signing Square's notification URL as the tunnel's public URL (its --public-url path),
    # while it sends to the local port, and a tunnel that says where the request came in
    local, public = samples.webhook_url("square", pipeline.api_url), samples.webhook_url("square", PUBLIC)
    sender = Sender({"square": local}, {"square": samples.sample_secret("square")}, signed_urls={"square": public})
    job = Job("square", "payment.updated", samples.new_delivery_id("square"))
    request = sender.request(job)
    assert request.url == public
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=30)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "tunnel.example.com"}
    try:
        connection.request("POST", request.path, body=request.body, headers={**request.headers, **forwarded})
        response = connection.getresponse()
        status = response.status
        response.read()
        # Without the tunnel's headers the rebuilt URL is the local one: not the URL Square signed
        connection.request("POST", request.path, body=request.body, headers=request.headers)
        unforwarded = connection.getresponse()
        unforwarded_status = unforwarded.status
        unforwarded.read()
    finally:
        connection.close()
    # Then it verifies and is processed once; the same bytes without the public URL do not verify
    assert (status, unforwarded_status) == (202, 401)
    assert pipeline.wait_until_drained(60)
    assert runs(pipeline).count(f"square {job.delivery_id}") == 1
