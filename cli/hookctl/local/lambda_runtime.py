"""Run a function's real handler the way Lambda does: one process per instance, one invocation at a time.

Functions read ``os.environ`` at cold start and keep Powertools singletons per process, so each instance is its own
Python process, started with the function's environment (the template's variables, the local endpoint, fake
credentials and the variables the Lambda runtime sets), its code directory as working directory and its code and
layer directories on ``PYTHONPATH``. The instance imports the handler module once (the init phase) and then handles
invocations, each with a ``LambdaContext`` whose ``get_remaining_time_in_millis`` counts down from the function's
``Timeout``. An invocation that outlives the timeout is stopped by killing the process ("Task timed out"), and a
dead process is replaced by a new one on the next invocation (a new cold start), as Lambda replaces a sandbox.

This file is also the instance's program (``python -P lambda_runtime.py HANDLER ...``, standard library only, so
that nothing of the runner is imported into the function's process). Protocol: the runner writes one JSON request
per line to its standard input; the instance writes the function's output (stdout and stderr, in order) to its
standard output, and after each invocation one line starting with :data:`MARK` holding the JSON response. Because
output and responses share one pipe, every log line of an invocation reaches the runner before its response.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MARK = b"\x1ehookctl-runtime "
LAMBDA_RUNTIME = "AWS_Lambda_python3.13"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
INIT_TIMEOUT_SECONDS = 30.0  # Lambda allows 10 s of init; a cold Python import on a busy laptop may need more


# ==================================================================================================================
# The instance (child process)
# ==================================================================================================================


class LambdaContext:
    """What Lambda passes as ``context`` (the attributes Powertools and handlers read)."""

    def __init__(self, *, function_name: str, memory_mb: int, arn: str, request_id: str, deadline: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _send(message: Mapping[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    data = MARK + json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
    while data:
        data = data[os.write(1, data) :]


def _scale_sdk_backoff(scale: float) -> None:
    """Tests only (``--backoff-scale``): botocore's retry delays times ``scale``, attempts and decisions unchanged."""
    from botocore import retryhandler
    from botocore.retries import standard

    standard_delay = standard.ExponentialBackoff.delay_amount
    legacy_delay = retryhandler.delay_exponential
    standard.ExponentialBackoff.delay_amount = lambda self, context: standard_delay(self, context) * scale
    retryhandler.delay_exponential = lambda **kwargs: legacy_delay(**kwargs) * scale


def _error(exc: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__.tb_next if exc.__traceback__ else None),
    }


def run_instance(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="lambda_runtime.py")
    parser.add_argument("handler")
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--arn", default="")
    parser.add_argument("--backoff-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    os.dup2(1, 2)  # stderr joins stdout: one ordered stream of output, then the response
    if isinstance(sys.stdout, io.TextIOWrapper):  # always, as this program's own stdout (typed as a TextIO)
        sys.stdout.reconfigure(line_buffering=True)  # a line written before a crash still reaches the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops us by closing stdin, or kills us

    started = time.perf_counter()
    try:
        if args.backoff_scale != 1.0:
            _scale_sdk_backoff(args.backoff_scale)
        module_name, _, function_name = args.handler.rpartition(".")
        import importlib

        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # noqa: BLE001 (reported as Lambda does: Runtime.ImportModuleError)
        print(f"[ERROR] Runtime.ImportModuleError: Unable to import module '{args.handler}': {exc}", file=sys.stderr)
        traceback.print_exc()
        _send({"ready": False, "error": {"errorType": "Runtime.ImportModuleError", "errorMessage": str(exc)}})
        return 1
    _send({"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 1)})

    for line in sys.stdin.buffer:
        request = json.loads(line)
        request_id = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        context = LambdaContext(
            function_name=args.function_name,
            memory_mb=args.memory,
            arn=args.arn,
            request_id=request_id,
            deadline=request["deadline"],
        )
        print(f"START RequestId: {request_id} Version: $LATEST")
        began = time.perf_counter()
        response: dict[str, Any] = {"request_id": request_id}
        try:
            result = handler(request["event"], context)
            json.dumps(result)  # Lambda serialises the result: an unserialisable one is an error
            response["result"] = result
        except Exception as exc:  # noqa: BLE001 (the function's error, as Lambda reports it)
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            handler_frames = exc.__traceback__.tb_next if exc.__traceback__ else None  # from the handler's frame on
            traceback.print_exception(type(exc), exc, handler_frames)
            response["error"] = _error(exc, request_id)
        response["duration_ms"] = round((time.perf_counter() - began) * 1000, 2)
        print(f"END RequestId: {request_id}")
        _send(response)
    return 0


# ==================================================================================================================
# The runner's side
# ==================================================================================================================


@dataclass
class Invocation:
    request_id: str
    result: Any = None
    error: dict[str, Any] | None = None  # {"errorType", "errorMessage", ...} as Lambda reports a failed invocation
    duration_ms: float = 0.0
    cold_start: bool = False
    pid: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerError(Exception):
    pass


def function_environment(
    spec: Any,
    *,
    endpoint_url: str,
    region: str,
    extra_paths: tuple[Path, ...] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one instance: the template's variables, then what Lambda's runtime sets, the local
    endpoint (``AWS_ENDPOINT_URL``, which the template declares empty so that it can be overridden) and fake
    credentials. Nothing is inherited from the developer's shell except ``PATH``/``HOME``/``LANG``."""
    paths = [*extra_paths, spec.code_dir, *spec.layer_dirs]
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
    env.update(spec.environment)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **FAKE_CREDENTIALS,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": LAMBDA_RUNTIME,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(path) for path in paths),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra or {})
    return env


class FunctionWorker:
    """One instance (process) of a function."""

    def __init__(
        self,
        spec: Any,
        env: Mapping[str, str],
        *,
        instance: int = 1,
        on_output: Callable[[FunctionWorker, str], None] | None = None,
        backoff_scale: float = 1.0,
    ) -> None:
        self.spec = spec
        self.env = dict(env)
        self.instance = instance
        self.on_output = on_output
        self.backoff_scale = backoff_scale
        self.pid = 0
        self.init_ms = 0.0
        self.invocations = 0
        self.killed_reason: str | None = None
        self.current_request: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"{self.spec.logical_id}#{self.instance}"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None and self.killed_reason is None

    def start(self) -> None:
        self.env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"local/{self.instance}/{uuid.uuid4().hex[:8]}"
        command = [
            sys.executable,
            "-P",  # nothing of the runner's directory on sys.path: the function sees its code and layers only
            str(Path(__file__).resolve()),
            self.spec.handler,
            "--function-name",
            self.spec.name,
            "--memory",
            str(self.spec.memory_size),
            "--arn",
            getattr(self.spec, "arn", "") or "",
        ]
        if self.backoff_scale != 1.0:
            command += ["--backoff-scale", str(self.backoff_scale)]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.spec.code_dir,
            start_new_session=True,
        )
        self.pid = self._process.pid
        threading.Thread(target=self._read, args=(self._process.stdout,), name=f"out-{self.label}", daemon=True).start()
        message = self._wait(INIT_TIMEOUT_SECONDS)
        if message is None or not message.get("ready"):
            error = (message or {}).get("error") or {"errorMessage": "the instance exited during init"}
            self.kill("init failed")
            raise WorkerError(f"{self.spec.logical_id}: {error.get('errorType', 'Init')}: {error.get('errorMessage')}")
        self.init_ms = float(message.get("init_ms", 0.0))

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                if raw.startswith(MARK):
                    self._messages.put(json.loads(raw[len(MARK) :]))
                elif self.on_output is not None:
                    self.on_output(self, raw.decode("utf-8", errors="replace").rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            self._messages.put(None)  # EOF: the process is gone

    def _wait(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            return {"timeout": True}

    def invoke(self, event: Any, *, timeout: float | None = None) -> Invocation:
        """One invocation; a timeout or a dead process is a failed invocation (the process is then gone)."""
        timeout = float(timeout or self.spec.timeout)
        request_id = str(uuid.uuid4())
        with self._lock:
            cold = self.invocations == 0
            self.invocations += 1
            if not self.alive:
                return Invocation(request_id, error=_runtime_error("Runtime.ExitError", "the instance is not running"))
            request = {
                "request_id": request_id,
                "event": event,
                "deadline": time.time() + timeout,
                "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            }
            self.current_request = request_id
            try:
                assert self._process is not None and self._process.stdin is not None
                self._process.stdin.write(json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                self.current_request = None
                return Invocation(request_id, error=_runtime_error("Runtime.ExitError", "the instance is gone"))
            message = self._wait(timeout + 0.5)  # the child measures its own deadline; this is the backstop
            self.current_request = None
            if message is None:
                reason = self.killed_reason or f"exited with status {self._exit_status()}"
                return Invocation(
                    request_id, error=_runtime_error("Runtime.ExitError", f"instance {reason}"), pid=self.pid
                )
            if message.get("timeout"):
                self.kill("timed out")
                error = _runtime_error("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
                return Invocation(request_id, error=error, pid=self.pid)
            return Invocation(
                request_id,
                result=message.get("result"),
                error=message.get("error"),
                duration_ms=float(message.get("duration_ms", 0.0)),
                cold_start=cold,
                pid=self.pid,
            )

    def kill(self, reason: str, *, request_id: str | None = None) -> bool:
        """SIGKILL the process (a crash, a timeout, or a fault injected by the runner). With ``request_id``, only
        if that invocation is still running. Returns whether it was killed."""
        process = self._process
        if process is None or process.poll() is not None:
            return False
        if request_id is not None and self.current_request != request_id:
            return False
        self.killed_reason = reason
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def _exit_status(self) -> int | None:
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def _runtime_error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message}


@dataclass
class PoolStats:
    cold_starts: int = 0
    init_failures: int = 0
    exits: int = 0  # instances that died (crash, kill, timeout)
    invocations: int = 0
    errors: int = 0


@dataclass
class FunctionPool:
    """Up to ``max_instances`` instances of one function, started on demand: an invocation takes an idle instance or
    starts a new one (a cold start) while under the limit, else waits, as Lambda scales a function."""

    spec: Any
    env: Mapping[str, str]
    max_instances: int = 1
    on_output: Callable[[FunctionWorker, str], None] | None = None
    on_exit: Callable[[FunctionWorker], None] | None = None
    backoff_scale: float = 1.0
    stats: PoolStats = field(default_factory=PoolStats)

    def __post_init__(self) -> None:
        self._idle: list[FunctionWorker] = []
        self._all: list[FunctionWorker] = []
        self._starting = 0
        self._serial = 0
        self._closed = False
        self._condition = threading.Condition()

    def acquire(self) -> FunctionWorker:
        with self._condition:
            while True:
                if self._closed:
                    raise WorkerError(f"{self.spec.logical_id}: the runner is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.max_instances:
                    self._starting += 1
                    self._serial += 1
                    instance = self._serial
                    break
                self._condition.wait()
        worker = FunctionWorker(
            self.spec, self.env, instance=instance, on_output=self.on_output, backoff_scale=self.backoff_scale
        )
        try:
            worker.start()
        except WorkerError:
            with self._condition:
                self._starting -= 1
                self.stats.init_failures += 1
                self._condition.notify()
            raise
        with self._condition:
            self._starting -= 1
            self._all.append(worker)
            self.stats.cold_starts += 1
        return worker

    def release(self, worker: FunctionWorker) -> None:
        with self._condition:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                if worker in self._all:
                    self._all.remove(worker)
                self.stats.exits += 1
                if self.on_exit is not None:
                    self.on_exit(worker)
                worker.stop(timeout=0.5)
            self._condition.notify()

    def invoke(self, event: Any) -> Invocation:
        try:
            worker = self.acquire()
        except WorkerError as error:
            self.stats.errors += 1
            return Invocation(str(uuid.uuid4()), error=_runtime_error("Runtime.InitError", str(error)))
        try:
            invocation = worker.invoke(event)
        finally:
            self.release(worker)
        self.record(invocation)
        return invocation

    def record(self, invocation: Invocation) -> None:
        """Count an invocation made on an acquired instance (the poller's path)."""
        with self._condition:
            self.stats.invocations += 1
            if not invocation.ok:
                self.stats.errors += 1

    def prewarm(self) -> None:
        """Start one instance now (a dev server should fail at start-up, not on the first request)."""
        self.release(self.acquire())

    def workers(self) -> list[FunctionWorker]:
        with self._condition:
            return list(self._all)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            workers, self._all, self._idle = list(self._all), [], []
            self._condition.notify_all()
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    raise SystemExit(run_instance(sys.argv[1:]))
