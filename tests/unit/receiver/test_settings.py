"""Receiver settings: a typo in an allowlist stops the function at init with one clear error, not a 500 per request."""

from __future__ import annotations

import json
import logging

import pytest

import receiver_app
from webhook_gateway.observability import logger
from webhook_gateway.settings import ReceiverSettings, SettingsError

BASE = {"PROVIDER": "stripe", "QUEUE_URL": "q", "SECRET_ID": "s", "OVERFLOW_BUCKET": "b"}


@pytest.mark.parametrize(
    "value, networks",
    [
        ("192.0.2.0/24", 1),
        ("192.0.2.1, 2001:db8::/32", 2),
        (" 10.0.0.0/8 ,192.168.0.0/16 ", 2),
        ("192.0.2.0/24,", 1),  # a trailing comma is harmless
    ],
)
def test_valid_allowlists_are_accepted(value, networks):
    from webhook_gateway.settings import parse_cidr_list

    settings = ReceiverSettings.from_env({**BASE, "ALLOWED_SOURCE_CIDRS": value})
    assert len(parse_cidr_list(settings.allowed_source_cidrs)) == networks


def test_an_empty_allowlist_allows_any_source():
    assert ReceiverSettings.from_env({**BASE, "ALLOWED_SOURCE_CIDRS": ""}).allowed_source_cidrs == ""


@pytest.mark.parametrize(
    "value, bad_item",
    [
        ("192.0.2.0/33", "item 1, '192.0.2.0/33'"),
        ("192.0.2.0/24;10.0.0.0/8", "item 1, '192.0.2.0/24;10.0.0.0/8'"),
        ("abc", "item 1, 'abc'"),
        ("192.0.2.0/24, 192.0.2.0/", "item 2, '192.0.2.0/'"),
        ("2001:db8::/32, 300.1.2.3", "item 2, '300.1.2.3'"),
    ],
)
def test_a_typo_is_a_settings_error_naming_the_variable_the_parameter_and_the_item(value, bad_item):
    # Given the Stripe receiver's environment with a mistyped allowlist
    environment = {**BASE, "ALLOWED_SOURCE_CIDRS": value}
    # When the settings are read, Then the error names the variable, its template parameter and the bad item
    with pytest.raises(SettingsError) as error:
        ReceiverSettings.from_env(environment)
    message = str(error.value)
    assert "ALLOWED_SOURCE_CIDRS" in message
    assert "AllowedSourceCidrs, item Stripe=" in message
    assert bad_item in message


def test_other_bad_variables_are_named_too():
    with pytest.raises(SettingsError) as error:
        ReceiverSettings.from_env({"PROVIDER": "github", "SECRET_ID": "s", "OVERFLOW_BUCKET": "b",
                                   "MAX_BODY_BYTES": "lots"})
    assert "QUEUE_URL: Field required" in str(error.value)
    assert "MAX_BODY_BYTES: Input should be a valid integer" in str(error.value)


@pytest.fixture
def lambda_environment(monkeypatch):
    """The variables the Lambda runtime and the template set, for receiver_app's init."""
    for key, value in {**BASE, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}.items():
        monkeypatch.setenv(key, value)
    receiver_app.receiver.cache_clear()
    yield monkeypatch
    receiver_app.receiver.cache_clear()


def test_in_lambda_a_typo_fails_the_init_loudly_with_one_clear_log_line(lambda_environment, caplog):
    # Given a Lambda execution environment whose allowlist has a typo
    lambda_environment.setenv("ALLOWED_SOURCE_CIDRS", "192.0.2.0/24;10.0.0.0/8")
    # When the runtime initialises the function module
    with caplog.at_level(logging.ERROR), pytest.raises(SettingsError):
        receiver_app.initialise()
    # Then the init fails with one error line that names the parameter and the bad item
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records if r.levelno >= logging.ERROR]
    [line] = [line for line in lines if line["message"] == "receiver cannot start: invalid settings"]
    assert "AllowedSourceCidrs, item Stripe=" in line["error"] and "'192.0.2.0/24;10.0.0.0/8'" in line["error"]


def test_in_lambda_valid_settings_wire_the_receiver_during_init(lambda_environment):
    lambda_environment.setenv("ALLOWED_SOURCE_CIDRS", "192.0.2.0/24")
    receiver_app.initialise()
    assert receiver_app.receiver.cache_info().currsize == 1


def test_outside_lambda_the_import_wires_nothing(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    receiver_app.receiver.cache_clear()
    receiver_app.initialise()
    assert receiver_app.receiver.cache_info().currsize == 0
