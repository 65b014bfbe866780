"""GitLab: a hook authenticates with its secret token (``X-Gitlab-Token``) or with its signing token (Standard
Webhooks v1); which one the gateway checks is decided by the configured secret value, per candidate.

* Secret token (any value not starting ``whsec_``): GitLab sends the token itself in ``X-Gitlab-Token``, in plain
  text. It is compared in constant time, and that is all: nothing is signed, so the body, the delivery id and the
  event type are not authenticated beyond the token, and nothing stops a captured delivery from being sent again.
  GitLab strips line breaks from the token before it sends it, so the stored value is compared the same way (a
  value saved with a trailing newline still matches).
* Signing token (``whsec_<base64>``): GitLab signs ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 and
  sends ``webhook-signature: v1,<base64>``: the Standard Webhooks scheme, checked by
  :mod:`webhook_gateway.verifiers.standard_webhooks` (signature first, then its replay window). ``webhook-id`` equals
  GitLab's ``Idempotency-Key``. A request carrying only ``X-Gitlab-Token`` is then ``missing_signature``.

Each candidate is tried in its own mode, current first, so a rotation can move from one mode to the other (current
= the new signing token, previous = the old secret token): a hook still sending its token keeps verifying until the
previous value is retired. A hook can carry both credentials, and GitLab then sends both.

Delivery ids. A delivery verified by its signing token and carrying no ``X-Gitlab-Token`` is named by its signed
``webhook-id`` (``delivery_id_signed``). ``identify`` sees only the request, so that is the one case in which it can
be sure which mode verified: a request with a token header may have been verified by its token alone, whatever
``webhook-*`` headers it also carries (forged ones included), and its identity is unsigned. Unsigned ids are
``Idempotency-Key`` (GitLab 17.4 and later, one per event and hook, kept on a resend), else, for older GitLab,
``<X-Gitlab-Event-UUID>:<sha256 of the body>``: that UUID is shared by every hook call of one request chain (GitLab's
recursion detection recycles it), so on its own it could merge distinct deliveries. The event type is
``X-Gitlab-Event`` (``Push Hook``), a plain header; a body whose ``object_kind`` (signed, in signing mode) says it is
another event than the header names is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from webhook_gateway.verifiers import standard_webhooks
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    SecretFormat,
    VerificationPolicy,
    WebhookRequest,
    constant_time_equal,
    first_matching_secret,
)

TOKEN_HEADER = "x-gitlab-token"
EVENT_HEADER = "x-gitlab-event"
WEBHOOK_ID_HEADER = "webhook-id"
SIGNING_HEADERS = (WEBHOOK_ID_HEADER, "webhook-timestamp", "webhook-signature")
IDEMPOTENCY_HEADER = "idempotency-key"
EVENT_UUID_HEADER = "x-gitlab-event-uuid"
SIGNING_TOKEN_PREFIX = "whsec_"
_LINE_BREAK = re.compile(r"\r?\n")

# Failures, least telling first: when no candidate verifies, the most telling one is the answer. Any reason not
# listed tells more: a timestamp outside the window (an authentic delivery, replayed or mis-clocked). A signing token
# that is not whsec_<base64> verifies nothing (signature_mismatch, its log detail says which secret is no key): a
# forgery stays a 401 whatever the configuration, as for Standard Webhooks.
_TELLING = (Reason.MISSING_SIGNATURE, Reason.MALFORMED_SIGNATURE, Reason.SIGNATURE_MISMATCH)


def is_signing_token(value: str) -> bool:
    """Whether a configured value is a signing token (Standard Webhooks ``whsec_``) rather than a secret token."""
    return value.startswith(SIGNING_TOKEN_PREFIX)


def _signing_request(request: WebhookRequest) -> WebhookRequest | None:
    """The request reduced to its body and ``webhook-*`` headers (None without any): all the Standard Webhooks check
    may read, so the ``webhook-id`` that ``identify`` names a signed delivery by is the one that was verified."""
    headers = {name: value for name in SIGNING_HEADERS if (value := request.header(name)) is not None}
    return dataclasses.replace(request, headers=headers) if headers else None


def _check_token(token: str, candidate: SecretCandidate) -> None:
    if not token:
        raise Rejected(Reason.MISSING_SIGNATURE, f"a secret token is configured and there is no {TOKEN_HEADER}")
    # What GitLab sends for this token. A value of line breaks only becomes "", which never equals the (non-empty)
    # header: like any empty secret, it matches nothing.
    expected = _LINE_BREAK.sub("", candidate.value)
    if not constant_time_equal(expected, token):
        raise Rejected(Reason.SIGNATURE_MISMATCH, f"{TOKEN_HEADER} is not the secret token")


def _check_signature(signed: WebhookRequest | None, candidate: SecretCandidate, policy: VerificationPolicy) -> None:
    if signed is None:
        raise Rejected(Reason.MISSING_SIGNATURE, "a signing token is configured and there is no webhook-signature")
    standard_webhooks.verify(signed, [candidate], policy)


def verify(request: WebhookRequest, secrets: Iterable[SecretCandidate], policy: VerificationPolicy) -> SecretCandidate:
    token = request.header(TOKEN_HEADER) or ""
    signed = _signing_request(request)
    if not token and signed is None:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {TOKEN_HEADER} and no webhook-signature")
    failures: list[Rejected] = []

    def matches(candidate: SecretCandidate) -> bool:
        try:
            if is_signing_token(candidate.value):
                _check_signature(signed, candidate, policy)
            else:
                _check_token(token, candidate)
        except Rejected as failure:
            failures.append(failure)
            return False
        return True

    try:
        return first_matching_secret(secrets, matches)
    except Rejected as mismatch:
        raise max(failures, key=_telling, default=mismatch) from None


def _telling(failure: Rejected) -> int:
    return _TELLING.index(failure.reason) if failure.reason in _TELLING else len(_TELLING)


# X-Gitlab-Event -> the object_kind its payloads carry. Only events whose kind is fixed: "Issue Hook" also carries
# work items (object_kind "work_item"), and "System Hook" any kind.
OBJECT_KINDS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Pipeline Hook": "pipeline",
    "Job Hook": "build",
    "Note Hook": "note",
}


def identify(request: WebhookRequest) -> DeliveryIdentity:
    event = (request.header(EVENT_HEADER) or "").strip()
    if not event:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"no {EVENT_HEADER} header")
    _require_event_matches_body(event, _json_payload(request))
    webhook_id = (request.header(WEBHOOK_ID_HEADER) or "").strip()
    if request.header(TOKEN_HEADER) is None and webhook_id:
        return DeliveryIdentity(delivery_id=webhook_id, event_type=event, delivery_id_signed=True)
    idempotency_key = (request.header(IDEMPOTENCY_HEADER) or "").strip()
    if idempotency_key:
        return DeliveryIdentity(delivery_id=idempotency_key, event_type=event, delivery_id_signed=False)
    event_uuid = (request.header(EVENT_UUID_HEADER) or "").strip()
    if not event_uuid:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "no Idempotency-Key and no X-Gitlab-Event-UUID header")
    body_hash = hashlib.sha256(request.body).hexdigest()
    return DeliveryIdentity(delivery_id=f"{event_uuid}:{body_hash}", event_type=event, delivery_id_signed=False)


def _json_payload(request: WebhookRequest) -> Any:
    """Any JSON value: a hook with a custom template sends whatever JSON the template renders."""
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, f"body is not JSON ({type(error).__name__})") from None


def _require_event_matches_body(event: str, document: Any) -> None:
    kind = document.get("object_kind") if isinstance(document, dict) else None
    expected = OBJECT_KINDS.get(event)
    if expected is not None and kind is not None and kind != expected:
        raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "the body's object_kind is not that of its X-Gitlab-Event")


PROVIDER = Provider(
    name="gitlab",
    title="GitLab",
    verify=verify,
    identify=identify,
    secret_format=SecretFormat(
        description="the hook's secret token (sent back in X-Gitlab-Token, compared as is), or its signing token "
        "whsec_<base64> (Standard Webhooks v1: the HMAC-SHA256 key is the decoded base64)",
        # The samples are signed (mode 2), so that every sample's body is authenticated like every other
        # provider's; a token-mode sample is `hookctl send gitlab push --secret <any value not starting whsec_>`.
        sample="whsec_lkKwIQZdVwtpR1PoidZyt7xxqUDM1jygVkKBtD95JeY=",
        wrong_sample="whsec_6/JycM+JHmdeofho3Hkye4EbN3BbB5JD8Q4kiR2Oixs=",
    ),
    samples="webhook_gateway.verifiers.samples.gitlab",
    # Never x-gitlab-token (the secret itself) nor webhook-signature.
    forwarded_headers=(
        "x-gitlab-event",
        "x-gitlab-instance",
        "x-gitlab-webhook-uuid",
        "x-gitlab-event-uuid",
        "idempotency-key",
        "webhook-id",
        "webhook-timestamp",
        "user-agent",
        "content-type",
    ),
    # Signing-token mode's headers; never X-Gitlab-Token, which is the secret token itself (kept nowhere).
    signature_headers=SIGNING_HEADERS,
)
