"""What the verifier package hands the receiver: providers by name, rejections, acknowledgements, signing helpers."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from webhook_gateway import verifiers
from webhook_gateway.verifiers import github, load_provider, registered_providers
from webhook_gateway.verifiers.base import (
    DeliveryIdentity,
    Reason,
    Rejected,
    json_acknowledgement,
    utf8,
)


@pytest.mark.parametrize("name", [provider.name for provider in registered_providers()])
def test_every_provider_loads_by_its_name(name):
    assert load_provider(name).name == name


def test_the_registry_is_every_provider_module_of_the_package():
    # Every module of verifiers/ but the contract (base.py) is a provider; the samples subpackage is none
    package = Path(verifiers.__file__).parent
    modules = sorted(path.stem for path in package.glob("*.py") if path.stem not in ("__init__", "base"))
    assert {"github", "stripe", "twilio"} <= set(modules)
    providers = registered_providers()
    assert [provider.name for provider in providers] == modules
    assert all(provider is load_provider(provider.name) for provider in providers)


def test_a_provider_module_on_the_package_path_is_registered(tmp_path, monkeypatch):
    # Given a directory on the package's path holding one provider module and a subpackage (no provider)
    (tmp_path / "aaa_acme.py").write_text(
        "from webhook_gateway.verifiers import github\n"
        "from webhook_gateway.verifiers.base import Provider\n"
        "PROVIDER = Provider(name='aaa_acme', verify=github.verify, identify=github.identify)\n"
    )
    (tmp_path / "zzz_helpers").mkdir()
    (tmp_path / "zzz_helpers" / "__init__.py").write_text("")
    monkeypatch.setattr(verifiers, "__path__", [*verifiers.__path__, str(tmp_path)])
    try:
        # Then the module is a provider like the package's own, in name order; the subpackage is not
        names = [provider.name for provider in registered_providers()]
        assert names == sorted(names) and names[0] == "aaa_acme" and "zzz_helpers" not in names
        assert load_provider("aaa_acme").verify is github.verify
    finally:
        sys.modules.pop("webhook_gateway.verifiers.aaa_acme", None)
        sys.modules.pop("webhook_gateway.verifiers.zzz_helpers", None)


@pytest.mark.parametrize("name", ["base", "__init__", "GitHub", "git-hub", "", "github.base", "../github"])
def test_names_that_are_not_provider_names_are_refused_before_any_import(name):
    # "base" and "__init__" are importable modules of the package: refused by name, never imported as providers
    with pytest.raises(ValueError, match="not a provider name"):
        load_provider(name)


def test_unknown_provider_is_a_value_error():
    with pytest.raises(ValueError, match="no verifier module"):
        load_provider("paypal")


@pytest.fixture
def fake_module(monkeypatch):
    def install(**attributes):
        module = types.ModuleType("webhook_gateway.verifiers.fake")
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, module.__name__, module)

    return install


def test_module_without_provider_is_a_value_error(fake_module):
    fake_module()
    with pytest.raises(ValueError, match="does not define PROVIDER"):
        load_provider("fake")


@pytest.mark.parametrize("provider", [github.PROVIDER, "github", None])
def test_module_whose_provider_is_not_its_own_is_a_value_error(fake_module, provider):
    # Given verifiers/fake.py exporting GitHub's provider (a copy-paste slip) or something that is no Provider
    fake_module(PROVIDER=provider)
    # Then it is refused: deliveries for "fake" must never be verified as GitHub's
    with pytest.raises(ValueError, match="does not define PROVIDER"):
        load_provider("fake")


def test_rejection_carries_reason_and_detail():
    rejection = Rejected(Reason.MALFORMED_SIGNATURE, "expected sha256=<64 hex digits>")
    assert (rejection.reason, rejection.detail) == (Reason.MALFORMED_SIGNATURE, "expected sha256=<64 hex digits>")
    assert str(rejection) == "malformed_signature: expected sha256=<64 hex digits>"


def test_rejection_without_detail_says_only_its_reason():
    # A signature mismatch says nothing more: a forger learns nothing from the log line or the exception
    rejection = Rejected(Reason.SIGNATURE_MISMATCH)
    assert (rejection.detail, str(rejection)) == ("", "signature_mismatch")


def test_json_acknowledgement_is_a_compact_202_naming_the_delivery():
    ack = json_acknowledgement(DeliveryIdentity(delivery_id="evt_1", event_type="charge.succeeded"))
    assert (ack.status, ack.content_type) == (202, "application/json")
    assert ack.body == '{"status":"accepted","delivery_id":"evt_1"}'
    assert json.loads(ack.body) == {"status": "accepted", "delivery_id": "evt_1"}


def test_github_sign_writes_the_header_value_github_sends():
    # GitHub's documented example: the whole header value, prefix included
    assert github.sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_utf8_never_raises_and_keeps_valid_text_as_utf8():
    assert utf8("café") == "café".encode()
    assert utf8("\ud800") == b"\xed\xa0\x80"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("github", "Github"),
        ("standard_webhooks", "StandardWebhooks"),
        ("generic_hmac", "GenericHmac"),
        ("a_b_c", "ABC"),
    ],
)
def test_a_provider_name_becomes_the_templates_logical_name(name, expected):
    # template.yaml spells an instance in its logical ids and outputs this way: GenericHmacReceiverFunction
    from webhook_gateway.verifiers import logical_name

    assert logical_name(name) == expected
