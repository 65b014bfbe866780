"""HubSpot verifier (webhooks, signature v3), checked against hubspot-api-client's own ``Signature`` (its v3
``get_signature`` signs every request here; its ``is_valid`` agrees on a fresh one). Each event of the array is its own
delivery: tests/integration/receiver/test_hubspot_receiver.py follows a batch through the real receiver on moto."""

from __future__ import annotations

import json
import time

import pytest
from hubspot.utils.signature import Signature as HubSpotSignature

from tools.make_events import SAMPLE_SECRETS
from webhook_gateway.verifiers import hubspot
from webhook_gateway.verifiers.base import (
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
    json_array_parts,
)

SECRET = SAMPLE_SECRETS["hubspot"]
OLD_SECRET = "3c1d5e7f-9a2b-4c6d-8e0f-1a3b5c7d9e0f"
NOW = 1_700_000_000
NOW_MS = str(NOW * 1000)
POLICY = VerificationPolicy(now=NOW, tolerance_seconds=300, future_tolerance_seconds=60)
CURRENT = [SecretCandidate("current", SECRET)]
HOST = "abc123def4.execute-api.us-east-1.amazonaws.com"
URL = f"https://{HOST}/webhooks/hubspot"
EVENTS = [
    {
        "eventId": 100,
        "subscriptionId": 1205300,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1699999999000,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": 123,
        "changeFlag": "CREATED",
        "changeSource": "CRM",
    },
    {
        "eventId": 101,
        "subscriptionId": 1205301,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1699999999117,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "propertyName": "firstname",
        "propertyValue": "Zoë",
        "changeSource": "CRM_UI",
    },
]
BODY = json.dumps(EVENTS, ensure_ascii=False).encode()


def sdk_signature(
    body: bytes = BODY, secret: str = SECRET, timestamp: str = NOW_MS, uri: str = URL, method: str = "POST"
) -> str:
    """What HubSpot sends, computed by hubspot-api-client."""
    return HubSpotSignature.get_signature(
        secret, body.decode("utf-8"), "v3", http_uri=uri, http_method=method, timestamp=timestamp
    )


def request(
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    *,
    path: str = "/webhooks/hubspot",
    query: str = "",
    method: str = "POST",
    host: str = HOST,
) -> WebhookRequest:
    signed = (
        {"x-hubspot-signature-v3": sdk_signature(body), "x-hubspot-request-timestamp": NOW_MS}
        if headers is None
        else headers
    )
    return WebhookRequest(
        body=body,
        headers={"content-type": "application/json", **signed},
        method=method,
        host=host,
        raw_path=path,
        raw_query_string=query,
    )


def rejection(req: WebhookRequest, secrets=CURRENT, policy: VerificationPolicy = POLICY) -> Rejected:
    with pytest.raises(Rejected) as caught:
        hubspot.verify(req, secrets, policy)
    return caught.value


def event_request(event: dict) -> WebhookRequest:
    return WebhookRequest(body=json.dumps(event).encode(), headers={})


# --- signature -------------------------------------------------------------------------------------------------------


def test_a_request_signed_by_hubspot_api_client_verifies_with_the_current_secret():
    """Given a batch signed as hubspot-api-client signs v3, when verified, then the current secret matched."""
    matched = hubspot.verify(request(), CURRENT, POLICY)
    assert matched == CURRENT[0]


def test_hubspot_api_clients_is_valid_agrees_on_a_fresh_request():
    """Given a request signed now, then the SDK's is_valid (which reads the wall clock) and the verifier both accept
    it, and both refuse it under another secret."""
    timestamp = str(int(time.time() * 1000))
    signature = sdk_signature(timestamp=timestamp)
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": timestamp}
    policy = VerificationPolicy(now=time.time())
    assert HubSpotSignature.is_valid(
        signature, SECRET, BODY.decode(), http_uri=URL, signature_version="v3", timestamp=timestamp
    )
    assert hubspot.verify(request(headers=headers), CURRENT, policy) == CURRENT[0]
    assert not HubSpotSignature.is_valid(
        signature, OLD_SECRET, BODY.decode(), http_uri=URL, signature_version="v3", timestamp=timestamp
    )
    assert rejection(request(headers=headers), [SecretCandidate("current", OLD_SECRET)], policy).reason is (
        Reason.SIGNATURE_MISMATCH
    )


def test_the_sample_signer_is_hubspot_api_clients():
    """Given the gateway's own signer, then it computes the SDK's header for the same inputs."""
    assert hubspot.sign("POST", URL, BODY, NOW_MS, SECRET) == sdk_signature()


def test_the_previous_secret_verifies_during_a_rotation_and_is_reported():
    """Given a request signed with the previous client secret, when verified with current then previous, then the
    previous candidate is the one returned."""
    headers = {"x-hubspot-signature-v3": sdk_signature(secret=OLD_SECRET), "x-hubspot-request-timestamp": NOW_MS}
    secrets = [SecretCandidate("current", SECRET), SecretCandidate("previous", OLD_SECRET)]
    assert hubspot.verify(request(headers=headers), secrets, POLICY) == secrets[1]


def test_surrounding_whitespace_in_the_headers_is_ignored():
    headers = {"x-hubspot-signature-v3": f"  {sdk_signature()} ", "x-hubspot-request-timestamp": f" {NOW_MS}\t"}
    assert hubspot.verify(request(headers=headers), CURRENT, POLICY) == CURRENT[0]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hubspot-request-timestamp": NOW_MS},
        {"x-hubspot-signature-v3": sdk_signature()},
        {"x-hubspot-signature-v3": "   ", "x-hubspot-request-timestamp": NOW_MS},
        {"x-hubspot-signature-v3": sdk_signature(), "x-hubspot-request-timestamp": "  "},
    ],
)
def test_a_request_without_the_v3_signature_or_its_timestamp_is_missing_signature(headers):
    assert rejection(request(headers=headers)).reason is Reason.MISSING_SIGNATURE


def test_a_legacy_v1_or_v2_signature_alone_is_not_accepted_and_the_detail_says_so():
    """Given only the legacy X-HubSpot-Signature (v2: SHA-256 of secret + method + URI + body), then the request is
    missing_signature, and the log detail says the legacy signature is not accepted."""
    legacy = HubSpotSignature.get_signature(SECRET, BODY.decode(), "v2", http_uri=URL)
    headers = {"x-hubspot-signature": legacy, "x-hubspot-signature-version": "v2"}
    refused = rejection(request(headers=headers))
    assert refused.reason is Reason.MISSING_SIGNATURE
    missing = "no x-hubspot-signature-v3 or x-hubspot-request-timestamp header"
    assert refused.detail == f"{missing} (a legacy X-HubSpot-Signature v1/v2 is not accepted)"
    assert rejection(request(headers={})).detail == missing


def test_a_legacy_signature_beside_a_valid_v3_one_changes_nothing():
    headers = {
        "x-hubspot-signature-v3": sdk_signature(),
        "x-hubspot-request-timestamp": NOW_MS,
        "x-hubspot-signature": "not-even-checked",
    }
    assert hubspot.verify(request(headers=headers), CURRENT, POLICY) == CURRENT[0]


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "a" * 64,  # a hex digest with a prefix
        "a" * 64,  # hex, not base64
        "A" * 43,  # no padding
        "A" * 42 + "==",  # the base64 of 31 bytes
        "A" * 44 + "=",  # too long
        "A" * 42 + "-=",  # URL-safe alphabet
        "A" * 42 + "_=",
        "A" * 21 + " " + "A" * 21 + "=",  # a space where a "+" was
    ],
)
def test_a_header_that_cannot_be_a_base64_hmac_sha256_is_malformed(signature):
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": NOW_MS}
    assert rejection(request(headers=headers)).reason is Reason.MALFORMED_SIGNATURE


def test_every_base64_character_is_accepted_in_a_well_formed_signature():
    """Given well-formed headers using "+" and "/" (no secret produces them), then the verifier gets as far as the
    secrets: a mismatch, not a malformed header."""
    for signature in ("+" * 43 + "=", "/" * 43 + "=", "az09AZ" * 7 + "b="):
        headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": NOW_MS}
        assert rejection(request(headers=headers)).reason is Reason.SIGNATURE_MISMATCH


@pytest.mark.parametrize("timestamp", ["1700000000000.5", "-1700000000000", "17e11", "abc", "1" * 16, "١٧٠٠"])
def test_a_timestamp_that_is_not_1_to_15_digits_is_malformed(timestamp):
    headers = {"x-hubspot-signature-v3": sdk_signature(timestamp=timestamp), "x-hubspot-request-timestamp": timestamp}
    refused = rejection(request(headers=headers))
    assert refused.reason is Reason.MALFORMED_SIGNATURE
    assert "milliseconds" in refused.detail


def test_a_15_digit_timestamp_is_read_and_is_in_the_future():
    timestamp = "9" * 15
    headers = {"x-hubspot-signature-v3": sdk_signature(timestamp=timestamp), "x-hubspot-request-timestamp": timestamp}
    assert rejection(request(headers=headers)).reason is Reason.TIMESTAMP_IN_FUTURE


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY + b" "},
        {"body": BODY.replace(b"Zo\xc3\xab", b"Zoe")},
        {"method": "PUT"},
        {"path": "/webhooks/hubspot/"},
        {"query": "x=1"},
        {"host": "evil.example.com"},
    ],
)
def test_anything_signed_that_changed_is_a_signature_mismatch(change):
    headers = {"x-hubspot-signature-v3": sdk_signature(), "x-hubspot-request-timestamp": NOW_MS}
    assert rejection(request(headers=headers, **change)).reason is Reason.SIGNATURE_MISMATCH


def test_another_timestamp_than_the_signed_one_is_a_signature_mismatch():
    headers = {"x-hubspot-signature-v3": sdk_signature(), "x-hubspot-request-timestamp": str(NOW * 1000 + 1)}
    assert rejection(request(headers=headers)).reason is Reason.SIGNATURE_MISMATCH


def test_the_wrong_secret_and_an_empty_one_never_match():
    assert rejection(request(), [SecretCandidate("current", OLD_SECRET)]).reason is Reason.SIGNATURE_MISMATCH
    assert rejection(request(), [SecretCandidate("current", "")]).reason is Reason.SIGNATURE_MISMATCH
    assert rejection(request(), []).reason is Reason.SIGNATURE_MISMATCH


def test_the_method_is_signed_as_received():
    """Given a request HubSpot signed as a PUT (not a method it sends, but the method is in the signed string), then
    it verifies as a PUT and not as a POST."""
    put = request(
        headers={"x-hubspot-signature-v3": sdk_signature(method="PUT"), "x-hubspot-request-timestamp": NOW_MS},
        method="PUT",
    )
    assert hubspot.verify(put, CURRENT, POLICY) == CURRENT[0]


# --- the URI ---------------------------------------------------------------------------------------------------------


def test_behind_a_proxy_the_signed_uri_is_the_public_base_url_with_the_raw_path_and_query():
    """Given HubSpot called https://hooks.example.com/webhooks/hubspot?app=crm and the request reached the receiver
    under another host, then it verifies with PUBLIC_BASE_URL set, and not without it."""
    public = "https://hooks.example.com/webhooks/hubspot?app=crm"
    headers = {"x-hubspot-signature-v3": sdk_signature(uri=public), "x-hubspot-request-timestamp": NOW_MS}
    proxied = request(headers=headers, query="app=crm")
    behind = VerificationPolicy(now=NOW, public_base_url="https://hooks.example.com/")
    assert hubspot.verify(proxied, CURRENT, behind) == CURRENT[0]
    assert rejection(proxied).reason is Reason.SIGNATURE_MISMATCH


DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


@pytest.mark.parametrize("escape", sorted(DECODED))
def test_hubspot_signs_the_listed_escapes_decoded_in_either_hex_case(escape):
    """Given a target URL whose query holds an escape HubSpot decodes before signing (its request validation docs),
    when HubSpot signs the URI with that character decoded, then the request verifies, whether the escape arrives
    in upper or lower case."""
    signed_uri = f"{URL}?next={DECODED[escape]}x"
    headers = {"x-hubspot-signature-v3": sdk_signature(uri=signed_uri), "x-hubspot-request-timestamp": NOW_MS}
    for sent in (escape, escape.lower()):
        assert hubspot.verify(request(headers=headers, query=f"next={sent}x"), CURRENT, POLICY) == CURRENT[0]
    assert hubspot.signed_uri(f"{URL}?next={escape}x") == signed_uri


@pytest.mark.parametrize("escape", ["%20", "%2B", "%26", "%3D", "%23", "%25", "%C3%AB", "%3G", "%3"])
def test_other_escapes_are_signed_as_sent(escape):
    """Given any other escape (a space, +, &, =, #, %, non-ASCII, or no escape at all), then the URI is signed as it
    arrived: the SDK's signature over the raw URI verifies."""
    uri = f"{URL}?q=a{escape}z"
    headers = {"x-hubspot-signature-v3": sdk_signature(uri=uri), "x-hubspot-request-timestamp": NOW_MS}
    assert hubspot.verify(request(headers=headers, query=f"q=a{escape}z"), CURRENT, POLICY) == CURRENT[0]
    assert hubspot.signed_uri(uri) == uri


def test_several_escapes_in_path_and_query_are_all_decoded():
    assert hubspot.signed_uri("https://h/a%3Ab/c?x=%2f%3F%2C&y=%20") == "https://h/a:b/c?x=/?,&y=%20"


# --- the replay window (after the signature) ------------------------------------------------------------------------


def signed_at(timestamp_ms: int) -> WebhookRequest:
    timestamp = str(timestamp_ms)
    return request(
        headers={"x-hubspot-signature-v3": sdk_signature(timestamp=timestamp), "x-hubspot-request-timestamp": timestamp}
    )


def test_exactly_the_tolerance_old_is_accepted_and_one_millisecond_more_is_too_old():
    assert hubspot.verify(signed_at((NOW - 300) * 1000), CURRENT, POLICY) == CURRENT[0]
    refused = rejection(signed_at((NOW - 300) * 1000 - 1))
    assert refused.reason is Reason.TIMESTAMP_TOO_OLD


def test_exactly_the_future_allowance_ahead_is_accepted_and_one_millisecond_more_is_in_the_future():
    assert hubspot.verify(signed_at((NOW + 60) * 1000), CURRENT, POLICY) == CURRENT[0]
    assert rejection(signed_at((NOW + 60) * 1000 + 1)).reason is Reason.TIMESTAMP_IN_FUTURE


def test_the_window_follows_the_settings():
    policy = VerificationPolicy(now=NOW, tolerance_seconds=10, future_tolerance_seconds=5)
    assert rejection(signed_at((NOW - 11) * 1000), policy=policy).reason is Reason.TIMESTAMP_TOO_OLD
    assert rejection(signed_at((NOW + 6) * 1000), policy=policy).reason is Reason.TIMESTAMP_IN_FUTURE
    assert hubspot.verify(signed_at((NOW - 9) * 1000), CURRENT, policy) == CURRENT[0]


def test_a_stale_request_with_a_wrong_signature_is_a_mismatch_not_a_replay():
    """The signature is checked first: the window reasons only describe authentic requests."""
    stale = str((NOW - 3600) * 1000)
    signature = sdk_signature(secret=OLD_SECRET, timestamp=stale)
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": stale}
    assert rejection(request(headers=headers)).reason is Reason.SIGNATURE_MISMATCH


# --- split and identify ----------------------------------------------------------------------------------------------


def test_split_gives_each_events_exact_bytes():
    parts = hubspot.split(request())
    assert [json.loads(part) for part in parts] == EVENTS
    assert all(part in BODY for part in parts)
    assert hubspot.PROVIDER.split is hubspot.split
    assert parts == json_array_parts(BODY)


def test_each_event_is_named_by_portal_subscription_event_id_and_time_with_its_subscription_type():
    first, second = (hubspot.identify(WebhookRequest(body=part, headers={})) for part in hubspot.split(request()))
    assert (first.delivery_id, first.event_type, first.delivery_id_signed) == (
        "62515:1205300:100:1699999999000",
        "contact.creation",
        True,
    )
    assert (second.delivery_id, second.event_type) == ("62515:1205301:101:1699999999117", "contact.propertyChange")


def test_a_retry_of_an_event_is_the_same_delivery():
    """Given the same event re-sent with a higher attemptNumber (HubSpot's retry), then its delivery id is the same."""
    retry = {**EVENTS[0], "attemptNumber": 3}
    assert hubspot.identify(event_request(retry)) == hubspot.identify(event_request(EVENTS[0]))


@pytest.mark.parametrize(
    "change",
    [{"eventId": 999}, {"portalId": 1}, {"subscriptionId": 7}, {"occurredAt": 1699999999001}],
)
def test_events_that_differ_in_any_id_component_are_different_deliveries(change):
    """eventId alone is not guaranteed unique: the same eventId in another portal, subscription or at another time
    is another delivery."""
    other = {**EVENTS[0], **change}
    assert hubspot.identify(event_request(other)).delivery_id != hubspot.identify(event_request(EVENTS[0])).delivery_id


def test_string_ids_are_taken_as_they_are():
    event = {**EVENTS[0], "eventId": "evt-A_1", "portalId": "0", "subscriptionId": "s" * 64}
    assert hubspot.identify(event_request(event)).delivery_id == f"0:{'s' * 64}:evt-A_1:1699999999000"


@pytest.mark.parametrize("key", ["eventId", "subscriptionId", "portalId", "occurredAt"])
@pytest.mark.parametrize("value", [None, True, False, -1, 1.5, "", "a:b", "a b", "s" * 65, [], {}, "é"])
def test_an_event_without_a_usable_id_component_is_unparseable(key, value):
    event = {**EVENTS[0], key: value}
    with pytest.raises(Rejected) as refused:
        hubspot.identify(event_request(event))
    assert refused.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert refused.value.detail == f"event has no usable {key}"


@pytest.mark.parametrize("key", ["eventId", "subscriptionId", "portalId", "occurredAt"])
def test_an_event_missing_an_id_component_is_unparseable(key):
    event = {name: value for name, value in EVENTS[0].items() if name != key}
    with pytest.raises(Rejected) as refused:
        hubspot.identify(event_request(event))
    assert refused.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_zero_is_a_usable_id_component():
    event = {**EVENTS[0], "eventId": 0}
    assert hubspot.identify(event_request(event)).delivery_id == "62515:1205300:0:1699999999000"


@pytest.mark.parametrize("subscription_type", [None, "", 5, ["contact.creation"]])
def test_an_event_without_a_string_subscription_type_is_unparseable(subscription_type):
    event = {**EVENTS[0], "subscriptionType": subscription_type}
    with pytest.raises(Rejected) as refused:
        hubspot.identify(event_request(event))
    assert refused.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert "subscriptionType" in refused.value.detail


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'"x"', b"[" * 100_000, b"\xff"])
def test_an_event_that_is_not_a_json_object_is_unparseable(body):
    with pytest.raises(Rejected) as refused:
        hubspot.identify(WebhookRequest(body=body, headers={}))
    assert refused.value.reason is Reason.UNPARSEABLE_PAYLOAD


def test_the_whole_array_is_not_one_event():
    with pytest.raises(Rejected) as refused:
        hubspot.identify(request())
    assert refused.value.detail == "event is not a JSON object"


# --- the provider's declarations -------------------------------------------------------------------------------------


def test_the_answer_is_a_202_that_names_no_delivery():
    first = hubspot.identify(event_request(EVENTS[0]))
    answer = hubspot.acknowledge(first)
    assert (answer.status, answer.content_type, json.loads(answer.body)) == (
        202,
        "application/json",
        {"status": "accepted"},
    )


def test_the_provider_never_forwards_a_signature_and_posts_only():
    provider = hubspot.PROVIDER
    assert provider.name == "hubspot" and provider.title == "HubSpot"
    assert provider.methods == ("POST",)
    assert not {"x-hubspot-signature-v3", "x-hubspot-signature"} & set(provider.forwarded_headers)
    assert "x-hubspot-request-timestamp" in provider.forwarded_headers
    assert provider.secret_format.sample == SECRET
    assert provider.secret_format.wrong_sample not in ("", SECRET)
