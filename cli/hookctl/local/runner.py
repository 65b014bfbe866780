"""``LocalPipeline``: the endpoint, the stack, the functions' instances, the HTTP API and the queue pollers, together.

    with LocalPipeline(LocalConfig(template=Path("template.yaml"))) as pipeline:
        ...  # POST to pipeline.api_url + "/webhooks/github"; pipeline.wait_until_drained()

``hookctl dev`` runs it until Ctrl-C, ``hookctl demo`` and the end-to-end tests drive it. Faults (tests, benchmarks)
are configured here too: error rules for the functions' AWS calls (``faults``, applied by the endpoint), killed
consumer instances (``kill_probability``) and the SDK's retry settings (``sdk_env``, ``backoff_scale``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hookctl.local import DEFAULT_API_PORT, DEFAULT_ENDPOINT_PORT, DEFAULT_STACK_NAME
from hookctl.local.console import Tracker
from hookctl.local.endpoint import Endpoint
from hookctl.local.gateway import HttpApi, Route
from hookctl.local.lambda_runtime import FAKE_CREDENTIALS, FunctionPool, function_environment
from hookctl.local.poller import KillFaults, SqsPoller
from hookctl.local.stack import LocalStack, create_stack
from hookctl.local.state import project_dir
from hookctl.local.template import Template


class LocalError(Exception):
    pass


def find_template(start: Path | None = None) -> Path:
    """template.yaml in the working directory or a parent, else the one beside this checkout of hookctl."""
    directory = project_dir(start)
    if directory is None:
        raise LocalError("no template.yaml here or above: run from the project or pass --template")
    return directory / "template.yaml"


@dataclass
class LocalConfig:
    template: Path
    stack_name: str = DEFAULT_STACK_NAME
    region: str = "us-east-1"
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT
    endpoint_host: str = "127.0.0.1"
    endpoint_port: int = DEFAULT_ENDPOINT_PORT
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)  # --set LogicalId.Property=value
    prepend_paths: dict[str, list[Path]] = field(default_factory=dict)  # logical id -> dirs first on PYTHONPATH
    instances: int = 2  # most instances of each HTTP function at once
    consumer_concurrency: int | None = None  # default: min(ScalingConfig.MaximumConcurrency, CPUs), at least 2
    api: bool = True
    consumers: bool = True
    public_url: str | None = None  # where providers reach the HTTP API (a tunnel): what the functions are shown
    inbox: bool = False  # serve the web inbox at <api>/_inbox (hookctl dev), only on a loopback address...
    inbox_any_host: bool = False  # ... unless this is set (--inbox-on-any-host)
    log_dir: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Faults (tests and benchmarks)
    faults: dict[str, Any] | None = None  # endpoint fault rules, see hookctl.local.endpoint.FaultRule
    kill_probability: float = 0.0
    kill_max_delay: float = 0.2
    sdk_env: dict[str, str] = field(default_factory=dict)  # e.g. AWS_RETRY_MODE/AWS_MAX_ATTEMPTS for the functions
    backoff_scale: float = 1.0
    audit: bool = False
    seed: int | None = None
    # Start one instance of each function at start-up, so that a broken function fails `hookctl dev` at once. Tests
    # that call a few of the 17 functions turn it off: each cold start is a Python process importing the layer.
    prewarm: bool = True


class LocalPipeline:
    def __init__(self, config: LocalConfig, tracker: Tracker | None = None) -> None:
        self.config = config
        self.tracker = tracker or Tracker(log_dir=config.log_dir)
        self.template: Template | None = None
        self.stack: LocalStack | None = None
        self.endpoint: Endpoint | None = None
        self.api: HttpApi | None = None
        self.inbox: Any = None  # hookctl.local.inbox.InboxApi when the inbox is served
        self.inbox_note = ""  # why it is not, when it was asked for
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[SqsPoller] = []
        self.kill_faults: KillFaults | None = None
        self.started_at = 0.0
        self.left_in_queues: int | None = None  # messages still in the consumers' queues when the pollers stopped
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> LocalPipeline:
        config = self.config
        try:
            self.template = Template(
                config.template,
                stack_name=config.stack_name,
                region=config.region,
                parameter_overrides=config.parameter_overrides,
                overrides=config.overrides,
            )
            log_path = config.log_dir / "endpoint.log" if config.log_dir else None
            self.endpoint = Endpoint(
                host=config.endpoint_host,
                port=config.endpoint_port,
                faults=config.faults,
                audit=config.audit,
                log_path=log_path,
            )
            self.endpoint.start()
            if config.api:
                try:
                    self.api = HttpApi(
                        [],
                        self._invoke_http,
                        host=config.host,
                        port=config.port,
                        on_exchange=self._on_exchange,
                        public_url=config.public_url,
                    )
                except OSError as error:
                    raise LocalError(
                        f"cannot listen on {config.host}:{config.port} ({error.strerror}); pass --port"
                    ) from None
                except ValueError as error:
                    raise LocalError(f"--public-url: {error}") from None
            api_url = config.public_url or (self.api.url if self.api else f"http://{config.host}:{config.port}")
            self.stack = create_stack(self.template, self.client, environ=config.environ, api_base_url=api_url)
            self._start_functions()
            self._mount_inbox()
            if self.api is not None:
                self.api.set_routes(Route(r.method, r.path, r.function) for r in self.stack.routes())
                self.api.start()
            if config.consumers:
                self._start_pollers()
            self.started_at = time.time()
        except BaseException:
            with contextlib.suppress(Exception):  # the start-up error is the one to report
                self.stop()
            raise
        return self

    def _mount_inbox(self) -> None:
        """The web inbox on the HTTP API's server (``/_inbox``), fed by the tracker: see ``hookctl.local.inbox``."""
        config = self.config
        if not config.inbox or self.api is None:
            return
        from hookctl.local.inbox import PREFIX, InboxApi, InboxRing, backend_for, is_loopback_host

        if not (is_loopback_host(config.host) or config.inbox_any_host):
            self.inbox_note = f"off: the HTTP API listens on {config.host}, not loopback (--inbox-on-any-host)"
            return
        api = self.api
        ring = InboxRing()
        self.tracker.observers.append(ring)
        self.inbox = InboxApi(ring, backend_for(self), port=lambda: api.port, any_host=config.inbox_any_host)
        api.mount(PREFIX, self.inbox.serve)

    def _start_functions(self) -> None:
        assert self.stack is not None and self.endpoint is not None
        config = self.config
        for logical_id, spec in self.stack.functions.items():
            if spec.routes:
                size = config.instances
                if spec.reserved_concurrency:
                    size = min(size, spec.reserved_concurrency)
            elif spec.sqs_sources:
                size = sum(self._concurrency(source) for source in spec.sqs_sources if source.enabled) or 1
            else:
                size = 1
            env = function_environment(
                spec,
                endpoint_url=self.endpoint.functions_url,
                region=config.region,
                extra_paths=tuple(Path(p).resolve() for p in config.prepend_paths.get(logical_id, [])),
                extra={**self.endpoint.function_environment(), **config.sdk_env},
            )
            self.pools[logical_id] = FunctionPool(
                spec,
                env,
                max_instances=max(1, size),
                on_output=self.tracker.function_output,
                on_exit=self.tracker.worker_exit,
                backoff_scale=config.backoff_scale,
            )
        used = [
            lid
            for lid, spec in self.stack.functions.items()
            if config.prewarm and ((spec.routes and self.api) or (spec.sqs_sources and config.consumers))
        ]
        with ThreadPoolExecutor(max_workers=max(1, len(used))) as executor:  # cold starts in parallel
            for future in [executor.submit(self.pools[lid].prewarm) for lid in used]:
                future.result()

    def _concurrency(self, source: Any) -> int:
        if self.config.consumer_concurrency:
            return self.config.consumer_concurrency
        cap = source.maximum_concurrency or 5
        return max(2, min(cap, os.cpu_count() or 2))

    def _start_pollers(self) -> None:
        assert self.stack is not None
        if self.config.kill_probability:
            self.kill_faults = KillFaults(self.config.kill_probability, self.config.kill_max_delay, self.config.seed)
        for source in self.stack.sqs_sources():
            if not source.enabled:
                continue
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=source.queue_url, AttributeNames=["VisibilityTimeout"]
            )
            self.tracker.visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
            poller = SqsPoller(
                source,
                self.pools[source.function],
                self.client("sqs"),
                region=self.config.region,
                concurrency=self._concurrency(source),
                on_batch=self.tracker.batch,
                kill_faults=self.kill_faults,
            )
            poller.start()
            self.pollers.append(poller)

    def stop(self) -> None:
        """Stop everything that started, in order; each part is stopped even if another fails (the first error is
        raised at the end)."""
        errors: list[BaseException] = []

        def attempt(step: Any, *args: Any) -> None:
            try:
                step(*args)
            except Exception as error:  # noqa: BLE001 (collected, re-raised below)
                errors.append(error)

        for poller in self.pollers:
            attempt(poller.stop)
        if self.pollers and self.endpoint is not None:
            attempt(self._count_left_in_queues)
        self.pollers = []
        if self.inbox is not None:  # the inbox's event streams end first: they hold the server's threads
            attempt(self.inbox.ring.close)
            with contextlib.suppress(ValueError):
                self.tracker.observers.remove(self.inbox.ring)
        if self.api is not None:
            attempt(self.api.stop)
            self.api = None
        for pool in self.pools.values():
            attempt(pool.close)
        self.pools = {}
        if self.endpoint is not None:
            attempt(self.endpoint.stop)
        attempt(self.tracker.close)
        if errors:
            raise errors[0]

    def _count_left_in_queues(self) -> None:
        """What the pollers leave behind (queued, in flight or delayed): deliveries accepted but not settled yet."""
        self.left_in_queues = self.in_flight()

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wiring ---------------------------------------------------------------------------------------------------

    def _invoke_http(self, function: str, event: dict[str, Any]) -> Any:
        return self.pools[function].invoke(event)

    def _on_exchange(self, exchange: Any) -> None:
        provider = ""
        if self.stack is not None and exchange.function in self.stack.functions:
            provider = self.stack.functions[exchange.function].environment.get("PROVIDER", "")
        self.tracker.exchange(exchange, provider=provider, invocation_id=exchange.invocation_id)

    def client(self, service: str) -> Any:
        """A boto3 client of the endpoint's clean port (no faults)."""
        with self._lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.Session(
                        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                        region_name=self.config.region,
                    )
                assert self.endpoint is not None
                config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
                url = self.endpoint.dynamodb_url if service == "dynamodb" else self.endpoint.url
                self._clients[service] = self._session.client(service, endpoint_url=url, config=config)
            return self._clients[service]

    # -- queries --------------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.api is not None, "the HTTP API is not running"
        return self.api.url

    def in_flight(self) -> int:
        """Messages in the consumers' queues (visible, in flight or delayed) plus batches being handled."""
        assert self.stack is not None
        total = sum(poller.busy for poller in self.pollers)
        for source in self.stack.sqs_sources():
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=source.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            total += sum(int(value) for value in attributes.values())
        return total

    def wait_until_drained(self, timeout: float = 120.0, settle: float = 1.0, poll: float = 0.25) -> bool:
        """True once every consumer queue stays empty with no batch in progress for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.in_flight() == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(poll)
        return False

    def queue_depth(self, logical_id: str) -> int:
        assert self.stack is not None
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.queue_url(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def cli_environment(self) -> dict[str, str]:
        """What a shell needs for ``hookctl`` to find the local stack."""
        assert self.endpoint is not None
        return {
            "AWS_ENDPOINT_URL": self.endpoint.url,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": self.config.region,
            "HOOKCTL_STACK": self.config.stack_name,
        }

    def banner(self, send_target: str | None = None) -> str:
        """What runs where, and commands that work against it; ``send_target`` is how ``hookctl send`` should find
        the gateway (default: ``--url`` with its address)."""
        assert self.stack is not None and self.endpoint is not None and self.template is not None
        template = self.template
        lines = [f"hookctl dev: {template.path.name} running locally as stack {template.stack_name} (no AWS account)"]
        lines.append(
            f"  AWS endpoint  {self.endpoint.url}   "
            f"(moto; the functions' AWS_ENDPOINT_URL: {self.endpoint.functions_url})"
        )
        lines += self._api_lines()
        lines += self._consumer_lines()
        lines += self._stack_notes()
        lines += self._command_lines(send_target)
        return "\n".join(lines)

    def _api_lines(self) -> list[str]:
        """The HTTP API's address (and public URL) and its routes."""
        assert self.stack is not None
        if self.api is None:
            return []
        lines = [f"  HTTP API      {self.api.url}"]
        if self.inbox is not None:
            lines.append(f"  Inbox         {self.api.url}/_inbox   (every delivery live; replay, send samples)")
        elif self.inbox_note:
            lines.append(f"  Inbox         {self.inbox_note}")
        public = self.api.public_url
        if public:
            lines.append(f"  Public URL    {public} -> {self.api.url}   (the functions see requests as sent to it)")
        for route in self.stack.routes():
            line = f"    {route.method:<5} {route.path:<22} -> {route.function}"
            if public and route.path.startswith("/"):
                line = f"{line:<62} {public}{route.path}"
            lines.append(line)
        return lines

    def _consumer_lines(self) -> list[str]:
        """One line per enabled queue consumer: its batching, concurrency, visibility and DLQ."""
        assert self.stack is not None
        lines = []
        for source in self.stack.sqs_sources():
            if not self.config.consumers or not source.enabled:
                continue
            queue = self.client("sqs").get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["All"])
            attributes = queue["Attributes"]
            lines.append(
                f"  Consumer      {source.queue} -> {source.function}: batch {source.batch_size}, "
                f"window {source.batching_window_seconds} s, {self._concurrency(source)} concurrent, "
                f"visibility {attributes.get('VisibilityTimeout')} s{_dlq_note(attributes.get('RedrivePolicy'))}, "
                f"{'partial batch failures' if source.report_batch_item_failures else 'whole batches'}"
            )
        return lines

    def _stack_notes(self) -> list[str]:
        """Secrets, deviations from AWS, overrides, what is not emulated and where the logs are."""
        assert self.stack is not None and self.template is not None
        stack, template = self.stack, self.template
        lines = [f"  Secret        {logical_id}: {secret}" for logical_id, secret in stack.secret_sources.items()]
        lines += [
            f"  Deviation     {created.logical_id}: {created.deviation}"
            for created in stack.created.values()
            if created.deviation
        ]
        if template.overrides:
            overrides = ", ".join(str(o) for o in template.overrides)
            lines.append(f"  Overrides     {overrides}  (not the template's values)")
        if stack.not_emulated:
            lines.append(f"  Not emulated  {', '.join(sorted(set(stack.not_emulated.values())))} (IAM is not enforced)")
        if self.config.log_dir:
            lines.append(f"  Logs          {self.config.log_dir}/<Function>.log")
        return lines

    def _command_lines(self, send_target: str | None) -> list[str]:
        """``hookctl send`` and ``hookctl deliveries list`` commands that reach this stack."""
        lines = []
        command = _hookctl_command()
        if self.api is not None:
            target = send_target or f"--url {self.api.url}"
            lines.append(
                f"Send a delivery:   {command} send github push {target}   (or: {command} send all {target} --count 20)"
            )
        if send_target and send_target.startswith("--local"):  # the state file is written: --local finds this stack
            lines.append(f"Inspect it:        {command} deliveries list {send_target}   (dlq list, replay: the same)")
        else:
            env = " ".join(f"{k}={v}" for k, v in self.cli_environment().items())
            lines.append(f"Inspect it:        {env} {command} deliveries list")
        return lines


def _dlq_note(redrive: str | None) -> str:
    """``, DLQ after N receives`` for a queue with a redrive policy (its ``RedrivePolicy`` attribute), else ""."""
    if not redrive:
        return ""
    import json

    return f", DLQ after {json.loads(redrive)['maxReceiveCount']} receives"

def _hookctl_command() -> str:
    """``hookctl`` when it is on PATH, else the venv's script (relative to here when it can be)."""
    import shutil
    import sys

    if shutil.which("hookctl"):
        return "hookctl"
    script = Path(sys.executable).parent / "hookctl"
    try:
        return os.path.relpath(script)
    except ValueError:
        return str(script)
