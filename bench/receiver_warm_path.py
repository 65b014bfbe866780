"""Warm receiver handler time for 1 KiB, 64 KiB and 1 MiB GitHub bodies, against the floor measured in the same run.

    .venv/bin/python -m bench.receiver_warm_path [--seconds S] [--profile SIZE]

Subject: the real ``receiver_app.handler`` (Powertools' Logger and Metrics decorators included) with a fake
LambdaContext and Lambda-like POWERTOOLS_*/AWS_LAMBDA_* variables. The receiver is the one ``build_receiver`` wires,
with only the AWS clients replaced by in-memory fakes (``EnvelopeSender(sqs_client=..., s3_client=...)``,
``RotatingSecret(client=...)``): envelope validation and JSON serialisation, the claim check decision and the
Powertools secret cache lookup are all still measured. stdout (EMF metrics, log lines) goes to /dev/null at the fd
level while timing; the writes still happen.

Floor: what any receiver must do with the same event: utf-8 encode the body (base64-decode when the event says so),
HMAC-SHA256 it, ``hmac.compare_digest`` against the header, ``json.loads`` it.

Timing: subject and floor alternate within one loop (order flipped every round), perf_counter_ns per call, medians.
Target: handler median <= 3x floor median at 64 KiB. ``--profile 65536`` prints a cProfile of the handler.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import dataclasses
import gc
import hashlib
import hmac
import io
import json
import pstats
import sys
import time
from typing import Any

from bench.receiver_common import (
    LambdaContext,
    environment_summary,
    fmt_us,
    github_body,
    median,
    quartiles,
    queue_url,
    set_lambda_env,
    stdout_to_devnull,
    table,
    use_repo_sources,
)

use_repo_sources()
set_lambda_env(QUEUE_URL=queue_url())

import receiver_app  # noqa: E402
from tools.make_events import SAMPLE_SECRETS, build_event  # noqa: E402
from webhook_gateway.queue import EnvelopeSender  # noqa: E402
from webhook_gateway.receiver import build_receiver  # noqa: E402
from webhook_gateway.secrets import RotatingSecret  # noqa: E402

SIZES = (1024, 64 * 1024, 1024 * 1024)
TARGET_SIZE, TARGET_RATIO = 64 * 1024, 3.0
MIN_ROUNDS = 31
SECRET = SAMPLE_SECRETS["github"]


class FakeSQS:
    """send_message keeps its arguments: the envelope is still serialised, nothing leaves the process."""

    def __init__(self) -> None:
        self.sent = 0
        self.last: dict[str, Any] | None = None

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent += 1
        self.last = kwargs
        return {"MessageId": "00000000-0000-4000-8000-000000000000", "MD5OfMessageBody": ""}


class FakeS3:
    def __init__(self) -> None:
        self.put = 0
        self.last: dict[str, Any] | None = None

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.put += 1
        self.last = kwargs
        return {"ETag": '"0"'}


class FakeSecretsManager:
    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if kwargs.get("VersionStage", "AWSCURRENT") != "AWSCURRENT":
            raise LookupError("ResourceNotFoundException")
        return {"Name": kwargs["SecretId"], "SecretString": self.value}


def floor(event: dict[str, Any], key: bytes) -> None:
    raw = event["body"]
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
    received = event["headers"]["x-hub-signature-256"][7:].encode("ascii")
    if not hmac.compare_digest(expected, received):
        raise AssertionError("floor: signature mismatch")
    json.loads(body)


def install_fake_clients() -> tuple[FakeSQS, FakeS3, FakeSecretsManager]:
    """receiver_app.receiver() keeps its @cache; only the clients inside the receiver it builds are fakes."""
    sqs, s3, secrets = FakeSQS(), FakeS3(), FakeSecretsManager(SECRET)

    def build_with_fakes(settings: Any) -> Any:
        real = build_receiver(settings)
        return dataclasses.replace(
            real,
            secret=RotatingSecret(settings.secret_id, max_age_seconds=settings.secret_max_age_seconds, client=secrets),
            sender=EnvelopeSender(
                settings.queue_url,
                settings.overflow_bucket,
                inline_limit_bytes=settings.inline_envelope_limit_bytes,
                sqs_client=sqs,
                s3_client=s3,
            ),
        )

    receiver_app.build_receiver = build_with_fakes
    receiver_app.receiver.cache_clear()
    return sqs, s3, secrets


def measure(events: dict[int, dict[str, Any]], seconds: float) -> dict[int, dict[str, list[float]]]:
    key = SECRET.encode("utf-8")
    context = LambdaContext()
    handler = receiver_app.handler
    results: dict[int, dict[str, list[float]]] = {}
    clock = time.perf_counter_ns
    for size in SIZES:
        event = events[size]
        for _ in range(20):  # warm up: caches, pydantic validators, branch of the claim check
            handler(event, context)
            floor(event, key)
        subject: list[float] = []
        base: list[float] = []
        deadline, index = time.monotonic() + seconds, 0
        while index < MIN_ROUNDS or time.monotonic() < deadline:
            index += 1
            if index % 2:
                start = clock()
                handler(event, context)
                middle = clock()
                floor(event, key)
                end = clock()
                subject.append((middle - start) / 1e9)
                base.append((end - middle) / 1e9)
            else:
                start = clock()
                floor(event, key)
                middle = clock()
                handler(event, context)
                end = clock()
                base.append((middle - start) / 1e9)
                subject.append((end - middle) / 1e9)
        results[size] = {"handler": subject, "floor": base}
    return results


def profile(event: dict[str, Any], rounds: int) -> str:
    context = LambdaContext()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        receiver_app.handler(event, context)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


def label(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="measurement time per body size (default 4)")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="also cProfile the handler for this body size")
    args = parser.parse_args(argv)

    events = {size: build_event("github", "push", body=github_body(size), seed=f"warm-{size}") for size in SIZES}
    sqs, s3, secrets = install_fake_clients()
    context = LambdaContext()
    with stdout_to_devnull():
        checks = {size: receiver_app.handler(events[size], context) for size in SIZES}
    for size, response in checks.items():
        if response["statusCode"] != 202:
            print(f"handler answered {response} for {label(size)}", file=sys.stderr)
            return 2
    if not (sqs.sent == 3 and s3.put == 1 and secrets.calls == 1):
        print(f"unexpected fake traffic: sqs {sqs.sent}, s3 {s3.put}, secrets {secrets.calls}", file=sys.stderr)
        return 2

    gc.collect()
    with stdout_to_devnull():
        results = measure(events, args.seconds)
        profile_text = profile(events[args.profile], 200 if args.profile <= 65536 else 20) if args.profile else ""

    env = environment_summary()
    print("# Receiver: warm handler time vs floor (same process, interleaved, medians)")
    print()
    print(f"python {env['python']} ({env['executable']}), nproc {env['nproc']}")
    print("floor = utf-8 encode + HMAC-SHA256 + hmac.compare_digest + json.loads of the same body")
    print("handler = receiver_app.handler (Logger.inject_lambda_context + Metrics.log_metrics), fake SQS/S3 clients")
    print()
    rows = []
    target_ratio = None
    for size in SIZES:
        handler_times, floor_times = results[size]["handler"], results[size]["floor"]
        h, f = median(handler_times), median(floor_times)
        hq1, hq3 = quartiles(handler_times)
        ratio = h / f
        if size == TARGET_SIZE:
            target_ratio = ratio
        path = "S3 claim check + SQS" if size > 1_000_000 else "inline SQS"
        rows.append(
            [label(size), path, len(handler_times), fmt_us(h), f"{fmt_us(hq1)} - {fmt_us(hq3)}", fmt_us(f),
             fmt_us(h - f), f"{ratio:.2f}x"]
        )
    print(
        table(
            ["body", "path", "rounds", "handler median", "handler IQR", "floor median", "handler - floor", "ratio"],
            rows,
            align="llrrrrrr",
        )
    )
    print()
    met = target_ratio is not None and target_ratio <= TARGET_RATIO
    print(f"TARGET handler <= {TARGET_RATIO:.0f}x floor at {label(TARGET_SIZE)}: "
          f"{'MET' if met else 'MISSED'} ({target_ratio:.2f}x)")
    if profile_text:
        print()
        print(f"## cProfile of the handler, {label(args.profile)} body")
        print(profile_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
