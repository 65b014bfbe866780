"""The end-to-end reports are printed at the end of the run (pytest captures the tests' own output)."""

from __future__ import annotations

REPORTS: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 (pytest's hook signature)
    for report in REPORTS:
        terminalreporter.write_sep("-", "end-to-end reliability")
        terminalreporter.write_line(report)
