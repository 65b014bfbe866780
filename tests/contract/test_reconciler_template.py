"""The optional ReconcilerFunction in template.yaml: off unless ReconcilerSchedule is set, least privilege (each grant
exists only with the secret it is about), and exactly the AWS actions its code calls (scenarios.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.scenarios import RECONCILER, observe
from tests.contract.test_template import as_json, function_env, get_att, grants, load_template, ref


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def statements_when(template: dict[str, Any], *, github: bool, stripe: bool) -> list[dict[str, Any]]:
    """The reconciler role's statements with its conditions decided (Fn::If on HasReconcilerGithub/Stripe)."""
    conditions = {"HasReconcilerGithub": github, "HasReconcilerStripe": stripe}
    role = template["Resources"]["ReconcilerFunctionRole"]["Properties"]
    (policy,) = role["Policies"]
    chosen = []
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:
            condition, when_true, when_false = statement["Fn::If"]
            statement = when_true if conditions[condition] else when_false
            if statement == ref("AWS::NoValue"):
                continue
        chosen.append(statement)
    return chosen


def test_the_schedule_is_off_by_default_and_needs_a_target(template: dict[str, Any]) -> None:
    """Given the parameters, then ReconcilerSchedule defaults to empty, the schedule and its role exist only when it
    is set, and a Rule refuses a schedule without any token secret."""
    params, resources = template["Parameters"], template["Resources"]
    assert params["ReconcilerSchedule"]["Default"] == ""
    off = {"Fn::Not": [{"Fn::Equals": [ref("ReconcilerSchedule"), ""]}]}
    assert template["Conditions"]["HasReconcilerSchedule"] == off
    schedule = resources["ReconcilerScheduledRun"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule" and schedule["Condition"] == "HasReconcilerSchedule"
    assert resources["ReconcilerScheduleRole"]["Condition"] == "HasReconcilerSchedule"
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == ref("ReconcilerFunction.Alias")  # the `live` alias, as the other functions' events
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    (statement,) = resources["ReconcilerScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("lambda:InvokeFunction", ref("ReconcilerFunction.Alias"))
    assert "ReconcilerScheduleNeedsATarget" in template["Rules"]
    assert int(params["ReconcilerLookbackHours"]["MaxValue"]) == 72  # GitHub redelivers 3 days


def test_the_role_grants_each_action_only_with_its_secret(template: dict[str, Any]) -> None:
    """Given the reconciler's role, then it always reads the ledger (BatchGetItem), reads a token's secret only when
    that secret is named, and may queue backfills (SendMessage, PutObject under stripe/) only for Stripe."""
    table = get_att("DeliveriesTable", "Arn")
    base = {("dynamodb:BatchGetItem", as_json(table))}
    assert set(grants(statements_when(template, github=False, stripe=False))) == base
    github = set(grants(statements_when(template, github=True, stripe=False)))
    assert github == base | {("secretsmanager:GetSecretValue", as_json(ref("ReconcilerGithubTokenSecretArn")))}
    stripe = set(grants(statements_when(template, github=False, stripe=True)))
    assert stripe == base | {
        ("secretsmanager:GetSecretValue", as_json(ref("ReconcilerStripeKeySecretArn"))),
        ("sqs:SendMessage", as_json(get_att("WebhookQueue", "Arn"))),
        ("s3:PutObject", as_json({"Fn::Sub": "${OverflowBucket.Arn}/stripe/*"})),
    }


def test_the_reconciler_calls_exactly_what_its_role_grants(template: dict[str, Any]) -> None:
    """Given the reconciler's scenario (both providers configured), then its code called exactly the actions its role
    grants with both secrets named."""
    called = observe().api_calls[RECONCILER]
    granted = {action for action, _ in grants(statements_when(template, github=True, stripe=True))}
    assert called == granted


def test_the_environment_is_what_the_settings_read(template: dict[str, Any]) -> None:
    """Given the reconciler function, then its environment names the stack's table, queue and bucket and the
    reconciler parameters, and it runs one at a time."""
    env = function_env(template, "ReconcilerFunction")
    assert env["POWERTOOLS_SERVICE_NAME"] == "reconciler"
    assert env["TABLE_NAME"] == ref("DeliveriesTable")
    assert env["QUEUE_URL"] == ref("WebhookQueue")
    assert env["OVERFLOW_BUCKET"] == ref("OverflowBucket")
    assert env["GITHUB_HOOKS"] == ref("ReconcilerGithubHooks")
    assert env["GITHUB_TOKEN_SECRET"] == ref("ReconcilerGithubTokenSecretArn")
    assert env["STRIPE_KEY_SECRET"] == ref("ReconcilerStripeKeySecretArn")
    assert env["LOOKBACK_HOURS"] == ref("ReconcilerLookbackHours")
    props = template["Resources"]["ReconcilerFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Role"] == get_att("ReconcilerFunctionRole", "Arn")
