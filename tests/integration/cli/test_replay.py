"""hookctl replay, one delivery and in bulk, on moto: deliveries are written by the real consumer (process_batch over
records received from the moto queue), so the archive and the ledger are what production writes, and the replays
the CLI sends are processed by that same consumer."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from hookctl import replay
from hookctl.main import main
from tests.consumer_fixtures import _clean_metrics, _logs_to_current_stdout  # noqa: F401  (autouse fixtures)
from tests.integration.consumer.aws import Aws, moto_aws, queue_depth, to_lambda_record
from tests.unit.consumer.fakes import ARCHIVE_BUCKET, DELIVERIES_TABLE, OVERFLOW_BUCKET, Recorder, make_envelope
from webhook_gateway.consumer.archive import archive_key
from webhook_gateway.consumer.processor import Consumer, process_batch
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.envelope import Envelope

from .conftest import fresh_session

MAX_ATTEMPTS = 2
STS_ARN = "arn:aws:sts::123456789012:user/moto"  # what moto's GetCallerIdentity answers for its test credentials
EVENT = "payment_intent.succeeded"


@dataclass
class FakeClock:
    """replay.CLOCK for tests: wall time moves only when the CLI sleeps; every sleep is recorded."""

    offset: float = 0.0
    slept: list[float] = field(default_factory=list)
    on_sleep: Any = None

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return self.offset

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += seconds
        if self.on_sleep is not None:
            self.on_sleep()


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Stack:
    """The gateway on moto, a consumer over it, and hookctl pointed at it."""

    def __init__(self, aws: Aws, *, inline_max_bytes: int = 6_144) -> None:
        self.aws = aws
        self.registry = Registry()
        self.settings = ConsumerSettings.from_env(
            {
                "TABLE_NAME": DELIVERIES_TABLE,
                "OVERFLOW_BUCKET": OVERFLOW_BUCKET,
                "ARCHIVE_RETENTION_DAYS": "30",
                "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                "ARCHIVE_INLINE_MAX_BYTES": str(inline_max_bytes),
                "QUEUE_URL": aws.queue_url,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
                "MAX_ATTEMPTS": str(MAX_ATTEMPTS),
                "RETRY_SCHEDULE": "1m",
            }
        )
        self.environ = {
            "HOOKCTL_TABLE": DELIVERIES_TABLE,
            "HOOKCTL_QUEUE_URL": aws.queue_url,
            "HOOKCTL_DLQ_URL": aws.dlq_url,
        }
        self.clock = FakeClock()
        self.sent: list[tuple[float, dict[str, Any]]] = []  # (fake monotonic time, params) of hookctl's SendMessage

    def consumer(self, *, clock: Any = time.time) -> Consumer:
        return Consumer(
            settings=self.settings,
            registry=self.registry,
            dynamodb=self.aws.dynamodb,
            s3=self.aws.s3,
            sqs=self.aws.sqs,
            clock=clock,
            random=lambda: 0.5,
        )

    # -- the receiver and the consumer ---------------------------------------------------------------------------

    def receive(self, envelope: Envelope) -> None:
        """What a receiver does: one SendMessage of the envelope."""
        self.aws.sqs.send_message(
            QueueUrl=self.aws.queue_url,
            MessageBody=envelope.sqs_message_body(),
            MessageAttributes=envelope.sqs_message_attributes(),
        )

    def take(self) -> list[dict[str, Any]]:
        """Every visible message of the main queue as Lambda records (hidden meanwhile, deleted by ``consume``)."""
        records: list[dict[str, Any]] = []
        while True:
            messages = self.aws.sqs.receive_message(
                QueueUrl=self.aws.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return records
            records.extend(to_lambda_record(message, self.aws.queue_arn) for message in messages)

    def consume(self, records: list[dict[str, Any]] | None = None, *, clock: Any = time.time) -> set[str]:
        """One consumer invocation over ``records`` (default: what the queue holds); acknowledged records are
        deleted, as the event source mapping does. Returns the message ids reported failed."""
        records = self.take() if records is None else records
        if not records:
            return set()
        response = process_batch({"Records": records}, None, self.consumer(clock=clock))
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for record in records:
            if record["messageId"] not in failed:
                self.aws.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=record["receiptHandle"])
        return failed

    def deliver(self, envelope: Envelope, *, clock: Any = time.time) -> None:
        self.receive(envelope)
        self.consume(clock=clock)

    def dead_letter(self, envelope: Envelope) -> None:
        """Deliver it to a handler that always fails until the consumer dead-letters it (MAX_ATTEMPTS)."""
        self.receive(envelope)
        records = self.take()
        for _ in range(MAX_ATTEMPTS):
            self.consume(records)  # the same message, again: as SQS brings it back after the scheduled delay

    # -- hookctl ---------------------------------------------------------------------------------------------------

    def hookctl(self, *argv: str, session: Any = None, stderr: io.StringIO | None = None) -> Run:
        out, err = io.StringIO(), stderr or io.StringIO()
        session = session or self.session()
        code = main(list(argv), session=session, environ=self.environ, stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    def session(self) -> boto3.Session:
        session = fresh_session()

        def record(params: dict[str, Any], **_: Any) -> None:
            if params.get("QueueUrl") == self.aws.queue_url:
                self.sent.append((self.clock.monotonic(), dict(params)))

        session.events.register("provide-client-params.sqs.SendMessage", record)
        return session

    # -- reading the stack -----------------------------------------------------------------------------------------

    def ledger(self, provider: str, delivery_id: str) -> dict[str, Any]:
        from hookctl.deliveries import get_delivery

        return get_delivery(DELIVERIES_TABLE, provider, delivery_id, dynamodb=self.aws.dynamodb) or {}

    def queued(self) -> list[Envelope]:
        """The envelopes in the main queue (left there)."""
        records = self.take()
        for record in records:
            self.aws.sqs.change_message_visibility(
                QueueUrl=self.aws.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        return [Envelope.model_validate_json(record["body"]) for record in records]

    def body_bytes(self, envelope: Envelope) -> bytes:
        if envelope.body_ref is None:
            return envelope.inline_body_bytes()
        ref = envelope.body_ref
        return self.aws.s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()


@pytest.fixture
def aws() -> Iterator[Aws]:
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def stack(aws, monkeypatch) -> Stack:
    built = Stack(aws)
    monkeypatch.setattr(replay, "CLOCK", built.clock)
    return built


def handled_by(stack: Stack, provider: str = "stripe", event_type: str = EVENT, **kwargs: Any) -> Recorder:
    recorder = Recorder(**kwargs)
    stack.registry.register(provider, event_type, recorder)
    return recorder


def stripe(delivery_id: str, event_type: str = EVENT, raw: bytes | None = None) -> Envelope:
    return make_envelope("stripe", delivery_id, event_type, raw)


# -- one delivery, by ledger status --------------------------------------------------------------------------------


def test_a_processed_delivery_needs_force_then_its_handler_runs_once_more(stack):
    """Given a delivery the consumer processed (handler ran once)
    When replaying it without --force, then with --force, and consuming the queue
    Then the first is refused (exit 1, nothing recorded or sent), the second re-runs the handler exactly once."""
    recorder = handled_by(stack)
    stack.deliver(stripe("evt_done"))
    assert recorder.calls == 1

    refused = stack.hookctl("replay", "stripe", "evt_done")
    assert refused.code == 1
    assert "already processed (outcome handled)" in refused.err and "--force" in refused.err
    assert queue_depth(stack.aws, stack.aws.queue_url) == 0
    assert "replay_count" not in stack.ledger("stripe", "evt_done")

    forced = stack.hookctl("replay", "stripe", "evt_done", "--force", "--json")
    assert forced.code == 0, forced.err
    report = forced.json()
    assert report["ledger_status"] == "processed" and report["replayed_from"] == "archive"
    assert report["replay_count"] == 1 and report["requested_by"] == STS_ARN and report["new_message_id"]

    stack.consume()
    assert recorder.calls == 2
    entry = stack.ledger("stripe", "evt_done")
    assert entry["status"] == "processed" and not entry.get("pending_replays")


def test_a_skipped_delivery_runs_once_when_a_handler_exists_by_then(stack):
    """Given a delivery recorded processed/skipped (no handler was registered)
    When a handler is registered and the delivery is replayed with --force
    Then the handler runs once, with the archived event."""
    stack.deliver(stripe("evt_skipped"))
    assert stack.ledger("stripe", "evt_skipped")["outcome"] == "skipped"
    recorder = handled_by(stack)

    result = stack.hookctl("replay", "stripe", "evt_skipped", "--force")
    stack.consume()

    assert result.code == 0, result.err
    assert "ledger_state:" in result.out and "processed (skipped)" in result.out
    assert recorder.calls == 1
    assert recorder.events[0].raw == stripe("evt_skipped").inline_body_bytes()
    assert stack.ledger("stripe", "evt_skipped")["outcome"] == "handled"


def test_a_failed_delivery_is_replayed_without_force(stack):
    """Given a delivery whose handler failed once (retry scheduled, the message hidden in the queue)
    When replaying it and consuming the replay
    Then its handler runs and the ledger says processed."""
    recorder = handled_by(stack, failures=1)
    stack.deliver(stripe("evt_failed"))
    assert stack.ledger("stripe", "evt_failed")["status"] == "failed"

    result = stack.hookctl("replay", "stripe", "evt_failed", "--json")
    stack.consume()

    assert result.code == 0, result.err
    assert result.json()["ledger_status"] == "failed"
    assert recorder.calls == 2 and len(recorder.events) == 1
    assert stack.ledger("stripe", "evt_failed")["status"] == "processed"


def test_a_dead_lettered_delivery_is_replayed_from_the_archive(stack):
    """Given a delivery the consumer dead-lettered after MAX_ATTEMPTS failures (in the DLQ, ledger failed)
    When the handler is fixed and the delivery is replayed
    Then it comes from the archive (the DLQ copy stays), and it runs with a fresh retry budget."""
    recorder = handled_by(stack, always_fail=True)
    stack.dead_letter(stripe("evt_dead"))
    entry = stack.ledger("stripe", "evt_dead")
    assert entry["status"] == "failed" and entry["dead_lettered_at"] and entry["run_attempts"] == MAX_ATTEMPTS
    assert queue_depth(stack.aws, stack.aws.dlq_url) == 1
    recorder.always_fail = False

    result = stack.hookctl("replay", "stripe", "evt_dead", "--json")
    stack.consume()

    assert result.code == 0, result.err
    assert result.json()["ledger_state"] == "failed (dead-lettered)"
    assert result.json()["replayed_from"] == "archive"
    assert len(recorder.events) == 1
    assert stack.ledger("stripe", "evt_dead")["status"] == "processed"


def test_a_redriven_dead_letter_is_dead_lettered_again_without_running_but_a_replay_runs(stack):
    """Given a delivery the consumer dead-lettered (run_attempts = MAX_ATTEMPTS)
    When its DLQ copy is sent back as is (what `dlq redrive` does), then it is replayed
    Then the redriven copy is dead-lettered at once without running the handler (the retry budget is spent), and
    the replay (which starts the budget again) runs it: why the runbook says replay."""
    recorder = handled_by(stack, always_fail=True)
    stack.dead_letter(stripe("evt_budget"))
    recorder.always_fail = False
    calls = recorder.calls
    (dead,) = stack.aws.sqs.receive_message(QueueUrl=stack.aws.dlq_url, MessageAttributeNames=["All"])["Messages"]
    stack.aws.sqs.send_message(QueueUrl=stack.aws.queue_url, MessageBody=dead["Body"])
    stack.aws.sqs.delete_message(QueueUrl=stack.aws.dlq_url, ReceiptHandle=dead["ReceiptHandle"])

    stack.consume()
    assert recorder.calls == calls and queue_depth(stack.aws, stack.aws.dlq_url) == 1

    assert stack.hookctl("replay", "stripe", "evt_budget").code == 0
    stack.consume()
    assert recorder.calls == calls + 1 and stack.ledger("stripe", "evt_budget")["status"] == "processed"


def test_without_an_archive_a_dead_letter_is_replayed_from_the_dlq_through_a_replay_request(stack):
    """Given a dead-lettered delivery whose archive item is gone
    When replaying it
    Then its DLQ copy is sent with the replay request added and its body unchanged, the DLQ copy is deleted, the
    output says so, and the consumer runs the handler once even if the copy arrives twice."""
    recorder = handled_by(stack, always_fail=True)
    original = stripe("evt_dlq")
    stack.dead_letter(original)
    recorder.always_fail = False
    stack.aws.dynamodb.delete_item(TableName=DELIVERIES_TABLE, Key=archive_key("stripe", "evt_dlq"))

    result = stack.hookctl("replay", "stripe", "evt_dlq", "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["replayed_from"] == "dlq" and report["dlq_copies_removed"] == 1
    assert "replayed from its copy in the dead-letter queue" in result.err
    assert queue_depth(stack.aws, stack.aws.dlq_url) == 0
    (queued,) = stack.queued()
    assert queued.replay is not None and queued.replay.id == report["replay_id"]
    assert queued.body == original.body and queued.body_sha256 == original.body_sha256

    records = stack.take()
    stack.consume(records)
    stack.consume(records)  # SQS delivering the same message twice
    assert len(recorder.events) == 1


def test_neither_archive_nor_dlq_copy_exits_1_with_what_to_do(stack):
    """Given a processed delivery whose archive item is gone and which is not in the DLQ
    When replaying it with --force
    Then it exits 1, says the provider must redeliver it (and --reset-only first), and records nothing."""
    handled_by(stack)
    stack.deliver(stripe("evt_gone"))
    stack.aws.dynamodb.delete_item(TableName=DELIVERIES_TABLE, Key=archive_key("stripe", "evt_gone"))

    result = stack.hookctl("replay", "stripe", "evt_gone", "--force", "--max-scan", "10")

    assert result.code == 1
    assert "neither archived nor in the dead-letter queue" in result.err
    assert "redeliver" in result.err and "--reset-only" in result.err
    assert "replay_count" not in stack.ledger("stripe", "evt_gone")
    assert queue_depth(stack.aws, stack.aws.queue_url) == 0


def test_reset_only_lets_a_provider_redelivery_of_a_processed_delivery_run(stack):
    """Given a processed delivery whose run_attempts is MAX_ATTEMPTS (as a consumer that did not reset it on completion
    left it), with no archive
    When its entry is reset (--reset-only) and the provider redelivers it (same id, no replay request)
    Then the redelivery runs the handler (run_attempts starts again: no instant dead-lettering)."""
    recorder = handled_by(stack)
    stack.deliver(stripe("evt_reset"))
    stack.aws.dynamodb.update_item(
        TableName=DELIVERIES_TABLE,
        Key={"provider": {"S": "stripe"}, "delivery_id": {"S": "evt_reset"}},
        UpdateExpression="SET run_attempts = :max",
        ExpressionAttributeValues={":max": {"N": str(MAX_ATTEMPTS)}},
    )
    stack.aws.dynamodb.delete_item(TableName=DELIVERIES_TABLE, Key=archive_key("stripe", "evt_reset"))

    reset = stack.hookctl("replay", "stripe", "evt_reset", "--reset-only", "--json")
    stack.deliver(stripe("evt_reset"))

    assert reset.code == 0, reset.err
    assert reset.json()["ledger_reset"] is True
    assert recorder.calls == 2
    entry = stack.ledger("stripe", "evt_reset")
    assert entry["status"] == "processed" and "dead_lettered_at" not in entry


def test_a_delivery_held_by_a_consumer_is_not_replayed(stack):
    """Given a consumer running the delivery's handler right now (live lease)
    When an operator replays it from inside that window
    Then the replay is refused (exit 1) and nothing is recorded."""
    seen: list[Run] = []
    recorder = handled_by(stack)
    recorder.on_call = lambda: seen.append(stack.hookctl("replay", "stripe", "evt_busy", "--force"))

    stack.deliver(stripe("evt_busy"))

    (during,) = seen
    assert during.code == 1 and "lease held" in during.err
    assert "replay_count" not in stack.ledger("stripe", "evt_busy")


def test_wait_returns_once_the_consumer_processed_the_replay(stack):
    """Given a failed delivery, and a consumer that runs while hookctl waits
    When replaying it with --wait
    Then the command reports processed and exits 0; with no consumer running it times out with exit 1."""
    recorder = handled_by(stack, failures=1)
    stack.deliver(stripe("evt_wait"))
    stack.clock.on_sleep = stack.consume

    waited = stack.hookctl("replay", "stripe", "evt_wait", "--wait", "5", "--json")

    assert waited.code == 0, waited.err
    assert waited.json()["replay_processed"] is True and waited.json()["ledger_status_after"] == "processed"
    assert len(recorder.events) == 1

    stack.clock.on_sleep = None
    timed_out = stack.hookctl("replay", "stripe", "evt_wait", "--force", "--wait", "2", "--json")
    assert timed_out.code == 1 and "not processed within 2 s" in timed_out.err
    assert timed_out.json()["replay_processed"] is False  # although the entry still says processed
    assert sum(stack.clock.slept) >= 2


# -- exactly once per request, and who asked ---------------------------------------------------------------------


def test_one_request_runs_once_however_often_its_copy_arrives_and_two_requests_run_twice(stack):
    """Given a processed delivery
    When one replay's message is delivered twice, then two more replays are requested
    Then the handler ran once for the first request and once for each other, and the ledger lists every request
    with its time and the caller's STS identity."""
    recorder = handled_by(stack)
    stack.deliver(stripe("evt_once"))

    first = stack.hookctl("replay", "stripe", "evt_once", "--force", "--json").json()
    records = stack.take()
    stack.consume(records)
    stack.consume(records)
    assert recorder.calls == 2

    second = stack.hookctl("replay", "stripe", "evt_once", "--force", "--json").json()
    third = stack.hookctl("replay", "stripe", "evt_once", "--force", "--json").json()
    stack.consume()
    assert recorder.calls == 4

    entry = stack.ledger("stripe", "evt_once")
    assert entry["replay_count"] == 3 and third["replay_count"] == 3
    assert [r["id"] for r in entry["replays"]] == [first["replay_id"], second["replay_id"], third["replay_id"]]
    assert all(r["by"] == STS_ARN and r["at"].endswith("Z") for r in entry["replays"])
    assert not entry.get("pending_replays")


def test_stacked_requests_each_run_once_even_beyond_max_attempts(stack):
    """Given a processed delivery and MAX_ATTEMPTS + 1 replay requests made before the consumer gets to them
    When the consumer processes their copies one after the other
    Then the handler runs once per request: a success gives the next request the whole retry budget (core fix: the
    third copy used to find run_attempts 3 > MAX_ATTEMPTS 2 and was dead-lettered without running)."""
    recorder = handled_by(stack)
    stack.deliver(stripe("evt_stacked"))
    for _ in range(MAX_ATTEMPTS + 1):
        assert stack.hookctl("replay", "stripe", "evt_stacked", "--force").code == 0

    stack.consume()

    assert recorder.calls == 1 + MAX_ATTEMPTS + 1
    entry = stack.ledger("stripe", "evt_stacked")
    assert entry["status"] == "processed" and "dead_lettered_at" not in entry
    assert queue_depth(stack.aws, stack.aws.dlq_url) == 0


class StsFailing:
    """A session whose STS client refuses GetCallerIdentity; every other client is the real (moto) one."""

    def __init__(self, session: boto3.Session) -> None:
        self.inner = session
        self.sts = session.client("sts")
        self.stubber = Stubber(self.sts)
        self.stubber.add_client_error("get_caller_identity", "AccessDenied", "not allowed")
        self.stubber.activate()

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.sts if service == "sts" else self.inner.client(service, **kwargs)


def test_when_sts_cannot_tell_who_asks_the_replay_is_recorded_as_unknown_with_a_warning(stack):
    handled_by(stack, failures=1)
    stack.deliver(stripe("evt_anon"))

    result = stack.hookctl("replay", "stripe", "evt_anon", "--json", session=StsFailing(stack.session()))

    assert result.code == 0, result.err
    assert "warning: STS GetCallerIdentity failed" in result.err
    assert result.json()["requested_by"] == "unknown"
    assert stack.ledger("stripe", "evt_anon")["replays"][0]["by"] == "unknown"


def test_a_send_that_fails_after_the_request_is_reported_and_runs_nothing(stack):
    """Given a failed delivery, and SendMessage refused (AccessDenied) after the request was recorded
    When replaying it
    Then it exits 1 naming the recorded request; the pending id stays unconsumed, the queue gets nothing, and the
    original retry still runs the handler once (the stray request makes nothing run)."""
    recorder = handled_by(stack, failures=1)
    stack.receive(stripe("evt_unsent"))
    records = stack.take()
    stack.consume(records)
    session = stack.session()

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "SendMessage")

    session.events.register("provide-client-params.sqs.SendMessage", refuse)

    result = stack.hookctl("replay", "stripe", "evt_unsent", session=session)

    assert result.code == 1
    assert "was recorded but the message could not be sent" in result.err and "AccessDenied" in result.err
    entry = stack.ledger("stripe", "evt_unsent")
    assert entry["replay_count"] == 1 and entry["pending_replays"] == [entry["replays"][0]["id"]]
    assert stack.take() == []
    stack.consume(records)  # the original message, back after its scheduled delay
    assert recorder.calls == 2 and len(recorder.events) == 1


# -- byte for byte -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "inline_max_bytes", "location"),
    [
        ("inline", b'{"id": "evt_bytes", "type": "payment_intent.succeeded", "note": "caf\xc3\xa9"}', 6_144, "inline"),
        ("s3", b'{"id": "evt_bytes", "pad": "' + b"x" * 4_000 + b'"}', 64, "s3"),
        ("not utf-8", b"\xff\xfe\x00binary\x80\x81 body", 6_144, "inline"),
    ],
)
def test_the_reenqueued_body_is_the_archived_one_byte_for_byte(aws, monkeypatch, name, raw, inline_max_bytes, location):
    """Given a delivery archived inline, in S3 (ARCHIVE_INLINE_MAX_BYTES small) or as non-UTF-8 bytes
    When replaying it
    Then the queued copy's body has the archived SHA-256, and the handler gets those exact bytes."""
    stack = Stack(aws, inline_max_bytes=inline_max_bytes)
    monkeypatch.setattr(replay, "CLOCK", stack.clock)
    recorder = handled_by(stack)
    stack.deliver(stripe("evt_bytes", raw=raw))
    archived = aws.dynamodb.get_item(TableName=DELIVERIES_TABLE, Key=archive_key("stripe", "evt_bytes"))["Item"]

    result = stack.hookctl("replay", "stripe", "evt_bytes", "--force", "--json")

    assert result.code == 0, result.err
    assert result.json()["body_location"] == location
    (queued,) = stack.queued()
    assert hashlib.sha256(stack.body_bytes(queued)).hexdigest() == archived["body_sha256"]["S"]
    assert hashlib.sha256(raw).hexdigest() == archived["body_sha256"]["S"]
    stack.consume()
    assert recorder.events[-1].raw == raw


@pytest.mark.parametrize("where", ["inline", "s3"])
def test_a_tampered_archive_is_refused_and_nothing_is_sent(aws, monkeypatch, where):
    """Given an archived body changed after the fact (the ledger item's bytes, or the S3 object)
    When replaying it
    Then it exits 1 with the integrity error, records no request and sends nothing."""
    stack = Stack(aws, inline_max_bytes=6_144 if where == "inline" else 16)
    monkeypatch.setattr(replay, "CLOCK", stack.clock)
    handled_by(stack, failures=1)
    stack.deliver(stripe("evt_tampered"))
    key = archive_key("stripe", "evt_tampered")
    if where == "inline":
        aws.dynamodb.update_item(
            TableName=DELIVERIES_TABLE,
            Key=key,
            UpdateExpression="SET #b = :b",
            ExpressionAttributeNames={"#b": "body"},
            ExpressionAttributeValues={":b": {"B": b'{"id": "evt_tampered", "amount": 999999}'}},
        )
    else:
        item = aws.dynamodb.get_item(TableName=DELIVERIES_TABLE, Key=key)["Item"]
        aws.s3.put_object(Bucket=item["body_bucket"]["S"], Key=item["body_key"]["S"], Body=b'{"edited": true}')

    result = stack.hookctl("replay", "stripe", "evt_tampered")

    assert result.code == 1
    assert "does not match its recorded SHA-256" in result.err and "nothing recorded or sent" in result.err
    assert stack.sent == []
    assert "replay_count" not in stack.ledger("stripe", "evt_tampered")


# -- bulk ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(stack) -> Stack:
    """Given failed stripe deliveries of two event types, a failed github one, a processed stripe one, and a failed
    stripe one last attempted three hours ago."""
    handled_by(stack, always_fail=True)
    handled_by(stack, event_type="charge.refunded", always_fail=True)
    handled_by(stack, provider="github", event_type="push", always_fail=True)
    for delivery_id in ("evt_a1", "evt_a2"):
        stack.deliver(stripe(delivery_id))
    stack.deliver(stripe("evt_b1", "charge.refunded"))
    stack.deliver(make_envelope("github", "gh-1", "push", b'{"ref": "main"}', delivery_id_signed=False))
    stack.deliver(stripe("evt_old"), clock=lambda: time.time() - 3 * 3600)
    stack.registry.register("stripe", "invoice.paid", Recorder())
    stack.deliver(stripe("evt_ok", "invoice.paid"))
    return stack


def ids(result: Run) -> set[str]:
    return {row["delivery_id"] for row in result.json()["deliveries"]}


def test_bulk_filters_by_status_since_provider_and_type(mixed):
    def dry(*argv: str) -> Run:
        result = mixed.hookctl("replay", "--dry-run", "--json", *argv)
        assert result.code == 0, result.err
        return result

    assert ids(dry("--status", "failed", "--since", "1h")) == {"evt_a1", "evt_a2", "evt_b1", "gh-1"}
    assert ids(dry("--status", "failed", "--since", "4h")) == {"evt_a1", "evt_a2", "evt_b1", "gh-1", "evt_old"}
    assert ids(dry("--status", "failed", "--since", "4h", "--until", "1h")) == {"evt_old"}
    assert ids(dry("--status", "failed", "--since", "1h", "--provider", "stripe")) == {"evt_a1", "evt_a2", "evt_b1"}
    assert ids(dry("--status", "failed", "--since", "1h", "--type", "charge.refunded")) == {"evt_b1"}
    assert ids(dry("--status", "processed", "--since", "1h")) == {"evt_ok"}


def test_bulk_dry_run_lists_and_sends_nothing(mixed):
    result = mixed.hookctl("replay", "--status", "failed", "--since", "1h", "--provider", "stripe", "--dry-run")

    assert result.code == 0, result.err
    assert "would replay" in result.out and "would_replay:  3" in result.out
    assert mixed.sent == []
    assert "replay_count" not in mixed.ledger("stripe", "evt_a1")


def test_bulk_dead_lettered_selects_only_what_the_consumer_moved_to_the_dlq(stack):
    handled_by(stack, always_fail=True)
    stack.dead_letter(stripe("evt_dl"))
    stack.deliver(stripe("evt_retrying"))

    result = stack.hookctl("replay", "--status", "dead_lettered", "--since", "1h", "--dry-run", "--json")

    assert ids(result) == {"evt_dl"}


def test_bulk_replays_each_once_paced_by_the_rate_and_summarises(stack):
    """Given 12 failed deliveries
    When replaying them in bulk at 5 per second (fake clock)
    Then 5 go at once (a second's burst), then one every 0.2 s; each is sent once and runs once; exit 0."""
    recorder = handled_by(stack, failures=12)
    for n in range(12):
        stack.receive(stripe(f"evt_r{n:02d}"))
    stack.consume()
    assert recorder.calls == 12

    result = stack.hookctl("replay", "--status", "failed", "--since", "1h", "--rate", "5", "--yes", "--json")

    assert result.code == 0, result.err
    summary = result.json()
    assert (summary["selected"], summary["replayed"], summary["skipped"], summary["failed"]) == (12, 12, 0, 0)
    assert summary["requested_by"] == STS_ARN
    times = [moment for moment, _ in stack.sent]
    assert times[:5] == [0.0] * 5
    assert [round(b - a, 6) for a, b in zip(times[4:], times[5:], strict=False)] == [0.2] * 7
    assert round(sum(stack.clock.slept), 6) == 1.4
    assert "replayed 12/12" in result.err  # the plain progress line (stderr is not a terminal)
    stack.consume()
    assert len(recorder.events) == 12


def test_bulk_processed_needs_force(mixed):
    skipped = mixed.hookctl("replay", "--status", "processed", "--since", "1h", "--yes", "--json")
    forced = mixed.hookctl("replay", "--status", "processed", "--since", "1h", "--yes", "--force", "--json")

    assert skipped.code == 0 and (skipped.json()["skipped"], skipped.json()["replayed"]) == (1, 0)
    assert "--force" in skipped.json()["deliveries"][0]["detail"]
    assert forced.code == 0 and forced.json()["replayed"] == 1
    assert len(mixed.sent) == 1


def test_bulk_counts_failures_and_exits_1(mixed):
    """Given three failed stripe deliveries, one without its archive, one with a tampered archive
    Then one is replayed, two fail (with their reason), and the command exits 1."""
    mixed.aws.dynamodb.delete_item(TableName=DELIVERIES_TABLE, Key=archive_key("stripe", "evt_a1"))
    mixed.aws.dynamodb.update_item(
        TableName=DELIVERIES_TABLE,
        Key=archive_key("stripe", "evt_a2"),
        UpdateExpression="SET #b = :b",
        ExpressionAttributeNames={"#b": "body"},
        ExpressionAttributeValues={":b": {"B": b"{}"}},
    )

    result = mixed.hookctl("replay", "--status", "failed", "--since", "1h", "--provider", "stripe", "--yes", "--json")

    assert result.code == 1
    summary = result.json()
    assert (summary["replayed"], summary["skipped"], summary["failed"]) == (1, 0, 2)
    details = {row["delivery_id"]: (row["result"], row["detail"]) for row in summary["deliveries"]}
    assert details["evt_a1"][0] == "failed" and "not archived" in details["evt_a1"][1]
    assert details["evt_a2"][0] == "failed" and "SHA-256" in details["evt_a2"][1]
    assert details["evt_b1"][0] == "replayed"
    assert len(mixed.sent) == 1


def test_bulk_asks_for_confirmation(mixed, monkeypatch):
    """Without a terminal it requires --yes (exit 2); on a terminal it asks, and "n" sends nothing."""
    no_tty = mixed.hookctl("replay", "--status", "failed", "--since", "1h")
    assert no_tty.code == 2 and "--yes" in no_tty.err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(replay, "_stdin", lambda: Terminal("n\n"))
    declined = mixed.hookctl("replay", "--status", "failed", "--since", "1h")
    assert declined.code == 1 and "Replay 4 deliveries?" in declined.err and "nothing was replayed" in declined.err
    assert mixed.sent == []

    monkeypatch.setattr(replay, "_stdin", lambda: Terminal("y\n"))
    bar = Terminal()
    accepted = mixed.hookctl("replay", "--status", "failed", "--since", "1h", "--provider", "github", stderr=bar)
    assert accepted.code == 0, accepted.err
    assert "\r[" + "#" * replay.Progress.WIDTH + "] 1/1" in accepted.err  # the bar, on a terminal
    assert len(mixed.sent) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("replay",), "--status and --since"),
        (("replay", "--status", "failed"), "--status and --since"),
        (("replay", "stripe"), "PROVIDER and DELIVERY_ID"),
        (("replay", "stripe", "evt_1", "--dry-run"), "--dry-run: bulk options"),
        (("replay", "--status", "failed", "--since", "1h", "--wait", "5"), "apply to one delivery"),
        (("replay", "--status", "failed", "--since", "soon"), "--since 'soon'"),
    ],
)
def test_usage_errors(stack, argv, message):
    result = stack.hookctl(*argv)

    assert result.code == 2 and message in result.err
