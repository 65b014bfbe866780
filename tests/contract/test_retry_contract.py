"""Contract: the queue's retention, its maxReceiveCount, the consumer's retry settings and the archive agree in
template.yaml, with the consumer's own parser and policy (webhook_gateway.consumer.retry) doing the arithmetic."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.contract.test_template import (
    RECEIVER_IDS,
    as_json,
    function_env,
    get_att,
    load_raw_template,
    load_template,
    ref,
    resolved,
)
from webhook_gateway.consumer.processor import RETENTION_MARGIN_SECONDS
from webhook_gateway.consumer.retry import (
    DEFAULT_JITTER,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SCHEDULE,
    RetryPolicy,
    parse_schedule,
)
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.settings import ReceiverSettings

RETENTION = ["QueueSettings", "WebhookQueue", "MessageRetentionSeconds"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def default(template: dict[str, Any], parameter: str) -> Any:
    return template["Parameters"][parameter]["Default"]


def retention_seconds(template: dict[str, Any]) -> int:
    """The QueueSettings mapping's retention (the expanded template has resolved that mapping away: read as written)."""
    mapping, key, name = RETENTION
    seconds = int(load_raw_template()["Mappings"][mapping][key][name])
    assert template["Resources"]["WebhookQueue"]["Properties"]["MessageRetentionPeriod"] == seconds
    return seconds


def test_the_default_schedule_is_the_consumers_and_parses_with_its_parser(template):
    # Given the RetrySchedule and MaxAttempts defaults / When parsed by the consumer's parser
    schedule = parse_schedule(default(template, "RetrySchedule"))

    # Then they are the consumer's own defaults (a stack without overrides behaves as retry.py documents)
    assert schedule == parse_schedule(DEFAULT_SCHEDULE)
    assert int(default(template, "MaxAttempts")) == DEFAULT_MAX_ATTEMPTS


@pytest.mark.parametrize("value", ["1m,2m,4m", "30s", "1h30m", "90", " 1m , 2m ", "12h", "1h30m15s"])
def test_schedules_the_parameter_accepts_are_schedules_the_consumer_parses(template, value):
    # Given a value the parameter's AllowedPattern accepts / When the consumer parses it / Then it is a schedule
    assert re.fullmatch(template["Parameters"]["RetrySchedule"]["AllowedPattern"], value)
    assert parse_schedule(value)


def test_the_queue_keeps_a_message_longer_than_the_longest_schedule_with_every_consumer_timeout(template):
    """Given the default schedule at its longest (+20 % jitter on every wait: 103,896 s), plus one visibility
    timeout per attempt at the largest ConsumerTimeouts entry (short retries, a crashed invocation) and the margin
    the consumer keeps before the retention ends
    Then the queue's MessageRetentionPeriod (QueueSettings) is longer: SQS never deletes a delivery that still
    has attempts left."""
    policy = RetryPolicy(parse_schedule(default(template, "RetrySchedule")), int(default(template, "MaxAttempts")))
    assert policy.jitter == DEFAULT_JITTER
    longest_waits = policy.total_bounds()[1]
    largest_visibility = max(
        int(row["QueueVisibilityTimeout"]) for row in template["Mappings"]["ConsumerTimeouts"].values()
    )
    needed = longest_waits + policy.max_attempts * largest_visibility + RETENTION_MARGIN_SECONDS
    assert (longest_waits, largest_visibility, needed) == (103_896, 5_430, 172_656)
    assert retention_seconds(template) > needed


def test_the_redrive_policy_is_a_safety_net_above_max_attempts(template):
    # Given the defaults / Then SQS's maxReceiveCount is above MaxAttempts: the consumer's schedule ends a delivery
    assert int(default(template, "MaxReceiveCount")) > int(default(template, "MaxAttempts"))
    assert template["Parameters"]["MaxAttempts"]["MaxValue"] <= template["Parameters"]["MaxReceiveCount"]["MaxValue"]


def test_the_dead_letter_queue_keeps_messages_longer_than_the_queue(template):
    # Given the DLQ (the consumer sends exhausted deliveries there) / Then 14 days, longer than the main queue
    dlq = template["Resources"]["WebhookDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1_209_600 > retention_seconds(template)


def test_the_consumer_environment_wires_the_retry_and_archive_settings(template):
    # Given the consumer's environment
    env = function_env(template, "ConsumerFunction")

    # Then each retry and archive variable comes from its parameter or resource, and the retention from the same
    # mapping entry as the queue's own MessageRetentionPeriod
    assert env["RETRY_SCHEDULE"] == ref("RetrySchedule")
    assert env["MAX_ATTEMPTS"] == ref("MaxAttempts")
    raw = load_raw_template()["Resources"]
    raw_env = raw["ConsumerFunction"]["Properties"]["Environment"]["Variables"]
    assert raw_env["QUEUE_RETENTION_SECONDS"] == raw["WebhookQueue"]["Properties"]["MessageRetentionPeriod"]
    assert raw_env["QUEUE_RETENTION_SECONDS"] == {"Fn::FindInMap": RETENTION}
    assert env["QUEUE_RETENTION_SECONDS"] == retention_seconds(template)
    assert env["QUEUE_URL"] == ref("WebhookQueue")
    assert env["DEAD_LETTER_QUEUE_URL"] == ref("WebhookDeadLetterQueue")
    assert env["ARCHIVE_RETENTION_DAYS"] == ref("ArchiveRetentionDays")
    assert env["ARCHIVE_BUCKET"] == ref("ArchiveBucket")
    assert env["ARCHIVE_INLINE_MAX_BYTES"] == ref("ArchiveInlineMaxBytes")
    # No RETRY_JITTER: the consumer's default jitter is the one the retention arithmetic above assumes
    assert "RETRY_JITTER" not in env


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"ArchiveRetentionDays": "0"},
        {"MaxAttempts": "6", "RetrySchedule": "30s,12h", "ConsumerTimeoutSeconds": "900"},
    ],
)
def test_the_resolved_consumer_environment_is_valid_consumer_settings(parameters):
    """Given the template resolved for some parameter values (resources given placeholder names)
    When the consumer reads its environment at cold start
    Then the settings validate: the schedule fits the retention, the archive has its bucket."""
    stack = resolved(parameters)
    variables = stack.resources["ConsumerFunction"]["Properties"]["Environment"]["Variables"]
    placeholders = {"DeliveriesTable": "deliveries", "OverflowBucket": "overflow", "ArchiveBucket": "archive"}
    env: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in stack.resources:
            env[name] = placeholders.get(value["Ref"], f"https://sqs.example/{value['Ref']}")
        else:
            env[name] = str(stack.resolve(value))
    settings = ConsumerSettings.from_env(env)
    assert settings.archive_enabled is (parameters.get("ArchiveRetentionDays", "30") != "0")
    assert settings.queue_retention_seconds == 345_600


def test_a_schedule_that_outlasts_the_queue_fails_the_consumer_at_cold_start():
    # Given a stack asking for more 12-hour waits than the queue's 4 days hold / When the consumer starts / Then it
    # refuses (a deploy-time parameter cannot check the sum; the consumer's settings do)
    stack = resolved({"MaxAttempts": "10", "RetrySchedule": "12h"})
    variables = stack.resources["ConsumerFunction"]["Properties"]["Environment"]["Variables"]
    env = {
        "TABLE_NAME": "deliveries",
        "OVERFLOW_BUCKET": "overflow",
        **{name: str(stack.resolve(variables[name])) for name in ("RETRY_SCHEDULE", "MAX_ATTEMPTS")},
        "QUEUE_RETENTION_SECONDS": str(stack.resolve(variables["QUEUE_RETENTION_SECONDS"])),
    }
    with pytest.raises(ValueError, match="longer than the queue keeps a message"):
        ConsumerSettings.from_env(env)


def test_the_archive_lasts_as_long_as_the_ledger_by_default(template):
    # Given the defaults / Then the archive and the ledger forget a delivery on the same day (a replay needs both)
    assert default(template, "ArchiveRetentionDays") == default(template, "DeliveryTtlDays") == 30


def test_the_archive_inline_limit_is_the_same_in_the_template_and_the_consumer(template):
    """Given the ArchiveInlineMaxBytes parameter and the consumer's default, then they are one number (the break-even
    bench/cost.py computes: docs/cost.md), so a consumer run without the template archives like a deployed one."""
    settings_default = ConsumerSettings.model_fields["archive_inline_max_bytes"].default
    assert default(template, "ArchiveInlineMaxBytes") == settings_default == 5_120


def test_the_archive_bucket_expires_objects_after_archive_retention_days(template):
    # Given the archive bucket's lifecycle / Then objects expire after ArchiveRetentionDays (1 day when it is off)
    [rule] = template["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Fn::If": ["HasArchive", ref("ArchiveRetentionDays"), 1]}
    assert template["Conditions"]["HasArchive"] == {"Fn::Not": [{"Fn::Equals": [ref("ArchiveRetentionDays"), 0]}]}
    assert "VersioningConfiguration" not in template["Resources"]["ArchiveBucket"]["Properties"]


@pytest.mark.parametrize("receiver", sorted(RECEIVER_IDS.values()))
def test_no_receiver_can_touch_the_archive_bucket(template, receiver):
    # Given a receiver's policies / Then none names the archive bucket (only the consumer writes it)
    policies = template["Resources"][receiver]["Properties"]["Policies"]
    assert "ArchiveBucket" not in as_json(policies)


def test_no_provider_instance_id_can_collide_with_an_archive_or_body_partition():
    # Given every instance in the Providers mapping / Then its Id is one the receiver accepts as PROVIDER, which
    # holds no "#": so "<id>" never equals another instance's "<id>#archive" or "<id>#body" ledger partition
    pattern = ReceiverSettings.model_fields["provider"].metadata[0].pattern
    for row in load_raw_template()["Mappings"]["Providers"].values():
        assert re.fullmatch(pattern, row["Id"]), row["Id"]
        assert "#" not in row["Id"]


def test_only_the_consumer_writes_the_archive_and_the_operator_policy_reads_it(template):
    # Given every role and managed policy in the template / Then PutObject on the archive is the consumer's alone
    archive_objects = as_json({"Fn::Sub": "${ArchiveBucket.Arn}/*"})
    writers = []
    for name, resource in template["Resources"].items():
        document = json.dumps(resource, sort_keys=True)
        if archive_objects[1:-1] in document and "s3:PutObject" in document:
            writers.append(name)
    assert writers == ["ConsumerFunctionRole"]
    operator = as_json(template["Resources"]["DeliveryOperatorPolicy"])
    assert archive_objects[1:-1] in operator
    assert get_att("ArchiveBucket", "Arn") != get_att("OverflowBucket", "Arn")
