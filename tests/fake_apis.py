"""Small fakes of the two provider APIs the reconciler calls, served on a free local port (one per test module).

Each follows the provider's documentation for what the reconciler uses, and nothing more:

* GitHub (REST, ``X-GitHub-Api-Version: 2022-11-28``): ``GET /repos/{owner}/{repo}/hooks/{id}/deliveries``,
  ``/orgs/{org}/hooks/{id}/deliveries`` and ``/app/hook/deliveries`` (``per_page`` default 30, max 100, newest first,
  ``cursor`` pagination with the next page in ``Link: <...>; rel="next"``), ``POST .../deliveries/{id}/attempts``
  (202 Accepted, 404 for an unknown delivery); ``X-RateLimit-*`` headers on every answer; errors as
  ``{"message": ..., "documentation_url": ...}``; a bad token is 401 ``Bad credentials``.
* Stripe: ``GET /v1/events`` (``created[gte]``, ``types[]``, ``limit`` 1..100 default 10, ``starting_after``; newest
  first; ``{"object": "list", "url": "/v1/events", "has_more": ..., "data": [...]}``), errors as
  ``{"error": {"type": ..., "message": ...}}``; a missing key is 401.

Tests script rate limits with ``fail_next`` (the answers to give before the real ones).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

GITHUB_DOCS = "https://docs.github.com/rest"
GITHUB_TOKEN = "ghp_fake_token_for_tests_only"
STRIPE_KEY = "rk_test_fake_key_for_tests_only"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class _Server:
    """A threading HTTP server on 127.0.0.1:<free port> whose handler calls ``self.handle``."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                owner._serve(self, "POST")

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.requests: list[Recorded] = []
        self.fail_next: list[Answer | None] = []  # None: answer that request normally
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(method, parts.path, query, headers))
            answer = self.fail_next.pop(0) if self.fail_next else None
        if answer is None:
            answer = self.handle(method, parts.path, query, headers)
        payload = json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        raise NotImplementedError


def github_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(_Server):
    """Hooks' deliveries, newest first. ``on_redeliver(attempt) -> status code`` sends the redelivery somewhere (a
    local gateway); without it a redelivery is answered 200."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, list[dict[str, Any]]] = {}  # deliveries path -> attempts, newest first
        self.on_redeliver: Callable[[dict[str, Any]], int] | None = None
        self._next_id = 1_000

    def reset(self) -> None:
        with self._lock:
            self.hooks.clear()
            self.requests.clear()
            self.fail_next.clear()
        self.on_redeliver = None

    def add(
        self,
        path: str,
        guid: str,
        *,
        delivered_at: float,
        status_code: int = 200,
        event: str = "push",
        action: str | None = None,
        redelivery: bool = False,
    ) -> dict[str, Any]:
        self._next_id += 1
        attempt = {
            "id": self._next_id,
            "guid": guid,
            "delivered_at": github_time(delivered_at),
            "redelivery": redelivery,
            "duration": 0.27,
            "status": "OK" if 200 <= status_code < 300 else ("failed to connect" if not status_code else "Invalid"),
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": None,
            "repository_id": 873201456,
            "throttled_at": None,
        }
        attempts = self.hooks.setdefault(path, [])
        attempts.append(attempt)
        attempts.sort(key=lambda item: (item["delivered_at"], item["id"]), reverse=True)
        return attempt

    def redeliveries(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/attempts")]

    @staticmethod
    def _limits() -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": "1999999999",
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }

    def _error(self, status: int, message: str) -> Answer:
        return Answer(status, {"message": message, "documentation_url": GITHUB_DOCS}, self._limits())

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        if headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return self._error(401, "Bad credentials")
        if method == "POST" and path.endswith("/attempts"):
            base, _, rest = path.rpartition("/deliveries/")
            attempt_id = rest.removesuffix("/attempts")
            original = next(
                (a for a in self.hooks.get(base + "/deliveries", []) if str(a["id"]) == attempt_id), None
            )
            if original is None:
                return self._error(404, "Not Found")
            status = self.on_redeliver(original) if self.on_redeliver else 200
            now = datetime.now(UTC).timestamp()
            self.add(
                base + "/deliveries",
                original["guid"],
                delivered_at=now,
                status_code=status,
                event=original["event"],
                action=original["action"],
                redelivery=True,
            )
            return Answer(202, {}, self._limits())
        if method == "GET" and path in self.hooks:
            per_page = min(100, int((query.get("per_page") or ["30"])[0]))
            attempts = self.hooks[path]
            start = 0
            cursor = (query.get("cursor") or [""])[0]
            if cursor:
                start = next((i for i, a in enumerate(attempts) if f"v1_{a['id']}" == cursor), len(attempts))
            page = attempts[start : start + per_page]
            answer_headers = self._limits()
            if start + per_page < len(attempts):
                following = attempts[start + per_page]
                link_query = urlencode({"per_page": per_page, "cursor": f"v1_{following['id']}"})
                answer_headers["Link"] = f'<{self.url}{path}?{link_query}>; rel="next"'
            return Answer(200, page, answer_headers)
        return self._error(404, "Not Found")


def rate_limited_primary(reset_at: int) -> Answer:
    """GitHub's primary rate limit: 403, ``X-RateLimit-Remaining: 0`` and the reset time."""
    return Answer(
        403,
        {
            "message": "API rate limit exceeded for user ID 583231.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        },
        {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at)},
    )


def rate_limited_secondary(retry_after: int) -> Answer:
    """GitHub's secondary rate limit: 429 with ``Retry-After``."""
    return Answer(
        429,
        {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        },
        {"Retry-After": str(retry_after)},
    )


def stripe_event(event_id: str, created: int, event_type: str = "payment_intent.succeeded") -> dict[str, Any]:
    resource_id = "pi_" + event_id.removeprefix("evt_")
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {"object": {"id": resource_id, "object": "payment_intent", "amount": 2000, "currency": "usd"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


class FakeStripe(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.requests.clear()
            self.fail_next.clear()

    def add(self, *events: dict[str, Any]) -> None:
        self.events.extend(events)
        self.events.sort(key=lambda event: event["created"], reverse=True)

    def listed(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/events"]

    @staticmethod
    def error(status: int, error_type: str, message: str, code: str | None = None) -> Answer:
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code:
            error["code"] = code
        return Answer(status, {"error": error}, {"Request-Id": "req_fake"})

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        if headers.get("authorization") != f"Bearer {STRIPE_KEY}":
            return self.error(401, "invalid_request_error", "Invalid API Key provided.")
        if method != "GET" or path != "/v1/events":
            return self.error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
        limit = int((query.get("limit") or ["10"])[0])
        if not 1 <= limit <= 100:
            return self.error(400, "invalid_request_error", "Invalid integer: limit")
        gte = int((query.get("created[gte]") or ["0"])[0])
        types = [value for name, values in query.items() if name.startswith("types[") for value in values]
        selected: Iterator[dict[str, Any]] = (
            event for event in self.events if event["created"] >= gte and (not types or event["type"] in types)
        )
        matching = list(selected)
        after = (query.get("starting_after") or [""])[0]
        if after:
            ids = [event["id"] for event in matching]
            if after not in ids:
                return self.error(400, "invalid_request_error", f"No such event: '{after}'")
            matching = matching[ids.index(after) + 1 :]
        return Answer(
            200,
            {"object": "list", "url": "/v1/events", "has_more": len(matching) > limit, "data": matching[:limit]},
            {"Request-Id": "req_fake"},
        )


def stripe_rate_limited() -> Answer:
    return FakeStripe.error(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )
