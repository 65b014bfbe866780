"""GitHub's sending side: ``X-Hub-Signature-256`` (and the legacy SHA-1 ``X-Hub-Signature``) over the raw body, and
the sample deliveries: ``push`` (JSON), ``ping`` and ``push_form`` (content type "form": ``payload=<json>``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from webhook_gateway.verifiers.samples import (
    SAMPLE_BASE_URL,
    SAMPLE_DELIVERY_TIME,
    SampleDelivery,
    Samples,
    Signature,
    iso,
    sample_hex,
    sample_uuid,
)


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """``X-Hub-Signature-256`` (what the gateway checks) and the legacy SHA-1 ``X-Hub-Signature`` GitHub also sends."""
    key = secret.encode("utf-8")
    return {
        "x-hub-signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        "x-hub-signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """GitHub signs the body only: the URL is the one given, the time is not signed."""
    return Signature(url, signature_headers(body, secret))


_REPO_ID = 873201456
_HOOK_ID_JSON = "501234567"
_HOOK_ID_FORM = "501234890"
_SOURCE_IP = "140.82.115.48"  # inside GitHub's published hooks range 140.82.112.0/20


def _user() -> dict[str, Any]:
    return {
        "login": "octocat",
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "gravatar_id": "",
        "url": "https://api.github.com/users/octocat",
        "html_url": "https://github.com/octocat",
        "followers_url": "https://api.github.com/users/octocat/followers",
        "following_url": "https://api.github.com/users/octocat/following{/other_user}",
        "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}",
        "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
        "subscriptions_url": "https://api.github.com/users/octocat/subscriptions",
        "organizations_url": "https://api.github.com/users/octocat/orgs",
        "repos_url": "https://api.github.com/users/octocat/repos",
        "events_url": "https://api.github.com/users/octocat/events{/privacy}",
        "received_events_url": "https://api.github.com/users/octocat/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


_NOREPLY_EMAIL = "583231+octocat@users.noreply.github.com"


def _repository(*, push_event: bool) -> dict[str, Any]:
    owner = _user()
    if push_event:  # push payloads add the owner's name and email to the usual user object
        owner = {"name": "octocat", "email": _NOREPLY_EMAIL} | owner
    api = "https://api.github.com/repos/octocat/webhook-gateway-demo"
    # Push payloads carry created_at/pushed_at as Unix integers; every other event uses ISO 8601 strings.
    created_at: int | str = 1762000000 if push_event else iso(1762000000)
    pushed_at: int | str = SAMPLE_DELIVERY_TIME if push_event else iso(SAMPLE_DELIVERY_TIME - 3600)
    repository: dict[str, Any] = {
        "id": _REPO_ID,
        "node_id": "R_kgDOM0FkMA",
        "name": "webhook-gateway-demo",
        "full_name": "octocat/webhook-gateway-demo",
        "private": False,
        "owner": owner,
        "html_url": "https://github.com/octocat/webhook-gateway-demo",
        "description": "Sample repository for the inbound webhook gateway",
        "fork": False,
        "url": "https://github.com/octocat/webhook-gateway-demo" if push_event else api,
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "git_url": "git://github.com/octocat/webhook-gateway-demo.git",
        "ssh_url": "git@github.com:octocat/webhook-gateway-demo.git",
        "clone_url": "https://github.com/octocat/webhook-gateway-demo.git",
        "homepage": None,
        "size": 142,
        "stargazers_count": 3,
        "watchers_count": 3,
        "language": "Python",
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "archived": False,
        "disabled": False,
        "open_issues_count": 1,
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": ["aws-lambda", "webhooks"],
        "visibility": "public",
        "forks": 0,
        "open_issues": 1,
        "watchers": 3,
        "default_branch": "main",
        "created_at": created_at,
        "updated_at": iso(SAMPLE_DELIVERY_TIME - 86400),
        "pushed_at": pushed_at,
    }
    if push_event:
        repository["stargazers"] = 3
        repository["master_branch"] = "main"
    return repository


def _push_body() -> dict[str, Any]:
    before = sample_hex("github:commit:before", 40)
    first = sample_hex("github:commit:1", 40)
    after = sample_hex("github:commit:2", 40)
    repo_url = "https://github.com/octocat/webhook-gateway-demo"

    def commit(sha: str, message: str, offset: int, modified: list[str], added: list[str]) -> dict[str, Any]:
        author = {"name": "Mona Lisa Octocat", "email": _NOREPLY_EMAIL, "username": "octocat"}
        return {
            "id": sha,
            "tree_id": sample_hex(f"github:tree:{sha}", 40),
            "distinct": True,
            "message": message,
            "timestamp": datetime.fromtimestamp(SAMPLE_DELIVERY_TIME - offset, UTC).isoformat(),
            "url": f"{repo_url}/commit/{sha}",
            "author": author,
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": added,
            "removed": [],
            "modified": modified,
        }

    commits = [
        commit(first, "Verify Stripe signatures at the edge", 420, ["functions/receiver/app.py"], []),
        # Non-ASCII text travels as raw UTF-8: the signature covers those bytes, not an escaped form of them.
        commit(after, "Docs: replay windows — naïve retries are safe", 60, ["README.md"], ["docs/replay.md"]),
    ]
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": _repository(push_event=True),
        "pusher": {"name": "octocat", "email": _NOREPLY_EMAIL},
        "sender": _user(),
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{repo_url}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1],
    }


def _ping_body() -> dict[str, Any]:
    hook_api = f"https://api.github.com/repos/octocat/webhook-gateway-demo/hooks/{_HOOK_ID_JSON}"
    return {
        "zen": "Design for failure.",
        "hook_id": int(_HOOK_ID_JSON),
        "hook": {
            "type": "Repository",
            "id": int(_HOOK_ID_JSON),
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": "********",
                "url": f"{SAMPLE_BASE_URL}/webhooks/github",
            },
            "updated_at": iso(SAMPLE_DELIVERY_TIME - 5),
            "created_at": iso(SAMPLE_DELIVERY_TIME - 5),
            "url": hook_api,
            "test_url": f"{hook_api}/test",
            "ping_url": f"{hook_api}/pings",
            "deliveries_url": f"{hook_api}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        },
        "repository": _repository(push_event=False),
        "sender": _user(),
    }


def _payload(event: str, body: dict[str, Any], *, hook_id: str, form: bool) -> SampleDelivery:
    # GitHub sends compact JSON with raw UTF-8.
    json_text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if form:
        # content_type "form": the JSON travels URL-encoded in the `payload` field; the signature covers these bytes.
        raw = ("payload=" + quote_plus(json_text, safe="")).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    else:
        raw = json_text.encode("utf-8")
        content_type = "application/json"
    return SampleDelivery(
        content_type=content_type,
        body=raw,
        headers={
            "accept": "*/*",
            "content-type": content_type,
            "user-agent": "GitHub-Hookshot/4c2a1e9",
            "x-github-delivery": sample_uuid(f"github:delivery:{event}:{hook_id}"),
            "x-github-event": event,
            "x-github-hook-id": hook_id,
            "x-github-hook-installation-target-id": str(_REPO_ID),
            "x-github-hook-installation-target-type": "repository",
        },
        source_ip=_SOURCE_IP,
    )


def _push() -> SampleDelivery:
    return _payload("push", _push_body(), hook_id=_HOOK_ID_JSON, form=False)


def _push_form() -> SampleDelivery:
    return _payload("push", _push_body(), hook_id=_HOOK_ID_FORM, form=True)


def _ping() -> SampleDelivery:
    return _payload("ping", _ping_body(), hook_id=_HOOK_ID_JSON, form=False)


def new_delivery_id() -> str:
    """A fresh ``X-GitHub-Delivery`` GUID."""
    return str(uuid.uuid4())


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """GUID and hook id are plain headers; each real delivery also has its own body (another push, another zen)."""
    headers = {**sample.headers, "x-github-delivery": delivery_id}
    return SampleDelivery(_body_with(sample, delivery_id), headers, sample.content_type, sample.source_ip)


def _body_with(sample: SampleDelivery, delivery_id: str) -> bytes:
    form = sample.content_type.startswith("application/x-www-form-urlencoded")
    json_text = dict(parse_qsl(sample.body.decode("ascii")))["payload"] if form else sample.body.decode("utf-8")
    document = json.loads(json_text)
    if "zen" in document:
        document["zen"] = f"{document['zen']} ({delivery_id})"
    else:
        document["after"] = hashlib.sha1(delivery_id.encode("utf-8")).hexdigest()
    json_text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return ("payload=" + quote_plus(json_text, safe="")).encode("ascii") if form else json_text.encode("utf-8")


SAMPLES = Samples(
    sign=sign,
    kinds={"push": _push, "ping": _ping, "push_form": _push_form},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    # API Gateway base64-encodes a "form" hook's body: the file shows it
    event_file_names={"push_form": "github_push_base64"},
)
