"""Delivery identity at its edges, per provider: missing headers, odd field types, what each id is derived from.

The rules themselves (ids from signed data, GitHub's event/body check) are in test_github.py and test_twilio.py;
these pin the inputs those rules must not mistake for a name.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from webhook_gateway.verifiers import github, twilio
from webhook_gateway.verifiers import stripe as stripe_verifier
from webhook_gateway.verifiers.base import DeliveryIdentity, Reason, Rejected, WebhookRequest

PUSH = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40}).encode()
GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def github_request(body: bytes = PUSH, **headers: str) -> WebhookRequest:
    return WebhookRequest(body=body, headers={name.replace("_", "-"): value for name, value in headers.items()})


def unparseable(identify, request: WebhookRequest) -> bool:
    with pytest.raises(Rejected) as rejected:
        identify(request)
    return rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD


# --- GitHub ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"x_github_event": "push"}, {"x_github_delivery": GUID}, {"x_github_event": "push", "x_github_delivery": "  "},
     {"x_github_event": " ", "x_github_delivery": GUID}],
    ids=["no-delivery", "no-event", "blank-delivery", "blank-event"],
)
def test_github_push_without_its_delivery_or_event_header_is_unparseable(headers):
    # Given a well-formed push body, but one of the two headers that name the delivery is missing or blank
    # Then there is nothing to deduplicate or route on: it is refused, never named after a placeholder
    assert unparseable(github.identify, github_request(**headers))


def test_github_minimal_push_body_with_exactly_the_required_keys_is_a_push():
    identity = github.identify(github_request(x_github_event="push", x_github_delivery=GUID))
    assert (identity.delivery_id, identity.event_type) == (f"0:{GUID}", "push")


def test_github_body_of_exactly_the_ping_keys_is_a_ping_whatever_the_header_says():
    # Given a body with exactly the keys that make a ping ({"zen", "hook_id"}) under another event name
    body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    assert unparseable(github.identify, github_request(body, x_github_event="issues", x_github_delivery=GUID))


# --- Stripe ---------------------------------------------------------------------------------------------------------


def test_stripe_event_id_is_marked_signed_because_it_is_in_the_signed_body():
    body = json.dumps({"id": "evt_1", "type": "charge.succeeded"}).encode()
    identity = stripe_verifier.identify(WebhookRequest(body=body, headers={}))
    assert identity == DeliveryIdentity("evt_1", "charge.succeeded", delivery_id_signed=True)


# --- Twilio ---------------------------------------------------------------------------------------------------------


def twilio_json(fields: dict) -> WebhookRequest:
    body = json.dumps(fields).encode()
    return WebhookRequest(body=body, headers={"content-type": "application/json"}, raw_path="/s",
                          raw_query_string="bodySHA256=" + hashlib.sha256(body).hexdigest())


def signed_content_id(request: WebhookRequest) -> str:
    target = f"{request.raw_path}?{request.raw_query_string}\n".encode() + request.body
    return "sha256:" + hashlib.sha256(target).hexdigest()[:40]


@pytest.mark.parametrize(
    "sid", [[], [""], 5, None, {"sid": "SM1"}], ids=["empty-list", "blank", "number", "null", "object"]
)
def test_twilio_json_sid_that_is_not_a_non_empty_string_names_nothing(sid):
    # Given a JSON callback whose MessageSid is not a usable string
    request = twilio_json({"MessageSid": sid, "MessageStatus": "delivered"})
    # Then it is no resource id: the delivery is named by the signed content instead
    assert twilio.identify(request) == DeliveryIdentity(signed_content_id(request), "webhook", delivery_id_signed=True)


def test_twilio_json_sid_given_as_a_list_uses_its_first_value():
    identity = twilio.identify(twilio_json({"MessageSid": ["SM1", "SM2"], "MessageStatus": ["sent"]}))
    assert (identity.delivery_id, identity.event_type) == ("SM1:sent", "message.sent")


def test_twilio_sequence_number_is_part_of_the_id_only_for_conference_events():
    # Given a call progress callback (Twilio sends SequenceNumber with those too)
    params = {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "0"}
    request = WebhookRequest(body=urlencode(params).encode(),
                             headers={"content-type": "application/x-www-form-urlencoded"}, raw_path="/voice")
    # Then the call is named by its SID and status, as every call callback is
    assert twilio.identify(request).delivery_id == "CA1:ringing"
