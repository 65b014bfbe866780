"""The structured log contract operators search by: every line is Powertools JSON with the cold start flag, and every
line about a delivery names its provider, event type and delivery id, which is also the correlation id; outcomes and
rejection reasons are fields, not prose. Observed on the real handlers (tests/contract/scenarios.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.scenarios import CONSUMER, RECEIVER, observe
from webhook_gateway.verifiers import registered_providers
from webhook_gateway.verifiers.base import Reason

LAMBDA_KEYS = {"level", "message", "timestamp", "service", "cold_start", "function_name", "function_request_id"}


@pytest.fixture(scope="module")
def logs() -> dict[str, list[dict[str, Any]]]:
    return observe().logs


def lines(logs: dict[str, list[dict[str, Any]]], component: str, message: str) -> list[dict[str, Any]]:
    found = [line for line in logs[component] if line["message"] == message]
    assert found, f"no {component} line {message!r}"
    return found


def test_every_line_is_powertools_json_with_the_lambda_context(logs: dict[str, list[dict[str, Any]]]) -> None:
    for component, function in ((RECEIVER, "receiver"), (CONSUMER, "consumer")):
        assert logs[component]
        for line in logs[component]:
            assert line.keys() >= LAMBDA_KEYS, (component, sorted(line))
            assert isinstance(line["cold_start"], bool)
            assert line["function_name"] == function


def test_an_accepted_delivery_is_one_info_line_correlated_by_its_delivery_id(
    logs: dict[str, list[dict[str, Any]]],
) -> None:
    accepted = lines(logs, RECEIVER, "delivery accepted")
    assert {line["provider"] for line in accepted} == {provider.name for provider in registered_providers()}
    for line in accepted:
        assert line["level"] == "INFO"
        assert line["outcome"] == "accepted"
        assert line["correlation_id"] == line["delivery_id"]
        assert line["event_type"] and line["secret_version"] in {"current", "previous"}
        assert "body" not in line and "headers" not in line


def test_a_rejection_is_a_warning_with_its_reason_code(logs: dict[str, list[dict[str, Any]]]) -> None:
    rejected = lines(logs, RECEIVER, "delivery rejected")
    for line in rejected:
        assert line["level"] == "WARNING"
        assert line["outcome"] == "rejected"
        assert line["reason"] in set(Reason)
        assert line["status_code"] in {400, 401, 403, 405, 413, 503}
        assert line["provider"] and line["request_id"] and line["source_ip"]


def test_an_answered_handshake_is_one_info_line_without_its_body(logs: dict[str, list[dict[str, Any]]]) -> None:
    answered = lines(logs, RECEIVER, "handshake answered")
    for line in answered:
        assert line["level"] == "INFO"
        assert line["outcome"] == "handshake_answered"
        assert line["provider"] and line["method"] and line["status_code"] == 200
        assert line["secret_version"] in {"current", "previous"}
        assert "body" not in line and "headers" not in line and "1158201444" not in str(line)


def test_consumer_lines_about_a_delivery_carry_its_keys_and_correlation_id(
    logs: dict[str, list[dict[str, Any]]],
) -> None:
    about_deliveries = [line for line in logs[CONSUMER] if "delivery_id" in line]
    assert {line["message"] for line in about_deliveries} >= {
        "duplicate delivery acknowledged",
        "no handler registered for this event type; delivery recorded as skipped",
    }
    for line in about_deliveries:
        assert line["correlation_id"] == line["delivery_id"], line["message"]
        assert line["provider"] and line["event_type"] and line["message_id"]
    # Keys of one record never leak onto the next line (the batch summary is about no delivery).
    summaries = lines(logs, CONSUMER, "batch processed")
    assert all("delivery_id" not in line and "correlation_id" not in line for line in summaries)
