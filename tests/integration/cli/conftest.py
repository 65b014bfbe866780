"""Fixtures of the hookctl suite: moto in process, a gateway without CloudFormation, and the CLI run in process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from hookctl.main import main

from .gateway import Gateway, create_gateway


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


# One loader for the whole suite: each test gets a fresh session, but the service models are parsed only once
# (that parsing, not moto, is most of the cost of a test).
_LOADER = botocore.loaders.create_loader()


def fresh_session() -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name="us-east-1")


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        yield fresh_session()


@pytest.fixture
def gateway(session: boto3.Session) -> Gateway:
    return create_gateway(session.client("dynamodb"), session.client("sqs"))


@pytest.fixture
def api_calls(session: boto3.Session) -> list[tuple[str, str, dict[str, Any]]]:
    """(service, operation, parameters) of every call made through clients of ``session``."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.service_model.service_name, model.name, dict(params)))

    session.events.register("provide-client-params.*.*", record)
    return calls


@pytest.fixture
def hookctl(session: boto3.Session):
    """Run ``hookctl ARGS`` in process on the moto session; the environment is empty unless given."""

    def run(*argv: str, environ: dict[str, str] | None = None, session_override: Any = None) -> CliRun:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), session=session_override or session, environ=environ or {}, stdout=out, stderr=err)
        return CliRun(code, out.getvalue(), err.getvalue())

    return run
