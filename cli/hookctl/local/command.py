"""``hookctl dev``: run template.yaml's pipeline on this machine until Ctrl-C (see docs/local.md).

Only argparse and imports of the standard library at module level: the runner (moto, PyYAML, botocore) is imported
when the command runs, so ``hookctl deliveries`` keeps working where only boto3 is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hookctl.context import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, CommandContext
from hookctl.local import DEFAULT_API_PORT, DEFAULT_ENDPOINT_PORT, DEFAULT_STACK_NAME

DOCKER_BRIDGE = "172.17.0.1"  # where a container reaches the host (Linux); host.docker.internal on Docker Desktop


def add_runner_options(parser: argparse.ArgumentParser, *, api_port: int | None, endpoint_port: int | None) -> None:
    """The options `dev` and `demo` share (ports default to 3000/5000 for dev, free ports for demo)."""
    parser.add_argument("--template", type=Path, help="the SAM template (default: ./template.yaml or above)")
    parser.add_argument(
        "--stack-name",
        dest="local_stack_name",
        default=DEFAULT_STACK_NAME,
        metavar="NAME",
        help=f"name of the local stack: resource names and its outputs (default {DEFAULT_STACK_NAME})",
    )
    parser.add_argument("--region", dest="local_region", default="us-east-1", help="region of the local stack")
    parser.add_argument("--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=api_port, help=f"port of the HTTP API (default {api_port or 'a free one'})"
    )
    parser.add_argument(
        "--moto-host", default="127.0.0.1", help="address of the AWS endpoint; 0.0.0.0 for sam local (Docker)"
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=endpoint_port,
        help=f"port of the AWS endpoint (default {endpoint_port or 'a free one'})",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as `sam deploy --parameter-overrides` (e.g. LogLevel=DEBUG MaxReceiveCount=3)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="LogicalId.Property=VALUE",
        help="change a resource property of the template, e.g. WebhookQueue.VisibilityTimeout=10 (tests; reported)",
    )
    parser.add_argument(
        "--prepend-path",
        action="append",
        default=[],
        metavar="LogicalId=DIR",
        help="a directory first on a function's PYTHONPATH (e.g. ConsumerFunction=DIR with your own consumer_handlers)",
    )
    parser.add_argument(
        "--instances", type=int, default=2, metavar="N", help="most concurrent instances of each receiver (default 2)"
    )
    parser.add_argument(
        "--consumer-concurrency",
        type=int,
        metavar="N",
        help="concurrent consumer batches (default: ScalingConfig.MaximumConcurrency, at most the CPU count)",
    )
    parser.add_argument("--log-dir", type=Path, help="where each function's output goes (default .local/logs)")


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run the whole pipeline locally (moto, HTTP API on :3000, consumer) until Ctrl-C",
        description="Start moto's server as the AWS endpoint, create template.yaml's queues, table, bucket and "
        "secrets in it (secrets seeded with the sample secrets, or HOOKCTL_<PROVIDER>_SECRET), serve the template's "
        "HTTP API routes on http://127.0.0.1:3000 with the real receiver handlers, and run the consumer on the "
        "queue as its event source mapping does. One line per delivery, and a web inbox at "
        "http://127.0.0.1:3000/_inbox (loopback only); Ctrl-C stops everything.",
    )
    add_runner_options(parser, api_port=DEFAULT_API_PORT, endpoint_port=DEFAULT_ENDPOINT_PORT)
    parser.add_argument("--no-api", action="store_true", help="no HTTP API (e.g. to run `sam local start-api`)")
    parser.add_argument("--no-consumer", action="store_true", help="do not poll the queue")
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="where providers reach this gateway through a tunnel (e.g. https://abc.ngrok.app): the functions see "
        "every request as sent there (host, https), as API Gateway shows its own domain; Twilio signs that URL",
    )
    parser.add_argument(
        "--no-inbox", action="store_true", help="do not serve the web inbox (http://127.0.0.1:3000/_inbox)"
    )
    parser.add_argument(
        "--inbox-on-any-host",
        action="store_true",
        help="serve the inbox even when --host is not a loopback address (any peer; the Host must be an IP address "
        "or localhost, POSTs still need its X-Inbox header)",
    )
    parser.add_argument("--verbose", action="store_true", help="also print every log line of the functions")
    parser.add_argument("--quiet", action="store_true", help="no per-delivery lines")
    parser.add_argument(
        "--print-env-vars",
        action="store_true",
        help="print a `sam local --env-vars` file for the running `hookctl dev` and exit",
    )
    parser.add_argument(
        "--docker-host",
        default=DOCKER_BRIDGE,
        help=f"with --print-env-vars: the address containers reach the endpoint at (default {DOCKER_BRIDGE})",
    )
    parser.set_defaults(handler=run_dev, aws=False)  # it is the endpoint: no session from the shared options


def config_from_args(args: argparse.Namespace) -> Any:
    from hookctl.local.runner import LocalConfig, find_template
    from hookctl.local.template import TemplateError, parse_assignments

    template = args.template.resolve() if args.template else find_template()
    prepend: dict[str, list[Path]] = {}
    try:
        for key, value in parse_assignments(args.prepend_path, "--prepend-path").items():
            prepend.setdefault(key, []).append(Path(value))
        parameters = parse_assignments(args.parameter_overrides, "--parameter-overrides")
        overrides = parse_assignments(args.overrides, "--set")
    except TemplateError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    return LocalConfig(
        template=template,
        stack_name=args.local_stack_name,
        region=args.local_region,
        host=args.host,
        port=args.port if args.port is not None else 0,
        endpoint_host=args.moto_host,
        endpoint_port=args.moto_port if args.moto_port is not None else 0,
        parameter_overrides=parameters,
        overrides=overrides,
        prepend_paths=prepend,
        instances=max(1, args.instances),
        consumer_concurrency=args.consumer_concurrency,
        log_dir=(args.log_dir or template.parent / ".local" / "logs").resolve(),
    )


def start_pipeline(config: Any, tracker: Any) -> Any:
    """Start the pipeline, turning the runner's errors into operator-facing ones (what did start is stopped)."""
    from hookctl.local.endpoint import EndpointError
    from hookctl.local.lambda_runtime import WorkerError
    from hookctl.local.runner import LocalError, LocalPipeline
    from hookctl.local.template import TemplateError

    if config.log_dir is not None and config.log_dir.is_dir():
        for old in config.log_dir.glob("*.log"):  # one run's logs at a time
            old.unlink()
    pipeline = LocalPipeline(config, tracker)
    try:
        pipeline.start()
    except (LocalError, TemplateError, EndpointError, WorkerError) as error:
        raise CliError(str(error), EXIT_USAGE) from None
    except (KeyboardInterrupt, CliError):
        raise
    except Exception as error:  # noqa: BLE001 (e.g. the endpoint refused a resource: say so, exit non-zero)
        raise CliError(f"the local pipeline did not start: {type(error).__name__}: {error}", EXIT_FAILURE) from None
    return pipeline


def run_dev(args: argparse.Namespace, ctx: CommandContext) -> int:
    config = config_from_args(args)
    config.api = not args.no_api
    config.consumers = not args.no_consumer
    config.public_url = args.public_url
    config.inbox = not args.no_inbox
    config.inbox_any_host = args.inbox_on_any_host
    if args.print_env_vars:
        ctx.emit(json.dumps(env_vars(config, args.docker_host), indent=2))
        return EXIT_OK
    from hookctl.local.console import Tracker, shutdown_report
    from hookctl.local.state import remove_state, state_path

    if args.quiet:
        tracker = Tracker(log_dir=config.log_dir)
    else:
        tracker = Tracker.for_terminal(ctx.stdout, verbose=args.verbose, log_dir=config.log_dir)
    # Ctrl-C, and SIGINT/SIGTERM from scripts (a background job may inherit SIGINT ignored)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    state = state_path(config.template, config.stack_name)
    try:
        pipeline = start_pipeline(config, tracker)
        try:
            target = _publish_state(pipeline, state, ctx)
            ctx.emit(pipeline.banner(send_target=target))
            ctx.emit("Ctrl-C to stop.\n")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            ctx.note("stopping...")
        finally:
            remove_state(state, os.getpid())
            pipeline.stop()
    except KeyboardInterrupt:  # during start-up: what started is stopped already
        ctx.note("interrupted while starting")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ctx.note(shutdown_report(tracker.summary(), pipeline.left_in_queues))
    return EXIT_OK


def _publish_state(pipeline: Any, path: Path, ctx: CommandContext) -> str | None:
    """Write ``.local/<stack>/dev.json`` for ``hookctl send --local``; returns the ``send`` options that find this
    gateway (None when the file cannot be written: the banner then names the URL)."""
    from hookctl.local import DEFAULT_STACK_NAME
    from hookctl.local.state import read_state, write_state

    config = pipeline.config
    api_url = pipeline.api.url if pipeline.api is not None else None
    other = read_state(path)
    if other is not None and other.pid != os.getpid() and other.alive:
        ctx.note(f"another hookctl dev (pid {other.pid}) runs as stack {config.stack_name}: --local now finds this one")
    document = {
        "stack_name": config.stack_name,
        "pid": os.getpid(),
        "api_url": api_url,
        "public_url": pipeline.api.public_url if pipeline.api is not None else None,
        "endpoint_url": pipeline.endpoint.url,
        "region": config.region,
        "template": str(config.template),
    }
    try:
        write_state(path, document)
    except OSError as error:
        ctx.note(f"cannot write {path} ({error.strerror}): `hookctl send --local` will not find this gateway")
        return None
    return "--local" if config.stack_name == DEFAULT_STACK_NAME else f"--local --stack-name {config.stack_name}"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def env_vars(config: Any, docker_host: str) -> dict[str, dict[str, str]]:
    """A `sam local invoke/start-api --env-vars` file for the stack a running `hookctl dev` created: every variable
    the template gives each function, resolved, with AWS_ENDPOINT_URL at ``docker_host`` (where a container reaches
    the endpoint; the endpoint must listen there: `hookctl dev --moto-host 0.0.0.0`)."""
    import boto3

    from hookctl.local.lambda_runtime import FAKE_CREDENTIALS
    from hookctl.local.stack import attach_stack
    from hookctl.local.template import Template, TemplateError

    try:
        template = Template(
            config.template,
            stack_name=config.stack_name,
            region=config.region,
            parameter_overrides=config.parameter_overrides,
            overrides=config.overrides,
        )
    except TemplateError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    port = config.endpoint_port or 5000
    local_host = "127.0.0.1" if config.endpoint_host in ("0.0.0.0", "") else config.endpoint_host
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=config.region,
    )
    try:
        specs = attach_stack(
            template, lambda service: session.client(service, endpoint_url=f"http://{local_host}:{port}")
        )
    except TemplateError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    except Exception as error:  # noqa: BLE001 (endpoint unreachable)
        raise CliError(
            f"cannot reach the endpoint at {local_host}:{port} ({error}): start `hookctl dev` first", EXIT_USAGE
        ) from None
    endpoint = f"http://{docker_host}:{port}"
    result: dict[str, dict[str, str]] = {"Parameters": {"AWS_ENDPOINT_URL": endpoint}}
    for logical_id, spec in specs.items():
        result[logical_id] = {**spec.environment, "AWS_ENDPOINT_URL": endpoint}
    return result
