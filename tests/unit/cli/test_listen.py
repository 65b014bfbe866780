"""`hookctl listen`'s pure parts: names, policies, messages, acknowledgement decisions, lines, backoff, and the
listener loop against a fake queue (no sockets, no AWS)."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from hookctl import listen
from tests.unit.consumer.fakes import make_envelope
from webhook_gateway.consumer import tap
from webhook_gateway.consumer.registry import Registry

TOPIC = "arn:aws:sns:us-east-1:123456789012:dev-ListenerTapTopic"


def test_listener_names_are_sanitized_and_fit_sqs():
    """Given user@host and odd names, then queue names use SQS's alphabet and stay within 80 characters."""
    assert listen.default_name("ada", "laptop") == "ada-laptop"
    assert listen.sanitize("Ada Lovelace@MacBook.local") == "Ada-Lovelace-MacBook-local"
    assert listen.listener_queue_name("dev", "ada-laptop") == "dev-listen-ada-laptop"
    long = listen.listener_queue_name("webhook-gateway-staging", "x" * 200)
    assert len(long) == 80 and long.startswith("webhook-gateway-staging-listen-x")


def test_the_filter_policy_selects_providers_and_the_queue_policy_only_the_topic():
    """Given --provider values, then the filter policy lists them once; the queue policy lets only the tap send."""
    assert json.loads(listen.filter_policy(["stripe", "github", "stripe"])) == {"provider": ["github", "stripe"]}
    assert listen.filter_policy([]) == ""
    (statement,) = json.loads(listen.queue_policy("arn:queue", TOPIC))["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC}}
    attributes = listen.queue_attributes("arn:queue", TOPIC)
    assert attributes["MessageRetentionPeriod"] == "345600"  # 4 days
    assert attributes["SqsManagedSseEnabled"] == "true"


def test_only_a_2xx_is_acknowledged():
    """Given each kind of answer, then only 2xx deletes the delivery; errors and no answer leave it in the queue."""
    assert listen.forward_outcome(200).acknowledge
    assert listen.forward_outcome(204).acknowledge
    for status in (301, 400, 404, 500, 503):
        assert not listen.forward_outcome(status).acknowledge, status
    refused = listen.forward_outcome(None, "connection refused")
    assert (refused.acknowledge, refused.detail) == (False, "connection refused")


def test_one_line_per_delivery_like_stripe_listen():
    """Given a delivery and its outcome, then the line names time, provider, event type, id and the result."""
    tapped = listen.Tapped("stripe", "evt_1", "payment_intent.succeeded")
    when = datetime(2026, 12, 1, 22, 10, 1, tzinfo=UTC)
    ok = listen.format_line(when, tapped, listen.forward_outcome(200, elapsed_ms=12.4))
    assert ok.split("  ")[1:] == ["stripe", "payment_intent.succeeded", "evt_1", "-> 200 (12 ms)"]
    failed = listen.format_line(when, tapped, listen.forward_outcome(500, elapsed_ms=3))
    assert failed.endswith("-> 500 (3 ms), left in the queue (back in 5 s)")


def test_the_summary_counts_each_attempt_once_and_says_where_failures_wait():
    """Given 3 deliveries of which one failed twice before it was forwarded, then the summary names 3 deliveries and
    5 attempts, each attempt in one count; with failures, where they wait."""
    text = listen.format_summary(Counter({"forwarded": 3, "failed": 2}), "dev-listen-ada", deliveries=3)
    assert text.splitlines()[0] == "hookctl listen: stopped: 3 deliveries, 5 attempts: 3 forwarded, 2 failed"
    assert "still in dev-listen-ada" in text
    assert listen.format_summary(Counter({"handled": 1}), "q", 1) == "hookctl listen: stopped: 1 delivery: 1 handled"
    assert listen.format_summary(Counter(), "q", 0) == "hookctl listen: stopped: 0 deliveries: none"


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = listen.Backoff(first=1, cap=30)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.reset() is True
    assert backoff.reset() is False
    assert backoff.next_delay() == 1


def test_messages_are_envelopes_stubs_or_sns_notifications():
    """Given the three shapes a listener queue can hold, then each parses to the delivery it names."""
    envelope = make_envelope()
    assert listen.parse_message(envelope.sqs_message_body()).envelope == envelope
    wrapped = json.dumps({"Type": "Notification", "Message": envelope.sqs_message_body()})
    assert listen.parse_message(wrapped).delivery_id == "evt_1"
    huge = make_envelope(raw=json.dumps({"id": "evt_1", "pad": "x" * 300_000}).encode())
    stub = listen.parse_message(tap.tap_message(huge.sqs_message_body(), huge))
    assert (stub.envelope, stub.delivery_id, stub.body_size) == (None, "evt_1", huge.body_size)
    with pytest.raises(ValueError):
        listen.parse_message("not json")


def test_forwarded_headers_are_the_envelope_s_minus_the_connection_s():
    envelope = make_envelope(headers={"content-type": "application/json", "host": "x", "user-agent": "Stripe/1.0"})
    assert listen.forward_headers(envelope) == {"content-type": "application/json", "user-agent": "Stripe/1.0"}


def test_kept_signature_headers_are_forwarded_as_they_are_with_the_original_url():
    """Given an envelope from a tapped stack (its receiver kept Stripe-Signature and the URL it was called at)
    When listen builds the forwarded request's headers
    Then the signature header is there as queued, and x-hookctl-original-url names the URL; without request_url
    (a receiver without KEEP_SIGNATURE_HEADERS) that header is absent"""
    kept = {"content-type": "application/json", "stripe-signature": "t=1,v1=ab"}
    envelope = make_envelope(headers=kept).model_copy(update={"request_url": "https://h.example/webhooks/stripe"})
    headers = {**listen.forward_headers(envelope), **listen.gateway_headers(envelope)}
    assert headers["stripe-signature"] == "t=1,v1=ab"
    assert headers["x-hookctl-original-url"] == "https://h.example/webhooks/stripe"
    assert "x-hookctl-original-url" not in listen.gateway_headers(make_envelope(headers=kept))


def test_handlers_mode_runs_the_registered_handler_with_the_consumer_s_event():
    """Given a registry with a handler, then --handlers builds the consumer's WebhookEvent and acknowledges after it
    returns; a raising handler leaves the delivery; no handler acknowledges it (as the consumer skips it)."""
    registry, seen = Registry(), []
    registry.register("stripe", "payment_intent.succeeded", lambda event: seen.append(event))
    target = listen.HandlerTarget(registry)
    envelope = make_envelope()

    assert target(envelope, envelope.inline_body_bytes(), "m-1").kind == listen.HANDLED
    assert seen[0].body["id"] == "evt_1" and seen[0].message_id == "m-1"

    def boom(event):
        raise RuntimeError("not yet")

    registry.register("stripe", "invoice.paid", boom)
    failing = make_envelope(event_type="invoice.paid")
    outcome = target(failing, failing.inline_body_bytes(), "m-2")
    assert (outcome.kind, outcome.acknowledge, outcome.detail) == (listen.FAILED, False, "RuntimeError: not yet")
    other = make_envelope(event_type="charge.refunded")
    assert target(other, other.inline_body_bytes(), "m-3").acknowledge


class FakeQueue:
    """receive_message answers the scripted items in turn (a list of messages, or an exception to raise)."""

    def __init__(self, script, listener_ref):
        self.script = list(script)
        self.deleted: list[str] = []
        self.visibility: list[tuple[str, int]] = []
        self.listener_ref = listener_ref

    def receive_message(self, **params):
        assert params["WaitTimeSeconds"] == 20
        if not self.script:
            self.listener_ref[0].stop()
            return {}
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return {"Messages": item}

    def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803 (boto3's names)
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):  # noqa: N803
        self.visibility.append((ReceiptHandle, VisibilityTimeout))


def message(receipt: str, delivery_id: str) -> dict:
    return {"MessageId": receipt, "ReceiptHandle": receipt, "Body": make_envelope(delivery_id=delivery_id)
            .sqs_message_body()}


def test_the_loop_acknowledges_2xx_retries_soon_otherwise_and_reconnects_after_network_errors():
    """Given a queue that answers two messages, loses the network twice, then answers one more, when the listener
    runs with a target answering 200 for evt_1 and evt_3 and 500 for evt_2, then evt_1 and evt_3 are deleted, evt_2
    is made visible again in 5 s, the connection loss is announced once and the reconnection once."""
    ref: list = []
    lost = EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")
    sqs = FakeQueue([[message("r1", "evt_1"), message("r2", "evt_2")], lost, lost, [message("r3", "evt_3")]], ref)
    slept: list[float] = []
    out, err = io.StringIO(), io.StringIO()
    listener = listen.Listener(
        sqs=sqs,
        queue=listen.ListenerQueue("url", "arn", "dev-listen-ada", "sub"),
        deliver=lambda envelope, raw, _id: listen.forward_outcome(500 if envelope.delivery_id == "evt_2" else 200),
        load_body=lambda envelope: envelope.inline_body_bytes(),
        out=out,
        err=err,
        sleep=slept.append,
    )
    ref.append(listener)

    counts = listener.run()

    assert sqs.deleted == ["r1", "r3"]
    assert sqs.visibility == [("r2", 5)]
    assert counts == {"forwarded": 2, "failed": 1}
    assert slept == [1, 2]
    assert err.getvalue().count("connection lost") == 1
    assert err.getvalue().count("reconnected") == 1
    assert len(out.getvalue().splitlines()) == 3


def test_a_stop_during_a_batch_releases_what_was_not_handled():
    """Given a batch of two, when stop() is called while the first is delivered, then the second is not delivered
    and is made visible again at once (nothing waits out a visibility timeout)."""
    ref: list = []
    sqs = FakeQueue([[message("r1", "evt_1"), message("r2", "evt_2")]], ref)

    def deliver(envelope, raw, _id):
        ref[0].stop()
        return listen.forward_outcome(200)

    listener = listen.Listener(
        sqs=sqs, queue=listen.ListenerQueue("url", "arn", "q", "sub"), deliver=deliver,
        load_body=lambda envelope: envelope.inline_body_bytes(), out=io.StringIO(), err=io.StringIO(),
    )
    ref.append(listener)

    listener.run()

    assert sqs.deleted == ["r1"]
    assert sqs.visibility == [("r2", 0)]


def test_the_docs_table_of_surviving_signatures_is_the_one_derived_from_the_registry():
    """Given docs/local.md, then its table between the forward-table markers is exactly forward_table(): every
    registered provider, what its signature covers (signing its sample for two URLs; Samples.signs_time)."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "local.md").read_text(encoding="utf-8")
    begin, end = text.index("<!-- forward-table:begin"), text.index("<!-- forward-table:end -->")
    documented = text[text.index("\n", begin) + 1 : end].strip()
    assert documented == listen.forward_table()
    rows = {row.provider: row for row in listen.forward_survival()}
    assert (rows["twilio"].signs_url, rows["twilio"].signs_time) == (True, False)
    assert (rows["stripe"].signs_url, rows["stripe"].signs_time) == (False, True)
    assert (rows["github"].signs_url, rows["github"].signs_time) == (False, False)
    assert rows["hubspot"].signs_url and rows["hubspot"].signs_time and rows["hubspot"].batch
    assert listen.listen_verdict(rows["github"]) == "yes, whenever"
    assert listen.listen_verdict(rows["hubspot"]).startswith("no:")


class FakeSession:
    """boto3.Session's client() for the command: a stack with the given outputs and no listener queue."""

    def __init__(self, outputs: dict[str, str]):
        self.outputs = outputs

    def client(self, service, **_):
        from botocore.exceptions import ClientError

        session = self

        class Client:
            def describe_stacks(self, StackName):  # noqa: N803
                outputs = [{"OutputKey": k, "OutputValue": v} for k, v in session.outputs.items()]
                return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}

            def get_queue_url(self, QueueName):  # noqa: N803
                error = {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": QueueName}}
                raise ClientError(error, "GetQueueUrl")

        return Client()


def run_cli(outputs: dict[str, str], *argv: str) -> tuple[int, str]:
    from hookctl.main import main

    err = io.StringIO()
    code = main(["listen", "--stack-name", "dev", *argv], session=FakeSession(outputs), environ={},
                stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def test_a_stack_without_the_tap_is_a_usage_error_that_says_how_to_turn_it_on():
    code, err = run_cli({"QueueUrl": "q"}, "--forward-to", "http://localhost:8000/webhooks/stripe")
    assert code == 2
    assert "stack dev has no listener tap (no ListenerTapTopicArn output)" in err
    assert "ListenerTap=Enabled" in err


def test_listen_needs_a_target_and_an_http_url():
    assert run_cli({"ListenerTapTopicArn": TOPIC})[0] == 2
    code, err = run_cli({"ListenerTapTopicArn": TOPIC}, "--forward-to", "localhost:8000")
    assert code == 2 and "an http:// or https:// URL" in err


def test_remove_works_without_the_tap_and_says_when_there_is_nothing():
    code, err = run_cli({}, "--remove", "--name", "ada")
    assert code == 0
    assert "no listener queue dev-listen-ada: nothing to remove" in err
