"""Audit the locked dependencies for known vulnerabilities (``make audit``; run with the pip-audit venv's Python).

What is audited, as ``name==version`` pins:

* ``--locked FILE``: a fully pinned lock (``constraints.txt``). An empty lock falls back to ``--freeze-python``'s
  installed packages (the dev venv the lock would describe), and says so.
* ``--resolve FILE``: a requirements file resolved the way ``sam build`` installs it (``layers/gateway``'s runtime
  pins, for the Lambda platform), so the layer's transitive dependencies are audited too.

How: pip-audit (``--vulnerability-service pypi``, per-release JSON) audits every pin. A pin pip-audit cannot look up
("not found on PyPI": the per-release API is unreachable, as on machines that only reach a PyPI mirror) falls back
to PyPI's project JSON, which lists the vulnerabilities of the *latest* release only: a pin equal to the latest
release is audited that way, any other pin stays **not audited**, and the report says which.

Exit status: 0 every pin audited and none vulnerable; 1 known vulnerabilities (the report lists ids and fixed
versions); 2 some pins could not be audited (``--allow-unaudited`` turns this into a loud warning and 0, for CI on
machines without a vulnerability database).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
OWN_DISTRIBUTIONS = {"aws-webhook-gateway"}
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Finding:
    source: str
    name: str
    version: str
    vulns: list[tuple[str, str]] = field(default_factory=list)  # (id, fixed in)
    unaudited: str = ""  # why it could not be audited
    via: str = "pip-audit"


def pins_of(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match and normalise(match[1]) not in OWN_DISTRIBUTIONS:
            pins[normalise(match[1])] = match[2]
    return pins


def frozen(python: str) -> dict[str, str]:
    output = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    ).stdout
    pins = {normalise(m[1]): m[2] for m in map(PIN.match, output.splitlines()) if m}
    return {name: version for name, version in pins.items() if name not in OWN_DISTRIBUTIONS}


def resolved(requirements: Path, platform: str, python_version: str) -> dict[str, str]:
    """What ``pip install -r requirements`` would install for the Lambda platform (a dry run, nothing installed)."""
    with tempfile.TemporaryDirectory() as target:
        completed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
             "--ignore-installed", "--report", "-", "--requirement", str(requirements), "--target", target,
             "--platform", platform, "--only-binary=:all:", "--python-version", python_version,
             "--implementation", "cp"],
            check=True, capture_output=True, text=True,
        )
    report = json.loads(completed.stdout)
    return {normalise(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}


def pip_audit(pip_audit_bin: str, source: str, pins: dict[str, str], timeout: int) -> list[Finding]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
        requirements = handle.name
    completed = subprocess.run(
        [pip_audit_bin, "--requirement", requirements, "--no-deps", "--disable-pip", "--format", "json",
         "--vulnerability-service", "pypi", "--progress-spinner", "off", "--timeout", str(timeout)],
        capture_output=True, text=True,
    )
    Path(requirements).unlink()
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"pip-audit failed on {source} (exit {completed.returncode}); see its output above") from None
    findings = []
    for dependency in report["dependencies"]:
        name = normalise(dependency["name"])
        finding = Finding(source, name, dependency.get("version") or pins.get(name, "?"))
        if "skip_reason" in dependency:
            finding.unaudited = dependency["skip_reason"]
        finding.vulns = [
            (v["id"], ", ".join(v.get("fix_versions") or []) or "no fix") for v in dependency.get("vulns", [])
        ]
        findings.append(finding)
    return findings


def latest_release_fallback(finding: Finding, timeout: int) -> None:
    """PyPI's project JSON lists the vulnerabilities of the latest release: usable when the pin is that release."""
    try:
        with urllib.request.urlopen(PROJECT_JSON.format(name=finding.name), timeout=timeout) as response:
            project = json.load(response)
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as error:
        finding.unaudited = f"PyPI project JSON unreachable ({error})"
        return
    latest = project["info"]["version"]
    if latest != finding.version:
        finding.unaudited = f"not the latest release ({latest}) and the per-release vulnerability API is unreachable"
        return
    finding.unaudited, finding.via = "", "PyPI project JSON (latest release)"
    finding.vulns = [
        (v["id"], ", ".join(v.get("fixed_in") or []) or "no fix") for v in project.get("vulnerabilities", [])
    ]


def report(findings: Iterable[Finding]) -> int:
    findings = list(findings)
    vulnerable = [f for f in findings if f.vulns]
    unaudited = [f for f in findings if f.unaudited]
    audited = [f for f in findings if not f.unaudited]
    by_way: dict[str, int] = {}
    for finding in audited:
        by_way[finding.via] = by_way.get(finding.via, 0) + 1
    ways = ", ".join(f"{n} via {w}" for w, n in by_way.items()) or "none"
    print(f"audited {len(audited)} of {len(findings)} pins ({ways})")
    for finding in vulnerable:
        for vuln_id, fixed in finding.vulns:
            print(f"VULNERABLE  {finding.source}: {finding.name}=={finding.version}  {vuln_id}  fixed in: {fixed}")
    for finding in unaudited:
        print(f"NOT AUDITED {finding.source}: {finding.name}=={finding.version}  {finding.unaudited}")
    if vulnerable:
        print(f"{len(vulnerable)} pinned dependencies have known vulnerabilities")
        return 1
    if unaudited:
        print(f"{len(unaudited)} pins could not be audited: no vulnerability database answers for them here")
        return 2
    print("no known vulnerabilities")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip-audit", required=True, help="the pip-audit executable")
    parser.add_argument("--locked", type=Path, action="append", default=[], help="a fully pinned lock file")
    parser.add_argument("--resolve", type=Path, action="append", default=[], help="requirements resolved for Lambda")
    parser.add_argument("--freeze-python", help="python whose installed packages stand in for an empty lock")
    parser.add_argument("--platform", default="manylinux2014_aarch64")
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--timeout", type=int, default=15)
    parser.add_argument("--allow-unaudited", action="store_true", help="exit 0 when nothing is vulnerable but some "
                        "pins could not be audited (a loud warning instead)")
    args = parser.parse_args(argv)

    sources: dict[str, dict[str, str]] = {}
    for path in args.locked:
        pins = pins_of(path)
        if not pins and args.freeze_python:
            print(f"{path} pins nothing yet: auditing the packages installed for {args.freeze_python} instead")
            pins, path = frozen(args.freeze_python), Path(f"{path} (pip freeze of {args.freeze_python})")
        if not pins:
            print(f"{path} pins nothing: nothing to audit")
            return 2
        sources[str(path)] = pins
    for path in args.resolve:
        sources[f"{path} (resolved for {args.platform}, Python {args.python_version})"] = resolved(
            path, args.platform, args.python_version
        )

    findings: list[Finding] = []
    for source, pins in sources.items():
        for finding in pip_audit(args.pip_audit, source, pins, args.timeout):
            if finding.unaudited and "not found on PyPI" in finding.unaudited:
                latest_release_fallback(finding, args.timeout)
            findings.append(finding)
    status = report(findings)
    if status == 2 and args.allow_unaudited:
        print("WARNING: the dependency audit is INCOMPLETE (see NOT AUDITED above); allowed by --allow-unaudited")
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
