"""What every command handler receives: the boto3 session, the resolved stack resources and the output streams.

Command modules (``deliveries``, ``dlq``, and later ``send``/``replay``) depend on this module, never on ``main``,
so that ``main`` can import them all without a cycle.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore.exceptions import ClientError

from hookctl.resources import StackResources

# Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran but the thing asked for is missing or the operation failed
EXIT_USAGE = 2  # bad arguments or configuration (argparse uses 2 as well)


class CliError(Exception):
    """An error reported to the operator as ``hookctl: <message>`` with an exit code, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CommandContext:
    session: Any  # boto3.Session
    resources: StackResources
    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """One client per service; boto3 applies AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def emit(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

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
