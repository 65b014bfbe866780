"""The local HTTP API turns real HTTP requests into the payload format 2.0 events API Gateway sends, and the
functions' answers into HTTP responses. The events are compared with events/ (the checked-in API Gateway events)
and checked by the receiver's own request parsing and signature verification."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookctl import samples
from hookctl.local.gateway import HttpApi, Route
from hookctl.local.lambda_runtime import Invocation
from webhook_gateway.http import request_from_event
from webhook_gateway.secrets import CURRENT
from webhook_gateway.verifiers import load_provider, logical_name
from webhook_gateway.verifiers.base import SecretCandidate, VerificationPolicy

EVENTS = Path(__file__).resolve().parents[3] / "events"
ROUTES = [Route("POST", f"/webhooks/{p}", f"{logical_name(p)}ReceiverFunction") for p in samples.PROVIDERS]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.result: Any = {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": '{"ok":true}'}
        self.error: dict[str, Any] | None = None
        self.lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any]) -> Invocation:
        with self.lock:
            self.events.append((function, event))
        return Invocation("req-1", result=self.result, error=self.error)


@pytest.fixture
def api() -> Iterator[tuple[HttpApi, Recorder]]:
    recorder = Recorder()
    gateway = HttpApi(ROUTES + [Route("GET", "/items/{id}", "ItemsFunction")], recorder, port=0)
    gateway.start()
    yield gateway, recorder
    gateway.stop()


def request(gateway: HttpApi, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response, payload


def send_signed(gateway: HttpApi, signed: samples.SignedRequest):
    parts = signed.url.split(str(gateway.port), 1)[1]
    return request(gateway, "POST", parts, signed.body, signed.headers)


def shape(value: Any) -> Any:
    """The structure of an event: keys and value types, not values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


@pytest.mark.parametrize(
    "name",
    [
        "github_push.json",
        "github_push_base64.json",
        "stripe_payment_intent_succeeded.json",
        "twilio_sms_inbound.json",
        "twilio_json_body_sha256.json",
    ],
)
def test_a_real_request_becomes_the_event_api_gateway_sends(api, name):
    gateway, recorder = api
    checked_in = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    provider = checked_in["routeKey"].rsplit("/", 1)[1]
    named_kinds = {"github_push.json": "push", "github_push_base64.json": "push_form"}
    kind = named_kinds.get(name) or samples.DEFAULT_KINDS[provider]
    if name == "twilio_json_body_sha256.json":
        kind = "json_body"
    signed = samples.sign_request(provider, kind, base_url=gateway.url)
    response, _ = send_signed(gateway, signed)
    assert response.status == 202
    [(function, event)] = recorder.events

    assert function == f"{logical_name(provider)}ReceiverFunction"
    # Same keys and types as the checked-in API Gateway event, at every level except the header set
    assert {k: v for k, v in shape(event).items() if k != "headers"} == {
        k: v for k, v in shape(checked_in).items() if k != "headers"
    }
    # The body exactly as sent: text for JSON, base64 otherwise (form bodies included)
    assert event["isBase64Encoded"] == checked_in["isBase64Encoded"]
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode("utf-8")
    assert raw == signed.body
    # Headers lower-cased, the provider's all there, API Gateway's added
    assert all(name == name.lower() for name in event["headers"])
    assert {k: event["headers"][k] for k in signed.headers} == signed.headers
    assert set(checked_in["headers"]) <= set(event["headers"]) | {"x-amzn-trace-id"}
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1" and event["headers"]["x-forwarded-proto"] == "http"
    assert event["rawPath"] == f"/webhooks/{provider}" and event["routeKey"] == f"POST /webhooks/{provider}"
    assert event["rawQueryString"] == signed.query
    context = event["requestContext"]
    assert context["http"]["sourceIp"] == "127.0.0.1" and context["http"]["method"] == "POST"
    assert context["stage"] == "$default" and len(context["requestId"]) == 16

    # And the receiver's parsing and verifier accept it: the signature survived the trip (Twilio signs the URL)
    webhook = request_from_event(event)
    policy = VerificationPolicy(now=signed.sent_at, tolerance_seconds=300, future_tolerance_seconds=60)
    load_provider(provider).verify(webhook, [SecretCandidate(CURRENT, samples.SAMPLE_SECRETS[provider])], policy)


def test_binary_bodies_are_base64_and_query_strings_parsed(api):
    gateway, recorder = api
    response, _ = request(
        gateway,
        "POST",
        "/webhooks/github?a=1&a=2&b=%20x",
        bytes(range(256)),
        {"Content-Type": "application/octet-stream", "X-Dup": "one", "Cookie": "c1=v1; c2=v2"},
    )
    assert response.status == 202
    [(_, event)] = recorder.events
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == bytes(range(256))
    assert event["rawQueryString"] == "a=1&a=2&b=%20x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": " x"}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]


def test_repeated_headers_are_comma_joined(api):
    gateway, recorder = api
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.putrequest("POST", "/webhooks/stripe")
    connection.putheader("X-Multi", "a")
    connection.putheader("X-Multi", "b")
    connection.putheader("Content-Length", "0")
    connection.endheaders()
    connection.getresponse().read()
    [(_, event)] = recorder.events
    assert event["headers"]["x-multi"] == "a,b"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_path_parameters(api):
    gateway, recorder = api
    response, _ = request(gateway, "GET", "/items/42")
    assert response.status == 202
    [(function, event)] = recorder.events
    assert (
        function == "ItemsFunction"
        and event["pathParameters"] == {"id": "42"}
        and event["routeKey"] == "GET /items/{id}"
    )


def test_no_route_is_404_like_http_api(api):
    gateway, recorder = api
    response, payload = request(gateway, "POST", "/webhooks/unknown")
    assert (response.status, json.loads(payload)) == (404, {"message": "Not Found"})
    response, _ = request(gateway, "GET", "/webhooks/github")
    assert response.status == 404 and recorder.events == []


def test_a_failed_invocation_is_500_like_http_api(api):
    gateway, recorder = api
    recorder.error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 8.00 seconds"}
    response, payload = request(gateway, "POST", "/webhooks/github", b"{}")
    assert (response.status, json.loads(payload)) == (500, {"message": "Internal Server Error"})


def test_answers_are_mapped_like_http_api(api):
    gateway, recorder = api
    recorder.result = {
        "statusCode": 201,
        "headers": {"Content-Type": "text/xml", "X-Custom": "1"},
        "cookies": ["a=b; Path=/"],
        "body": base64.b64encode(b"<Response/>").decode(),
        "isBase64Encoded": True,
    }
    response, payload = request(gateway, "POST", "/webhooks/twilio", b"x=1")
    assert response.status == 201 and payload == b"<Response/>"
    assert response.getheader("content-type") == "text/xml" and response.getheader("x-custom") == "1"
    assert response.getheader("set-cookie") == "a=b; Path=/" and response.getheader("apigw-requestid")
    recorder.result = {"ok": True}  # no statusCode: HTTP API sends it as 200 JSON
    response, payload = request(gateway, "POST", "/webhooks/twilio", b"x=1")
    assert (response.status, json.loads(payload)) == (200, {"ok": True})


def test_keep_alive_serves_many_requests_on_one_connection(api):
    gateway, recorder = api
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    for _ in range(5):
        connection.request("POST", "/webhooks/github", body=b"{}")
        assert connection.getresponse().read() == b'{"ok":true}'
    connection.close()
    assert len(recorder.events) == 5
