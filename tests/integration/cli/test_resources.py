"""StackResources: explicit flag > environment variable > CloudFormation stack output."""

from __future__ import annotations

import pytest

from hookctl.resources import (
    RESOURCE_SPECS,
    SOURCE_ENV,
    SOURCE_FLAG,
    SOURCE_STACK,
    SPECS_BY_KEY,
    ResourceNotFound,
    ResourceSpec,
    StackResources,
)
from webhook_gateway.verifiers import logical_name, registered_providers

from .gateway import stack_template


@pytest.fixture
def stack(session):
    """Given a deployed stack (moto CloudFormation) named 'webhook-gateway'."""
    session.client("cloudformation").create_stack(StackName="webhook-gateway", TemplateBody=stack_template("st-"))
    return session


class NoCloudFormation:
    def describe_stacks(self, **_):
        raise AssertionError("the stack must not be described when every needed resource is explicit")


def test_flag_beats_environment_beats_stack(stack):
    resources = StackResources(
        None,
        flags={"table": "from-flag"},
        environ={"HOOKCTL_TABLE": "from-env", "HOOKCTL_DLQ_URL": "https://dlq.from.env"},
        session=stack,
    )

    assert resources.lookup("table") == ("from-flag", SOURCE_FLAG)
    assert resources.lookup("dlq_url") == ("https://dlq.from.env", SOURCE_ENV)
    assert resources.lookup("queue_url") == (
        "https://sqs.us-east-1.amazonaws.com/123456789012/st-webhook-gateway-ingest",
        SOURCE_STACK,
    )
    assert resources.get("api_url") == "https://api.example.test/"


def test_explicit_resources_never_describe_the_stack():
    resources = StackResources(None, {"table": "t"}, {"HOOKCTL_DLQ_URL": "u"}, cloudformation=NoCloudFormation())

    assert resources.get("table") == "t" and resources.get("dlq_url") == "u"


def test_stack_name_from_flag_environment_or_default():
    assert StackResources(None, environ={}).stack_name == "webhook-gateway"
    assert StackResources(None, environ={"HOOKCTL_STACK": "gw-staging"}).stack_name == "gw-staging"
    assert StackResources("gw-prod", environ={"HOOKCTL_STACK": "gw-staging"}).stack_name == "gw-prod"


def test_a_missing_stack_explains_every_way_to_provide_the_resource(session):
    resources = StackResources("nope", environ={}, session=session)

    with pytest.raises(ResourceNotFound) as caught:
        resources.get("dlq_url")

    message = str(caught.value)
    assert "--dlq-url" in message and "HOOKCTL_DLQ_URL" in message
    assert "'nope'" in message and "does not exist" in message


def test_a_stack_without_the_output_says_which_output(stack):
    resources = StackResources(None, environ={}, session=stack)

    with pytest.raises(ResourceNotFound, match="no output 'GithubWebhookUrl'"):
        resources.get("github_url")


def test_queue_arn_comes_from_the_stack_with_the_stack_url(stack, api_calls):
    arn = StackResources(None, environ={}, session=stack).queue_arn("dlq")

    assert arn == "arn:aws:sqs:us-east-1:123456789012:st-webhook-gateway-dlq"
    assert not [call for call in api_calls if call[1] == "GetQueueAttributes"]


def test_queue_arn_follows_an_explicit_url_not_the_stack(stack, gateway):
    # Given the stack names one DLQ and the operator points at another
    resources = StackResources(None, {"dlq_url": gateway.dlq_url}, environ={}, session=stack)

    # Then the ARN is that of the explicit queue, not the stack's DeadLetterQueueArn
    assert resources.queue_arn("dlq") == gateway.dlq_arn
    assert resources.queue_arn("queue").endswith(":st-webhook-gateway-ingest")


def test_an_explicit_arn_needs_no_url():
    resources = StackResources(None, {"dlq_arn": "arn:aws:sqs:us-east-1:1:d"}, {}, cloudformation=NoCloudFormation())

    assert resources.queue_arn("dlq") == "arn:aws:sqs:us-east-1:1:d"


def test_every_template_output_has_a_flag_and_a_variable():
    outputs = {spec.output for spec in RESOURCE_SPECS}

    webhook_urls = {f"{logical_name(provider.name)}WebhookUrl" for provider in registered_providers()}
    assert outputs == {
        "QueueUrl", "QueueArn", "DeadLetterQueueUrl", "DeadLetterQueueArn", "DeliveriesTableName",
        "OverflowBucketName", *webhook_urls, "HttpApiUrl",
    }  # fmt: skip
    assert {"GithubWebhookUrl", "StripeWebhookUrl", "TwilioWebhookUrl"} <= webhook_urls
    assert all(spec.flag.startswith("--") and spec.env.startswith("HOOKCTL_") for spec in RESOURCE_SPECS)


def test_each_provider_webhook_url_is_a_resource_derived_from_its_name():
    assert SPECS_BY_KEY["github_url"] == ResourceSpec(
        "github_url", "GithubWebhookUrl", "--github-url", "HOOKCTL_GITHUB_URL", "GitHub webhook URL"
    )
    urls = [f"{provider.name}_url" for provider in registered_providers()] + ["api_url"]
    assert [spec.key for spec in RESOURCE_SPECS][-len(urls) :] == urls
    assert SPECS_BY_KEY["standard_webhooks_url"].output == "StandardWebhooksWebhookUrl"
    assert SPECS_BY_KEY["standard_webhooks_url"].flag == "--standard-webhooks-url"
