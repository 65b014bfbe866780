"""The suite-wide log hygiene check (tests/log_hygiene.py) itself: what it looks for, where it looks, how it fails.

The records below are checked with private detectors (``detector.check``), never logged for real, so that the
session's own detector does not see them; the end-to-end test runs a separate pytest process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from aws_lambda_powertools import Logger

from tests.log_hygiene import LeakDetector, canaries, find_leaks, render, sample_event_signatures
from tools.make_events import EVENT_FILES, SAMPLE_SECRETS, WRONG_SECRETS, build_event

ROOT = Path(__file__).resolve().parents[2]
GITHUB_SECRET = SAMPLE_SECRETS["github"]


def record(
    message: str = "something happened",
    *args: object,
    level: int = logging.INFO,
    name: str = "app",
    exc_info: object = None,
    **extra: object,
) -> logging.LogRecord:
    """A record as ``logging.getLogger(name).log(level, message, *args, extra=extra)`` would make it (not emitted)."""
    return logging.getLogger(name).makeRecord(name, level, __file__, 42, message, args, exc_info, extra=extra)


def test_canaries_cover_every_test_secret_and_every_sample_signature():
    # Given the canaries
    known = canaries()
    # Then every sample and wrong secret is one, and so is the signature of every sample event file
    assert set(SAMPLE_SECRETS.values()) | set(WRONG_SECRETS.values()) <= known.keys()
    signed_files = {description.rsplit("events/", 1)[1] for description in sample_event_signatures().values()}
    assert signed_files == set(EVENT_FILES)
    # And none is so short or common that it would match what the gateway does log (ids, types, repositories)
    assert min(len(canary) for canary in known) >= 9
    event = build_event("github", "push")
    logged = json.dumps({k: event["headers"][k] for k in ("x-github-delivery", "x-github-event", "x-github-hook-id")})
    assert find_leaks(f"delivery accepted {logged} octocat/webhook-gateway-demo", known) == []


def test_a_secret_is_found_in_the_message_the_extra_fields_and_the_traceback():
    detector = LeakDetector(canaries())
    try:
        raise ValueError(f"bad key {GITHUB_SECRET}")
    except ValueError:
        failure = sys.exc_info()
    detector.check(record("secret is %s", GITHUB_SECRET))
    detector.check(record("headers", headers={"X-Hub-Signature-256": "sha256=..."}, secret=GITHUB_SECRET))
    detector.check(record("failed", level=logging.ERROR, exc_info=failure))
    detector.check(record("nothing to see", delivery_id="501234567:abc"))
    secret = "the github sample secret (tools.make_events.SAMPLE_SECRETS)"
    assert [leak.what for leak in detector.leaks] == [(secret,)] * 3
    assert detector.records_checked == 4


def test_powertools_appended_keys_are_checked_through_the_powertools_formatter():
    # Given a Powertools logger with a secret in an appended key (not on the record: only its formatter knows it)
    logger = Logger(service="log-hygiene-selftest", logger_handler=logging.NullHandler())
    logger.append_keys(correlation_id=WRONG_SECRETS["stripe"])
    leaking = record("delivery accepted", name="log-hygiene-selftest")
    # When the record is checked
    detector = LeakDetector(canaries())
    detector.check(leaking)
    # Then the formatted JSON line gives it away
    assert WRONG_SECRETS["stripe"] in render(leaking)
    assert detector.leaks and detector.leaks[0].what == ("the stripe wrong secret (tools.make_events.WRONG_SECRETS)",)


def test_debug_records_are_not_checked_and_payload_fragments_are():
    detector = LeakDetector(canaries())
    detector.check(record("body %s", "jenny.rosen@example.com", level=logging.DEBUG))
    assert detector.leaks == [] and detector.records_checked == 0
    detector.check(record("body", body="Body=Where+is+order+%231042%3F"))
    assert [leak.what for leak in detector.leaks] == [("the Twilio sample SMS text (form-encoded)",)]


def test_the_report_names_the_test_and_the_canary_but_never_the_value(monkeypatch):
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/unit/test_x.py::test_y (call)")
    detector = LeakDetector(canaries())
    detector.check(record("secret " + GITHUB_SECRET, level=logging.WARNING))
    report = detector.report()
    assert "tests/unit/test_x.py::test_y (call)" in report
    assert "the github sample secret" in report
    assert f"{__file__}:42" in report
    assert GITHUB_SECRET not in report


def test_the_session_detector_sees_every_log_record(log_hygiene):
    # Given the session's detector, when any logger emits a clean record at INFO or above, then it was checked
    before = log_hygiene.records_checked
    logging.getLogger("tests.contract.log_hygiene").warning("a clean record")
    assert log_hygiene.records_checked == before + 1


def test_a_leaking_test_fails_the_whole_run_and_is_named(tmp_path):
    # Given a separate test run whose conftest enables the check like tests/conftest.py does, with one test that
    # logs a payload fragment through the gateway's own Powertools logger and one clean test
    (tmp_path / "conftest.py").write_text("from tests.log_hygiene import log_hygiene  # noqa: F401\n")
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            """
            from webhook_gateway.observability import logger

            def test_clean():
                logger.info("delivery accepted", extra={"delivery_id": "evt_1"})

            def test_leaky():
                logger.info("delivery accepted", extra={"body": "...jenny.rosen@example.com..."})
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers/gateway")]),
        "POWERTOOLS_SERVICE_NAME": "hygiene-selftest",
    }
    # When it runs
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then both tests pass but the run fails, naming the leaking test and what leaked
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "2 passed" in output and "1 error" in output, output
    assert "test_leaky.py::test_leaky (call)" in output
    assert "test_clean" not in output.split("log hygiene:", 1)[1]
    assert "the Stripe sample's receipt_email" in output
