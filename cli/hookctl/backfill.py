"""``hookctl backfill github|stripe``: recover events the provider sent (or gave up on) that the ledger never
processed. The logic is the layer's (``webhook_gateway.reconcile``), shared with the scheduled ReconcilerFunction;
this module parses options, finds tokens and resources, and prints the report.

Tokens are read from the environment (``GITHUB_TOKEN``, ``GITHUB_APP_JWT`` for ``--app``, ``STRIPE_API_KEY``) or from
a Secrets Manager secret (``--token-secret NAME_OR_ARN``: its SecretString is the token); never printed or logged.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext
from hookctl.deliveries import parse_since, positive_float
from hookctl.output import Column, render_record, render_table
from webhook_gateway.reconcile import (
    DEFAULT_SETTLE,
    ERROR,
    RECOVERED,
    WOULD_RECOVER,
    Pacer,
    RecoveryError,
    Report,
    WindowError,
    window_start,
)
from webhook_gateway.reconcile import github as gh

DEFAULT_SINCE = "3d"
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"
GITHUB_APP_JWT_ENV = "GITHUB_APP_JWT"
GITHUB_API_URL_ENV = "GITHUB_API_URL"  # GitHub Enterprise Server or a test server; GitHub Actions sets it too
STRIPE_API_KEY_ENV = "STRIPE_API_KEY"

ITEM_COLUMNS = (
    Column("delivery_id", "DELIVERY_ID", identifier=True),
    Column("event_type", "EVENT", max_width=40),
    Column("occurred_at", "AT"),
    Column("state", "STATE"),
    Column("action", "ACTION"),
    Column("detail", "DETAIL", max_width=60),
)


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="recover events the provider sent that the ledger never processed (github, stripe)",
        description="Compare the provider's own log of events with the ledger and recover what is missing, failed "
        "(dead-lettered) or never got a 2xx: GitHub is asked to redeliver (the normal, verified path), Stripe "
        "events are queued as backfill envelopes. --dry-run only lists.",
    )
    providers = parser.add_subparsers(dest="backfill_provider", metavar="PROVIDER")

    github = providers.add_parser(
        "github",
        parents=parents,
        help="redeliver a hook's missed deliveries (last 3 days)",
        description="List the hook's deliveries since --since (GitHub keeps redeliverable ones for 3 days), group "
        "them by GUID, compare with the ledger (<hook id>:<GUID>) and ask GitHub to redeliver each one that is "
        "missing, dead-lettered or never got a 2xx. Token: GITHUB_TOKEN (admin:repo_hook / admin:org_hook), or "
        "with --app the App's JWT in GITHUB_APP_JWT; or --token-secret.",
    )
    target = github.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo", metavar="OWNER/REPO", help="a repository's hook")
    target.add_argument("--org", metavar="ORG", help="an organisation's hook")
    target.add_argument("--app", action="store_true", help="the GitHub App's hook (needs the App's JWT)")
    github.add_argument(
        "--hook-id", required=True, metavar="ID", help="the hook's id (X-GitHub-Hook-Id; part of the ledger key)"
    )
    github.add_argument(
        "--rate",
        type=positive_float,
        default=gh.DEFAULT_REDELIVERIES_PER_MINUTE,
        metavar="PER_MINUTE",
        help=f"redeliveries a minute at most (default {gh.DEFAULT_REDELIVERIES_PER_MINUTE:g})",
    )
    github.add_argument(
        "--github-api-url", metavar="URL", help=f"GitHub's API (env {GITHUB_API_URL_ENV}, default {gh.API_BASE})"
    )
    _common(github, default_provider="github")
    github.set_defaults(handler=run_github)

    stripe = providers.add_parser(
        "stripe",
        parents=parents,
        help="queue missed Stripe events as backfill envelopes (last 30 days)",
        description="List the account's events since --since (Stripe's API keeps 30 days), compare with the ledger "
        "by event id and queue each one that is missing or dead-lettered as a backfill envelope (source: "
        "backfill; the body is the API's rendering of the event). Key: STRIPE_API_KEY (a restricted key with "
        "read access to events is enough) or --token-secret.",
    )
    stripe.add_argument(
        "--types",
        nargs="+",
        default=[],
        metavar="TYPE",
        help="only these event types (at most 20; use your endpoint's enabled events)",
    )
    stripe.add_argument("--stripe-api-url", metavar="URL", help="Stripe's API base (default https://api.stripe.com)")
    _common(stripe, default_provider="stripe")
    stripe.set_defaults(handler=run_stripe)


def _common(parser: argparse.ArgumentParser, *, default_provider: str) -> None:
    parser.add_argument(
        "--since", default=DEFAULT_SINCE, metavar="DURATION_OR_ISO", help=f"look back to then (default {DEFAULT_SINCE})"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be recovered; change nothing")
    parser.add_argument(
        "--provider",
        dest="instance",
        default=default_provider,
        metavar="NAME",
        help=f"the provider instance the deliveries are recorded under (default {default_provider})",
    )
    parser.add_argument(
        "--settle",
        type=positive_float,
        default=DEFAULT_SETTLE.total_seconds(),
        metavar="SECONDS",
        help="leave alone what the provider delivered this recently (default 300)",
    )
    parser.add_argument(
        "--token-secret", metavar="NAME_OR_ARN", help="read the token from this Secrets Manager secret instead"
    )
    parser.add_argument("--all", action="store_true", help="list every item, not only those that needed action")


def _window(args: argparse.Namespace, horizon: timedelta, what: str) -> datetime:
    """``--since``, refused (exit 2) before anything runs when it reaches beyond what the provider keeps."""
    try:
        return window_start(parse_since(args.since), datetime.now(UTC), horizon, what)
    except ValueError as exc:  # WindowError included
        raise CliError(str(exc), EXIT_USAGE) from None


def _token(args: argparse.Namespace, ctx: CommandContext, env: str) -> str:
    if args.token_secret:
        response = ctx.client("secretsmanager").get_secret_value(SecretId=args.token_secret)
        token = str(response.get("SecretString") or "").strip()
    else:
        token = os.environ.get(env, "").strip()
    if not token:
        where = f"secret {args.token_secret!r} is empty" if args.token_secret else f"set {env}"
        raise CliError(f"no API token: {where} (or pass --token-secret)", EXIT_USAGE)
    return token


def run_github(args: argparse.Namespace, ctx: CommandContext) -> int:
    try:
        if args.app:
            target = gh.HookTarget("app", args.hook_id)
        elif args.org:
            target = gh.HookTarget("org", args.hook_id, args.org)
        else:
            target = gh.HookTarget("repo", args.hook_id, args.repo)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    since = _window(args, gh.REDELIVERY_WINDOW, "GitHub redelivers only the last 3 days")
    token = _token(args, ctx, GITHUB_APP_JWT_ENV if args.app else GITHUB_TOKEN_ENV)
    api = gh.GitHubApi(token, base_url=args.github_api_url or os.environ.get(GITHUB_API_URL_ENV) or gh.API_BASE)
    try:
        report = gh.reconcile_github(
            api,
            target,
            table=ctx.resources.get("table"),
            since=since,
            dynamodb=ctx.client("dynamodb"),
            provider=args.instance,
            dry_run=args.dry_run,
            pacer=Pacer(args.rate),
            settle=timedelta(seconds=args.settle),
        )
    except WindowError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except RecoveryError as exc:  # the listing or the ledger read failed (GitHub's message, unreachable, throttled)
        raise CliError(str(exc), EXIT_FAILURE) from None
    for wait in api.waits:
        ctx.note(f"GitHub rate limit: waited {wait:.0f} s")
    return _emit(report, args, ctx)


def run_stripe(args: argparse.Namespace, ctx: CommandContext) -> int:
    # Here, not at import: they load pydantic and boto3, which `hookctl --help` and completion must not wait for.
    from webhook_gateway.queue import EnvelopeSender
    from webhook_gateway.reconcile import stripe as st

    since = _window(args, st.EVENT_RETENTION, "Stripe's API keeps events for 30 days")
    if len(args.types) > st.MAX_TYPES:
        raise CliError(f"--types takes at most {st.MAX_TYPES} event types", EXIT_USAGE)
    key = _token(args, ctx, STRIPE_API_KEY_ENV)
    sender = None
    if not args.dry_run:
        sender = EnvelopeSender(
            ctx.resources.get("queue_url"),
            ctx.resources.get("bucket"),
            sqs_client=ctx.client("sqs"),
            s3_client=ctx.client("s3"),
        )
    try:
        events = list(st.sdk_events(key, since=since, types=args.types, api_base=args.stripe_api_url))
        report = st.reconcile_stripe(
            events,
            table=ctx.resources.get("table"),
            since=since,
            dynamodb=ctx.client("dynamodb"),
            sender=sender,
            provider=args.instance,
            kind="stripe",
            dry_run=args.dry_run,
            settle=timedelta(seconds=args.settle),
        )
    except RecoveryError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    return _emit(report, args, ctx)


def _emit(report: Report, args: argparse.Namespace, ctx: CommandContext) -> int:
    document = report.as_dict()

    def human() -> str:
        rows = [item for item in document["items"] if args.all or item["action"]]
        counts = document["counts"]
        summary = render_record(
            [
                ("provider", report.provider),
                ("target", report.target),
                ("since", report.since),
                ("dry run", "yes" if report.dry_run else "no"),
                ("found at the provider", counts["found"]),
                ("in the ledger", counts["in_ledger"]),
                ("in progress", counts["in_progress"]),
                ("too recent", counts["recent"]),
                ("missing", counts["missing"]),
                ("never delivered", counts["never_delivered"]),
                ("failed (dead-lettered)", counts["failed"]),
                ("would recover", counts[WOULD_RECOVER]) if report.dry_run else ("recovered", counts[RECOVERED]),
                ("errors", counts["errors"]),
            ]
        )
        table = render_table(rows, ITEM_COLUMNS, "nothing to recover", width=ctx.width)
        return f"{table}\n\n{summary}"

    ctx.emit_result(document, human)
    return EXIT_FAILURE if any(item.action == ERROR for item in report.items) else EXIT_OK
