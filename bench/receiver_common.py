"""Shared helpers for the receiver benchmarks (bench/receiver_*.py). Benchmarks are not tests: `make bench-receiver`.

Everything here runs in the benchmark process: a Lambda-like environment, a fake LambdaContext, GitHub bodies of an
exact size, stdout silenced at the file-descriptor level (Powertools' Logger keeps its own reference to sys.stdout),
and a plain-text table printer.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "gateway"
RECEIVER_DIR = ROOT / "functions" / "receiver"

QUEUE_NAME = "webhook-queue"
BUCKET = "overflow-bucket"
SECRET_ID = "github-webhook-secret"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# What the Lambda service sets (or the template declares) for a receiver function, minus the per-provider settings.
LAMBDA_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_NAME": "webhook-gateway-GithubReceiverFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/webhook-gateway-GithubReceiverFunction",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef",
    "_X_AMZN_TRACE_ID": "Root=1-6a26d0a9-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
    "POWERTOOLS_SERVICE_NAME": "webhook-gateway",
    "POWERTOOLS_METRICS_NAMESPACE": "WebhookGateway",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PROVIDER": "github",
    "SECRET_ID": SECRET_ID,
    "OVERFLOW_BUCKET": BUCKET,
}


def queue_url(endpoint: str = "https://sqs.us-east-1.amazonaws.com") -> str:
    return f"{endpoint.rstrip('/')}/{ACCOUNT_ID}/{QUEUE_NAME}"


def use_repo_sources() -> None:
    """Import the layer, the receiver function, tools/ and cli/ from this checkout (pytest's pythonpath)."""
    for path in (ROOT, ROOT / "cli", LAYER_DIR, RECEIVER_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def set_lambda_env(**overrides: str) -> None:
    """Lambda-like environment for an in-process receiver; no endpoint or profile inherited from the shell."""
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_DEV"):
        os.environ.pop(key, None)
    os.environ.update(LAMBDA_ENV)
    os.environ.update(overrides)


@dataclass
class LambdaContext:
    function_name: str = "webhook-gateway-GithubReceiverFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:webhook-gateway-GithubReceiverFunction"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/webhook-gateway-GithubReceiverFunction"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def github_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes that looks like a GitHub push: many small nested objects and strings.

    The structure matters for json.loads (and for JSON-escaping when the envelope is serialised), so the padding is
    commit-like objects rather than one long string; a final string field trims the size to the exact byte.
    """

    def commit(index: int) -> dict:
        sha = f"{index:040x}"
        return {
            "id": sha,
            "tree_id": sha[::-1],
            "distinct": True,
            "message": f"Commit {index}: verify signatures at the edge \u2014 na\u00efve retries are safe",
            "timestamp": "2026-11-26T18:42:17+00:00",
            "url": f"https://github.com/octocat/webhook-gateway-demo/commit/{sha}",
            "author": {"name": "Mona Lisa Octocat", "email": "583231+octocat@users.noreply.github.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": [],
            "removed": [],
            "modified": ["functions/receiver/receiver_app.py", "README.md"],
        }

    def encode(document: dict) -> bytes:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    document: dict = {"ref": "refs/heads/main", "before": "0" * 40, "after": "f" * 40, "commits": [], "pad": ""}
    if len(encode(document)) > size:
        raise ValueError(f"cannot build a GitHub body of {size} bytes (minimum {len(encode(document))})")
    # Grow in bulk from the size of one encoded commit (re-encoding after every append is quadratic), then trim.
    while True:
        room = size - len(encode(document))
        per_commit = len(encode(commit(len(document["commits"])))) + 1
        if room < per_commit:
            break
        start = len(document["commits"])
        document["commits"].extend(commit(start + i) for i in range(max(1, room // (per_commit + 8))))
    while len(encode(document)) > size:
        document["commits"].pop()
    document["pad"] = "x" * (size - len(encode(document)))
    body = encode(document)
    assert len(body) == size, (len(body), size)
    return body


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Send fd 1 (EMF metrics, log lines) to /dev/null; the writes still happen, as they do to Lambda's log pipe."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (readable as plain text too). ``align``: one of 'l'/'r' per column."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(str(header))] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(values, widths, align, strict=True)]
        return "| " + " | ".join(padded) + " |"

    dashes = ["-" * (w + 1) + ":" if a == "r" else "-" * (w + 2) for w, a in zip(widths, align, strict=True)]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line([str(h) for h in headers]), rule, *(line(row) for row in cells)])


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.3f} ms"


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def environment_summary() -> Mapping[str, str]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "nproc": str(os.cpu_count()),
    }
