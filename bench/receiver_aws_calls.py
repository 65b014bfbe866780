"""AWS API calls per receiver request, counted with botocore's event hooks under moto's in-process mock_aws.

    .venv/bin/python -m bench.receiver_aws_calls [--warm N]

The hooks are registered on boto3's default session before the receiver creates its clients (the receiver's
RotatingSecret and EnvelopeSender use ``boto3.client(...)``, i.e. that session), so every call any of its clients
makes is seen: ``before-parameter-build`` keeps the API parameters (VersionStage), ``before-call`` counts one API
call, ``before-send`` counts HTTP attempts (retries would show up there), ``after-call`` records the result.
Resources are created through a separate session, so the setup is not counted.

Scenarios follow one receiver's life: cold, warm, forged, oversized, cheap rejections; then the secret cache expiring
(SECRET_MAX_AGE_SECONDS=1 and a short sleep) and a rotation. Exit status: 1 when a warm valid request makes anything
but exactly one call (SendMessage), the target; other mismatches are reported but do not fail the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.receiver_common import (
    BUCKET,
    QUEUE_NAME,
    SECRET_ID,
    LambdaContext,
    environment_summary,
    github_body,
    set_lambda_env,
    stdout_to_devnull,
    table,
    use_repo_sources,
)

use_repo_sources()
set_lambda_env()

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

import receiver_app  # noqa: E402
from tools.make_events import SAMPLE_SECRETS, build_event  # noqa: E402

OLD_SECRET = SAMPLE_SECRETS["github"]
NEW_SECRET = "rotated-github-webhook-secret"
FORGED_SECRET = "an-attacker-guess-at-the-secret"


@dataclass
class Call:
    operation: str
    detail: str = ""
    attempts: int = 0
    outcome: str = ""

    def label(self) -> str:
        text = self.operation + (f"({self.detail})" if self.detail else "")
        return text if self.outcome in ("", "200") else f"{text}->{self.outcome}"


@dataclass
class CallRecorder:
    """botocore event handlers that record every API call made through the session they are registered on."""

    calls: list[Call] = field(default_factory=list)
    _params: dict[str, Any] = field(default_factory=dict)

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.*.*", self._before_parameter_build)
        events.register("before-call.*.*", self._before_call)
        events.register("before-send.*.*", self._before_send)
        events.register("after-call.*.*", self._after_call)

    def _before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params = dict(params)

    def _before_call(self, model: Any, **_: Any) -> None:
        detail = ""
        if model.name == "GetSecretValue":
            detail = self._params.get("VersionStage") or self._params.get("VersionId") or "AWSCURRENT"
        self.calls.append(Call(model.name, detail))

    def _before_send(self, **_: Any) -> None:
        if self.calls:
            self.calls[-1].attempts += 1

    def _after_call(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.calls:
            error = (parsed or {}).get("Error", {}).get("Code")
            self.calls[-1].outcome = error or str(getattr(http_response, "status_code", ""))

    def take(self) -> list[Call]:
        taken, self.calls = self.calls, []
        return taken


@dataclass
class Row:
    scenario: str
    requests: int
    statuses: str
    calls: str
    per_request: str
    expected: str
    ok: bool
    gate: bool = False


@dataclass
class Bench:
    recorder: CallRecorder
    admin: Any  # clients on a separate session: setup and rotation are not counted
    rows: list[Row] = field(default_factory=list)
    warm_ok: bool = True
    api_calls: int = 0
    http_attempts: int = 0

    def fresh_receiver(self, **env: str) -> None:
        """A new execution environment: the Lambda init that receiver_app.receiver() caches runs again."""
        set_lambda_env(QUEUE_URL=self.admin["queue_url"], **env)
        receiver_app.receiver.cache_clear()

    def invoke(self, event: dict[str, Any]) -> tuple[int, list[Call]]:
        self.recorder.take()
        with stdout_to_devnull():
            response = receiver_app.handler(event, LambdaContext())
        return response["statusCode"], self.recorder.take()

    def run(
        self,
        scenario: str,
        events: list[dict[str, Any]],
        expected: list[str],
        *,
        check: Callable[[list[list[str]]], bool] | None = None,
        expected_text: str | None = None,
        gate: bool = False,
    ) -> list[list[Call]]:
        statuses, per_request = [], []
        for event in events:
            status, calls = self.invoke(event)
            statuses.append(status)
            per_request.append(calls)
        labels = [[call.label() for call in calls] for calls in per_request]
        ok = check(labels) if check else all(sorted(item) == sorted(expected) for item in labels)
        counts = [len(calls) for calls in per_request]
        distinct = sorted({" + ".join(item) or "(none)" for item in labels})
        status_text = ", ".join(
            f"{s}x{statuses.count(s)}" if len(events) > 1 else str(s) for s in sorted(set(statuses))
        )
        per_request_text = str(counts[0]) if len(counts) == 1 else f"min {min(counts)} / max {max(counts)}"
        self.rows.append(
            Row(
                scenario=scenario,
                requests=len(events),
                statuses=status_text,
                calls="; ".join(distinct) if len(distinct) <= 3 else f"{len(distinct)} different sequences",
                per_request=per_request_text,
                expected=expected_text or (" + ".join(expected) or "(none)"),
                ok=ok,
                gate=gate,
            )
        )
        if gate and not ok:
            self.warm_ok = False
        self.api_calls += sum(len(calls) for calls in per_request)
        self.http_attempts += sum(call.attempts for calls in per_request for call in calls)
        return per_request


def github_event(*, secret: str = OLD_SECRET, body: bytes | None = None, seed: str = "bench") -> dict[str, Any]:
    return build_event("github", "push", secret=secret, body=body, seed=seed)


# A signature no cached value matches: look up AWSPREVIOUS (absent: never rotated), then re-read AWSCURRENT once.
REFRESH_ON_MISMATCH = ["GetSecretValue(AWSPREVIOUS)->ResourceNotFoundException", "GetSecretValue(AWSCURRENT)"]
# After a rotation a warm environment finds the new AWSCURRENT and refreshes AWSPREVIOUS (now the old value).
ROTATION_PICKUP = ["GetSecretValue(AWSPREVIOUS)", "GetSecretValue(AWSCURRENT)", "GetSecretValue(AWSPREVIOUS)",
                   "SendMessage"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=200, help="warm valid requests (default 200)")
    parser.add_argument("--forged", type=int, default=50, help="forged requests after the first (default 50)")
    args = parser.parse_args(argv)

    valid = github_event()
    forged = github_event(secret=FORGED_SECRET, seed="forged")
    unsigned = github_event()
    for name in ("x-hub-signature-256", "x-hub-signature"):
        unsigned["headers"].pop(name)
    oversized = github_event(body=github_body(1_200_000), seed="oversized")  # > INLINE_ENVELOPE_LIMIT_BYTES
    too_large = github_event(body=github_body(6 * 1024 * 1024), seed="too-large")  # > MAX_BODY_BYTES (5 MiB)

    with mock_aws():
        setup = boto3.session.Session()
        sqs, s3, secrets = (setup.client(name) for name in ("sqs", "s3", "secretsmanager"))
        url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
        s3.create_bucket(Bucket=BUCKET)
        secrets.create_secret(Name=SECRET_ID, SecretString=OLD_SECRET)

        # mock_aws swaps boto3.DEFAULT_SESSION out, so the hooks go on the default session created inside it.
        boto3.setup_default_session()
        recorder = CallRecorder()
        recorder.register(boto3.DEFAULT_SESSION.events)
        bench = Bench(recorder=recorder, admin={"queue_url": url})

        # One execution environment, default settings (SECRET_MAX_AGE_SECONDS=300), secret never rotated.
        bench.fresh_receiver()
        bench.run("cold: first valid delivery", [valid], ["GetSecretValue(AWSCURRENT)", "SendMessage"])
        bench.run(
            "warm: valid deliveries (TARGET)",
            [valid] * args.warm,
            ["SendMessage"],
            gate=True,
            expected_text="exactly SendMessage, every request",
        )
        first_forged = bench.run(
            "forged, secret never rotated: 1st",
            [forged],
            [],
            check=lambda labels: sorted(labels[0]) == sorted(REFRESH_ON_MISMATCH),
            expected_text="AWSPREVIOUS lookup + one AWSCURRENT re-read",
        )
        bench.run(
            "forged, never rotated: next ones",
            [forged] * args.forged,
            [],
            expected_text="(none): absence cached, re-read rate-limited",
        )
        bench.run("warm: valid after forged traffic", [valid] * 10, ["SendMessage"])
        bench.run("oversized body (1.2 MB, warm)", [oversized], ["PutObject", "SendMessage"])
        bench.run("no signature header", [unsigned] * 10, [])
        bench.run("body > MAX_BODY_BYTES (6 MiB)", [too_large], [])

        # Secret cache expiry: a second execution environment with a 1 s max_age, then a pause past it.
        bench.fresh_receiver(SECRET_MAX_AGE_SECONDS="1")
        bench.run("max_age=1s: cold valid", [valid], ["GetSecretValue(AWSCURRENT)", "SendMessage"])
        bench.run("max_age=1s: forged (1st)", [forged], REFRESH_ON_MISMATCH)
        bench.run(
            "max_age=1s: warm valid + forged",
            [valid, forged] * 5,
            [],
            check=lambda labels: all(item == (["SendMessage"] if i % 2 == 0 else []) for i, item in enumerate(labels)),
            expected_text="SendMessage; (none)",
        )
        time.sleep(1.2)
        bench.run("max_age expired: valid", [valid], ["GetSecretValue(AWSCURRENT)", "SendMessage"])
        bench.run("max_age expired: forged", [forged], ["GetSecretValue(AWSPREVIOUS)->ResourceNotFoundException"])
        bench.run("max_age expired: 2nd valid", [valid], ["SendMessage"])

        # Rotation: AWSCURRENT becomes NEW_SECRET, AWSPREVIOUS the old one.
        bench.fresh_receiver()
        bench.run("before rotation: cold valid (old secret)", [valid], ["GetSecretValue(AWSCURRENT)", "SendMessage"])
        secrets.put_secret_value(SecretId=SECRET_ID, SecretString=NEW_SECRET)
        signed_new = github_event(secret=NEW_SECRET, seed="new-secret")
        # The warm environment still holds the old AWSCURRENT: the mismatch makes it re-read the secret once.
        bench.run(
            "rotated, warm env: new-secret delivery",
            [signed_new] * 3,
            [],
            check=lambda labels: sorted(labels[0]) == sorted(ROTATION_PICKUP) and labels[1:] == [["SendMessage"]] * 2,
            expected_text="1st: re-read both stages + SendMessage; then SendMessage",
        )
        bench.fresh_receiver()
        bench.run("rotated, new env: new-secret delivery", [signed_new], ["GetSecretValue(AWSCURRENT)", "SendMessage"])
        bench.run("rotated: old-secret delivery (1st)", [valid], ["GetSecretValue(AWSPREVIOUS)", "SendMessage"])
        bench.run("rotated: old-secret deliveries (next)", [valid] * 10, ["SendMessage"])
        bench.run(
            "rotated: forged (AWSPREVIOUS cached)",
            [forged] * 10,
            [],
            # A mismatch re-reads both stages (a rotation may have moved either label), at most once per 10 s.
            check=lambda labels: sorted(label for item in labels for label in item)
            in ([], ["GetSecretValue(AWSCURRENT)", "GetSecretValue(AWSPREVIOUS)"]),
            expected_text="<= 1 re-read of each stage per 10 s",
        )

    print("# Receiver: AWS API calls per request (botocore before-call hooks, moto mock_aws in-process)")
    print()
    env = environment_summary()
    print(f"python {env['python']} ({env['executable']}), nproc {env['nproc']}, boto3 {boto3.__version__}")
    print()
    print(
        table(
            ["scenario", "requests", "HTTP status", "AWS calls per request", "calls/req", "expected", "verdict"],
            [
                [r.scenario, r.requests, r.statuses, r.calls, r.per_request, r.expected,
                 ("OK" if r.ok else "MISS") + (" (gate)" if r.gate else "")]
                for r in bench.rows
            ],
            align="lrllrll",
        )
    )
    print()
    misses = [r.scenario for r in bench.rows if not r.ok]
    forged_calls = sum(len(calls) for calls in first_forged)
    print(f"forged traffic: {forged_calls} Secrets Manager call(s) for the first forged request, "
          f"then 0 for {args.forged} more (AWSPREVIOUS absence cached for max_age).")
    rotated = next(r for r in bench.rows if r.scenario.startswith("rotated, warm env"))
    print(f"rotation: a warm environment answered [{rotated.statuses}] to deliveries signed with the new AWSCURRENT "
          "(a mismatch re-reads the secret at most once per refresh interval, so no delivery waits for max_age).")
    print(f"retries: {bench.http_attempts} HTTP attempts for {bench.api_calls} API calls "
          f"({'none retried' if bench.http_attempts == bench.api_calls else 'some retried'}).")
    print("expectation misses: " + (", ".join(misses) if misses else "none"))
    print("TARGET warm valid request = exactly 1 call (SendMessage): " + ("MET" if bench.warm_ok else "MISSED"))
    return 0 if bench.warm_ok else 1


if __name__ == "__main__":
    sys.exit(main())
