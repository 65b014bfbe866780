"""The local HTTP API answers every request, passes any body to the function byte-exact, and shows the functions the
public origin of a request that came through a tunnel. No sockets: each request is handed to the gateway's handler on
an in-memory connection, as the server would hand it a TCP connection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import threading
import time
from typing import Any

import pytest

from hookctl import samples
from hookctl.local.gateway import HttpApi, Route, parse_public_url
from hookctl.local.lambda_runtime import Invocation
from webhook_gateway.http import request_from_event
from webhook_gateway.secrets import CURRENT
from webhook_gateway.verifiers import load_provider, logical_name
from webhook_gateway.verifiers.base import Rejected, SecretCandidate, VerificationPolicy

ROUTES = [Route("POST", f"/webhooks/{p}", f"{logical_name(p)}ReceiverFunction") for p in samples.PROVIDERS]
PUBLIC = "https://abc.ngrok.app"
PEER = ("127.0.0.1", 50123)


class MemoryConnection:
    """What ``socketserver.StreamRequestHandler`` needs of a socket: the request bytes in, the answer bytes out."""

    def __init__(self, raw: bytes) -> None:
        self.incoming = io.BytesIO(raw)
        self.outgoing = bytearray()

    def settimeout(self, timeout: float | None) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass

    def makefile(self, mode: str, buffering: int = -1) -> io.BytesIO:
        assert "r" in mode
        return self.incoming

    def sendall(self, data: bytes) -> None:
        self.outgoing += data


class _Replay:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


class Recorder:
    def __init__(self, result: Any = None, raises: BaseException | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.result = result or {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": "{}"}
        self.raises = raises
        self.lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any]) -> Invocation:
        with self.lock:
            self.events.append(event)
        if self.raises is not None:
            raise self.raises
        return Invocation("req-1", result=self.result)


def exchange(api: HttpApi, raw: bytes) -> http.client.HTTPResponse | None:
    """Serve one connection carrying ``raw``; the parsed answer, or None when the gateway sent nothing."""
    connection = MemoryConnection(raw)
    api.handler_class(connection, PEER, None)
    if not connection.outgoing:
        return None
    response = http.client.HTTPResponse(_Replay(bytes(connection.outgoing)))  # type: ignore[arg-type]
    response.begin()
    return response


def http_request(path: str, body: bytes, headers: dict[str, str], host: str = "127.0.0.1:3000") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}", "connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def verify(provider: str, event: dict[str, Any], secret: str) -> Any:
    """The receiver's own parsing and verifier, over the event the function got."""
    policy = VerificationPolicy(now=time.time(), tolerance_seconds=300, future_tolerance_seconds=60)
    return load_provider(provider).verify(request_from_event(event), [SecretCandidate(CURRENT, secret)], policy)


def test_a_signed_latin1_body_is_answered_and_reaches_the_function_byte_exact():
    # Given a GitHub delivery whose JSON body is Latin-1 (not UTF-8), correctly signed over those bytes
    body = '{"zen":"Caf\xe9 cr\xe8me","hook_id":1}'.encode("latin-1")
    headers = {
        "content-type": "application/json; charset=iso-8859-1",
        "x-github-event": "ping",
        "x-github-delivery": "2f1c5e1a-0000-4000-8000-000000000001",
        "x-github-hook-id": "1",
        "x-hub-signature-256": "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest(),
    }
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)

    # When it is POSTed to the local HTTP API
    response = exchange(api, http_request("/webhooks/github", body, headers))

    # Then it gets the function's answer, and the function got the exact bytes, base64-encoded as API Gateway does
    assert response is not None and response.status == 202
    (event,) = recorder.events
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
    assert request_from_event(event).body == body
    verify("github", event, "s3cret")  # the signature still matches: nothing was re-encoded


def test_a_utf8_json_body_still_travels_as_text():
    # Given a UTF-8 JSON body
    body = '{"zen":"Café"}'.encode()
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)
    # When it is POSTed
    exchange(api, http_request("/webhooks/github", body, {"content-type": "application/json"}))
    # Then the event carries it as text, as API Gateway does for JSON
    (event,) = recorder.events
    assert event["isBase64Encoded"] is False and event["body"] == "Café".join(['{"zen":"', '"}'])


def test_a_binary_body_is_base64():
    # Given bytes that are no text at all
    body = bytes(range(256))
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)
    # When they are POSTed with a binary content type
    response = exchange(api, http_request("/webhooks/github", body, {"content-type": "application/octet-stream"}))
    # Then they reach the function base64-encoded and unchanged
    assert response is not None and response.status == 202
    assert base64.b64decode(recorder.events[0]["body"]) == body and recorder.events[0]["isBase64Encoded"] is True


def test_a_failure_inside_the_gateway_is_a_500_not_a_dropped_connection():
    # Given an invoker that fails (a bug of the runner, not an invocation error of the function)
    api = HttpApi(ROUTES, Recorder(raises=RuntimeError("boom")), listen=False)
    exchanges: list[Any] = []
    api.on_exchange = exchanges.append
    # When a request comes in
    response = exchange(api, http_request("/webhooks/github", b"{}", {"content-type": "application/json"}))
    # Then the client gets API Gateway's 500, and the console hears of it
    assert response is not None and response.status == 500
    assert json.loads(response.read()) == {"message": "Internal Server Error"}
    assert exchanges[0].status == 500 and exchanges[0].error["errorType"] == "RuntimeError"


def test_an_answer_that_http_cannot_carry_is_a_500():
    # Given a function whose answer has a header value HTTP/1.1 cannot encode
    result = {"statusCode": 200, "headers": {"x-note": "\u2603"}, "body": "ok"}
    api = HttpApi(ROUTES, Recorder(result=result), listen=False)
    # When a request comes in
    response = exchange(api, http_request("/webhooks/github", b"{}", {"content-type": "application/json"}))
    # Then it is answered 500 (an integration failure), not left hanging half-written
    assert response is not None and response.status == 500


def test_an_unreadable_content_length_is_a_400():
    # Given a request whose Content-Length is not a number
    raw = b"POST /webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-length: lots\r\n\r\n{}"
    api = HttpApi(ROUTES, Recorder(), listen=False)
    # When it comes in
    response = exchange(api, raw)
    # Then it is answered 400 and never reaches a function
    assert response is not None and response.status == 400


# -- behind a tunnel -------------------------------------------------------------------------------------------------


def twilio_signed_for(public_base: str) -> samples.SignedRequest:
    return samples.sign_request("twilio", "sms_inbound", url=samples.webhook_url("twilio", public_base))


def twilio_event_through(api: HttpApi, recorder: Recorder, signed: samples.SignedRequest, extra: dict[str, str]) -> Any:
    response = exchange(api, http_request(signed.path, signed.body, {**signed.headers, **extra}))
    assert response is not None and response.status == 202
    return recorder.events[-1]


def test_with_a_public_url_a_twilio_request_signed_for_it_verifies():
    # Given the gateway started with --public-url https://abc.ngrok.app, and a Twilio request signed for that URL
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False, public_url=PUBLIC)
    signed = twilio_signed_for(PUBLIC)
    # When the tunnel delivers it over plain HTTP to the local port (keeping the local Host header)
    event = twilio_event_through(api, recorder, signed, {"x-forwarded-for": "54.172.60.17"})
    # Then the function sees the public origin, as API Gateway shows its own domain, and the signature verifies
    assert event["headers"]["host"] == "abc.ngrok.app" and event["headers"]["x-forwarded-proto"] == "https"
    assert event["headers"]["x-forwarded-port"] == "443"
    assert event["requestContext"]["domainName"] == "abc.ngrok.app"
    assert event["requestContext"]["http"]["sourceIp"] == "54.172.60.17"  # the client, as the tunnel saw it
    verify("twilio", event, samples.SAMPLE_SECRETS["twilio"])


def test_a_tunnels_forwarded_headers_are_honoured():
    # Given a Twilio request signed for the tunnel's public URL
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)
    signed = twilio_signed_for("https://tunnel.example.com")
    # When it arrives with the tunnel's X-Forwarded-Proto and X-Forwarded-Host (no --public-url)
    extra = {"x-forwarded-proto": "https", "x-forwarded-host": "tunnel.example.com"}
    event = twilio_event_through(api, recorder, signed, extra)
    # Then the function sees that origin and the signature verifies
    assert event["headers"]["host"] == "tunnel.example.com" and event["headers"]["x-forwarded-proto"] == "https"
    verify("twilio", event, samples.SAMPLE_SECRETS["twilio"])


def test_a_tunnel_that_keeps_the_public_host_header_needs_only_the_proto():
    # Given a tunnel that passes the public Host header through (ngrok's default) and says https
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)
    signed = twilio_signed_for(PUBLIC)
    response = exchange(
        api,
        http_request(signed.path, signed.body, {**signed.headers, "x-forwarded-proto": "https"}, host="abc.ngrok.app"),
    )
    # Then the signature verifies
    assert response is not None and response.status == 202
    verify("twilio", recorder.events[-1], samples.SAMPLE_SECRETS["twilio"])


def test_without_a_public_url_or_forwarded_headers_the_public_signature_does_not_verify():
    # Given a request signed for the public URL that reaches the gateway directly (no tunnel headers, no --public-url)
    recorder = Recorder()
    api = HttpApi(ROUTES, recorder, listen=False)
    event = twilio_event_through(api, recorder, twilio_signed_for(PUBLIC), {})
    # Then the function sees the local origin, so the signature (over another URL) is refused, as it would be in AWS
    assert event["headers"]["x-forwarded-proto"] == "http"
    with pytest.raises(Rejected):
        verify("twilio", event, samples.SAMPLE_SECRETS["twilio"])


@pytest.mark.parametrize("url", ["abc.ngrok.app", "ftp://abc.ngrok.app", "https://abc.ngrok.app/hooks", "https://:443"])
def test_a_public_url_is_a_scheme_and_a_host(url):
    with pytest.raises(ValueError):
        parse_public_url(url)
    assert parse_public_url("https://abc.ngrok.app/").geturl() == PUBLIC
