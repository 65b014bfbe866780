"""Standard Webhooks v1a: the standard-library Ed25519 verification (RFC 8032 5.1.7) checked against RFC 8032's test
vectors (section 7.1), against ``cryptography`` (OpenSSL) on random keys and messages, and on the encodings it must
refuse (S >= L, R or A naming no point); then v1a through ``verify`` with ``whpk_`` secrets."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_gateway.verifiers import standard_webhooks as sw
from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate, VerificationPolicy, WebhookRequest
from webhook_gateway.verifiers.samples import standard_webhooks as samples

# RFC 8032 section 7.1: (name, secret key, public key, message, signature), hex.
TEST_1024_MESSAGE = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c505"
    "44e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a"
    "4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4"
    "feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767"
    "967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed"
    "3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa"
    "3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a918"
    "7ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c9"
    "0bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a4"
    "6128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea"
    "7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c6"
    "55ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004a"
    "a06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b292709"
    "4b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf"
    "191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd"
    "2dcc5600a32ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2"
    "cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c"
    "225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb"
    "68606937380db2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8"
    "cac60c905c15fc910840b94c00a0b9d0"
)
RFC8032 = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe"
        "24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb430"
        "2aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716e"
        "d28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        TEST_1024_MESSAGE,
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e"
        "30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643c"
        "e80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138a"
        "c17ad9bef1177331a704",
    ),
]
VECTORS = [pytest.param(*(bytes.fromhex(value) for value in case[1:]), id=case[0]) for case in RFC8032]
NOW = 1_700_000_000
POLICY = VerificationPolicy(now=NOW)
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = json.dumps({"type": "user.created", "data": {"id": "user_1"}}).encode()


def raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def openssl_accepts(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def same_point(first: sw.Point, second: sw.Point) -> bool:
    """Projective equality: x1/z1 = x2/z2 and y1/z1 = y2/z2."""
    x1, y1, z1, _ = first
    x2, y2, z2, _ = second
    return (x1 * z2 - x2 * z1) % sw.P == 0 and (y1 * z2 - y2 * z1) % sw.P == 0


def flip(data: bytes, bit: int) -> bytes:
    return data[: bit // 8] + bytes([data[bit // 8] ^ (1 << bit % 8)]) + data[bit // 8 + 1 :]


# --------------------------------------------------------------------------------------------------- RFC 8032 7.1
def test_the_vectors_are_what_cryptography_computes():
    # The transcription itself, checked by OpenSSL: each secret key gives that public key and signature
    for secret, public, message, signature in (case.values for case in VECTORS):
        private = Ed25519PrivateKey.from_private_bytes(secret)
        assert (raw_public(private), private.sign(message)) == (public, signature)


@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
def test_every_rfc8032_vector_verifies(secret, public, message, signature):
    assert sw.ed25519_verify(public, message, signature)


@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
def test_our_sample_signer_reproduces_every_rfc8032_vector(secret, public, message, signature):
    assert samples.ed25519_public_key(secret) == public
    assert samples.ed25519_sign(secret, message) == signature


@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
def test_a_vector_with_another_message_or_key_does_not_verify(secret, public, message, signature):
    assert not sw.ed25519_verify(public, message + b"\x00", signature)
    other = VECTORS[0].values[1] if public != VECTORS[0].values[1] else VECTORS[1].values[1]
    assert not sw.ed25519_verify(other, message, signature)


@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
@pytest.mark.parametrize("bit", [0, 7, 100, 255, 256, 300, 500, 511])
def test_a_vector_with_one_bit_of_its_signature_flipped_does_not_verify(secret, public, message, signature, bit):
    flipped = flip(signature, bit)
    assert not sw.ed25519_verify(public, message, flipped)
    assert not openssl_accepts(public, message, flipped)


# --------------------------------------------------------------------------------------------------- refused encodings
@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
def test_a_non_canonical_s_is_refused_though_the_equation_holds(secret, public, message, signature):
    # Given S + L: [S + L]B = [S]B, so only the range check (RFC 8032 5.1.7 step 1) refuses it (malleability)
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + sw.L).to_bytes(32, "little")
    assert not sw.ed25519_verify(public, message, malleated)
    assert not openssl_accepts(public, message, malleated)


def test_the_range_check_is_s_below_l():
    # Given the neutral element as the key and as R: [k]A = O, so S = 0 satisfies [S]B = R + [k]A, and so does
    # S = L ([L]B = O). The cofactorless check accepts S = 0 for this key, as RFC 8032 allows (a whpk_ key is the
    # sender's own, and one of small order proves nothing anybody could not sign); S = L is out of range.
    neutral = (1).to_bytes(32, "little")
    assert sw.ed25519_verify(neutral, b"anything", neutral + bytes(32))
    assert not sw.ed25519_verify(neutral, b"anything", neutral + sw.L.to_bytes(32, "little"))
    assert not sw.ed25519_verify(neutral, b"anything", neutral + (sw.L + 1).to_bytes(32, "little"))
    # And the same signature is refused for a real key
    assert not sw.ed25519_verify(VECTORS[0].values[1], b"anything", neutral + bytes(32))


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param(sw.P.to_bytes(32, "little"), id="y = p (0, not reduced)"),
        pytest.param((sw.P + 1).to_bytes(32, "little"), id="y = p + 1 (1, not reduced)"),
        pytest.param((2**255 - 1).to_bytes(32, "little"), id="y = 2^255 - 1"),
        pytest.param((1 | 1 << 255).to_bytes(32, "little"), id="x = 0 with the sign bit set"),
        pytest.param((2).to_bytes(32, "little"), id="y = 2: no x on the curve"),
        pytest.param(bytes(31), id="31 bytes"),
        pytest.param(bytes(33), id="33 bytes"),
    ],
)
def test_encodings_that_name_no_point_are_refused(encoding):
    assert sw.decode_point(encoding) is None


@pytest.mark.parametrize(
    ("encoding", "point"),
    [
        pytest.param((1).to_bytes(32, "little"), sw.NEUTRAL, id="the neutral element"),
        pytest.param(bytes(32), (sw.SQRT_MINUS_ONE, 0, 1, 0), id="y = 0: x = sqrt(-1), order 4"),
        pytest.param((1 << 255).to_bytes(32, "little"), (sw.P - sw.SQRT_MINUS_ONE, 0, 1, 0), id="y = 0, odd x"),
        pytest.param((sw.P - 1).to_bytes(32, "little"), (0, sw.P - 1, 1, 0), id="y = -1: x = 0, order 2"),
    ],
)
def test_edge_encodings_that_name_a_point_decode_to_it(encoding, point):
    decoded = sw.decode_point(encoding)
    assert decoded is not None and same_point(decoded, point) and decoded[3] == point[0] * point[1] % sw.P
    assert sw.encode_point(decoded) == encoding


def test_the_base_point_encodes_as_rfc8032_says_and_decodes_back():
    encoded = sw.encode_point(sw.BASE)
    assert encoded == (4 * pow(5, sw.P - 2, sw.P) % sw.P).to_bytes(32, "little")  # y = 4/5, x even
    decoded = sw.decode_point(encoded)
    assert decoded is not None and decoded == sw.BASE


@pytest.mark.parametrize(("secret", "public", "message", "signature"), VECTORS)
def test_an_r_or_a_that_names_no_point_is_refused(secret, public, message, signature):
    not_a_point = (2).to_bytes(32, "little")
    assert not sw.ed25519_verify(public, message, not_a_point + signature[32:])
    assert not sw.ed25519_verify(not_a_point, message, signature)
    assert not sw.ed25519_verify(public, message, signature[:63])
    assert not sw.ed25519_verify(public, message, signature + b"\x00")


def test_doubling_is_adding_a_point_to_itself():
    point = sw.BASE
    for _ in range(20):
        assert same_point(sw.edwards_double(point), sw.edwards_add(point, point))
        point = sw.edwards_add(point, sw.BASE)


def test_a_window_table_holds_the_sixteen_multiples():
    table = sw.multiples(sw.BASE)
    assert len(table) == 16 and table == sw.BASE_MULTIPLES
    assert all(same_point(table[n], samples._multiply(n, sw.BASE)) for n in range(16))


def test_the_base_point_has_order_l():
    assert same_point(samples._multiply(sw.L, sw.BASE), sw.NEUTRAL)
    assert not same_point(samples._multiply(sw.L - 1, sw.BASE), sw.NEUTRAL)


# --------------------------------------------------------------------------------------------------- against OpenSSL
@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200), bit=st.integers(0, 511))
def test_we_agree_with_openssl_on_its_signatures_and_their_one_bit_forgeries(seed, message, bit):
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public, signature = raw_public(private), private.sign(message)
    assert sw.ed25519_verify(public, message, signature)
    forged = flip(signature, bit)
    assert sw.ed25519_verify(public, message, forged) == openssl_accepts(public, message, forged)


# --------------------------------------------------------------------------------------------------- v1a in verify
SEED = bytes.fromhex(RFC8032[0][1])
PRIVATE = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC_KEY = "whpk_" + base64.b64encode(raw_public(PRIVATE)).decode()
OTHER = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032[1][1]))
OTHER_PUBLIC_KEY = "whpk_" + base64.b64encode(raw_public(OTHER)).decode()
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def v1a_entry(private: Ed25519PrivateKey = PRIVATE, timestamp: int = NOW, body: bytes = BODY) -> str:
    content = f"{MSG_ID}.{timestamp}.".encode() + body
    return "v1a," + base64.b64encode(private.sign(content)).decode()


def request(signature: str, timestamp: int = NOW, body: bytes = BODY) -> WebhookRequest:
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    return WebhookRequest(body=body, headers=headers)


def reason(webhook: WebhookRequest, secrets: list[SecretCandidate]) -> Reason:
    with pytest.raises(Rejected) as rejected:
        sw.verify(webhook, secrets, POLICY)
    return rejected.value.reason


def test_a_v1a_delivery_signed_by_openssl_verifies_with_the_whpk_key():
    assert sw.verify(request(v1a_entry()), [SecretCandidate("current", PUBLIC_KEY)], POLICY).version == "current"


def test_our_sample_signer_signs_v1a_with_a_whsk_key_and_names_its_whpk_key():
    private = samples.private_key(SEED)
    assert samples.public_key(private) == PUBLIC_KEY
    headers = samples.signature_headers(BODY, private, NOW)
    # Ed25519 is deterministic: OpenSSL signs the same content into the same entry
    content = f"{headers['webhook-id']}.{NOW}.".encode() + BODY
    assert headers["webhook-signature"] == "v1a," + base64.b64encode(PRIVATE.sign(content)).decode()
    assert sw.verify(WebhookRequest(BODY, headers), [SecretCandidate("current", PUBLIC_KEY)], POLICY)


def test_a_v1a_delivery_for_another_key_is_a_mismatch():
    assert reason(request(v1a_entry(OTHER)), [SecretCandidate("current", PUBLIC_KEY)]) is Reason.SIGNATURE_MISMATCH


def test_the_previous_public_key_verifies_during_a_rotation():
    secrets = [SecretCandidate("current", OTHER_PUBLIC_KEY), SecretCandidate("previous", PUBLIC_KEY)]
    assert sw.verify(request(v1a_entry()), secrets, POLICY).version == "previous"


def test_a_secret_verifies_only_the_entries_of_its_version():
    # Given a header with a v1a entry and a v1 entry, each valid for its own key
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    v1 = "v1," + sw.sign(MSG_ID, str(NOW), BODY, key)
    both = request(f"{v1a_entry()} {v1}")
    # Then each secret verifies through its own entry, and neither through the other's
    assert sw.verify(both, [SecretCandidate("current", PUBLIC_KEY)], POLICY).version == "current"
    assert sw.verify(both, [SecretCandidate("current", WHSEC)], POLICY).version == "current"
    assert reason(request(v1), [SecretCandidate("current", PUBLIC_KEY)]) is Reason.SIGNATURE_MISMATCH
    assert reason(request(v1a_entry()), [SecretCandidate("current", WHSEC)]) is Reason.SIGNATURE_MISMATCH


def test_a_v1a_entry_labelled_v1_or_a_v1_entry_labelled_v1a_is_unusable():
    # 64 bytes after "v1," or 32 after "v1a,": no usable entry
    assert reason(request(v1a_entry().replace("v1a,", "v1,")), [SecretCandidate("current", PUBLIC_KEY)]) is (
        Reason.MALFORMED_SIGNATURE
    )
    v1 = "v1a," + base64.b64encode(bytes(32)).decode()
    assert reason(request(v1), [SecretCandidate("current", PUBLIC_KEY)]) is Reason.MALFORMED_SIGNATURE


def test_a_stale_v1a_delivery_is_too_old_after_its_signature_matched():
    webhook = request(v1a_entry(timestamp=NOW - 301), timestamp=NOW - 301)
    assert reason(webhook, [SecretCandidate("current", PUBLIC_KEY)]) is Reason.TIMESTAMP_TOO_OLD


@pytest.mark.parametrize(
    "secret",
    [
        "whpk_" + base64.b64encode(bytes(31)).decode(),  # not 32 bytes
        "whpk_not base64!",
        "whsk_" + base64.b64encode(SEED).decode(),  # the sender's private key: never configured here
    ],
)
def test_a_secret_that_is_no_public_key_verifies_nothing(secret):
    with pytest.raises(Rejected) as rejected:
        sw.verify(request(v1a_entry()), [SecretCandidate("current", secret)], POLICY)
    assert rejected.value.reason is Reason.SIGNATURE_MISMATCH
    assert rejected.value.detail == "the current secret is no whsec_ or whpk_ key"
    assert secret not in str(rejected.value)
