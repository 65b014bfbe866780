"""Adding a provider instance is a row in the template's Providers mapping and a name in the Receivers list, nothing
else: the local pipeline (the same template reader as the contract tests) then runs its receiver on its own route,
with its own secret and options, and the consumer records its deliveries under its name."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hookctl.local.runner import LocalConfig, LocalPipeline
from hookctl.main import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
STACK = "hookctl-instances"
ACME_SECRET = "acme-shared-key-for-the-test"
ACME_OPTIONS = {
    "signature_header": "X-Acme-Signature",
    "signature_prefix": "sha256=",
    "delivery_id_pointer": "/id",
    "event_type_pointer": "/type",
}
# The two lines a user adds to template.yaml for a sender the gateway does not list (docs/providers/generic_hmac.md).
ACME_ROW = (
    "    Acme: {Id: acme, Kind: generic_hmac, Title: Acme, Path: /webhooks/acme, Method: POST,\n"
    f"           Options: '{json.dumps(ACME_OPTIONS)}', Secret: \"the key Acme signs with\"}}\n"
)
# A second sender on an existing kind: OpenAI is Standard Webhooks.
OPENAI_ROW = (
    "    Openai: {Id: openai, Kind: standard_webhooks, Title: OpenAI, Path: /webhooks/openai, Method: POST,\n"
    "             Options: \"{}\", Secret: \"the endpoint's whsec_ signing secret\"}\n"
)


def with_instances(directory: Path, rows: str, names: list[str]) -> Path:
    """template.yaml with ``rows`` added to the Providers mapping and ``names`` to the Receivers list, in
    ``directory`` (beside links to the code it builds from)."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    marker = "  Providers:\n"
    assert marker in text
    text = text.replace(marker, marker + rows, 1)
    start = text.index("&providers [") + len("&providers [")
    end = text.index("]", start)
    listed = [name.strip() for name in text[start:end].split(",")]
    text = text[:start] + ", ".join(sorted(listed + names)) + text[end:]
    for code in ("functions", "layers"):
        os.symlink(ROOT / code, directory / code)
    path = directory / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    work = tmp_path_factory.mktemp("instances")
    config = LocalConfig(
        template=with_instances(work, ACME_ROW + OPENAI_ROW, ["Acme", "Openai"]),
        stack_name=STACK,
        port=0,
        endpoint_port=0,
        log_dir=work / "logs",
        environ={"HOOKCTL_ACME_SECRET": ACME_SECRET},
        prewarm=False,  # these tests call a few of the functions: cold-start only those
    )
    with LocalPipeline(config) as running:
        yield running


def post(pipeline: LocalPipeline, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers={"content-type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def hookctl(pipeline: LocalPipeline, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    environ = {"HOOKCTL_STACK": STACK, "AWS_ENDPOINT_URL": pipeline.endpoint.url}
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = pipeline.endpoint.url
    try:
        code = main(list(argv), session=session, environ=environ, stdout=out, stderr=err)
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
    return code, out.getvalue(), err.getvalue()


def test_a_generic_hmac_instance_verifies_with_its_own_options_and_secret(pipeline: LocalPipeline) -> None:
    # Given Acme's delivery, signed as Acme documents it (not as the gateway's samples do)
    body = json.dumps({"id": "evt_acme_0001", "type": "invoice.paid", "amount": 4200}).encode()
    signature = "sha256=" + hmac.new(ACME_SECRET.encode(), body, hashlib.sha256).hexdigest()

    # When it is POSTed to the instance's route
    status, answer = post(pipeline, "/webhooks/acme", body, {"x-acme-signature": signature})

    # Then the receiver configured from the template's Options accepted it under the signed id from the body
    assert status == 202, answer
    assert json.loads(answer)["delivery_id"] == "evt_acme_0001"
    assert pipeline.wait_until_drained(60)
    code, out, err = hookctl(pipeline, "deliveries", "show", "acme", "evt_acme_0001", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "processed" and record["event_type"] == "invoice.paid"


def test_the_instance_refuses_the_default_scheme_and_other_secrets(pipeline: LocalPipeline) -> None:
    body = json.dumps({"id": "evt_acme_0002", "type": "invoice.paid"}).encode()
    # Signed with the generic_hmac default scheme (no prefix, x-signature): not how Acme is configured
    plain = hmac.new(ACME_SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, answer = post(pipeline, "/webhooks/acme", body, {"x-signature": plain})
    assert (status, json.loads(answer)["error"]) == (401, "missing_signature")
    # Acme's scheme, another key (the default generic_hmac instance's sample secret)
    forged = "sha256=" + hmac.new(b"sample-generic-hmac-secret", body, hashlib.sha256).hexdigest()
    status, answer = post(pipeline, "/webhooks/acme", body, {"x-acme-signature": forged})
    assert (status, json.loads(answer)["error"]) == (401, "signature_mismatch")


def test_the_default_instance_of_the_kind_keeps_its_own_route_and_defaults(pipeline: LocalPipeline) -> None:
    # The generic_hmac row of template.yaml is untouched by Acme's: its sample delivery still verifies there
    code, out, err = hookctl(pipeline, "send", "generic_hmac", "--url", pipeline.api_url, "--json")
    assert code == 0, err


def test_a_standard_webhooks_instance_takes_the_kinds_samples_under_its_own_name(pipeline: LocalPipeline) -> None:
    # Given an OpenAI instance of standard_webhooks, seeded (no HOOKCTL_OPENAI_SECRET) with its kind's sample secret
    # When hookctl sends the kind's sample to the instance
    code, out, err = hookctl(
        pipeline, "send", "standard_webhooks", "response.completed", "--as", "openai", "--url", pipeline.api_url,
        "--delivery-id", "evt_openai_0001", "--json",
    )
    # Then it was accepted on /webhooks/openai and recorded under the instance's name
    assert code == 0, err
    assert pipeline.wait_until_drained(60)
    code, out, err = hookctl(pipeline, "deliveries", "show", "openai", "evt_openai_0001", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "processed"
    # And the standard_webhooks instance knows nothing of it: separate ledgers by name
    code, _, _ = hookctl(pipeline, "deliveries", "show", "standard_webhooks", "evt_openai_0001", "--json")
    assert code != 0


def test_as_takes_one_provider_and_a_lower_case_name(pipeline: LocalPipeline) -> None:
    for argv in (["all", "--as", "openai"], ["standard_webhooks", "--as", "OpenAI"]):
        code, _, err = hookctl(pipeline, "send", *argv, "--url", pipeline.api_url)
        assert code == 2 and "--as" in err, err
