from __future__ import annotations

import pytest
from pydantic import ValidationError

from webhook_gateway.consumer.settings import ConsumerSettings


def test_defaults_apply_when_optional_variables_are_absent_or_empty():
    # Given the template's variables, optional ones empty
    environ = {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "DELIVERY_TTL_DAYS": "", "OTHER": "x"}

    # When the settings are read
    settings = ConsumerSettings.from_env(environ)

    # Then the documented defaults apply
    assert (settings.delivery_ttl_days, settings.max_receive_count, settings.lease_margin_ms) == (30, 20, 1000)


@pytest.mark.parametrize(
    "environ",
    [
        {"OVERFLOW_BUCKET": "overflow"},
        {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "DELIVERY_TTL_DAYS": "0"},
        {"TABLE_NAME": "deliveries", "OVERFLOW_BUCKET": "overflow", "MAX_RECEIVE_COUNT": "zero"},
    ],
)
def test_a_missing_or_invalid_setting_fails_at_cold_start(environ):
    # Given / When an incomplete or invalid environment is read
    # Then validation fails (the first invocation errors instead of misbehaving)
    with pytest.raises(ValidationError):
        ConsumerSettings.from_env(environ)
