"""hookctl deliveries list / show against the ledger table (moto, in process)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hookctl.deliveries import list_deliveries, parse_since, since_bound

from .gateway import ago, ledger_item, put_ledger


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
    assert sorted(q["ExpressionAttributeValues"][":hash"]["S"] for q in queries) == ["failed", "processed", "processing"]
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
        "PROVIDER", "DELIVERY_ID", "STATUS", "OUTCOME", "ATTEMPTS", "EVENT_TYPE", "LAST_ATTEMPT_AT", "LAST_ERROR",
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
