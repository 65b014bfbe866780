"""The local runner reads template.yaml as CloudFormation does, and creates its resources with their Properties.

Resolution is checked on the template itself (parameters, mappings, conditions, Globals, intrinsics); creation with
moto in process: what the queues, table, bucket and secrets end up with is read back from the services and compared
with the template's Properties, so a template change the runner does not follow fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from hookctl.local.language_extensions import expand
from hookctl.local.stack import create_stack, denies_insecure_transport, function_specs, plan_placeholders
from hookctl.local.template import NO_VALUE, Template, TemplateError, load_yaml, parse_assignments
from hookctl.resources import StackResources
from hookctl.samples import SAMPLE_SECRETS
from webhook_gateway.verifiers import logical_name

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
API = "http://127.0.0.1:3999"


def template(**parameters: str) -> Template:
    return Template(TEMPLATE, stack_name="local-test", region="us-east-1", parameter_overrides=parameters)


def properties(tpl: Template, logical_id: str) -> dict:
    return tpl.resources[logical_id]["Properties"]


# -- loading and resolving -------------------------------------------------------------------------------------------


def test_short_form_tags_become_intrinsic_functions():
    document = load_yaml(TEMPLATE)
    queue = document["Resources"]["WebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] == {
        "Fn::FindInMap": ["ConsumerTimeouts", {"Ref": "ConsumerTimeoutSeconds"}, "QueueVisibilityTimeout"]
    }


def test_the_visibility_timeout_follows_the_consumer_timeout_through_the_mapping():
    assert template().resolve(properties(template(), "WebhookQueue")["VisibilityTimeout"]) == 210
    short = template(ConsumerTimeoutSeconds="10")
    assert short.resolve(properties(short, "WebhookQueue")["VisibilityTimeout"]) == 90


def test_parameter_overrides_are_checked_like_cloudformation_does():
    with pytest.raises(TemplateError, match="AllowedValues"):
        template(ConsumerTimeoutSeconds="7")
    with pytest.raises(TemplateError, match="MinValue"):
        template(ConsumerBatchSize="0")
    with pytest.raises(TemplateError, match="unknown parameter"):
        template(NoSuchParameter="1")
    assert template(MaxReceiveCount="3").parameters["MaxReceiveCount"] == "3"


def test_conditions_and_no_value():
    default = template()
    assert default.condition("HasReceiverReservedConcurrency") is False
    reserved = properties(default, "GithubReceiverFunction")["ReservedConcurrentExecutions"]
    assert default.resolve(reserved) is NO_VALUE
    assert template(ReceiverReservedConcurrency="7").resolve(reserved) == "7"


def test_sam_globals_are_merged_into_each_function():
    tpl = template(LogLevel="DEBUG")
    receiver = properties(tpl, "GithubReceiverFunction")
    assert receiver["Timeout"] == 8 and receiver["Runtime"] == "python3.13"
    variables = receiver["Environment"]["Variables"]
    assert tpl.resolve(variables["POWERTOOLS_LOG_LEVEL"]) == "DEBUG"  # from Globals
    assert variables["PROVIDER"] == "github"  # the function's own
    assert receiver["Layers"] == [{"Ref": "GatewayLayer"}]


def test_set_overrides_a_resource_property_and_is_reported():
    tpl = Template(
        TEMPLATE,
        stack_name="t",
        region="us-east-1",
        overrides={"WebhookQueue.VisibilityTimeout": "12", "ConsumerFunction.Environment.Variables.EXTRA": "x"},
    )
    assert tpl.resolve(properties(tpl, "WebhookQueue")["VisibilityTimeout"]) == 12
    assert properties(tpl, "ConsumerFunction")["Environment"]["Variables"]["EXTRA"] == "x"
    assert [str(o) for o in tpl.overrides] == [
        "WebhookQueue.VisibilityTimeout=12",
        "ConsumerFunction.Environment.Variables.EXTRA=x",
    ]
    with pytest.raises(TemplateError):
        Template(TEMPLATE, stack_name="t", region="us-east-1", overrides={"NoSuchResource.X": "1"})


def test_sub_and_pseudo_parameters():
    tpl = template()
    plan_placeholders(tpl)
    assert tpl.resolve({"Fn::Sub": "${AWS::StackName}-${AWS::Region}-${!Literal}"}) == "local-test-us-east-1-${Literal}"
    assert (
        tpl.resolve({"Fn::Sub": "/aws/lambda/${GithubReceiverFunction}"})
        == "/aws/lambda/local-test-GithubReceiverFunction"
    )


def test_parameter_assignments_accept_both_forms():
    assert parse_assignments(["A=1", "ParameterKey=B,ParameterValue=x=y"], "--parameter-overrides") == {
        "A": "1",
        "B": "x=y",
    }
    with pytest.raises(TemplateError):
        parse_assignments(["nothing"], "--set")


# -- creating the stack ----------------------------------------------------------------------------------------------


@pytest.fixture
def local_stack():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        tpl = template(MaxReceiveCount="4")
        stack = create_stack(
            tpl, session.client, environ={"HOOKCTL_TWILIO_SECRET": "an-overridden-token"}, api_base_url=API
        )
        yield tpl, stack, session


def test_the_listener_tap_topic_is_created_with_listener_tap_enabled():
    """Given ListenerTap=Enabled, when the local stack is created, then its SNS topic exists, the consumer's
    TAP_TOPIC_ARN names it, and the ListenerTapTopicArn output is there for `hookctl listen`."""
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        stack = create_stack(template(ListenerTap="Enabled"), session.client, environ={}, api_base_url=API)
        arn = stack.output("ListenerTapTopicArn")
        assert session.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"] == (
            "alias/aws/sns"
        )
        assert stack.functions["ConsumerFunction"].environment["TAP_TOPIC_ARN"] == arn
        assert stack.created["ListenerTapTopic"].ignored == []


def test_every_property_of_the_created_resources_is_applied(local_stack):
    _, stack, _ = local_stack
    created = {c.logical_id: c.type for c in stack.created.values()}
    secrets = {f"{logical_name(p)}WebhookSecret": "AWS::SecretsManager::Secret" for p in SAMPLE_SECRETS}
    assert created == {
        **secrets,
        "WebhookQueue": "AWS::SQS::Queue",
        "WebhookDeadLetterQueue": "AWS::SQS::Queue",
        "WebhookQueuePolicy": "AWS::SQS::QueuePolicy",
        "OverflowBucket": "AWS::S3::Bucket",
        "OverflowBucketPolicy": "AWS::S3::BucketPolicy",
        "ArchiveBucket": "AWS::S3::Bucket",
        "ArchiveBucketPolicy": "AWS::S3::BucketPolicy",
        "DeliveriesTable": "AWS::DynamoDB::Table",
        "AlarmTopic": "AWS::SNS::Topic",  # (the listener tap's topic only exists with ListenerTap=Enabled, below)
    }
    # A property the runner does not know would be listed here: extend stack.py when the template grows one.
    assert {c.logical_id: c.ignored for c in stack.created.values() if c.ignored} == {}


def test_queues_have_the_templates_attributes_and_redrive_policy(local_stack):
    tpl, stack, session = local_stack
    sqs = session.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=stack.queue_url("WebhookQueue"), AttributeNames=["All"])["Attributes"]
    dlq_url = stack.queue_url("WebhookDeadLetterQueue")
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert queue["VisibilityTimeout"] == "210"
    assert queue["MessageRetentionPeriod"] == str(properties(tpl, "WebhookQueue")["MessageRetentionPeriod"])
    assert queue["MaximumMessageSize"] == "1048576"
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 4}
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert "RedrivePolicy" not in dlq
    assert json.loads(queue["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"


def test_the_ledger_table_has_the_templates_keys_index_ttl_and_backups(local_stack):
    _, stack, session = local_stack
    dynamodb = session.client("dynamodb")
    name = stack.output("DeliveriesTableName")
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "provider": "HASH",
        "delivery_id": "RANGE",
    }
    indexes = {index["IndexName"]: [k["AttributeName"] for k in index["KeySchema"]]
               for index in table["GlobalSecondaryIndexes"]}
    assert indexes == {"by-status": ["status", "last_attempt_at"], "by-provider": ["provider", "last_attempt_at"]}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"AttributeName": "expires_at", "TimeToLiveStatus": "ENABLED"}
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_the_bucket_has_encryption_public_access_block_and_lifecycle(local_stack):
    _, stack, session = local_stack
    s3 = session.client("s3")
    bucket = stack.output("OverflowBucketName")
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Expiration"] == {"Days": 15} and lifecycle["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_the_claim_check_bucket_takes_and_returns_bodies_over_plain_http(local_stack):
    """The template's DenyInsecureTransport bucket policy denies every request that is not TLS; moto enforces bucket
    policies and its endpoint is plain HTTP, so with that statement no body could go through the claim check."""
    # Given the stack created from the template (its bucket policy included)
    _, stack, session = local_stack
    s3 = session.client("s3")
    bucket = stack.output("OverflowBucketName")
    # When a receiver puts a large body and the consumer reads it back
    s3.put_object(Bucket=bucket, Key="bodies/one", Body=b"x" * 2_000_000)
    # Then both work, as they do in AWS over TLS
    assert s3.get_object(Bucket=bucket, Key="bodies/one")["Body"].read() == b"x" * 2_000_000
    # And the statement left out is reported, like the other things not emulated
    policy = stack.created["OverflowBucketPolicy"]
    assert "DenyInsecureTransport" in policy.deviation and "plain HTTP" in policy.deviation


def test_only_the_secure_transport_deny_is_left_out_of_a_bucket_policy():
    # Given a bucket policy with the TLS-only deny and a statement that matters locally too
    insecure = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    other = {
        **insecure,
        "Sid": "DenyUnencryptedUploads",
        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
    }
    both = {
        **insecure,
        "Sid": "Both",
        "Condition": {"Bool": {"aws:SecureTransport": "false", "aws:ViaAWSService": "false"}},
    }
    # Then only the statement whose only effect is "no TLS: denied" is recognised
    assert denies_insecure_transport(insecure)
    assert denies_insecure_transport({**insecure, "Condition": {"Bool": {"aws:securetransport": ["false"]}}})
    assert not denies_insecure_transport(other) and not denies_insecure_transport(both)
    assert not denies_insecure_transport({**insecure, "Effect": "Allow"})


def test_secrets_are_seeded_with_the_samples_or_the_environment(local_stack):
    _, stack, session = local_stack
    secrets = session.client("secretsmanager")
    value = {
        p: secrets.get_secret_value(SecretId=stack.output(f"{logical_name(p)}SecretArn"))["SecretString"]
        for p in SAMPLE_SECRETS
    }
    assert value == {**SAMPLE_SECRETS, "twilio": "an-overridden-token"}
    assert stack.secret_sources["TwilioWebhookSecret"] == "twilio: $HOOKCTL_TWILIO_SECRET"


def test_each_function_gets_the_environment_the_template_gives_it(local_stack):
    _, stack, _ = local_stack
    github = stack.functions["GithubReceiverFunction"]
    assert github.environment["QUEUE_URL"] == stack.output("QueueUrl")
    assert github.environment["SECRET_ID"] == stack.output("GithubSecretArn")
    assert github.environment["OVERFLOW_BUCKET"] == stack.output("OverflowBucketName")
    assert github.environment["POWERTOOLS_SERVICE_NAME"] == "github-receiver"
    assert github.environment["AWS_ENDPOINT_URL"] == ""  # declared empty by the template; the runner sets it
    assert github.handler == "receiver_app.handler" and github.timeout == 8 and github.memory_size == 256
    assert github.code_dir == TEMPLATE.parent / "functions" / "receiver"
    assert github.layer_dirs == (TEMPLATE.parent / "layers" / "gateway",)
    assert [(r.method, r.path) for r in github.routes] == [("POST", "/webhooks/github")]
    consumer = stack.functions["ConsumerFunction"]
    assert consumer.environment["TABLE_NAME"] == stack.output("DeliveriesTableName")
    assert consumer.environment["MAX_RECEIVE_COUNT"] == "4"  # the redrive policy's maxReceiveCount
    assert consumer.timeout == 30
    [source] = consumer.sqs_sources
    assert (source.queue, source.batch_size, source.batching_window_seconds) == ("WebhookQueue", 10, 0)
    assert source.report_batch_item_failures and source.maximum_concurrency == 5
    assert source.queue_url == stack.output("QueueUrl")


def test_the_local_stack_has_the_templates_outputs_for_hookctl(local_stack):
    _, stack, session = local_stack
    resources = StackResources("local-test", environ={}, session=session)
    assert resources.get("github_url") == f"{API}/webhooks/github"
    assert resources.get("api_url") == API
    assert resources.get("queue_url") == stack.queue_url("WebhookQueue")
    assert resources.get("dlq_arn") == stack.queue_arn("WebhookDeadLetterQueue")
    assert resources.get("table") == stack.output("DeliveriesTableName")
    # Outputs that name resources the runner does not emulate are left out rather than invented.
    assert set(stack.outputs) <= set(expand(load_yaml(TEMPLATE))["Outputs"])


def test_functions_resolve_only_after_their_resources_exist():
    tpl = template()
    plan_placeholders(tpl)
    with pytest.raises(TemplateError):
        function_specs(tpl)
