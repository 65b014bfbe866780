"""The reliability run: N signed deliveries through the local pipeline over real HTTP, with faults, then the proof that
nothing was lost. Used by tests/e2e/test_reliability.py (N = 2,000) and bench/e2e_reliability.py (N = 20,000).

Traffic (seeded): every provider's delivery sample kinds in turn, each delivery with its own id; a share of them
delivered two or three times (a provider's retries, spread over the run), a share forged (the body changed after
signing). The simulated provider resends after a 5xx or a connection error, with backoff, like GitHub/Stripe/Twilio
do.

Faults, at random, in the pipeline (the production code is untouched):

* the enqueue fails: the receivers' SQS ``SendMessage`` is answered ``500 InternalError`` before reaching the queue, or
  after it (the message is queued, the answer is lost); botocore retries, then the receiver answers 503;
* the ledger write is throttled: the consumer's DynamoDB ``UpdateItem`` gets ``400 ProvisionedThroughputExceeded``,
  one call at a time or in storms that outlast botocore's five attempts; some writes land and lose their answer;
* the consumer's handler raises: at random (a flaky downstream), and always for a few "poison" deliveries;
* the consumer dies mid-batch: the runner SIGKILLs its instance while it works on a batch.

The invariants checked afterwards:

1. every delivery that ever got a 2xx is in the ledger as ``processed`` or its envelope is in the DLQ;
2. the business handler ran exactly once per processed delivery, except re-runs explained by an injected fault the
   consumer documents as at-least-once (the instance died, or the completion write failed after the handler ran);
3. a forged delivery was never enqueued (the endpoint's audit of every SendMessage), processed or dead-lettered;
4. poison deliveries are dead-lettered and never processed; nothing else is in the DLQ; the queue is empty;
5. no secret, signature or payload fragment appears in any function's output;
6. every processed delivery is archived (the template's ArchiveRetentionDays default, 30, applies): its archive item
   reads back with a body whose size and SHA-256 are the ones the receiver recorded (``load_archived`` checks them),
   under the same provider and delivery id.

Retries: a handler failure waits for the retry schedule (ChangeMessageVisibility), whose default starts at a minute;
the run shortens every step to ``retry_step_seconds`` (``RetrySchedule``), as the local pipeline test does, so that a
failed delivery comes back within the run. ``MaxAttempts`` equals ``MaxReceiveCount``: the consumer dead-letters a
delivery out of attempts itself (its own SendMessage to the DLQ, under the same injected SendMessage faults).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hookctl import samples
from hookctl.deliveries import list_deliveries
from hookctl.dlq import peek_messages
from hookctl.local.console import Tracker
from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.send import Job, Progress, Sender, summarize
from tools.make_events import deliveries_of

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = Path(__file__).resolve().parent / "handlers"


@dataclass
class RunConfig:
    deliveries: int = 2000
    duplicate_share: float = 0.30  # delivered two or three times
    forged_share: float = 0.10
    seed: int = 20261126
    send_concurrency: int = 8
    provider_retries: int = 12  # resends after a 5xx (GitHub does not retry; Stripe and Twilio do, for days)
    provider_retry_delay: float = 0.05
    max_backlog: int = 600  # the sender pauses while the queue holds more (moto's SQS slows down with its size)
    # faults
    send_message_failure: float = 0.10  # SendMessage answered 500 without reaching SQS
    send_message_lost: float = 0.02  # SendMessage applied, its answer lost (500)
    update_item_throttle: float = 0.03  # UpdateItem 400 ProvisionedThroughputExceededException
    update_item_lost: float = 0.01  # UpdateItem applied, its answer lost (500)
    throttle_storm_probability: float = 0.0015  # an UpdateItem starts a storm: every UpdateItem throttled for a while
    throttle_storm_seconds: float = 1.5
    handler_failure: float = 0.05
    poison: float = 0.01
    kill_probability: float = 0.015  # per consumer batch
    # pipeline
    max_receive_count: int = 3
    consumer_timeout: int = 4
    visibility_timeout: int = 6
    retry_step_seconds: int = 2  # every step of the retry schedule (backoff after a handler failure)
    receiver_instances: int = 2
    consumer_concurrency: int = 4
    sdk_max_attempts: int = 2  # the receivers' SDK clients (the ledger's client sets its own: 5)
    backoff_scale: float = 0.1  # botocore's retry delays x0.1 (attempts and decisions unchanged)
    drain_timeout: float = 240.0
    progress: bool = False


@dataclass
class Report:
    config: dict[str, Any]
    traffic: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    endpoint: dict[str, Any] = field(default_factory=dict)  # calls and moto CPU seconds per operation
    violations: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)


def is_poison(delivery_id: str, rate: float) -> bool:
    """The handlers' choice (tests/e2e/handlers/consumer_handlers), recomputed."""
    import hashlib

    return int(hashlib.sha256(delivery_id.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000 < rate


def plan_traffic(config: RunConfig) -> tuple[list[Job], dict[str, Any]]:
    rng = random.Random(config.seed)
    # Handshakes (Slack's url_verification) are answered, never queued: not deliveries this run can follow.
    kinds = [(provider, kind) for provider, sample_kinds in samples.DELIVERY_KINDS.items() for kind in sample_kinds]
    n = config.deliveries
    order = list(range(n))
    rng.shuffle(order)
    forged = set(order[: round(n * config.forged_share)])
    duplicated = order[len(forged) : len(forged) + round(n * config.duplicate_share)]
    copies = {index: rng.choice((2, 3)) for index in duplicated}
    jobs: list[Job] = []
    for index in range(n):
        provider, kind = kinds[index % len(kinds)]
        if provider == "stripe":
            delivery_id = f"evt_{rng.getrandbits(96):024x}"
        else:
            delivery_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for copy in range(1, copies.get(index, 1) + 1):
            jobs.append(Job(provider, kind, delivery_id, copy=copy, forged=index in forged))
    rng.shuffle(jobs)  # a provider's retries arrive later, mixed with other traffic
    traffic = {
        "deliveries": n,
        # genuine deliveries: a batch request (HubSpot's array) carries one per event
        "genuine": sum(deliveries_of(*kinds[index % len(kinds)]) for index in range(n) if index not in forged),
        "forged": len(forged),
        "delivered_twice": sum(1 for c in copies.values() if c == 2),
        "delivered_three_times": sum(1 for c in copies.values() if c == 3),
        "copies_sent": len(jobs),
    }
    return jobs, traffic


def pipeline_config(config: RunConfig, workdir: Path) -> LocalConfig:
    runs = workdir / "handler-runs.txt"
    storm = {
        "name": "UpdateItem throttling storms",
        "target": "DynamoDB_20120810.UpdateItem",
        "status": 400,
        "code": "ProvisionedThroughputExceededException",
        "message": "Rate of requests exceeds the allowed throughput (injected)",
        "storm_probability": config.throttle_storm_probability,
        "storm_seconds": config.throttle_storm_seconds,
    }
    rules = [
        {
            "name": "SendMessage 500 (not queued)",
            "target": "AmazonSQS.SendMessage",
            "probability": config.send_message_failure,
        },
        {
            "name": "SendMessage 500 (queued, answer lost)",
            "target": "AmazonSQS.SendMessage",
            "probability": config.send_message_lost,
            "when": "after",
        },
        storm,
        {
            "name": "UpdateItem throttled",
            "target": "DynamoDB_20120810.UpdateItem",
            "status": 400,
            "code": "ProvisionedThroughputExceededException",
            "message": "Rate of requests exceeds the allowed throughput (injected)",
            "probability": config.update_item_throttle,
        },
        {
            "name": "UpdateItem 500 (applied, answer lost)",
            "target": "DynamoDB_20120810.UpdateItem",
            "code": "InternalServerError",
            "probability": config.update_item_lost,
            "when": "after",
        },
    ]
    consumer_env = "ConsumerFunction.Environment.Variables."
    return LocalConfig(
        template=ROOT / "template.yaml",
        port=0,
        endpoint_port=0,
        log_dir=workdir / "logs",
        # The retry schedule shrunk to the test's time scale (the default starts at a minute and spans a day), and
        # as many attempts as receives: a delivery its handler always fails reaches the DLQ within seconds.
        parameter_overrides={
            "MaxReceiveCount": str(config.max_receive_count),
            "MaxAttempts": str(config.max_receive_count),
            "RetrySchedule": str(config.retry_step_seconds),
            "LogLevel": "INFO",
        },
        overrides={
            # The template ties the visibility timeout to the consumer timeout (6 x timeout + 30 s, at least 90 s); a
            # test that kills consumers needs redeliveries within seconds, so both are shortened together.
            "ConsumerFunction.Timeout": str(config.consumer_timeout),
            "WebhookQueue.VisibilityTimeout": str(config.visibility_timeout),
            consumer_env + "E2E_RUNS_FILE": str(runs),
            consumer_env + "E2E_HANDLER_FAILURE_RATE": str(config.handler_failure),
            consumer_env + "E2E_POISON_RATE": str(config.poison),
        },
        prepend_paths={"ConsumerFunction": [HANDLERS]},
        instances=config.receiver_instances,
        consumer_concurrency=config.consumer_concurrency,
        faults={"seed": config.seed, "rules": rules},
        kill_probability=config.kill_probability,
        sdk_env={"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": str(config.sdk_max_attempts)},
        backoff_scale=config.backoff_scale,
        audit=True,
        seed=config.seed,
        environ={},
    )


def run(config: RunConfig, workdir: Path) -> Report:
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in [workdir / "handler-runs.txt", *(workdir / "logs").glob("*.log")]:
        stale.unlink(missing_ok=True)
    report = Report(config=asdict(config))
    jobs, report.traffic = plan_traffic(config)
    local = pipeline_config(config, workdir)
    console = open(workdir / "console.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    tracker = Tracker(out=console, log_dir=local.log_dir)
    started = time.monotonic()
    pipeline = LocalPipeline(local, tracker)
    try:
        pipeline.start()
        report.timings["start_s"] = round(time.monotonic() - started, 1)
        urls = {provider: samples.webhook_url(provider, pipeline.api_url) for provider in samples.PROVIDERS}
        progress = Progress(len(jobs), sys.stderr, config.progress)
        sender = Sender(
            urls,
            dict(samples.SAMPLE_SECRETS),
            concurrency=config.send_concurrency,
            retries=config.provider_retries,
            retry_delay=config.provider_retry_delay,
            timeout=60.0,
            on_result=progress.update,
            gate=threading.Event(),
        )
        assert sender.gate is not None
        sender.gate.set()
        sending_done = threading.Event()
        watcher = threading.Thread(
            target=_back_pressure, args=(pipeline, sender.gate, config.max_backlog, sending_done), daemon=True
        )
        watcher.start()
        sent_at = time.monotonic()
        results = sender.send_all(jobs)
        sending_done.set()
        watcher.join()
        report.timings["send_s"] = round(time.monotonic() - sent_at, 1)
        drain_at = time.monotonic()
        drained = pipeline.wait_until_drained(config.drain_timeout, settle=2.0, poll=1.0)
        report.timings["drain_s"] = round(time.monotonic() - drain_at, 1)
        evidence = _collect(pipeline)
    finally:
        pipeline.stop()
        console.close()
    report.timings["total_s"] = round(time.monotonic() - started, 1)
    _check(report, config, results, evidence, tracker, drained, workdir)
    return report


def _back_pressure(pipeline: LocalPipeline, gate: threading.Event, limit: int, done: threading.Event) -> None:
    """Hold the sender while the queue holds more than ``limit`` messages: providers do not send faster than a
    gateway absorbs for long, and moto's SQS costs grow with the queue's size (it scans it on every call)."""
    while not done.wait(0.5):
        try:
            depth = pipeline.queue_depth("WebhookQueue")
        except Exception:  # noqa: BLE001 (a transient endpoint error: keep the last decision)
            continue
        if not gate.is_set() and depth <= limit // 2:
            gate.set()
        elif gate.is_set() and depth > limit:
            gate.clear()
    gate.set()


def _collect(pipeline: LocalPipeline) -> dict[str, Any]:
    stack = pipeline.stack
    assert stack is not None
    ledger = list_deliveries(stack.output("DeliveriesTableName"), limit=10**9, dynamodb=pipeline.client("dynamodb"))
    dead, _ = peek_messages(
        stack.output("DeadLetterQueueUrl"),
        limit=10**6,
        wait_time_seconds=0,
        visibility_timeout=60,
        sqs=pipeline.client("sqs"),
    )
    assert pipeline.endpoint is not None
    return {
        "ledger": ledger,
        "archive": _archived(pipeline, ledger),
        "queue_name": stack.output("QueueUrl").rsplit("/", 1)[-1],
        "dead": dead,
        "endpoint": pipeline.endpoint.stats(),
        "queue_depth": pipeline.queue_depth("WebhookQueue"),
        "killed": list(pipeline.kill_faults.killed) if pipeline.kill_faults else [],
        "pools": {name: asdict(pool.stats) for name, pool in pipeline.pools.items()},
    }


Key = tuple[str, str]  # (provider, delivery id)


def _archived(pipeline: LocalPipeline, ledger: list[dict[str, Any]]) -> dict[str, str]:
    """For every processed delivery: "ok" when its archive reads back intact and names it, else what is wrong."""
    from webhook_gateway.consumer.archive import ArchiveIntegrityError, load_archived

    stack = pipeline.stack
    assert stack is not None
    table, dynamodb, s3 = stack.output("DeliveriesTableName"), pipeline.client("dynamodb"), pipeline.client("s3")
    found: dict[str, str] = {}
    for item in ledger:
        if item.get("status") != "processed":
            continue
        provider, delivery_id = item["provider"], item["delivery_id"]
        try:
            archived = load_archived(table, provider, delivery_id, dynamodb=dynamodb, s3=s3)
        except ArchiveIntegrityError as error:
            found[f"{provider}/{delivery_id}"] = str(error)
            continue
        if archived is None:
            found[f"{provider}/{delivery_id}"] = "not archived"
        elif (archived.metadata.get("provider"), archived.metadata.get("delivery_id")) != (provider, delivery_id):
            found[f"{provider}/{delivery_id}"] = "archived under another delivery"
        else:
            found[f"{provider}/{delivery_id}"] = "ok"
    return found


@dataclass
class _Outcome:
    """What the run left behind, each delivery keyed by (provider, delivery id)."""

    accepted: set[Key]  # genuine deliveries answered 2xx
    never_acknowledged: set[Key]  # genuine deliveries never answered 2xx
    forged: set[Key]
    forged_answers: Counter[int | None]  # the final answers to forged deliveries, by status
    enqueued: Counter[Key]  # the endpoint's audit of every SendMessage
    ledger: dict[Key, dict[str, Any]]
    processed: set[Key]
    dead: Counter[Key]  # messages in the DLQ
    poison: set[Key]  # accepted deliveries the handlers always fail
    runs: dict[Key, list[dict[str, Any]]]  # completed handler runs
    raises: Counter[str]  # handler raises by kind
    reruns: Counter[str]  # handler runs before a delivery's last, explained by an injected fault, by cause
    unexplained: list[Key]  # the other handler runs before a delivery's last


def _handler_runs(workdir: Path) -> tuple[dict[Key, list[dict[str, Any]]], Counter[str]]:
    """The handlers' record (tests/e2e/handlers): completed runs per delivery, and raises by kind."""
    runs: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    raises: Counter[str] = Counter()
    for line in (workdir / "handler-runs.txt").read_text(encoding="utf-8").splitlines():
        kind, provider, delivery_id, pid, attempt, message_id = line.split(" ")
        if kind == "ok":
            runs[(provider, delivery_id)].append({"pid": int(pid), "attempt": int(attempt), "message_id": message_id})
        else:
            raises[kind] += 1
    return runs, raises


def _classify_reruns(
    runs: dict[Key, list[dict[str, Any]]], evidence: dict[str, Any], tracker: Tracker
) -> tuple[Counter[str], list[Key]]:
    """Every handler run but a delivery's last: explained by an injected fault (counted by cause), or not (listed)."""
    died = {kill["pid"] for kill in evidence["killed"]} | {e["pid"] for e in tracker.worker_exits}
    completion_failed = set(tracker.completion_failures) | set(tracker.lease_lost)
    reruns: Counter[str] = Counter()
    unexplained = []
    for key, key_runs in runs.items():
        for earlier in key_runs[:-1]:
            if earlier["pid"] in died:
                reruns["after the instance died"] += 1
            elif key in completion_failed:
                reruns["after the completion write failed"] += 1
            else:
                unexplained.append(key)
    return reruns, unexplained


def _outcome(
    config: RunConfig, results: list[Any], evidence: dict[str, Any], tracker: Tracker, workdir: Path
) -> _Outcome:
    # Every delivery of each request: one, or one per event of a batch request (HubSpot's array).
    accepted = {(r.job.provider, d) for r in results if r.accepted and not r.job.forged for d in r.gateway_ids}
    ledger = {(item["provider"], item["delivery_id"]): item for item in evidence["ledger"]}
    runs, raises = _handler_runs(workdir)
    reruns, unexplained = _classify_reruns(runs, evidence, tracker)
    return _Outcome(
        accepted=accepted,
        never_acknowledged={(r.job.provider, d) for r in results if not r.job.forged for d in r.gateway_ids}
        - accepted,
        forged={(r.job.provider, d) for r in results if r.job.forged for d in r.gateway_ids},
        forged_answers=Counter(r.status for r in results if r.job.forged),
        # Sent to the main queue: the consumer's own copies to the DLQ (out of attempts) are not enqueued deliveries.
        enqueued=Counter(
            (sent["provider"], sent["delivery_id"])
            for sent in evidence["endpoint"]["sent"]
            if sent["queue"] == evidence["queue_name"]
        ),
        ledger=ledger,
        processed={key for key, item in ledger.items() if item.get("status") == "processed"},
        dead=Counter((m["provider"], m["delivery_id"]) for m in evidence["dead"]),
        poison={key for key in accepted if is_poison(key[1], config.poison)},
        runs=runs,
        raises=raises,
        reruns=reruns,
        unexplained=unexplained,
    )


def _check_nothing_lost(outcome: _Outcome, evidence: dict[str, Any], drained: bool, violations: list[str]) -> None:
    """Invariant 1: nothing accepted is lost."""
    lost = outcome.accepted - outcome.processed - set(outcome.dead)
    if lost:
        violations.append(f"{len(lost)} accepted deliveries neither processed nor dead-lettered: {sorted(lost)[:5]}")
    if not drained or evidence["queue_depth"]:
        violations.append(f"the queue did not drain (drained={drained}, depth={evidence['queue_depth']})")


def _check_exactly_once(outcome: _Outcome, violations: list[str]) -> None:
    """Invariant 2: exactly once, except re-runs explained by an injected fault."""
    unexplained = outcome.unexplained
    if unexplained:
        violations.append(f"{len(unexplained)} unexplained handler re-runs: {sorted(set(unexplained))[:5]}")
    not_run = [key for key in outcome.processed if not outcome.runs.get(key)]
    if not_run:
        violations.append(f"{len(not_run)} processed deliveries whose handler never completed: {sorted(not_run)[:5]}")
    skipped = [key for key in outcome.processed if outcome.ledger[key].get("outcome") != "handled"]
    if skipped:
        violations.append(f"{len(skipped)} deliveries processed without their handler: {sorted(skipped)[:5]}")


def _check_forged_kept_out(outcome: _Outcome, violations: list[str]) -> None:
    """Invariant 3: forged deliveries never get in."""
    places = (
        ("enqueued", set(outcome.enqueued)),
        ("in the ledger", set(outcome.ledger)),
        ("in the DLQ", set(outcome.dead)),
        ("run", set(outcome.runs)),
    )
    for name, found in places:
        if outcome.forged & found:
            violations.append(f"{len(outcome.forged & found)} forged deliveries {name}")
    if set(outcome.forged_answers) != {401}:
        violations.append(f"forged deliveries were answered {dict(outcome.forged_answers)}, not only 401")


def _check_dead_letters(outcome: _Outcome, violations: list[str]) -> None:
    """Invariant 4: the DLQ holds the poison deliveries and nothing unknown; nothing processed that was never
    queued."""
    poison, processed, dead, enqueued = outcome.poison, outcome.processed, set(outcome.dead), set(outcome.enqueued)
    if poison - dead:
        violations.append(f"{len(poison - dead)} poison deliveries not dead-lettered")
    if poison & processed:
        violations.append(f"{len(poison & processed)} poison deliveries processed")
    if dead - enqueued:
        violations.append(f"{len(dead - enqueued)} DLQ messages that were never enqueued")
    if processed - enqueued:
        violations.append(f"{len(processed - enqueued)} processed deliveries that were never enqueued")


def _check_archive(evidence: dict[str, Any], violations: list[str]) -> None:
    """Invariant 6: every processed delivery has its archive, intact."""
    problems = {key: problem for key, problem in evidence["archive"].items() if problem != "ok"}
    if problems:
        examples = sorted(problems.items())[:3]
        violations.append(f"{len(problems)} processed deliveries without an intact archive: {examples}")


def _check_log_hygiene(report: Report, workdir: Path) -> None:
    """Invariant 5: log hygiene of every function's output."""
    from tests.log_hygiene import find_leaks

    for path in sorted((workdir / "logs").glob("*.log")):
        leaks = find_leaks(path.read_text(encoding="utf-8", errors="replace"))
        report.leaks += [f"{path.name}: {leak}" for leak in leaks]
    if report.leaks:
        report.violations.append(f"secrets or payload data in the functions' output: {report.leaks[:3]}")


def _check(
    report: Report,
    config: RunConfig,
    results: list[Any],
    evidence: dict[str, Any],
    tracker: Tracker,
    drained: bool,
    workdir: Path,
) -> None:
    """Check the invariants (the module's docstring) into report.violations, then fill in the report."""
    sent = summarize(results, report.timings.get("send_s") or 1.0)
    outcome = _outcome(config, results, evidence, tracker, workdir)
    _check_nothing_lost(outcome, evidence, drained, report.violations)
    _check_exactly_once(outcome, report.violations)
    _check_forged_kept_out(outcome, report.violations)
    _check_dead_letters(outcome, report.violations)
    _check_log_hygiene(report, workdir)
    _check_archive(evidence, report.violations)
    _fill_report(report, sent, evidence, tracker, outcome)


def _fill_report(
    report: Report, sent: dict[str, Any], evidence: dict[str, Any], tracker: Tracker, outcome: _Outcome
) -> None:
    """The report's endpoint, traffic, faults and outcomes sections."""
    faults = evidence["endpoint"]["faults"]
    cpu = evidence["endpoint"].get("cpu_seconds", {})
    report.endpoint = {
        target: f"{calls} calls, {cpu.get(target, 0.0):.1f} s CPU"
        for target, calls in sorted(evidence["endpoint"]["calls"].items(), key=lambda kv: -cpu.get(kv[0], 0.0))
        if calls >= 10
    }
    summary = tracker.summary()
    metrics = summary["metrics"].get("consumer", {})
    report.traffic.update(
        {
            "requests": sent["requests"],
            "provider_resends_after_5xx": sent["resends"],
            "http_statuses": sent["statuses"],
            "requests_per_second": sent["requests_per_second"],
        }
    )
    report.faults = {
        **{name: count for name, count in sorted(faults.items())},
        "handler raised (random)": outcome.raises["raise-random"],
        "handler raised (poison)": outcome.raises["raise-poison"],
        "consumer instances killed mid-batch": len(evidence["killed"]),
    }
    accepted, processed, dead, poison = outcome.accepted, outcome.processed, outcome.dead, outcome.poison
    report.outcomes = {
        "deliveries accepted (2xx)": len(accepted),
        "genuine deliveries never acknowledged": len(outcome.never_acknowledged),
        "forged rejected (401)": outcome.forged_answers.get(401, 0),
        "rejected reasons": sent["rejected"],
        "503 answered (enqueue failed)": sent["statuses"].get("503", 0),
        "messages enqueued": sum(outcome.enqueued.values()),
        "processed (ledger)": len(processed),
        "processed although never acknowledged": len(processed - accepted),
        "dead-lettered deliveries (DLQ)": len(dead),
        "dead-lettered poison deliveries": len(poison & set(dead)),
        "dead-lettered copies of processed deliveries": len(set(dead) & processed),
        "processed deliveries archived intact": sum(1 for problem in evidence["archive"].values() if problem == "ok"),
        "duplicates dropped": metrics.get("DuplicatesDropped", 0),
        "handler runs": sum(len(v) for v in outcome.runs.values()),
        "handler re-runs, explained": dict(outcome.reruns),
        "handler re-runs, unexplained": len(outcome.unexplained),
        "handler failures": metrics.get("HandlerFailures", 0),
        "ledger errors (after SDK retries)": metrics.get("LedgerErrors", 0),
        "claim conflicts": metrics.get("ClaimConflicts", 0),
        "lease lost": metrics.get("LeaseLost", 0),
        "consumer batches": summary["consumer_batches"],
        "consumer batch time per record (ms)": summary["consumer_ms_per_record"],
        "consumer invocations failed": summary["consumer_invocation_errors"],
        "instances started": {name: stats["cold_starts"] for name, stats in evidence["pools"].items()},
    }


def format_report(report: Report) -> str:
    def block(title: str, values: dict[str, Any]) -> list[str]:
        lines = [title]
        for name, value in values.items():
            text = json.dumps(value) if isinstance(value, dict) else str(value)
            lines.append(f"  {name:<44} {text}")
        return lines

    lines = [f"Reliability run: {report.traffic['deliveries']} deliveries (seed {report.config['seed']})"]
    lines += block("Traffic", report.traffic)
    lines += block("Faults injected", report.faults)
    lines += block("Outcomes", report.outcomes)
    lines += block("Time (s)", report.timings)
    lines += block("AWS endpoint (moto) by operation", report.endpoint)
    lines.append("Invariants: " + ("all hold" if not report.violations else "VIOLATED"))
    lines += [f"  - {violation}" for violation in report.violations]
    return "\n".join(lines)
