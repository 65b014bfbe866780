"""One readable line per delivery as it moves, and the counts behind the summary, derived from what the functions say.

Sources, never a re-implementation of their logic: the HTTP exchanges of the gateway (status), the receivers' JSON log
lines (``delivery accepted`` with the delivery id, ``delivery rejected`` with the reason, ``delivery not queued``),
the consumer's answers (``batchItemFailures``) and JSON log lines (``duplicate delivery acknowledged``, ``... recorded
as skipped``, failures with their exception, ``... moves it to the DLQ``), and the functions' EMF metrics (summed as
CloudWatch would). The consumer logs nothing for a delivery it processed normally, so a record that succeeded
without a duplicate or skip line is "processed".

Every line a function writes also goes, unchanged, to ``<log_dir>/<LogicalId>.log``. Observers (the local inbox,
``hookctl.local.inbox``) are told the same facts: every exchange with its log facts, every JSON log line, every
consumer outcome.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

# The log messages the lines are derived from (their wording is the functions'; tests/unit/local/test_console.py
# checks that each one still appears in the layer's source).
ACCEPTED = "delivery accepted"
REJECTED = "delivery rejected"
NOT_QUEUED = "delivery not queued; answering 503 so the provider retries"
DUPLICATE = "duplicate delivery acknowledged"
DUPLICATE_BODY = "the same signed body was already received under another delivery id: not processed again"
SKIPPED = "no handler registered for this event type; delivery recorded as skipped"
HANDLER_FAILED = "delivery failed; recorded as failed, the record will be retried"
LEDGER_FAILED = "ledger write failed; the record will be retried"
CONFLICT = "delivery is being processed by another consumer; the record will be retried"
COMPLETION_FAILED = "the handler ran but its completion could not be recorded; it runs again after the lease expires"
LEASE_LOST = "the handler finished after its lease was taken over: it may have run twice"
LAST_RECEIVE = "delivery failed on its last receive: SQS moves it to the DLQ"
POISON = "poison message: the SQS body is not a valid envelope"
CONSUMER_MESSAGES = (
    DUPLICATE,
    DUPLICATE_BODY,
    SKIPPED,
    HANDLER_FAILED,
    LEDGER_FAILED,
    CONFLICT,
    COMPLETION_FAILED,
    LEASE_LOST,
    LAST_RECEIVE,
    POISON,
)
RECEIVER_MESSAGES = (ACCEPTED, REJECTED, NOT_QUEUED)

_COLORS = {
    "received": "32",
    "processed": "32",
    "rejected": "33",
    "duplicate": "36",
    "skipped": "36",
    "not queued": "31",
    "failed": "31",
    "error": "31",
    "dead-lettered": "35;1",
    "no route": "33",
}


@dataclass
class _Pending:
    """What the consumer's log lines said about one SQS message during the invocation that carried it."""

    outcome: str = ""  # duplicate | skipped | failed
    detail: str = ""
    last_receive: bool = False


@dataclass
class Tracker:
    out: TextIO | None = None
    color: bool = False
    verbose: bool = False
    log_dir: Path | None = None
    visibility_timeout: int | None = None
    counts: Counter = field(default_factory=Counter)
    by_provider: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # outcome -> provider -> n
    rejected: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    metrics: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    completion_failures: list[tuple[str, str]] = field(default_factory=list)  # (provider, delivery id)
    lease_lost: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)
    worker_exits: list[dict[str, Any]] = field(default_factory=list)
    # Called as observer(kind, facts) for "exchange", "log" and "outcome" (see _observe's callers)
    observers: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._logs: dict[str, IO[str]] = {}
        self._by_invocation: dict[str, dict[str, Any]] = {}  # receiver log facts, by Lambda request id
        # Every "delivery accepted" line of one invocation: one, or one per event of a batch request (HubSpot).
        self._accepted_by_invocation: dict[str, list[dict[str, Any]]] = {}
        self._by_message: dict[str, _Pending] = {}  # consumer log facts, by SQS message id
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_terminal(cls, out: TextIO = sys.stdout, **kwargs: Any) -> Tracker:
        color = out.isatty() and "NO_COLOR" not in os.environ
        return cls(out=out, color=color, **kwargs)

    # -- output ---------------------------------------------------------------------------------------------------

    def line(self, provider: str, delivery_id: str, event_type: str, outcome: str, detail: str = "") -> None:
        if self.out is None:
            return
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        word = f"{outcome:<13}"
        if self.color and outcome in _COLORS:
            word = f"\033[{_COLORS[outcome]}m{word}\033[0m"
        text = f"{stamp}  {provider or '-':<7} {word} {delivery_id or '-'}  {event_type or '-'}"
        with self._lock:
            self.out.write(f"{text}  {detail}".rstrip() + "\n")
            self.out.flush()

    def note(self, text: str) -> None:
        if self.out is not None:
            with self._lock:
                self.out.write(text + "\n")
                self.out.flush()

    def close(self) -> None:
        with self._lock:
            for handle in self._logs.values():
                handle.close()
            self._logs.clear()

    def _observe(self, kind: str, **facts: Any) -> None:
        for observer in list(self.observers):
            try:
                observer(kind, facts)
            except Exception:  # noqa: BLE001 (an observer's bug must not stop the console or a function's reader)
                import traceback

                traceback.print_exc(file=sys.stderr)

    # -- function output ------------------------------------------------------------------------------------------

    def function_output(self, worker: Any, line: str) -> None:
        """Called by each instance's reader thread for every line its function writes."""
        function = worker.spec.logical_id
        self._write_log(function, line)
        if not line.startswith("{"):
            if self.verbose:
                self.note(f"  [{worker.label}] {line}")
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        if "_aws" in record:
            self._metrics(record)
            return
        if self.verbose:
            self.note(f"  [{worker.label}] {line}")
        self._observe("log", function=function, record=record)
        message = record.get("message")
        with self._lock:
            if message in RECEIVER_MESSAGES and record.get("function_request_id"):
                self._by_invocation.setdefault(record["function_request_id"], record)
                if message == ACCEPTED:
                    self._accepted_by_invocation.setdefault(record["function_request_id"], []).append(record)
            elif message in CONSUMER_MESSAGES:
                self._consumer_log(record)

    def _write_log(self, function: str, line: str) -> None:
        if self.log_dir is None:
            return
        with self._lock:
            handle = self._logs.get(function)
            if handle is None:
                handle = self._logs[function] = open(self.log_dir / f"{function}.log", "a", encoding="utf-8")  # noqa: SIM115
            handle.write(line + "\n")

    def _metrics(self, document: Mapping[str, Any]) -> None:
        service = str(document.get("service", ""))
        with self._lock:
            for directive in document["_aws"].get("CloudWatchMetrics", []):
                for metric in directive.get("Metrics", []):
                    name = metric.get("Name")
                    if metric.get("Unit") != "Count" or name not in document:
                        continue
                    value = document[name]
                    total = sum(value) if isinstance(value, list) else value
                    self.metrics[service][name] += int(total)
                    reason = document.get("reason")
                    if name == "DeliveriesRejected" and reason:
                        self.metrics[service][f"{name}:{reason}"] += int(total)

    def _consumer_log(self, record: Mapping[str, Any]) -> None:
        message = record["message"]
        key = (str(record.get("provider", "")), str(record.get("delivery_id", "")))
        if message == COMPLETION_FAILED:
            self.completion_failures.append(key)
        elif message == LEASE_LOST:
            self.lease_lost.append(key)
        message_id = record.get("message_id")
        if not message_id:
            return
        pending = self._by_message.setdefault(message_id, _Pending())
        describe = _CONSUMER_OUTCOMES.get(message)
        if describe is not None:
            pending.outcome, pending.detail = describe(record)
        if message == POISON:
            pending.last_receive = bool(record.get("dead_lettered"))
        elif message == LAST_RECEIVE:
            pending.last_receive = True

    # -- gateway --------------------------------------------------------------------------------------------------

    def exchange(self, exchange: Any, provider: str = "", invocation_id: str = "") -> None:
        with self._lock:
            self.counts["http_requests"] += 1
            self.statuses[exchange.status] += 1
            facts = self._by_invocation.pop(invocation_id, {}) if invocation_id else {}
            events = self._accepted_by_invocation.pop(invocation_id, []) if invocation_id else []
        provider = str(facts.get("provider") or provider)
        delivery_id = str(facts.get("delivery_id") or facts.get("correlation_id") or "")
        event_type = str(facts.get("event_type", ""))
        status = exchange.status
        self._observe("exchange", exchange=exchange, provider=provider, facts=facts, accepted=events)
        if exchange.function is None:
            self._count("no_route")
            self.line("", "", "", "no route", f"{status}  {exchange.method} {exchange.path}")
        elif exchange.error is not None:
            self._count("gateway_errors", provider)
            error = exchange.error
            self.line(
                provider,
                delivery_id,
                event_type,
                "error",
                f"{status}  {error.get('errorType')}: {error.get('errorMessage')}",
            )
        elif facts.get("message") == ACCEPTED:
            self._count("accepted", provider)
            for event in events or [facts]:  # a batch request: one line (and one accepted delivery) per event
                with self._lock:
                    self.counts["accepted_deliveries"] += 1
                size = event.get("body_size")
                where = f"{event.get('body_location', '')}, {size} B" if size is not None else ""
                if "batch_index" in event:
                    where += f", event {int(event['batch_index']) + 1} of {event.get('batch_count')}"
                self.line(
                    provider,
                    str(event.get("delivery_id") or event.get("correlation_id") or ""),
                    str(event.get("event_type", "")),
                    "received",
                    f"{status}  {where}".rstrip(),
                )
        elif facts.get("message") == REJECTED:
            reason = str(facts.get("reason", "rejected"))
            self._count("rejected", provider)
            with self._lock:
                self.rejected[reason] += 1
            self.line(provider, "", "", "rejected", f"{status}  {reason}")
        elif facts.get("message") == NOT_QUEUED:
            self._count("not_queued", provider)
            self.line(
                provider,
                delivery_id,
                event_type,
                "not queued",
                f"{status}  {facts.get('error', '')}; the provider retries",
            )
        else:
            self._count("other_responses")
            self.line(provider, "", "", "answered", f"{status}  {exchange.method} {exchange.path}")

    # -- consumer -------------------------------------------------------------------------------------------------

    def batch(self, outcome: Any) -> None:
        invocation = outcome.invocation
        with self._lock:
            self.counts["batches"] += 1
            if not invocation.ok:
                self.counts["consumer_invocation_errors"] += 1
            if outcome.killed:
                self.counts["consumer_kills"] += 1
            self.counts["consumer_records"] += len(outcome.records)
            self.counts["consumer_busy_ms"] += int(outcome.duration_ms)
            pending = {r["messageId"]: self._by_message.pop(r["messageId"], _Pending()) for r in outcome.records}
        from webhook_gateway.envelope import ATTR_DELIVERY_ID, ATTR_EVENT_TYPE, ATTR_PROVIDER

        for record in outcome.records:
            attributes = record.get("messageAttributes") or {}
            provider, delivery_id, event_type = (
                _string_attribute(attributes, name) for name in (ATTR_PROVIDER, ATTR_DELIVERY_ID, ATTR_EVENT_TYPE)
            )
            receives = record.get("attributes", {}).get("ApproximateReceiveCount", "?")
            facts = pending[record["messageId"]]
            if record["messageId"] not in outcome.failed_ids:
                outcome_name = facts.outcome if facts.outcome in ("duplicate", "skipped") else "processed"
                self._count(outcome_name, provider)
                detail = facts.detail if outcome_name != "processed" else f"receive {receives}"
                self.line(provider, delivery_id, event_type, outcome_name, detail)
                self._observe_outcome(record, provider, delivery_id, event_type, outcome_name, detail)
                continue
            self._count("failed_attempts", provider)
            if not invocation.ok:
                error = invocation.error or {}
                why = (
                    "instance killed mid-batch (fault injection)"
                    if outcome.killed
                    else f"{error.get('errorType')}: {error.get('errorMessage')}"
                )
                detail = f"consumer invocation failed: {why}"
            elif outcome.whole_batch_failed:
                detail = "the consumer's batchItemFailures answer was invalid: the whole batch is retried"
            else:
                detail = facts.detail or "reported in batchItemFailures"
            if facts.last_receive:
                with self._lock:
                    self.dead_lettered.append((provider, delivery_id))
                self._count("dead_lettered", provider)
                detail = f"failed on receive {receives}: {detail}"
                self.line(provider, delivery_id, event_type, "dead-lettered", detail)
                self._observe_outcome(record, provider, delivery_id, event_type, "dead-lettered", detail)
            else:
                later = (
                    f"; retried after the visibility timeout ({self.visibility_timeout} s)"
                    if self.visibility_timeout
                    else ""
                )
                detail = f"receive {receives}: {detail}{later}"
                self.line(provider, delivery_id, event_type, "failed", detail)
                self._observe_outcome(record, provider, delivery_id, event_type, "failed", detail)

    def _observe_outcome(
        self, record: Mapping[str, Any], provider: str, delivery_id: str, event_type: str, outcome: str, detail: str
    ) -> None:
        """What the consumer did with one SQS record; ``replay`` names the replay request a copy carried."""
        if not self.observers:
            return
        replay = None
        try:
            body = json.loads(record.get("body") or "{}")
            replay = body.get("replay") if isinstance(body, dict) else None
        except ValueError:
            pass
        self._observe(
            "outcome",
            provider=provider,
            delivery_id=delivery_id,
            event_type=event_type,
            outcome=outcome,
            detail=detail,
            receives=record.get("attributes", {}).get("ApproximateReceiveCount"),
            replay=replay if isinstance(replay, dict) else None,
        )

    def worker_exit(self, worker: Any) -> None:
        with self._lock:
            self.worker_exits.append(
                {"function": worker.spec.logical_id, "pid": worker.pid, "reason": worker.killed_reason}
            )

    def _count(self, name: str, provider: str = "") -> None:
        with self._lock:
            self.counts[name] += 1
            self.by_provider[name][provider or "-"] += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "http_requests": self.counts["http_requests"],
                "http_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "accepted": self.counts["accepted"],
                # Deliveries in the accepted requests: more than "accepted" when a request was a batch (HubSpot).
                "accepted_deliveries": self.counts["accepted_deliveries"],
                "rejected": dict(self.rejected),
                "not_queued": self.counts["not_queued"],
                "gateway_errors": self.counts["gateway_errors"],
                "no_route": self.counts["no_route"],
                "other_responses": self.counts["other_responses"],
                "processed": self.counts["processed"],
                "duplicates": self.counts["duplicate"],
                "skipped": self.counts["skipped"],
                "failed_attempts": self.counts["failed_attempts"],
                "dead_lettered": self.counts["dead_lettered"],
                "consumer_batches": self.counts["batches"],
                "consumer_invocation_errors": self.counts["consumer_invocation_errors"],
                "consumer_kills": self.counts["consumer_kills"],
                "consumer_ms_per_record": round(
                    self.counts["consumer_busy_ms"] / max(1, self.counts["consumer_records"]), 1
                ),
                "completion_failures": len(self.completion_failures),
                "lease_lost": len(self.lease_lost),
                "metrics": {service: dict(counter) for service, counter in self.metrics.items()},
            }


def partition(summary: Mapping[str, Any], left_in_queues: int | None) -> dict[str, dict[str, int]]:
    """Every request in exactly one ``requests`` count, every accepted delivery in exactly one ``accepted`` count.

    A request is accepted (2xx, queued), rejected (4xx), not queued (503: the provider retries), failed (the function
    failed: 500), had no route, or got another answer. An accepted delivery was processed, skipped (no handler:
    acknowledged and recorded), dropped as a duplicate, dead-lettered, or is still in the queue. Failed attempts are
    not in it: a retried delivery ends in one of those. When the consumer settled messages this gateway did not
    accept (``hookctl replay``, ``sam local`` receivers, SQS delivering a message twice), they are
    ``from_elsewhere``; an accepted delivery in no count would be ``unaccounted`` (the queue could not be read, or a
    bug).
    """
    requests = {
        "accepted": summary["accepted"],
        "rejected": sum(summary["rejected"].values()),
        "not_queued": summary["not_queued"],
        "failed": summary["gateway_errors"],
        "no_route": summary["no_route"],
        "other": summary["other_responses"],
    }
    accepted = {
        "processed": summary["processed"],
        "skipped": summary["skipped"],
        "duplicates": summary["duplicates"],
        "dead_lettered": summary["dead_lettered"],
        "still_queued": left_in_queues or 0,
    }
    # A batch request (HubSpot's array) is one accepted request carrying several deliveries.
    deliveries = summary.get("accepted_deliveries", summary["accepted"])
    remainder = deliveries - sum(accepted.values())
    accepted["unaccounted"] = max(0, remainder)
    accepted["from_elsewhere"] = max(0, -remainder)
    return {"requests": requests, "accepted": accepted, "deliveries": {"accepted": deliveries}}


def shutdown_report(summary: Mapping[str, Any], left_in_queues: int | None) -> str:
    """The counts of :func:`partition` as ``hookctl dev`` prints them when it stops: they add up."""
    parts = partition(summary, left_in_queues)
    requests, accepted = parts["requests"], parts["accepted"]
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary["rejected"].items()))
    words = {
        "accepted": "accepted",
        "rejected": f"rejected ({reasons})" if reasons else "rejected",
        "not_queued": "not queued (503)",
        "failed": "failed (500)",
        "no_route": "no route (404)",
        "other": "other answers",
    }
    head = ", ".join(f"{n} {words[key]}" for key, n in requests.items() if n or key in ("accepted", "rejected"))
    lines = [f"stopped: {summary['http_requests']} requests: {head}"]
    labels = {
        "processed": "processed",
        "skipped": "skipped (no handler)",
        "duplicates": "duplicates dropped",
        "dead_lettered": "dead-lettered",
        "still_queued": "still queued",
        "unaccounted": "unaccounted for",
    }
    counts = ", ".join(
        f"{accepted[key]} {label}"
        for key, label in labels.items()
        if accepted[key] or key in ("processed", "skipped", "duplicates", "dead_lettered")
    )
    deliveries = parts["deliveries"]["accepted"]
    if deliveries == requests["accepted"]:
        line = f"  of the {requests['accepted']} accepted: {counts}"
    else:  # batch requests (HubSpot's arrays): several deliveries each
        line = f"  of the {deliveries} deliveries in the {requests['accepted']} accepted: {counts}"
    if accepted["from_elsewhere"]:
        line += (
            f"; these include {accepted['from_elsewhere']} that this gateway did not accept "
            "(replays, sam local receivers, SQS redeliveries)"
        )
    if left_in_queues is None:
        line += " (the queue could not be read: still queued unknown)"
    lines.append(line)
    if summary["failed_attempts"]:
        lines.append(f"  {summary['failed_attempts']} failed attempt(s) on the way (retried, or dead-lettered above)")
    return "\n".join(lines)


# What each consumer log line says about its record: (outcome, detail) from the line's fields.
_CONSUMER_OUTCOMES: dict[str, Callable[[Mapping[str, Any]], tuple[str, str]]] = {
    DUPLICATE: lambda r: ("duplicate", f"already processed (outcome {r.get('outcome') or 'handled'})"),
    DUPLICATE_BODY: lambda r: ("duplicate", f"same signed body as {r.get('duplicate_of')}"),
    SKIPPED: lambda r: ("skipped", "no handler registered for this event type"),
    HANDLER_FAILED: lambda r: ("failed", _exception(r) or "the handler raised"),
    LEDGER_FAILED: lambda r: ("failed", f"ledger write failed ({r.get('error_code')})"),
    COMPLETION_FAILED: lambda r: ("failed", f"handler ran, completion not recorded ({r.get('error_code')})"),
    CONFLICT: lambda r: ("failed", "held by another consumer (claim conflict)"),
    POISON: lambda r: ("failed", f"poison message: {r.get('reason')}"),
}


def _exception(record: Mapping[str, Any]) -> str:
    """``Type: message`` from a Powertools ``logger.exception`` record (its traceback's last line)."""
    text = str(record.get("exception") or "")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else str(record.get("exception_name") or "")


def _string_attribute(attributes: Mapping[str, Any], name: str) -> str:
    """A String message attribute of an SQS record (``messageAttributes``), or "" when it is absent."""
    return str((attributes.get(name) or {}).get("stringValue") or "")
