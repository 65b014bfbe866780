"""`hookctl send --local` finds the running `hookctl dev` from the state file it writes beside the local stack, ignores
the file of one that is gone, and signs for the public URL of a gateway behind a tunnel. No sockets."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hookctl import samples
from hookctl.context import CliError, CommandContext
from hookctl.local.state import NoRunningDev, find_running, read_state, remove_state, state_path, write_state
from hookctl.send import LOCAL_BASE_URL, Job, Sender, resolve_target


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOOKCTL_STACK", raising=False)
    return tmp_path


def running(project: Path, stack: str, port: int, *, pid: int | None = None, public: str | None = None) -> Path:
    path = state_path(project / "template.yaml", stack)
    write_state(
        path,
        {
            "stack_name": stack,
            "pid": os.getpid() if pid is None else pid,
            "api_url": f"http://127.0.0.1:{port}",
            "endpoint_url": "http://127.0.0.1:5999",
            "public_url": public,
        },
    )
    return path


def send_args(**values: Any) -> argparse.Namespace:
    defaults = {"local": True, "url": None, "port": None, "stack_name": None, "secret": None}
    return argparse.Namespace(**{**defaults, **values})


def context() -> CommandContext:
    return CommandContext(session=None, resources=None, stdout=io.StringIO(), stderr=io.StringIO())  # type: ignore[arg-type]


def test_the_state_file_is_beside_the_local_stack_and_removed_only_by_its_writer(project):
    # Given a running hookctl dev's state file
    path = running(project, "webhook-gateway-local", 3007)
    assert path == project / ".local" / "webhook-gateway-local" / "dev.json"
    state = read_state(path)
    assert state is not None and state.api_url == "http://127.0.0.1:3007" and state.alive
    # When another process tries to remove it, then it stays; when its writer does, it goes
    remove_state(path, pid=os.getpid() + 1)
    assert path.exists()
    remove_state(path, pid=os.getpid())
    assert not path.exists()


def test_send_local_goes_to_the_port_the_running_dev_listens_on(project):
    # Given `hookctl dev --port 3007` running
    running(project, "webhook-gateway-local", 3007)
    # When `hookctl send github --local` resolves its target
    urls, _, _, signed = resolve_target(send_args(), context(), ["github"])
    # Then it is that gateway, not :3000
    assert urls == {"github": "http://127.0.0.1:3007/webhooks/github"} and signed == {}


def test_a_stale_state_file_is_ignored_with_a_clear_message(project):
    # Given the state file of a hookctl dev that was killed (its pid is gone)
    running(project, "webhook-gateway-local", 3007, pid=dead_pid())
    # When `send --local` resolves its target
    urls, _, notes, _ = resolve_target(send_args(), context(), ["github"])
    # Then the file is ignored, saying why, and the default port is tried
    assert urls["github"] == f"{LOCAL_BASE_URL}/webhooks/github"
    assert any("no longer running" in note and "dev.json" in note for note in notes)
    assert any("no running `hookctl dev` found" in note for note in notes)


def test_port_overrides_the_state_file(project):
    # Given a running dev on 3007
    running(project, "webhook-gateway-local", 3007)
    # When --port 3011 is given, then it wins
    urls, _, _, _ = resolve_target(send_args(port=3011), context(), ["stripe"])
    assert urls == {"stripe": "http://127.0.0.1:3011/webhooks/stripe"}


def test_several_running_devs_are_told_apart_by_stack_name(project):
    # Given two dev pipelines of different local stacks
    running(project, "webhook-gateway-local", 3007)
    running(project, "other-local", 3008)
    # When a stack is named, then that one is used; unnamed, the default stack's is
    assert find_running("other-local", start=project)[0].api_url == "http://127.0.0.1:3008"
    urls, _, _, _ = resolve_target(send_args(), context(), ["github"])
    assert urls["github"].startswith("http://127.0.0.1:3007/")
    # And a stack that is not running is an error that says which are
    with pytest.raises(CliError, match="running: other-local, webhook-gateway-local"):
        resolve_target(send_args(stack_name="nope"), context(), ["github"])


def test_two_devs_of_non_default_stacks_need_a_stack_name(project):
    running(project, "a-local", 3007)
    running(project, "b-local", 3008)
    with pytest.raises(NoRunningDev, match="--stack-name"):
        find_running(start=project)


def test_behind_a_tunnel_send_local_signs_for_the_public_url_and_sends_to_the_local_port(project):
    # Given `hookctl dev --public-url https://abc.ngrok.app` on port 3007
    running(project, "webhook-gateway-local", 3007, public="https://abc.ngrok.app")
    urls, secrets, notes, signed = resolve_target(send_args(), context(), ["twilio"])
    assert signed == {"twilio": "https://abc.ngrok.app/webhooks/twilio"}
    assert any("signing for https://abc.ngrok.app" in note for note in notes)
    posted: list[tuple[str, str, str]] = []

    class Connection:
        def request(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> None:
            posted.append((method, target, headers["x-twilio-signature"]))

        def getresponse(self) -> Any:
            return type(
                "Response", (), {"status": 200, "read": lambda self: b"", "getheader": lambda self, n, d="": d}
            )()

    sender = Sender(urls, secrets, signed_urls=signed)
    servers: list[tuple[str, str]] = []
    sender._connection = lambda scheme, netloc: servers.append((scheme, netloc)) or Connection()  # type: ignore[method-assign]
    # When a Twilio delivery is sent
    job = Job("twilio", "sms_inbound", samples.new_delivery_id("twilio"))
    result = sender.send(job)
    # Then it went to the local port, signed as Twilio signs the public URL
    assert result.status == 200 and servers == [("http", "127.0.0.1:3007")]
    expected = samples.sign_request("twilio", "sms_inbound", delivery_id=job.delivery_id, url=signed["twilio"])
    assert posted == [("POST", "/webhooks/twilio", expected.headers["x-twilio-signature"])]
