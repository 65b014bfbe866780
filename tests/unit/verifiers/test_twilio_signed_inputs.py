"""Twilio: exactly what the signature covers and with which key, checked against twilio-python's RequestValidator.

Each test pins one input of the signature (URL, query string, key, algorithm, signature encoding) so that a verifier
that drops or loosens it is caught (docs/mutation.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm

from webhook_gateway.verifiers import twilio
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest

TOKEN = "12345"
SHARED_KEY = "webhooks_sharedkey_secret"
POLICY = VerificationPolicy(now=0)
FORM = "application/x-www-form-urlencoded"
PARAMS = {"MessageSid": "SM1", "MessageStatus": "delivered"}
SETTINGS = "x-twilio-webhooks-signature-settings"


def request(path_query: str, body: bytes, signature: str, *, content_type: str = FORM, host: str = "mycompany.com",
            **headers: str) -> WebhookRequest:
    path, _, query = path_query.partition("?")
    all_headers = {"content-type": content_type, "x-twilio-signature": signature}
    all_headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return WebhookRequest(body=body, headers=all_headers, host=host, raw_path=path, raw_query_string=query)


def sdk_signature(url: str, params: dict, key: str = TOKEN, algorithm: str | None = None) -> str:
    return RequestValidator(key).compute_signature(url, params, algorithm)


def rejection(req: WebhookRequest, secrets: list[SecretCandidate], policy: VerificationPolicy = POLICY) -> Reason:
    with pytest.raises(Rejected) as rejected:
        twilio.verify(req, secrets, policy)
    return rejected.value.reason


def json_secret(**keys: str) -> list[SecretCandidate]:
    return [SecretCandidate("current", json.dumps(keys))]


# --- the key -------------------------------------------------------------------------------------------------------


def test_json_secret_signs_auth_token_requests_with_its_auth_token():
    # Given a secret holding both keys, and a request Twilio signed with the Auth Token (no settings header)
    secrets = json_secret(auth_token=TOKEN, shared_key=SHARED_KEY)
    req = request("/sms", urlencode(PARAMS).encode(), sdk_signature("https://mycompany.com/sms", PARAMS))
    # When verified, Then the auth_token matched, not the shared key
    assert twilio.verify(req, secrets, POLICY).version == "current"


def test_json_secret_never_lends_its_shared_key_to_auth_token_requests():
    # Given a request signed with the shared key but without the settings header that selects it
    secrets = json_secret(auth_token=TOKEN, shared_key=SHARED_KEY)
    signature = sdk_signature("https://mycompany.com/sms", PARAMS, key=SHARED_KEY)
    # Then the shared key is not tried: Auth Token requests verify with the Auth Token only
    assert rejection(request("/sms", urlencode(PARAMS).encode(), signature), secrets) is Reason.SIGNATURE_MISMATCH


def test_json_secret_with_surrounding_whitespace_is_still_json():
    # Given a secret pasted with a leading newline and indentation (as a console or a heredoc leaves it)
    secrets = [SecretCandidate("current", "\n  " + json.dumps({"auth_token": "t0k", "shared_key": SHARED_KEY}))]
    signature = sdk_signature("https://mycompany.com/sms", PARAMS, key=SHARED_KEY, algorithm="HMAC_SHA256")
    req = request("/sms", urlencode(PARAMS).encode(), signature, **{SETTINGS: "key=k1,algorithm=HMAC_SHA256"})
    # Then its shared key is found (it is not taken for a plain Auth Token)
    assert twilio.verify(req, secrets, POLICY).version == "current"


@pytest.mark.parametrize("empty", ["", None, 7])
def test_empty_or_non_string_shared_key_fails_closed(empty):
    # Given a secret whose shared_key is empty (or not a string), and a forger who signs with the empty key
    secrets = [SecretCandidate("current", json.dumps({"auth_token": TOKEN, "shared_key": empty}))]
    forged = base64.b64encode(
        hmac.new(b"", b"https://mycompany.com/sms" + b"MessageSidSM1MessageStatusdelivered", hashlib.sha256).digest()
    ).decode()
    assert forged == sdk_signature("https://mycompany.com/sms", PARAMS, key="", algorithm="HMAC_SHA256")
    req = request("/sms", urlencode(PARAMS).encode(), forged, **{SETTINGS: "key=k1,algorithm=HMAC_SHA256"})
    # Then nothing verifies: an empty key is one anyone has
    assert rejection(req, secrets) is Reason.SIGNATURE_MISMATCH


def test_empty_auth_token_in_a_json_secret_fails_closed():
    secrets = json_secret(auth_token="", shared_key=SHARED_KEY)
    req = request("/sms", urlencode(PARAMS).encode(), sdk_signature("https://mycompany.com/sms", PARAMS, key=""))
    assert rejection(req, secrets) is Reason.SIGNATURE_MISMATCH


# --- the algorithm --------------------------------------------------------------------------------------------------


def test_settings_header_without_algorithm_means_hmac_sha1_with_the_shared_key():
    # Given Webhook Settings that name a key but no algorithm (twilio-python: HMAC_SHA1 then)
    header = "key=webhooks_sharedkey_1"
    assert get_signature_algorithm(header) == "HMAC_SHA1"
    signature = sdk_signature("https://mycompany.com/status", PARAMS, key=SHARED_KEY)
    req = request("/status", urlencode(PARAMS).encode(), signature, **{SETTINGS: header})
    # Then the shared key verifies the HMAC-SHA1 signature
    assert twilio.verify(req, json_secret(auth_token=TOKEN, shared_key=SHARED_KEY), POLICY).version == "current"


@pytest.mark.parametrize(
    "header",
    [
        "algorithm=HMAC_SHA256",
        " algorithm = hmac_sha256 ",
        "key=k,algorithm=HMAC_SHA256",
        "algorithm=,algorithm=HMAC_SHA256",
    ],
)
def test_algorithm_is_read_from_the_settings_header_like_twilio_python(header):
    algorithm = get_signature_algorithm(header).upper()
    assert algorithm == "HMAC_SHA256"
    signature = sdk_signature("https://mycompany.com/status", PARAMS, key=SHARED_KEY, algorithm=algorithm)
    req = request("/status", urlencode(PARAMS).encode(), signature, **{SETTINGS: header})
    assert twilio.verify(req, json_secret(auth_token=TOKEN, shared_key=SHARED_KEY), POLICY)


@pytest.mark.parametrize("header", ["algorithm==HMAC_SHA256", "algorithm=HMAC_SHA256=", "algorithm=HMAC-SHA256"])
def test_algorithm_that_twilio_python_does_not_support_is_malformed_never_sha1(header):
    # Given an algorithm value that is not exactly a supported name (twilio-python reads it the same way)
    assert get_signature_algorithm(header).upper() not in {"HMAC_SHA1", "HMAC_SHA256"}
    # A SHA-1 signature with the shared key, which a verifier falling back to the default would accept
    signature = sdk_signature("https://mycompany.com/status", PARAMS, key=SHARED_KEY)
    req = request("/status", urlencode(PARAMS).encode(), signature, **{SETTINGS: header})
    # Then it is malformed: no fallback to another algorithm
    assert rejection(req, json_secret(auth_token=TOKEN, shared_key=SHARED_KEY)) is Reason.MALFORMED_SIGNATURE


def test_compute_signature_defaults_to_hmac_sha1_like_twilio_python():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234"}
    assert twilio.compute_signature(url, {k: [v] for k, v in params.items()}, TOKEN) == sdk_signature(url, params)


# --- the signature's encoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", [lambda s: s + "!", lambda s: s[:4] + "*" + s[4:], lambda s: s[:10] + "\n" + s[10:]])
def test_signature_with_non_base64_characters_is_malformed_not_decoded_leniently(tamper):
    # Given a valid signature with characters base64 does not have (a lenient decoder would skip them and match)
    signature = sdk_signature("https://mycompany.com/sms", PARAMS)
    assert base64.b64decode(tamper(signature)) == base64.b64decode(signature)
    req = request("/sms", urlencode(PARAMS).encode(), tamper(signature))
    # Then the signature is malformed
    assert rejection(req, [SecretCandidate("current", TOKEN)]) is Reason.MALFORMED_SIGNATURE


# --- the URL --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["https://hooks.example.com", "https://hooks.example.com/", "https://hooks.example.com//"]
)
def test_public_base_url_keeps_the_query_string_twilio_signed(base_url):
    # Given a custom domain and a webhook URL with a query string (Twilio signs it)
    signed = "https://hooks.example.com/webhooks/twilio?tenant=acme&region=eu"
    signature = sdk_signature(signed, PARAMS)
    req = request("/webhooks/twilio?tenant=acme&region=eu", urlencode(PARAMS).encode(), signature,
                  host="abc.execute-api.us-east-1.amazonaws.com")
    policy = VerificationPolicy(now=0, public_base_url=base_url)
    # Then the public URL with the query string verifies
    assert twilio.verify(req, [SecretCandidate("current", TOKEN)], policy)


@pytest.mark.parametrize("prefix", ["/BOX", "/twilio/SMS-INBOX"])
def test_public_base_url_path_prefix_is_kept_verbatim(prefix):
    # Given a custom domain mapped under a path prefix (only trailing slashes are trimmed)
    signature = sdk_signature(f"https://hooks.example.com{prefix}/sms", PARAMS)
    req = request("/sms", urlencode(PARAMS).encode(), signature, host="abc.execute-api.us-east-1.amazonaws.com")
    policy = VerificationPolicy(now=0, public_base_url=f"https://hooks.example.com{prefix}/")
    assert twilio.verify(req, [SecretCandidate("current", TOKEN)], policy)


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://h.example/x", ["https://h.example/x", "https://h.example:443/x"]),
        ("http://h.example/x?a=1", ["http://h.example/x?a=1", "http://h.example:80/x?a=1"]),
        ("https://h.example:8443/x", ["https://h.example:8443/x", "https://h.example/x"]),
        ("https://[2001:db8::1]:443/x", ["https://[2001:db8::1]:443/x", "https://[2001:db8::1]/x"]),
        ("ftp://h.example/x", ["ftp://h.example/x", "ftp://h.example/x"]),  # no default port known: none added
        ("https:///x", ["https:///x", "https:///x"]),  # no host: no port to add to
    ],
)
def test_url_variants_are_the_port_forms_twilio_python_accepts(url, variants):
    assert twilio.url_variants(url) == variants


# --- the body -------------------------------------------------------------------------------------------------------


def test_empty_non_form_body_is_covered_by_the_url_signature_alone():
    # Given a callback with no body at all (nothing to hash, nothing to append)
    signature = sdk_signature("https://mycompany.com/ping?CallSid=CA1", {})
    req = request("/ping?CallSid=CA1", b"", signature, content_type="")
    assert twilio.verify(req, [SecretCandidate("current", TOKEN)], POLICY).version == "current"


def test_form_body_that_is_not_utf8_is_a_mismatch_not_an_error():
    # Given a form body with a byte that is not UTF-8, under a signature over its parameters read leniently
    body = b"Body=caf\xe9&From=%2B1555"
    signature = sdk_signature("https://mycompany.com/sms", {"Body": "caf\ufffd", "From": "+1555"})
    # When verified, Then it decodes with replacement characters (never raises) and verifies like Twilio's SDK would
    assert twilio.verify(request("/sms", body, signature), [SecretCandidate("current", TOKEN)], POLICY)
    assert rejection(request("/sms", body, sdk_signature("https://mycompany.com/sms", {"Body": "café"})),
                     [SecretCandidate("current", TOKEN)]) is Reason.SIGNATURE_MISMATCH


def test_json_body_that_is_not_an_object_is_unparseable():
    req = request("/s", b"[1, 2]", "unused", content_type="application/json")
    with pytest.raises(Rejected) as rejected:
        twilio.identify(req)
    assert rejected.value.reason is Reason.UNPARSEABLE_PAYLOAD
