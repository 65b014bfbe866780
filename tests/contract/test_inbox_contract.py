"""The inbox is a local page only: the deployed stack never serves it. No route of template.yaml (expanded, every
provider's receiver included) is under /_inbox, no Lambda code mentions it, and the local HTTP API answers it only
when ``hookctl dev`` mounts the inbox."""

from __future__ import annotations

from pathlib import Path

from hookctl.local.gateway import HttpApi, Route
from hookctl.local.inbox import PREFIX
from hookctl.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_CODE = (ROOT / "functions", ROOT / "layers" / "gateway" / "webhook_gateway")


def test_no_route_of_the_template_is_under_the_inbox_prefix():
    """Given template.yaml with its ForEach loops expanded
    When every function's HTTP API routes are listed
    Then none is /_inbox or below it, nor a catch-all ($default, a greedy path at the root) that could answer it."""
    template = Template(ROOT / "template.yaml", stack_name="contract", region="us-east-1")
    paths = [
        str(template.resolve((event.get("Properties") or {}).get("Path", "$default")))
        for function in template.of_type("AWS::Serverless::Function").values()
        for event in ((function.get("Properties") or {}).get("Events") or {}).values()
        if event.get("Type") == "HttpApi"
    ]
    assert "/webhooks/github" in paths, paths
    for path in paths:
        assert not path.startswith(PREFIX), path
        assert path != "$default" and not path.startswith("/{"), path


def test_no_lambda_code_serves_or_mentions_the_inbox():
    """Given the receiver, consumer and layer source
    When it is searched for the inbox's prefix
    Then it is nowhere: the page and its API live in the CLI only (hookctl.local.inbox)."""
    mentions = [
        path
        for folder in LAMBDA_CODE
        for path in folder.rglob("*.py")
        if PREFIX in path.read_text(encoding="utf-8")
    ]
    assert mentions == []


def test_the_local_http_api_answers_the_inbox_only_when_it_is_mounted():
    """Given the local HTTP API with the template's routes and no inbox mounted
    When /_inbox is looked up
    Then no route and no mount answers it (404, as API Gateway would answer)."""
    api = HttpApi([Route("POST", "/webhooks/github", "GithubReceiverFunction")], lambda f, e: None, listen=False)
    assert api.mounted(PREFIX) is None and api.route_for("GET", PREFIX) is None
