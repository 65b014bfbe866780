"""Log hygiene for the whole test suite: no secret, signature or payload may reach a log record at INFO or above.

Every log record the suite produces (any logger, Powertools or stdlib, in this process) is rendered the way its own
handlers would write it, plus its message, ``extra`` fields and traceback, and searched for *canaries*: the secrets
the tests sign with, the signatures of the sample events and distinctive fragments of the sample payloads (personal
data, a client secret, free text). A hit fails the session, naming the test, logger, level and source line of each
leaking record, and which canary leaked (never the canary's value).

How records are seen: ``logging.Logger.callHandlers`` is wrapped for the session, so records are caught whatever
their logger, however it propagates and whenever it was created. That is the same point at which the records would
reach CloudWatch through the Lambda runtime's handlers; a record below its logger's level never gets there, as in
Lambda. Output of subprocesses (servers started by end-to-end tests) is not a log record of this process: such
tests can check their captured output with :func:`find_leaks`.

``tests/conftest.py`` imports :func:`log_hygiene` (a session-scoped autouse fixture), which activates it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

import pytest

from tools.make_events import EVENTS_DIR, SAMPLE_SECRETS, WRONG_SECRETS

# Secrets the tests use besides tools.make_events' (the verifier unit tests' own; test_github.py's is GitHub's
# documented example secret). Too-short ones would match unrelated text (test_twilio.py's TOKEN = "12345").
OTHER_TEST_SECRETS: Mapping[str, str] = {
    "It's a Secret to Everybody": "GitHub's documented example secret (tests/unit/verifiers/test_github.py)",
    "whsec_test_secret_for_unit_tests": "the Stripe unit-test secret (tests/unit/verifiers/test_stripe.py)",
    "webhooks_sharedkey_secret": "the Twilio shared key (tests/unit/verifiers/test_twilio.py)",
    "brand-new-secret": "the rotated GitHub secret (tests/integration/receiver)",
    "old-secret": "a rotated-out test secret",
    "new-secret": "a rotated-in test secret",
    "new-token": "a rotated-in Twilio test token",
    "rotated-zoom-secret-token": "the rotated Zoom Secret Token (tests/integration/receiver/test_zoom_receiver.py)",
    "oLdSeCrEtToKeN012345ab": "the previous Zoom Secret Token (tests/unit/verifiers/test_zoom.py)",
    # The throwaway handshake providers' (tests/throwaway_providers.py, SECRETS).
    "sample-slackish-signing-secret": "the slackish throwaway provider's signing secret",
    "sample-zoomish-secret-token": "the zoomish throwaway provider's secret token",
    "rotated-zoomish-secret-token": "the zoomish throwaway provider's rotated secret token",
    "sample-metaish-app-secret": "the metaish throwaway provider's app secret",
    "sample-metaish-verify-token": "the metaish throwaway provider's verify token",
    "rotated-metaish-app-secret": "the metaish throwaway provider's rotated app secret",
    # Square (tests/unit/verifiers/test_square.py: squareup's vector key; the receiver test's rotated key).
    "Ibxx_5AKakO-3qeNVR61Dw": "squareup's test-vector signature key (tests/unit/verifiers/test_square.py)",
    "brand-new-square-key": "the rotated Square test key (tests/integration/receiver/test_square_receiver.py)",
    # Meta: its sample secret is JSON, so each value is a canary of its own (a log holding one value leaks it), and
    # the unit and receiver tests' own (tests/unit/verifiers/test_meta.py, test_meta_receiver.py).
    "sample-meta-app-secret-3f9c1a7e": "the Meta sample App Secret (inside the meta sample secret)",
    "sample-meta-verify-token-58d2": "the Meta sample verify token (inside the meta sample secret)",
    "not-the-meta-app-secret-0b4d": "the Meta wrong App Secret (inside the meta wrong secret)",
    "not-the-meta-verify-token-71": "the Meta wrong verify token (inside the meta wrong secret)",
    "d4f1c0b2a9e87a6f5e4d3c2b1a098f7e": "the Meta unit-test App Secret (tests/unit/verifiers/test_meta.py)",
    "meatyhamhock-7c1e": "the Meta unit-test verify token (tests/unit/verifiers/test_meta.py)",
    "rotated-meta-app-secret": "the rotated Meta App Secret (tests/integration/receiver/test_meta_receiver.py)",
    "rotated-meta-token": "the rotated Meta verify token (tests/integration/receiver/test_meta_receiver.py)",
}

# Fragments of the sample payloads (tools/make_events.py) that are payload content, never identifiers the code may
# log: personal data, a client secret, free text. Form-encoded twins are listed too (Twilio and GitHub form bodies).
PAYLOAD_FRAGMENTS: Mapping[str, str] = {
    "SampleClientSecret0123456789": "the Stripe sample's payment_intent.client_secret",
    "jenny.rosen@example.com": "the Stripe sample's receipt_email",
    "Where is order #1042": "the Twilio sample SMS text",
    quote_plus("Where is order #1042"): "the Twilio sample SMS text (form-encoded)",
    "+14155550199": "the Twilio sample sender's phone number",
    quote_plus("+14155550199"): "the Twilio sample sender's phone number (form-encoded)",
    "Verify Stripe signatures at the edge": "the GitHub sample commit message",
    quote_plus("Verify Stripe signatures at the edge"): "the GitHub sample commit message (form-encoded)",
    "Mona Lisa Octocat": "the GitHub sample commit author's name",
    "583231+octocat@users.noreply.github.com": "the GitHub sample author's e-mail",
    quote_plus("583231+octocat@users.noreply.github.com"): "the GitHub sample author's e-mail (form-encoded)",
}

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_SIGNATURE_HEADERS = (
    "x-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "stripe-signature",
    "x-twilio-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "shopify-hmac-sha256",
    "webhook-signature",
    "svix-signature",
    "x-hubspot-signature-v3",
    "paddle-signature",
    "linear-signature",
    "x-signature-ed25519",
    "x-zm-signature",
    "x-square-hmacsha256-signature",
    "x-square-signature",
)


def sample_event_signatures(events_dir: Path = Path(EVENTS_DIR)) -> dict[str, str]:
    """The signature values of every sample event file: the bare digests, so a log line cannot hide one by
    stripping the ``sha256=``/``v1=`` prefix."""
    found: dict[str, str] = {}
    for path in sorted(events_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        # Meta's GET verification is signed by nothing: its credential is the verify token in its query.
        for token in parse_qs(document.get("rawQueryString") or "").get("hub.verify_token", []):
            found[token] = f"the hub.verify_token of events/{path.name}"
        headers = {k.lower(): v for k, v in document.get("headers", {}).items()}
        for header in _SIGNATURE_HEADERS:
            value = headers.get(header)
            if not value:
                continue
            if header in ("webhook-signature", "svix-signature"):  # Standard Webhooks: "<version>,<base64>" entries
                parts = [entry.partition(",")[2] for entry in value.split()]
            elif header == "paddle-signature":  # "ts=<time>;h1=<hex>[;h1=<hex>]": the h1 digests
                parts = [entry for entry in value.split(";") if entry.startswith("h1=")]
            else:
                parts = value.split(",")
            for part in parts:
                digest = part.split("=", 1)[1] if part.startswith(("sha1=", "sha256=", "v1=", "v0=", "h1=")) else part
                if header != "stripe-signature" or part.startswith("v"):
                    found[digest.strip()] = f"the {header} of events/{path.name}"
    return found


def canaries() -> dict[str, str]:
    """Every string that must never reach a log record, mapped to a description that is safe to print."""
    found: dict[str, str] = {}
    for provider, secret in SAMPLE_SECRETS.items():
        found[secret] = f"the {provider} sample secret (tools.make_events.SAMPLE_SECRETS)"
    for provider, secret in WRONG_SECRETS.items():
        found[secret] = f"the {provider} wrong secret (tools.make_events.WRONG_SECRETS)"
    found.update(OTHER_TEST_SECRETS)
    found.update(sample_event_signatures())
    found.update(PAYLOAD_FRAGMENTS)
    return found


def find_leaks(text: str, known: Mapping[str, str] | None = None) -> list[str]:
    """Descriptions of the canaries that occur in ``text`` (for tests that capture a subprocess's output)."""
    return [description for canary, description in (known or canaries()).items() if canary in text]


def render(record: logging.LogRecord) -> str:
    """Everything a record could put in a log: the message, its extra fields, the traceback, and the record as
    formatted by each handler it would reach (Powertools' JSON formatter adds its appended keys, e.g. the
    correlation id, which are not on the record)."""
    parts: list[str] = []
    try:
        parts.append(record.getMessage())
    except Exception:  # a broken format string: keep what is there
        parts.append(f"{record.msg!r} % {record.args!r}")
    parts.extend(f"{key}={value!r}" for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES)
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    current: logging.Logger | None = logging.getLogger(record.name)
    while current is not None:
        for handler in current.handlers:
            if handler.formatter is not None:
                with suppress(Exception):  # a formatter that cannot render this record adds nothing
                    parts.append(handler.formatter.format(record))
        current = current.parent if current.propagate else None
    return "\n".join(parts)


@dataclass(frozen=True)
class Leak:
    test: str
    logger: str
    level: str
    where: str
    message: str
    what: tuple[str, ...]

    def describe(self) -> str:
        leaked = "; ".join(self.what)
        return (
            f"- {self.test}\n    {self.level} from logger {self.logger!r} at {self.where}: {self.message!r}\n"
            f"    leaked: {leaked}"
        )


class LeakDetector:
    """Checks every record at ``level`` or above against the canaries and remembers the leaks."""

    def __init__(self, known: Mapping[str, str], level: int = logging.INFO) -> None:
        self.known = dict(known)
        self.level = level
        self.leaks: list[Leak] = []
        self.records_checked = 0
        self._lock = threading.Lock()

    def check(self, record: logging.LogRecord) -> None:
        if record.levelno < self.level:
            return
        text = render(record)
        what = tuple(find_leaks(text, self.known))
        with self._lock:
            self.records_checked += 1
            if what:
                # The format string, not the formatted message: a leaking argument must not be echoed in the report.
                message = str(record.msg)[:120]
                self.leaks.append(
                    Leak(
                        test=os.environ.get("PYTEST_CURRENT_TEST", "<outside any test>"),
                        logger=record.name,
                        level=record.levelname,
                        where=f"{record.pathname}:{record.lineno}",
                        message=message if not find_leaks(message, self.known) else "<message withheld>",
                        what=what,
                    )
                )

    def report(self) -> str:
        lines = [
            f"log hygiene: {len(self.leaks)} log record(s) at {logging.getLevelName(self.level)} or above contain "
            "a test secret, a signature or sample payload data (tests/log_hygiene.py):"
        ]
        lines.extend(leak.describe() for leak in self.leaks)
        return "\n".join(lines)

    @classmethod
    def watching(cls, known: Mapping[str, str], level: int = logging.INFO) -> Iterator[LeakDetector]:
        """Install the detector on ``logging.Logger.callHandlers`` until the generator is closed."""
        detector = cls(known, level)
        original = logging.Logger.callHandlers

        def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
            try:
                detector.check(record)
            finally:
                original(self, record)

        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
        try:
            yield detector
        finally:
            logging.Logger.callHandlers = original  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def log_hygiene() -> Iterator[LeakDetector]:
    """Session-wide: fail the run if any log record at INFO or above leaked a canary (see the module docstring)."""
    watcher = LeakDetector.watching(canaries())
    detector = next(watcher)
    yield detector
    watcher.close()
    if detector.leaks:
        pytest.fail(detector.report(), pytrace=False)
