"""Provider instances: one provider module deployed for several senders, each under its own name and options."""

from __future__ import annotations

import dataclasses

import pytest

from webhook_gateway.receiver import configured_provider
from webhook_gateway.settings import ReceiverSettings, SettingsError
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import Provider, provider_instance

BASE = {"QUEUE_URL": "q", "SECRET_ID": "s", "OVERFLOW_BUCKET": "b"}


def test_an_instance_runs_its_kinds_verifier_under_its_own_name():
    # Given a second GitHub organisation deployed as its own instance
    settings = ReceiverSettings.from_env({**BASE, "PROVIDER": "github_acme", "PROVIDER_KIND": "github"})
    # When the receiver's provider is configured
    provider = configured_provider(settings)
    # Then it verifies as GitHub does, and envelopes, metrics and the ledger carry the instance's name
    github = load_provider("github")
    assert provider.name == "github_acme"
    assert provider.verify is github.verify and provider.identify is github.identify


def test_without_a_kind_the_instance_is_the_provider_of_that_name():
    settings = ReceiverSettings.from_env({**BASE, "PROVIDER": "stripe", "PROVIDER_KIND": ""})
    assert configured_provider(settings) is load_provider("stripe")


def test_an_unknown_kind_stops_the_function_naming_the_variable():
    settings = ReceiverSettings.from_env({**BASE, "PROVIDER": "openai", "PROVIDER_KIND": "nosuchprovider"})
    with pytest.raises(SettingsError, match="PROVIDER_KIND: no verifier module for provider 'nosuchprovider'"):
        configured_provider(settings)


def test_options_for_a_provider_that_takes_none_are_refused():
    settings = ReceiverSettings.from_env({**BASE, "PROVIDER": "github", "PROVIDER_OPTIONS": '{"header": "x"}'})
    with pytest.raises(SettingsError, match=r"PROVIDER_OPTIONS: provider 'github' takes no options, got \['header'\]"):
        configured_provider(settings)


@pytest.mark.parametrize("options", ["not json", "[1, 2]", '"a string"'])
def test_options_that_are_not_a_json_object_are_refused_at_init(options):
    with pytest.raises(SettingsError, match="PROVIDER_OPTIONS"):
        ReceiverSettings.from_env({**BASE, "PROVIDER": "github", "PROVIDER_OPTIONS": options})


@pytest.mark.parametrize("name", ["", "GitHub", "1password", "a-b", "x" * 64])
def test_instance_names_are_lower_case_identifiers(name):
    with pytest.raises(SettingsError, match="PROVIDER"):
        ReceiverSettings.from_env({**BASE, "PROVIDER": name or " "})


def test_a_configurable_kind_gets_the_instance_options():
    # Given a kind whose configure() turns options into a provider
    seen = []

    def configure(options):
        seen.append(dict(options))
        return dataclasses.replace(kind, title=options["title"])

    github = load_provider("github")
    kind = dataclasses.replace(github, name="configurable", configure=configure)
    # When it is deployed as an instance with options
    provider = provider_instance(kind, "sender_one", {"title": "Sender One"})
    # Then configure() saw them and the result carries the instance's name
    assert seen == [{"title": "Sender One"}]
    assert isinstance(provider, Provider)
    assert (provider.name, provider.title) == ("sender_one", "Sender One")
