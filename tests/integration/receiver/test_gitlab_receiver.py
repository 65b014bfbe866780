"""GitLab through the real receiver handler on moto (receiver_app.handler): a signed delivery (signing token) and a
token delivery (secret token) are queued with the identity each mode can vouch for, the wrong credential of each
mode is 401 with its reason and queues nothing, and a rotation from a secret token to a signing token accepts both
until the old token is retired."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from tools.make_events import SAMPLE_SECRETS, build_event
from webhook_gateway.verifiers.samples import gitlab as gitlab_samples

SIGNING = SAMPLE_SECRETS["gitlab"]
TOKEN = gitlab_samples.SAMPLE_SECRET_TOKEN


def test_a_signed_delivery_and_its_resend_are_queued_under_its_signed_webhook_id(gateway):
    gateway.use_provider("gitlab")
    first = gateway.invoke(build_event("gitlab", "push"))
    resent = gateway.invoke(build_event("gitlab", "push", timestamp=time.time() + 5))  # GitLab keeps the id
    assert (first["statusCode"], resent["statusCode"]) == (202, 202), first
    [one, two] = gateway.messages()
    key = one["body"]["headers"]["idempotency-key"]
    assert [m["body"]["delivery_id"] for m in (one, two)] == [key, key]
    assert one["body"]["delivery_id_signed"] is True
    assert one["body"]["event_type"] == "Push Hook"
    assert all("webhook-signature" not in m["body"]["headers"] for m in (one, two))


def test_a_delivery_signed_by_the_standardwebhooks_library_is_accepted(gateway):
    # Given the sample push re-signed by the reference library, as GitLab's signing token signs it
    gateway.use_provider("gitlab")
    event = build_event("gitlab", "push")
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    now = int(time.time())
    message_id = event["headers"]["webhook-id"]
    signature = Webhook(SIGNING).sign(message_id, datetime.fromtimestamp(now, UTC), body.decode())
    event["headers"] |= {"webhook-timestamp": str(now), "webhook-signature": signature}
    assert gateway.invoke(event)["statusCode"] == 202
    assert gateway.messages()[0]["body"]["delivery_id"] == message_id


def test_a_token_delivery_is_queued_unsigned_and_the_token_is_never_forwarded(gateway):
    gateway.use_provider("gitlab")
    gateway.rotate("gitlab", TOKEN)
    response = gateway.invoke(build_event("gitlab", "merge_request", secret=TOKEN))
    assert response["statusCode"] == 202, response
    [message] = gateway.messages()
    assert message["body"]["event_type"] == "Merge Request Hook"
    assert message["body"]["delivery_id"] == message["body"]["headers"]["idempotency-key"]
    assert message["body"]["delivery_id_signed"] is False
    assert "x-gitlab-token" not in message["body"]["headers"]
    assert TOKEN not in str(message)


def test_the_wrong_credential_of_each_mode_is_401_with_its_reason(gateway, capsys):
    gateway.use_provider("gitlab")
    answers = [
        gateway.invoke(build_event("gitlab", "push", secret="whsec_" + base64.b64encode(b"w" * 32).decode())),
        gateway.invoke(build_event("gitlab", "push", secret=TOKEN)),  # a token where a signature is configured
        gateway.invoke(build_event("gitlab", "push", timestamp=time.time() - 3600)),
    ]
    assert [(a["statusCode"], a["body"]) for a in answers] == [
        (401, '{"error":"signature_mismatch"}'),
        (401, '{"error":"missing_signature"}'),
        (401, '{"error":"timestamp_too_old"}'),
    ]
    gateway.rotate("gitlab", TOKEN)
    wrong = gateway.invoke(build_event("gitlab", "push", secret="not-the-token"))
    assert (wrong["statusCode"], wrong["body"]) == (401, '{"error":"signature_mismatch"}')
    assert gateway.messages() == []
    assert TOKEN not in capsys.readouterr().out


def test_a_rotation_from_a_secret_token_to_a_signing_token(gateway):
    # Given the hook used a secret token, and the stack's secret is now its new signing token
    gateway.use_provider("gitlab")
    gateway.rotate("gitlab", TOKEN)
    gateway.rotate("gitlab", SIGNING)
    # When GitLab still sends the old token, then signs with the new signing token
    by_token = gateway.invoke(build_event("gitlab", "pipeline", secret=TOKEN))
    signed = gateway.invoke(build_event("gitlab", "push"))
    # Then both are queued: the first verified by the previous value, the second by the current one
    assert (by_token["statusCode"], signed["statusCode"]) == (202, 202)
    messages = {m["body"]["event_type"]: m["body"] for m in gateway.messages()}
    assert messages["Pipeline Hook"]["secret_version"] == "previous"
    assert messages["Push Hook"]["secret_version"] == "current"
    assert (messages["Pipeline Hook"]["delivery_id_signed"], messages["Push Hook"]["delivery_id_signed"]) == (
        False,
        True,
    )
