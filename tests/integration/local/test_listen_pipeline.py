"""`hookctl listen` end to end on moto's server: the local pipeline with ListenerTap=Enabled (the consumer publishes
to the tap's SNS topic, moto's SNS delivers to the listener's SQS queue), forwarding to a tiny local HTTP server.

One pipeline for the module; each test uses its own listener name (its own queue). With the tap, the receivers keep
the providers' signature headers (KEEP_SIGNATURE_HEADERS): the last test has the local server verify forwarded
deliveries with the providers' own references (stripe-python, twilio-python, GitHub's documented HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import http.server
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import boto3
import pytest
import stripe
from twilio.request_validator import RequestValidator

from hookctl import listen, samples
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
STACK = "hookctl-listen-it"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("listen")
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        parameter_overrides={"ListenerTap": "Enabled"},
        log_dir=work / "logs",
        environ={},
        prewarm=False,  # these tests call a few of the functions: cold-start only those
    )
    with LocalPipeline(config) as running:
        yield running


@dataclass
class LocalApp:
    """The developer's local endpoint: answers ``statuses`` in turn (then the last one), records what it got."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    # The developer's own signature check (lower-cased headers, raw body -> verified): 200 when it passes, else 401.
    check: Callable[[dict[str, str], bytes], bool] | None = None

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        if self.check is not None:
            return 200 if self.check(headers, body) else 401
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture(scope="module")
def app_server() -> Iterator[Callable[..., LocalApp]]:
    apps: dict[str, LocalApp] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            app = apps[self.path.split("/")[1]]
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            app.received.append((self.path, headers, body))
            self.send_response(app.answer(headers, body))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def new(*statuses: int, check: Callable[[dict[str, str], bytes], bool] | None = None) -> LocalApp:
        key = uuid.uuid4().hex[:8]
        url = f"http://127.0.0.1:{server.server_port}/{key}"
        apps[key] = LocalApp(statuses=list(statuses) or [200], url=url, check=check)
        return apps[key]

    yield new
    server.shutdown()


def hookctl(pipeline: LocalPipeline, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    code = main(
        [*argv, "--endpoint-url", pipeline.endpoint.url, "--stack-name", STACK],
        session=session,
        environ={},
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


@dataclass
class Running:
    listener: listen.Listener
    thread: threading.Thread
    out: io.StringIO

    def stop(self) -> None:
        self.listener.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def start_listener(pipeline: LocalPipeline, name: str, app: LocalApp, *, providers: tuple[str, ...] = ()) -> Running:
    """What `hookctl listen --forward-to` runs, with a 1 s long poll and a 1 s retry (so the test is quick)."""
    client = pipeline.client
    outputs = dict(pipeline.stack.outputs)  # type: ignore[union-attr]
    topic_arn = outputs[listen.TAP_OUTPUT][0]
    queue = listen.ensure_queue(
        client("sqs"), client("sns"), topic_arn, listen.listener_queue_name(STACK, name), providers
    )
    out = io.StringIO()
    listener = listen.Listener(
        sqs=client("sqs"),
        queue=queue,
        deliver=listen.forward_target(app.url),
        load_body=listen.body_loader(outputs["OverflowBucketName"][0], client("s3")),
        out=out,
        err=out,
        wait_seconds=1,
        retry_after=1,
    )
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    return Running(listener, thread, out)


def send_github(pipeline: LocalPipeline) -> str:
    delivery = str(uuid.uuid4())
    code, out, err = hookctl(pipeline, "send", "github", "push", "--url", pipeline.api_url, "--delivery-id", delivery)
    assert code == 0, err
    return delivery


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def in_queue(pipeline: LocalPipeline, name: str) -> int:
    sqs = pipeline.client("sqs")
    url = sqs.get_queue_url(QueueName=listen.listener_queue_name(STACK, name))["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_delivery_sent_while_listen_is_stopped_is_forwarded_when_it_starts(pipeline, app_server):
    """Given a listener that ran once (its queue exists) and was stopped, when a GitHub delivery is sent and
    processed, then starting listen again forwards it with its original body and headers, and acknowledges it."""
    app = app_server(200)
    start_listener(pipeline, "sleepy", app).stop()
    delivery = send_github(pipeline)
    wait_for(lambda: in_queue(pipeline, "sleepy") == 1)

    running = start_listener(pipeline, "sleepy", app)
    wait_for(lambda: len(app.received) == 1)
    wait_for(lambda: in_queue(pipeline, "sleepy") == 0)
    running.stop()

    path, headers, body = app.received[0]
    assert headers["x-github-delivery"] == delivery
    assert headers["x-github-event"] == "push"
    assert headers["content-type"] == "application/json"
    assert headers["x-hookctl-verified"] == "current secret"
    # A tapped stack's receivers keep the signature headers (KEEP_SIGNATURE_HEADERS), so they are forwarded too.
    assert headers["x-hub-signature-256"].startswith("sha256=")
    assert json.loads(body)["repository"]  # the exact push payload GitHub sent
    (line,) = running.out.getvalue().splitlines()
    time_, provider, event_type, delivery_id, result = line.split("  ")
    assert (provider, event_type, result.split(" (")[0]) == ("github", "push", "-> 200")
    assert delivery in delivery_id
    assert running.listener.counts == {"forwarded": 1}


def test_a_local_endpoint_answering_500_gets_the_delivery_again_until_it_answers_2xx(pipeline, app_server):
    """Given a local endpoint that answers 500 twice, then 204, when a delivery arrives, then it is forwarded three
    times and acknowledged only after the 204."""
    app = app_server(500, 500, 204)
    running = start_listener(pipeline, "flaky", app)
    send_github(pipeline)

    wait_for(lambda: len(app.received) == 3)
    wait_for(lambda: in_queue(pipeline, "flaky") == 0)
    running.stop()

    assert running.listener.counts == {"failed": 2, "forwarded": 1}
    lines = running.out.getvalue().splitlines()
    assert sum("-> 500" in line and "left in the queue" in line for line in lines) == 2
    assert any("-> 204" in line for line in lines)


def test_stopping_listen_loses_nothing_that_was_not_acknowledged(pipeline, app_server):
    """Given a local endpoint that is down (500), when listen is stopped after a delivery failed, then the delivery is
    still in the listener's queue, and the next listen (endpoint back up) forwards it."""
    app = app_server(500)
    running = start_listener(pipeline, "stopper", app)
    send_github(pipeline)
    wait_for(lambda: len(app.received) >= 1)
    running.stop()

    assert in_queue(pipeline, "stopper") == 1
    app.statuses = [200]
    again = start_listener(pipeline, "stopper", app)
    wait_for(lambda: in_queue(pipeline, "stopper") == 0)
    again.stop()
    assert again.listener.counts["forwarded"] == 1


def test_provider_filters_and_remove_through_the_command(pipeline, app_server):
    """Given `hookctl listen --provider stripe`, then a GitHub delivery never reaches its queue; `--remove` deletes
    the subscription and the queue."""
    app = app_server(200)
    running = start_listener(pipeline, "stripe-only", app, providers=("stripe",))
    send_github(pipeline)
    code, _, err = hookctl(pipeline, "send", "stripe", "--url", pipeline.api_url)
    assert code == 0, err
    wait_for(lambda: len(app.received) == 1)
    running.stop()
    assert json.loads(app.received[0][2])["object"] == "event"  # Stripe's, not GitHub's
    assert running.listener.counts == {"forwarded": 1}
    assert in_queue(pipeline, "stripe-only") == 0  # the GitHub delivery never reached this queue

    code, _, err = hookctl(pipeline, "listen", "--name", "stripe-only", "--remove")

    assert code == 0, err
    assert "removed subscription" in err and f"queue {STACK}-listen-stripe-only" in err
    with pytest.raises(pipeline.client("sqs").exceptions.QueueDoesNotExist):
        pipeline.client("sqs").get_queue_url(QueueName=f"{STACK}-listen-stripe-only")


def post(pipeline: LocalPipeline, request: samples.SignedRequest, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=30)  # type: ignore[union-attr]
    try:
        target = request.path + (f"?{request.query}" if request.query else "")
        connection.request(request.method, target, body=request.body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def verified_by_the_providers_reference(headers: dict[str, str], body: bytes) -> bool:
    """The developer's own checks, with the providers' references and the sample secrets the local stack uses:
    stripe-python's construct_event (its default 300 s tolerance), GitHub's documented HMAC-SHA256 of the body,
    twilio-python's RequestValidator against the URL Twilio called (x-hookctl-original-url)."""
    provider = headers["x-hookctl-provider"]
    secret = samples.sample_secret(provider)
    try:
        if provider == "stripe":
            stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)
            return True
        if provider == "github":
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, headers["x-hub-signature-256"])
        if provider == "twilio":
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            validator = RequestValidator(secret)
            return validator.validate(headers["x-hookctl-original-url"], params, headers["x-twilio-signature"])
    except (KeyError, ValueError, stripe.SignatureVerificationError):
        return False
    return False


def test_forwarded_deliveries_verify_with_the_providers_own_references(pipeline, app_server):
    """Given a tapped local stack and a local endpoint that verifies every delivery itself (401 unless it verifies)
    When a Stripe delivery signed by stripe-python, a GitHub push and a Twilio SMS signed by twilio-python are sent
    to the gateway and forwarded by listen
    Then each one verifies at the local endpoint (stripe-python's construct_event, HMAC over the body, twilio-python
    against x-hookctl-original-url) and is acknowledged: the original signature headers survived the queue"""
    app = app_server(check=verified_by_the_providers_reference)
    running = start_listener(pipeline, "verifier", app, providers=("stripe", "github", "twilio"))

    stripe_request = samples.sign_request(
        "stripe", "payment_intent.succeeded", base_url=pipeline.api_url, delivery_id=f"evt_{uuid.uuid4().hex[:24]}"
    )
    stripe_header = stripe.WebhookSignature.generate_signature_header(
        stripe_request.body.decode(), samples.sample_secret("stripe"), timestamp=int(time.time())
    )
    assert post(pipeline, stripe_request, {**stripe_request.headers, "stripe-signature": stripe_header}) == 202
    delivery = send_github(pipeline)
    twilio_request = samples.sign_request(
        "twilio", "sms_inbound", base_url=pipeline.api_url, delivery_id=f"SM{uuid.uuid4().hex}"
    )
    params = dict(parse_qsl(twilio_request.body.decode(), keep_blank_values=True))
    twilio_signature = RequestValidator(samples.sample_secret("twilio")).compute_signature(twilio_request.url, params)
    assert post(pipeline, twilio_request, {**twilio_request.headers, "x-twilio-signature": twilio_signature}) == 200

    wait_for(lambda: len(app.received) == 3)
    wait_for(lambda: in_queue(pipeline, "verifier") == 0)
    running.stop()

    assert running.listener.counts == {"forwarded": 3}
    by_provider = {headers["x-hookctl-provider"]: headers for _, headers, _ in app.received}
    assert by_provider["stripe"]["stripe-signature"] == stripe_header
    assert by_provider["github"]["x-github-delivery"] == delivery
    assert by_provider["twilio"]["x-hookctl-original-url"] == twilio_request.url
