"""``hookctl backfill github`` and ``webhook_gateway.reconcile.github`` against a fake GitHub API (tests/fake_apis.py)
and the ledger on moto: what is compared, what is redelivered, pagination and GitHub's rate limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.fake_apis import (
    GITHUB_TOKEN,
    FakeGitHub,
    rate_limited_primary,
    rate_limited_secondary,
)
from webhook_gateway.reconcile import (
    FAILED,
    IN_LEDGER,
    IN_PROGRESS,
    MISSING,
    NEVER_DELIVERED,
    RECENT,
    RECOVERED,
    WOULD_RECOVER,
    Pacer,
    WindowError,
)
from webhook_gateway.reconcile.github import GitHubApi, GitHubError, HookTarget, reconcile_github

from .gateway import Gateway, ledger_item, put_ledger

HOOK = "501234567"
REPO_PATH = f"/repos/octocat/demo/hooks/{HOOK}/deliveries"
TARGET = HookTarget("repo", HOOK, "octocat/demo")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def github(fake: FakeGitHub) -> FakeGitHub:
    fake.reset()
    return fake


class Sleeps:
    """An injected sleep that records what was asked and advances an injected clock by it."""

    def __init__(self) -> None:
        self.now = time.time()
        self.asked: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.now += seconds


def api(github: FakeGitHub, sleeps: Sleeps | None = None) -> GitHubApi:
    sleeps = sleeps or Sleeps()
    return GitHubApi(GITHUB_TOKEN, base_url=github.url, clock=time.time, sleep=sleeps.sleep)


def ago(**delta: float) -> float:
    return (datetime.now(UTC) - timedelta(**delta)).timestamp()


def run(github: FakeGitHub, gateway: Gateway, session: boto3.Session, **options: Any):
    options.setdefault("pacer", Pacer(1e6, sleep=lambda _: None))
    return reconcile_github(
        options.pop("client", None) or api(github),
        TARGET,
        table=gateway.table,
        since=datetime.now(UTC) - timedelta(days=1),
        dynamodb=session.client("dynamodb"),
        **options,
    )


def test_nothing_missing_redelivers_nothing(github: FakeGitHub, gateway: Gateway, session: boto3.Session) -> None:
    """Given three deliveries GitHub got a 2xx for, each processed in the ledger under <hook id>:<guid>
    When the hook is reconciled
    Then all three are in the ledger and nothing is redelivered."""
    for number in range(3):
        github.add(REPO_PATH, f"guid-{number}", delivered_at=ago(hours=number + 1))
    entries = (ledger_item("github", f"{HOOK}:guid-{n}") for n in range(3))
    put_ledger(session.resource("dynamodb"), gateway.table, *entries)

    report = run(github, gateway, session)

    assert report.counts()["found"] == 3
    assert report.counts()[IN_LEDGER] == 3
    assert report.missing == 0
    assert github.redeliveries() == []
    # And the token went as a bearer token with GitHub's API version, on the documented path
    listing = github.requests[0]
    assert listing.path == REPO_PATH
    assert listing.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert listing.headers["x-github-api-version"] == "2022-11-28"


def test_missing_failed_and_never_delivered_are_redelivered(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session
) -> None:
    """Given a 2xx delivery absent from the ledger, one that never got a 2xx, one dead-lettered by the consumer, one
    still being retried, one too recent to judge, and one whose redelivery succeeded and was processed
    When the hook is reconciled
    Then the first three are redelivered (their latest attempt), the others left alone."""
    github.add(REPO_PATH, "lost", delivered_at=ago(hours=2))
    github.add(REPO_PATH, "down", delivered_at=ago(hours=3), status_code=502)
    never_again = github.add(REPO_PATH, "down", delivered_at=ago(hours=1), status_code=0, redelivery=True)
    github.add(REPO_PATH, "dead", delivered_at=ago(hours=4))
    github.add(REPO_PATH, "retrying", delivered_at=ago(hours=4))
    github.add(REPO_PATH, "fresh", delivered_at=ago(seconds=20))
    github.add(REPO_PATH, "healed", delivered_at=ago(hours=5), status_code=500)
    github.add(REPO_PATH, "healed", delivered_at=ago(hours=4), status_code=200, redelivery=True)
    put_ledger(
        session.resource("dynamodb"),
        gateway.table,
        ledger_item("github", f"{HOOK}:dead", status="failed", dead_lettered_at="2026-01-01T00:00:00.000Z"),
        ledger_item("github", f"{HOOK}:retrying", status="failed", next_attempt_at="2099-01-01T00:00:00.000Z"),
        ledger_item("github", f"{HOOK}:healed"),
    )

    report = run(github, gateway, session)

    states = {item.delivery_id.split(":", 1)[1]: item.state for item in report.items}
    assert states == {
        "lost": MISSING,
        "down": NEVER_DELIVERED,
        "dead": FAILED,
        "retrying": IN_PROGRESS,
        "fresh": RECENT,
        "healed": IN_LEDGER,
    }
    actions = {item.delivery_id.split(":", 1)[1]: item.action for item in report.items if item.action}
    assert actions == {"lost": RECOVERED, "down": RECOVERED, "dead": RECOVERED}
    redelivered = sorted(r.path for r in github.redeliveries())
    assert f"{REPO_PATH}/{never_again['id']}/attempts" in redelivered  # the latest attempt of a GUID
    assert len(redelivered) == 3


def test_dry_run_lists_and_redelivers_nothing(github: FakeGitHub, gateway: Gateway, session: boto3.Session) -> None:
    """Given a delivery that never got a 2xx
    When the hook is reconciled with dry_run
    Then it is listed as would_recover and GitHub receives no POST."""
    github.add(REPO_PATH, "down", delivered_at=ago(hours=3), status_code=503)

    report = run(github, gateway, session, dry_run=True)

    assert [item.action for item in report.items] == [WOULD_RECOVER]
    assert github.redeliveries() == []


def test_pages_are_followed_through_the_link_header(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session
) -> None:
    """Given 230 deliveries within the window and 5 older ones
    When the hook is reconciled
    Then three pages of at most 100 are read by their Link cursors, and listing stops at the window's start."""
    for number in range(230):
        github.add(REPO_PATH, f"g{number:03d}", delivered_at=ago(hours=1, seconds=number))
    for number in range(5):
        github.add(REPO_PATH, f"old{number}", delivered_at=ago(days=2, seconds=number))

    report = run(github, gateway, session, dry_run=True)

    assert report.counts()["found"] == 230
    pages = [r for r in github.requests if r.method == "GET"]
    assert len(pages) == 3
    assert pages[0].query == {"per_page": ["100"]}
    assert [p.query["cursor"][0].startswith("v1_") for p in pages[1:]] == [True, True]


def test_a_primary_rate_limit_waits_until_the_reset(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session
) -> None:
    """Given GitHub answers 403 with X-RateLimit-Remaining 0 and a reset 42 s away, then 429 with Retry-After 7
    When the hook is reconciled
    Then the run sleeps until the reset, then 7 s, and completes (no wall time spent)."""
    github.add(REPO_PATH, "ok", delivered_at=ago(hours=1))
    sleeps = Sleeps()
    client = GitHubApi(GITHUB_TOKEN, base_url=github.url, clock=sleeps.clock, sleep=sleeps.sleep)
    github.fail_next.extend([rate_limited_primary(int(sleeps.now) + 42), rate_limited_secondary(7)])

    report = run(github, gateway, session, client=client, now=datetime.now(UTC))

    assert report.counts()["found"] == 1
    assert sleeps.asked == [pytest.approx(42, abs=1), 7.0]
    assert client.waits == sleeps.asked


def test_a_403_that_is_no_rate_limit_fails_at_once(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session
) -> None:
    """Given GitHub answers 403 without rate-limit headers (a token without admin:repo_hook)
    When the hook is reconciled
    Then it fails with GitHub's message and nothing is retried or slept."""
    sleeps = Sleeps()
    client = GitHubApi(GITHUB_TOKEN, base_url=github.url, clock=sleeps.clock, sleep=sleeps.sleep)
    github.fail_next.append(github._error(403, "Resource not accessible by personal access token"))

    with pytest.raises(GitHubError, match="403: Resource not accessible"):
        run(github, gateway, session, client=client)
    assert sleeps.asked == []


def test_redeliveries_are_paced(github: FakeGitHub, gateway: Gateway, session: boto3.Session) -> None:
    """Given four deliveries to redeliver and a pace of 60 a minute
    When the hook is reconciled
    Then the pacer asks for a one-second wait between redeliveries."""
    for number in range(4):
        github.add(REPO_PATH, f"down{number}", delivered_at=ago(hours=1, seconds=number), status_code=500)
    sleeps = Sleeps()

    run(github, gateway, session, pacer=Pacer(60, clock=sleeps.clock, sleep=sleeps.sleep))

    assert len(github.redeliveries()) == 4
    assert sleeps.asked == [1.0, 1.0, 1.0]


def test_the_window_is_githubs_three_days(github: FakeGitHub, gateway: Gateway, session: boto3.Session) -> None:
    """Given --since four days back
    When the hook is reconciled
    Then it is refused (GitHub redelivers only the last 3 days), before any call."""
    with pytest.raises(WindowError, match="3 days"):
        reconcile_github(
            api(github),
            TARGET,
            table=gateway.table,
            since=datetime.now(UTC) - timedelta(days=4),
            dynamodb=session.client("dynamodb"),
        )
    assert github.requests == []


def test_org_and_app_hooks_use_their_paths(github: FakeGitHub, gateway: Gateway, session: boto3.Session) -> None:
    """Given an organisation's hook and the App's hook
    When each is reconciled
    Then the documented paths are listed, and the ledger key keeps the given hook id."""
    github.add(f"/orgs/octo-org/hooks/{HOOK}/deliveries", "org-guid", delivered_at=ago(hours=1), status_code=500)
    github.add("/app/hook/deliveries", "app-guid", delivered_at=ago(hours=1), status_code=500)
    dynamodb = session.client("dynamodb")
    since = datetime.now(UTC) - timedelta(hours=2)
    pacer = Pacer(1e6, sleep=lambda _: None)

    common: dict[str, Any] = {"table": gateway.table, "since": since, "dynamodb": dynamodb, "pacer": pacer}
    org = reconcile_github(api(github), HookTarget("org", HOOK, "octo-org"), **common)
    app = reconcile_github(api(github), HookTarget("app", "77"), **common)

    assert [item.delivery_id for item in org.items] == [f"{HOOK}:org-guid"]
    assert [item.delivery_id for item in app.items] == ["77:app-guid"]
    assert sorted(r.path.rsplit("/", 2)[0] for r in github.redeliveries()) == [
        "/app/hook/deliveries",
        f"/orgs/octo-org/hooks/{HOOK}/deliveries",
    ]


def test_the_cli_prints_the_report_as_json_without_the_token(
    github: FakeGitHub, gateway: Gateway, hookctl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a delivery that never got a 2xx and GITHUB_TOKEN in the environment
    When `hookctl backfill github --repo ... --hook-id ... --json` runs
    Then the JSON report says it was recovered, GitHub got the redelivery, and the token is printed nowhere."""
    github.add(REPO_PATH, "down", delivered_at=ago(hours=3), status_code=502)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)

    result = hookctl(
        "backfill", "github", "--repo", "octocat/demo", "--hook-id", HOOK, "--since", "1d",
        "--github-api-url", github.url, "--table", gateway.table, "--json",
    )  # fmt: skip

    assert result.code == 0, result.err
    document = result.json()
    assert document["counts"]["never_delivered"] == 1
    assert document["counts"]["recovered"] == 1
    assert document["items"][0]["delivery_id"] == f"{HOOK}:down"
    assert len(github.redeliveries()) == 1
    assert GITHUB_TOKEN not in result.out + result.err
    # And the table output has the same counts
    table = hookctl(
        "backfill", "github", "--repo", "octocat/demo", "--hook-id", HOOK, "--since", "1d",
        "--github-api-url", github.url, "--table", gateway.table, "--dry-run",
    )  # fmt: skip
    assert table.code == 0, table.err
    assert "found at the provider:" in table.out


def test_the_cli_without_a_token_is_a_usage_error(
    gateway: Gateway, hookctl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given no GITHUB_TOKEN
    When `hookctl backfill github` runs
    Then it exits 2 naming the variable."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result = hookctl("backfill", "github", "--repo", "o/r", "--hook-id", HOOK, "--table", gateway.table)
    assert result.code == 2
    assert "GITHUB_TOKEN" in result.err


def test_a_rate_limit_longer_than_the_run_may_wait_stops_the_redeliveries(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session
) -> None:
    """Given three deliveries to redeliver and GitHub answering the first redelivery 403 with a reset an hour away
    When the hook is reconciled (the run waits at most 15 minutes)
    Then nothing is slept, the first is an error naming the rate limit and the other two are not attempted."""
    for number in range(3):
        github.add(REPO_PATH, f"down{number}", delivered_at=ago(hours=1, seconds=number), status_code=500)
    sleeps = Sleeps()
    client = GitHubApi(GITHUB_TOKEN, base_url=github.url, clock=sleeps.clock, sleep=sleeps.sleep)
    github.fail_next.extend([None, rate_limited_primary(int(sleeps.now) + 3600)])

    report = run(github, gateway, session, client=client)

    assert sleeps.asked == []
    assert [item.action for item in report.items] == ["error"] * 3
    assert "rate limited" in report.items[0].detail
    assert [item.detail.startswith("not attempted") for item in report.items] == [False, True, True]
    assert github.redeliveries() == [r for r in github.requests if r.method == "POST"][:1]


def test_the_token_can_come_from_secrets_manager(
    github: FakeGitHub, gateway: Gateway, session: boto3.Session, hookctl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the token in a Secrets Manager secret and none in the environment
    When `hookctl backfill github --token-secret NAME` runs
    Then GitHub receives that token."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    session.client("secretsmanager").create_secret(Name="backfill/github-token", SecretString=GITHUB_TOKEN)
    github.add(REPO_PATH, "ok", delivered_at=ago(hours=1))

    result = hookctl(
        "backfill", "github", "--repo", "octocat/demo", "--hook-id", HOOK, "--since", "1d", "--json",
        "--github-api-url", github.url, "--table", gateway.table, "--token-secret", "backfill/github-token",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert github.requests[0].headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
