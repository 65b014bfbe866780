"""The local AWS endpoint: moto's server application, on the port ``AWS_ENDPOINT_URL`` names (two processes, see
:class:`Endpoint`: DynamoDB has its own).

It is moto's own WSGI app (what ``moto_server`` runs) behind a small middleware that does three things:

* **DynamoDB and SQS requests run one at a time** (per service). moto's server handles requests on threads, and
  its models are not thread-safe: DynamoDB evaluates a condition and applies the update in two steps (two concurrent
  claims of the same delivery could both succeed, which AWS never allows; the ledger's exactly-once claim relies on
  that atomicity), and SQS's DeleteMessage rebuilds the queue's message list from a snapshot (a message sent
  meanwhile is lost: the reliability test caught one). ReceiveMessage's long polling is done by the endpoint, outside
  the lock.
* **Faults, for the functions only** (tests and benchmarks: ``LocalConfig.faults``): a second port, which the
  functions' ``AWS_ENDPOINT_URL`` points at, answers a configured share of matching calls with an AWS error instead
  of (or, for a lost response, after) passing them to moto: SQS ``SendMessage`` with ``500 InternalError``, DynamoDB
  ``UpdateItem`` with ``400 ProvisionedThroughputExceededException``, in the JSON protocol's shape
  (``x-amzn-ErrorType`` and ``__type``) so that botocore classifies and retries them as it does in AWS. Operators
  (``hookctl``) and the event source mapping use the clean port.
* **An audit of SendMessage** (optional): the delivery ids of every message that reached the queue, so that a test
  can prove a forged delivery was never enqueued. ``GET /_hookctl/stats`` returns it with the fault counts.

Run as ``python -m hookctl.local.endpoint --port 5000 [--functions-port 0] [--faults JSON] [--audit]
[--forward-dynamodb URL]``; it prints one JSON line ``{"port": ..., "functions_port": ...}`` when it listens and stops
when its standard input closes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

STATS_PATH = "/_hookctl/stats"
AUDITED_TARGETS = ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch")


@dataclass
class FaultRule:
    """Answer a share of the calls to ``target`` (an ``X-Amz-Target``, e.g. ``AmazonSQS.SendMessage``) with an error.

    ``probability``: each call independently. ``storm_probability``/``storm_seconds``: a call may start a storm during
    which every call to ``target`` fails (a throttling episode that outlasts the SDK's retries). ``when``: ``before``
    (the call never reaches moto) or ``after`` (it is applied, then its response is lost).
    """

    name: str
    target: str
    status: int = 500
    code: str = "InternalError"
    message: str = "fault injected by hookctl (local endpoint)"
    probability: float = 0.0
    when: str = "before"
    storm_probability: float = 0.0
    storm_seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        rule = cls(**data)
        if rule.when not in ("before", "after"):
            raise ValueError(f"fault {rule.name}: when must be 'before' or 'after'")
        return rule


@dataclass
class _State:
    rules: list[FaultRule]
    rng: random.Random
    audit: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    dynamodb_lock: threading.Lock = field(default_factory=threading.Lock)
    sqs_lock: threading.Lock = field(default_factory=threading.Lock)
    sqs_changed: threading.Condition = field(default_factory=threading.Condition)  # a message may have arrived
    faults: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    # per target: moto's CPU time (the local bottleneck); seconds are floats, a Counter counts ints
    cpu_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    storms_until: dict[str, float] = field(default_factory=dict)
    sent: list[dict[str, str]] = field(default_factory=list)
    forward_dynamodb: str | None = None  # the DynamoDB process's URL (see Endpoint)

    def pick(self, target: str) -> FaultRule | None:
        """The fault to inject into this call, if any (thread-safe, seeded)."""
        with self.lock:
            now = time.monotonic()
            for rule in self.rules:
                if rule.target != target:
                    continue
                if rule.storm_seconds and now < self.storms_until.get(rule.name, 0.0):
                    self.faults[rule.name] += 1
                    return rule
                if rule.storm_probability and self.rng.random() < rule.storm_probability:
                    self.storms_until[rule.name] = now + rule.storm_seconds
                    self.faults[rule.name + ":storms"] += 1
                    self.faults[rule.name] += 1
                    return rule
                if rule.probability and self.rng.random() < rule.probability:
                    self.faults[rule.name] += 1
                    return rule
        return None


def _is_sns(environ: Mapping[str, Any]) -> bool:
    """An SNS request: its SigV4 credential scope names the service (``.../<region>/sns/aws4_request``)."""
    return "/sns/aws4_request" in str(environ.get("HTTP_AUTHORIZATION", ""))


def _error(rule: FaultRule) -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": rule.code, "message": rule.message}).encode("utf-8")
    phrase = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}.get(rule.status, "Error")
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("x-amzn-ErrorType", rule.code),
        ("Content-Length", str(len(body))),
    ]
    return f"{rule.status} {phrase}", headers, body


class Middleware:
    """WSGI middleware in front of moto's application (see the module docstring)."""

    def __init__(self, app: Callable, state: _State, *, faults: bool) -> None:
        self.app = app
        self.state = state
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH:
            return self._stats(start_response)
        began = time.thread_time()
        target = environ.get("HTTP_X_AMZ_TARGET", "") or f"{environ.get('REQUEST_METHOD')} (REST)"
        try:
            return self._call(environ, start_response, target)
        finally:
            if not (self.state.forward_dynamodb and target.startswith("DynamoDB_")):  # the other process counts it
                with self.state.lock:
                    self.state.calls[target] += 1
                    self.state.cpu_seconds[target] += time.thread_time() - began

    def _call(self, environ: dict[str, Any], start_response: Callable, target: str) -> Iterable[bytes]:
        rule = self.state.pick(target) if self.faults else None
        if rule is not None and rule.when == "before":
            status, headers, body = _error(rule)
            start_response(status, headers)
            return [body]
        request_body = b""
        if self.state.audit and target in AUDITED_TARGETS:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request_body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(request_body)
        if target.startswith("DynamoDB_") and self.state.forward_dynamodb:
            status, headers, body = self._forward(environ, self.state.forward_dynamodb)
        elif target.startswith("DynamoDB_"):
            with self.state.dynamodb_lock:
                status, headers, body = self._run(environ)
        elif target == "AmazonSQS.ReceiveMessage":
            status, headers, body = self._receive(environ)
        elif target.startswith("AmazonSQS.") or _is_sns(environ):
            # SNS (query protocol, no target header) delivers to its SQS subscriptions inside the call, through
            # moto's SQS models: the same lock, and a long poll waiting on a subscribed queue wakes up.
            with self.state.sqs_lock:
                status, headers, body = self._run(environ)
            with self.state.sqs_changed:
                self.state.sqs_changed.notify_all()
        else:
            status, headers, body = self._run(environ)
        if request_body and status.startswith("200"):
            self._audit(target, request_body)
        if rule is not None:  # "after": moto applied the call; the caller never hears about it
            status, headers, body = _error(rule)
        start_response(status, headers)
        return [body]

    def _run(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], body

    def _receive(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """ReceiveMessage with the SQS lock held, so without moto's own long polling (it would wait with the lock
        held): the endpoint asks again whenever another SQS call may have added a message (and every 100 ms, for
        messages whose visibility timeout ends) until one arrives or ``WaitTimeSeconds`` has passed."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        deadline = time.monotonic() + float(request.get("WaitTimeSeconds") or 0)
        body = json.dumps({**request, "WaitTimeSeconds": 0}).encode("utf-8")
        while True:
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            with self.state.sqs_lock:
                status, headers, payload = self._run(environ)
            remaining = deadline - time.monotonic()
            if not status.startswith("200") or b'"Messages"' in payload or remaining <= 0:
                return status, headers, payload
            with self.state.sqs_changed:
                self.state.sqs_changed.wait(min(0.1, remaining))

    def _forward(self, environ: dict[str, Any], url: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Pass the request to another endpoint process (one keep-alive connection per thread)."""
        import http.client

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        headers["Content-Length"] = str(len(body))
        path = environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        local = self.__dict__.setdefault("_connections", threading.local())
        for attempt in (1, 2):  # a kept-alive connection the other side closed: reconnect once
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection(url.split("://", 1)[1], timeout=60)
            try:
                connection.request(environ.get("REQUEST_METHOD", "POST"), path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                local.connection = None
                if attempt == 2:
                    raise
                continue
            hop = {"connection", "keep-alive", "transfer-encoding", "content-length"}
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in hop]
            kept.append(("Content-Length", str(len(payload))))
            return f"{response.status} {response.reason}", kept, payload
        raise AssertionError("unreachable")

    def _audit(self, target: str, request_body: bytes) -> None:
        try:
            request = json.loads(request_body)
        except ValueError:
            return
        entries = request.get("Entries", []) if target.endswith("Batch") else [request]
        for entry in entries:
            attributes = entry.get("MessageAttributes") or {}
            with self.state.lock:
                self.state.sent.append(
                    {
                        "queue": str(request.get("QueueUrl", "")).rsplit("/", 1)[-1],
                        "provider": (attributes.get("provider") or {}).get("StringValue", ""),
                        "delivery_id": (attributes.get("delivery_id") or {}).get("StringValue", ""),
                    }
                )

    def _stats(self, start_response: Callable) -> list[bytes]:
        with self.state.lock:
            body = json.dumps(
                {
                    "faults": dict(self.state.faults),
                    "calls": dict(self.state.calls),
                    "cpu_seconds": {k: round(v, 3) for k, v in self.state.cpu_seconds.items()},
                    "sent": list(self.state.sent),
                }
            ).encode("utf-8")
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _speed_up_moto() -> None:
    """Three costs of moto's server that do not change its behaviour, removed (each measured; without them the local
    pipeline is several times slower and slows down further as the queue grows):

    * its dispatcher lists moto's package directory on every request (twice): the list never changes, compute it once;
    * ``unix_time()`` builds two datetimes per call, and SQS calls it for every message of the queue on every send and
      receive (visibility checks): the current time is ``time.time()``;
    * ``ReceiveMessage`` recomputes every queue attribute (three scans of the queue) for each message it returns, only
      to read the retention period: read that attribute directly.
    """
    import datetime

    import moto.backends as backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    epoch = datetime.datetime(1970, 1, 1)

    def unix_time(dt: datetime.datetime | None = None) -> float:
        if dt is None:
            return time.time()
        delta = dt - epoch
        return (delta.days * 86400) + (delta.seconds + (delta.microseconds / 1e6))

    def unix_time_millis(dt: datetime.datetime | None = None) -> float:
        return unix_time(dt) * 1000.0

    import importlib

    for name in ("moto.core.utils", "moto.sqs.models", "moto.dynamodb.models", "moto.dynamodb.models.table",
                 "moto.dynamodb.models.utilities", "moto.s3.models"):
        module = importlib.import_module(name)
        for attribute, replacement in (("unix_time", unix_time), ("unix_time_millis", unix_time_millis)):
            if hasattr(module, attribute):  # each module's own binding (from moto.core.utils import unix_time)
                setattr(module, attribute, replacement)

    from moto.sqs.models import SQSBackend

    def retention_check(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    # mypy flags any assignment to a method; patching this one is the point
    SQSBackend.is_message_valid_based_on_retention_period = retention_check  # type: ignore[method-assign]


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hookctl.local.endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--functions-port", type=int, help="a second port whose calls get the --faults")
    parser.add_argument("--faults", default="", help="JSON: {'seed': n, 'rules': [FaultRule, ...]}")
    parser.add_argument("--audit", action="store_true", help="record the delivery id of every SendMessage")
    parser.add_argument("--forward-dynamodb", metavar="URL", help="pass DynamoDB calls to this endpoint")
    args = parser.parse_args(argv)

    import logging

    from werkzeug.serving import BaseWSGIServer, make_server

    _speed_up_moto()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    config = json.loads(args.faults) if args.faults else {}
    state = _State(
        rules=[FaultRule.from_dict(rule) for rule in config.get("rules", [])],
        rng=random.Random(config.get("seed")),
        audit=args.audit,
        forward_dynamodb=args.forward_dynamodb,
    )
    from werkzeug.serving import WSGIRequestHandler

    class RequestHandler(WSGIRequestHandler):
        # werkzeug writes the headers and the body in two sends: with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, up to 40 ms per call on Linux (AWS answers in one go)
        disable_nagle_algorithm = True

    app = DomainDispatcherApplication(create_backend_app)

    def listen(port: int, faults: bool) -> BaseWSGIServer:
        middleware = Middleware(app, state, faults=faults)
        return make_server(args.host, port, middleware, threaded=True, request_handler=RequestHandler)

    try:
        servers = [listen(args.port, False)]
        if args.functions_port is not None:
            servers.append(listen(args.functions_port, True))
    except OSError as error:
        print(json.dumps({"error": f"cannot listen on {args.host}: {error.strerror or error}"}), flush=True)
        return 1
    for server in servers:
        threading.Thread(target=server.serve_forever, name=f"endpoint-{server.port}", daemon=True).start()
    ready = {"port": servers[0].port, "functions_port": servers[1].port if len(servers) > 1 else None}
    print(json.dumps(ready), flush=True)
    os.dup2(2, 1)  # anything else moto prints goes to the log, never into the pipe nobody reads
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.buffer.read()  # until the runner closes it (or dies)
    for server in servers:
        server.shutdown()
    return 0


class EndpointError(Exception):
    pass


class _Process:
    """One endpoint process, seen from the runner."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        faults: Mapping[str, Any] | None,
        audit: bool,
        forward: str | None,
        log: IO[bytes] | None,
    ) -> None:
        self.host, self.port, self.faults, self.audit, self.forward, self.log = host, port, faults, audit, forward, log
        self.functions_port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float) -> None:
        import hookctl

        command = [sys.executable, "-m", "hookctl.local.endpoint", "--host", self.host, "--port", str(self.port)]
        if self.faults is not None:
            command += ["--functions-port", "0", "--faults", json.dumps(self.faults)]
        if self.audit:
            command.append("--audit")
        if self.forward:
            command += ["--forward-dynamodb", self.forward]
        env = dict(os.environ)
        package_root = str(Path(hookctl.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log or subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the runner, which stops us in order
        )
        line = _readline(self.process.stdout, timeout)
        if not line:
            raise EndpointError("the local AWS endpoint did not start (see .local/logs/endpoint.log)")
        ready = json.loads(line)
        if "error" in ready:
            raise EndpointError(f"{ready['error']} (port {self.port}); choose another with --moto-port")
        self.port = int(ready["port"])
        self.functions_port = ready.get("functions_port")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


class Endpoint:
    """The local AWS endpoint: two moto processes. DynamoDB runs in its own (the ledger's conditional writes are the
    heaviest thing moto does, and one process is one core), every other service in the main one, whose port is the
    endpoint (``AWS_ENDPOINT_URL``) and which passes DynamoDB calls on, so one URL serves everything. The functions
    reach DynamoDB's process directly (``AWS_ENDPOINT_URL_DYNAMODB``, see :meth:`function_environment`)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 5000,
        faults: Mapping[str, Any] | None = None,
        audit: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.faults = dict(faults) if faults else None
        self.audit = audit
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self._main: _Process | None = None
        self._dynamodb: _Process | None = None

    @property
    def client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host

    def _url(self, port: int | None) -> str:
        return f"http://{self.client_host}:{port}"

    @property
    def url(self) -> str:
        """What operators, the event source mapping and the setup use (no faults); every service."""
        assert self._main is not None
        return self._url(self._main.port)

    @property
    def dynamodb_url(self) -> str:
        assert self._dynamodb is not None
        return self._url(self._dynamodb.port)

    @property
    def functions_url(self) -> str:
        """What the functions' ``AWS_ENDPOINT_URL`` points at (the faulty port when faults are configured)."""
        assert self._main is not None
        return self._url(self._main.functions_port or self._main.port)

    def function_environment(self) -> dict[str, str]:
        assert self._dynamodb is not None
        return {
            "AWS_ENDPOINT_URL": self.functions_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self._url(self._dynamodb.functions_port or self._dynamodb.port),
        }

    def start(self, timeout: float = 60.0) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        try:
            self._dynamodb = _Process(
                host=self.host, port=0, faults=self.faults, audit=False, forward=None, log=self._log
            )
            self._dynamodb.start(timeout)
            forward = self._url(self._dynamodb.port)
            self._main = _Process(
                host=self.host, port=self.port, faults=self.faults, audit=self.audit, forward=forward, log=self._log
            )
            self._main.start(timeout)
        except BaseException:
            self.stop()
            raise
        self.port = self._main.port

    def stats(self) -> dict[str, Any]:
        """Calls, moto CPU time and faults per operation (both processes), and the SendMessage audit."""
        merged: dict[str, Any] = {"faults": Counter(), "calls": Counter(), "cpu_seconds": Counter(), "sent": []}
        for url in (self.url, self.dynamodb_url):
            with urllib.request.urlopen(url + STATS_PATH, timeout=30) as response:
                stats = json.loads(response.read())
            for key in ("faults", "calls", "cpu_seconds"):
                merged[key].update(stats.get(key, {}))
            merged["sent"] += stats.get("sent", [])
        return {key: dict(value) if isinstance(value, Counter) else value for key, value in merged.items()}

    def stop(self) -> None:
        for process in (self._main, self._dynamodb):
            if process is not None:
                process.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Endpoint:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline(stream: IO[bytes] | None, timeout: float) -> bytes:
    """One line from a pipe, or b"" after ``timeout`` seconds."""
    if stream is None:
        return b""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


if __name__ == "__main__":
    raise SystemExit(serve())
