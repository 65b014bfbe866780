"""The HTTP API, locally: each HTTP request becomes the payload format 2.0 event API Gateway would send, the route's
function handles it, and its answer becomes the HTTP response.

Routes come from the functions' ``HttpApi`` events in template.yaml. The event is built by
:func:`hookctl.samples.http_api_event` (the same builder as the sample events in ``events/``) from the request as
received: the raw body (base64-encoded unless the content type is text or JSON), header names lower-cased and repeated
headers comma-joined, cookies in ``cookies``, ``rawPath`` and ``rawQueryString`` exactly as sent,
``queryStringParameters`` decoded, and a ``requestContext`` with the method, path, protocol, source IP (the TCP peer),
user agent, a request id and the time. API Gateway's own headers are added: ``x-forwarded-for`` (the peer appended),
``x-forwarded-port``, ``x-forwarded-proto`` and ``x-amzn-trace-id``.

Where the request came in is what the functions see in ``host`` and ``x-forwarded-proto`` (API Gateway sends its own
domain and ``https``; the Twilio receiver rebuilds the signed URL from them). Locally that is the gateway's own
``http://host:port``, unless a proxy in front says otherwise: a tunnel's ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` are honoured, and ``public_url`` (``hookctl dev --public-url https://abc.ngrok.app``) makes every
request appear to come in there, with the client's address taken from the tunnel's ``X-Forwarded-For``.

Answers as HTTP API gives them: the function's ``statusCode``/``headers``/``cookies``/``body`` (decoded when
``isBase64Encoded``); a result without ``statusCode`` is sent as ``200`` JSON; a failed invocation (error, timeout,
crash), or a failure of the gateway itself, is ``500 {"message":"Internal Server Error"}``: every request gets an
answer. No route is ``404 {"message":"Not Found"}``; a body over 10 MB is ``413``; an unreadable request (a bad
``Content-Length`` or chunk size) is ``400``. A path under a prefix given to :meth:`HttpApi.mount` (the local inbox,
``/_inbox``) is answered by that handler before any route is looked up, and reported to no one. Not emulated:
throttling, authorizers, CORS, custom domains, stage variables.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, urlsplit

from hookctl.samples import http_api_event

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # HTTP API's request payload limit
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # /webhooks/github, /items/{id}, /files/{proxy+}, or $default
    function: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        pattern = "".join(
            f"(?P<{part[1:-2]}>.+)"
            if part.endswith("+}")
            else f"(?P<{part[1:-1]}>[^/]+)"
            if part.startswith("{")
            else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", self.path)
        )
        found = re.fullmatch(pattern, path)
        return None if found is None else found.groupdict()

    @property
    def specificity(self) -> tuple[int, int, int]:
        """HTTP API prefers exact paths, then paths with parameters, then greedy ones, then ``$default``."""
        return (self.path == "$default", "+}" in self.path, self.path.count("{"))


@dataclass
class Exchange:
    """One request and its answer, for the console."""

    method: str
    path: str
    route_key: str | None
    function: str | None
    status: int
    request_id: str
    source_ip: str
    duration_ms: float
    error: dict[str, Any] | None = None  # a failed invocation
    response_body: bytes = b""
    invocation_id: str = ""  # the Lambda request id (the function's log lines carry it)
    # The request as received (header names and values as sent, in order; the raw body), for the inbox
    request_headers: list[tuple[str, str]] | None = None
    request_body: bytes = b""
    query: str = ""


def _request_id() -> str:
    return base64.b64encode(os.urandom(11)).decode("ascii")


class BadRequest(Exception):
    """A request whose body cannot be read (a bad Content-Length or chunk size)."""


def parse_public_url(url: str) -> SplitResult:
    """``https://abc.ngrok.app`` (a scheme and a host, optionally a port, no path): where providers reach us."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port  # ValueError when it is not a port number
    except ValueError:
        port = -1
    bad_path = parts.path not in ("", "/") or bool(parts.query)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1 or bad_path:
        raise ValueError(f"a public URL is scheme://host[:port] with no path, e.g. https://abc.ngrok.app; got {url!r}")
    return parts._replace(path="", fragment="")


def _first(value: str) -> str:
    """The first entry of a comma-joined header (the hop nearest the client)."""
    return value.split(",", 1)[0].strip()


def _host_text(host: str | bytes | bytearray) -> str:
    """A bound socket's host: ``getsockname()`` gives an AF_INET(6) host as text; typeshed also allows the bytes
    ``bind()`` accepts, which would print as ``b'...'`` in a URL."""
    return host.decode("ascii") if isinstance(host, (bytes, bytearray)) else host


class HttpApi:
    """A ``ThreadingHTTPServer`` serving the routes; ``invoke(function, event)`` runs a function and returns an
    :class:`~hookctl.local.lambda_runtime.Invocation`."""

    def __init__(
        self,
        routes: Iterable[Route],
        invoke: Callable[[str, dict[str, Any]], Any],
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        api_id: str = "local",
        on_exchange: Callable[[Exchange], None] | None = None,
        public_url: str | None = None,
        listen: bool = True,
    ) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity)
        self.invoke = invoke
        self.api_id = api_id
        self.on_exchange = on_exchange
        self.public = parse_public_url(public_url) if public_url else None
        self.handler_class = self._handler_class()
        self._mounts: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        # listen=False: no socket; connections are handed to handler_class directly (tests)
        self._server = ThreadingHTTPServer((host, port), self.handler_class) if listen else None
        self._address: tuple[str, int] = (host, port)
        if self._server is not None:
            self._server.daemon_threads = True
            bound_host, bound_port = self._server.server_address[:2]  # port 0 becomes the port the system chose
            self._address = (_host_text(bound_host), int(bound_port))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._address[1])

    @property
    def url(self) -> str:
        host = self._address[0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    @property
    def public_url(self) -> str | None:
        return self.public.geturl() if self.public is not None else None

    def set_routes(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity)

    def start(self) -> None:
        assert self._server is not None, "created with listen=False"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="http-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; safe on a server that never started (a failed start-up)."""
        thread, self._thread = self._thread, None
        if thread is not None:  # shutdown() waits for serve_forever to notice: it would wait forever if none runs
            assert self._server is not None
            self._server.shutdown()
            thread.join(5)
        if self._server is not None:
            self._server.server_close()

    def mount(self, prefix: str, handler: Callable[[BaseHTTPRequestHandler], None]) -> None:
        """Answer ``prefix`` and every path below it with ``handler`` (it reads the request and writes the answer),
        before the routes: the local inbox (``/_inbox``), never a route of the template."""
        self._mounts[prefix.rstrip("/")] = handler

    def mounted(self, path: str) -> Callable[[BaseHTTPRequestHandler], None] | None:
        for prefix, handler in self._mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return handler
        return None

    def route_for(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None

    def event_for(
        self, request: BaseHTTPRequestHandler, route: Route, parameters: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        raw_path, _, raw_query = request.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
        peer = request.client_address[0]
        forwarded = headers.get("x-forwarded-for")
        if self.public is not None and forwarded:
            # The tunnel is our edge: the client API Gateway would see is the last address the tunnel appended
            peer = forwarded.rsplit(",", 1)[-1].strip() or peer
        else:
            headers["x-forwarded-for"] = f"{forwarded}, {peer}" if forwarded else peer
        self._present_origin(headers)
        now = time.time()
        headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{os.urandom(12).hex()}")
        host = headers.get("host", "")
        return http_api_event(
            method=request.command,
            raw_path=raw_path,
            raw_query_string=raw_query,
            headers=headers,
            body=body,
            source_ip=peer,
            request_id=_request_id(),
            time_epoch_ms=int(now * 1000),
            route_key=route.route_key,
            domain_name=host.rsplit(":", 1)[0] if host and not host.endswith("]") else host,
            api_id=self.api_id,
            protocol=request.request_version,
            cookies=cookies or None,
            path_parameters=parameters or None,
        )

    def _present_origin(self, headers: dict[str, str]) -> None:
        """``host``, ``x-forwarded-proto`` and ``x-forwarded-port`` as API Gateway presents them: where the provider
        sent the request (the public URL, else what a proxy in front says, else this server)."""
        proto = _first(headers.get("x-forwarded-proto", "")).lower()
        forwarded_host = _first(headers.get("x-forwarded-host", ""))
        if self.public is not None:
            proto, host = self.public.scheme, self.public.netloc
            port = str(self.public.port or DEFAULT_PORTS[proto])
        elif proto in DEFAULT_PORTS or forwarded_host:
            proto = proto if proto in DEFAULT_PORTS else "http"
            host = forwarded_host or headers.get("host", "")
            port = _first(headers.get("x-forwarded-port", "")) or str(DEFAULT_PORTS[proto])
        else:
            proto, host, port = "http", headers.get("host", ""), str(self.port)
        if host:
            headers["host"] = host
        headers["x-forwarded-proto"] = proto
        headers["x-forwarded-port"] = port

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
            disable_nagle_algorithm = True  # headers and body are two writes: don't let the body wait for an ACK

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the console reports instead)
                pass

            def do_ANY(self) -> None:  # noqa: N802
                api._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_ANY  # noqa: N815

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        raw_path = request.path.partition("?")[0]
        handler = self.mounted(raw_path)
        if handler is not None:
            try:
                handler(request)
            except Exception as error:  # noqa: BLE001 (the inbox's bug: answered 500, printed, the gateway goes on)
                traceback.print_exc(file=sys.stderr)
                request.close_connection = True
                message = json.dumps({"message": f"inbox error: {type(error).__name__}"}).encode("utf-8")
                _answer(request, 500, {"content-type": "application/json"}, message)
            return
        found = self.route_for(request.command, raw_path)
        route = found[0] if found else None
        exchange = Exchange(
            method=request.command,
            path=raw_path,
            route_key=route.route_key if route else None,
            function=route.function if route else None,
            status=0,
            request_id="",
            source_ip=request.client_address[0],
            duration_ms=0.0,
        )
        try:
            self._exchange(request, found, exchange)
        except Exception as error:  # noqa: BLE001 (our bug or the invoker's: API Gateway answers 500, never hangs up)
            exchange.error = {"errorType": type(error).__name__, "errorMessage": str(error)}
            if exchange.status == 0:  # no answer sent yet
                request._headers_buffer = []  # type: ignore[attr-defined]  # drop a half-written answer
                request.close_connection = True  # the request may not have been read to its end
                _answer(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                exchange.status = 500
        exchange.duration_ms = (time.perf_counter() - started) * 1000
        if self.on_exchange is not None:
            try:
                self.on_exchange(exchange)
            except Exception:  # noqa: BLE001 (the console's bug must not close the client's connection)
                traceback.print_exc(file=sys.stderr)

    def _exchange(
        self, request: BaseHTTPRequestHandler, found: tuple[Route, dict[str, str]] | None, exchange: Exchange
    ) -> None:
        try:
            body = _read_body(request)
        except BadRequest:
            request.close_connection = True
            _answer(request, 400, {"content-type": "application/json"}, b'{"message":"Bad Request"}')
            exchange.status = 400
            return
        if body is None:
            _answer(request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            exchange.status = 413
        elif found is None:
            _answer(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            exchange.status = 404
        else:
            exchange.request_headers = list(request.headers.items())
            exchange.request_body = body
            exchange.query = request.path.partition("?")[2]
            event = self.event_for(request, found[0], found[1], body)
            exchange.request_id = event["requestContext"]["requestId"]
            invocation = self.invoke(found[0].function, event)
            status, headers, cookies, payload = _response(invocation)
            headers["apigw-requestid"] = exchange.request_id
            exchange.error, exchange.response_body = invocation.error, payload
            exchange.invocation_id = invocation.request_id
            _answer(request, status, headers, payload, cookies)
            exchange.status = status


def _read_body(request: BaseHTTPRequestHandler) -> bytes | None:
    """The request body (Content-Length or chunked); None when it is over the payload limit. Raises
    :class:`BadRequest` when its length cannot be read."""
    try:
        return _read_body_unchecked(request)
    except ValueError as error:
        raise BadRequest(str(error)) from None


def _read_body_unchecked(request: BaseHTTPRequestHandler) -> bytes | None:
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        chunks, total = [], 0
        while True:
            size = int(request.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while request.rfile.readline().strip():  # trailers
                    pass
                break
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
            total += size
            if total > MAX_PAYLOAD_BYTES:
                request.close_connection = True
                return None
        return b"".join(chunks)
    length = int(request.headers.get("content-length") or 0)
    if length < 0:
        raise ValueError("negative Content-Length")
    if length > MAX_PAYLOAD_BYTES:
        request.close_connection = True
        return None
    return request.rfile.read(length) if length else b""


def _response(invocation: Any) -> tuple[int, dict[str, str], list[str], bytes]:
    """HTTP API's reading of a payload format 2.0 answer."""
    if not invocation.ok:
        return 500, {"content-type": "application/json"}, [], b'{"message":"Internal Server Error"}'
    result = invocation.result
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, [], json.dumps(result).encode("utf-8")
    try:
        status = int(result["statusCode"])
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        cookies = [str(c) for c in result.get("cookies") or []]
        for text in (*headers, *headers.values(), *cookies):
            text.encode("latin-1")  # what HTTP/1.1 can carry; anything else would fail half-way through the answer
        body = result.get("body")
        if body is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(body)
        else:
            payload = str(body).encode("utf-8")
    except (TypeError, ValueError):  # a malformed answer: API Gateway reports an integration failure
        return 500, {"content-type": "application/json"}, [], b'{"message":"Internal Server Error"}'
    return status, headers, cookies, payload


def _answer(
    request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, cookies: Iterable[str] = ()
) -> None:
    try:
        request.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        for cookie in cookies:
            request.send_header("set-cookie", cookie)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
    except OSError:  # the client went away (reset, broken pipe, timeout)
        request.close_connection = True
