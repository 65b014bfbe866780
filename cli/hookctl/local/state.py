"""Where a running ``hookctl dev`` is: ``.local/<stack>/dev.json`` beside the template, written once the pipeline is
up and removed when it stops, so that ``hookctl send --local`` finds the gateway whatever ``--port`` it was given.

    {"stack_name": "webhook-gateway-local", "pid": 4242, "api_url": "http://127.0.0.1:3001",
     "endpoint_url": "http://127.0.0.1:5000", "public_url": null, "region": "us-east-1",
     "template": "/path/template.yaml", ...}

``hookctl --local`` (deliveries, dlq, replay) takes the endpoint and region from it, and the resources from the local
stack's outputs (the endpoint's CloudFormation holds a stack of that name).

A file whose pid no longer runs (``hookctl dev`` was killed) is stale and ignored. Standard library only: ``send``
reads it where only boto3 is installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "dev.json"


@dataclass(frozen=True)
class DevState:
    path: Path
    stack_name: str
    pid: int
    api_url: str | None
    endpoint_url: str | None
    public_url: str | None = None
    region: str | None = None  # files written before it was recorded have none

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)

    def with_region(self, region: str) -> DevState:
        return dataclasses.replace(self, region=region)


def project_dir(start: Path | None = None) -> Path | None:
    """The directory of template.yaml in ``start`` (the working directory) or a parent, else beside this checkout."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "template.yaml").is_file():
            return directory
    beside = Path(__file__).resolve().parents[3]
    return beside if (beside / "template.yaml").is_file() else None


def state_path(template: Path, stack_name: str) -> Path:
    return template.resolve().parent / ".local" / stack_name / STATE_FILE


def write_state(path: Path, document: Mapping[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({**document, "written_at": time.time()}, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def remove_state(path: Path, pid: int | None = None) -> None:
    """Remove the file if it is still ours (a later ``hookctl dev`` of the same stack may have replaced it)."""
    state = read_state(path)
    if state is not None and (pid is None or state.pid == pid):
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only if nothing else of the stack is kept there


def read_state(path: Path) -> DevState | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return DevState(
            path=path,
            stack_name=str(document["stack_name"]),
            pid=int(document["pid"]),
            api_url=document.get("api_url") or None,
            endpoint_url=document.get("endpoint_url") or None,
            public_url=document.get("public_url") or None,
            region=document.get("region") or None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    return True


def find_states(roots: Iterable[Path]) -> list[DevState]:
    found: list[DevState] = []
    for root in roots:
        for path in sorted((root / ".local").glob(f"*/{STATE_FILE}")):
            state = read_state(path)
            if state is not None:
                found.append(state)
    return found


class NoRunningDev(Exception):
    """No (unambiguous) running ``hookctl dev``; the message says what to do."""


class SeveralRunning(NoRunningDev):
    """Several ``hookctl dev`` run and none was named or preferred: a usage problem (``--stack-name``)."""


def find_running(
    stack_name: str | None = None,
    *,
    preferred: Iterable[str] = (),
    start: Path | None = None,
    roots: Iterable[Path] | None = None,
) -> tuple[DevState | None, list[str]]:
    """The running ``hookctl dev`` (of ``stack_name`` if given, else the only one, else the first ``preferred``
    stack name that runs) and notes about stale files it ignored. ``(None, notes)`` when none runs; raises
    :class:`NoRunningDev` when the named one does not run or several run and none is preferred."""
    if roots is None:
        directory = project_dir(start)
        roots = [directory] if directory is not None else []
    states = find_states(roots)
    notes = [
        f"ignoring {state.path}: the hookctl dev that wrote it (pid {state.pid}) is no longer running"
        for state in states
        if not state.alive
    ]
    live = [state for state in states if state.alive]
    if stack_name:
        named = [state for state in live if state.stack_name == stack_name]
        if not named:
            running = ", ".join(sorted(state.stack_name for state in live)) or "none"
            raise NoRunningDev(f"no hookctl dev is running as stack {stack_name} (running: {running})")
        return named[0], notes
    if len(live) <= 1:
        return (live[0] if live else None), notes
    for name in preferred:
        for state in live:
            if state.stack_name == name:
                return state, notes
    names = ", ".join(sorted(state.stack_name for state in live))
    raise SeveralRunning(f"several hookctl dev are running (stacks {names}): pass --stack-name NAME")
