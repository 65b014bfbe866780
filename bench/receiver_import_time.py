"""Receiver cold start import by import: `python3.13 -X importtime` of the receiver's cold path, by package.

    .venv/bin/python -m bench.receiver_import_time [--runs 9] [--build-dir DIR] [--python PATH] [--top 20]
                                                     [--boto3-first]

The process is the cold-start benchmark's receiver process (bench/receiver_cold_start.py), on its shipped layer tree
(b: unchecked-hash .pyc, built the same way, reused with --build-dir): import ``receiver_app``, then one signed GitHub
event against a moto server, so the imports botocore and pydantic make lazily during the first request (client
creation, the first schema use) are counted too. The same cold path with ``-X importtime`` added, nothing else.

Each module's *self* time is attributed to a group: its package (``boto3 stack`` = boto3, botocore, s3transfer,
urllib3, jmespath, dateutil, six; ``pydantic`` = pydantic, pydantic_core, typing_extensions, annotated_types,
typing_inspection; ``aws_lambda_powertools.<subpackage>``; each ``webhook_gateway`` module), and a standard-library
module to the group of the module that imported it first (``importlib.metadata``, for instance, belongs to whoever
needed it first). A module's self time includes the code its body runs: pydantic's schema build for the models a
module defines is in that module's self time. Medians per group over --runs processes.

With --boto3-first the process imports boto3 before the handler, as the floor process of the cold-start benchmark
does: the standard library that boto3 needs is then boto3's, and each other group shows only what it adds over the
floor (the total does not change).

``-X importtime`` itself slows imports down (it times ~500 imports, and the machine is shared), so its totals are
larger than the cold-start benchmark's; the shares are what this is for. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.receiver_cold_start import (
    RECEIVER_SCRIPT,
    Kind,
    build,
    child_env,
    create_resources,
    find_python313,
    pinned,
    set_writable,
    spawn,
    start_moto,
    xray_version,
)
from bench.receiver_common import ROOT, table

BOTO3_STACK = {"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six"}
PYDANTIC = {"pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection"}
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S.*)$")


def parse(stderr: str) -> list[tuple[int, str, int]]:
    """(depth, module, self microseconds) in the order -X importtime prints them (children before parents)."""
    rows = []
    for line in stderr.splitlines():
        match = LINE.match(line)
        if match:
            rows.append((len(match.group(3)) // 2, match.group(4).strip(), int(match.group(1))))
    return rows


def group_of(module: str, stdlib: frozenset[str]) -> str | None:
    """The group of a non-stdlib module, or None for the standard library."""
    top = module.split(".")[0]
    if top in BOTO3_STACK:
        return "boto3 stack (boto3, botocore, s3transfer, urllib3, jmespath, dateutil, six)"
    if top in PYDANTIC:
        return "pydantic (pydantic, pydantic_core, typing_extensions, annotated_types, typing_inspection)"
    if top == "aws_lambda_powertools":
        parts = module.split(".")
        return "aws_lambda_powertools" + (f".{parts[1]}" if len(parts) > 1 else " (package __init__)")
    if top == "webhook_gateway":
        return module
    if top in stdlib or top.startswith("_"):
        return None
    return top


def attribute(rows: list[tuple[int, str, int]], stdlib: frozenset[str]) -> dict[str, list[int]]:
    """group -> [own self us, stdlib self us pulled in, module count]."""
    parents: dict[int, int | None] = {}
    stack: list[tuple[int, int]] = []  # (depth, index), walking from the end: a parent comes before its children
    for index in range(len(rows) - 1, -1, -1):
        depth = rows[index][0]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[index] = stack[-1][1] if stack else None
        stack.append((depth, index))
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for index, (_, module, self_us) in enumerate(rows):
        group = group_of(module, stdlib)
        if group is not None:
            groups[group][0] += self_us
            groups[group][2] += 1
            continue
        owner, parent = None, parents[index]
        while parent is not None and owner is None:
            owner = group_of(rows[parent][1], stdlib)
            parent = parents[parent]
        groups[owner or "standard library (imported by the process script)"][1] += self_us
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="processes (default 9)")
    parser.add_argument("--python", help="python3.13 executable (default: python3.13, then pyenv's 3.13.0)")
    parser.add_argument("--build-dir", type=Path, help="the cold-start benchmark's build dir, reused if present")
    parser.add_argument("--top", type=int, default=20, help="modules listed by self time (default 20)")
    parser.add_argument("--boto3-first", action="store_true",
                        help="import boto3 before the handler: each group then shows what it adds over boto3")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[import-time] {message}", file=sys.stderr, flush=True)

    python = find_python313(args.python)
    stdlib = frozenset(json.loads(subprocess.run(
        [python, "-c", "import json, sys; print(json.dumps(sorted(sys.stdlib_module_names)))"],
        capture_output=True, text=True, check=True).stdout))
    temporary = None
    if args.build_dir:
        work = args.build_dir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        temporary = tempfile.mkdtemp(prefix="receiver-import-time-")
        work = Path(temporary)
    server = None
    per_run: list[dict[str, list[int]]] = []
    modules: dict[str, list[int]] = defaultdict(list)
    try:
        layers = build(python, work, pinned(ROOT / "requirements-dev.txt", "boto3"), xray_version(), log, "b")
        script = work / "receiver_process.py"
        assert RECEIVER_SCRIPT.count("\nimport receiver_app\n") == 1
        script.write_text(RECEIVER_SCRIPT.replace("\nimport receiver_app\n", "\nimport boto3\nimport receiver_app\n")
                          if args.boto3_first else RECEIVER_SCRIPT)
        server, endpoint = start_moto()
        queue_url = create_resources(endpoint)
        from tools.make_events import build_event

        event_path = work / "event.json"
        event_path.write_text(json.dumps(build_event("github", "push", seed="cold-start")))
        env = child_env(Kind("b", "receiver"), layers, work / "task", endpoint, queue_url, event_path)
        spawn(python, script, env)  # warm the page cache
        for run in range(args.runs):
            _, _, stdout, stderr = spawn(python, script, env, ("-X", "importtime"))
            assert '"status": 202' in stdout, stdout
            rows = parse(stderr)
            per_run.append(attribute(rows, stdlib))
            for _, module, self_us in rows:
                modules[module].append(self_us)
            log(f"run {run + 1}/{args.runs}: {len(rows)} imports, {sum(r[2] for r in rows) / 1000:.1f} ms self total")
    finally:
        if server is not None:
            server.stop()
        if temporary:
            set_writable(work, True)
            shutil.rmtree(work, ignore_errors=True)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    names = sorted({name for groups in per_run for name in groups})
    totals = [sum(own + pulled for own, pulled, _ in groups.values()) for groups in per_run]
    total = med(totals)
    rows_out = []
    for name in names:
        own = med([groups.get(name, [0, 0, 0])[0] for groups in per_run])
        pulled = med([groups.get(name, [0, 0, 0])[1] for groups in per_run])
        both = med([sum(groups.get(name, [0, 0, 0])[:2]) for groups in per_run])
        count = max(groups.get(name, [0, 0, 0])[2] for groups in per_run)
        rows_out.append((both, [name, count, f"{own / 1000:.1f} ms", f"{pulled / 1000:.1f} ms",
                                f"{both / 1000:.1f} ms", f"{both / total:.0%}"]))
    rows_out.sort(key=lambda row: -row[0])
    order = "boto3 imported first" if args.boto3_first else "imports in the shipped order"
    print(f"# Receiver cold path under -X importtime (python3.13, layer b, {order}), medians of {args.runs} processes")
    print()
    print(f"total self time of all imports: {total / 1000:.1f} ms (median; inflated by -X importtime itself)")
    print()
    print(table(["group", "modules", "own modules (self)", "+ stdlib it imported first", "total", "share"],
                [row for _, row in rows_out], align="lrrrrr"))
    print()
    print(f"Top {args.top} modules by self time (median):")
    print()
    top = sorted(modules.items(), key=lambda item: -med(item[1]))[: args.top]
    print(table(["module", "self"], [[name, f"{med(values) / 1000:.1f} ms"] for name, values in top], align="lr"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
