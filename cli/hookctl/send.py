"""``hookctl send``: sign sample deliveries like the providers do and POST them to a gateway (like ``stripe trigger``).

    hookctl send github push --local                     # one delivery to the running `hookctl dev`, on its port
    hookctl send all --local --count 300 --concurrency 8  # every provider and kind in turn, with a progress bar
    hookctl send stripe --duplicate 3                     # the same delivery three times (a provider's retries)
    hookctl send twilio --tamper                          # a forged delivery: must be answered 401
    hookctl send github push --stack-name webhook-gateway # a deployed stack: URL and secret from its outputs
    hookctl send standard_webhooks --as openai --local    # a provider instance: its route, its secret

Each delivery gets a fresh delivery id (``--count`` sends distinct deliveries); ``--duplicate K`` sends each one K
times, re-signed each time (Stripe signs the time). ``--retries N`` resends after a 5xx or a connection error, as
providers do. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from hookctl import samples
from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext
from webhook_gateway.verifiers import logical_name

LOCAL_BASE_URL = "http://127.0.0.1:3000"  # `hookctl dev`'s default, tried when no running one is found
SECRET_ENV = "HOOKCTL_{provider}_SECRET"
PER_REQUEST_LINES = 20  # above this many requests, a progress bar instead of one line each


def secret_output(provider: str) -> str:
    """The stack output naming a provider's secret: ``<Name>SecretArn`` (template.yaml)."""
    return f"{logical_name(provider)}SecretArn"


@dataclass(frozen=True)
class Job:
    """One HTTP request to make: a copy of a delivery."""

    provider: str
    kind: str
    delivery_id: str  # the id given to the provider's payload (the gateway's id may add a prefix: GitHub's hook id)
    copy: int = 1
    forged: bool = False


@dataclass
class Result:
    job: Job
    status: int | None = None  # the final answer (after --retries)
    reason: str | None = None  # the "error" of a JSON error answer
    attempts: int = 0  # requests made (1 + resends after a 5xx or a connection error)
    statuses: list[int] = field(default_factory=list)  # every answer, resends included
    error: str | None = None  # no answer at all (connection refused, timeout)
    latency_ms: float = 0.0
    gateway_id: str = ""  # the id the gateway records (the ledger key); a batch request's first event's
    gateway_ids: tuple[str, ...] = ()  # every id the gateway records for the request (one per event of a batch)

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def plan(
    provider: str,
    kind: str | None,
    *,
    count: int = 1,
    duplicate: int = 1,
    tamper: bool = False,
    delivery_id: str | None = None,
) -> list[Job]:
    """``count`` deliveries (each with a fresh id, or ``delivery_id`` for one), each ``duplicate`` times.
    ``provider`` ``all`` cycles through every provider and kind (every delivery kind: no handshake, unless ``kind``
    names one)."""
    if provider == "all":
        pairs = [
            (p, k)
            for p in samples.provider_names()
            for k in (samples.kinds_of(p) if kind else samples.delivery_kinds_of(p))
            if kind in (None, k)
        ]
    else:
        pairs = [(provider, kind or samples.kinds_of(provider)[0])]
    jobs: list[Job] = []
    for index in range(count):
        name, sample = pairs[index % len(pairs)]
        identity = delivery_id if delivery_id and count == 1 else samples.new_delivery_id(name)
        jobs.extend(Job(name, sample, identity, copy, tamper) for copy in range(1, duplicate + 1))
    return jobs


class Progress:
    """``[#####.....] 1200/3000  40%  210/s  2xx 1190  4xx 10  5xx 0`` on one refreshed line (a terminal only)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0
        self.classes: Counter[str] = Counter()
        self.started = time.monotonic()
        self._shown = 0.0
        self._lock = threading.Lock()

    def update(self, result: Result) -> None:
        with self._lock:
            self.done += 1
            self.classes[f"{result.status // 100}xx" if result.status else "errors"] += 1
            if self.enabled and (time.monotonic() - self._shown > 0.1 or self.done == self.total):
                self._shown = time.monotonic()
                self._draw()

    def _draw(self) -> None:
        width = 30
        filled = int(width * self.done / max(1, self.total))
        rate = self.done / max(1e-6, time.monotonic() - self.started)
        parts = "  ".join(
            f"{name} {self.classes[name]}" for name in ("2xx", "4xx", "5xx", "errors") if self.classes[name]
        )
        percent = 100 * self.done // max(1, self.total)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {percent:3d}%  {rate:6.0f}/s  {parts}"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


class Sender:
    """POSTs jobs with ``concurrency`` threads, one keep-alive connection each."""

    def __init__(
        self,
        urls: Mapping[str, str],
        secrets: Mapping[str, str],
        *,
        concurrency: int = 1,
        retries: int = 0,
        retry_delay: float = 0.2,
        timeout: float = 10.0,
        on_result: Callable[[Result], None] | None = None,
        gate: threading.Event | None = None,
        signed_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.urls = dict(urls)
        # The URL each provider signs when it is not where the request goes: the public URL of a gateway behind a
        # tunnel (Twilio signs the URL), while we send to its local port
        self.signed_urls = dict(signed_urls or {})
        self.secrets = dict(secrets)
        self.concurrency = max(1, concurrency)
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.on_result = on_result
        self.gate = gate  # when given, each request waits until it is set (back-pressure, for load tests)
        self._local = threading.local()

    def request(self, job: Job) -> samples.SignedRequest:
        url = self.signed_urls.get(job.provider) or self.urls[job.provider]
        signed = samples.sign_request(
            job.provider, job.kind, secret=self.secrets[job.provider], delivery_id=job.delivery_id, url=url
        )
        return samples.tamper(signed) if job.forged else signed

    def send_all(self, jobs: Sequence[Job]) -> list[Result]:
        if self.concurrency == 1:
            return [self.send(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=self.concurrency) as executor:
            return list(executor.map(self.send, jobs))

    def send(self, job: Job) -> Result:
        result = Result(job)
        started = time.perf_counter()
        for attempt in range(self.retries + 1):
            if attempt:  # the provider's retry: back off, then send again (re-signed: Stripe signs the time)
                time.sleep(self.retry_delay * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5))
            if self.gate is not None:
                self.gate.wait()
            request = self.request(job)
            result.gateway_id = request.delivery_id
            result.gateway_ids = request.delivery_ids
            result.attempts += 1
            try:
                status, body = self._post(request, self.urls[job.provider])
            except (OSError, http.client.HTTPException) as error:
                result.status, result.error = None, f"{type(error).__name__}: {error}"
                self._drop_connection()
                continue
            result.status, result.error = status, None
            result.statuses.append(status)
            result.reason = _reason(body) if status >= 400 else None
            if status < 500:
                break
        result.latency_ms = (time.perf_counter() - started) * 1000
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _post(self, request: samples.SignedRequest, via: str) -> tuple[int, bytes]:
        """Send ``request`` (its method, its path and query as signed) to the server of ``via``."""
        parts, server = urlsplit(request.url), urlsplit(via)
        connection = self._connection(server.scheme, server.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(request.headers)
        if request.body or request.method != "GET":  # a GET without a body (Meta's verification) has no length
            headers["content-length"] = str(len(request.body))
        connection.request(request.method, target, body=request.body or None, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.getheader("connection", "").lower() == "close":
            self._drop_connection()
        return response.status, body

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        cached = getattr(self._local, "connection", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._drop_connection()
        factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = factory(netloc, timeout=self.timeout)
        self._local.connection = (key, connection)
        return connection

    def _drop_connection(self) -> None:
        cached = getattr(self._local, "connection", None)
        if cached is not None:
            cached[1].close()
            self._local.connection = None


def _reason(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict):
        return str(document.get("error") or document.get("message") or "") or None
    return None


def summarize(results: Iterable[Result], duration: float) -> dict[str, Any]:
    results = list(results)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for result in results:
        for status in result.statuses:
            statuses[str(status)] += 1
        if result.status is not None and result.status >= 400 and result.reason:
            reasons[result.reason] += 1
    latencies = sorted(result.latency_ms for result in results)
    genuine = [r for r in results if not r.job.forged]
    forged = [r for r in results if r.job.forged]
    delivered = {(r.job.provider, gateway_id) for r in genuine if r.accepted for gateway_id in r.gateway_ids}
    return {
        "requests": sum(r.attempts for r in results),
        # Deliveries, not requests: a batch request (HubSpot) carries one per event.
        "deliveries": len(
            {(r.job.provider, d) for r in genuine for d in (r.gateway_ids or (f"job:{r.job.delivery_id}",))}
        ),
        "copies": len(genuine),
        "forged": len(forged),
        "accepted_copies": sum(r.accepted for r in genuine),
        "accepted_deliveries": len(delivered),
        "forged_accepted": sum(r.accepted for r in forged),
        "not_accepted": sum(not r.accepted for r in genuine),
        "resends": sum(r.attempts - 1 for r in results),
        "connection_errors": sum(r.error is not None for r in results),
        "statuses": dict(sorted(statuses.items())),
        "rejected": dict(reasons),
        "duration_s": round(duration, 3),
        "requests_per_second": round(sum(r.attempts for r in results) / duration, 1) if duration else None,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "p95": round(latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
        },
    }


# -- where and with what secret --------------------------------------------------------------------------------------


def local_target(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, str | None, list[str]]:
    """``--local``: the base URL of the running ``hookctl dev`` (from its ``.local/<stack>/dev.json``; ``--port``
    overrides), its public URL if it has one, and notes (stale files ignored, nothing found)."""
    from hookctl.local import DEFAULT_STACK_NAME
    from hookctl.local.state import NoRunningDev, find_running
    from hookctl.resources import STACK_ENV

    port = getattr(args, "port", None)
    preferred = [name for name in (environ.get(STACK_ENV), DEFAULT_STACK_NAME) if name]
    try:
        state, notes = find_running(args.stack_name, preferred=preferred)
    except NoRunningDev as error:
        if port is None:
            raise CliError(f"{error}; or pass --port PORT or --url BASE_URL", EXIT_USAGE) from None
        state, notes = None, []
    if port is not None:
        same = state is not None and state.api_url is not None and urlsplit(state.api_url).port == port
        public = state.public_url if same and state is not None else None
        return f"http://127.0.0.1:{port}", public, notes
    if state is None:
        notes.append(f"no running `hookctl dev` found (no live .local/<stack>/dev.json): trying {LOCAL_BASE_URL}")
        return LOCAL_BASE_URL, None, notes
    if not state.api_url:
        raise CliError(
            f"the hookctl dev of stack {state.stack_name} runs without its HTTP API (--no-api): pass --url", EXIT_USAGE
        )
    return state.api_url, state.public_url, notes


def resolve_target(
    args: argparse.Namespace, ctx: CommandContext, providers: Iterable[str]
) -> tuple[dict[str, str], dict[str, str], list[str], dict[str, str]]:
    """Per provider: the webhook URL, the signing secret, notes on where they came from, and the URL to sign when it
    is not the one the request goes to (a local gateway behind a tunnel's public URL)."""
    from hookctl.resources import webhook_url_key  # botocore: only when a command sends

    urls: dict[str, str] = {}
    secrets: dict[str, str] = {}
    signed_urls: dict[str, str] = {}
    notes: list[str] = []
    base, public = args.url, None
    if getattr(args, "port", None) is not None and not args.local:
        raise CliError("--port goes with --local", EXIT_USAGE)
    if args.local:
        base, public, found = local_target(args, os.environ)
        notes += found
    from_stack = base is None
    for provider in providers:
        # The instance the deliveries go to (--as): its route, its secret; signed as its kind, `provider`, signs.
        name = getattr(args, "instance", None) or provider
        if base is not None:
            urls[provider] = samples.webhook_url(name, base)
            if public:
                signed_urls[provider] = samples.webhook_url(name, public)
        else:
            explicit = ctx.resources.optional(webhook_url_key(name))
            api = ctx.resources.optional("api_url")
            if explicit:
                urls[provider] = explicit
            elif api:
                urls[provider] = samples.webhook_url(name, api)
            else:
                raise CliError(
                    f"no URL for {name}: pass --local (hookctl dev), --url BASE_URL, or a stack with a "
                    f"{logical_name(name)}WebhookUrl output (--stack-name)",
                    EXIT_USAGE,
                )
        variable = SECRET_ENV.format(provider=name.upper())
        if args.secret:
            secrets[provider] = args.secret
        elif os.environ.get(variable):  # the variable `hookctl dev` seeds the local secret from
            secrets[provider] = os.environ[variable]
            notes.append(f"{name}: signing with ${variable}")
        elif from_stack:
            secrets[provider] = _stack_secret(ctx, name)
            notes.append(f"{name}: signing with the stack's secret ({secret_output(name)})")
        else:
            secrets[provider] = samples.sample_secret(provider)
    if public:
        notes.append(f"signing for {public} (the gateway's --public-url), sending to {base}")
    return urls, secrets, notes, signed_urls


def _stack_secret(ctx: CommandContext, provider: str) -> str:
    arn = ctx.resources.stack_outputs().get(secret_output(provider))
    if not arn:
        raise CliError(
            f"no secret for {provider}: pass --secret, set {SECRET_ENV.format(provider=provider.upper())}, or use a "
            f"stack with a {secret_output(provider)} output",
            EXIT_USAGE,
        )
    value = ctx.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString") or ""
    if value.lstrip().startswith("{"):  # {"auth_token": ...} / {"shared_key": ...} (see the Twilio verifier)
        document = json.loads(value)
        value = document.get("auth_token") or document.get("secret") or document.get("shared_key") or value
    return value


# -- command line ----------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    providers = samples.provider_names()  # read now: a provider registered after import is a choice too
    kinds = "; ".join(f"{p}: {', '.join(samples.kinds_of(p))}" for p in providers)
    parser = subparsers.add_parser(
        "send",
        parents=parents,
        help="sign sample deliveries and POST them to a gateway (local or deployed)",
        description="Sign sample deliveries with the provider's scheme and POST them: to `hookctl dev` (--local), "
        "to any base URL (--url), or to a stack's webhook URLs (its outputs; the secret is read from the stack's "
        f"secret unless --secret or HOOKCTL_<PROVIDER>_SECRET is given). Kinds: {kinds}.",
    )
    parser.add_argument(
        "provider", choices=[*providers, "all"], metavar="PROVIDER", help=f"{', '.join(providers)} or all"
    )
    parser.add_argument("kind", nargs="?", metavar="KIND", help="the sample kind (default: the provider's first)")
    parser.add_argument(
        "--as",
        dest="instance",
        metavar="INSTANCE",
        help="send to this instance of the provider (a Providers row of template.yaml, e.g. openai for "
        "standard_webhooks): its /webhooks/<INSTANCE> route and its secret (HOOKCTL_<INSTANCE>_SECRET, the stack's, "
        "or the provider's sample)",
    )
    # --local (a shared option) sends to the running `hookctl dev`: its port from .local/<stack>/dev.json.
    parser.add_argument("--url", metavar="BASE_URL", help="the HTTP API's base URL (/webhooks/<provider> is appended)")
    parser.add_argument(
        "--port", type=int, metavar="PORT", help="with --local: the gateway's port on 127.0.0.1 (overrides dev.json)"
    )
    parser.add_argument(
        "--secret", help="signing secret (default: HOOKCTL_<PROVIDER>_SECRET, the stack's, or the sample)"
    )
    parser.add_argument("--count", type=_positive, default=1, metavar="N", help="distinct deliveries (default 1)")
    parser.add_argument("--duplicate", type=_positive, default=1, metavar="K", help="send each delivery K times")
    parser.add_argument("--tamper", action="store_true", help="forge: change the body after signing (expect 401)")
    parser.add_argument("--delivery-id", metavar="ID", help="the delivery id to use (with --count 1)")
    parser.add_argument("--concurrency", type=_positive, default=1, metavar="C", help="requests in flight (default 1)")
    parser.add_argument(
        "--retries", type=_non_negative, default=0, metavar="N", help="resend after a 5xx, like providers"
    )
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per request (default 10)")
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)"
    )
    parser.set_defaults(handler=run_send, local_in_command=True)  # --local: the dev's HTTP API, found below


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def run_send(args: argparse.Namespace, ctx: CommandContext) -> int:
    if args.local and args.url:
        raise CliError("--local and --url exclude each other: --local is the running `hookctl dev`", EXIT_USAGE)
    instance_ok = args.instance is None or re.fullmatch(r"[a-z][a-z0-9_]{0,62}", args.instance)
    if not instance_ok or (args.instance is not None and args.provider == "all"):
        raise CliError("--as takes one provider and an instance name such as openai (lower case)", EXIT_USAGE)
    if args.kind is not None and args.provider != "all" and args.kind not in samples.kinds_of(args.provider):
        raise CliError(
            f"unknown kind {args.kind!r} for {args.provider}; known: {', '.join(samples.kinds_of(args.provider))}",
            EXIT_USAGE,
        )
    jobs = plan(
        args.provider,
        args.kind,
        count=args.count,
        duplicate=args.duplicate,
        tamper=args.tamper,
        delivery_id=args.delivery_id,
    )
    providers = sorted({job.provider for job in jobs})
    urls, secrets, notes, signed_urls = resolve_target(args, ctx, providers)
    for note in notes:
        ctx.note(note)
    show_lines = not ctx.json and len(jobs) <= PER_REQUEST_LINES
    progress = Progress(
        len(jobs), ctx.stderr, args.progress if args.progress is not None else (not show_lines and _isatty(ctx.stderr))
    )
    lock = threading.Lock()

    def on_result(result: Result) -> None:
        progress.update(result)
        if show_lines:
            with lock:
                ctx.emit(_result_line(result))

    sender = Sender(
        urls,
        secrets,
        concurrency=args.concurrency,
        retries=args.retries,
        timeout=args.timeout,
        on_result=on_result,
        signed_urls=signed_urls,
    )
    started = time.monotonic()
    results = sender.send_all(jobs)
    summary = summarize(results, time.monotonic() - started)
    if ctx.json or ctx.query is not None:
        summary["results"] = [
            {
                "provider": r.job.provider,
                "kind": r.job.kind,
                "delivery_id": r.gateway_id,
                "delivery_ids": list(r.gateway_ids),
                "copy": r.job.copy,
                "forged": r.job.forged,
                "status": r.status,
                "statuses": r.statuses,
                "reason": r.reason,
                "error": r.error,
            }
            for r in results
        ]
    ctx.emit_result(summary, lambda: _summary_line(summary))
    if results and all(r.status is None for r in results):
        hint = " Is `hookctl dev` running (make dev)?" if args.local else ""
        ctx.note(f"nothing answered at {', '.join(sorted(set(urls.values())))}.{hint}")
    expected = all((r.accepted != r.job.forged) and (r.job.forged or r.status is not None) for r in results)
    return EXIT_OK if expected else EXIT_FAILURE


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _result_line(result: Result) -> str:
    status = str(result.status) if result.status is not None else "ERR"
    forged = " (forged)" if result.job.forged else ""
    copy = f" copy {result.job.copy}" if result.job.copy > 1 else ""
    extra = result.reason or result.error or ""
    resent = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    job = result.job
    more = f" (+{len(result.gateway_ids) - 1} more in the batch)" if len(result.gateway_ids) > 1 else ""
    ids = f"{result.gateway_id}{more}"
    return f"{status}  {job.provider:<6} {job.kind:<24} {ids}{copy}{forged}  {extra}{resent}".rstrip()


def _summary_line(summary: Mapping[str, Any]) -> str:
    rejected = ", ".join(f"{reason} {n}" for reason, n in summary["rejected"].items())
    statuses = ", ".join(f"{status} x{n}" for status, n in summary["statuses"].items())
    text = (
        f"sent {summary['requests']} request(s) in {summary['duration_s']:.1f} s "
        f"({summary['requests_per_second'] or 0:g}/s): "
        f"{summary['accepted_deliveries']} of {summary['deliveries']} deliveries accepted"
    )
    if summary["forged"]:
        text += f", {summary['forged'] - summary['forged_accepted']} of {summary['forged']} forged rejected"
    text += f"; statuses {statuses or 'none'}"
    if rejected:
        text += f"; reasons {rejected}"
    if summary["connection_errors"]:
        text += f"; {summary['connection_errors']} without an answer"
    return text
