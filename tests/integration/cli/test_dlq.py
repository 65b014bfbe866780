"""hookctl dlq list / redrive (moto in process; botocore's Stubber for the move-task APIs moto lacks)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from hookctl import dlq
from hookctl.dlq import copy_messages, peek_messages

from .gateway import drain, envelope, send_envelope, visible_count


@pytest.fixture
def dead_letters(session, gateway):
    """Given three envelopes in the DLQ, as the main queue's redrive policy leaves them."""
    sqs = session.client("sqs")
    envelopes = [envelope("github", "gh-1", "push"), envelope("stripe", "evt_1", "charge.failed")]
    ids = [send_envelope(sqs, gateway.dlq_url, env) for env in envelopes]
    # one without message attributes (sent by an older receiver, or by hand): the envelope body still describes it
    ids.append(send_envelope(sqs, gateway.dlq_url, envelope("twilio", "SM1", "sms"), with_attributes=False))
    return ids


# -- list ------------------------------------------------------------------------------------------------------


def test_dlq_list_describes_messages_and_leaves_them_in_the_queue(hookctl, session, gateway, dead_letters):
    # When peeking at the DLQ as JSON
    result = hookctl("dlq", "list", "--dlq-url", gateway.dlq_url, "--wait", "0", "--json")

    # Then each message is described from its attributes or, lacking them, its envelope
    assert result.code == 0, result.err
    rows = {row["message_id"]: row for row in result.json()}
    assert set(rows) == set(dead_letters)
    github, stripe, twilio = (rows[message_id] for message_id in dead_letters)
    assert (github["provider"], github["delivery_id"], github["event_type"]) == ("github", "gh-1", "push")
    assert (stripe["provider"], stripe["event_type"], stripe["body_location"]) == ("stripe", "charge.failed", "inline")
    assert (twilio["provider"], twilio["delivery_id"], twilio["body_location"]) == ("twilio", "SM1", "inline")
    assert all(row["receive_count"] == 1 and row["sent_at"].endswith("Z") for row in rows.values())
    assert github["received_at"] == "2026-01-31T12:00:00Z"

    # And nothing was consumed: the messages are visible again at once
    assert visible_count(session.client("sqs"), gateway.dlq_url) == 3


def test_dlq_list_table(hookctl, gateway, dead_letters):
    result = hookctl("dlq", "list", "--dlq-url", gateway.dlq_url, "--wait", "0")

    header, *rows = result.out.rstrip("\n").splitlines()
    assert header.split() == ["MESSAGE_ID", "PROVIDER", "DELIVERY_ID", "EVENT_TYPE", "RECEIVES", "SENT_AT"]
    assert len(rows) == 3
    assert {row.split()[1] for row in rows} == {"github", "stripe", "twilio"}


def test_dlq_list_honours_the_limit_and_counts_receives(session, gateway, dead_letters):
    sqs = session.client("sqs")

    first, not_released = peek_messages(gateway.dlq_url, limit=2, wait_time_seconds=0, sqs=sqs)
    everything, _ = peek_messages(gateway.dlq_url, limit=10, wait_time_seconds=0, sqs=sqs)

    assert len(first) == 2 and not_released == 0
    assert len(everything) == 3
    assert sum(row["receive_count"] for row in everything) == 5  # two were peeked twice


def test_dlq_list_of_an_empty_queue(hookctl, gateway):
    result = hookctl("dlq", "list", "--dlq-url", gateway.dlq_url, "--wait", "0")

    assert result.code == 0
    assert result.out.strip() == "The dead-letter queue is empty."


# -- redrive: move task ----------------------------------------------------------------------------------------

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:gw-dlq"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:gw-ingest"
ARN_FLAGS = ("--dlq-arn", DLQ_ARN, "--queue-arn", QUEUE_ARN)  # a move task needs the ARNs only


class StubSession:
    """A boto3 session whose SQS client is stubbed (the move-task APIs, which moto does not implement)."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.stubber = Stubber(self.sqs)

    def client(self, service: str):
        assert service == "sqs", f"unexpected {service} client"
        return self.sqs


def test_redrive_starts_a_move_task_from_the_dlq_to_the_main_queue(hookctl):
    # Given an endpoint that implements StartMessageMoveTask
    stub = StubSession()
    stub.stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "task-handle-123"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 25},
    )

    # When redriving at 25 messages per second
    with stub.stubber:
        text = hookctl("dlq", "redrive", "--rate", "25", *ARN_FLAGS, session_override=stub)
    stub.stubber.add_response("start_message_move_task", {"TaskHandle": "task-handle-456"})
    with stub.stubber:
        as_json = hookctl("dlq", "redrive", "--json", *ARN_FLAGS, session_override=stub)

    # Then the task handle is printed, and in JSON the whole request
    assert text.code == 0, text.err
    assert "task-handle-123" in text.out and "25 messages/s" in text.out
    assert as_json.json() == {
        "mode": "move-task",
        "task_handle": "task-handle-456",
        "source_arn": DLQ_ARN,
        "destination_arn": QUEUE_ARN,
        "max_messages_per_second": None,
    }


def test_redrive_status_lists_move_tasks(hookctl):
    stub = StubSession()
    tasks = {
        "Results": [
            {
                "TaskHandle": "task-handle-123",
                "Status": "RUNNING",
                "SourceArn": DLQ_ARN,
                "DestinationArn": QUEUE_ARN,
                "MaxNumberOfMessagesPerSecond": 25,
                "ApproximateNumberOfMessagesMoved": 40,
                "ApproximateNumberOfMessagesToMove": 100,
                "StartedTimestamp": 1_769_860_800_000,
            },
            {
                "Status": "FAILED",
                "SourceArn": DLQ_ARN,
                "ApproximateNumberOfMessagesMoved": 0,
                "FailureReason": "AWS.SimpleQueueService.NonExistentQueue",
                "StartedTimestamp": 1_769_774_400_000,
            },
        ]
    }
    stub.stubber.add_response("list_message_move_tasks", tasks, {"SourceArn": DLQ_ARN, "MaxResults": 10})
    stub.stubber.add_response("list_message_move_tasks", tasks, {"SourceArn": DLQ_ARN, "MaxResults": 10})

    with stub.stubber:
        text = hookctl("dlq", "redrive", "--status", *ARN_FLAGS, session_override=stub)
        as_json = hookctl("dlq", "redrive", "--status", "--json", *ARN_FLAGS, session_override=stub)

    assert text.code == 0, text.err
    header, running, failed = text.out.rstrip("\n").splitlines()
    assert header.split()[:5] == ["STATUS", "STARTED_AT", "MOVED", "TO_MOVE", "RATE"]
    assert running.split()[:5] == ["RUNNING", "2026-01-31T12:00:00Z", "40", "100", "25"]
    assert running.endswith("task-handle-123") and failed.startswith("FAILED")
    rows = as_json.json()
    assert rows[0]["task_handle"] == "task-handle-123" and rows[1]["failure_reason"].endswith("NonExistentQueue")


# -- redrive: the copy fallback (moto does not implement StartMessageMoveTask) ---------------------------------


def test_redrive_falls_back_to_copy_when_the_endpoint_lacks_move_tasks(hookctl, session, gateway, dead_letters):
    sqs = session.client("sqs")
    before = {m["MessageId"]: m for m in _peek_raw(sqs, gateway.dlq_url)}

    # When redriving in the default (auto) mode against moto
    result = hookctl("dlq", "redrive", "--dlq-url", gateway.dlq_url, "--queue-url", gateway.queue_url, "--json")

    # Then the fallback is announced and used, and reported as such
    assert result.code == 0, result.err
    assert "does not support StartMessageMoveTask" in result.err and "FALLBACK --mode copy" in result.err
    report = result.json()
    assert report["mode"] == "copy" and report["moved"] == 3 and report["failed"] == 0
    assert "not been implemented" in report["fallback_reason"]

    # And the messages are in the main queue, bodies and attributes intact, and gone from the DLQ
    arrived = drain(sqs, gateway.queue_url)
    assert sorted(m["Body"] for m in arrived) == sorted(m["Body"] for m in before.values())
    by_delivery = {json.loads(m["Body"])["delivery_id"]: m for m in arrived}
    assert by_delivery["gh-1"]["MessageAttributes"]["provider"] == {"StringValue": "github", "DataType": "String"}
    assert "MessageAttributes" not in by_delivery["SM1"]
    assert visible_count(sqs, gateway.dlq_url) == 0


def test_redrive_copy_mode_prints_a_summary(hookctl, session, gateway, dead_letters):
    result = hookctl("dlq", "redrive", "--mode", "copy", "--dlq-url", gateway.dlq_url, "--queue-url", gateway.queue_url)

    assert result.code == 0, result.err
    assert result.out.startswith("Redrove by copy (--mode copy)")
    assert any(line.split() == ["moved:", "3"] for line in result.out.splitlines())
    assert result.err == ""  # no fallback was needed: copy was asked for
    assert len(drain(session.client("sqs"), gateway.queue_url)) == 3


def test_redrive_mode_move_task_does_not_fall_back(hookctl, session, gateway, dead_letters):
    result = hookctl(
        "dlq", "redrive", "--mode", "move-task", "--dlq-url", gateway.dlq_url, "--queue-url", gateway.queue_url
    )

    assert result.code == 1
    assert "does not support StartMessageMoveTask" in result.err and "--mode copy" in result.err
    assert visible_count(session.client("sqs"), gateway.dlq_url) == 3


def test_redrive_status_where_move_tasks_are_not_supported(hookctl, gateway):
    result = hookctl("dlq", "redrive", "--status", "--dlq-url", gateway.dlq_url)

    assert result.code == 1
    assert "does not support ListMessageMoveTasks" in result.err


def test_redrive_resolves_queues_from_the_stack_outputs(hookctl, session, dead_letters, gateway):
    # Given a stack whose outputs name the queues (here: outputs only, via a stub CloudFormation stack)
    from .gateway import stack_template

    session.client("cloudformation").create_stack(StackName="other-gateway", TemplateBody=stack_template("s-"))
    stack_sqs = session.client("sqs")
    stack_dlq = stack_sqs.get_queue_url(QueueName="s-webhook-gateway-dlq")["QueueUrl"]
    stack_queue = stack_sqs.get_queue_url(QueueName="s-webhook-gateway-ingest")["QueueUrl"]
    send_envelope(stack_sqs, stack_dlq, envelope("github", "from-stack"))

    # When redriving with only the stack name
    result = hookctl("dlq", "redrive", "--mode", "copy", "--stack-name", "other-gateway", "--json")

    # Then the stack's DLQ was drained into the stack's queue; the flag-less gateway's DLQ is untouched
    assert result.code == 0, result.err
    assert [json.loads(m["Body"])["delivery_id"] for m in drain(stack_sqs, stack_queue)] == ["from-stack"]
    assert visible_count(stack_sqs, gateway.dlq_url) == 3


def test_copy_respects_the_rate_and_the_starting_queue_depth(session, gateway):
    # Given 25 dead letters
    sqs = session.client("sqs")
    for i in range(25):
        send_envelope(sqs, gateway.dlq_url, envelope("github", f"gh-{i}"))
    clock = FakeClock()

    # When copying at 10 messages per second, at most 12
    report = copy_messages(
        gateway.dlq_url,
        gateway.queue_url,
        rate=10,
        max_messages=12,
        wait_time_seconds=0,
        sqs=sqs,
        sleep=clock.sleep,
        clock=clock.now,
    )

    # Then 12 moved, in batches of at most 10, pausing to stay at 10 per second
    assert (report["moved"], report["failed"]) == (12, 0)
    assert clock.slept == pytest.approx([1.0, 0.2])
    assert visible_count(sqs, gateway.queue_url) == 12 and visible_count(sqs, gateway.dlq_url) == 13


def test_copy_moves_only_what_was_there_when_it_started(session, gateway, dead_letters):
    report = copy_messages(gateway.dlq_url, gateway.queue_url, wait_time_seconds=0, sqs=session.client("sqs"))

    assert report["moved"] == 3


def test_attribute_names_are_the_queue_contracts():
    from webhook_gateway import envelope as contract

    # Given the names the CLI reads message attributes by
    # Then they are the envelope contract's own (imported, not redeclared)
    assert dlq.message_attribute_names() == (
        contract.ATTR_PROVIDER,
        contract.ATTR_DELIVERY_ID,
        contract.ATTR_EVENT_TYPE,
        contract.ATTR_BODY_LOCATION,
    )


def test_a_message_is_described_by_the_attributes_a_receiver_sets(session, gateway):
    # Given a dead letter whose body is no envelope, carrying only the attributes a receiver sets on every message
    sqs = session.client("sqs")
    attributes = envelope("github", "12345678:0f6c2c1e-9b1a-11ef-8a44-7f3d1c2b9e10", "push").sqs_message_attributes()
    sqs.send_message(QueueUrl=gateway.dlq_url, MessageBody="not an envelope", MessageAttributes=attributes)

    # When it is peeked at
    [described], _ = peek_messages(gateway.dlq_url, wait_time_seconds=0, sqs=sqs)

    # Then provider, delivery id, event type and body location come from those attributes
    assert (described["provider"], described["delivery_id"], described["event_type"], described["body_location"]) == (
        "github",
        "12345678:0f6c2c1e-9b1a-11ef-8a44-7f3d1c2b9e10",
        "push",
        "inline",
    )


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds


def _peek_raw(sqs, queue_url):
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return messages
