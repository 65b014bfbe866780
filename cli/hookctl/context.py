"""What every command handler receives: the boto3 session, the resolved stack resources and the output streams.

Command modules (``deliveries``, ``dlq``, and later ``send``/``replay``) depend on this module, never on ``main``,
so that ``main`` can import them all without a cycle.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import ClientError

from hookctl.awserrors import EXIT_CREDENTIALS, EXIT_ENDPOINT  # noqa: F401  (re-exported: every exit code here)
from hookctl.resources import StackResources

# Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran but the thing asked for is missing or the operation failed
EXIT_USAGE = 2  # bad arguments or configuration (argparse uses 2 as well)
# 3: credentials or AWS configuration (EXIT_CREDENTIALS); 4: the endpoint cannot be reached (EXIT_ENDPOINT)
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error reported to the operator as ``hookctl: <message>`` with an exit code, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CommandContext:
    session: Any  # boto3.Session
    resources: StackResources
    json: bool = False  # --output json (or --json)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    query: Any = None  # a compiled JMESPath expression (--query), applied to the JSON document of the result
    endpoint_url: str | None = None  # --endpoint-url, or the local stack's endpoint with --local
    local: Any = None  # the running `hookctl dev` (hookctl.local.state.DevState) with --local
    width: int | None = None  # the terminal's width when stdout is one: tables narrow their cuttable columns
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """One client per service. Without --endpoint-url, boto3 applies AWS_ENDPOINT_URL and
        AWS_ENDPOINT_URL_<SERVICE> itself."""
        if service not in self._clients:
            if self.endpoint_url:
                self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
            else:
                self._clients[service] = self.session.client(service)
        return self._clients[service]

    def emit(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def emit_result(self, data: Any, human: Callable[[], str]) -> None:
        """A command's result: its JSON document with ``--output json``, ``human()`` (a table, ``key: value`` lines)
        otherwise. ``--query`` selects from the JSON document first; the selection is printed as JSON unless
        ``--output table`` was asked for."""
        from hookctl.output import render_any, render_json, to_jsonable

        if self.query is not None:
            selected = self.query.search(to_jsonable(data))
            self.emit(render_json(selected) if self.json else render_any(selected))
        elif self.json:
            self.emit(render_json(data))
        else:
            self.emit(human())

    def note(self, text: str) -> None:
        """Human-facing progress or warnings: stderr, so that stdout stays parseable with --json."""
        self.stderr.write(f"hookctl: {text}\n")


def describe_client_error(exc: ClientError) -> str:
    """``Operation failed: Code: message`` on one line, even when an emulator answers with an HTML error page."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    if "<" in message and ">" in message:  # not an AWS error document: keep the page's title
        title = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
        message = title.group(1) if title else re.sub(r"<[^>]+>", " ", message)
    message = " ".join(message.split())[:300]
    label = f"HTTP {status}" if not code or code == str(status) else code
    text = f"{exc.operation_name} failed: {label}"
    return f"{text}: {message}" if message else text
