"""``hookctl``: argument parsing and dispatch only; the commands live in their own modules.

Adding a command group (``send``, ``replay``, ...): write a module with
``register(subparsers, parents)`` that adds its parsers with ``parents=parents`` (the shared options: stack,
region, resource overrides, --json) and sets ``handler=fn(args, ctx) -> exit code`` on each leaf; then list the
module in ``COMMAND_MODULES``. Handlers get a :class:`hookctl.context.CommandContext`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from hookctl import __version__, deliveries, demo, dlq, replay, send
from hookctl.context import EXIT_FAILURE, EXIT_USAGE, CliError, CommandContext, describe_client_error
from hookctl.local import command as dev
from hookctl.resources import DEFAULT_STACK_NAME, RESOURCE_SPECS, STACK_ENV, ResourceNotFound, StackResources

COMMAND_MODULES = (deliveries, dlq, send, replay, dev, demo)


def add_common_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool) -> None:
    """The options every command takes. On leaf parsers their defaults are suppressed, so that an option given
    before the command (``hookctl --json dlq list``) is not reset by the leaf parser and both positions work."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress_defaults else value

    parser.add_argument("--json", action="store_true", default=default(False), help="machine-readable JSON output")
    stack = parser.add_argument_group(
        "stack and resources",
        "Each resource is taken from its flag, else its environment variable, else the stack's outputs.",
    )
    stack.add_argument(
        "--stack-name",
        default=default(None),
        metavar="NAME",
        help=f"CloudFormation stack whose outputs name the resources (env {STACK_ENV}, default {DEFAULT_STACK_NAME})",
    )
    stack.add_argument("--region", default=default(None), help="AWS region (default: the AWS configuration's)")
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
        description="Operate the webhook gateway: the deliveries ledger and the dead-letter queue. "
        "Works against AWS or any endpoint in AWS_ENDPOINT_URL.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_common_options(parser, suppress_defaults=False)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, suppress_defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands, [common])
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    session: Any = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point of the console script; the keyword arguments let tests run it in process."""
    args = build_parser().parse_args(argv)
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    environ = os.environ if environ is None else environ
    if session is None:
        import boto3

        session = boto3.Session(region_name=args.region)
    resources = StackResources(
        args.stack_name,
        {spec.key: getattr(args, spec.key, None) for spec in RESOURCE_SPECS},
        environ,
        session=session,
    )
    ctx = CommandContext(session=session, resources=resources, json=args.json, stdout=stdout, stderr=stderr)
    try:
        return args.handler(args, ctx)
    except CliError as exc:
        error, code = str(exc), exc.exit_code
    except ResourceNotFound as exc:
        error, code = str(exc), EXIT_USAGE
    except ClientError as exc:
        error, code = describe_client_error(exc), EXIT_FAILURE
    except NoRegionError:
        error, code = "no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION", EXIT_USAGE
    except BotoCoreError as exc:  # no credentials, endpoint unreachable, ...
        error, code = str(exc), EXIT_FAILURE
    except BrokenPipeError:  # `hookctl ... | head`: stop quietly (recipe of the `signal` module's documentation)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    stderr.write(f"hookctl: {error}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
