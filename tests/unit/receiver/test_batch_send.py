"""``EnvelopeSender.send_batch``: the envelopes of a batch request (Provider.split) queued with SendMessageBatch in
chunks SQS accepts, failed entries resent a bounded number of times, nothing half-done reported as done; and the
single-event hot path still one SendMessage per delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.unit.receiver.fakes import InMemoryS3, StaticSecret
from tools.make_events import SAMPLE_SECRETS, build_event
from webhook_gateway.envelope import Envelope
from webhook_gateway.queue import MAX_BATCH_BYTES, EnqueueError, EnvelopeSender, message_size
from webhook_gateway.receiver import Receiver
from webhook_gateway.settings import ReceiverSettings
from webhook_gateway.verifiers import load_provider


class BatchSqs:
    """SendMessageBatch as SQS answers it: every entry Successful unless ``fail`` says otherwise.

    ``fail``: entry id -> how many more calls it fails in (``SenderFault`` per ``sender_fault``). Every call is
    recorded; limits SQS enforces (10 entries, 1 MiB in all, distinct ids) raise as SQS would."""

    def __init__(self, fail: dict[str, int] | None = None, sender_fault: bool = False) -> None:
        self.calls: list[list[dict]] = []
        self.single: list[dict] = []
        self.queued: list[dict] = []
        self.fail = dict(fail or {})
        self.sender_fault = sender_fault

    def send_message(self, **kwargs) -> dict:
        self.single.append(kwargs)
        self.queued.append(kwargs)
        return {"MessageId": f"m-{len(self.queued)}"}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 (boto3's names)
        self.calls.append(Entries)
        assert 1 <= len(Entries) <= 10, "TooManyEntriesInBatchRequest"
        assert len({entry["Id"] for entry in Entries}) == len(Entries), "BatchEntryIdsNotDistinct"
        total = sum(
            len(entry["MessageBody"].encode())
            + sum(
                len(name) + len(value["DataType"]) + len(value["StringValue"].encode())
                for name, value in entry["MessageAttributes"].items()
            )
            for entry in Entries
        )
        assert total <= MAX_BATCH_BYTES, "BatchRequestTooLong"
        successful, failed = [], []
        for entry in Entries:
            if self.fail.get(entry["Id"], 0) > 0:
                self.fail[entry["Id"]] -= 1
                failed.append({"Id": entry["Id"], "SenderFault": self.sender_fault, "Code": "InternalError"})
            else:
                self.queued.append(entry)
                successful.append({"Id": entry["Id"], "MessageId": f"m-{len(self.queued)}"})
        return {"Successful": successful, "Failed": failed}


def envelope(index: int, body: bytes = b'{"eventId":1}') -> tuple[Envelope, bytes]:
    built = Envelope(
        provider="hubspot",
        delivery_id=f"62515:1:{index}:1700000000000",
        event_type="contact.creation",
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        **Envelope.inline_body_fields(body),
    )
    return built, body


def sender(sqs: BatchSqs, s3: InMemoryS3 | None = None, inline_limit_bytes: int = 1_000_000) -> EnvelopeSender:
    return EnvelopeSender("q", "b", inline_limit_bytes=inline_limit_bytes, sqs_client=sqs, s3_client=s3 or InMemoryS3())


def test_25_parts_are_sent_in_3_calls_of_at_most_10_in_order():
    """Given 25 envelopes, when they are sent as a batch, then SQS gets 3 SendMessageBatch calls (10, 10, 5 entries)
    and every envelope is queued once, in order."""
    sqs = BatchSqs()
    items = [envelope(i) for i in range(25)]
    queued = sender(sqs).send_batch(items)
    assert [len(call) for call in sqs.calls] == [10, 10, 5]
    assert [json.loads(entry["MessageBody"])["delivery_id"] for entry in sqs.queued] == [
        e.delivery_id for e, _ in items
    ]
    assert queued == [e for e, _ in items] and sqs.single == []


def test_a_chunk_never_exceeds_sqss_total_payload_limit():
    """Given 5 envelopes of ~400 KB each, then no call carries more than 1 MiB of messages: 2 + 2 + 1."""
    sqs = BatchSqs()
    items = [envelope(i, b'{"v":"' + b"x" * 400_000 + b'"}') for i in range(5)]
    sender(sqs).send_batch(items)
    assert [len(call) for call in sqs.calls] == [2, 2, 1]
    assert len(sqs.queued) == 5


def test_a_chunk_is_cut_exactly_at_the_limit():
    """Given two messages whose sizes add up to exactly 1 MiB, they share one call; one byte more splits them."""
    def of_size(index: int, size: int) -> tuple[Envelope, bytes]:
        filler = 0
        while True:  # the envelope's own fields (body_size's digits) grow with the body: home in on the size
            item = envelope(index, b"x" * filler)
            measured = message_size(item[0].sqs_message_body(), item[0])
            if measured == size:
                return item
            filler += size - measured

    half = MAX_BATCH_BYTES // 2
    sqs = BatchSqs()
    sender(sqs).send_batch([of_size(0, half), of_size(1, half)])
    assert [len(call) for call in sqs.calls] == [2]
    sqs = BatchSqs()
    sender(sqs).send_batch([of_size(0, half), of_size(1, half + 1)])
    assert [len(call) for call in sqs.calls] == [1, 1]


def test_failed_entries_are_resent_alone_and_then_everything_is_queued():
    """Given SQS fails entries 3 and 7 once (a server-side fault), then only those two are sent again, and the
    batch is queued in full without an error."""
    sqs = BatchSqs(fail={"3": 1, "7": 1})
    sender(sqs).send_batch([envelope(i) for i in range(10)])
    assert [[entry["Id"] for entry in call] for call in sqs.calls][1] == ["3", "7"]
    assert len(sqs.calls) == 2 and len(sqs.queued) == 10


def test_an_entry_failing_twice_is_still_queued_on_the_third_attempt():
    sqs = BatchSqs(fail={"0": 2})
    sender(sqs).send_batch([envelope(0), envelope(1)])
    assert len(sqs.calls) == 3 and len(sqs.queued) == 2


def test_an_entry_that_keeps_failing_raises_after_three_attempts_with_the_others_queued():
    """Given entry 1 fails on every call, then the sender gives up after 3 attempts with EnqueueError (the receiver
    answers 503); the other entries were queued (the consumer deduplicates them when the provider retries)."""
    sqs = BatchSqs(fail={"1": 99})
    with pytest.raises(EnqueueError, match="left 1 entries unqueued after 3 attempts"):
        sender(sqs).send_batch([envelope(0), envelope(1), envelope(2)])
    assert len(sqs.calls) == 3
    assert [json.loads(entry["MessageBody"])["delivery_id"] for entry in sqs.queued] == [
        envelope(0)[0].delivery_id,
        envelope(2)[0].delivery_id,
    ]


def test_a_sender_fault_is_never_resent():
    """Given SQS says an entry's failure is ours (SenderFault: resending cannot help), then there is no second call."""
    sqs = BatchSqs(fail={"0": 99}, sender_fault=True)
    with pytest.raises(EnqueueError, match="refused 1 entries: InternalError"):
        sender(sqs).send_batch([envelope(0), envelope(1)])
    assert len(sqs.calls) == 1


def test_a_later_chunk_is_not_sent_after_an_earlier_one_failed():
    sqs = BatchSqs(fail={"2": 99}, sender_fault=True)
    with pytest.raises(EnqueueError):
        sender(sqs).send_batch([envelope(i) for i in range(15)])
    assert len(sqs.calls) == 1


def test_a_failing_call_is_an_enqueue_error():
    class Down(BatchSqs):
        def send_message_batch(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")

    with pytest.raises(EnqueueError, match="SendMessageBatch failed: ServiceUnavailable"):
        sender(Down()).send_batch([envelope(0)])


def test_a_part_too_large_for_a_message_goes_to_s3_and_its_pointer_is_queued():
    """Given a batch whose second part is over the inline limit, then that part's bytes go to the overflow bucket
    and its envelope carries the pointer, while the other part travels inline."""
    s3 = InMemoryS3()
    sqs = BatchSqs()
    big = b'{"v":"' + b"y" * 5_000 + b'"}'
    queued = sender(sqs, s3, inline_limit_bytes=2_000).send_batch([envelope(0), envelope(1, big)])
    assert [e.body_location for e in queued] == ["inline", "s3"]
    assert list(s3.objects.values()) == [big]
    assert json.loads(sqs.queued[1]["MessageBody"])["body_ref"]["size"] == len(big)


def test_the_single_event_hot_path_is_still_one_send_message_per_delivery():
    """Given every single-event sample provider (no Provider.split), when its default sample is received, then the
    receiver made exactly one SendMessage call and no SendMessageBatch call: batch support changed nothing there."""
    from hookctl.samples import DEFAULT_KINDS, PROVIDERS

    checked = 0
    for name in PROVIDERS:
        provider = load_provider(name)
        if provider.split is not None:
            continue
        event = build_event(name, DEFAULT_KINDS[name])
        sqs = BatchSqs()
        settings = ReceiverSettings(provider=name, queue_url="q", secret_id="s", overflow_bucket="b")
        receiver = Receiver(
            provider,
            settings,
            StaticSecret(SAMPLE_SECRETS[name]),
            sender(sqs),
            clock=lambda event=event: event["requestContext"]["timeEpoch"] / 1000,
        )
        assert receiver.handle(event)["statusCode"] in (200, 202), name
        assert (len(sqs.single), sqs.calls) == (1, []), name
        assert "batch" not in json.loads(sqs.single[0]["MessageBody"]), name
        checked += 1
    assert checked >= 8


def test_a_split_that_finds_no_event_is_400_and_queues_nothing():
    """Given a batch provider whose split finds no event in a verified request (a custom split), then the receiver
    answers 400 unparseable_payload and sends nothing: a 2xx would say something was queued."""
    import dataclasses

    from webhook_gateway.verifiers import hubspot

    provider = dataclasses.replace(hubspot.PROVIDER, split=lambda request: ())
    event = build_event("hubspot", "batch")
    sqs = BatchSqs()
    settings = ReceiverSettings(provider="hubspot", queue_url="q", secret_id="s", overflow_bucket="b")
    receiver = Receiver(
        provider,
        settings,
        StaticSecret(SAMPLE_SECRETS["hubspot"]),
        sender(sqs),
        clock=lambda: event["requestContext"]["timeEpoch"] / 1000,
    )
    response = receiver.handle(event)
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "unparseable_payload"})
    assert (sqs.single, sqs.calls) == ([], [])
