"""The consumer's event source mapping, emulated: batches in Lambda's SQS event shape, partial batch failures
deleting only what succeeded, failed invocations deleting nothing, redrive to the DLQ after maxReceiveCount."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from moto import mock_aws

from hookctl.local.lambda_runtime import Invocation
from hookctl.local.poller import SqsPoller, failed_ids, lambda_record
from hookctl.local.stack import SqsSource


@dataclass
class FakeWorker:
    answer: object
    pid: int = 1
    current_request: str | None = None

    def invoke(self, event):
        self.events.append(event)
        return self.answer(event) if callable(self.answer) else self.answer


class FakePool:
    def __init__(self, answer):
        self.worker = FakeWorker(answer)
        self.worker.events = []

    def acquire(self):
        return self.worker

    def release(self, worker):
        pass

    def record(self, invocation):
        pass


@pytest.fixture
def queue():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName="main",
            Attributes={
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield sqs, url, arn, dlq


def send(sqs, url, count):
    for index in range(count):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": index}),
            MessageAttributes={"delivery_id": {"DataType": "String", "StringValue": f"d{index}"}},
        )


def run_poller(sqs, url, arn, pool, *, seconds, report=True):
    source = SqsSource("Consumer", "Queue", url, arn, batch_size=10, report_batch_item_failures=report)
    outcomes = []
    poller = SqsPoller(source, pool, sqs, region="us-east-1", concurrency=1, on_batch=outcomes.append)
    poller.start()
    time.sleep(seconds)
    poller.stop()
    return outcomes


def count(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_records_have_lambdas_shape(queue):
    sqs, url, arn, _ = queue
    send(sqs, url, 1)
    received = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
    [message] = received["Messages"]
    record = lambda_record(message, arn, "us-east-1")
    [parsed] = SQSEvent({"Records": [record]}).records
    assert parsed.message_id == message["MessageId"] and parsed.receipt_handle == message["ReceiptHandle"]
    assert json.loads(parsed.body) == {"n": 0}
    assert parsed.attributes.approximate_receive_count == "1"
    assert parsed.message_attributes["delivery_id"].string_value == "d0"
    assert parsed.event_source_arn == arn and record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"


def test_partial_batch_failures_delete_only_what_succeeded_and_failures_reach_the_dlq(queue):
    sqs, url, arn, dlq = queue
    send(sqs, url, 4)

    def answer(event):
        failing = [
            r["messageId"] for r in event["Records"] if r["messageAttributes"]["delivery_id"]["stringValue"] == "d1"
        ]
        return Invocation("r", result={"batchItemFailures": [{"itemIdentifier": i} for i in failing]})

    pool = FakePool(answer)
    outcomes = run_poller(sqs, url, arn, pool, seconds=3.5)
    delivered = [r["messageAttributes"]["delivery_id"]["stringValue"] for e in pool.worker.events for r in e["Records"]]
    assert sorted(delivered) == ["d0", "d1", "d1", "d2", "d3"]  # d1 received twice (maxReceiveCount 2), then moved
    assert count(sqs, url) == 0
    [dead] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert dead["MessageAttributes"]["delivery_id"]["StringValue"] == "d1"
    assert all(not o.whole_batch_failed for o in outcomes)


def test_a_failed_invocation_deletes_nothing(queue):
    sqs, url, arn, _ = queue
    send(sqs, url, 3)
    pool = FakePool(Invocation("r", error={"errorType": "Sandbox.Timedout", "errorMessage": "x"}))
    outcomes = run_poller(sqs, url, arn, pool, seconds=0.6)
    assert outcomes and outcomes[0].whole_batch_failed and len(outcomes[0].failed_ids) == 3
    assert count(sqs, url) == 3


def test_an_invalid_batch_item_failures_answer_fails_the_whole_batch(queue):
    sqs, url, arn, _ = queue
    send(sqs, url, 2)
    records = [{"messageId": "a"}, {"messageId": "b"}]
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, records) == ({"a"}, False)
    assert failed_ids({"batchItemFailures": []}, records) == (set(), False)
    assert failed_ids(None, records) == (set(), False)
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, records) == ({"a", "b"}, True)
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, records) == ({"a", "b"}, True)
    assert failed_ids({"batchItemFailures": "nope"}, records) == ({"a", "b"}, True)
    pool = FakePool(Invocation("r", result={"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}))
    outcomes = run_poller(sqs, url, arn, pool, seconds=0.6)
    assert outcomes[0].whole_batch_failed and count(sqs, url) == 2


def test_without_report_batch_item_failures_a_successful_invocation_deletes_everything(queue):
    sqs, url, arn, _ = queue
    send(sqs, url, 3)
    pool = FakePool(Invocation("r", result={"batchItemFailures": [{"itemIdentifier": "ignored"}]}))
    run_poller(sqs, url, arn, pool, seconds=0.6, report=False)
    assert count(sqs, url) == 0
