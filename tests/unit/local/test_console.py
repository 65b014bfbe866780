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
    tracker.function_output(worker("GithubReceiverFunction"), json.dumps({"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "DeliveriesEnqueued", "Unit": "Count"}]}]}, "service": "github-receiver", "DeliveriesEnqueued": [1]}))
    exchange = SimpleNamespace(status=202, function="GithubReceiverFunction", error=None, method="POST", path="/webhooks/github")
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
    duplicate = {"level": "INFO", "message": console.DUPLICATE, "message_id": "m2", "provider": "github", "delivery_id": "1:abc"}
    tracker.function_output(worker("ConsumerFunction"), json.dumps(duplicate))
    tracker.batch(BatchOutcome([record("m2")], Invocation("c2", result={"batchItemFailures": []}), set(), False))
    failed = {"level": "ERROR", "message": console.HANDLER_FAILED, "message_id": "m3", "exception": "Traceback...\nValueError: nope"}
    last = {"level": "ERROR", "message": console.LAST_RECEIVE, "message_id": "m3"}
    tracker.function_output(worker("ConsumerFunction"), json.dumps(failed))
    tracker.function_output(worker("ConsumerFunction"), json.dumps(last))
    tracker.batch(BatchOutcome([record("m3")], Invocation("c3", result={"batchItemFailures": [{"itemIdentifier": "m3"}]}), {"m3"}, False))
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
    rejected = {"message": console.REJECTED, "provider": "stripe", "reason": "signature_mismatch", "function_request_id": "r"}
    tracker.function_output(worker("StripeReceiverFunction"), json.dumps(rejected))
    tracker.exchange(SimpleNamespace(status=401, function="StripeReceiverFunction", error=None, method="POST", path="/"), invocation_id="r")
    assert "rejected" in out.getvalue() and "401  signature_mismatch" in out.getvalue()
    assert tracker.summary()["rejected"] == {"signature_mismatch": 1}
