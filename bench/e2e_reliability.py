"""Nothing is lost, at scale: the end-to-end reliability run of tests/e2e/ with 20,000 deliveries (not in `make test`).

Same traffic and faults as the test (tests/e2e/reliability.py): 30% of the deliveries sent two or three times, 10%
forged, SendMessage failing or losing its answer, the ledger's UpdateItem throttled (alone and in storms) or losing
its answer, the business handler raising (at random, and always for poison deliveries), consumer instances killed
mid-batch. Prints the figures that docs/reliability.md records and exits 1 if an invariant does not hold.

    make bench-reliability
    .venv/bin/python -m bench.e2e_reliability [--deliveries 20000] [--seed N] [--workdir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.reliability import RunConfig, format_report, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=RunConfig.seed)
    parser.add_argument("--workdir", type=Path, help="where logs and the report go (default: a new temporary dir)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    config = RunConfig(
        deliveries=args.deliveries,
        seed=args.seed,
        progress=not args.no_progress,
        # the backlog grows while 20,000 are sent as fast as the gateway takes them: allow for it
        drain_timeout=max(RunConfig.drain_timeout, args.deliveries * 0.1),
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="e2e-reliability-"))
    report = run(config, workdir)
    (workdir / "report.json").write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
    print(json.dumps(asdict(report), indent=2) if args.json else format_report(report))
    print(f"(logs and report.json in {workdir})", file=sys.stderr)
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
