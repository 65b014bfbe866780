"""The options every operator command shares (--output, --json, --query, --local), whole ids in tables, help for a
bare `hookctl`, shell completion, and credential/endpoint problems named as such (moto in process)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError, ProfileNotFound

from hookctl import awserrors
from hookctl.completion import bash_script, zsh_script
from hookctl.main import build_parser
from hookctl.output import Column, render_table
from hookctl.resources import StackResources

from .gateway import envelope, ledger_item, put_ledger, send_envelope

GITHUB_ID = "501234567:110c4799-fde4-5f4a-8965-fd6405c535d3"  # 46 characters: GitHub's <hook id>:<delivery GUID>
LONG_ERROR = "RuntimeError: " + "the orders API answered 503 Service Unavailable; " * 4


@pytest.fixture
def ledger(session, gateway):
    put_ledger(
        session.resource("dynamodb"),
        gateway.table,
        ledger_item("github", GITHUB_ID, status="failed", last_error=LONG_ERROR),
        ledger_item("stripe", "evt_1", status="processed"),
    )
    return gateway


def table_env(gateway) -> dict[str, str]:
    return {"HOOKCTL_TABLE": gateway.table, "HOOKCTL_DLQ_URL": gateway.dlq_url, "HOOKCTL_QUEUE_URL": gateway.queue_url}


# -- whole ids ---------------------------------------------------------------------------------------------------


def test_delivery_ids_are_never_cut_in_the_table(hookctl, ledger):
    # When the ledger is listed as a table
    result = hookctl("deliveries", "list", environ=table_env(ledger))

    # Then GitHub's 46-character id is whole: it pastes into show and replay
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith("github"))
    assert row.split()[1] == GITHUB_ID
    shown = hookctl("deliveries", "show", "github", row.split()[1], environ=table_env(ledger))
    assert shown.code == 0 and GITHUB_ID in shown.out


def test_a_narrow_terminal_cuts_the_error_column_not_the_id(hookctl, ledger, monkeypatch):
    # Given stdout is a 140-column terminal
    monkeypatch.setattr("hookctl.main.terminal_width", lambda stream: 140)

    result = hookctl("deliveries", "list", "--provider", "github", environ=table_env(ledger))

    # Then the line fits, the id and the time are whole, and the last error is cut, with an ellipsis
    header, row = result.out.splitlines()
    assert len(row) <= 140 and len(header) <= 140
    assert GITHUB_ID in row.split() and any(len(cell) == 24 and cell.endswith("Z") for cell in row.split())
    assert row.endswith("...") and LONG_ERROR[:12] in row and LONG_ERROR not in row


def test_dlq_list_shows_whole_message_and_delivery_ids(hookctl, session, gateway):
    send_envelope(session.client("sqs"), gateway.dlq_url, envelope("github", GITHUB_ID))

    result = hookctl("dlq", "list", "--wait", "0", environ=table_env(gateway))

    row = result.out.splitlines()[1].split()
    assert GITHUB_ID in row and len(row[0]) == 36  # the SQS message id, whole


def test_render_table_narrows_only_cuttable_columns_to_fit():
    columns = (Column("id", "ID", identifier=True), Column("at", "AT"), Column("note", "NOTE", max_width=60))
    rows = [{"id": "x" * 50, "at": "2026-01-31T12:00:00.000Z", "note": "n" * 60}]

    text = render_table(rows, columns, width=96)

    header, row = text.splitlines()
    assert row.startswith("x" * 50 + "  2026-01-31T12:00:00.000Z  n") and row.endswith("...") and len(row) == 96
    # an identifier is never cut, even when nothing else is left to narrow
    assert render_table(rows, columns, width=20).splitlines()[1].startswith("x" * 50)
    with pytest.raises(ValueError, match="never cut"):
        Column("id", "ID", max_width=10, identifier=True)


# -- --output, --json, --query -----------------------------------------------------------------------------------


def test_output_json_and_json_are_the_same_before_or_after_the_command(hookctl, ledger):
    env = table_env(ledger)
    outputs = [
        hookctl(*argv, environ=env).out
        for argv in (
            ("deliveries", "list", "--output", "json"),
            ("--output", "json", "deliveries", "list"),
            ("deliveries", "list", "--json"),
            ("--json", "deliveries", "list"),
        )
    ]
    assert len(set(outputs)) == 1
    assert {row["delivery_id"] for row in json.loads(outputs[0])} == {GITHUB_ID, "evt_1"}
    table = hookctl("deliveries", "list", "--output", "table", environ=env)
    assert table.out.startswith("PROVIDER")


def test_query_selects_from_the_json_result_like_the_aws_cli(hookctl, ledger):
    env = table_env(ledger)

    ids = hookctl("deliveries", "list", "--query", "[?status=='failed'].delivery_id", environ=env)
    one = hookctl("deliveries", "show", "github", GITHUB_ID, "--query", "{s: status, n: attempts}", environ=env)
    as_table = hookctl(
        "deliveries", "list", "--query", "[].{id: delivery_id, status: status}", "--output", "table", environ=env
    )

    assert ids.code == 0 and json.loads(ids.out) == [GITHUB_ID]
    assert json.loads(one.out) == {"s": "failed", "n": 1}
    lines = as_table.out.splitlines()
    assert lines[0].split() == ["ID", "STATUS"] and [GITHUB_ID, "failed"] in [line.split() for line in lines[1:]]


def test_an_invalid_query_is_a_usage_error_before_anything_runs(hookctl, gateway, api_calls):
    result = hookctl("dlq", "redrive", "--mode", "copy", "--query", "[?status==", environ=table_env(gateway))

    assert result.code == 2 and "is not a JMESPath expression" in result.err
    assert api_calls == []  # nothing was moved before the output failed


def test_query_works_on_dlq_and_replay_results(hookctl, session, gateway):
    sqs = session.client("sqs")
    send_envelope(sqs, gateway.dlq_url, envelope("github", GITHUB_ID))
    env = table_env(gateway)

    peeked = hookctl("dlq", "list", "--wait", "0", "--query", "[0].delivery_id", environ=env)
    replayed = hookctl("replay", "github", GITHUB_ID, "--query", "replayed_from", environ=env)

    assert json.loads(peeked.out) == GITHUB_ID
    assert replayed.code == 0, replayed.err
    assert json.loads(replayed.out) == "dlq"


# -- --local -----------------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "argv", [("deliveries", "list"), ("dlq", "list"), ("dlq", "redrive"), ("replay", "github", "x")]
)
def test_local_without_a_running_dev_names_the_problem_with_exit_4(argv, project):
    import io

    from hookctl.main import main

    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--local"], environ={}, stdout=out, stderr=err)

    assert code == 4
    assert "--local: no `hookctl dev` is running" in err.getvalue() and "make dev" in err.getvalue()
    assert str(project) in err.getvalue()


def test_local_excludes_another_endpoint_or_profile(hookctl, project):
    assert hookctl("deliveries", "list", "--local", "--endpoint-url", "http://x").code == 2
    assert hookctl("deliveries", "list", "--local", "--profile", "p").code == 2


def test_send_local_and_url_exclude_each_other(hookctl):
    result = hookctl("send", "github", "--local", "--url", "http://127.0.0.1:3000")
    assert result.code == 2 and "exclude each other" in result.err


# -- help and completion -----------------------------------------------------------------------------------------


def test_bare_hookctl_prints_its_help_and_an_incomplete_command_its_groups(hookctl):
    bare = hookctl()
    group = hookctl("deliveries")

    assert bare.code == 0 and bare.out.startswith("usage: hookctl") and "deliveries" in bare.out and not bare.err
    assert "Exit status" in bare.out
    assert group.code == 2 and "list" in group.err and "show" in group.err and "a subcommand is required" in group.err


BASH = shutil.which("bash")


def complete(script: str, line: str) -> list[str]:
    """What bash offers for ``line`` (a trailing space: a new word) with the completion script loaded."""
    program = f"""
{script}
read -ra COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_hookctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run([BASH, "-c", program], env={"LINE": line}, capture_output=True, text=True, check=True)
    return result.stdout.split()


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_completion_offers_commands_options_and_their_values(hookctl):
    script = hookctl("completion", "bash").out

    assert complete(script, "hookctl deliveries li") == ["list"]
    assert complete(script, "hookctl --json deliveries list --status p") == ["processing", "processed"]
    assert complete(script, "hookctl dlq redrive --mode ") == ["auto", "move-task", "copy"]
    assert complete(script, "hookctl --output ") == ["table", "json"]
    assert "--local" in complete(script, "hookctl replay --l") and "--query" in complete(script, "hookctl dlq list --")
    # an option's value is not taken for a command
    assert complete(script, "hookctl --stack-name dlq d") == ["deliveries", "dlq", "dev", "demo"]


def test_zsh_completion_runs_the_same_script_through_bashcompinit():
    parser = build_parser()
    script = zsh_script(parser)
    assert "bashcompinit" in script and "complete -F _hookctl hookctl" in script
    assert bash_script(parser).split("\n", 2)[2] in script
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-n", "-c", script], check=True)
    if BASH:
        subprocess.run([BASH, "-n", "-c", bash_script(parser)], check=True)


# -- credential and endpoint problems ----------------------------------------------------------------------------


class RaisingCloudFormation:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def describe_stacks(self, **_):
        raise self.error


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (NoCredentialsError(), 3, "no AWS credentials found (set AWS_PROFILE, run `aws configure`, or use --local)"),
        (ProfileNotFound(profile="prod"), 3, "AWS profile 'prod' not found"),
        (NoRegionError(), 3, "no AWS region"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), 4, "cannot reach http://127.0.0.1:1"),
        (
            ClientError(
                {"Error": {"Code": "ExpiredToken", "Message": "The security token included in the request is expired"}},
                "DescribeStacks",
            ),
            3,
            "AWS refused the credentials (DescribeStacks: ExpiredToken",
        ),
    ],
)
def test_credential_and_endpoint_problems_are_named_not_a_missing_resource(error, code, words):
    # Given the stack cannot be described because of the problem
    resources = StackResources(None, environ={}, cloudformation=RaisingCloudFormation(error))

    # When a resource is looked up, then the problem itself surfaces (not "table name is unknown")
    with pytest.raises(type(error)):
        resources.get("table")
    problem = awserrors.classify(error)
    assert problem is not None and problem.exit_code == code and words in problem.message


def test_other_aws_errors_are_not_credential_problems():
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Query")
    assert awserrors.classify(denied) is None
    assert awserrors.classify(ValueError("x")) is None
    # and a stack that does not exist still explains how to name the resource
    missing = ClientError(
        {"Error": {"Code": "ValidationError", "Message": "Stack with id x does not exist"}}, "DescribeStacks"
    )
    with pytest.raises(Exception, match="--table"):
        StackResources("x", environ={}, cloudformation=RaisingCloudFormation(missing)).get("table")


def test_a_credential_problem_during_a_command_exits_3(hookctl, gateway):
    class NoCredentialsSession:
        def client(self, service, **_):
            raise NoCredentialsError()

    result = hookctl("deliveries", "list", environ=table_env(gateway), session_override=NoCredentialsSession())

    assert result.code == 3 and "hookctl: no AWS credentials found" in result.err


def test_importing_the_cli_loads_neither_boto3_nor_pydantic():
    import sys

    # Given a fresh interpreter, when the CLI's entry module is imported (what `hookctl --help` and completion need)
    probe = "import sys, hookctl.main; print(sorted(m for m in ('boto3', 'pydantic') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    # Then the heavy imports wait for the commands that use them
    assert result.stdout.strip() == "[]"
