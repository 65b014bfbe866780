"""``hookctl demo`` (``make demo``): the product working, in one command, on this machine.

It starts the local pipeline (``hookctl dev``'s, on free ports), sends every sample delivery of every provider, then
the same deliveries again (a provider's retries) and one forged delivery per provider, waits until the queue has
drained, prints a summary table (accepted, rejected by reason, processed, duplicates dropped, dead-lettered) checked
against the ledger and the dead-letter queue, and stops. Exit status 0 when every accepted delivery was processed
exactly once or dead-lettered, and every forged one rejected.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hookctl import samples
from hookctl.context import EXIT_FAILURE, EXIT_OK, CommandContext

DRAIN_TIMEOUT_SECONDS = 120.0


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    from hookctl.local.command import add_runner_options

    parser = subparsers.add_parser(
        "demo",
        help="start the local pipeline, send every sample (+ duplicates, forged ones), print a summary, stop",
        description="Start the local pipeline of template.yaml (as `hookctl dev`, on free ports), send every sample "
        "delivery, then each again (duplicates) and a forged one per provider, wait until the queue drains, and "
        "print what happened to each delivery with a summary table. Needs no AWS account and no Docker.",
    )
    add_runner_options(parser, api_port=None, endpoint_port=None)
    parser.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help="the summary as JSON",
    )
    parser.add_argument(
        "--timeout", type=float, default=DRAIN_TIMEOUT_SECONDS, metavar="SECONDS", help="how long to wait for the queue"
    )
    parser.set_defaults(handler=run_demo, aws=False)  # its own endpoint: no session from the shared options


def demo_jobs() -> tuple[list[Any], list[Any]]:
    """Round 1: every sample delivery kind once (handshakes are answered, not queued), each a new delivery.
    Round 2: the first delivery of each provider again
    (duplicates: the provider's retries) and one forged delivery per provider."""
    from hookctl.send import Job

    first = [
        Job(provider, kind, samples.new_delivery_id(provider))
        for provider, kinds in samples.DELIVERY_KINDS.items()
        for kind in kinds
    ]
    again: list[Job] = []
    for provider in samples.PROVIDERS:
        original = next(job for job in first if job.provider == provider)
        again.append(Job(provider, original.kind, original.delivery_id, copy=2))
        again.append(Job(provider, samples.DEFAULT_KINDS[provider], samples.new_delivery_id(provider), forged=True))
    return first, again


def run_demo(args: argparse.Namespace, ctx: CommandContext) -> int:
    from hookctl.local.command import config_from_args, start_pipeline
    from hookctl.local.console import Tracker
    from hookctl.local.stack import seed_for
    from hookctl.send import Sender

    if args.log_dir is None:
        args.log_dir = (args.template.resolve().parent if args.template else Path.cwd()) / ".local" / "demo" / "logs"
    config = config_from_args(args)
    tracker = Tracker(log_dir=config.log_dir) if ctx.json else Tracker.for_terminal(ctx.stdout, log_dir=config.log_dir)
    started = time.monotonic()
    pipeline = start_pipeline(config, tracker)
    try:
        if not ctx.json:
            ctx.emit(
                f"Local pipeline of {config.template.name} is up in {time.monotonic() - started:.1f} s: HTTP API "
                f"{pipeline.api_url}, AWS endpoint {pipeline.endpoint.url} (moto). Sending the samples...\n"
            )
        urls = {provider: samples.webhook_url(provider, pipeline.api_url) for provider in samples.PROVIDERS}
        secrets = {provider: seed_for(provider, os.environ)[0] for provider in samples.PROVIDERS}
        sender = Sender(urls, secrets, retries=3)
        first, again = demo_jobs()
        results = sender.send_all(first)
        drained = pipeline.wait_until_drained(args.timeout)
        if not ctx.json:
            ctx.emit("\nThe same deliveries again (a provider's retry) and a forged one per provider...\n")
        results += sender.send_all(again)
        drained = pipeline.wait_until_drained(args.timeout) and drained
        report = build_report(pipeline, results, tracker, drained)
    finally:
        pipeline.stop()
    ctx.emit_result(report, lambda: "\n" + render_report(report))
    return EXIT_OK if report["nothing_lost"] else EXIT_FAILURE


def build_report(pipeline: Any, results: list[Any], tracker: Any, drained: bool) -> dict[str, Any]:
    """Per provider: what was sent and answered (the sender), what the consumer did (its lines and answers), and
    what the ledger and the dead-letter queue hold in the end (read back from the endpoint)."""
    from hookctl.deliveries import list_deliveries
    from hookctl.dlq import peek_messages
    from webhook_gateway.consumer.ledger import PK, SK, STATUS_PROCESSED

    stack = pipeline.stack
    table = stack.output("DeliveriesTableName")
    ledger = list_deliveries(table, limit=100_000, dynamodb=pipeline.client("dynamodb"))
    dead, _ = peek_messages(
        stack.output("DeadLetterQueueUrl"), limit=10_000, wait_time_seconds=0, sqs=pipeline.client("sqs")
    )
    providers = list(samples.PROVIDERS)
    rows: dict[str, Counter] = {provider: Counter() for provider in providers}
    reasons: Counter[str] = Counter()
    accepted: set[tuple[str, str]] = set()
    forged_accepted = 0
    for result in results:
        row = rows[result.job.provider]
        row["sent"] += result.attempts
        if result.accepted:
            # deliveries, not requests: a batch request (HubSpot's array) carries one per event
            row["accepted"] += max(1, len(result.gateway_ids))
            if result.job.forged:
                forged_accepted += 1
            else:
                accepted.update((result.job.provider, gateway_id) for gateway_id in result.gateway_ids)
        elif result.status is not None and 400 <= result.status < 500:
            row["rejected"] += 1
            reasons[result.reason or str(result.status)] += 1
        else:
            row["errors"] += 1
    processed = {(item[PK], item[SK]) for item in ledger if item.get("status") == STATUS_PROCESSED}
    dead_ids = {(message["provider"], message["delivery_id"]) for message in dead}
    for provider in providers:
        rows[provider]["processed"] = sum(1 for p, _ in processed if p == provider)
        rows[provider]["duplicates"] = tracker.by_provider["duplicate"][provider]
        rows[provider]["dead_lettered"] = sum(1 for p, _ in dead_ids if p == provider)
    lost = sorted(accepted - processed - dead_ids)
    return {
        "providers": {provider: dict(rows[provider]) for provider in providers},
        "total": dict(sum(rows.values(), Counter())),
        "rejected_reasons": dict(reasons),
        "drained": drained,
        "accepted_deliveries": len(accepted),
        "lost": [f"{p}/{d}" for p, d in lost],
        "forged_accepted": forged_accepted,
        "nothing_lost": drained and not lost and not forged_accepted,
    }


ROWS = (
    ("sent", "sent (requests)"),
    ("accepted", "accepted (2xx)"),  # deliveries: a batch request counts its events
    ("rejected", "rejected (4xx)"),
    ("processed", "processed (ledger)"),
    ("duplicates", "duplicates dropped"),
    ("dead_lettered", "dead-lettered (DLQ)"),
)


def render_report(report: dict[str, Any]) -> str:
    providers = list(report["providers"])
    header = f"{'':<22}" + "".join(f"{p:>8}" for p in providers) + f"{'total':>8}"
    lines = ["Summary", header]
    for key, label in ROWS:
        values = [report["providers"][p].get(key, 0) for p in providers]
        line = f"  {label:<20}" + "".join(f"{v:>8}" for v in values) + f"{sum(values):>8}"
        if key == "rejected" and report["rejected_reasons"]:
            line += "   " + ", ".join(f"{r} {n}" for r, n in sorted(report["rejected_reasons"].items()))
        lines.append(line)
    lines.append("")
    if report["nothing_lost"]:
        lines.append(
            f"Nothing lost: each of the {report['accepted_deliveries']} accepted deliveries was processed exactly once "
            "(or dead-lettered), every duplicate was dropped, every forged delivery rejected."
        )
    else:
        problems = []
        if not report["drained"]:
            problems.append("the queue did not drain in time")
        if report["lost"]:
            problems.append(f"accepted but neither processed nor dead-lettered: {', '.join(report['lost'])}")
        if report["forged_accepted"]:
            problems.append(f"{report['forged_accepted']} forged deliveries were accepted")
        lines.append("PROBLEM: " + "; ".join(problems))
    from hookctl.local.runner import _hookctl_command

    lines.append(
        f"Next: `make dev`, then `{_hookctl_command()} send github push --local` in another terminal (docs/local.md)."
    )
    return "\n".join(lines)
