"""``hookctl``: argument parsing and dispatch only; the commands live in their own modules.

Adding a command group (``send``, ``replay``, ...): write a module with ``register(subparsers, parents)`` that adds
its parsers with ``parents=parents`` (the shared options: output, query, AWS profile/region/endpoint, --local, stack,
resource overrides) and sets ``handler=fn(args, ctx) -> exit code`` on each leaf; then list the module in the
modules tuple below. Handlers get a :class:`hookctl.context.CommandContext`. A command that makes no AWS call of its
own sets ``aws=False`` in its defaults (no session is made for it); one that finds the local pipeline itself
(``send --local``) sets ``local_in_command=True``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from hookctl import __version__, backfill, completion, deliveries, demo, dlq, listen, replay, send
from hookctl.awserrors import EXIT_ENDPOINT, classify
from hookctl.context import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    CommandContext,
    describe_client_error,
)
from hookctl.local import command as dev
from hookctl.resources import DEFAULT_STACK_NAME, RESOURCE_SPECS, STACK_ENV, ResourceNotFound, StackResources

COMMAND_MODULES = (deliveries, dlq, send, replay, listen, backfill, dev, demo, completion)
OUTPUTS = ("table", "json")
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}  # any will do for moto
LOCAL_DEFAULT_REGION = "us-east-1"  # `hookctl dev --region`'s default, for a state file that names none


def add_common_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool) -> None:
    """The options every command takes. On leaf parsers their defaults are suppressed, so that an option given
    before the command (``hookctl --json dlq list``) is not reset by the leaf parser and both positions work."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress_defaults else value

    output = parser.add_argument_group("output")
    output.add_argument(
        "--output",
        choices=OUTPUTS,
        default=default(None),
        help="table (default; notes go to stderr) or json (lists are arrays, times ISO-8601 UTC)",
    )
    output.add_argument(
        "--json", dest="output", action="store_const", const="json", default=default(None), help="--output json"
    )
    output.add_argument(
        "--query",
        metavar="JMESPATH",
        default=default(None),
        help="select from the JSON result, as the AWS CLI does (e.g. \"[?status=='failed'].delivery_id\"); printed "
        "as JSON unless --output table",
    )
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", default=default(None), help="AWS profile (default: AWS_PROFILE, else the default)")
    aws.add_argument("--region", default=default(None), help="AWS region (default: the AWS configuration's)")
    aws.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=default(None),
        help="AWS endpoint for every service (default: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, else AWS)",
    )
    aws.add_argument(
        "--local",
        action="store_true",
        default=default(False),
        help="use the running `hookctl dev`: its endpoint, region and stack outputs (.local/<stack>/dev.json); "
        "--stack-name picks one when several run",
    )
    stack = parser.add_argument_group(
        "stack and resources",
        "Each resource is taken from its flag, else its environment variable, else the stack's outputs "
        "(with --local: its flag, else the local stack's outputs).",
    )
    stack.add_argument(
        "--stack-name",
        default=default(None),
        metavar="NAME",
        help=f"CloudFormation stack whose outputs name the resources (env {STACK_ENV}, default {DEFAULT_STACK_NAME})",
    )
    for spec in RESOURCE_SPECS:
        stack.add_argument(
            spec.flag,
            dest=spec.key,
            default=default(None),
            metavar=spec.key.rsplit("_", 1)[-1].upper(),
            help=f"{spec.help} (env {spec.env}; output {spec.output})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookctl",
        description="Operate the webhook gateway: the deliveries ledger, the dead-letter queue, replays, test "
        "deliveries, and the whole pipeline on this machine (dev, demo). Works against AWS, any endpoint "
        "(--endpoint-url, AWS_ENDPOINT_URL) or the running `hookctl dev` (--local).",
        epilog="Exit status: 0 success, 1 failure (not found, an AWS error), 2 usage, 3 credentials or AWS "
        "configuration, 4 endpoint unreachable or no `hookctl dev` running (docs/cli.md). "
        "Shell completion: hookctl completion bash|zsh.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_common_options(parser, suppress_defaults=False)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, suppress_defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, [common])
    _help_when_incomplete(parser)
    return parser


def _help_when_incomplete(parser: argparse.ArgumentParser) -> None:
    """``hookctl`` alone, or a group without its subcommand (``hookctl dlq``), prints that parser's help (see
    :func:`main`) instead of argparse's bare "the following arguments are required"."""
    parser.set_defaults(incomplete_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.required = False
            for sub in action.choices.values():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    _help_when_incomplete(sub)


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width when ``stream`` is one (tables then fit it); None for a pipe or a file."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size().columns


def main(
    argv: Sequence[str] | None = None,
    *,
    session: Any = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point of the console script; the keyword arguments let tests run it in process."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    environ = os.environ if environ is None else environ
    if not hasattr(args, "handler"):
        # Bare `hookctl`: its help on stdout, exit 0 (nothing was asked, nothing failed). `hookctl dlq`: the group's
        # help on stderr and exit 2, as argparse does for any incomplete command line.
        incomplete = args.incomplete_parser
        if incomplete is parser:
            stdout.write(parser.format_help())
            return EXIT_OK
        stderr.write(incomplete.format_help())
        stderr.write(f"{incomplete.prog}: error: a subcommand is required\n")
        return EXIT_USAGE
    ctx: CommandContext | None = None
    try:
        ctx = make_context(args, session=session, environ=environ, stdout=stdout, stderr=stderr)
        return args.handler(args, ctx)
    except CliError as exc:
        error, code = str(exc), exc.exit_code
    except ResourceNotFound as exc:
        error, code = str(exc), EXIT_USAGE
    except (ClientError, BotoCoreError) as exc:
        problem = classify(exc, endpoint_url=ctx.endpoint_url if ctx else None)
        if problem is not None:  # credentials, profile, region, endpoint: named as such, exit 3 or 4
            error, code = problem.message, problem.exit_code
        elif isinstance(exc, ClientError):
            error, code = describe_client_error(exc), EXIT_FAILURE
        else:
            error, code = str(exc), EXIT_FAILURE
    except BrokenPipeError:  # `hookctl ... | head`: stop quietly (recipe of the `signal` module's documentation)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    stderr.write(f"hookctl: {error}\n")
    return code


def make_context(
    args: argparse.Namespace, *, session: Any, environ: Mapping[str, str], stdout: TextIO, stderr: TextIO
) -> CommandContext:
    """The session, resources and output settings the options ask for.

    With ``--local`` (unless the command finds the local pipeline itself), the running ``hookctl dev``: its endpoint
    and region, fake credentials, and its stack, whose outputs name the resources (flags still win; the HOOKCTL_*
    resource variables, which describe another target, are not read).
    """
    query = compile_query(args.query) if args.query else None
    # resources are set below, once the session and the stack are known
    ctx = CommandContext(
        session=None,
        resources=None,  # type: ignore[arg-type]
        json=args.output == "json" or (args.output is None and query is not None),
        stdout=stdout,
        stderr=stderr,
        query=query,
        endpoint_url=args.endpoint_url,
        width=terminal_width(stdout),
    )
    uses_aws = getattr(args, "aws", True)
    stack_name, resource_environ = args.stack_name, environ
    local = args.local and uses_aws and not getattr(args, "local_in_command", False)
    if local:
        state = find_local(args, environ, ctx)
        ctx.local, ctx.endpoint_url = state, state.endpoint_url
        stack_name, resource_environ = state.stack_name, {}
    if uses_aws and session is None:
        session = _local_session(ctx.local) if local else _session(args)
    ctx.session = session
    ctx.resources = StackResources(
        stack_name,
        {spec.key: getattr(args, spec.key, None) for spec in RESOURCE_SPECS},
        resource_environ,
        session=session,
        client_factory=ctx.client if session is not None else None,
    )
    return ctx


def compile_query(text: str) -> Any:
    """``--query`` compiled before anything runs: a typo must not fail after a redrive has moved messages."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        message = " ".join(str(exc).split())
        raise CliError(f"--query {text!r} is not a JMESPath expression: {message}", EXIT_USAGE) from None


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.Session(profile_name=args.profile, region_name=args.region)


def _local_session(state: Any) -> Any:
    """Fake credentials for the local endpoint. AWS_PROFILE is not read: the profile an operator uses for AWS must
    neither matter nor fail locally."""
    import boto3
    import botocore.session

    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.Session(botocore_session=core, region_name=state.region, **LOCAL_CREDENTIALS)


def find_local(args: argparse.Namespace, environ: Mapping[str, str], ctx: CommandContext) -> Any:
    """The running ``hookctl dev`` for ``--local`` (``--stack-name`` picks one of several, else HOOKCTL_STACK's, else
    webhook-gateway-local's); an error saying so when none runs."""
    from hookctl.local import DEFAULT_STACK_NAME as LOCAL_STACK_NAME
    from hookctl.local.state import NoRunningDev, SeveralRunning, find_running, project_dir

    for option, value in (("--endpoint-url", args.endpoint_url), ("--profile", args.profile)):
        if value:
            raise CliError(
                f"--local and {option} exclude each other (--local is the local pipeline's endpoint)", EXIT_USAGE
            )
    preferred = [name for name in (environ.get(STACK_ENV), LOCAL_STACK_NAME) if name]
    try:
        state, notes = find_running(args.stack_name, preferred=preferred)
    except SeveralRunning as exc:
        raise CliError(f"--local: {exc}", EXIT_USAGE) from None
    except NoRunningDev as exc:
        raise CliError(f"--local: {exc}; start it with `make dev` (or `hookctl dev`)", EXIT_ENDPOINT) from None
    for note in notes:
        ctx.note(note)
    if state is None:
        where = project_dir()
        raise CliError(
            "--local: no `hookctl dev` is running (no live .local/<stack>/dev.json"
            f"{f' in {where}' if where else ''}): start it with `make dev` (or `hookctl dev`) in another terminal, "
            "or leave out --local to use AWS",
            EXIT_ENDPOINT,
        )
    if not state.endpoint_url:
        raise CliError(f"--local: {state.path} names no endpoint_url; restart `hookctl dev`", EXIT_ENDPOINT)
    region = state.region or LOCAL_DEFAULT_REGION
    if args.region and args.region != region:
        raise CliError(
            f"--local: the local stack {state.stack_name} is in {region}, not --region {args.region}", EXIT_USAGE
        )
    return state.with_region(region)


if __name__ == "__main__":
    sys.exit(main())
