"""Least privilege, proven from both sides: the AWS actions the code really calls (every scenario of
tests/contract/scenarios.py, recorded at botocore's API call) are exactly the actions its role grants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.scenarios import CONSUMER, RECEIVER, observe
from tests.contract.test_template import grants, load_template, policy_statements, with_conditions


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_receivers_call_exactly_what_their_policies_grant(template: dict[str, Any]) -> None:
    """Given every receiver outcome (accepted, rotated, rejected, claim check, enqueue failure), then the receivers
    called GetSecretValue, SendMessage and PutObject, which is every action their policies grant and nothing else."""
    called = observe().api_calls[RECEIVER]
    for provider in ("Github", "Stripe", "Twilio"):
        props = template["Resources"][f"{provider}ReceiverFunction"]["Properties"]
        granted = {action for action, _ in grants(policy_statements(props["Policies"]))}
        assert called == granted, provider


def test_the_consumer_calls_exactly_what_its_role_grants_beyond_polling(template: dict[str, Any]) -> None:
    """Given every consumer outcome, then the consumer's code called exactly its role's grants minus what only
    Lambda's event source mapping does with that role (receive, delete, queue attributes): the ledger and archive
    writes, body reads and archive objects, the retry's ChangeMessageVisibility, the DLQ's SendMessage and, with
    EventBusName set (as in the scenarios), PutEvents."""
    called = observe().api_calls[CONSUMER]
    role = template["Resources"]["ConsumerFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    # The scenarios run with the listener tap on (TAP_TOPIC_ARN set) and the event bus set: both conditional
    # grants are in.
    granted = {
        action for action, _ in grants(with_conditions(statements, frozenset({"HasListenerTap", "HasEventBus"})))
    }
    polling_only = {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:DeleteMessageBatch",
        "sqs:ChangeMessageVisibilityBatch",
        "sqs:GetQueueAttributes",
    }
    assert polling_only <= granted
    assert called == granted - polling_only == {
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:PutObject",
        "sns:Publish",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "events:PutEvents",
    }
