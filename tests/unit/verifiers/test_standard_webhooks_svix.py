"""Standard Webhooks as Svix senders use it (Clerk, Resend: ``svix-*`` header names), several signatures in one header
(a sender rotating its key), and properties of the verifier against the ``standardwebhooks`` library's verdict."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

from webhook_gateway.verifiers import standard_webhooks as sw
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another endpoint's secret").decode()
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW)
CURRENT = [SecretCandidate("current", SECRET)]
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
# Clerk's user.created, shortened
BODY = json.dumps(
    {"data": {"id": "user_29w83sxmDNGwOuEthce5gg56FcC"}, "object": "event", "type": "user.created", "timestamp": NOW}
).encode()


def svix_signature(secret: str = SECRET, message_id: str = MSG_ID, timestamp: int = NOW, body: bytes = BODY) -> str:
    return SvixWebhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode())


def svix_headers(signature: str | None = None, message_id: str = MSG_ID, timestamp: int = NOW) -> dict[str, str]:
    return {
        "svix-id": message_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": svix_signature() if signature is None else signature,
    }


def webhook_headers(signature: str | None = None, message_id: str = MSG_ID) -> dict[str, str]:
    return {name.replace("svix-", "webhook-"): value for name, value in svix_headers(signature, message_id).items()}


def request(headers: dict[str, str], body: bytes = BODY) -> WebhookRequest:
    return WebhookRequest(body=body, headers={"content-type": "application/json", **headers})


def rejection(webhook: WebhookRequest, secrets: list[SecretCandidate] = CURRENT) -> Rejected:
    with pytest.raises(Rejected) as rejected:
        sw.verify(webhook, secrets, POLICY)
    return rejected.value


def wrong_entry(seed: str = "wrong") -> str:
    return "v1," + base64.b64encode(seed.encode().ljust(32, b"-")).decode()


# --------------------------------------------------------------------------------------------------- svix-* names
def test_a_delivery_signed_by_svix_with_svix_headers_verifies():
    headers = svix_headers()
    assert sw.verify(request(headers), CURRENT, POLICY).version == "current"
    assert sw.identify(request(headers)).delivery_id == MSG_ID


def test_svix_accepts_what_we_accept_with_svix_headers():
    now = int(datetime.now(UTC).timestamp())
    headers = svix_headers(svix_signature(timestamp=now), timestamp=now)
    SvixWebhook(SECRET).verify(BODY, headers)  # raises if it disagrees
    assert sw.verify(request(headers), CURRENT, VerificationPolicy(now=now)).version == "current"


def test_svix_headers_are_checked_like_webhook_headers():
    assert rejection(request(svix_headers(), BODY + b" ")).reason is Reason.SIGNATURE_MISMATCH
    assert rejection(request(svix_headers(signature="v1,short"))).reason is Reason.MALFORMED_SIGNATURE
    headers = svix_headers()
    del headers["svix-timestamp"]
    assert rejection(request(headers)).reason is Reason.MISSING_SIGNATURE


def test_when_both_sets_are_present_the_webhook_set_is_read():
    # Given valid webhook-* headers and svix-* headers of another delivery
    valid_webhook = {**webhook_headers(), **svix_headers(message_id="msg_other", signature=wrong_entry())}
    # Then the webhook-* set verifies, and names the delivery
    assert sw.verify(request(valid_webhook), CURRENT, POLICY).version == "current"
    assert sw.identify(request(valid_webhook)).delivery_id == MSG_ID
    # And a forged webhook-* set is refused even beside a valid svix-* set
    valid_svix = {**svix_headers(), **webhook_headers(signature=wrong_entry())}
    assert rejection(request(valid_svix)).reason is Reason.SIGNATURE_MISMATCH


def test_the_two_sets_are_never_mixed():
    # A webhook-id alone selects the webhook-* set, whose timestamp and signature are then missing
    headers = {**svix_headers(), "webhook-id": MSG_ID}
    assert rejection(request(headers)).reason is Reason.MISSING_SIGNATURE
    headers = {**svix_headers(), "webhook-signature": svix_signature()}
    assert rejection(request(headers)).reason is Reason.MISSING_SIGNATURE


@pytest.mark.parametrize("present", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_an_empty_webhook_header_still_selects_the_webhook_set(present):
    headers = {**svix_headers(), present: ""}
    assert rejection(request(headers)).reason is Reason.MISSING_SIGNATURE


# --------------------------------------------------------------------------------------------------- several entries
def test_a_header_signed_with_two_keys_verifies_with_either():
    # Given a sender rotating its key: one entry per active key (what Svix sends during a rotation)
    both = f"{svix_signature(OTHER_SECRET)} {svix_signature(SECRET)}"
    # Then the endpoint verifies with its current secret, whichever entry is its own
    assert sw.verify(request(svix_headers(both)), CURRENT, POLICY).version == "current"
    reversed_order = f"{svix_signature(SECRET)} {svix_signature(OTHER_SECRET)}"
    assert sw.verify(request(svix_headers(reversed_order)), CURRENT, POLICY).version == "current"
    assert sw.verify(request(svix_headers(both)), [SecretCandidate("current", OTHER_SECRET)], POLICY)


def test_unknown_versions_and_unusable_entries_are_skipped_beside_a_matching_one():
    header = f"v2,{base64.b64encode(b'x' * 32).decode()} v1 v1,!!! v1a,short {svix_signature()}"
    assert sw.verify(request(svix_headers(header)), CURRENT, POLICY).version == "current"


def test_entries_are_separated_by_any_whitespace():
    header = f"{wrong_entry()}\t {svix_signature()}"
    assert sw.verify(request(svix_headers(header)), CURRENT, POLICY).version == "current"


def test_only_usable_entries_of_other_versions_is_malformed():
    header = f"v2,{base64.b64encode(b'x' * 32).decode()} v1b,{base64.b64encode(b'x' * 64).decode()}"
    rejected = rejection(request(svix_headers(header)))
    assert rejected.reason is Reason.MALFORMED_SIGNATURE


def test_eight_entries_are_read_and_a_ninth_is_refused():
    seven = " ".join(wrong_entry(str(n)) for n in range(7))
    assert sw.verify(request(svix_headers(f"{seven} {svix_signature()}")), CURRENT, POLICY)
    rejected = rejection(request(svix_headers(f"{seven} {wrong_entry()} {svix_signature()}")))
    assert (rejected.reason, rejected.detail) == (Reason.MALFORMED_SIGNATURE, "more than 8 signature entries")


def test_every_wrong_entry_is_a_mismatch_and_the_detail_names_no_secret():
    rejected = rejection(request(svix_headers(f"{wrong_entry('a')} {wrong_entry('b')}")))
    assert (rejected.reason, rejected.detail) == (Reason.SIGNATURE_MISMATCH, "")


def test_an_empty_secret_is_never_tried_and_not_reported_as_misconfigured():
    secrets = [SecretCandidate("current", ""), SecretCandidate("previous", SECRET)]
    assert sw.verify(request(svix_headers()), secrets, POLICY).version == "previous"
    rejected = rejection(request(svix_headers(wrong_entry())), secrets)
    assert (rejected.reason, rejected.detail) == (Reason.SIGNATURE_MISMATCH, "")


def test_an_empty_key_is_no_key():
    # "whsec_" decodes to no bytes: an HMAC keyed with nothing would be computable by anyone
    empty_key = "v1," + sw.sign(MSG_ID, str(NOW), BODY, b"")
    rejected = rejection(request(svix_headers(empty_key)), [SecretCandidate("current", "whsec_")])
    assert rejected.reason is Reason.SIGNATURE_MISMATCH
    assert rejected.detail == "the current secret is no whsec_ or whpk_ key"


def test_a_misconfigured_previous_secret_is_named_in_the_detail_and_the_current_one_still_verifies():
    secrets = [SecretCandidate("current", SECRET), SecretCandidate("previous", "not base64!")]
    assert sw.verify(request(svix_headers()), secrets, POLICY).version == "current"
    rejected = rejection(request(svix_headers(wrong_entry())), secrets)
    assert rejected.detail == "the previous secret is no whsec_ or whpk_ key"
    both_bad = [SecretCandidate("current", "whsk_x"), SecretCandidate("previous", "?")]
    assert rejection(request(svix_headers(wrong_entry())), both_bad).detail == (
        "the current and previous secret is no whsec_ or whpk_ key"
    )


def test_surrounding_whitespace_in_headers_and_secrets_is_ignored():
    headers = {name: f" {value} " for name, value in svix_headers().items()}
    assert sw.verify(request(headers), [SecretCandidate("current", f" {SECRET}\n")], POLICY).version == "current"


# --------------------------------------------------------------------------------------------------- properties
ENTRY_KINDS = st.sampled_from(["right", "wrong", "garbage", "unknown", "v1a", "bare"])


def entry(kind: str, n: int, timestamp: int) -> str:
    return {
        "right": svix_signature(timestamp=timestamp),
        "wrong": wrong_entry(str(n)),
        "garbage": f"v1,{'!' * (n % 5)}",
        "unknown": f"v{n % 9 + 2},{base64.b64encode(bytes(32)).decode()}",
        "v1a": "v1a," + base64.b64encode(bytes([n % 256]) * 64).decode(),
        "bare": "v1",  # no comma: the library raises ValueError on it (PROVIDERS.md)
    }[kind]


def library_accepts(header: str, timestamp: int) -> bool:
    headers = webhook_headers(header)
    headers["webhook-timestamp"] = str(timestamp)
    try:
        StandardWebhook(SECRET).verify(BODY, headers)
    except Exception:  # noqa: BLE001 - its own error, ValueError or binascii.Error: all a refusal here
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(kinds=st.lists(ENTRY_KINDS, min_size=1, max_size=12), svix_names=st.booleans())
def test_a_header_verifies_exactly_when_it_holds_the_right_v1_entry_among_at_most_8(kinds, svix_names):
    # Given a header of any entries, signed now (the library checks its window against the clock)
    now = int(datetime.now(UTC).timestamp())
    header = " ".join(entry(kind, n, now) for n, kind in enumerate(kinds))
    headers = svix_headers(header, timestamp=now) if svix_names else webhook_headers(header)
    headers["svix-timestamp" if svix_names else "webhook-timestamp"] = str(now)
    webhook, policy = request(headers), VerificationPolicy(now=now)
    usable = [kind for kind in kinds if kind in ("right", "wrong", "v1a")]
    # Then it verifies exactly when it holds the right entry among at most 8
    if "right" in kinds and len(kinds) <= sw.MAX_SIGNATURES:
        assert sw.verify(webhook, CURRENT, policy).version == "current"
    else:
        with pytest.raises(Rejected) as rejected:
            sw.verify(webhook, CURRENT, policy)
        too_many_or_none = len(kinds) > sw.MAX_SIGNATURES or not usable
        expected = Reason.MALFORMED_SIGNATURE if too_many_or_none else Reason.SIGNATURE_MISMATCH
        assert rejected.value.reason is expected
    # And whatever the library accepts, we accept (it stops at an entry without a comma, we skip it)
    if library_accepts(header, now) and len(kinds) <= sw.MAX_SIGNATURES:
        assert sw.verify(webhook, CURRENT, policy)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "svix-timestamp", "svix-signature"]
        ),
        st.one_of(
            st.text(max_size=60),
            st.from_regex(r"(v1a?,[A-Za-z0-9+/=]{0,90} ?){0,3}", fullmatch=True),
            st.from_regex(r"[0-9]{1,13}", fullmatch=True),
        ),
    ),
    body=st.binary(max_size=100),
    secret=st.one_of(st.just(SECRET), st.text(max_size=40), st.just("whpk_" + base64.b64encode(bytes(32)).decode())),
)
def test_anything_is_rejected_with_a_reason_or_verified_never_raised(headers, body, secret):
    try:
        sw.verify(request(headers, body), [SecretCandidate("current", secret)], POLICY)
    except Rejected as rejected:
        assert rejected.reason in {
            Reason.MISSING_SIGNATURE,
            Reason.MALFORMED_SIGNATURE,
            Reason.SIGNATURE_MISMATCH,
            Reason.TIMESTAMP_TOO_OLD,
            Reason.TIMESTAMP_IN_FUTURE,
        }
    else:
        pytest.fail("an unsigned request verified")


@settings(max_examples=100, deadline=None)
@given(message_id=st.text(min_size=1, max_size=40).map(str.strip).filter(bool), body=st.binary(max_size=200))
def test_we_agree_with_the_library_on_its_signatures_over_any_id_and_body(message_id, body):
    signature = StandardWebhook(SECRET).sign(message_id, datetime.fromtimestamp(NOW, UTC), "")
    # the library signs str data: sign the raw bytes ourselves the way it would, and check its own output
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert signature == "v1," + sw.sign(message_id, str(NOW), b"", key)
    ours = "v1," + sw.sign(message_id, str(NOW), body, key)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(NOW), "webhook-signature": ours}
    assert sw.verify(request(headers, body), CURRENT, POLICY).version == "current"
