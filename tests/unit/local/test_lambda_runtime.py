"""Each function instance is its own process with the function's environment, runs one invocation at a time with a
LambdaContext counting down from the timeout, reports errors as Lambda does, and is replaced when it dies."""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hookctl.local.lambda_runtime import FunctionPool, FunctionWorker, WorkerError, function_environment

HANDLER = '''
import json, os, sys, time

print("init", os.environ["GREETING"])


def handler(event, context):
    print(json.dumps({"level": "INFO", "message": "working", "n": event.get("n")}))
    if event.get("raise"):
        raise ValueError("boom")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    return {
        "remaining": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "env": {
            k: os.environ.get(k)
            for k in ("GREETING", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "HOME_SHELL_VAR")
        },
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }
'''


@dataclass(frozen=True)
class Spec:
    code_dir: Path
    logical_id: str = "TestFunction"
    name: str = "stack-TestFunction"
    handler: str = "app.handler"
    layer_dirs: tuple = ()
    timeout: int = 2
    memory_size: int = 256
    environment: dict = field(default_factory=lambda: {"GREETING": "hello"})
    arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stack-TestFunction"


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER))
    return Spec(code_dir=tmp_path)


def make_pool(spec: Spec, lines: list, size: int = 1) -> FunctionPool:
    env = function_environment(spec, endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    return FunctionPool(spec, env, max_instances=size, on_output=lambda worker, line: lines.append((worker.pid, line)))


def test_the_handler_runs_with_the_functions_environment_and_context(spec, monkeypatch):
    monkeypatch.setenv("HOME_SHELL_VAR", "not for the function")
    lines: list = []
    pool = make_pool(spec, lines)
    try:
        first = pool.invoke({"n": 1})
        second = pool.invoke({"n": 2})
    finally:
        pool.close()
    assert first.ok and first.cold_start and not second.cold_start and first.pid == second.pid
    result = first.result
    assert result["env"] == {
        "GREETING": "hello",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_LAMBDA_FUNCTION_NAME": "stack-TestFunction",
        "AWS_REGION": "eu-west-1",
        "HOME_SHELL_VAR": None,  # nothing of the developer's shell leaks in
    }
    assert 1000 < result["remaining"] <= 2000 and result["request_id"] == first.request_id
    assert result["function_name"] == "stack-TestFunction" and result["cwd"] == str(spec.code_dir)
    # Init output once, then each invocation's output, all before its response
    texts = [line for _, line in lines]
    assert texts[0] == "init hello"
    assert texts.index(f"START RequestId: {first.request_id} Version: $LATEST") < texts.index(
        '{"level": "INFO", "message": "working", "n": 1}'
    )


def test_errors_timeouts_and_crashes_are_failed_invocations_and_the_instance_is_replaced(spec):
    lines: list = []
    pool = make_pool(spec, lines)
    try:
        raised = pool.invoke({"raise": True})
        timed_out = pool.invoke({"sleep": 5})
        crashed = pool.invoke({"exit": True})
        again = pool.invoke({"n": 3})
    finally:
        pool.close()
    assert raised.error["errorType"] == "ValueError" and raised.error["errorMessage"] == "boom"
    assert any(line == "[ERROR] ValueError: boom" for _, line in lines)
    assert timed_out.error == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 2.00 seconds"}
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert again.ok and again.cold_start and again.pid not in (raised.pid, timed_out.pid, crashed.pid)
    assert pool.stats.cold_starts == 3 and pool.stats.exits == 2 and pool.stats.errors == 3


def test_a_pool_runs_at_most_max_instances_at_once(spec):
    pool = make_pool(spec, [], size=2)
    results = []
    try:
        threads = [threading.Thread(target=lambda: results.append(pool.invoke({"sleep": 0.5}))) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        pool.close()
    assert all(r.ok for r in results) and len({r.pid for r in results}) == 2
    assert elapsed >= 1.0  # two waves of two


def test_an_import_error_fails_at_init(tmp_path):
    (tmp_path / "app.py").write_text("raise ImportError('missing dependency')\n")
    worker = FunctionWorker(
        Spec(code_dir=tmp_path), function_environment(Spec(code_dir=tmp_path), endpoint_url="", region="us-east-1")
    )
    with pytest.raises(WorkerError, match="Runtime.ImportModuleError"):
        worker.start()


def test_kill_only_hits_the_invocation_it_was_meant_for(spec):
    worker = FunctionWorker(spec, function_environment(spec, endpoint_url="", region="us-east-1"))
    worker.start()
    try:
        assert not worker.kill("test", request_id="not-running")
        timer = threading.Timer(0.3, lambda: worker.kill("test", request_id=worker.current_request))
        timer.start()
        result = worker.invoke({"sleep": 1.5})
        timer.join()
    finally:
        worker.stop()
    assert result.error["errorType"] == "Runtime.ExitError" and "test" in result.error["errorMessage"]
