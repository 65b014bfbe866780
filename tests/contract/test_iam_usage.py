"""Least privilege, proven from both sides: the AWS actions the code really calls (every scenario of
tests/contract/scenarios.py, recorded at botocore's API call) are exactly the actions its role grants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.scenarios import CONSUMER, RECEIVER, observe
from tests.contract.test_template import grants, load_template, policy_statements


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
    """Given every consumer outcome, then the consumer's code called UpdateItem and GetObject only: its role's
    grants minus the SQS actions Lambda's event source mapping performs with that role."""
    called = observe().api_calls[CONSUMER]
    role = template["Resources"]["ConsumerFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    granted = {action for action, _ in grants(statements)}
    polling = {action for action in granted if action.startswith("sqs:")}
    assert polling == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:DeleteMessageBatch",
        "sqs:ChangeMessageVisibility",
        "sqs:ChangeMessageVisibilityBatch",
        "sqs:GetQueueAttributes",
    }
    assert called == granted - polling == {"dynamodb:UpdateItem", "s3:GetObject"}
