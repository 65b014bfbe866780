"""hookctl deliveries list / show against the ledger table (moto, in process)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from hookctl.deliveries import list_deliveries, parse_since, since_bound
from hookctl.main import main
from tests.integration.consumer.aws import moto_aws
from tests.unit.consumer.fakes import ARCHIVE_BUCKET, DELIVERIES_TABLE
from webhook_gateway.consumer import ledger as consumer_ledger
from webhook_gateway.consumer.archive import archive_delivery, archive_key
from webhook_gateway.envelope import Envelope

from .conftest import CliRun, fresh_session
from .gateway import TABLE_PROPERTIES, ago, ledger_item, put_ledger


@pytest.fixture
def ledger(session, gateway):
    """Given a ledger with GitHub, Stripe and Twilio deliveries in every status, at known ages."""
    put_ledger(
        session.resource("dynamodb"),
        gateway.table,
        ledger_item("github", "gh-old", status="processed", last_attempt_at=ago(days=3)),
        ledger_item("github", "gh-mid", status="failed", last_attempt_at=ago(hours=2), attempts=3),
        ledger_item("github", "gh-new", status="processed", last_attempt_at=ago(minutes=5)),
        ledger_item("stripe", "evt_1", status="failed", last_attempt_at=ago(minutes=30), event_type="charge.failed"),
        ledger_item("stripe", "evt_2", status="processing", last_attempt_at=ago(minutes=1), lease_owner="worker-1"),
        ledger_item("twilio", "SM1", status="failed", last_attempt_at=ago(days=2)),
    )
    return gateway


def ids(rows):
    return [row["delivery_id"] for row in rows]


def calls_of(api_calls, operation):
    return [params for service, name, params in api_calls if service == "dynamodb" and name == operation]


# -- list ------------------------------------------------------------------------------------------------------


def test_list_by_provider_queries_the_by_provider_index_newest_first(hookctl, ledger, api_calls):
    # When listing one provider's deliveries as JSON
    result = hookctl("deliveries", "list", "--provider", "github", "--table", ledger.table, "--json")

    # Then only that provider's entries come back, newest last attempt first, from one Query on the time index
    assert result.code == 0, result.err
    assert ids(result.json()) == ["gh-new", "gh-mid", "gh-old"]
    (query,) = calls_of(api_calls, "Query")
    assert query["IndexName"] == "by-provider" and query["ScanIndexForward"] is False
    assert not calls_of(api_calls, "Scan")


def test_list_by_status_reads_the_index_newest_first_up_to_the_limit(hookctl, ledger, api_calls):
    # When listing failed deliveries with a limit of 2
    result = hookctl("deliveries", "list", "--status", "failed", "--limit", "2", "--table", ledger.table, "--json")

    # Then the two most recent failures come back, read from the by-status index: the page and one more item
    # (to know whether another page exists), no more
    assert result.code == 0, result.err
    assert ids(result.json()) == ["evt_1", "gh-mid"]
    assert all(row["status"] == "failed" for row in result.json())
    queries = calls_of(api_calls, "Query")
    assert {q["IndexName"] for q in queries} == {"by-status"}
    assert queries[0]["ScanIndexForward"] is False and queries[0]["Limit"] == 3
    assert "--page-token" in result.err


def test_list_by_status_and_provider_filters_the_index(hookctl, ledger):
    result = hookctl(
        "deliveries", "list", "--status", "failed", "--provider", "github", "--table", ledger.table, "--json"
    )

    assert result.code == 0, result.err
    assert ids(result.json()) == ["gh-mid"]


def test_list_since_a_duration_with_status_bounds_the_key_condition(hookctl, ledger, api_calls):
    # When listing failures of the last hour
    result = hookctl("deliveries", "list", "--status", "failed", "--since", "1h", "--table", ledger.table, "--json")

    # Then older failures are left out by the index's key condition
    assert ids(result.json()) == ["evt_1"]
    (query,) = calls_of(api_calls, "Query")
    assert "last_attempt_at" in query["ExpressionAttributeNames"].values()
    assert query["KeyConditionExpression"] == "#hash = :hash AND #last >= :low"


def test_list_without_filters_merges_one_query_per_status_and_applies_since(hookctl, ledger, api_calls):
    # When listing everything attempted in the last 2.5 hours
    result = hookctl("deliveries", "list", "--since", "2h30m", "--table", ledger.table, "--json")

    # Then the recent entries of every provider and status come back newest first, from one by-status query per
    # status (the bound in each key condition), and no scan
    assert ids(result.json()) == ["evt_2", "gh-new", "evt_1", "gh-mid"]
    queries = calls_of(api_calls, "Query")
    assert sorted(q["ExpressionAttributeValues"][":hash"]["S"] for q in queries) == [
        "failed",
        "processed",
        "processing",
    ]
    assert all(q["IndexName"] == "by-status" and q["KeyConditionExpression"].endswith(">= :low") for q in queries)
    assert not calls_of(api_calls, "Scan")


def test_no_list_path_meets_the_consumers_body_items(hookctl, ledger, session):
    # Given the body item the consumer writes for a GitHub delivery (ledger.claim_body: no status, its own partition)
    put_ledger(
        session.resource("dynamodb"),
        ledger.table,
        {"provider": "github#body", "delivery_id": "ab" * 32, "first_delivery_id": "1:guid", "expires_at": 1},
    )
    # When everything is listed
    result = hookctl("deliveries", "list", "--table", ledger.table, "--json")
    # Then only deliveries come back
    assert result.code == 0, result.err
    assert "github#body" not in {row["provider"] for row in result.json()}
    assert len(result.json()) == 6


def test_list_by_provider_since_an_iso_time_filters_the_query(hookctl, ledger):
    since = ago(days=1)
    result = hookctl("deliveries", "list", "--provider", "github", "--since", since, "--table", ledger.table, "--json")

    assert ids(result.json()) == ["gh-new", "gh-mid"]


def test_list_prints_an_aligned_table(hookctl, ledger):
    # When listing without --json
    result = hookctl("deliveries", "list", "--provider", "stripe", "--table", ledger.table)

    # Then a header and one line per delivery, every column starting at the same offset on each line
    assert result.code == 0, result.err
    header, *rows = result.out.rstrip("\n").splitlines()
    assert header.split() == [
        "PROVIDER",
        "DELIVERY_ID",
        "STATUS",
        "OUTCOME",
        "ATTEMPTS",
        "EVENT_TYPE",
        "LAST_ATTEMPT_AT",
        "LAST_ERROR",
    ]  # fmt: skip  (NEXT_ATTEMPT_AT and REPLAYS: only when a row has one)
    assert len(rows) == 2 and rows[0].startswith("stripe") and "evt_2" in rows[0]
    status_column = header.index("STATUS")
    assert [row[status_column:].split()[0] for row in rows] == ["processing", "failed"]
    assert "HandlerError: downstream returned 503" in rows[1]


def test_list_table_shows_the_exception_line_of_a_traceback(hookctl, session, gateway):
    # Given a failure whose last_error is a whole traceback
    traceback = 'Traceback (most recent call last):\n  File "handler.py", line 9\nTimeoutError: orders API timed out'
    put_ledger(session.resource("dynamodb"), gateway.table, ledger_item("github", "gh-1", last_error=traceback))

    table = hookctl("deliveries", "list", "--table", gateway.table)
    as_json = hookctl("deliveries", "list", "--table", gateway.table, "--json")

    # Then the table shows the line naming the exception, and JSON the full text
    assert table.out.splitlines()[1].endswith("TimeoutError: orders API timed out")
    assert as_json.json()[0]["last_error"] == traceback


def test_list_with_no_match_says_so(hookctl, gateway):
    result = hookctl("deliveries", "list", "--provider", "nobody", "--table", gateway.table)

    assert result.code == 0
    assert result.out.strip() == "No deliveries match."
    assert hookctl("deliveries", "list", "--provider", "nobody", "--table", gateway.table, "--json").json() == []


@pytest.mark.parametrize(
    ("provider", "status"), [("github", None), (None, None), (None, "processed"), ("github", "processed")]
)
def test_list_follows_pagination_on_every_access_path(session, gateway, provider, status):
    # Given more entries than one page holds
    put_ledger(
        session.resource("dynamodb"),
        gateway.table,
        *(ledger_item("github", f"gh-{i:02d}", last_attempt_at=ago(minutes=i)) for i in range(7)),
    )

    # When reading one item per page
    rows = list_deliveries(
        gateway.table, provider=provider, status=status, limit=5, page_size=1, dynamodb=session.client("dynamodb")
    )

    # Then every page was followed and the newest five come back in order
    assert ids(rows) == ["gh-00", "gh-01", "gh-02", "gh-03", "gh-04"]


def test_list_returns_plain_numbers_in_json(hookctl, ledger):
    (row,) = hookctl("deliveries", "list", "--status", "processing", "--table", ledger.table, "--json").json()

    assert row["attempts"] == 1 and isinstance(row["attempts"], int)
    assert row["expires_at"] == 1_900_000_000


def test_list_rejects_a_bad_since_with_a_usage_error(hookctl, gateway):
    result = hookctl("deliveries", "list", "--since", "yesterday", "--table", gateway.table)

    assert result.code == 2
    assert "--since 'yesterday'" in result.err and "30m" in result.err


def test_common_options_work_before_the_command_as_well(hookctl, ledger):
    result = hookctl("--json", "--table", ledger.table, "deliveries", "list", "--provider", "twilio")

    assert result.code == 0, result.err
    assert ids(result.json()) == ["SM1"]


def test_table_can_come_from_the_environment(hookctl, ledger):
    result = hookctl("deliveries", "list", "--provider", "twilio", "--json", environ={"HOOKCTL_TABLE": ledger.table})

    assert ids(result.json()) == ["SM1"]


def test_missing_table_is_a_usage_error_that_names_the_flag_and_variable(hookctl, session):
    # Given no flag, no environment variable and no stack
    result = hookctl("deliveries", "list")

    # Then the operator is told every way to name the table
    assert result.code == 2
    assert "--table" in result.err and "HOOKCTL_TABLE" in result.err and "webhook-gateway" in result.err


# -- show ------------------------------------------------------------------------------------------------------


def test_show_prints_every_attribute(hookctl, ledger):
    result = hookctl("deliveries", "show", "github", "gh-mid", "--table", ledger.table)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["provider:", "github"]
    assert lines[1].split() == ["delivery_id:", "gh-mid"]
    assert any(line.split()[:2] == ["status:", "failed"] for line in lines)
    assert any(line.startswith("expires_at:") and "(2030-03-17T17:46:40Z)" in line for line in lines)
    # values aligned in one column
    assert len({line.index(line.split()[1]) for line in lines}) == 1


def test_show_json(hookctl, ledger):
    result = hookctl("deliveries", "show", "stripe", "evt_1", "--table", ledger.table, "--json")

    assert result.code == 0
    item = result.json()
    assert item["delivery_id"] == "evt_1" and item["event_type"] == "charge.failed" and item["attempts"] == 1


def test_show_a_missing_delivery_exits_1_with_a_clear_message(hookctl, ledger):
    result = hookctl("deliveries", "show", "github", "does-not-exist", "--table", ledger.table)

    assert result.code == 1
    assert result.out == ""
    assert "no delivery 'does-not-exist' from provider 'github'" in result.err
    assert ledger.table in result.err


def test_show_on_a_missing_table_reports_the_aws_error(hookctl, session):
    result = hookctl("deliveries", "show", "github", "x", "--table", "no-such-table")

    assert result.code == 1
    assert "GetItem failed: ResourceNotFoundException" in result.err


# -- time parsing ----------------------------------------------------------------------------------------------

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", "2026-01-31T11:58:30"),
        ("15m", "2026-01-31T11:45:00"),
        ("2h", "2026-01-31T10:00:00"),
        ("1h30m", "2026-01-31T10:30:00"),
        ("7d", "2026-01-24T12:00:00"),
        ("1w", "2026-01-24T12:00:00"),
        ("2026-01-30T08:15:00Z", "2026-01-30T08:15:00"),
        ("2026-01-30T08:15:00.750Z", "2026-01-30T08:15:00"),
        ("2026-01-30T10:15:00+02:00", "2026-01-30T08:15:00"),
        ("2026-01-30T08:15:00", "2026-01-30T08:15:00"),
        ("2026-01-30", "2026-01-30T00:00:00"),
    ],
)
def test_since_accepts_durations_and_iso_times(text, expected):
    assert since_bound(parse_since(text, now=NOW)) == expected


def test_since_bound_keeps_every_timestamp_of_its_second():
    bound = since_bound(datetime(2026, 1, 30, 8, 15, 0, 900_000, tzinfo=UTC))

    assert bound <= "2026-01-30T08:15:00Z"
    assert bound <= "2026-01-30T08:15:00.000Z"
    assert bound > "2026-01-30T08:14:59.999Z"


# -- over the real ledger and archive (written by the consumer's own functions) --------------------------------

TOKEN = re.compile(r"--page-token (\S+)")
T0 = time.time()  # epoch seconds: each test's history is recorded relative to it (reset per test, below)


@pytest.fixture(autouse=True)
def _fresh_clock():
    """The CLI reads the real clock (``--since 1h``, ``--waiting``): each test's history starts from now."""
    global T0
    T0 = time.time()


LEASE_MS = 60_000


@dataclass(frozen=True)
class Recorded:
    """What a test wrote through the ledger's functions: enough to compute the expected listing."""

    provider: str
    delivery_id: str
    status: str
    event_type: str
    last_attempt_at: str
    next_attempt_at: str | None = None


@pytest.fixture
def aws():
    """Given the deliveries table with both indexes, the overflow and archive buckets (consumer tests' moto_aws)."""
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def cli_session(aws):
    return fresh_session()


@pytest.fixture
def operations(cli_session):
    """Every DynamoDB operation hookctl calls, by name (botocore's before-call event)."""
    seen: list[str] = []
    cli_session.events.register("before-call.dynamodb", lambda model, **_: seen.append(model.name))
    return seen


@pytest.fixture
def cli(cli_session):
    """Run hookctl on the moto session against the consumer tests' table; stdout decoded, ``raw`` its bytes."""

    def run(*argv: str) -> CliRun:
        buffer, err = io.BytesIO(), io.StringIO()
        out = io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)
        code = main([*argv, "--table", DELIVERIES_TABLE], session=cli_session, environ={}, stdout=out, stderr=err)
        out.flush()
        result = CliRun(code, buffer.getvalue().decode("utf-8", errors="replace"), err.getvalue())
        result.raw = buffer.getvalue()  # type: ignore[attr-defined]
        return result

    return run


def record(
    aws,
    provider: str,
    delivery_id: str,
    *,
    at: float,
    status: str = "processed",
    event_type: str = "push",
    retry_in: float | None = None,
    replays: int = 0,
) -> Recorded:
    """A delivery recorded as the consumer does: claimed at ``at``, then completed or failed (with its retry due
    ``retry_in`` seconds later), then replay requests as ``hookctl replay`` records them."""
    delivery = consumer_ledger.Delivery(
        provider, delivery_id, event_type, received_at=datetime.fromtimestamp(at, UTC), message_id=f"m-{delivery_id}"
    )
    owner = f"worker/{delivery_id}"
    claim = consumer_ledger.claim_delivery(
        DELIVERIES_TABLE, delivery, owner=owner, now=at, lease_ms=LEASE_MS, ttl_days=7, client=aws.dynamodb
    )
    assert claim.status is consumer_ledger.ClaimStatus.CLAIMED
    next_at = None
    if status == "processed":
        assert consumer_ledger.complete_delivery(
            DELIVERIES_TABLE, delivery, owner=owner, now=at + 0.5, client=aws.dynamodb
        )
    elif status == "failed":
        next_at = at + 1 + retry_in if retry_in is not None else None
        assert consumer_ledger.fail_delivery(
            DELIVERIES_TABLE,
            delivery,
            owner=owner,
            error=RuntimeError("orders API answered 503"),
            next_attempt_at=next_at,
            client=aws.dynamodb,
        )
    for number in range(replays):
        consumer_ledger.request_replay(
            DELIVERIES_TABLE,
            provider,
            delivery_id,
            replay_id=f"r{number}",
            requested_by="arn:aws:iam::123456789012:user/ops",
            now=at + 120,
            ttl_days=7,
            client=aws.dynamodb,
        )
    return Recorded(
        provider,
        delivery_id,
        status,
        event_type,
        consumer_ledger.iso_utc(at),
        consumer_ledger.iso_utc(next_at) if next_at is not None else None,
    )


def archive(aws, envelope: Envelope, *, at: float | None = None, inline_max_bytes: int = 65_536) -> None:
    """The consumer's archive write for ``envelope`` (inline up to ``inline_max_bytes``, else S3)."""
    archive_delivery(
        envelope,
        table_name=DELIVERIES_TABLE,
        bucket=ARCHIVE_BUCKET,
        now=T0 if at is None else at,
        retention_days=30,
        inline_max_bytes=inline_max_bytes,
        dynamodb=aws.dynamodb,
        s3=aws.s3,
    )


def received(provider: str, delivery_id: str, raw: bytes, headers: dict[str, str], event_type: str = "push"):
    return Envelope(
        provider=provider,
        delivery_id=delivery_id,
        event_type=event_type,
        received_at=datetime.fromtimestamp(T0, UTC),
        headers=headers,
        **Envelope.inline_body_fields(raw),
    )


def newest_first(records):
    return [r.delivery_id for r in sorted(records, key=lambda r: (r.last_attempt_at, r.provider, r.delivery_id),
                                          reverse=True)]  # fmt: skip


@pytest.fixture
def history(aws):
    """Given 13 deliveries of three providers in every status, several sharing one attempt time, and next to them
    the consumer's archive and body items (which are no deliveries)."""
    tie = T0 - 600
    records = [
        record(aws, "github", "gh-1", at=T0 - 30),
        record(aws, "github", "gh-2", at=tie, status="failed", retry_in=1500),
        record(aws, "github", "gh-3", at=tie),
        record(aws, "github", "gh-4", at=tie, event_type="pull_request"),
        record(aws, "github", "gh-5", at=T0 - 3 * 86_400, status="failed", retry_in=60),  # retry long past
        record(aws, "stripe", "evt_a", at=tie, event_type="charge.failed", status="failed", retry_in=720),
        record(aws, "stripe", "evt_b", at=tie, event_type="charge.succeeded", replays=2),
        record(aws, "stripe", "evt_c", at=T0 - 5, status="processing", event_type="charge.succeeded"),
        record(aws, "stripe", "evt_d", at=T0 - 7200, status="failed", retry_in=30),  # its retry is due: not waiting
        record(aws, "stripe", "evt_e", at=T0 - 60, status="failed"),  # the queue's short retry: no next_attempt_at
        record(aws, "twilio", "SM1", at=tie, event_type="message"),
        record(aws, "twilio", "SM2", at=T0 - 36_000, status="failed", retry_in=41_400, event_type="message"),
        record(aws, "twilio", "SM3", at=T0 - 10, event_type="message"),
    ]
    for r in records:
        archive(aws, received(r.provider, r.delivery_id, b'{"id": "%s"}' % r.delivery_id.encode(), {}))
    delivery = consumer_ledger.Delivery("github", "gh-1", "push", datetime.fromtimestamp(T0, UTC), "m-gh-1")
    consumer_ledger.claim_body(
        DELIVERIES_TABLE, delivery, body_sha256="ab" * 32, now=T0, ttl_days=7, client=aws.dynamodb
    )
    return records


def pages(cli, *argv: str) -> tuple[list[list[str]], list[CliRun]]:
    """Every page of a listing, following the printed tokens."""
    ids_per_page, runs, token = [], [], None
    while True:
        run = cli("deliveries", "list", *argv, "--json", *(("--page-token", token) if token else ()))
        assert run.code == 0, run.err
        runs.append(run)
        ids_per_page.append(ids(run.json()))
        found = TOKEN.search(run.err)
        if not found:
            return ids_per_page, runs
        token = found.group(1)
        assert len(ids_per_page) < 50, "the tokens never end"


iso = consumer_ledger.iso_utc

LIST_PATHS = {
    "everything": ((), lambda r: True),
    "provider": (("--provider", "github"), lambda r: r.provider == "github"),
    "status": (("--status", "failed"), lambda r: r.status == "failed"),
    "status processed and provider": (
        ("--status", "processed", "--provider", "stripe"),
        lambda r: r.status == "processed" and r.provider == "stripe",
    ),
    "status failed and provider": (
        ("--status", "failed", "--provider", "stripe"),
        lambda r: r.status == "failed" and r.provider == "stripe",
    ),
    "type": (("--type", "charge.succeeded"), lambda r: r.event_type == "charge.succeeded"),
    "provider and type": (("--provider", "twilio", "--type", "message"), lambda r: r.provider == "twilio"),
    "since": (("--since", "1h"), lambda r: r.last_attempt_at >= iso(T0 - 3600)),
    "until": (("--until", "1h"), lambda r: r.last_attempt_at < iso(T0 - 3600)),
    "since and until": (
        ("--since", "1d", "--until", "2m", "--provider", "stripe"),
        lambda r: r.provider == "stripe" and iso(T0 - 86_400) <= r.last_attempt_at < iso(T0 - 120),
    ),
}  # fmt: skip


@pytest.mark.parametrize("path", list(LIST_PATHS))
def test_every_list_path_reads_an_index_never_scans_and_pages_through_ties(cli, history, operations, path):
    """Given the history, when a listing is read two items per page following the printed tokens, then the pages
    together are exactly the matching deliveries, newest first (ties in one order), none repeated or skipped,
    read by Query alone, and never an archive or body item."""
    argv, matches = LIST_PATHS[path]
    expected = newest_first([r for r in history if matches(r)])

    per_page, runs = pages(cli, *argv, "--limit", "2")

    assert [item for page in per_page for item in page] == expected
    assert all(len(page) == 2 for page in per_page[:-1])
    assert "Scan" not in operations and "Query" in operations
    assert set(operations) <= {"Query"}
    providers = {row["provider"] for run in runs for row in run.json()}
    assert not any("#" in provider for provider in providers)


def test_one_page_holds_the_whole_listing_and_prints_no_token(cli, history):
    result = cli("deliveries", "list", "--json")

    assert result.code == 0, result.err
    assert ids(result.json()) == newest_first(history)
    assert "--page-token" not in result.err


@pytest.mark.parametrize("limit", ["1", "3", "4"])
def test_a_page_boundary_inside_a_tie_neither_skips_nor_repeats(cli, history, limit):
    """Given six deliveries attempted in the same millisecond, when the provider-less listing pages through them
    with page sizes that cut the tie in different places, then each appears exactly once, in one order."""
    tie = consumer_ledger.iso_utc(T0 - 600)
    expected = newest_first([r for r in history if r.last_attempt_at == tie])
    assert len(expected) == 6

    per_page, _ = pages(cli, "--until", "5m", "--since", "11m", "--limit", limit)

    assert [item for page in per_page for item in page] == expected


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (("--status", "processed", "--provider", "github"), {"by-provider"}),
        (("--status", "failed", "--provider", "github"), {"by-status"}),
        (("--provider", "github"), {"by-provider"}),
        ((), {"by-status"}),
        (("--waiting",), {"by-status"}),
    ],
)
def test_each_filter_reads_the_index_the_docs_name(cli, cli_session, history, argv, index):
    queries: list[dict] = []
    cli_session.events.register("provide-client-params.dynamodb.Query", lambda params, **_: queries.append(params))

    assert cli("deliveries", "list", *argv, "--json").code == 0

    assert {query["IndexName"] for query in queries} == index


def test_waiting_lists_failed_deliveries_whose_retry_is_ahead_soonest_first(cli, history, operations):
    """Given failures whose retries are due in 2 and 15 minutes and in 1.5 hours, one whose retry was due hours
    ago, one three days old, and one without a scheduled retry, when listing those waiting, then only the first
    three come back, soonest retry first, with when it is due."""
    result = cli("deliveries", "list", "--waiting", "--json")

    assert result.code == 0, result.err
    rows = result.json()
    assert ids(rows) == ["evt_a", "gh-2", "SM2"]
    assert [row["next_attempt_at"] for row in rows] == sorted(row["next_attempt_at"] for row in rows)
    assert all(
        row["status"] == "failed" and row["next_attempt_at"] > consumer_ledger.iso_utc(time.time()) for row in rows
    )
    assert set(operations) == {"Query"}


def test_waiting_pages_in_retry_order_and_combines_with_provider(cli, history):
    per_page, _ = pages(cli, "--waiting", "--limit", "1")
    stripe = cli("deliveries", "list", "--waiting", "--provider", "stripe", "--json")

    assert per_page == [["evt_a"], ["gh-2"], ["SM2"]]
    assert ids(stripe.json()) == ["evt_a"]


def test_waiting_with_another_status_is_a_usage_error(cli, history):
    result = cli("deliveries", "list", "--waiting", "--status", "processed")

    assert result.code == 2
    assert "--waiting lists failed deliveries only" in result.err


def test_the_table_shows_when_a_retry_is_due_and_how_often_it_was_replayed(cli, history):
    # When listing Stripe's deliveries as a table
    result = cli("deliveries", "list", "--provider", "stripe")

    # Then NEXT_ATTEMPT_AT holds a failure's scheduled retry and REPLAYS the replay requests
    header, *rows = result.out.splitlines()
    assert "NEXT_ATTEMPT_AT" in header.split() and "REPLAYS" in header.split()
    by_id = {row.split()[1]: row for row in rows}
    next_column, replays_column = header.index("NEXT_ATTEMPT_AT"), header.index("REPLAYS")
    evt_a = next(r for r in history if r.delivery_id == "evt_a")
    assert by_id["evt_a"][next_column:].split()[0] == evt_a.next_attempt_at
    assert by_id["evt_b"][replays_column : replays_column + len("REPLAYS")].strip() == "2"


def test_json_stays_a_list_and_the_token_goes_to_stderr(cli, history):
    result = cli("deliveries", "list", "--limit", "3", "--json")

    assert isinstance(result.json(), list) and len(result.json()) == 3
    assert result.err.count("hookctl: next page: --page-token ") == 1


def test_a_token_is_refused_for_other_filters_or_when_garbled(cli, history):
    first = cli("deliveries", "list", "--provider", "github", "--limit", "1", "--json")
    token = TOKEN.search(first.err).group(1)

    other = cli("deliveries", "list", "--provider", "stripe", "--page-token", token)
    garbled = cli("deliveries", "list", "--provider", "github", "--page-token", token[:-6] + "xxxxxx")

    assert other.code == 2 and "issued for other filters (--provider github)" in other.err
    assert garbled.code == 2 and "not a token printed by" in garbled.err


def test_a_token_keeps_the_first_pages_time_window(cli, history):
    # Given the first page of "attempted in the last hour"
    first = cli("deliveries", "list", "--since", "1h", "--limit", "2", "--json")
    token = TOKEN.search(first.err).group(1)

    # When the next page is asked for with a different --since
    second = cli("deliveries", "list", "--since", "30d", "--page-token", token, "--json")

    # Then the token's window holds: nothing older than an hour
    expected = newest_first([r for r in history if r.last_attempt_at >= consumer_ledger.iso_utc(T0 - 3600)])
    assert ids(first.json()) + ids(second.json()) == expected


def test_until_is_rejected_like_since(cli, history):
    result = cli("deliveries", "list", "--until", "tomorrow")

    assert result.code == 2 and "--until 'tomorrow'" in result.err


def test_replays_bulk_caller_keeps_getting_a_list(aws, history):
    rows = list_deliveries(
        DELIVERIES_TABLE, provider="github", status="failed", since=None, limit=10, dynamodb=aws.dynamodb
    )

    assert ids(rows) == ["gh-2", "gh-5"]


# -- show: the archive -----------------------------------------------------------------------------------------

JSON_BODY = b'{"zeta":1,"action":"opened","nested":{"b":[1,2],"a":"\xc3\xa9"}}'
FORM_BODY = b"ToCountry=US&Body=Hello+there%21&From=%2B15005550006&Empty="
BINARY_BODY = bytes(range(256)) * 3


@pytest.fixture
def archived(aws):
    """Given deliveries archived by the consumer: JSON inline, a Twilio form inline, a binary body in S3, a JSON
    body in S3, and one delivery claimed without an archive."""
    cases = {
        "gh-json": ("github", JSON_BODY, {"content-type": "application/json", "x-github-event": "issues"}, 65_536),
        "SM-form": ("twilio", FORM_BODY, {"Content-Type": "application/x-www-form-urlencoded"}, 65_536),
        "bin-s3": ("github", BINARY_BODY, {"content-type": "application/octet-stream"}, 16),
        "gh-s3": ("github", JSON_BODY, {}, 16),
    }
    for delivery_id, (provider, raw, headers, inline_max) in cases.items():
        archive(aws, received(provider, delivery_id, raw, headers), inline_max_bytes=inline_max)
        record(aws, provider, delivery_id, at=T0 - 60)
    record(aws, "github", "gh-unarchived", at=T0 - 60)
    return cases


def test_show_adds_the_archive_summary_inline(cli, archived):
    result = cli("deliveries", "show", "github", "gh-json")

    assert result.code == 0, result.err
    lines = dict(line.split(":", 1) for line in result.out.splitlines())
    assert lines["archive.body"].strip() == "inline (in the ledger table)"
    assert lines["archive.size"].strip() == f"{len(JSON_BODY)} bytes"
    assert lines["archive.sha256"].strip() == hashlib.sha256(JSON_BODY).hexdigest()
    assert lines["archive.content_type"].strip() == "application/json"
    assert lines["archive.expires_at"].strip().startswith(str(int(T0) + 30 * 86_400))


def test_show_names_the_s3_object_of_a_large_body_and_json_has_the_summary(cli, archived):
    text = cli("deliveries", "show", "github", "bin-s3")
    document = cli("deliveries", "show", "github", "bin-s3", "--json").json()

    key = f"github/{hashlib.sha256(BINARY_BODY).hexdigest()}"
    assert f"s3://{ARCHIVE_BUCKET}/{key}" in text.out
    assert document["status"] == "processed"
    assert document["archive"]["location"] == "s3" and document["archive"]["key"] == key
    assert document["archive"]["size"] == len(BINARY_BODY) and "body" not in document["archive"]


@pytest.mark.parametrize("delivery_id", ["gh-json", "gh-s3"])
def test_body_pretty_prints_json_keys_in_their_order(cli, archived, delivery_id):
    """Given the same JSON body inline with a content type and in S3 without one (sniffed), when --body is asked,
    then it is printed with a 2-space indent, keys in the order the provider sent them."""
    result = cli("deliveries", "show", "github", delivery_id, "--body")

    assert result.code == 0, result.err
    assert result.out == json.dumps(json.loads(JSON_BODY), indent=2, ensure_ascii=False) + "\n"
    assert result.out.index('"zeta"') < result.out.index('"action"') and "é" in result.out


def test_body_of_a_form_is_one_field_a_line(cli, archived):
    result = cli("deliveries", "show", "twilio", "SM-form", "--body")

    assert result.out.splitlines() == ["ToCountry = US", "Body = Hello there!", "From = +15005550006", "Empty = "]


def test_headers_print_the_archived_forwarded_headers(cli, archived):
    result = cli("deliveries", "show", "github", "gh-json", "--headers")

    assert result.out.splitlines() == ["content-type: application/json", "x-github-event: issues"]


def test_a_binary_body_is_a_note_suggesting_raw(cli, archived):
    result = cli("deliveries", "show", "github", "bin-s3", "--body")

    assert result.code == 0 and result.out == ""
    assert f"binary ({len(BINARY_BODY)} bytes, sha256 {hashlib.sha256(BINARY_BODY).hexdigest()})" in result.err
    assert "--raw FILE" in result.err


@pytest.mark.parametrize(
    ("provider", "delivery_id", "raw"),
    [("github", "gh-json", JSON_BODY), ("twilio", "SM-form", FORM_BODY), ("github", "bin-s3", BINARY_BODY),
     ("github", "gh-s3", JSON_BODY)],
)  # fmt: skip
def test_raw_writes_the_exact_bytes_to_a_file_and_to_stdout(cli, archived, tmp_path, provider, delivery_id, raw):
    target = tmp_path / "body.bin"

    to_file = cli("deliveries", "show", provider, delivery_id, "--raw", str(target))
    to_stdout = cli("deliveries", "show", provider, delivery_id, "--raw", "-")

    assert to_file.code == 0 and to_file.raw == b"" and target.read_bytes() == raw
    assert to_stdout.code == 0 and to_stdout.raw == raw


def test_json_body_is_text_or_base64_with_its_encoding(cli, archived):
    text = cli("deliveries", "show", "github", "gh-json", "--body", "--headers", "--json").json()["archive"]
    binary = cli("deliveries", "show", "github", "bin-s3", "--body", "--json").json()["archive"]

    assert text["body_encoding"] == "utf-8" and text["body"].encode() == JSON_BODY
    assert text["headers"] == {"content-type": "application/json", "x-github-event": "issues"}
    assert binary["body_encoding"] == "base64" and base64.b64decode(binary["body"]) == BINARY_BODY


@pytest.mark.parametrize("flag", [("--body",), ("--headers",), ("--raw", "-")])
def test_without_an_archive_content_flags_exit_1_and_plain_show_still_works(cli, archived, flag):
    content = cli("deliveries", "show", "github", "gh-unarchived", *flag)
    plain = cli("deliveries", "show", "github", "gh-unarchived")

    assert content.code == 1 and content.raw == b""
    assert "no archive of github/gh-unarchived" in content.err
    assert plain.code == 0 and "status:" in plain.out and "archive:" in plain.out and "none" in plain.out


def test_a_tampered_inline_archive_exits_1(cli, archived, aws):
    # Given the archived bytes changed in the table
    aws.dynamodb.update_item(
        TableName=DELIVERIES_TABLE,
        Key=archive_key("github", "gh-json"),
        UpdateExpression="SET body = :body",
        ExpressionAttributeValues={":body": {"B": JSON_BODY.replace(b"opened", b"closed")}},
    )

    body = cli("deliveries", "show", "github", "gh-json", "--body")
    plain = cli("deliveries", "show", "github", "gh-json")

    assert body.code == 1 and body.out == ""
    assert "does not match its recorded SHA-256" in body.err
    assert plain.code == 1 and "status:" in plain.out and "INTEGRITY CHECK FAILED" in plain.out


def test_a_tampered_s3_archive_exits_1(cli, archived, aws):
    key = f"github/{hashlib.sha256(BINARY_BODY).hexdigest()}"
    aws.s3.put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=BINARY_BODY[:-1] + b"\x00")

    result = cli("deliveries", "show", "github", "bin-s3", "--raw", "-")

    assert result.code == 1 and result.raw == b""
    assert "does not match its recorded SHA-256" in result.err


def test_an_unreadable_s3_archive_fails_the_body_and_is_a_note_for_plain_show(cli, archived, aws):
    # Given the archive object of a large body is gone (a lifecycle rule, a manual delete)
    aws.s3.delete_object(Bucket=ARCHIVE_BUCKET, Key=f"github/{hashlib.sha256(BINARY_BODY).hexdigest()}")

    body = cli("deliveries", "show", "github", "bin-s3", "--body")
    plain = cli("deliveries", "show", "github", "bin-s3")

    # Then --body exits 1 naming the S3 error; plain show still prints the ledger entry, with a note
    assert body.code == 1 and "GetObject failed: NoSuchKey" in body.err
    assert plain.code == 0 and "status:" in plain.out and "archive not read: GetObject failed" in plain.err


def test_a_table_without_the_by_provider_index_gets_a_hint(hookctl, session):
    # Given a ledger table created before the by-provider index
    properties = {**TABLE_PROPERTIES, "GlobalSecondaryIndexes": TABLE_PROPERTIES["GlobalSecondaryIndexes"][:1]}
    session.client("dynamodb").create_table(TableName="old-ledger", **properties)

    by_provider = hookctl("deliveries", "list", "--provider", "github", "--table", "old-ledger")
    by_status = hookctl("deliveries", "list", "--status", "failed", "--table", "old-ledger")

    assert by_provider.code == 1 and "predates the by-provider index" in by_provider.err
    assert by_status.code == 0


def test_a_stale_delivery_is_listed_with_its_outcome_and_the_watermark_never_is(hookctl, session, gateway):
    # Given the real consumer with an ordering guard, fed a subscription update and then an older one
    from tests.unit.consumer.fakes import FakeLambdaContext, make_envelope, sqs_event, sqs_record
    from webhook_gateway.consumer.ordering import stripe_object_version
    from webhook_gateway.consumer.processor import Consumer, process_batch
    from webhook_gateway.consumer.registry import Registry
    from webhook_gateway.consumer.settings import ConsumerSettings

    registry = Registry()
    registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)(lambda event: None)
    settings = ConsumerSettings.from_env({"TABLE_NAME": gateway.table, "OVERFLOW_BUCKET": "overflow-bucket"})
    consumer = Consumer(settings=settings, registry=registry, dynamodb=session.client("dynamodb"))
    for delivery_id, created in (("evt_new", 200), ("evt_old", 100)):
        body = json.dumps({"id": delivery_id, "type": "customer.subscription.updated", "created": created,
                           "data": {"object": {"id": "sub_1"}}}).encode()
        envelope = make_envelope("stripe", delivery_id, "customer.subscription.updated", body)
        process_batch(sqs_event([sqs_record(envelope)]), FakeLambdaContext(), consumer)

    # When the operator lists and shows the deliveries
    listed = hookctl("deliveries", "list", "--table", gateway.table, "--json").json()
    shown = hookctl("deliveries", "show", "stripe", "evt_old", "--table", gateway.table)

    # Then the older one says stale (and behind which delivery), and the watermark item is in no listing
    assert {row["delivery_id"]: row["outcome"] for row in listed} == {"evt_new": "handled", "evt_old": "stale"}
    lines = shown.out.splitlines()
    assert lines[3].split() == ["outcome:", "stale"] and lines[4].split() == ["stale_behind:", "evt_new"]
