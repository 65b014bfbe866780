"""Test handlers for tests/integration/local: every event of every provider. A delivery whose id is a line of the file
``LOCAL_TEST_FAIL_FILE`` fails (a bug, until the file no longer lists it); any other is recorded as a line of
``LOCAL_TEST_RUNS_FILE``, and, when ``LOCAL_TEST_BODIES_FILE`` is set, what its body was there (location, size, sha256
of the raw bytes the handler got)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.verifiers import registered_providers


def handle(event: WebhookEvent) -> None:
    failing = Path(os.environ["LOCAL_TEST_FAIL_FILE"])
    if failing.exists() and event.delivery_id in failing.read_text().split():
        raise RuntimeError("this delivery fails until its handler is fixed")
    with open(os.environ["LOCAL_TEST_RUNS_FILE"], "a", encoding="utf-8") as runs:
        runs.write(f"{event.provider} {event.delivery_id}\n")
    if os.environ.get("LOCAL_TEST_BODIES_FILE"):
        with open(os.environ["LOCAL_TEST_BODIES_FILE"], "a", encoding="utf-8") as bodies:
            digest = hashlib.sha256(event.raw).hexdigest()
            bodies.write(f"{event.delivery_id} {event.body_location} {len(event.raw)} {digest}\n")


for _provider in registered_providers():
    on(_provider.name, "*")(handle)
