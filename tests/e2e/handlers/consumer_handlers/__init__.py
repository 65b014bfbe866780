"""Test-only business handlers for the end-to-end reliability run (tests/e2e/reliability.py).

The runner puts ``tests/e2e/handlers`` first on the consumer's PYTHONPATH (``--prepend-path ConsumerFunction=...``),
so ``consumer_app``'s ``import consumer_handlers`` imports this package instead of functions/consumer's. Registered for
every event type of every provider, the handler:

* always raises for a "poison" delivery (a share ``E2E_POISON_RATE`` of delivery ids, chosen by hash so the test knows
  which): they must end in the dead-letter queue;
* raises at random with probability ``E2E_HANDLER_FAILURE_RATE`` (a flaky downstream): retried by SQS;
* otherwise records its run as its side effect: one line ``ok <provider> <delivery id> <pid> <attempt> <message id>``
  appended to ``E2E_RUNS_FILE`` (one ``write`` with O_APPEND, so lines from concurrent instances never mix), which
  lets the test count how many times the business logic ran for each delivery, across processes and crashes.
Raises are recorded the same way (``raise ...``), so the test counts the faults it injected.
"""

from __future__ import annotations

import hashlib
import os
import random

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.verifiers import registered_providers

_RUNS = os.open(os.environ["E2E_RUNS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
_FAILURE_RATE = float(os.environ.get("E2E_HANDLER_FAILURE_RATE", "0"))
_POISON_RATE = float(os.environ.get("E2E_POISON_RATE", "0"))


class InjectedFailure(Exception):
    """A failure the test asked for (never a bug)."""


def is_poison(delivery_id: str, rate: float) -> bool:
    """The same choice the test makes (tests/e2e/reliability.py imports nothing from here: it recomputes it)."""
    return int(hashlib.sha256(delivery_id.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000 < rate


def _record(kind: str, event: WebhookEvent) -> None:
    line = f"{kind} {event.provider} {event.delivery_id} {os.getpid()} {event.attempt} {event.message_id}\n"
    os.write(_RUNS, line.encode("utf-8"))


def handle(event: WebhookEvent) -> None:
    if is_poison(event.delivery_id, _POISON_RATE):
        _record("raise-poison", event)
        raise InjectedFailure("poison delivery: this handler always fails for it")
    if random.random() < _FAILURE_RATE:
        _record("raise-random", event)
        raise InjectedFailure("random handler failure (injected)")
    _record("ok", event)


for _provider in registered_providers():
    on(_provider.name, "*")(handle)
