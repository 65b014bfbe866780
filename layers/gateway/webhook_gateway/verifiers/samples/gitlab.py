"""GitLab's sending side, and the sample deliveries ``push`` (the default), ``merge_request`` and ``pipeline``.

The secret decides how a sample is authenticated, as it does for the gateway: a secret token is sent as is in
``X-Gitlab-Token`` (line breaks removed, as GitLab does); a signing token ``whsec_<base64>`` signs the delivery the
Standard Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``), with no
``X-Gitlab-Token``. GitLab sends ``webhook-id`` equal to ``Idempotency-Key``; the signer sees only the body, so each
sample remembers its key by its body (and another delivery, ``with_delivery_id``, also has another body).

Headers and payloads follow GitLab's documentation (webhook events, "delivery headers") and its ``WebHookService``:
compact JSON with raw UTF-8, ``User-Agent: GitLab/<version>``, ``X-Gitlab-Instance`` the instance's base URL, a
fresh ``X-Gitlab-Webhook-UUID`` per request.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from webhook_gateway.verifiers.samples import (
    SAMPLE_DELIVERY_TIME,
    SampleDelivery,
    Samples,
    Signature,
    iso,
    sample_hex,
    sample_uuid,
    standard_webhooks,
)

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "GitLab/18.6.1"
INSTANCE = "https://gitlab.com"
SOURCE_IP = "34.74.90.66"  # inside 34.74.90.64/28, GitLab.com's published webhook range
SIGNING_TOKEN_PREFIX = "whsec_"
# A secret token for token-mode samples (the sample secret itself is a signing token).
SAMPLE_SECRET_TOKEN = "sample-gitlab-secret-token"
_LINE_BREAK = re.compile(r"\r?\n")

_PROJECT_ID = 61231478
_PROJECT_PATH = "acme/webhook-gateway-demo"
_WEB_URL = f"{INSTANCE}/{_PROJECT_PATH}"


# Signing ------------------------------------------------------------------------------------------------------------


# Body digest -> the Idempotency-Key of the sample built with that body. GitLab signs its Idempotency-Key as
# webhook-id, but the signer is given the body only: each sample (and each with_delivery_id copy) records its key
# here, so that the signed id is the sample's own.
_IDEMPOTENCY_KEYS: dict[str, str] = {}


def _remember(sample: SampleDelivery) -> SampleDelivery:
    _IDEMPOTENCY_KEYS[hashlib.sha256(sample.body).hexdigest()] = sample.headers["idempotency-key"]
    return sample


def signed_webhook_id(body: bytes) -> str:
    """The ``webhook-id`` (= ``Idempotency-Key``) a signed sample carries: the key of the sample built with this body,
    else (another body) a UUID derived from the body."""
    digest = hashlib.sha256(body).hexdigest()
    return _IDEMPOTENCY_KEYS.get(digest) or sample_uuid(f"gitlab:idempotency-key:{digest}")


def signature_headers(body: bytes, secret: str, sent_at: float) -> dict[str, str]:
    if not secret.startswith(SIGNING_TOKEN_PREFIX):
        return {"x-gitlab-token": _LINE_BREAK.sub("", secret)}
    webhook_id = signed_webhook_id(body)
    timestamp = int(sent_at)
    return {
        "idempotency-key": webhook_id,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks.signature(webhook_id, timestamp, body, secret),
    }


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    """GitLab signs no URL; a secret token signs nothing at all (it is sent as is)."""
    return Signature(url, signature_headers(body, secret, sent_at))


def signature_time(headers: Mapping[str, str]) -> int | None:
    timestamp = headers.get("webhook-timestamp", "")
    return int(timestamp) if timestamp.isdigit() else None


# Payloads -----------------------------------------------------------------------------------------------------------


def _user() -> dict[str, Any]:
    return {
        "id": 4183211,
        "name": "Jenny Lindqvist",
        "username": "jlindqvist",
        "avatar_url": "https://secure.gravatar.com/avatar/" + sample_hex("gitlab:avatar", 64) + "?s=80&d=identicon",
        "email": "[REDACTED]",
    }


def _project() -> dict[str, Any]:
    return {
        "id": _PROJECT_ID,
        "name": "webhook-gateway-demo",
        "description": "Sample project for the inbound webhook gateway",
        "web_url": _WEB_URL,
        "avatar_url": None,
        "git_ssh_url": f"git@gitlab.com:{_PROJECT_PATH}.git",
        "git_http_url": f"{_WEB_URL}.git",
        "namespace": "Acme",
        "visibility_level": 0,
        "path_with_namespace": _PROJECT_PATH,
        "default_branch": "main",
        "ci_config_path": "",
        "homepage": _WEB_URL,
        "url": f"git@gitlab.com:{_PROJECT_PATH}.git",
        "ssh_url": f"git@gitlab.com:{_PROJECT_PATH}.git",
        "http_url": f"{_WEB_URL}.git",
    }


def _repository() -> dict[str, Any]:
    return {
        "name": "webhook-gateway-demo",
        "url": f"git@gitlab.com:{_PROJECT_PATH}.git",
        "description": "Sample project for the inbound webhook gateway",
        "homepage": _WEB_URL,
        "git_http_url": f"{_WEB_URL}.git",
        "git_ssh_url": f"git@gitlab.com:{_PROJECT_PATH}.git",
        "visibility_level": 0,
    }


def _commit(sha: str, title: str, message: str, offset: int, added: list[str], modified: list[str]) -> dict[str, Any]:
    return {
        "id": sha,
        "message": message,
        "title": title,
        "timestamp": iso(SAMPLE_DELIVERY_TIME - offset).replace("Z", "+00:00"),
        "url": f"{_WEB_URL}/-/commit/{sha}",
        "author": {"name": "Jenny Lindqvist", "email": "jenny@acme.example"},
        "added": added,
        "modified": modified,
        "removed": [],
    }


def _push_body() -> dict[str, Any]:
    before = sample_hex("gitlab:commit:before", 40)
    first = sample_hex("gitlab:commit:1", 40)
    after = sample_hex("gitlab:commit:2", 40)
    user = _user()
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": before,
        "after": after,
        "ref": "refs/heads/main",
        "ref_protected": True,
        "checkout_sha": after,
        "message": None,
        "user_id": user["id"],
        "user_name": user["name"],
        "user_username": user["username"],
        "user_email": "",
        "user_avatar": user["avatar_url"],
        "project_id": _PROJECT_ID,
        "project": _project(),
        "commits": [
            _commit(
                after,
                "Docs: replay windows",
                "Docs: replay windows — naïve retries are safe\n",
                60,
                ["docs/replay.md"],
                ["README.md"],
            ),
            _commit(
                first,
                "Verify GitLab tokens at the edge",
                "Verify GitLab tokens at the edge\n",
                420,
                [],
                ["functions/receiver/app.py"],
            ),
        ],
        "total_commits_count": 2,
        "push_options": {},
        "repository": _repository(),
    }


def _merge_request_body() -> dict[str, Any]:
    user = _user()
    last = sample_hex("gitlab:commit:2", 40)
    project = _project()
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": user,
        "project": project,
        "object_attributes": {
            "assignee_id": None,
            "author_id": user["id"],
            "created_at": iso(SAMPLE_DELIVERY_TIME - 30).replace("T", " ").replace("Z", " UTC"),
            "description": "Checks X-Gitlab-Token in constant time and names deliveries by Idempotency-Key.",
            "draft": False,
            "head_pipeline_id": None,
            "id": 412887301,
            "iid": 42,
            "last_edited_at": None,
            "last_edited_by_id": None,
            "merge_commit_sha": None,
            "merge_error": None,
            "merge_params": {"force_remove_source_branch": "1"},
            "merge_status": "checking",
            "merge_user_id": None,
            "merge_when_pipeline_succeeds": False,
            "milestone_id": None,
            "source_branch": "gitlab-provider",
            "source_project_id": _PROJECT_ID,
            "state_id": 1,
            "target_branch": "main",
            "target_project_id": _PROJECT_ID,
            "time_estimate": 0,
            "title": "Add the GitLab provider",
            "updated_at": iso(SAMPLE_DELIVERY_TIME - 30).replace("T", " ").replace("Z", " UTC"),
            "updated_by_id": None,
            "prepared_at": iso(SAMPLE_DELIVERY_TIME - 28).replace("T", " ").replace("Z", " UTC"),
            "assignee_ids": [],
            "blocking_discussions_resolved": True,
            "detailed_merge_status": "preparing",
            "first_contribution": False,
            "human_time_change": None,
            "human_time_estimate": None,
            "human_total_time_spent": None,
            "labels": [],
            "last_commit": {
                "id": last,
                "message": "Docs: replay windows — naïve retries are safe\n",
                "title": "Docs: replay windows",
                "timestamp": iso(SAMPLE_DELIVERY_TIME - 60).replace("Z", "+00:00"),
                "url": f"{_WEB_URL}/-/commit/{last}",
                "author": {"name": "Jenny Lindqvist", "email": "jenny@acme.example"},
            },
            "reviewer_ids": [],
            "source": project,
            "state": "opened",
            "target": project,
            "time_change": 0,
            "total_time_spent": 0,
            "url": f"{_WEB_URL}/-/merge_requests/42",
            "work_in_progress": False,
            "approval_rules": [],
            "action": "open",
        },
        "labels": [],
        "changes": {
            "merge_status": {"previous": "preparing", "current": "checking"},
            "updated_at": {
                "previous": iso(SAMPLE_DELIVERY_TIME - 31).replace("T", " ").replace("Z", " UTC"),
                "current": iso(SAMPLE_DELIVERY_TIME - 30).replace("T", " ").replace("Z", " UTC"),
            },
        },
        "repository": {
            "name": "webhook-gateway-demo",
            "url": project["url"],
            "description": project["description"],
            "homepage": _WEB_URL,
        },
    }


def _pipeline_body() -> dict[str, Any]:
    user = _user()
    sha = sample_hex("gitlab:commit:2", 40)

    def job(job_id: int, stage: str, name: str, status: str) -> dict[str, Any]:
        return {
            "id": job_id,
            "stage": stage,
            "name": name,
            "status": status,
            "created_at": iso(SAMPLE_DELIVERY_TIME - 300).replace("T", " ").replace("Z", " UTC"),
            "started_at": iso(SAMPLE_DELIVERY_TIME - 290).replace("T", " ").replace("Z", " UTC"),
            "finished_at": iso(SAMPLE_DELIVERY_TIME - 5).replace("T", " ").replace("Z", " UTC"),
            "duration": 285.0,
            "queued_duration": 10.0,
            "failure_reason": None,
            "when": "on_success",
            "manual": False,
            "allow_failure": False,
            "user": user,
            "runner": {
                "id": 12270859,
                "description": "5-blue.saas-linux-small-amd64.runners-manager.gitlab.com",
                "runner_type": "instance_type",
                "active": True,
                "is_shared": True,
                "tags": ["saas-linux-small-amd64"],
            },
            "artifacts_file": {"filename": None, "size": None},
            "environment": None,
        }

    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 2051983388,
            "iid": 317,
            "name": None,
            "ref": "main",
            "tag": False,
            "sha": sha,
            "before_sha": sample_hex("gitlab:commit:before", 40),
            "source": "push",
            "status": "success",
            "detailed_status": "passed",
            "stages": ["test", "deploy"],
            "created_at": iso(SAMPLE_DELIVERY_TIME - 300).replace("T", " ").replace("Z", " UTC"),
            "finished_at": iso(SAMPLE_DELIVERY_TIME - 5).replace("T", " ").replace("Z", " UTC"),
            "duration": 285,
            "queued_duration": 10,
            "variables": [],
            "url": f"{_WEB_URL}/-/pipelines/2051983388",
        },
        "merge_request": None,
        "user": user,
        "project": {
            key: value
            for key, value in _project().items()
            if key not in ("homepage", "url", "ssh_url", "http_url", "ci_config_path")
        },
        "commit": {
            "id": sha,
            "message": "Docs: replay windows — naïve retries are safe\n",
            "title": "Docs: replay windows",
            "timestamp": iso(SAMPLE_DELIVERY_TIME - 60).replace("Z", "+00:00"),
            "url": f"{_WEB_URL}/-/commit/{sha}",
            "author": {"name": "Jenny Lindqvist", "email": "jenny@acme.example"},
        },
        "builds": [job(10734001, "test", "unit", "success"), job(10734002, "deploy", "sam-deploy", "success")],
        "source_pipeline": None,
    }


_EVENTS = {"push": "Push Hook", "merge_request": "Merge Request Hook", "pipeline": "Pipeline Hook"}


def _delivery(kind: str, document: dict[str, Any]) -> SampleDelivery:
    # GitLab sends compact JSON with raw UTF-8 (Ruby's JSON generator), which the signature covers byte for byte.
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _remember(
        SampleDelivery(
            body=body,
            headers={
                "content-type": JSON_CONTENT_TYPE,
                "user-agent": USER_AGENT,
                "idempotency-key": sample_uuid(f"gitlab:idempotency-key:{kind}"),
                "x-gitlab-event": _EVENTS[kind],
                "x-gitlab-webhook-uuid": sample_uuid(f"gitlab:webhook-uuid:{kind}"),
                "x-gitlab-instance": INSTANCE,
                "x-gitlab-event-uuid": sample_uuid(f"gitlab:event-uuid:{kind}"),
            },
            content_type=JSON_CONTENT_TYPE,
            source_ip=SOURCE_IP,
        )
    )


def _push() -> SampleDelivery:
    return _delivery("push", _push_body())


def _merge_request() -> SampleDelivery:
    return _delivery("merge_request", _merge_request_body())


def _pipeline() -> SampleDelivery:
    return _delivery("pipeline", _pipeline_body())


def new_delivery_id() -> str:
    """A fresh ``Idempotency-Key`` (a UUID, as GitLab's)."""
    return str(uuid.uuid4())


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """The id is a plain header; each real delivery also has its own body (another push, another pipeline), so a
    signed sample (whose id follows from its body) is another delivery too."""
    document = json.loads(sample.body)
    marker = hashlib.sha1(delivery_id.encode("utf-8")).hexdigest()
    if document["object_kind"] == "push":
        document["after"] = document["checkout_sha"] = marker
    else:
        document["object_attributes"]["id"] = int(marker[:12], 16)
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {
        **sample.headers,
        "idempotency-key": delivery_id,
        "x-gitlab-event-uuid": sample_uuid(f"gitlab:event-uuid:{delivery_id}"),
        "x-gitlab-webhook-uuid": sample_uuid(f"gitlab:webhook-uuid:{delivery_id}"),
    }
    return _remember(SampleDelivery(body, headers, sample.content_type, sample.source_ip))


SAMPLES = Samples(
    sign=sign,
    signature_time=signature_time,
    kinds={"push": _push, "merge_request": _merge_request, "pipeline": _pipeline},
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
    # The sample secret is a signing token, which signs the time (webhook-timestamp); a secret token signs nothing.
    signs_time=True,
)
