"""An empty secret value never verifies anything, for every provider.

HMAC accepts an empty key, and a signature keyed with nothing is one anyone can compute: a previous version stored
as "" during a rotation (or a current one left blank) must not turn the endpoint into one that accepts forgeries.
The forgeries here are made by the providers' own SDKs.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import stripe
from twilio.request_validator import RequestValidator

from webhook_gateway.verifiers import github, twilio
from webhook_gateway.verifiers import stripe as stripe_verifier
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW)
BODY = b'{"id": "evt_1", "type": "charge.succeeded"}'


def github_forgery() -> WebhookRequest:
    return WebhookRequest(body=BODY, headers={"x-hub-signature-256": github.sign(BODY, "")})


def stripe_forgery() -> WebhookRequest:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "", timestamp=NOW)
    return WebhookRequest(body=BODY, headers={"stripe-signature": header})


def twilio_forgery() -> WebhookRequest:
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = RequestValidator("").compute_signature("https://mycompany.com/sms", params)
    return WebhookRequest(
        body=urlencode(params).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
        host="mycompany.com",
        raw_path="/sms",
    )


FORGERIES = {"github": (github.verify, github_forgery), "stripe": (stripe_verifier.verify, stripe_forgery),
             "twilio": (twilio.verify, twilio_forgery)}


@pytest.mark.parametrize("provider", FORGERIES)
@pytest.mark.parametrize(
    "secrets",
    [
        [SecretCandidate("current", "")],
        [SecretCandidate("current", "real-secret"), SecretCandidate("previous", "")],
    ],
    ids=["empty-current", "empty-previous"],
)
def test_signature_keyed_with_an_empty_secret_is_a_mismatch(provider, secrets):
    # Given a configured secret version that is empty, and a request signed with the empty key by the provider's SDK
    verify, forgery = FORGERIES[provider]
    # When it is verified, Then it does not match: the empty version is never tried as a key
    with pytest.raises(Rejected) as rejected:
        verify(forgery(), secrets, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


def test_a_real_previous_secret_still_matches_after_an_empty_current():
    # Given an empty current version (never a key) followed by the previous secret the delivery is signed with
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "whsec_old", timestamp=NOW)
    request = WebhookRequest(body=BODY, headers={"stripe-signature": header})
    secrets = [SecretCandidate("current", ""), SecretCandidate("previous", "whsec_old")]
    # Then the previous one matches
    assert stripe_verifier.verify(request, secrets, POLICY).version == "previous"


def test_twilio_json_secret_with_only_empty_keys_matches_nothing():
    secrets = [SecretCandidate("current", json.dumps({"auth_token": "", "shared_key": ""}))]
    with pytest.raises(Rejected) as rejected:
        twilio.verify(twilio_forgery(), secrets, POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH
