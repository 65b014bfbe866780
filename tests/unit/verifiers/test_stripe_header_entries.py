"""Stripe: how Stripe-Signature entries are read, and what an event must name, against stripe-python's signer."""

from __future__ import annotations

import json

import pytest
import stripe

from webhook_gateway.verifiers import stripe as stripe_verifier
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

SECRET = "whsec_test_secret_for_unit_tests"
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW)
CURRENT = [SecretCandidate("current", SECRET)]
BODY = b'{"id": "evt_1", "type": "charge.succeeded"}'


def sdk_header() -> str:
    return stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=NOW)


def verify(header: str) -> SecretCandidate:
    return stripe_verifier.verify(WebhookRequest(body=BODY, headers={"stripe-signature": header}), CURRENT, POLICY)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_entries_without_equals_sign_are_skipped_wherever_they_are(where):
    # Given a valid header with an entry that has no "=" (no scheme: ignored like an unknown scheme)
    t_entry, v1_entry = sdk_header().split(",")
    header = {"first": f"junk,{t_entry},{v1_entry}", "middle": f"{t_entry},junk,{v1_entry}",
              "last": f"{t_entry},{v1_entry},junk"}[where]
    # Then the entries after it are still read, and the header verifies
    assert verify(header).version == "current"


def test_a_second_t_entry_is_malformed_even_when_its_value_holds_an_equals_sign():
    # Given a valid header plus "t=1=1": split at its first "=", that is a second timestamp, so which t was signed
    # is ambiguous (stripe-python refuses such an entry outright)
    with pytest.raises(Rejected) as rejected:
        verify(sdk_header() + ",t=1=1")
    assert rejected.value.reason is Reason.MALFORMED_SIGNATURE


def test_v1_entry_with_an_extra_equals_sign_does_not_match():
    header = sdk_header() + "="
    with pytest.raises(Rejected) as rejected:
        verify(header)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    "event",
    [{"id": "", "type": "charge.succeeded"}, {"id": "evt_1", "type": ""}, {"id": "evt_1", "type": None},
     {"id": None, "type": "charge.succeeded"}],
    ids=["empty-id", "empty-type", "null-type", "null-id"],
)
def test_event_without_a_non_empty_string_id_and_type_is_unparseable(event):
    # Given an authentic body whose id or type is empty: no idempotency key, or no handler to route to
    request = WebhookRequest(body=json.dumps(event).encode(), headers={})
    with pytest.raises(Rejected) as rejected:
        stripe_verifier.identify(request)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
