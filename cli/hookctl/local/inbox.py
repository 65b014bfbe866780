"""The local web inbox of ``hookctl dev``: ``http://127.0.0.1:<port>/_inbox`` on the HTTP API's own server.

What it shows comes from two places, never from a re-implementation of the functions:

* the :class:`~hookctl.local.console.Tracker`'s observations, kept in :class:`InboxRing`, a bounded in-memory ring of
  the recent deliveries of this run: each request as received (headers, raw body), its answer and verification
  result (the receiver's ``delivery accepted``/``delivery rejected`` line: reason code, secret version), the consumer's
  outcomes (processed, duplicate, skipped, failed, dead-lettered, replays) and the functions' log lines of that
  delivery (by Lambda request id for the receiver, by delivery id for the consumer);
* the local stack, through the CLI's own functions: the ledger listing and entry (``hookctl.deliveries``), the
  archive (``webhook_gateway.consumer.archive``), replays (``hookctl.replay.replay_delivery``) and signed samples
  (``hookctl.send``: ``plan`` and ``Sender``).

:class:`InboxApi` answers ``/_inbox`` (the page), ``/_inbox/static/<file>`` (package data, ``inbox_static/``) and the
JSON API under ``/_inbox/api/``: ``deliveries`` (list, filters ``provider``, ``status``, ``type``, ``q``),
``delivery`` (detail: ``provider`` + ``id``, or ``request`` for a rejected request), ``providers`` (what the send form
offers), ``stream`` (server-sent events; ``version`` in every answer is the polling fallback), and ``POST replay`` /
``POST send``.

Security (a developer's laptop runs other sites in its browser): every request must come from a loopback peer, carry a
loopback ``Host`` (a DNS-rebinding page sends its own name) and no proxy headers (a tunnel such as ngrok forwards to
127.0.0.1 but adds ``X-Forwarded-For`` and keeps its public host); a POST also needs ``X-Inbox: 1`` and a JSON body,
which a cross-site form or ``fetch`` cannot send without a CORS preflight, and the inbox answers no preflight and sends
no CORS headers. The page runs under a strict Content-Security-Policy and puts payload text into the page as text
only (``textContent``): a delivery's body is whatever the sender wrote. ``hookctl dev`` mounts it only when the API
listens on a loopback address (``--inbox-on-any-host`` to override, ``--no-inbox`` to turn it off); the deployed stack
has no such route (``tests/contract/test_inbox_contract.py``).
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import shlex
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/_inbox"
STATIC_PACKAGE = "hookctl.local"
STATIC_DIR = "inbox_static"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
MAX_ENTRIES = 500  # deliveries and rejected requests kept in memory
MAX_EVENTS = 50  # timeline events per entry
MAX_LOGS = 100  # log lines per entry
MAX_BODY_BYTES = 1024 * 1024  # of a request body kept for the detail view and "copy as curl"
STREAM_KEEPALIVE_SECONDS = 15.0
LIST_LIMIT = 200
# Headers a client or the gateway adds, left out of "copy as curl" (curl sets its own)
TRANSPORT_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "expect"}
FORWARDING_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
CSRF_HEADER = "x-inbox"
VARIANTS = ("valid", "duplicate", "forged")
# Entry statuses: where a delivery is now (the latest thing that happened to it)
STATUSES = (
    "received",
    "processed",
    "duplicate",
    "skipped",
    "failed",
    "dead-lettered",
    "rejected",
    "not queued",
    "error",
)


def is_loopback_host(host: str) -> bool:
    """A bind address (or host name) that only this machine reaches."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def iso(epoch: float) -> str:
    """Epoch seconds as the ledger writes times (so both sort together): ``deliveries.ledger_time``."""
    from hookctl.deliveries import ledger_time

    return ledger_time(datetime.fromtimestamp(epoch, UTC))


# -- what the Tracker saw ------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One delivery (``provider/delivery_id``) or one request without a delivery (``request/<id>``: rejected)."""

    key: str
    provider: str
    delivery_id: str
    event_type: str = ""
    status: str = "received"
    detail: str = ""
    first_at: float = 0.0
    last_at: float = 0.0
    request: dict[str, Any] | None = None
    verification: dict[str, Any] = field(default_factory=dict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    logs: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_LOGS))

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "provider": self.provider,
            "delivery_id": self.delivery_id,
            "event_type": self.event_type,
            "status": self.status,
            "detail": self.detail,
            "at": iso(self.last_at),
            "first_at": iso(self.first_at),
            "http_status": (self.request or {}).get("status"),
            "reason": self.verification.get("reason"),
            "seen": True,
        }


class InboxRing:
    """The Tracker's observations, per delivery, bounded (the oldest entry goes first); ``version`` counts changes
    and :meth:`wait` blocks until the next one (server-sent events)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.version = 0
        self.closed = False
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._logs_by_invocation: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._changed = threading.Condition()

    # The Tracker calls this (Tracker.observers)
    def __call__(self, kind: str, facts: dict[str, Any]) -> None:
        if kind == "log":
            self._log(facts["function"], facts["record"])
        elif kind == "exchange":
            self._exchange(facts)
        elif kind == "outcome":
            self._outcome(facts)

    def entries(self) -> list[Entry]:
        """The entries, newest first (live objects: read their lists through :meth:`get`)."""
        with self._changed:
            return list(reversed(self._entries.values()))

    def summaries(self) -> list[dict[str, Any]]:
        with self._changed:
            return [entry.summary() for entry in reversed(self._entries.values())]

    def get(self, key: str) -> Entry | None:
        """A copy of one entry, taken under the lock (the tracker's threads keep appending to the live one)."""
        with self._changed:
            entry = self._entries.get(key)
            if entry is None:
                return None
            return dataclasses.replace(
                entry,
                verification=dict(entry.verification),
                events=deque(entry.events, maxlen=MAX_EVENTS),
                logs=deque(entry.logs, maxlen=MAX_LOGS),
            )

    def newest_request(self, provider: str, since: float, timeout: float = 1.0) -> str | None:
        """The key of the newest request entry (no delivery id: rejected) of ``provider`` seen since ``since``; the
        gateway reports an exchange just after answering it, so this waits for it up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for entry in reversed(self._entries.values()):
                    if entry.provider == provider and entry.key.startswith("request/") and entry.first_at >= since:
                        return entry.key
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    return None

    def wait(self, version: int, timeout: float) -> int:
        """The version once it is past ``version`` (or ``timeout`` passed, or the ring closed)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version or self.closed, timeout)
            return self.version

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    # -- observations ----------------------------------------------------------------------------------------------

    def _entry(self, key: str, provider: str, delivery_id: str) -> Entry:
        entry = self._entries.get(key)
        now = self.clock()
        if entry is None:
            entry = self._entries[key] = Entry(key, provider, delivery_id, first_at=now)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        entry.last_at = now
        return entry

    def _changed_now(self) -> None:
        self.version += 1
        self._changed.notify_all()

    def _log(self, function: str, record: dict[str, Any]) -> None:
        line = {"function": function, **record}
        with self._changed:
            provider = str(record.get("provider") or "")
            delivery_id = str(record.get("delivery_id") or record.get("correlation_id") or "")
            key = f"{provider}/{delivery_id}"
            if provider and delivery_id and key in self._entries and "message_id" in record:  # the consumer's
                self._entries[key].logs.append(line)
                self._changed_now()
                return
            invocation = str(record.get("function_request_id") or "")
            if invocation:  # the receiver's: attached when its exchange arrives
                self._logs_by_invocation.setdefault(invocation, []).append(line)
                while len(self._logs_by_invocation) > self.max_entries:
                    self._logs_by_invocation.popitem(last=False)

    def _exchange(self, facts: dict[str, Any]) -> None:
        exchange = facts["exchange"]
        if exchange.function is None:  # no route: not a delivery
            return
        found = facts.get("facts") or {}
        message = str(found.get("message") or "")
        headers = exchange.request_headers or []
        body = exchange.request_body or b""
        request = {
            "method": exchange.method,
            "path": exchange.path,
            "query": exchange.query,
            "headers": [[name, value] for name, value in headers],
            "body": body[:MAX_BODY_BYTES],
            "body_truncated": len(body) > MAX_BODY_BYTES,
            "size": len(body),
            "status": exchange.status,
            "response": exchange.response_body[:4096].decode("utf-8", "replace"),
            "request_id": exchange.request_id,
            "source_ip": exchange.source_ip,
            "duration_ms": round(exchange.duration_ms, 1),
            "function": exchange.function,
        }
        verification: dict[str, Any] = {"status": exchange.status}
        if message == "delivery accepted":
            verification.update(result="verified", secret_version=found.get("secret_version"))
        elif message == "delivery rejected":
            verification.update(result="rejected", reason=found.get("reason"), detail=found.get("detail"))
        elif exchange.error is not None:
            verification.update(result="error", detail=f"{exchange.error.get('errorType')}")
        else:
            verification.update(result="not queued" if message else "answered", detail=found.get("error"))
        provider = str(facts.get("provider") or "")
        with self._changed:
            logs = self._logs_by_invocation.pop(exchange.invocation_id, []) if exchange.invocation_id else []
            accepted = facts.get("accepted") or ([found] if message == "delivery accepted" else [])
            delivery_ids = [str(e.get("delivery_id") or e.get("correlation_id") or "") for e in accepted]
            if not delivery_ids and found.get("delivery_id"):
                delivery_ids = [str(found["delivery_id"])]
            if not delivery_ids:
                delivery_ids = [""]
            for index, delivery_id in enumerate(delivery_ids):
                key = f"{provider}/{delivery_id}" if delivery_id else f"request/{exchange.request_id}"
                entry = self._entry(key, provider, delivery_id)
                part = accepted[index] if index < len(accepted) else found
                entry.event_type = str(part.get("event_type") or entry.event_type)
                entry.request = request
                entry.verification = verification
                status, detail = _exchange_status(message, exchange.status, verification)
                already_done = entry.status not in ("received", "rejected", "not queued", "error")
                if not (already_done and status == "received"):  # a provider's retry of a processed delivery
                    entry.status, entry.detail = status, detail
                # the event's title already names the status: the detail says the rest
                rest = detail.removeprefix(f"HTTP {exchange.status}").removeprefix(str(exchange.status)).lstrip(", ")
                entry.events.append(
                    {"at": iso(self.clock()), "what": f"HTTP {exchange.status}", "detail": rest, "source": "gateway"}
                )
                entry.logs.extend(logs)
            self._changed_now()

    def _outcome(self, facts: dict[str, Any]) -> None:
        provider, delivery_id = str(facts["provider"]), str(facts["delivery_id"])
        if not delivery_id:
            return
        replay = facts.get("replay")
        with self._changed:
            entry = self._entry(f"{provider}/{delivery_id}", provider, delivery_id)
            entry.event_type = str(facts.get("event_type") or entry.event_type)
            outcome, detail = str(facts["outcome"]), str(facts.get("detail") or "")
            if not (outcome == "duplicate" and entry.status == "processed"):  # a second copy: still processed once
                entry.status, entry.detail = outcome, detail
            what = f"{outcome} (replay {str(replay.get('id', ''))[:8]})" if replay else outcome
            entry.events.append(
                {
                    "at": iso(self.clock()),
                    "what": what,
                    "detail": detail,
                    "source": "consumer",
                    "receive": facts.get("receives"),
                    "replay_id": (replay or {}).get("id"),
                }
            )
            self._changed_now()


def _exchange_status(message: str, status: int, verification: Mapping[str, Any]) -> tuple[str, str]:
    if message == "delivery accepted":
        return "received", f"{status}, verified with the {verification.get('secret_version')} secret: queued"
    if message == "delivery rejected":
        return "rejected", f"{status} {verification.get('reason')}"
    if verification.get("result") == "error":
        return "error", f"{status} the receiver failed ({verification.get('detail')})"
    if message:
        return "not queued", f"{status} not queued: the provider retries"
    return "received" if status < 300 else "error", f"HTTP {status}"


# -- the local stack -----------------------------------------------------------------------------------------------


@dataclass
class Instance:
    """A provider instance with a receiver in the stack: its name (route, ledger), its kind (verifier) and path."""

    name: str
    kind: str
    path: str
    method: str = "POST"


@dataclass
class InboxBackend:
    """The local stack as the inbox reads and drives it."""

    table: str
    queue_url: str
    dlq_url: str
    client: Callable[[str], Any]  # boto3 client by service name (the endpoint's clean port)
    api_url: Callable[[], str]  # where requests go (the HTTP API)
    instances: dict[str, Instance]
    secret_for: Callable[[Instance], str]
    public_url: str | None = None  # what the functions are shown (Twilio signs it)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any) -> Answer:
        return cls(status, json.dumps(document, default=str, ensure_ascii=False).encode("utf-8"))


class InboxApi:
    """The inbox's pages and JSON API; :meth:`respond` is one request (no socket), :meth:`serve` is HttpApi's mount."""

    def __init__(
        self, ring: InboxRing, backend: InboxBackend | None, *, port: Callable[[], int], any_host: bool = False
    ) -> None:
        self.ring = ring
        self.backend = backend
        self.port = port
        # --inbox-on-any-host: any peer, and a Host that is an IP address (a DNS-rebinding page always has a name)
        self.any_host = any_host

    # -- transport -----------------------------------------------------------------------------------------------

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        """HttpApi's handler for ``/_inbox``: read the request, answer it (or stream events)."""
        length = int(request.headers.get("content-length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            request.close_connection = True
            self._write(request, Answer.json(413, {"message": "too large"}))
            return
        body = request.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in request.headers.items()}
        target = request.path
        refused = self.refusal(request.command, headers, request.client_address[0])
        if refused is None and urlsplit(target).path == f"{PREFIX}/api/stream" and request.command == "GET":
            self._stream(request)
            return
        answer = refused or self.respond(request.command, target, headers, body)
        self._write(request, answer)

    @staticmethod
    def _write(request: BaseHTTPRequestHandler, answer: Answer) -> None:
        try:
            request.send_response(answer.status)
            request.send_header("content-type", answer.content_type)
            for name, value in {**SECURITY_HEADERS, **answer.headers}.items():
                request.send_header(name, value)
            request.send_header("content-length", str(len(answer.body)))
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(answer.body)
        except OSError:
            request.close_connection = True

    def _stream(self, request: BaseHTTPRequestHandler) -> None:
        """Server-sent events: ``change`` with the ring's version whenever it changes, a comment every 15 s."""
        request.close_connection = True
        try:
            request.send_response(200)
            request.send_header("content-type", "text/event-stream")
            request.send_header("cache-control", "no-store")
            request.send_header("connection", "close")
            request.end_headers()
            for chunk in self.events():
                request.wfile.write(chunk)
                request.wfile.flush()
        except OSError:  # the page went away
            pass

    def events(self, keepalive: float = STREAM_KEEPALIVE_SECONDS) -> Iterator[bytes]:
        version = self.ring.version
        yield f"retry: 2000\nevent: change\ndata: {json.dumps({'version': version})}\n\n".encode()
        while not self.ring.closed:
            current = self.ring.wait(version, keepalive)
            if self.ring.closed:
                return
            if current == version:
                yield b": keepalive\n\n"
                continue
            version = current
            yield f"event: change\ndata: {json.dumps({'version': version})}\n\n".encode()

    # -- the guards ----------------------------------------------------------------------------------------------

    def refusal(self, method: str, headers: Mapping[str, str], peer: str) -> Answer | None:
        """Why this request must not be answered (403), or None: see the module's doc."""
        if not self.any_host and not is_loopback_host(peer):
            return _forbidden("the inbox answers only this machine (a loopback peer)")
        if any(headers.get(name) for name in FORWARDING_HEADERS):
            return _forbidden("the inbox is not served through a proxy or tunnel: open it on 127.0.0.1")
        host = headers.get("host", "")
        hostname = urlsplit(f"//{host}").hostname or ""
        if not (hostname in LOOPBACK_NAMES or is_loopback_host(hostname) or (self.any_host and _is_ip(hostname))):
            return _forbidden(f"Host {host!r} is not a loopback address: open http://127.0.0.1:{self.port()}/_inbox")
        navigation = method in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"
        if headers.get("sec-fetch-site") == "cross-site" and not navigation:  # a link to the page is fine
            return _forbidden("cross-site requests are refused")
        if method in ("GET", "HEAD"):
            return None
        if method != "POST":
            return Answer.json(405, {"message": "GET or POST"})
        origin = headers.get("origin")
        if origin and (urlsplit(origin).hostname or "") != hostname:
            return _forbidden("cross-origin requests are refused")
        if headers.get(CSRF_HEADER) != "1":
            return _forbidden(f"a POST needs the header {CSRF_HEADER.title()}: 1 (what the page sends)")
        if not headers.get("content-type", "").lower().startswith("application/json"):
            return Answer.json(415, {"message": "a POST takes a JSON body"})
        return None

    # -- dispatch ------------------------------------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Answer:
        """One request, already past :meth:`refusal`."""
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if method in ("GET", "HEAD"):
            if path in (PREFIX, f"{PREFIX}/"):
                return self._static("index.html")
            if path.startswith(f"{PREFIX}/static/"):
                return self._static(path.removeprefix(f"{PREFIX}/static/"))
            getters: dict[str, Callable[[dict[str, str]], Answer]] = {
                "deliveries": self.list_deliveries,
                "delivery": self.delivery,
                "providers": self.providers,
            }
            getter = getters.get(path.removeprefix(f"{PREFIX}/api/"))
            if getter is not None and path.startswith(f"{PREFIX}/api/"):
                return getter(query)
        elif method == "POST":
            posts: dict[str, Callable[[dict[str, Any]], Answer]] = {"replay": self.replay, "send": self.send}
            poster = posts.get(path.removeprefix(f"{PREFIX}/api/"))
            if poster is not None and path.startswith(f"{PREFIX}/api/"):
                try:
                    document = json.loads(body or b"{}")
                except ValueError:
                    return Answer.json(400, {"message": "the body is not JSON"})
                if not isinstance(document, dict):
                    return Answer.json(400, {"message": "the body is a JSON object"})
                return poster(document)
        return Answer.json(404, {"message": "Not Found"})

    @staticmethod
    def _static(name: str) -> Answer:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
            return Answer.json(404, {"message": "Not Found"})
        file = resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR, name)
        if not file.is_file():
            return Answer.json(404, {"message": "Not Found"})
        return Answer(200, file.read_bytes(), STATIC_TYPES[suffix])

    # -- GET -------------------------------------------------------------------------------------------------------

    def list_deliveries(self, query: dict[str, str]) -> Answer:
        version = self.ring.version
        rows: dict[str, dict[str, Any]] = {row["key"]: row for row in self.ring.summaries()}
        note = None
        try:
            for item in self._ledger_items(query.get("provider") or None):
                key = f"{item.get('provider')}/{item.get('delivery_id')}"
                ledger = _ledger_summary(item)
                if key in rows:
                    rows[key]["ledger_status"] = ledger["ledger_status"]
                    rows[key]["replays"] = ledger["replays"]
                else:
                    rows[key] = ledger
        except Exception as error:  # noqa: BLE001 (the ring still answers when the ledger cannot be read)
            note = f"ledger not read: {type(error).__name__}: {error}"
        items = sorted(rows.values(), key=lambda row: row["at"], reverse=True)
        items = [row for row in items if _matches(row, query)]
        return Answer.json(200, {"version": version, "items": items[:LIST_LIMIT], "note": note})

    def _ledger_items(self, provider: str | None) -> list[dict[str, Any]]:
        if self.backend is None or not self.backend.table:
            return []
        from hookctl.deliveries import list_deliveries

        return list_deliveries(
            self.backend.table, provider=provider, limit=LIST_LIMIT, dynamodb=self.backend.client("dynamodb")
        )

    def delivery(self, query: dict[str, str]) -> Answer:
        if query.get("request"):
            entry = self.ring.get(f"request/{query['request']}")
            if entry is None:
                return Answer.json(404, {"message": "no such request (the inbox keeps the recent ones)"})
            return Answer.json(200, self._detail(entry, None, None, None))
        provider, delivery_id = query.get("provider", ""), query.get("id", "")
        if not provider or not delivery_id:
            return Answer.json(400, {"message": "provider and id, or request"})
        entry = self.ring.get(f"{provider}/{delivery_id}")
        item, archived, problem = self._stack_view(provider, delivery_id)
        if entry is None and item is None and archived is None:
            return Answer.json(404, {"message": problem or f"no delivery {provider}/{delivery_id}"})
        return Answer.json(200, self._detail(entry, item, archived, problem, provider, delivery_id))

    def _stack_view(self, provider: str, delivery_id: str) -> tuple[dict[str, Any] | None, Any, str | None]:
        """The ledger entry and the archive, each None when absent; a note when they could not be read."""
        if self.backend is None or not self.backend.table:
            return None, None, None
        from hookctl.deliveries import get_delivery
        from webhook_gateway.consumer.archive import ArchiveIntegrityError, load_archived

        backend = self.backend
        try:
            item = get_delivery(backend.table, provider, delivery_id, dynamodb=backend.client("dynamodb"))
        except Exception as error:  # noqa: BLE001
            return None, None, f"ledger not read: {type(error).__name__}"
        try:
            archived = load_archived(
                backend.table, provider, delivery_id, dynamodb=backend.client("dynamodb"), s3=backend.client("s3")
            )
        except ArchiveIntegrityError as error:
            return item, None, f"{error}: the archive was altered or damaged"
        except Exception as error:  # noqa: BLE001
            return item, None, f"archive not read: {type(error).__name__}"
        return item, archived, None

    def _detail(
        self,
        entry: Entry | None,
        item: dict[str, Any] | None,
        archived: Any,
        problem: str | None,
        provider: str = "",
        delivery_id: str = "",
    ) -> dict[str, Any]:
        from hookctl.deliveries import archive_summary

        summary = entry.summary() if entry else _ledger_summary(item or {"provider": provider, "delivery_id": ""})
        if item is not None:
            summary["ledger_status"] = item.get("status")
        request = self._request_view(entry, archived, provider)
        return {
            "version": self.ring.version,
            "summary": {**summary, "provider": summary["provider"] or provider, "delivery_id": delivery_id or ""},
            "verification": (entry.verification if entry else {})
            or ({"result": "verified", "secret_version": archived.metadata.get("secret_version")} if archived else {}),
            "request": request,
            "ledger": item,
            "archive": archive_summary(archived) if archived is not None else None,
            "timeline": timeline(entry, item),
            "logs": list(entry.logs) if entry else [],
            "curl": curl_command(request) if request else None,
            "note": problem,
        }

    def _request_view(self, entry: Entry | None, archived: Any, provider: str) -> dict[str, Any] | None:
        """The request for the detail view and curl: as received (the ring), else rebuilt from the archive (the
        forwarded headers and the exact body, to the instance's route)."""
        from hookctl.deliveries import header_value

        base = self.backend.api_url() if self.backend else f"http://127.0.0.1:{self.port()}"
        if entry is not None and entry.request is not None:
            request = entry.request
            headers = [(name, value) for name, value in request["headers"]]
            content_type = next((v for n, v in headers if n.lower() == "content-type"), None)
            url = f"{base}{request['path']}" + (f"?{request['query']}" if request["query"] else "")
            return {
                **{k: v for k, v in request.items() if k != "body"},
                "source": "received",
                "url": url,
                **_body_views(request["body"], content_type),
            }
        if archived is None:
            return None
        instance = self.backend.instances.get(provider) if self.backend else None
        path = instance.path if instance else f"/webhooks/{provider}"
        return {
            "source": "archive",
            "method": "POST",
            "path": path,
            "query": "",
            "url": f"{base}{path}",
            "headers": [[name, value] for name, value in archived.headers.items()],
            "size": len(archived.raw),
            "body_truncated": False,
            **_body_views(archived.raw, header_value(archived.headers, "content-type")),
        }

    def providers(self, query: dict[str, str]) -> Answer:
        from hookctl import samples

        instances = self.backend.instances if self.backend else {}
        offered = []
        for name, instance in sorted(instances.items()):
            try:
                kinds = list(samples.delivery_kinds_of(instance.kind))
            except ValueError:
                continue
            offered.append({"name": name, "kind": instance.kind, "kinds": kinds})
        return Answer.json(200, {"providers": offered, "variants": list(VARIANTS), "statuses": list(STATUSES)})

    # -- POST ------------------------------------------------------------------------------------------------------

    def replay(self, document: dict[str, Any]) -> Answer:
        """``hookctl replay PROVIDER ID --force`` (a processed delivery is what one replays from the inbox)."""
        from hookctl.replay import NotReplayed, ReplayTarget, replay_delivery

        provider, delivery_id = str(document.get("provider") or ""), str(document.get("delivery_id") or "")
        if not provider or not delivery_id:
            return Answer.json(400, {"message": "provider and delivery_id"})
        if self.backend is None or not (self.backend.table and self.backend.queue_url):
            return Answer.json(409, {"message": "this stack has no deliveries table or queue output to replay with"})
        backend = self.backend
        target = ReplayTarget(
            table=backend.table,
            queue_url=backend.queue_url,
            dynamodb=backend.client("dynamodb"),
            sqs=backend.client("sqs"),
            s3=backend.client("s3"),
            requested_by="hookctl dev inbox",
            force=True,
            dlq_url=lambda: backend.dlq_url,
        )
        try:
            report = replay_delivery(provider, delivery_id, target)
        except NotReplayed as outcome:
            return Answer.json(409, {"message": str(outcome), "result": outcome.result, "report": outcome.report})
        return Answer.json(200, {"message": f"replay {report['replay_id'][:8]} queued", "report": report})

    def send(self, document: dict[str, Any]) -> Answer:
        """``hookctl send`` of one sample: ``variant`` valid, duplicate (the same delivery twice) or forged."""
        from hookctl import samples
        from hookctl.send import Sender, plan

        if self.backend is None:
            return Answer.json(400, {"message": "no stack"})
        instance = self.backend.instances.get(str(document.get("provider") or ""))
        variant = str(document.get("variant") or "valid")
        if instance is None or variant not in VARIANTS:
            names = sorted(self.backend.instances)
            return Answer.json(400, {"message": f"provider one of {names}, variant one of {list(VARIANTS)}"})
        kinds = samples.delivery_kinds_of(instance.kind)
        kind = str(document.get("kind") or kinds[0])
        if kind not in kinds:
            return Answer.json(400, {"message": f"kind one of {list(kinds)}"})
        jobs = plan(instance.kind, kind, duplicate=2 if variant == "duplicate" else 1, tamper=variant == "forged")
        url = f"{self.backend.api_url()}{instance.path}"
        signed = {instance.kind: f"{self.backend.public_url}{instance.path}"} if self.backend.public_url else None
        sender = Sender({instance.kind: url}, {instance.kind: self.backend.secret_for(instance)}, signed_urls=signed)
        started = self.ring.clock()
        results = sender.send_all(jobs)
        sent = [
            {
                "status": result.status,
                "reason": result.reason,
                "error": result.error,
                "delivery_id": result.gateway_id,
                "forged": result.job.forged,
                "copy": result.job.copy,
            }
            for result in results
        ]
        first = results[0]
        key = f"{instance.name}/{first.gateway_id}" if first.gateway_id and not first.job.forged else None
        if key is None:  # rejected: the request this send made
            key = self.ring.newest_request(instance.name, since=started)
        return Answer.json(200, {"provider": instance.name, "kind": kind, "variant": variant, "sent": sent, "key": key})


def _forbidden(message: str) -> Answer:
    return Answer.json(403, {"message": message})


def _matches(row: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    if query.get("provider") and row.get("provider") != query["provider"]:
        return False
    if query.get("status") and row.get("status") != query["status"]:
        return False
    if query.get("type") and row.get("event_type") != query["type"]:
        return False
    text = (query.get("q") or "").strip().lower()
    if text:
        fields = ("provider", "delivery_id", "event_type", "detail", "reason")
        haystack = " ".join(str(row.get(name) or "") for name in fields)
        return text in haystack.lower()
    return True


def _ledger_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger entry as a list row: a delivery this run's inbox did not see (sent before it, or evicted)."""
    from hookctl.deliveries import error_summary

    status = str(item.get("status") or "")
    outcome = item.get("outcome")
    shown = status
    if status == "processed" and outcome in ("skipped", "duplicate_body"):
        shown = "skipped" if outcome == "skipped" else "duplicate"
    elif status == "failed" and item.get("dead_lettered_at"):
        shown = "dead-lettered"
    elif status == "processing":
        shown = "received"
    at = str(item.get("last_attempt_at") or item.get("received_at") or "")
    return {
        "key": f"{item.get('provider')}/{item.get('delivery_id')}",
        "provider": item.get("provider") or "",
        "delivery_id": item.get("delivery_id") or "",
        "event_type": item.get("event_type") or "",
        "status": shown,
        "detail": str(error_summary(item.get("last_error")) or "") if status == "failed" else "",
        "at": at,
        "first_at": str(item.get("received_at") or at),
        "http_status": None,
        "reason": None,
        "ledger_status": status or None,
        "replays": int(item.get("replay_count") or 0),
        "seen": False,
    }


def timeline(entry: Entry | None, item: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """What happened to the delivery, oldest first: the ledger's times (received, claimed, processed or failed with
    its error and retry, dead-lettered, replays requested) and what this run observed (HTTP answers, each consumer
    outcome, replays processed)."""
    events: list[dict[str, Any]] = list(entry.events) if entry else []
    if item:
        from hookctl.deliveries import error_summary

        def add(at: Any, what: str, detail: str = "") -> None:
            if at:
                events.append({"at": str(at), "what": what, "detail": detail, "source": "ledger"})

        add(item.get("received_at"), "received", "by the receiver (envelope time)")
        add(item.get("first_seen_at"), "claimed", "first attempt by the consumer")
        attempts = int(item.get("attempts") or 0)
        status = item.get("status")
        if status == "processed":
            outcome = item.get("outcome") or "handled"
            add(item.get("processed_at"), "processed", f"outcome {outcome}, {attempts} attempt(s)")
        elif status == "failed":
            error = str(error_summary(item.get("last_error")) or "")
            add(item.get("last_attempt_at"), "failed", f"attempt {attempts}: {error}")
            add(item.get("next_attempt_at"), "retry due", "next_attempt_at")
        elif status == "processing":
            add(item.get("last_attempt_at"), "processing", f"attempt {attempts}, lease held")
        add(item.get("dead_lettered_at"), "dead-lettered", "moved to the DLQ")
        for replay in item.get("replays") or []:
            if isinstance(replay, dict):
                add(replay.get("at"), "replay requested", f"{str(replay.get('id', ''))[:8]} by {replay.get('by')}")
    return sorted(events, key=lambda event: str(event["at"]))


def _body_views(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body three ways: pretty (JSON indented, a form one field a line), raw text, or base64 when not text."""
    from hookctl.deliveries import decode_text, render_body

    text = decode_text(raw, content_type)
    return {
        "content_type": content_type,
        "body_pretty": render_body(raw, content_type),
        "body_raw": text,
        "body_base64": base64.b64encode(raw).decode("ascii") if text is None else None,
    }


def curl_command(request: Mapping[str, Any]) -> str:
    """The request as a curl command: the method, URL, the sender's headers (not the transport's) and the exact body
    (single-quoted text, or decoded from base64 when it is not text)."""
    parts = ["curl", "-sS", "-X", str(request["method"]), shlex.quote(str(request["url"]))]
    for name, value in request["headers"]:
        if name.lower() not in TRANSPORT_HEADERS:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    text, encoded = request.get("body_raw"), request.get("body_base64")
    if request.get("size"):
        if text is not None and "\x00" not in text:
            parts += ["--data-binary", shlex.quote(text)]
        elif encoded is not None:
            return f"printf %s {shlex.quote(encoded)} | base64 -d | " + " ".join([*parts, "--data-binary", "@-"])
    return " ".join(parts)


# -- wiring into the local pipeline ----------------------------------------------------------------------------------


def backend_for(pipeline: Any) -> InboxBackend:
    """The inbox's view of a started :class:`~hookctl.local.runner.LocalPipeline`."""
    from hookctl.local.stack import seed_for

    stack = pipeline.stack
    instances: dict[str, Instance] = {}
    for spec in stack.functions.values():
        name = spec.environment.get("PROVIDER")
        if not name or not spec.routes:
            continue
        kind = spec.environment.get("PROVIDER_KIND") or name
        route = spec.routes[0]
        instances[name] = Instance(name, kind, route.path, route.method)
    environ = pipeline.config.environ

    def output(name: str) -> str:  # a template without it: the inbox shows what the tracker saw only
        return str(stack.outputs.get(name, ("",))[0])

    return InboxBackend(
        table=output("DeliveriesTableName"),
        queue_url=output("QueueUrl"),
        dlq_url=output("DeadLetterQueueUrl"),
        client=pipeline.client,
        api_url=lambda: pipeline.api.url,
        instances=instances,
        secret_for=lambda instance: seed_for(instance.name, environ, instance.kind)[0],
        public_url=pipeline.api.public_url,
    )
