"""Translate API Gateway HTTP API (payload format 2.0) events to and from :class:`WebhookRequest` and responses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from webhook_gateway.verifiers.base import Reason, Rejected, WebhookRequest


def request_from_event(event: Mapping[str, Any]) -> WebhookRequest:
    """Build the request from an HTTP API v2 event, keeping the body's exact bytes.

    Raises ``Rejected(UNPARSEABLE_PAYLOAD)`` when a base64 body does not decode: nothing was signed that we can check.
    """
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "body is not valid base64") from error
    else:
        # surrogatepass: a lone surrogate (a JSON escape in the event) becomes bytes to verify, not a 500. Such bytes
        # are not UTF-8, so an accepted body carrying them travels base64.
        body = raw_body.encode("utf-8", "surrogatepass")

    # HTTP API already lower-cases header names; lower-casing again keeps other callers (tests, local runner) honest.
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    return WebhookRequest(
        body=body,
        headers=headers,
        method=str(http.get("method") or "POST").upper(),
        scheme=headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https",
        host=headers.get("host") or str(context.get("domainName") or ""),
        raw_path=str(event.get("rawPath") or http.get("path") or "/"),
        raw_query_string=str(event.get("rawQueryString") or ""),
        source_ip=str(http.get("sourceIp") or ""),
        request_id=str(context.get("requestId") or ""),
    )


def json_response(status: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")),
    }


def text_response(status: int, body: str, content_type: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": body}
