"""Fixtures both consumer suites (unit and integration) use: imported by their conftest modules."""

import sys

import pytest

from webhook_gateway.observability import logger, metrics


class _CurrentStdout:
    """Writes wherever ``sys.stdout`` points now (the Logger's handler keeps the stream it was created with)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def _logs_to_current_stdout(monkeypatch):
    """So that capsys sees the JSON log lines next to the EMF metrics, as CloudWatch would."""
    monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())


@pytest.fixture(autouse=True)
def _clean_metrics():
    """The Metrics singleton is shared with other suites (the receiver sets a default ``provider`` dimension):
    start from a clean slate, as the consumer's own execution environment does, and put it back afterwards."""
    defaults = dict(metrics.default_dimensions)
    metrics.clear_default_dimensions()
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
    metrics.set_default_dimensions(**defaults)
