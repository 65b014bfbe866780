"""The SQS event source mapping of a function, locally: poll the queue, invoke the function with a batch, delete what
succeeded.

As Lambda's poller does for a standard queue: ``ReceiveMessage`` with the mapping's batch size (gathering up to
``MaximumBatchingWindowInSeconds``), with every system and message attribute, without its own visibility timeout (the
queue's applies); the records are given to the function in Lambda's SQS event shape. Then:

* the invocation succeeded: with ``ReportBatchItemFailures``, every record except those listed in
  ``batchItemFailures`` is deleted (a malformed list, or one naming a record not in the batch, fails the whole batch,
  as in Lambda); without it, every record is deleted;
* the invocation failed (error, timeout, crashed instance): nothing is deleted.

What is not deleted becomes visible again after the queue's visibility timeout, and SQS (moto) moves a message to the
dead-letter queue once it has been received ``maxReceiveCount`` times. ``ScalingConfig.MaximumConcurrency`` caps the
concurrent pollers (each one invocation at a time). The poller talks to the endpoint's clean port: it is AWS's
infrastructure, not the function, so faults injected into the function's calls do not apply to it.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

LONG_POLL_SECONDS = 1  # Lambda long-polls for 20 s; 1 s lets Ctrl-C stop the runner promptly


@dataclass
class BatchOutcome:
    records: list[dict[str, Any]]
    invocation: Any
    failed_ids: set[str]  # message ids left in the queue
    whole_batch_failed: bool
    killed: bool = False  # the runner killed the instance during this batch (fault injection)
    duration_ms: float = 0.0  # from receive to the end of the deletes


@dataclass
class KillFaults:
    """Kill the consumer's instance during a batch (SIGKILL) with ``probability`` per batch, after a random delay of
    up to ``max_delay`` seconds: a sandbox dying mid-batch."""

    probability: float = 0.0
    max_delay: float = 0.2
    seed: int | None = None
    killed: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def plan(self) -> float | None:
        with self._lock:
            if self.probability and self._rng.random() < self.probability:
                return self._rng.uniform(0.0, self.max_delay)
        return None


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda hands it to the function (camel-cased keys, attribute value dicts)."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message.get("Body", "").encode("utf-8")).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: Any, records: list[dict[str, Any]]) -> tuple[set[str], bool]:
    """The message ids a ReportBatchItemFailures answer leaves in the queue, and whether the answer failed the whole
    batch (Lambda treats an unreadable answer, or one naming an id not in the batch, as a failure of every record)."""
    batch_ids = {record["messageId"] for record in records}
    if result is None:
        return set(), False
    if not isinstance(result, dict):
        return set(), False  # not a partial-batch answer: success
    failures = result.get("batchItemFailures")
    if failures is None:
        return set(), False
    if not isinstance(failures, list):
        return batch_ids, True
    found: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return batch_ids, True
        found.add(identifier)
    return found, False


class SqsPoller:
    """``concurrency`` polling threads for one SQS event source; ``pool`` is the function's FunctionPool."""

    def __init__(
        self,
        source: Any,  # stack.SqsSource
        pool: Any,
        sqs: Any,
        *,
        region: str,
        concurrency: int = 1,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        kill_faults: KillFaults | None = None,
    ) -> None:
        self.source = source
        self.pool = pool
        self.sqs = sqs
        self.region = region
        self.concurrency = max(1, concurrency)
        self.on_batch = on_batch
        self.kill_faults = kill_faults
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.batches = 0
        self.receive_errors = 0

    @property
    def busy(self) -> int:
        """Batches received and not settled yet (in the function, or being deleted)."""
        with self._busy_lock:
            return self._busy

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._run, name=f"poller-{self.source.function}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive()
            except (ClientError, BotoCoreError):
                self.receive_errors += 1
                self._stop.wait(0.5)
                continue
            if not messages:
                continue  # long polling paces the loop when the queue is empty
            with self._busy_lock:
                self._busy += 1
            try:
                self._handle(messages)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _receive(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages: one receive, or as many as the batching window gathers."""
        wanted, window = self.source.batch_size, self.source.batching_window_seconds
        deadline = time.monotonic() + window
        messages: list[dict[str, Any]] = []
        while len(messages) < wanted and not self._stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(10, wanted - len(messages)),
                WaitTimeSeconds=LONG_POLL_SECONDS if not messages else 0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch = response.get("Messages", [])
            messages.extend(batch)
            if not window or (not messages and not batch) or time.monotonic() >= deadline:
                break
            if not batch:
                self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return messages

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        records = [lambda_record(m, self.source.queue_arn, self.region) for m in messages]
        event = {"Records": records}
        try:
            worker = self.pool.acquire()
        except Exception as error:  # noqa: BLE001 (init failure: the batch fails, as an invocation error)
            from hookctl.local.lambda_runtime import Invocation

            invocation = Invocation("", error={"errorType": "Runtime.InitError", "errorMessage": str(error)})
            killed = False
        else:
            killed_flag: list[bool] = []
            timer = None
            delay = self.kill_faults.plan() if self.kill_faults else None
            if delay is not None:
                timer = threading.Timer(delay, self._kill, args=(worker, killed_flag))
                timer.start()
            try:
                invocation = worker.invoke(event)
            finally:
                if timer is not None:
                    timer.cancel()
                self.pool.release(worker)
            self.pool.record(invocation)
            killed = bool(killed_flag)
        if invocation.ok:
            if self.source.report_batch_item_failures:
                failed, whole = failed_ids(invocation.result, records)
            else:
                failed, whole = set(), False
        else:
            failed, whole = {r["messageId"] for r in records}, True
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(done)
        self.batches += 1
        if self.on_batch is not None:
            duration = (time.perf_counter() - started) * 1000
            self.on_batch(BatchOutcome(records, invocation, failed, whole, killed, duration))

    def _kill(self, worker: Any, killed_flag: list[bool]) -> None:
        request_id = worker.current_request
        if request_id and worker.kill("killed by the runner (fault injection)", request_id=request_id):
            killed_flag.append(True)
            assert self.kill_faults is not None
            self.kill_faults.killed.append({"pid": worker.pid, "request_id": request_id, "at": time.time()})

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            for attempt in range(5):
                try:
                    self.sqs.delete_message_batch(QueueUrl=self.source.queue_url, Entries=entries)
                    break
                except (ClientError, BotoCoreError):
                    time.sleep(0.2 * (attempt + 1))
