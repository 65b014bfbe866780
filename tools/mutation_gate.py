"""Mutation-testing gate for the provider verifiers: run mutmut, fail on any mutant the tests miss, unless reviewed.

    python -m tools.mutation_gate              # fresh `mutmut run`, then the gate (what `make mutants` runs)
    python -m tools.mutation_gate --no-run     # only the gate, over the results already in ./mutants

A mutant the verifier tests do not detect (mutmut: survived, no tests, suspicious, ...) passes the gate only when

* it changes nothing but log text: the ``detail`` argument of a ``Rejected(...)`` (its words, ``None`` or left
  out) or the message of a raised exception. Checked mechanically: the mutant's AST equals the original's once those
  arguments are blanked out. ``Rejected.detail`` is only ever logged; the ``Reason`` (status code, metric, response
  body) is never blanked, so a mutant that changes it is not text-only; or
* it is listed in the reviewed allowlist (``tools/mutation_equivalents.toml``) with the reason it is equivalent.
  Entries match on the function and the mutated lines, not on mutmut's number (``__mutmut_<n>``), which shifts
  whenever the function gains or loses a mutation; the number is kept in the file for reading only.

Everything else fails the gate with the mutant's diff and an allowlist entry to review. Killed and timed-out mutants
(a timeout means the tests noticed: the mutant made them hang) count as detected. The summary (score, runtime,
every undetected mutant) is also written to ``mutants/mutation-report.md``. See docs/mutation.md.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = ROOT / "tools" / "mutation_equivalents.toml"
# mutmut 3 names a mutant after its file's path with only a leading "src." stripped, so the layer's package is
# reached through src -> layers/gateway (git-ignored) and mutants are named webhook_gateway.verifiers.<module>....
SRC_LINK = ROOT / "src"
SRC_TARGET = Path("layers") / "gateway"
DETECTED = {"killed", "timeout"}
BLANK = "<detail>"


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's name: webhook_gateway.verifiers.twilio.x_verify__mutmut_12
    status: str
    original: str  # source of the unmutated function
    mutated: str

    @property
    def function(self) -> str:
        """``webhook_gateway.verifiers.twilio.verify`` (methods: ``...base.Rejected.__init__``)."""
        module, _, mangled = self.name.partition("__mutmut_")[0].rpartition(".")
        if mangled.startswith("xǁ"):
            _, class_name, method = mangled.split("ǁ")
            return f"{module}.{class_name}.{method}"
        return f"{module}.{mangled.removeprefix('x_')}"

    @property
    def mutation(self) -> str:
        """The changed lines, ``- old`` / ``+ new``, stripped of indentation: what an allowlist entry matches."""
        lines = difflib.unified_diff(self.original.splitlines(), self.mutated.splitlines(), lineterm="", n=0)
        return "\n".join(
            f"{line[0]} {line[1:].strip()}" for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")
        )


class _BlankLogText(ast.NodeTransformer):
    """Blank what only reaches logs: ``Rejected(reason, <detail>)`` and the messages of raised exceptions."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "Rejected" and node.args:
            node.args = node.args[:1]
            node.keywords = [keyword for keyword in node.keywords if keyword.arg != "detail"]
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        call = node.exc
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.endswith("Error"):
            call.args = [arg for arg in call.args if not _is_text(arg)]
        return node


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str | None))


def is_log_text_only(mutant: Mutant) -> bool:
    try:
        original, mutated = (ast.parse(source) for source in (mutant.original, mutant.mutated))
    except SyntaxError:
        return False
    if ast.dump(original) == ast.dump(mutated):
        return False  # nothing changed that the AST sees: not for this rule to excuse
    return ast.dump(_BlankLogText().visit(original)) == ast.dump(_BlankLogText().visit(mutated))


def load_allowlist(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    allowlist = {}
    for entry in entries:
        missing = {"function", "mutation", "reason"} - entry.keys()
        if missing or not entry["reason"].strip():
            raise SystemExit(f"{path.name}: entry {entry.get('mutant', entry)} lacks {sorted(missing) or ['reason']}")
        allowlist[(entry["function"], entry["mutation"].strip())] = entry
    return allowlist


def ensure_src_link() -> None:
    if SRC_LINK.is_symlink() and Path(os.readlink(SRC_LINK)) == SRC_TARGET:
        return
    if SRC_LINK.exists() or SRC_LINK.is_symlink():
        raise SystemExit(f"{SRC_LINK} exists and is not a symlink to {SRC_TARGET}: mutmut needs that name")
    SRC_LINK.symlink_to(SRC_TARGET, target_is_directory=True)


def run_mutmut(log: Path) -> float:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # a fresh run: no result carried over from other sources
    started = time.monotonic()
    with log.open("w") as out:  # mutmut draws a progress spinner: keep it out of the CI log
        completed = subprocess.run([sys.executable, "-m", "mutmut", "run"], cwd=ROOT, stdout=out, stderr=out)
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"mutmut run failed (exit {completed.returncode}); its output: {log}")
    return elapsed


def read_results() -> list[Mutant]:
    os.chdir(ROOT)  # mutmut reads pyproject.toml and mutants/ relative to the working directory
    import libcst as cst
    from mutmut.mutation import diff_apply
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    mutants = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, exit_code in data.exit_code_by_key.items():
            status = status_by_exit_code[exit_code]
            if status in DETECTED:
                mutants.append(Mutant(name, status, "", ""))
                continue
            functions = diff_apply.read_functions_from_index(name, path)
            if functions is None:
                module = diff_apply.read_mutants_module(path)
                functions = (
                    diff_apply.read_original_function(module, name),
                    diff_apply.read_mutant_function(module, name),
                )
            original, mutated = (cst.Module([function]).code for function in functions)
            mutants.append(Mutant(name, status, original, mutated))
    if not mutants:
        raise SystemExit("no mutmut results under ./mutants: run without --no-run first")
    return mutants


def toml_entry(mutant: Mutant, reason: str = "TODO: why no test can tell this mutant from the original") -> str:
    mutation = mutant.mutation.replace("'''", "' ' '")
    return (
        f'[[equivalent]]\nmutant = "{mutant.name}"\nfunction = "{mutant.function}"\n'
        f"mutation = '''\n{mutation}\n'''\nreason = \"{reason}\"\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-run", action="store_true", help="gate the results already in ./mutants")
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = parser.parse_args(argv)

    ensure_src_link()
    elapsed = None if args.no_run else run_mutmut(ROOT / "mutants-run.log")
    allowlist = load_allowlist(args.allowlist)
    mutants = read_results()

    counts = Counter(mutant.status for mutant in mutants)
    detected = sum(counts[status] for status in DETECTED)
    text_only, allowed, failures, used = [], [], [], set()
    for mutant in mutants:
        if mutant.status in DETECTED:
            continue
        key = (mutant.function, mutant.mutation)
        if key in allowlist:
            allowed.append((mutant, allowlist[key]["reason"]))
            used.add(key)
        elif is_log_text_only(mutant):
            text_only.append(mutant)
        else:
            failures.append(mutant)

    summary = [
        f"mutmut: {len(mutants)} mutants, {detected} detected ({counts['killed']} killed, {counts['timeout']} timeout),"
        f" score {detected}/{len(mutants)} = {100 * detected / len(mutants):.1f}%"
        + (f", `mutmut run` took {elapsed:.0f} s" if elapsed is not None else ""),
        f"undetected: {len(text_only)} change only log text (rule), {len(allowed)} reviewed as equivalent"
        f" ({args.allowlist.name}), {len(failures)} unexplained",
    ]
    write_report(summary, text_only, allowed, failures)
    print("\n".join(summary))
    for key in sorted(allowlist.keys() - used):
        print(f"note: allowlist entry no longer needed (killed or gone): {allowlist[key].get('mutant', key[0])}")
    if failures:
        print(f"\nFAIL: {len(failures)} mutants survive that no test and no reviewed reason explains:\n")
        for mutant in failures:
            print(f"# {mutant.name} [{mutant.status}]\n{mutant.mutation}\n")
        print(f"Kill them with a test, or, once reviewed as equivalent, add to {args.allowlist.name}:\n")
        print("\n".join(toml_entry(mutant) for mutant in failures))
        return 1
    print("OK: every undetected mutant only changes log text or is a reviewed equivalent")
    return 0


def write_report(summary: list[str], text_only: list[Mutant], allowed: list, failures: list[Mutant]) -> None:
    def row(mutant: Mutant, why: str) -> str:
        mutation = "<br>".join(f"`{line}`" for line in mutant.mutation.replace("|", "\\|").splitlines())
        return f"| `{mutant.name.removeprefix('webhook_gateway.verifiers.')}` | {mutation} | {why} |"

    lines = ["# Mutation report", "", *summary, "", "| mutant | mutation | why it survives |", "| --- | --- | --- |"]
    lines += [row(mutant, f"**unexplained** ({mutant.status})") for mutant in failures]
    lines += [row(mutant, reason) for mutant, reason in allowed]
    lines += [row(mutant, "log text only (detail or exception message)") for mutant in text_only]
    (ROOT / "mutants").mkdir(exist_ok=True)
    (ROOT / "mutants" / "mutation-report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
