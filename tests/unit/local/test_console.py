"""The per-delivery lines come from the functions' own log messages: each one the console relies on must still be
in the layer's source (a reworded log line fails here, not silently in `hookctl dev`)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hookctl.local import console
from hookctl.local.lambda_runtime import Invocation
from hookctl.local.poller import BatchOutcome

LAYER = Path(__file__).resolve().parents[3] / "layers" / "gateway" / "webhook_gateway"


@pytest.mark.parametrize("message", console.RECEIVER_MESSAGES + console.CONSUMER_MESSAGES)
def test_every_log_message_the_console_reads_is_in_the_layer(message):
    sources = "\n".join(path.read_text(encoding="utf-8") for path in LAYER.rglob("*.py"))
    assert json.dumps(message)[1:-1] in sources.replace("\n            ", " ")


def worker(function: str) -> SimpleNamespace:
    return SimpleNamespace(spec=SimpleNamespace(logical_id=function), label=f"{function}#1", pid=1)


def test_lines_for_a_delivery_received_then_processed_then_duplicated(tmp_path):
    out = io.StringIO()
    tracker = console.Tracker(out=out, log_dir=tmp_path)
    accepted = {
        "level": "INFO",
        "message": console.ACCEPTED,
        "provider": "github",
        "delivery_id": "1:abc",
        "event_type": "push",
        "body_location": "inline",
        "body_size": 10,
        "function_request_id": "req-1",
    }
    tracker.function_output(worker("GithubReceiverFunction"), json.dumps(accepted))
    tracker.function_output(
        worker("GithubReceiverFunction"),
        json.dumps(
            {
                "_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "DeliveriesEnqueued", "Unit": "Count"}]}]},
                "service": "github-receiver",
                "DeliveriesEnqueued": [1],
            }
        ),
    )
    exchange = SimpleNamespace(
        status=202, function="GithubReceiverFunction", error=None, method="POST", path="/webhooks/github"
    )
    tracker.exchange(exchange, provider="github", invocation_id="req-1")

    def record(message_id: str) -> dict:
        return {
            "messageId": message_id,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {
                "provider": {"stringValue": "github"},
                "delivery_id": {"stringValue": "1:abc"},
                "event_type": {"stringValue": "push"},
            },
        }

    tracker.batch(BatchOutcome([record("m1")], Invocation("c1", result={"batchItemFailures": []}), set(), False))
    duplicate = {
        "level": "INFO",
        "message": console.DUPLICATE,
        "message_id": "m2",
        "provider": "github",
        "delivery_id": "1:abc",
    }
    tracker.function_output(worker("ConsumerFunction"), json.dumps(duplicate))
    tracker.batch(BatchOutcome([record("m2")], Invocation("c2", result={"batchItemFailures": []}), set(), False))
    failed = {
        "level": "ERROR",
        "message": console.HANDLER_FAILED,
        "message_id": "m3",
        "exception": "Traceback...\nValueError: nope",
    }
    last = {"level": "ERROR", "message": console.LAST_RECEIVE, "message_id": "m3"}
    tracker.function_output(worker("ConsumerFunction"), json.dumps(failed))
    tracker.function_output(worker("ConsumerFunction"), json.dumps(last))
    tracker.batch(
        BatchOutcome(
            [record("m3")], Invocation("c3", result={"batchItemFailures": [{"itemIdentifier": "m3"}]}), {"m3"}, False
        )
    )
    tracker.close()

    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["received", "processed", "duplicate", "dead-lettered"]
    assert "1:abc" in lines[0] and "202" in lines[0] and "ValueError: nope" in lines[3]
    summary = tracker.summary()
    assert (summary["accepted"], summary["processed"], summary["duplicates"], summary["dead_lettered"]) == (1, 1, 1, 1)
    assert summary["metrics"]["github-receiver"]["DeliveriesEnqueued"] == 1
    # Every line the functions wrote is in their log file, unchanged
    assert (tmp_path / "GithubReceiverFunction.log").read_text().splitlines()[0] == json.dumps(accepted)


def test_a_rejection_line_names_the_reason():
    out = io.StringIO()
    tracker = console.Tracker(out=out)
    rejected = {
        "message": console.REJECTED,
        "provider": "stripe",
        "reason": "signature_mismatch",
        "function_request_id": "r",
    }
    tracker.function_output(worker("StripeReceiverFunction"), json.dumps(rejected))
    tracker.exchange(
        SimpleNamespace(status=401, function="StripeReceiverFunction", error=None, method="POST", path="/"),
        invocation_id="r",
    )
    assert "rejected" in out.getvalue() and "401  signature_mismatch" in out.getvalue()
    assert tracker.summary()["rejected"] == {"signature_mismatch": 1}


# -- the shutdown summary ----------------------------------------------------------------------------------------------


class Deliveries:
    """Drives a Tracker with the lines and answers the gateway and the consumer produce, one delivery at a time."""

    def __init__(self) -> None:
        self.tracker = console.Tracker()
        self.sequence = 0

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    def answered(self, status: int, message: str, **facts: str) -> str:
        request = f"req-{self._next()}"
        record = {"message": message, "provider": "github", "function_request_id": request, **facts}
        self.tracker.function_output(worker("GithubReceiverFunction"), json.dumps(record))
        exchange = SimpleNamespace(
            status=status, function="GithubReceiverFunction", error=None, method="POST", path="/"
        )
        self.tracker.exchange(exchange, provider="github", invocation_id=request)
        return request

    def accepted(self) -> str:
        delivery = f"1:{self._next()}"
        self.answered(202, console.ACCEPTED, delivery_id=delivery, event_type="push")
        return delivery

    def consumed(self, delivery: str, message: str | None = None, *, failed: bool = False, last: bool = False) -> None:
        message_id = f"m-{self._next()}"
        for line in [message] * (message is not None) + [console.LAST_RECEIVE] * last:
            self.tracker.function_output(
                worker("ConsumerFunction"), json.dumps({"message": line, "message_id": message_id})
            )
        record = {
            "messageId": message_id,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {"provider": {"stringValue": "github"}, "delivery_id": {"stringValue": delivery}},
        }
        failures = [{"itemIdentifier": message_id}] if failed else []
        outcome = BatchOutcome(
            [record], Invocation("c", result={"batchItemFailures": failures}), {message_id} if failed else set(), False
        )
        self.tracker.batch(outcome)


def test_the_shutdown_summary_puts_every_delivery_in_exactly_one_count():
    # Given 7 accepted deliveries: processed, skipped (no handler), a duplicate, one that failed once then was
    # processed, one dead-lettered, two still queued when the pipeline stopped; and 4 requests that were not accepted
    run = Deliveries()
    run.consumed(run.accepted())
    run.consumed(run.accepted(), console.SKIPPED)
    run.consumed(run.accepted(), console.DUPLICATE)
    retried = run.accepted()
    run.consumed(retried, console.HANDLER_FAILED, failed=True)
    run.consumed(retried)
    run.consumed(run.accepted(), console.HANDLER_FAILED, failed=True, last=True)
    run.accepted(), run.accepted()
    run.answered(401, console.REJECTED, reason="signature_mismatch")
    run.answered(401, console.REJECTED, reason="signature_mismatch")
    run.answered(503, console.NOT_QUEUED, delivery_id="1:x")
    run.tracker.exchange(SimpleNamespace(status=404, function=None, error=None, method="GET", path="/nope"))

    # When the summary is made, with the 2 messages left in the queue
    summary = run.tracker.summary()
    parts = console.partition(summary, left_in_queues=2)
    text = console.shutdown_report(summary, left_in_queues=2)

    # Then every request is in one request count, every accepted delivery in one outcome count
    assert sum(parts["requests"].values()) == summary["http_requests"] == 11
    accepted = parts["accepted"]
    assert accepted == {
        "processed": 2, "skipped": 1, "duplicates": 1, "dead_lettered": 1, "still_queued": 2,
        "unaccounted": 0, "from_elsewhere": 0,
    }
    assert sum(accepted.values()) == parts["requests"]["accepted"] == 7
    # And the printed lines say so, skipped deliveries included
    assert "11 requests: 7 accepted, 2 rejected (signature_mismatch 2), 1 not queued (503), 1 no route (404)" in text
    assert (
        "of the 7 accepted: 2 processed, 1 skipped (no handler), 1 duplicates dropped, 1 dead-lettered, 2 still queued"
        in text
    )
    assert "2 failed attempt(s)" in text


def test_deliveries_the_consumer_settled_from_elsewhere_are_named_not_hidden():
    # Given the consumer settling a message this gateway did not accept (e.g. `hookctl replay`)
    run = Deliveries()
    run.consumed(run.accepted())
    run.consumed("1:replayed")
    # When the summary is made
    summary = run.tracker.summary()
    parts = console.partition(summary, left_in_queues=0)
    # Then the counts still add up: the extra one is named
    assert parts["accepted"]["processed"] == 2 and parts["accepted"]["from_elsewhere"] == 1
    assert "1 that this gateway did not accept" in console.shutdown_report(summary, 0)


def test_a_body_replayed_under_a_new_id_is_shown_and_counted_as_a_duplicate(tmp_path):
    # Given a GitHub delivery the consumer recognised as the same signed body under another id (ledger.claim_body)
    out = io.StringIO()
    tracker = console.Tracker(out=out, log_dir=tmp_path)
    replay = {
        "level": "WARNING",
        "message": console.DUPLICATE_BODY,
        "message_id": "m9",
        "provider": "github",
        "delivery_id": "9:forged",
        "duplicate_of": "1:abc",
    }
    record = {
        "messageId": "m9",
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            "provider": {"stringValue": "github"},
            "delivery_id": {"stringValue": "9:forged"},
            "event_type": {"stringValue": "push"},
        },
    }
    # When its line and its batch reach the console
    tracker.function_output(worker("ConsumerFunction"), json.dumps(replay))
    tracker.batch(BatchOutcome([record], Invocation("c9", result={"batchItemFailures": []}), set(), False))
    tracker.close()
    # Then it is a duplicate, naming the delivery whose body it repeats
    (line,) = out.getvalue().splitlines()
    assert line.split()[2] == "duplicate" and "same signed body as 1:abc" in line


def test_a_batch_request_is_one_accepted_request_with_a_received_line_per_event():
    """Given a HubSpot array of three events (one request, three "delivery accepted" lines from one invocation), when
    its answer comes, then the console prints one received line per event and counts one accepted request carrying
    three deliveries; the shutdown counts add up once the three are processed."""
    out = io.StringIO()
    tracker = console.Tracker(out=out)
    for index in range(3):
        line = {
            "level": "INFO",
            "message": console.ACCEPTED,
            "provider": "hubspot",
            "delivery_id": f"62515:1:{100 + index}:1700000000000",
            "event_type": "contact.creation",
            "body_location": "inline",
            "body_size": 200,
            "batch_index": index,
            "batch_count": 3,
            "function_request_id": "req-9",
        }
        tracker.function_output(worker("HubspotReceiverFunction"), json.dumps(line))
    exchange = SimpleNamespace(
        status=202, function="HubspotReceiverFunction", error=None, method="POST", path="/webhooks/hubspot"
    )
    tracker.exchange(exchange, provider="hubspot", invocation_id="req-9")
    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["received"] * 3
    assert all(f"62515:1:{100 + i}:1700000000000" in lines[i] and f"event {i + 1} of 3" in lines[i] for i in range(3))
    summary = tracker.summary()
    assert (summary["accepted"], summary["accepted_deliveries"]) == (1, 3)
    parts = console.partition({**summary, "processed": 3}, 0)
    assert parts["requests"]["accepted"] == 1 and parts["deliveries"]["accepted"] == 3
    assert parts["accepted"]["unaccounted"] == parts["accepted"]["from_elsewhere"] == 0
    report = console.shutdown_report({**summary, "processed": 3}, 0)
    assert "of the 3 deliveries in the 1 accepted: 3 processed" in report
