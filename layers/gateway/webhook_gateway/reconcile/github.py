"""GitHub: list a hook's deliveries, compare them with the ledger, ask GitHub to redeliver what we never processed.

GitHub retries nothing: a delivery our endpoint did not answer with a 2xx is lost unless someone redelivers it, which
GitHub allows for 3 days. The REST endpoints (``X-GitHub-Api-Version: 2022-11-28``):

* list: ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries``, ``GET /orgs/{org}/hooks/{hook_id}/deliveries`` or
  ``GET /app/hook/deliveries`` (a GitHub App's hook: needs the App's JWT, not a token), ``per_page`` at most 100,
  newest first, the next page's URL in the ``Link`` header (``rel="next"``, a ``cursor`` parameter);
* redeliver: ``POST .../deliveries/{delivery_id}/attempts`` (the attempt's numeric ``id``), answered 202.

Each attempt lists ``id``, ``guid`` (``X-GitHub-Delivery``, shared by a delivery and its redeliveries),
``delivered_at``, ``redelivery``, ``status_code`` (0 when no response came), ``event`` and ``action``. The attempts
are grouped by GUID; the ledger key is ``<hook id>:<guid>`` (``verifiers/github.py``). A redelivery goes through the
normal, verified path (GitHub signs it with the hook's secret) and keeps its GUID, so the consumer's conditional claim
processes it once.

Rate limits: a 403 or 429 with ``Retry-After`` waits that long; one with ``X-RateLimit-Remaining: 0`` waits until
``X-RateLimit-Reset`` (epoch seconds); any other 429, or a 403 whose message names a rate limit, waits a minute
(GitHub's guidance). A wait longer than ``max_wait`` stops the run (:class:`RateLimited`). Redeliveries are paced
(:class:`~webhook_gateway.reconcile.Pacer`, 180 a minute by default). HTTP is the standard library's (urllib).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from webhook_gateway.reconcile import (
    DEFAULT_SETTLE,
    IN_LEDGER,
    MISSING,
    NEVER_DELIVERED,
    RECENT,
    Item,
    Pacer,
    RecoveryError,
    Report,
    iso,
    ledger_items,
    ledger_state,
    recover,
    window_start,
)

API_BASE = "https://api.github.com"
API_VERSION = "2022-11-28"
# GitHub lets a delivery be redelivered for 3 days.
REDELIVERY_WINDOW = timedelta(days=3)
DEFAULT_REDELIVERIES_PER_MINUTE = 180.0
PER_PAGE = 100
# GitHub's advice when a rate-limited answer names no time: wait at least a minute.
DEFAULT_RATE_LIMIT_WAIT = 60.0
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class GitHubError(RecoveryError):
    """GitHub answered an error: its status and ``message`` (the error body's), never the request's token."""

    def __init__(self, status: int, message: str, documentation_url: str = "") -> None:
        super().__init__(f"GitHub answered {status}: {message}" if message else f"GitHub answered {status}")
        self.status = status
        self.message = message
        self.documentation_url = documentation_url


class RateLimited(GitHubError):
    """Rate limited for longer than the run may wait: the rest of the run is not attempted either."""

    stops_run = True


@dataclass(frozen=True)
class HookTarget:
    """Whose hook: a repository's (``OWNER/REPO``), an organisation's, or the GitHub App's (its JWT)."""

    kind: Literal["repo", "org", "app"]
    hook_id: str
    name: str = ""

    def __post_init__(self) -> None:
        if not self.hook_id.isdigit():
            raise ValueError(f"the hook id is a number, got {self.hook_id!r}")
        if self.kind == "repo" and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"--repo is OWNER/REPO, got {self.name!r}")
        if self.kind == "org" and not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"--org is an organisation's login, got {self.name!r}")

    @property
    def deliveries_path(self) -> str:
        if self.kind == "repo":
            owner, repo = self.name.split("/", 1)
            return f"/repos/{quote(owner)}/{quote(repo)}/hooks/{self.hook_id}/deliveries"
        if self.kind == "org":
            return f"/orgs/{quote(self.name)}/hooks/{self.hook_id}/deliveries"
        return "/app/hook/deliveries"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} hook {self.hook_id}".replace("  ", " ")

    def ledger_id(self, guid: str) -> str:
        return f"{self.hook_id}:{guid}"


def rate_limit_wait(status: int, headers: Any, message: str, now: float) -> float | None:
    """Seconds to wait before retrying an answer of GitHub's, or None when it is not a rate limit."""
    if status not in (403, 429):
        return None
    retry_after = (headers.get("Retry-After") or "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    remaining = (headers.get("X-RateLimit-Remaining") or "").strip()
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    if remaining == "0" and reset.isdigit():
        return max(1.0, int(reset) - now)
    if status == 429 or "rate limit" in message.lower():
        return DEFAULT_RATE_LIMIT_WAIT
    return None


def next_link(header: str | None) -> str | None:
    match = _NEXT_LINK.search(header or "")
    return match.group(1) if match else None


@dataclass
class GitHubApi:
    """The two calls the reconciler makes. ``token`` is a token (``Bearer``) or, for ``--app``, the App's JWT."""

    token: str = field(repr=False)
    base_url: str = API_BASE
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    max_wait: float = 900.0
    max_rate_limited: int = 5
    timeout: float = 30.0
    user_agent: str = "webhook-gateway-reconciler"
    waits: list[float] = field(default_factory=list)  # every rate-limit wait requested (for reports and tests)

    def deliveries(self, target: HookTarget, since: datetime) -> Iterator[dict[str, Any]]:
        """Every attempt delivered at or after ``since``, newest first, page after page."""
        url: str | None = f"{self.base_url.rstrip('/')}{target.deliveries_path}?per_page={PER_PAGE}"
        while url:
            _, headers, page = self._request("GET", url)
            if not isinstance(page, list):
                raise GitHubError(200, "the deliveries list is not a JSON array")
            for attempt in page:
                if _parse_time(attempt.get("delivered_at")) < since:
                    return  # newest first: everything after this is older
                yield attempt
            url = next_link(headers.get("Link"))
            if url is not None and not self._same_origin(url):
                raise GitHubError(200, "the Link header points to another host; not following it with the token")

    def redeliver(self, target: HookTarget, attempt_id: int) -> None:
        url = f"{self.base_url.rstrip('/')}{target.deliveries_path}/{int(attempt_id)}/attempts"
        status, _, _ = self._request("POST", url)
        if status != 202:
            raise GitHubError(status, "expected 202 Accepted")

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def _request(self, method: str, url: str) -> tuple[int, Any, Any]:
        limited = 0
        while True:
            request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
            request.add_header("Accept", "application/vnd.github+json")
            request.add_header("Authorization", f"Bearer {self.token}")
            request.add_header("X-GitHub-Api-Version", API_VERSION)
            request.add_header("User-Agent", self.user_agent)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (https/http URL)
                    raw = response.read()
                    return response.status, response.headers, json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as error:
                status, headers, message, docs = error.code, error.headers, *_error_body(error)
            except (urllib.error.URLError, TimeoutError, ValueError) as error:
                raise RecoveryError(f"GitHub unreachable or unreadable: {type(error).__name__}") from None
            wait = rate_limit_wait(status, headers, message, self.clock())
            if wait is None:
                raise GitHubError(status, message, docs)
            limited += 1
            if wait > self.max_wait or limited > self.max_rate_limited:
                raise RateLimited(status, f"rate limited ({message or 'no message'}); retry after {wait:.0f} s", docs)
            self.waits.append(wait)
            self.sleep(wait)


def _error_body(error: urllib.error.HTTPError) -> tuple[str, str]:
    """GitHub's error body: ``{"message": ..., "documentation_url": ...}``."""
    try:
        document = json.loads(error.read() or b"{}")
    except ValueError:
        return "", ""
    if not isinstance(document, dict):
        return "", ""
    return " ".join(str(document.get("message") or "").split())[:200], str(document.get("documentation_url") or "")


def _parse_time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Guid:
    """A delivery and its redeliveries: the attempts GitHub lists under one GUID."""

    guid: str
    event: str
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def got_2xx(self) -> bool:
        return any(200 <= int(attempt.get("status_code") or 0) < 300 for attempt in self.attempts)

    @property
    def latest(self) -> dict[str, Any]:
        return max(self.attempts, key=lambda attempt: _parse_time(attempt.get("delivered_at")))


def group_by_guid(attempts: Iterator[dict[str, Any]]) -> list[Guid]:
    groups: dict[str, Guid] = {}
    for attempt in attempts:
        guid = str(attempt.get("guid") or "")
        if not guid:
            continue
        event = str(attempt.get("event") or "")
        if attempt.get("action"):
            event = f"{event}.{attempt['action']}"
        groups.setdefault(guid, Guid(guid, event)).attempts.append(attempt)
    return list(groups.values())


def reconcile_github(
    api: GitHubApi,
    target: HookTarget,
    *,
    table: str,
    since: datetime,
    dynamodb: Any,
    provider: str = "github",
    dry_run: bool = False,
    pacer: Pacer | None = None,
    settle: timedelta = DEFAULT_SETTLE,
    now: datetime | None = None,
) -> Report:
    """List ``target``'s deliveries since ``since`` (at most 3 days back), classify each GUID against the ledger and
    redeliver the missing, never-delivered and failed ones (paced; none with ``dry_run``)."""
    now = now or datetime.fromtimestamp(api.clock(), tz=UTC)
    since = window_start(since, now, REDELIVERY_WINDOW, "GitHub redelivers only the last 3 days")
    groups = group_by_guid(api.deliveries(target, since))
    ledger = ledger_items(table, provider, (target.ledger_id(g.guid) for g in groups), client=dynamodb)
    report = Report(provider=provider, target=target.label, since=iso(since), dry_run=dry_run)
    attempt_ids: dict[str, int] = {}
    for group in groups:
        delivery_id = target.ledger_id(group.guid)
        latest = group.latest
        occurred = _parse_time(latest.get("delivered_at"))
        state = ledger_state(ledger.get(delivery_id))
        if state is None:
            if not group.got_2xx:
                state = NEVER_DELIVERED
            elif now - occurred < settle:
                state = RECENT
            else:
                state = MISSING
        report.items.append(Item(delivery_id, group.event, iso(occurred), state))
        attempt_ids[delivery_id] = int(latest["id"])
    recover(
        report.items,
        lambda item: api.redeliver(target, attempt_ids[item.delivery_id]),
        dry_run=dry_run,
        pacer=pacer or Pacer(DEFAULT_REDELIVERIES_PER_MINUTE, sleep=api.sleep),
    )
    return report


__all__ = ["IN_LEDGER", "GitHubApi", "GitHubError", "HookTarget", "RateLimited", "reconcile_github"]
