"""Write ``template.yaml`` with its ``Fn::ForEach`` loops expanded (one resource per provider instance), as JSON.

    python -m tools.expand_template [template.yaml] [--out .aws-sam/expanded-template.json] [Name=value ...]

``make lint`` scans this file with checkov and cfn-lint as well as the raw template: checkov does not expand
``Fn::ForEach`` and would otherwise scan nothing inside the loop (docs/template.md). The expansion is
:func:`hookctl.local.language_extensions.expand`, the one the local pipeline and the contract tests read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hookctl.local.language_extensions import expand
from hookctl.local.template import load_yaml

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.expand_template", description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    parser.add_argument("parameters", nargs="*", metavar="Name=value", help="parameter values (default: defaults)")
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.parameters)
    text = json.dumps(expand(load_yaml(args.template), parameters), indent=1) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
