"""Receiver cold start: a fresh python3.13 process that imports the receiver and serves one request, against two
processes run the way Lambda runs them: a baseline that imports boto3 and creates an SQS client, and the floor, which
does what any receiver must do on its first request (import boto3, GetSecretValue, HMAC-SHA256, json.loads,
SendMessage).

    .venv/bin/python -m bench.receiver_cold_start [--runs N] [--python PATH] [--build-dir DIR] [--variants abc]

Build (once per run, in a temp dir unless --build-dir): an x86_64 copy of the layer made with the 3.13 interpreter,
``pip install --no-compile --target <stage> -r layers/gateway/requirements.txt boto3==<pin>`` (boto3 pinned as in
requirements-dev.txt: Lambda's runtime ships its own boto3, and both processes import it, so its import counts on
both sides), plus a second stage with aws-xray-sdk for the Tracer variant; then ``webhook_gateway`` is copied in.
Variants, each a separate tree that the baseline *and* the receiver import from, so boto3's .pyc treatment always
matches on both sides:

  a  timestamp .pyc compiled, then every file's mtime set to 1980-01-01 (what a zip with 1980 timestamps unpacks
     to): the recorded source mtime never matches, every module is compiled from source on every cold start.
  b  ``compileall --invalidation-mode unchecked-hash`` (what the shipped layer is meant to carry).
  c  b + aws-xray-sdk installed, and the receiver process runs ``from aws_lambda_powertools import Tracer; Tracer()``
     before importing the handler (Tracer enabled: LAMBDA_TASK_ROOT and _X_AMZN_TRACE_ID are set as in Lambda, so
     it patches botocore and the first request records X-Ray subsegments, sent by UDP to 127.0.0.1:2000).

Lambda-like process: the real python3.13 binary (not a pyenv shim), ``-s``, PYTHONDONTWRITEBYTECODE=1, a minimal
environment (no AWS config files), PYTHONPATH = <task dir>:<layer>/python, code dirs made read-only; the function
code (receiver_app.py) is shipped without .pyc. The process builds the receiver from env (PROVIDER=github, ...) and
handles one signed GitHub event against a moto server started once for the whole benchmark (127.0.0.1, free port;
AWS_ENDPOINT_URL points there), so the first request's GetSecretValue and SendMessage are real HTTP calls.

The floor process, from the same tree: ``import boto3`` (init), then, as its first request, a Secrets Manager client
and GetSecretValue, HMAC-SHA256 of the event's body + ``hmac.compare_digest`` with its X-Hub-Signature-256, a
``json.loads`` of the body, an SQS client and SendMessage of the body, against the same moto server. No Powertools,
no pydantic, no webhook_gateway: whatever the receiver costs above it is what our design adds.

Timing: the parent reads CLOCK_MONOTONIC before spawning; the child stamps the same clock at the top of its script,
after its imports, and after its response. "spawn -> response" (the headline number, interpreter start included,
exit excluded) for the receiver is compared with "spawn -> client ready" for the baseline and "spawn -> response" for
the floor. Each round runs the variants in a shuffled order, and each variant's processes back to back (random
order), after discarded warm-up rounds. Reported: medians, the ratio of the medians, and the median of the per-round
receiver/baseline and receiver/floor ratios ("paired"), which cancel load drifts from other jobs on the machine.
Targets: variant b's paired ratio <= 1.5x the baseline, and <= 1.3x the floor (stretch 1.15x).
A last step times the shipped variant's cold start step by step in one process (--breakdown-runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.receiver_common import (
    BUCKET,
    LAMBDA_ENV,
    LAYER_DIR,
    QUEUE_NAME,
    RECEIVER_DIR,
    ROOT,
    SECRET_ID,
    fmt_ms,
    median,
    quartiles,
    table,
    use_repo_sources,
)

use_repo_sources()

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip entry can carry
TARGET_RATIO = 1.5
FLOOR_TARGET, FLOOR_STRETCH = 1.3, 1.15
DEFAULT_XRAY_VERSION = "2.15.0"

BASELINE_SCRIPT = """\
import time
T0 = time.clock_gettime(time.CLOCK_MONOTONIC)
import json, os, sys
import boto3
client = boto3.client("sqs")
T1 = time.clock_gettime(time.CLOCK_MONOTONIC)
CPU = time.process_time()
print("BENCH " + json.dumps({"t0": T0, "t_init": T1, "t_response": T1, "cpu": CPU, "status": None,
                             "boto3": sys.modules["boto3"].__file__}), flush=True)
"""

# What any receiver must do on its first request, nothing more: the clients are created on first use, as the
# receiver does, so "init" is the boto3 import and "first request" the rest.
FLOOR_SCRIPT = """\
import time
T0 = time.clock_gettime(time.CLOCK_MONOTONIC)
import base64, hashlib, hmac, json, os, sys
import boto3
T1 = time.clock_gettime(time.CLOCK_MONOTONIC)
with open(os.environ["BENCH_EVENT"], "rb") as file:
    event = json.loads(file.read())
T2 = time.clock_gettime(time.CLOCK_MONOTONIC)
secrets = boto3.client("secretsmanager")
secret = secrets.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"]
body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode("utf-8")
expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
if not hmac.compare_digest(expected, event["headers"]["x-hub-signature-256"]):
    raise SystemExit("floor: signature mismatch")
json.loads(body)
sqs = boto3.client("sqs")
sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=body.decode("utf-8"))
T3 = time.clock_gettime(time.CLOCK_MONOTONIC)
CPU = time.process_time()
print("BENCH " + json.dumps({"t0": T0, "t_init": T1, "t_event": T2, "t_response": T3, "cpu": CPU, "status": 202,
                             "boto3": sys.modules["boto3"].__file__}), flush=True)
"""

RECEIVER_SCRIPT = """\
import time
T0 = time.clock_gettime(time.CLOCK_MONOTONIC)
import json, os, sys
if os.environ.get("BENCH_TRACER") == "1":
    from aws_lambda_powertools import Tracer
    Tracer()
import receiver_app
T1 = time.clock_gettime(time.CLOCK_MONOTONIC)
with open(os.environ["BENCH_EVENT"], "rb") as file:
    event = json.loads(file.read())


class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self):
        return 10_000


T2 = time.clock_gettime(time.CLOCK_MONOTONIC)
response = receiver_app.handler(event, Context())
T3 = time.clock_gettime(time.CLOCK_MONOTONIC)
CPU = time.process_time()
print("BENCH " + json.dumps({"t0": T0, "t_init": T1, "t_event": T2, "t_response": T3, "cpu": CPU,
                             "status": response["statusCode"], "boto3": sys.modules["boto3"].__file__,
                             "xray": "aws_xray_sdk" in sys.modules}), flush=True)
"""


# Where the shipped receiver's cold start goes, step by step in one process (layer b); steps in the order they happen
# in the real process, each timed alone. The private attributes only let the two lazily created clients be timed apart
# from the first request; if they ever change, those steps fold into "first request".
BREAKDOWN_SCRIPT = """\
import time
c = time.perf_counter
t0 = c()
import json, os, sys
steps = []
def step(name, start):
    steps.append([name, c() - start])
# receiver_app's own first lines run before any import below in the real process: mirror what they set.
import importlib.util
if 'os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS"' in open(importlib.util.find_spec("receiver_app").origin).read():
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
t = c(); import boto3; step("import boto3 (botocore, s3transfer, urllib3)", t)
t = c(); from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator; step(
    "import pydantic (BaseModel & co)", t)
t = c(); import aws_lambda_powertools, aws_lambda_powertools.metrics; step(
    "import aws_lambda_powertools (package: Logger, Metrics, Tracer class)", t)
t = c(); import webhook_gateway.verifiers.base; step("import webhook_gateway.verifiers.base (dataclasses, StrEnum)", t)
t = c(); import webhook_gateway.envelope; step("import webhook_gateway.envelope (pydantic builds BodyRef, Envelope)", t)
t = c(); import webhook_gateway.settings; step("import webhook_gateway.settings (pydantic builds ReceiverSettings)", t)
t = c(); import receiver_app; step("import receiver_app + the rest of webhook_gateway", t)
with open(os.environ["BENCH_EVENT"], "rb") as file:
    event = json.loads(file.read())
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 10_000
t = c(); receiver = receiver_app.receiver(); step("build receiver (settings from env, provider)", t)
try:
    t = c(); receiver.secret.client; step("1st boto3 client (secretsmanager; baseline has one too)", t)
    t = c(); receiver.sender.sqs; step("2nd boto3 client (sqs)", t)
except AttributeError:
    pass
t = c(); response = receiver_app.handler(event, Context()); step(
    "first request: GetSecretValue + SendMessage (moto) + handler", t)
assert response["statusCode"] == 202, response
print("BENCH " + json.dumps(steps), flush=True)
"""


@dataclass(frozen=True)
class Kind:
    variant: str  # a, b, c
    role: str  # baseline, floor or receiver
    tracer: bool = False

    @property
    def name(self) -> str:
        return f"{self.variant}:{self.role}" + ("+Tracer" if self.tracer else "")


@dataclass
class Sample:
    spawn_to_main: float
    init: float
    request: float
    spawn_to_response: float
    spawn_to_exit: float
    cpu: float  # the child's user + system CPU from its start to its response (time.process_time())


@dataclass
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)


VARIANT_TEXT = {
    "a": "no valid .pyc (timestamp .pyc + 1980 mtimes)",
    "b": "unchecked-hash .pyc (shipped)",
    "c": "unchecked-hash .pyc + Tracer()",
    "x": "(b) with webhook_gateway + receiver_app from --compare-source",
}


# --------------------------------------------------------------------------------------------------------------------
# Interpreter and build
# --------------------------------------------------------------------------------------------------------------------


def find_python313(explicit: str | None) -> str:
    """The real python3.13 binary: a pyenv shim is a shell script whose own start-up would be measured."""
    attempts = [([explicit], {})] if explicit else [(["python3.13"], {}), (["python3.13"], {"PYENV_VERSION": "3.13.0"})]
    for command, extra in attempts:
        try:
            out = subprocess.run(
                [*command, "-c", "import sys; print(sys.executable); print(sys.version_info[:2])"],
                capture_output=True, text=True, env={**os.environ, **extra}, check=True, timeout=60,
            ).stdout.split("\n")
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
        if out[1].strip() == "(3, 13)":
            return out[0].strip()
    raise SystemExit("python3.13 not found: pass --python /path/to/python3.13 (Lambda's runtime is python3.13)")


def pinned(requirement_file: Path, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}==([^\s#]+)", requirement_file.read_text(), re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def xray_version() -> str:
    try:
        from importlib.metadata import version

        return version("aws-xray-sdk")
    except Exception:
        return DEFAULT_XRAY_VERSION


def run(command: list[str], **kwargs) -> None:
    subprocess.run(command, check=True, **kwargs)


def pip_stage(python: str, target: Path, packages: list[str], log) -> None:
    """One pip resolution into ``target`` (no .pyc: each variant decides), reused across runs when unchanged."""
    requirements = (LAYER_DIR / "requirements.txt").read_text()
    key = hashlib.sha256(json.dumps([python, requirements, packages]).encode()).hexdigest()
    stamp = target / ".bench-stamp"
    if stamp.exists() and stamp.read_text() == key:
        log(f"reusing {target}")
        return
    shutil.rmtree(target, ignore_errors=True)
    log(f"pip install into {target}: -r layers/gateway/requirements.txt {' '.join(packages)}")
    process = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-compile", "--only-binary=:all:",
         "--root-user-action=ignore", "--target", str(target), "-r", str(LAYER_DIR / "requirements.txt"), *packages],
        capture_output=True, text=True,
    )
    if process.returncode != 0:
        raise SystemExit(f"pip install failed ({process.returncode}):\n{process.stdout}\n{process.stderr}")
    stamp.write_text(key)


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".bench-stamp", "bin"))


def set_writable(path: Path, writable: bool) -> None:
    for directory, dirs, files in os.walk(path):
        for name in [*dirs, *files, "."]:
            item = Path(directory, name)
            mode = item.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            new = mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
            os.chmod(item, new)


def build(python: str, work: Path, boto3_pin: str, xray_pin: str, log, variants: str = "abc",
          alternate: Path | None = None) -> dict[str, Path]:
    """Layer trees by variant, and ``work/task`` with receiver_app.py. ``alternate``: a directory holding
    ``webhook_gateway/`` and ``receiver_app.py``, built as variant x (b's treatment) with its own ``work/task-x``."""
    stage_base, stage_xray = work / "stage-base", work / "stage-xray"
    pip_stage(python, stage_base, [f"boto3=={boto3_pin}"], log)
    if "c" in variants:
        pip_stage(python, stage_xray, [f"boto3=={boto3_pin}", f"aws-xray-sdk=={xray_pin}"], log)

    layers: dict[str, Path] = {}
    builds = [("a", stage_base, LAYER_DIR), ("b", stage_base, LAYER_DIR), ("c", stage_xray, LAYER_DIR)]
    if alternate is not None:
        builds.append(("x", stage_base, alternate))
    for variant, stage, sources in builds:
        if variant not in variants and variant != "x":
            continue
        root = work / f"layer-{variant}"
        if root.exists():
            set_writable(root, True)
            shutil.rmtree(root)
        site = root / "python"
        copy_tree(stage, site)
        copy_tree(sources / "webhook_gateway", site / "webhook_gateway")
        mode = "timestamp" if variant == "a" else "unchecked-hash"
        log(f"layer {variant}: compileall --invalidation-mode {mode}")
        run([python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", mode, str(site)],
            stdout=subprocess.DEVNULL)
        if variant == "a":
            for directory, _, files in os.walk(root):
                for name in files:
                    os.utime(Path(directory, name), (ZIP_EPOCH, ZIP_EPOCH))
        set_writable(root, False)
        layers[variant] = root

    for task, function_dir in ((work / "task", RECEIVER_DIR), (work / "task-x", alternate)):
        if function_dir is None:
            continue
        if task.exists():
            set_writable(task, True)
            shutil.rmtree(task)
        task.mkdir()
        shutil.copy2(function_dir / "receiver_app.py", task / "receiver_app.py")
        set_writable(task, False)
    return layers


def count_bytecode(paths: list[Path]) -> int:
    return sum(1 for path in paths for _ in path.rglob("*.pyc"))


# --------------------------------------------------------------------------------------------------------------------
# Moto server and the child processes
# --------------------------------------------------------------------------------------------------------------------


def start_moto() -> tuple[object, str]:
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def create_resources(endpoint: str) -> str:
    import boto3

    from tools.make_events import SAMPLE_SECRETS

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    sqs = session.client("sqs", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
    s3.create_bucket(Bucket=BUCKET)
    secrets.create_secret(Name=SECRET_ID, SecretString=SAMPLE_SECRETS["github"])
    return url


def child_env(kind: Kind, layers: dict[str, Path], task: Path, endpoint: str, queue_url: str, event: Path) -> dict:
    if kind.variant == "x":
        task = task.with_name("task-x")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{task}:{layers[kind.variant] / 'python'}",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_ENDPOINT_URL": endpoint,
        "QUEUE_URL": queue_url,
        "BENCH_EVENT": str(event),
        **LAMBDA_ENV,
    }
    if kind.tracer:
        env["BENCH_TRACER"] = "1"
    return env


def spawn(python: str, script: Path, env: dict, extra_flags: tuple[str, ...] = ()) -> tuple[float, float, str, str]:
    clock = time.CLOCK_MONOTONIC
    start = time.clock_gettime(clock)
    process = subprocess.run([python, "-s", *extra_flags, str(script)], env=env, capture_output=True, text=True,
                             timeout=120, cwd="/")
    end = time.clock_gettime(clock)
    if process.returncode != 0:
        raise RuntimeError(f"{script.name} exited {process.returncode}:\n{process.stderr[-3000:]}")
    return start, end, process.stdout, process.stderr


def measure_once(python: str, kind: Kind, scripts: dict[str, Path], env: dict) -> tuple[Sample, dict]:
    start, end, stdout, _ = spawn(python, scripts[kind.role], env)
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH ")]
    if not lines:
        raise RuntimeError(f"{kind.name}: no BENCH line in output:\n{stdout[-2000:]}")
    stamps = json.loads(lines[-1][6:])
    if kind.role == "receiver" and stamps["status"] != 202:
        raise RuntimeError(f"{kind.name}: the receiver answered {stamps['status']}:\n{stdout[-2000:]}")
    request = stamps["t_response"] - stamps.get("t_event", stamps["t_response"])
    return (
        Sample(
            spawn_to_main=stamps["t0"] - start,
            init=stamps["t_init"] - stamps["t0"],
            request=request,
            spawn_to_response=stamps["t_response"] - start,
            spawn_to_exit=end - start,
            cpu=stamps["cpu"],
        ),
        stamps,
    )


def bytecode_check(python: str, kind: Kind, scripts: dict[str, Path], env: dict, layer: Path) -> tuple[int, int]:
    """One untimed ``python -v`` run: how many modules of the layer tree came from .pyc vs were compiled."""
    _, _, _, stderr = spawn(python, scripts[kind.role], env, ("-v",))
    prefix = str(layer)
    from_pyc = from_source = 0
    for line in stderr.splitlines():
        match = re.match(r"# code object from '?([^']+?)'?$", line)
        if not match or not match.group(1).startswith(prefix):
            continue
        if match.group(1).endswith(".pyc"):
            from_pyc += 1
        else:
            from_source += 1
    return from_pyc, from_source


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="measured runs per process kind (default 21, >= 15)")
    parser.add_argument("--warmup", type=int, default=2, help="discarded runs per kind first (default 2)")
    parser.add_argument("--python", help="python3.13 executable (default: python3.13, then pyenv's 3.13.0)")
    parser.add_argument("--build-dir", type=Path, help="keep the build here and reuse its pip stages next time")
    parser.add_argument("--seed", type=int, default=13, help="shuffle seed for the run order")
    parser.add_argument("--breakdown-runs", type=int, default=11, help="step-by-step runs of layer b (default 11)")
    parser.add_argument("--variants", default="abc", help="layer variants to run, a subset of abc (default abc)")
    parser.add_argument("--compare-source", type=Path, metavar="DIR",
                        help="also run a receiver built like (b) from DIR/webhook_gateway and DIR/receiver_app.py "
                             "(variant x, in b's rounds, against b's baseline and floor): an A/B in one run")
    args = parser.parse_args(argv)
    args.variants = sorted(set(args.variants))
    if not args.variants or not set(args.variants) <= set("abc"):
        parser.error("--variants takes a non-empty subset of abc")
    if args.compare_source is not None and "b" not in args.variants:
        parser.error("--compare-source needs variant b")
    args.compare_source = args.compare_source.resolve() if args.compare_source else None
    return args


def log(message: str) -> None:
    print(f"[cold-start] {message}", file=sys.stderr, flush=True)


@dataclass
class Measured:
    """Everything one benchmark run measured, for the report."""

    python: str
    python_version: str
    boto3_pin: str
    xray_pin: str
    endpoint: str
    kinds: list[Kind]
    layers: dict[str, Path]
    checks: dict[str, tuple[int, int]]
    results: Results
    boto3_files: dict[str, str]
    breakdown: dict[str, list[float]]
    bytecode: tuple[int, int]


def process_kinds(args: argparse.Namespace) -> list[Kind]:
    kinds = [
        kind
        for variant in args.variants
        for kind in (Kind(variant, "baseline"), Kind(variant, "floor"),
                     Kind(variant, "receiver", tracer=variant == "c"))
    ]
    if args.compare_source is not None:
        kinds.append(Kind("x", "receiver"))
    return kinds


def write_scripts(work: Path) -> dict[str, Path]:
    scripts = {"baseline": work / "baseline_process.py", "receiver": work / "receiver_process.py",
               "floor": work / "floor_process.py", "breakdown": work / "breakdown_process.py"}
    for role, text in (("baseline", BASELINE_SCRIPT), ("floor", FLOOR_SCRIPT), ("receiver", RECEIVER_SCRIPT),
                       ("breakdown", BREAKDOWN_SCRIPT)):
        scripts[role].write_text(text)
    return scripts


def run_rounds(python: str, kinds: list[Kind], scripts: dict[str, Path], envs: dict[str, dict],
               args: argparse.Namespace) -> tuple[Results, dict[str, str]]:
    log(f"{len(kinds)} process kinds x ({args.warmup} warm-up + {args.runs} runs), interleaved")
    results = Results({kind.name: [] for kind in kinds})
    boto3_files: dict[str, str] = {}
    rng = random.Random(args.seed)
    for round_index in range(args.warmup + args.runs):
        # Variants in a shuffled order; each variant's baseline, floor and receiver back to back, in a random
        # order, so that the paired ratios compare processes that ran a fraction of a second apart.
        variants = sorted({kind.variant for kind in kinds} - {"x"})
        rng.shuffle(variants)
        order = []
        for variant in variants:
            pair = [kind for kind in kinds if kind.variant == variant or (variant, kind.variant) == ("b", "x")]
            rng.shuffle(pair)
            order.extend(pair)
        for kind in order:
            sample, stamps = measure_once(python, kind, scripts, envs[kind.name])
            boto3_files[kind.name] = stamps["boto3"]
            if round_index >= args.warmup:
                results.samples[kind.name].append(sample)
        if (round_index + 1) % 5 == 0:
            log(f"round {round_index + 1}/{args.warmup + args.runs}")
    return results, boto3_files


def run_breakdown(python: str, script: Path, env: dict, runs: int) -> dict[str, list[float]]:
    breakdown: dict[str, list[float]] = {}
    for _ in range(runs):
        _, _, stdout, _ = spawn(python, script, env)
        line = [line for line in stdout.splitlines() if line.startswith("BENCH ")][-1]
        for name, seconds in json.loads(line[6:]):
            breakdown.setdefault(name, []).append(seconds)
    return breakdown


def measure(args: argparse.Namespace, work: Path) -> Measured:
    python = find_python313(args.python)
    boto3_pin = pinned(ROOT / "requirements-dev.txt", "boto3")
    if not boto3_pin:
        raise SystemExit("no boto3==<version> pin in requirements-dev.txt")
    xray_pin = xray_version()
    python_version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                    capture_output=True, text=True, check=True).stdout.strip()
    server = None
    try:
        layers = build(python, work, boto3_pin, xray_pin, log, "".join(args.variants), args.compare_source)
        task = work / "task"
        scripts = write_scripts(work)
        server, endpoint = start_moto()
        queue_url = create_resources(endpoint)
        from tools.make_events import build_event

        event_path = work / "event.json"
        event_path.write_text(json.dumps(build_event("github", "push", seed="cold-start")))

        kinds = process_kinds(args)
        envs = {kind.name: child_env(kind, layers, task, endpoint, queue_url, event_path) for kind in kinds}
        trees = [*layers.values(), task] + ([work / "task-x"] if args.compare_source is not None else [])
        bytecode_before = count_bytecode(trees)

        checks = {kind.name: bytecode_check(python, kind, scripts, envs[kind.name], layers[kind.variant])
                  for kind in kinds}
        if "c" in args.variants:
            _, first = measure_once(python, Kind("c", "receiver", tracer=True), scripts, envs["c:receiver+Tracer"])
            if not first.get("xray"):
                raise RuntimeError("variant c did not import aws_xray_sdk: Tracer() stayed disabled")

        results, boto3_files = run_rounds(python, kinds, scripts, envs, args)
        breakdown = (run_breakdown(python, scripts["breakdown"], envs["b:receiver"], args.breakdown_runs)
                     if "b" in args.variants else {})
        bytecode_after = count_bytecode(trees)
    finally:
        if server is not None:
            server.stop()

    for name, path in boto3_files.items():
        variant = name.split(":")[0]
        if not path.startswith(str(layers[variant])):
            raise RuntimeError(f"{name} imported boto3 from {path}, outside its layer tree")
    return Measured(python, python_version, boto3_pin, xray_pin, endpoint, kinds, layers, checks, results,
                    boto3_files, breakdown, (bytecode_before, bytecode_after))


def signed(seconds: float) -> str:
    return ("+" if seconds >= 0 else "-") + fmt_ms(abs(seconds))


class Report:
    def __init__(self, args: argparse.Namespace, measured: Measured) -> None:
        self.args, self.m = args, measured

    def med(self, name: str, attribute: str) -> float:
        return median([getattr(sample, attribute) for sample in self.m.results.samples[name]])

    def paired(self, subject: str, reference: str, attribute: str = "spawn_to_response") -> float:
        # The same round's processes ran back to back: their ratio cancels slow drifts in machine load.
        return median([
            getattr(r, attribute) / getattr(b, attribute)
            for r, b in zip(self.m.results.samples[subject], self.m.results.samples[reference], strict=True)
        ])

    def header(self) -> None:
        args, m = self.args, self.m
        before, after = m.bytecode
        print("# Receiver: cold start, fresh python3.13 process per run (medians)")
        print()
        print(f"python {m.python_version} ({m.python}), nproc {os.cpu_count()}, boto3 {m.boto3_pin}, "
              f"aws-xray-sdk {m.xray_pin} (variant c)")
        print(f"runs per kind {args.runs} (+{args.warmup} warm-up), variants shuffled per round, pairs back to back; "
              f"moto server {m.endpoint}")
        if args.runs < 15:
            print(f"WARNING: {args.runs} runs per kind; use 15 or more for numbers worth reporting")
        print(f".pyc files in the code trees before/after the runs: {before}/{after} "
              f"({'none written' if before == after else 'CHANGED'})")
        print()

    def processes(self) -> None:
        med = self.med
        what = {
            "baseline": "same tree, boto3 + SQS client only",
            "floor": "same tree, boto3 + GetSecretValue + HMAC + json.loads + SendMessage",
        }
        rows = []
        for kind in self.m.kinds:
            name = kind.name
            q1, q3 = quartiles([sample.spawn_to_response for sample in self.m.results.samples[name]])
            pyc, source = self.m.checks[name]
            rows.append([
                name, VARIANT_TEXT[kind.variant] if kind.role == "receiver" else what[kind.role],
                f"{pyc}/{source}", fmt_ms(med(name, "spawn_to_main")), fmt_ms(med(name, "init")),
                fmt_ms(med(name, "request")) if kind.role != "baseline" else "-",
                fmt_ms(med(name, "spawn_to_response")), f"{fmt_ms(q1)} - {fmt_ms(q3)}",
                fmt_ms(med(name, "spawn_to_exit")), fmt_ms(med(name, "cpu")),
            ])
        print(table(
            ["process", "what", "modules .pyc/compiled", "interpreter start", "imports (init)", "first request",
             "spawn -> response", "IQR", "spawn -> exit", "CPU to response"],
            rows, align="llrrrrrrrr",
        ))
        print()

    def target(self) -> str:
        vs_baseline, vs_floor = self.paired("b:receiver", "b:baseline"), self.paired("b:receiver", "b:floor")
        stretch = "stretch " + ("met" if vs_floor <= FLOOR_STRETCH else "missed")
        return (f"baseline <= {TARGET_RATIO}x: {'MET' if vs_baseline <= TARGET_RATIO else 'MISSED'}; "
                f"floor <= {FLOOR_TARGET}x: {'MET' if vs_floor <= FLOOR_TARGET else 'MISSED'} ({stretch})")

    def ratios(self) -> None:
        med, paired = self.med, self.paired
        rows = []
        for variant in [*self.args.variants, *(["x"] if self.args.compare_source is not None else [])]:
            receiver = f"{variant}:receiver" + ("+Tracer" if variant == "c" else "")
            reference = "b" if variant == "x" else variant
            baseline, floor = f"{reference}:baseline", f"{reference}:floor"
            subject, floor_total = med(receiver, "spawn_to_response"), med(floor, "spawn_to_response")
            in_process = (med(receiver, "init") + med(receiver, "request")) / med(baseline, "init")
            rows.append([variant, VARIANT_TEXT[variant], fmt_ms(subject), fmt_ms(med(baseline, "spawn_to_response")),
                         f"{subject / med(baseline, 'spawn_to_response'):.2f}x", f"{paired(receiver, baseline):.2f}x",
                         f"{in_process:.2f}x", fmt_ms(floor_total), f"{subject / floor_total:.2f}x",
                         f"{paired(receiver, floor):.2f}x", signed(subject - floor_total),
                         f"{paired(receiver, floor, 'cpu'):.2f}x", self.target() if variant == "b" else ""])
        print(table(["variant", "layer", "receiver", "baseline", "ratio of medians", "median paired ratio",
                     "in-process ratio", "floor", "floor: ratio of medians", "floor: median paired ratio",
                     "receiver - floor", "floor: CPU paired ratio", "targets (paired ratios)"],
                    rows, align="llrrrrrrrrrrl"))
        print()

    def comparisons(self) -> None:
        med, paired, variants = self.med, self.paired, self.args.variants
        if "a" in variants and "b" in variants:
            a_total, b_total = med("a:receiver", "spawn_to_response"), med("b:receiver", "spawn_to_response")
            print(f"no valid .pyc (a) vs shipped (b): {signed(a_total - b_total)} ({a_total / b_total:.2f}x)")
        if "b" in variants and "c" in variants:
            b_total, c_total = med("b:receiver", "spawn_to_response"), med("c:receiver+Tracer", "spawn_to_response")
            print(f"Tracer (c) vs no Tracer (b): {signed(c_total - b_total)} ({c_total / b_total:.2f}x); "
                  f"imports {signed(med('c:receiver+Tracer', 'init') - med('b:receiver', 'init'))}, "
                  f"first request {signed(med('c:receiver+Tracer', 'request') - med('b:receiver', 'request'))}")
        if self.args.compare_source is not None:
            x_total, b_total = med("x:receiver", "spawn_to_response"), med("b:receiver", "spawn_to_response")
            print(f"current sources (b) vs --compare-source (x): {signed(b_total - x_total)}, paired ratio "
                  f"{paired('b:receiver', 'x:receiver'):.3f}x (CPU {paired('b:receiver', 'x:receiver', 'cpu'):.3f}x)")

    def summary(self) -> None:
        if self.m.breakdown:
            print()
            print(f"Shipped layer (b), one process timed step by step ({self.args.breakdown_runs} runs, medians; the "
                  f"baseline process is import boto3 + 1st client):")
            print()
            print(table(["step", "median"],
                        [[name, fmt_ms(median(values))] for name, values in self.m.breakdown.items()]))
            print()
        if "b" in self.args.variants:
            vs_baseline, vs_floor = self.paired("b:receiver", "b:baseline"), self.paired("b:receiver", "b:floor")
            print(f"TARGET shipped layer (b) <= {TARGET_RATIO}x baseline (median paired ratio): "
                  f"{'MET' if vs_baseline <= TARGET_RATIO else 'MISSED'}")
            print(f"TARGET shipped layer (b) <= {FLOOR_TARGET}x floor (median paired ratio {vs_floor:.2f}x): "
                  f"{'MET' if vs_floor <= FLOOR_TARGET else 'MISSED'}; stretch <= {FLOOR_STRETCH}x: "
                  f"{'met' if vs_floor <= FLOOR_STRETCH else 'missed'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    temporary = None
    if args.build_dir:
        work = args.build_dir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        temporary = tempfile.mkdtemp(prefix="receiver-cold-start-")
        work = Path(temporary)
    try:
        measured = measure(args, work)
    finally:
        if temporary:
            set_writable(work, True)
            shutil.rmtree(work, ignore_errors=True)
    report = Report(args, measured)
    report.header()
    report.processes()
    report.ratios()
    report.comparisons()
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
