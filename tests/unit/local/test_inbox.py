"""The local inbox's JSON API and guards, without a browser and without sockets: the tracker is fed the facts the
functions would give it (log lines, exchanges, consumer outcomes), requests are handed to the HTTP API's handler on
in-memory connections, and the ledger and archive live in moto's in-process DynamoDB and S3."""

from __future__ import annotations

import base64
import json
import shlex
import time
import tomllib
from datetime import UTC, datetime
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hookctl.local.console import Tracker
from hookctl.local.gateway import Exchange, HttpApi, Route
from hookctl.local.inbox import (
    PREFIX,
    STATIC_DIR,
    InboxApi,
    InboxBackend,
    InboxRing,
    Instance,
    curl_command,
)
from tests.integration.consumer.aws import create_deliveries_table
from tests.unit.local.test_gateway_answers import Recorder, exchange
from webhook_gateway.consumer.archive import archive_delivery
from webhook_gateway.envelope import Envelope

ROOT = Path(__file__).resolve().parents[3]
BODY = b'{"ref":"refs/heads/main","zen":"it\'s \\"quoted\\""}'
HEADERS = [
    ("Host", "127.0.0.1:3000"),
    ("content-type", "application/json"),
    ("x-github-event", "push"),
    ("x-hub-signature-256", "sha256=abc"),
    ("Content-Length", str(len(BODY))),
]
GET_HEADERS = {"host": "127.0.0.1:3000"}
POST_HEADERS = {**GET_HEADERS, "x-inbox": "1", "content-type": "application/json"}


def worker(function: str) -> Any:
    return SimpleNamespace(spec=SimpleNamespace(logical_id=function), label=function)


def feed_accepted(tracker: Tracker, delivery_id: str = "1:abc", invocation: str = "inv-1") -> None:
    """What the receiver and the gateway report for one accepted GitHub delivery."""
    line = {
        "message": "delivery accepted",
        "function_request_id": invocation,
        "provider": "github",
        "delivery_id": delivery_id,
        "event_type": "push",
        "secret_version": "previous",
    }
    tracker.function_output(worker("GithubReceiverFunction"), json.dumps(line))
    tracker.exchange(
        Exchange(
            method="POST",
            path="/webhooks/github",
            route_key="POST /webhooks/github",
            function="GithubReceiverFunction",
            status=202,
            request_id="req-1",
            source_ip="127.0.0.1",
            duration_ms=3.0,
            invocation_id=invocation,
            request_headers=HEADERS,
            request_body=BODY,
        ),
        provider="github",
        invocation_id=invocation,
    )


def feed_rejected(tracker: Tracker) -> None:
    line = {"message": "delivery rejected", "function_request_id": "inv-2", "reason": "signature_mismatch"}
    tracker.function_output(worker("StripeReceiverFunction"), json.dumps(line))
    tracker.exchange(
        Exchange(
            method="POST",
            path="/webhooks/stripe",
            route_key="POST /webhooks/stripe",
            function="StripeReceiverFunction",
            status=401,
            request_id="req-2",
            source_ip="::1",
            duration_ms=1.0,
            invocation_id="inv-2",
            request_headers=[("content-type", "application/json")],
            request_body=b"{}",
        ),
        provider="stripe",
        invocation_id="inv-2",
    )


def feed_outcome(tracker: Tracker, delivery_id: str = "1:abc", replay: dict[str, Any] | None = None) -> None:
    """The consumer processed one record of the delivery (a replay copy when ``replay`` is given)."""
    attributes = {
        name: {"stringValue": value, "dataType": "String"}
        for name, value in (("provider", "github"), ("delivery_id", delivery_id), ("event_type", "push"))
    }
    record = {
        "messageId": f"m-{time.monotonic_ns()}",
        "messageAttributes": attributes,
        "attributes": {"ApproximateReceiveCount": "1"},
        "body": json.dumps({"replay": replay} if replay else {}),
    }
    outcome = SimpleNamespace(
        invocation=SimpleNamespace(ok=True, error=None),
        killed=False,
        records=[record],
        duration_ms=5.0,
        failed_ids=set(),
        whole_batch_failed=False,
    )
    tracker.batch(outcome)


@pytest.fixture
def fed() -> tuple[Tracker, InboxRing, InboxApi]:
    ring = InboxRing()
    tracker = Tracker(observers=[ring])
    return tracker, ring, InboxApi(ring, None, port=lambda: 3000)


def get(api: InboxApi, target: str) -> tuple[int, Any]:
    answer = api.respond("GET", target, GET_HEADERS)
    return answer.status, json.loads(answer.body)


# -- the page is package data --------------------------------------------------------------------------------------


def test_the_page_files_are_package_data_found_by_importlib_resources():
    """Given the installed hookctl package
    When the inbox's files are looked up as package resources, and pyproject's package-data globs are read
    Then index.html, inbox.js and inbox.css are found, and every file of the folder is in a wheel's globs."""
    folder = resources.files("hookctl.local").joinpath(STATIC_DIR)
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    assert names == ["inbox.css", "inbox.js", "index.html"]
    assert "<script src=\"/_inbox/static/inbox.js\"" in folder.joinpath("index.html").read_text()
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hookctl.local"]
    assert all(any(fnmatch(f"{STATIC_DIR}/{name}", glob) for glob in globs) for name in names)


def test_the_page_is_served_with_a_strict_content_security_policy_and_the_static_files_with_their_types(fed):
    """Given the inbox
    When the page and its files are asked for, and a name outside the folder
    Then they come with their content types and a CSP allowing only this origin's scripts; the other is 404."""
    _, _, api = fed
    page = api.respond("GET", PREFIX, GET_HEADERS)
    assert page.status == 200 and page.content_type.startswith("text/html")
    script = api.respond("GET", f"{PREFIX}/static/inbox.js", GET_HEADERS)
    assert script.status == 200 and script.content_type.startswith("text/javascript")
    assert api.respond("GET", f"{PREFIX}/static/../inbox.py", GET_HEADERS).status == 404
    assert api.respond("GET", f"{PREFIX}/static/inbox.py", GET_HEADERS).status == 404
    # through the HTTP API's handler: the security headers are on the answer
    gateway = HttpApi([], Recorder(), listen=False)
    gateway.mount(PREFIX, api.serve)
    response = exchange(gateway, b"GET /_inbox HTTP/1.1\r\nhost: 127.0.0.1:3000\r\nconnection: close\r\n\r\n")
    assert response is not None and response.status == 200
    policy = response.getheader("content-security-policy") or ""
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.getheader("access-control-allow-origin") is None


# -- the guards ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "peer", "status"),
    [
        ("GET", {"host": "127.0.0.1:3000"}, "127.0.0.1", None),
        ("GET", {"host": "localhost:3000"}, "127.0.0.1", None),
        ("GET", {"host": "[::1]:3000"}, "::1", None),
        ("GET", {"host": "127.0.0.1:3000"}, "192.168.1.20", 403),  # another machine
        ("GET", {"host": "rebound.example:3000"}, "127.0.0.1", 403),  # DNS rebinding
        ("GET", {"host": "abc.ngrok.app"}, "127.0.0.1", 403),  # a tunnel to 127.0.0.1
        ("GET", {"host": "127.0.0.1:3000", "x-forwarded-for": "203.0.113.9"}, "127.0.0.1", 403),
        ("GET", {"host": "127.0.0.1:3000", "sec-fetch-site": "cross-site"}, "127.0.0.1", 403),  # another site's fetch
        ("GET", {"host": "127.0.0.1:3000", "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}, "127.0.0.1",
         None),  # a link to the page
        ("POST", POST_HEADERS, "127.0.0.1", None),
        ("POST", {**POST_HEADERS, "x-inbox": ""}, "127.0.0.1", 403),  # a cross-site form or simple fetch
        ("POST", {**POST_HEADERS, "content-type": "text/plain"}, "127.0.0.1", 415),
        ("POST", {**POST_HEADERS, "origin": "https://evil.example"}, "127.0.0.1", 403),
        ("POST", {**POST_HEADERS, "origin": "http://127.0.0.1:3000"}, "127.0.0.1", None),
        ("OPTIONS", GET_HEADERS, "127.0.0.1", 405),  # no CORS preflight is ever answered
    ],
)
def test_only_this_machine_on_a_loopback_host_is_answered_and_posts_need_the_inbox_header(
    fed, method, headers, peer, status
):
    """Given the inbox
    When a request comes from this or another machine, with a loopback or another Host, through a proxy or not, and a
    POST with or without X-Inbox and a JSON body
    Then only a loopback peer with a loopback Host and no proxy headers is answered, and a POST only with both."""
    _, _, api = fed
    refusal = api.refusal(method, headers, peer)
    assert (refusal.status if refusal else None) == status


def test_on_any_host_any_peer_is_answered_but_the_host_must_still_be_an_address(fed):
    """Given the inbox served with --inbox-on-any-host
    When another machine asks by IP address, and a page asks under a domain name
    Then the first is answered and the second (what DNS rebinding sends) refused."""
    ring = fed[1]
    api = InboxApi(ring, None, port=lambda: 3000, any_host=True)
    assert api.refusal("GET", {"host": "192.168.1.5:3000"}, "192.168.1.20") is None
    assert api.refusal("GET", {"host": "rebound.example:3000"}, "192.168.1.20").status == 403


def test_the_inbox_is_answered_before_the_routes_and_reported_to_no_one():
    """Given an HTTP API with a catch-all route and the inbox mounted
    When /_inbox/api/deliveries is asked for, and a refused request too
    Then no function is invoked and no exchange is reported; without the mount the route gets it."""
    recorder, seen = Recorder(), []
    gateway = HttpApi([Route("ANY", "$default", "Catch")], recorder, listen=False, on_exchange=seen.append)
    ring = InboxRing()
    gateway.mount(PREFIX, InboxApi(ring, None, port=lambda: 3000).serve)
    ok = exchange(gateway, b"GET /_inbox/api/deliveries HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    refused = exchange(gateway, b"GET /_inbox HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n")
    assert ok is not None and ok.status == 200 and json.loads(ok.read())["items"] == []
    assert refused is not None and refused.status == 403
    assert recorder.events == [] and seen == []
    plain = HttpApi([Route("ANY", "$default", "Catch")], recorder, listen=False)
    exchange(plain, b"GET /_inbox HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    assert len(recorder.events) == 1


def test_a_post_with_the_header_reaches_its_endpoint_through_the_handler():
    """Given the inbox mounted, without a stack
    When the page's replay POST arrives with X-Inbox and a JSON body
    Then it reaches the endpoint (which says what it needs), not the guard."""
    gateway = HttpApi([], Recorder(), listen=False)
    gateway.mount(PREFIX, InboxApi(InboxRing(), None, port=lambda: 3000).serve)
    body = b'{"provider": "github"}'
    raw = (
        b"POST /_inbox/api/replay HTTP/1.1\r\nhost: 127.0.0.1\r\nx-inbox: 1\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )
    response = exchange(gateway, raw)
    assert response is not None and response.status == 400
    assert "delivery_id" in json.loads(response.read())["message"]


# -- what the tracker saw ------------------------------------------------------------------------------------------


def test_an_accepted_delivery_is_listed_with_its_request_verification_logs_and_outcome(fed):
    """Given the tracker's facts of an accepted GitHub delivery (verified with the previous secret) then processed
    When the list and the delivery are asked for
    Then it is listed as processed, and its detail has the request as received, the secret version, its log line
    and a timeline of the HTTP answer then the consumer's outcome."""
    tracker, _, api = fed
    feed_accepted(tracker)
    status, page = get(api, f"{PREFIX}/api/deliveries")
    assert status == 200 and [(i["key"], i["status"]) for i in page["items"]] == [("github/1:abc", "received")]
    feed_outcome(tracker)
    status, page = get(api, f"{PREFIX}/api/deliveries")
    assert page["items"][0]["status"] == "processed" and page["version"] >= 2
    status, detail = get(api, f"{PREFIX}/api/delivery?provider=github&id=1%3Aabc")
    assert status == 200
    assert detail["verification"] == {"status": 202, "result": "verified", "secret_version": "previous"}
    assert detail["request"]["headers"][2] == ["x-github-event", "push"]
    assert json.loads(detail["request"]["body_pretty"]) == json.loads(BODY)
    assert detail["request"]["body_raw"] == BODY.decode()
    assert [event["what"] for event in detail["timeline"]] == ["HTTP 202", "processed"]
    assert [line["message"] for line in detail["logs"]] == ["delivery accepted"]


def test_a_replay_copy_and_a_second_copy_are_events_of_the_same_delivery(fed):
    """Given a processed delivery
    When a replay copy is processed, then a duplicate copy acknowledged
    Then both are in its timeline (the replay named), and it stays processed."""
    tracker, ring, api = fed
    feed_accepted(tracker)
    feed_outcome(tracker)
    feed_outcome(tracker, replay={"id": "0123456789abcdef", "requested_at": "2026-01-01T00:00:00Z"})
    line = {"message": "duplicate delivery acknowledged", "message_id": "m-dup", "provider": "github",
            "delivery_id": "1:abc"}
    tracker.function_output(worker("ConsumerFunction"), json.dumps(line))
    attributes = {n: {"stringValue": v} for n, v in (("provider", "github"), ("delivery_id", "1:abc"))}
    tracker.batch(SimpleNamespace(invocation=SimpleNamespace(ok=True, error=None), killed=False, duration_ms=1.0,
                                  records=[{"messageId": "m-dup", "messageAttributes": attributes, "body": "{}"}],
                                  failed_ids=set(), whole_batch_failed=False))
    entry = ring.get("github/1:abc")
    assert entry is not None and entry.status == "processed"
    assert [event["what"] for event in entry.events] == ["HTTP 202", "processed", "processed (replay 01234567)",
                                                         "duplicate"]
    assert "duplicate delivery acknowledged" in [line["message"] for line in entry.logs]


def test_a_rejected_request_is_listed_with_its_reason_and_found_by_the_filters(fed):
    """Given an accepted GitHub delivery and a Stripe request rejected for its signature
    When the list is filtered by status, provider, event type and text
    Then each filter keeps what matches, and the rejected request's detail names its reason."""
    tracker, _, api = fed
    feed_accepted(tracker)
    feed_rejected(tracker)

    def keys(query: str) -> list[str]:
        return [item["key"] for item in get(api, f"{PREFIX}/api/deliveries?{query}")[1]["items"]]

    assert keys("") == ["request/req-2", "github/1:abc"]  # newest first
    assert keys("status=rejected") == keys("provider=stripe") == keys("q=SIGNATURE") == ["request/req-2"]
    assert keys("type=push") == ["github/1:abc"] and keys("type=pus") == []
    status, detail = get(api, f"{PREFIX}/api/delivery?request=req-2")
    assert status == 200
    assert detail["verification"]["reason"] == "signature_mismatch" and detail["verification"]["status"] == 401
    assert get(api, f"{PREFIX}/api/delivery?request=nope")[0] == 404


def test_the_ring_keeps_the_newest_deliveries():
    """Given a ring of three entries
    When five deliveries arrive
    Then the three newest are kept, newest first."""
    ring = InboxRing(max_entries=3)
    tracker = Tracker(observers=[ring])
    for n in range(5):
        feed_outcome(tracker, delivery_id=f"d{n}")
    assert [entry.delivery_id for entry in ring.entries()] == ["d4", "d3", "d2"]


def test_the_event_stream_says_when_something_changed_and_ends_when_the_inbox_closes(fed):
    """Given the event stream open
    When a delivery arrives, nothing happens for a while, and the inbox closes
    Then the stream sends the new version, a keepalive comment, and ends."""
    tracker, ring, api = fed
    events = api.events(keepalive=0.05)
    assert b'"version": 0' in next(events)
    feed_outcome(tracker)
    assert f'"version": {ring.version}'.encode() in next(events)
    assert next(events) == b": keepalive\n\n"
    ring.close()
    assert list(events) == []


# -- copy as curl --------------------------------------------------------------------------------------------------


def test_copy_as_curl_sends_the_same_headers_and_exact_body(fed):
    """Given a delivery whose body holds quotes
    When its curl command is read back as a shell would split it
    Then it POSTs to the route with the sender's headers (not Host nor Content-Length) and the exact body."""
    tracker, _, api = fed
    feed_accepted(tracker)
    detail = get(api, f"{PREFIX}/api/delivery?provider=github&id=1%3Aabc")[1]
    words = shlex.split(detail["curl"])
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:3000/webhooks/github"]
    headers = [words[i + 1] for i, word in enumerate(words) if word == "-H"]
    assert headers == ["content-type: application/json", "x-github-event: push", "x-hub-signature-256: sha256=abc"]
    assert words[words.index("--data-binary") + 1].encode() == BODY


def test_copy_as_curl_decodes_a_binary_body_from_base64():
    """Given a request whose body is not text
    When its curl command is made
    Then the exact bytes are piped in from base64."""
    raw = b"\xff\x00\x01"
    command = curl_command(
        {"method": "POST", "url": "http://127.0.0.1:3000/webhooks/x", "headers": [], "size": 3, "body_raw": None,
         "body_base64": base64.b64encode(raw).decode()}
    )
    assert command.startswith("printf %s /wAB | base64 -d | curl ") and command.endswith("--data-binary @-")


# -- the ledger and the archive ------------------------------------------------------------------------------------


@pytest.fixture
def stack() -> Any:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_deliveries_table(dynamodb, "deliveries")
        s3.create_bucket(Bucket="archive")
        clients = {"dynamodb": dynamodb, "s3": s3, "sqs": boto3.client("sqs", region_name="us-east-1")}
        yield InboxBackend(
            table="deliveries",
            queue_url="",
            dlq_url="",
            client=clients.__getitem__,
            api_url=lambda: "http://127.0.0.1:3000",
            instances={"github": Instance("github", "github", "/webhooks/github")},
            secret_for=lambda instance: "unused",
        )


def test_a_delivery_only_the_ledger_knows_is_listed_with_its_timeline_and_its_archived_request(stack):
    """Given a failed delivery in the ledger (sent before this inbox started) with its archive
    When the list and the delivery are asked for
    Then it is listed from the ledger, and its detail has the ledger's timeline (received, claimed, failed with the
    error, the retry due) and the request rebuilt from the archive: the forwarded headers and the exact body."""
    item = {
        "provider": {"S": "github"},
        "delivery_id": {"S": "9:old"},
        "status": {"S": "failed"},
        "event_type": {"S": "push"},
        "attempts": {"N": "1"},
        "received_at": {"S": "2026-01-01T10:00:00.000Z"},
        "first_seen_at": {"S": "2026-01-01T10:00:00.500Z"},
        "last_attempt_at": {"S": "2026-01-01T10:00:00.500Z"},
        "next_attempt_at": {"S": "2026-01-01T10:01:00.500Z"},
        "last_error": {"S": "RuntimeError: the handler failed"},
    }
    stack.client("dynamodb").put_item(TableName="deliveries", Item=item)
    envelope = Envelope(
        provider="github",
        delivery_id="9:old",
        event_type="push",
        received_at=datetime(2026, 1, 1, 10, tzinfo=UTC),
        headers={"x-github-event": "push", "content-type": "application/json"},
        **Envelope.inline_body_fields(BODY),
    )
    archive_delivery(envelope, table_name="deliveries", bucket="archive", now=time.time(), retention_days=1,
                     inline_max_bytes=100_000, dynamodb=stack.client("dynamodb"), s3=stack.client("s3"))
    api = InboxApi(InboxRing(), stack, port=lambda: 3000)
    page = get(api, f"{PREFIX}/api/deliveries?status=failed")[1]
    assert [(i["key"], i["seen"], i["detail"]) for i in page["items"]] == [
        ("github/9:old", False, "RuntimeError: the handler failed")
    ]
    detail = get(api, f"{PREFIX}/api/delivery?provider=github&id=9%3Aold")[1]
    assert [(e["what"], e["source"]) for e in detail["timeline"]] == [
        ("received", "ledger"),
        ("claimed", "ledger"),
        ("failed", "ledger"),
        ("retry due", "ledger"),
    ]
    assert detail["request"]["source"] == "archive" and detail["request"]["body_raw"] == BODY.decode()
    words = shlex.split(detail["curl"])
    assert "x-github-event: push" in words and words[words.index("--data-binary") + 1].encode() == BODY
    assert get(api, f"{PREFIX}/api/delivery?provider=github&id=nope")[0] == 404


def test_the_send_form_offers_each_instance_with_its_delivery_kinds(stack):
    """Given a stack with a GitHub receiver
    When the providers are asked for
    Then GitHub is offered with its delivery kinds (no handshake), and the three variants."""
    api = InboxApi(InboxRing(), stack, port=lambda: 3000)
    offered = get(api, f"{PREFIX}/api/providers")[1]
    assert offered["providers"][0]["name"] == "github" and "push" in offered["providers"][0]["kinds"]
    assert offered["variants"] == ["valid", "duplicate", "forged"]
    bad = api.respond("POST", f"{PREFIX}/api/send", POST_HEADERS, b'{"provider": "nope"}')
    assert bad.status == 400


# -- wiring --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "inbox", "any_host", "note"),
    [
        ("0.0.0.0", True, False, "off: the HTTP API listens on 0.0.0.0, not loopback (--inbox-on-any-host)"),
        ("127.0.0.1", False, False, ""),  # --no-inbox
    ],
)
def test_the_inbox_is_not_mounted_off_loopback_nor_with_no_inbox(host, inbox, any_host, note):
    """Given hookctl dev's HTTP API on a non-loopback address, or --no-inbox
    When the pipeline mounts its inbox
    Then /_inbox is not mounted (the gateway answers 404 there), and the banner's note says why when it was asked."""
    from hookctl.local.runner import LocalConfig, LocalPipeline

    pipeline = LocalPipeline(
        LocalConfig(template=ROOT / "template.yaml", host=host, inbox=inbox, inbox_any_host=any_host)
    )
    pipeline.api = HttpApi([], Recorder(), host=host, listen=False)
    pipeline._mount_inbox()
    assert pipeline.inbox is None and pipeline.api.mounted(PREFIX) is None
    assert pipeline.inbox_note == note


def test_an_observer_that_fails_does_not_stop_the_console():
    """Given a tracker with an observer that raises
    When a delivery's facts arrive
    Then the tracker still counts it, and the other observers still see it."""
    seen: list[str] = []

    def broken(kind: str, facts: dict[str, Any]) -> None:
        raise RuntimeError("observer bug")

    tracker = Tracker(observers=[broken, lambda kind, facts: seen.append(kind)])
    feed_accepted(tracker)
    assert tracker.summary()["accepted"] == 1
    assert seen == ["log", "exchange"]
