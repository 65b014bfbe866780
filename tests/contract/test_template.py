"""Contract tests for template.yaml: the wiring and the least-privilege promises other code relies on.

The template is read as data (a YAML loader that understands CloudFormation's short tags), never deployed. These tests
run in the test venv only: sam and checkov live in .tools-venv and run from `make lint`.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookctl.local.language_extensions import expand
from hookctl.local.template import Template
from webhook_gateway.verifiers import load_provider, logical_name, registered_providers
from webhook_gateway.verifiers.base import Provider

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

# Every registered provider (webhook_gateway.verifiers) has its receiver block in the template.
PROVIDERS = tuple(provider.name for provider in registered_providers())
RECEIVER_IDS = {p: f"{logical_name(p)}ReceiverFunction" for p in PROVIDERS}
SECRET_IDS = {p: f"{logical_name(p)}WebhookSecret" for p in PROVIDERS}

GLOBAL_ENV = {"POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_LOGGER_LOG_EVENT", "AWS_ENDPOINT_URL"}
RECEIVER_ENV = GLOBAL_ENV | {
    "PROVIDER",
    "PROVIDER_KIND",
    "PROVIDER_OPTIONS",
    "SIGNATURE_TOLERANCE_SECONDS",
    "SIGNATURE_FUTURE_TOLERANCE_SECONDS",
    "PUBLIC_BASE_URL",
    "POWERTOOLS_SERVICE_NAME",
    "QUEUE_URL",
    "SECRET_ID",
    "OVERFLOW_BUCKET",
    "MAX_BODY_BYTES",
    "SECRET_MAX_AGE_SECONDS",
    "ALLOWED_SOURCE_CIDRS",
    "KEEP_SIGNATURE_HEADERS",
}
CONSUMER_ENV = GLOBAL_ENV | {
    "POWERTOOLS_SERVICE_NAME",
    "TABLE_NAME",
    "OVERFLOW_BUCKET",
    "DELIVERY_TTL_DAYS",
    "MAX_RECEIVE_COUNT",
    "MAX_ATTEMPTS",
    "RETRY_SCHEDULE",
    "QUEUE_URL",
    "QUEUE_RETENTION_SECONDS",
    "DEAD_LETTER_QUEUE_URL",
    "ARCHIVE_RETENTION_DAYS",
    "ARCHIVE_BUCKET",
    "ARCHIVE_INLINE_MAX_BYTES",
    "TAP_TOPIC_ARN",
    "EVENT_BUS_NAME",
    "EVENT_BUS_FILTER",
}

OUTPUTS = {
    *(f"{logical_name(p)}WebhookUrl" for p in PROVIDERS),
    *(f"{logical_name(p)}SecretArn" for p in PROVIDERS),
    "HttpApiUrl",
    "QueueUrl",
    "QueueArn",
    "DeadLetterQueueUrl",
    "DeadLetterQueueArn",
    "DeliveriesTableName",
    "OverflowBucketName",
    "ArchiveBucketName",
    "DeliveryOperatorPolicyArn",
    "ConsumerFunctionName",
    "AlarmTopicArn",
    "DashboardName",
    "DashboardUrl",
}

# SAM policy templates the template may use, expanded as samtranslator's policy_templates.json defines them. Only
# templates that are exactly least privilege belong here (SQSSendMessagePolicy, for one, grants sqs:SendMessage*).
POLICY_TEMPLATES = {
    "AWSSecretsManagerGetSecretValuePolicy": lambda params: [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": params["SecretArn"]}
    ],
}


# ----------------------------------------------------------------------------------------------- template loading
try:  # libyaml's parser, about ten times faster (the template is loaded by many tests)
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _CfnLoader(_SafeLoader):
    """SafeLoader that turns CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) into their long JSON forms."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_raw_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """template.yaml as written, with its Fn::ForEach loops."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


def load_template(path: Path = TEMPLATE_PATH, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """template.yaml as CloudFormation receives it once AWS::LanguageExtensions ran: one resource per provider
    instance (the same expansion the local pipeline and `make lint`'s checkov scan read)."""
    return expand(load_raw_template(path), parameters)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_env(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The environment a function gets once SAM merges Globals into it."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}))
    return merged


def policy_statements(policies: list[Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a SAM function's Policies, with policy templates expanded; anything else fails."""
    for policy in policies:
        assert isinstance(policy, dict), f"managed policy {policy!r} is not least privilege"
        if "Statement" in policy:
            yield from policy["Statement"]
            continue
        assert len(policy) == 1, policy
        ((name, params),) = policy.items()
        assert name in POLICY_TEMPLATES, f"policy template {name} is not known to be least privilege"
        yield from POLICY_TEMPLATES[name](params)


def with_conditions(statements: list[Any], true: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The statements as deployed when exactly the conditions in ``true`` hold: ``Fn::If`` items resolved (only the
    top level of the list: a conditional statement), ``AWS::NoValue`` dropped."""
    resolved = []
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            condition, when_true, when_false = statement["Fn::If"]
            statement = when_true if condition in true else when_false
        if statement != {"Ref": "AWS::NoValue"}:
            resolved.append(statement)
    return resolved


def grants(statements: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action, resource) pairs, resources serialised so that intrinsic functions compare as data."""
    pairs = []
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                pairs.append((action, json.dumps(resource, sort_keys=True)))
    return pairs


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# ----------------------------------------------------------------------------------------------- shape and globals
def test_template_is_a_sam_template_with_the_expected_globals(template: dict[str, Any]) -> None:
    """Given template.yaml, when it is parsed, then it is a SAM template whose functions run python3.13 on arm64
    with X-Ray, the gateway layer and the Powertools environment."""
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert 128 <= function_globals["MemorySize"] <= 1024
    assert function_globals["Timeout"] < 10, "receivers must answer within GitHub's 10 s"
    assert function_globals["Layers"] == [ref("GatewayLayer")]
    env = function_globals["Environment"]["Variables"]
    assert env == {
        "POWERTOOLS_METRICS_NAMESPACE": ref("MetricsNamespace"),
        "POWERTOOLS_LOG_LEVEL": ref("LogLevel"),
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "AWS_ENDPOINT_URL": "",
    }
    assert template["Parameters"]["MetricsNamespace"]["Default"] == "WebhookGateway"


def test_layer_is_built_by_its_makefile_for_arm64(resources: dict[str, Any]) -> None:
    """Given the gateway layer, then SAM builds it with layers/gateway/Makefile for arm64 and python3.13."""
    layer = resources["GatewayLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/gateway"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / "layers/gateway/Makefile").read_text(encoding="utf-8")
    assert re.search(r"^build-GatewayLayer:", makefile, re.M)
    assert "--invalidation-mode unchecked-hash" in makefile
    assert "manylinux2014_aarch64" in makefile and "LAYER_PLATFORM" in makefile


# ----------------------------------------------------------------------------------------------- HTTP API and receivers
def test_http_api_throttles_and_logs_access_as_json(resources: dict[str, Any]) -> None:
    """Given the HTTP API, then its default route throttling comes from parameters, per-route metrics are on and its
    access log is JSON written to a log group with a retention."""
    api = resources["WebhookHttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert "StageName" not in api["Properties"], "the $default stage keeps URLs free of a stage prefix"
    route_settings = api["Properties"]["DefaultRouteSettings"]
    assert route_settings == {
        "DetailedMetricsEnabled": True,
        "ThrottlingBurstLimit": ref("ThrottlingBurstLimit"),
        "ThrottlingRateLimit": ref("ThrottlingRateLimit"),
    }
    access_log = api["Properties"]["AccessLogSettings"]
    assert access_log["DestinationArn"] == get_att("HttpApiAccessLogGroup", "Arn")
    parsed = json.loads(access_log["Format"])
    assert {"requestId", "status", "routeKey", "ip"} <= parsed.keys()
    assert resources["HttpApiAccessLogGroup"]["Properties"]["RetentionInDays"] == ref("LogRetentionDays")


def resolved(parameters: dict[str, str] | None = None) -> Template:
    """template.yaml resolved for ``parameters`` as the local pipeline resolves it (loops expanded, Select/Split,
    FindInMap and Sub evaluated): what a deployed stack's properties would be."""
    return _resolved(tuple(sorted((parameters or {}).items())))


@functools.cache
def _resolved(parameters: tuple[tuple[str, str], ...]) -> Template:
    # Read-only use (resolve only, no physical ids recorded): one parse per parameter set.
    overrides = dict(parameters)
    return Template(TEMPLATE_PATH, stack_name="webhook-gateway", region="eu-west-1", parameter_overrides=overrides)


def webhook_event(template: Template, provider: str) -> dict[str, Any]:
    """The receiver's route, resolved (all but ApiId, a resource the local reader has not created)."""
    properties = template.resources[RECEIVER_IDS[provider]]["Properties"]["Events"]["Webhook"]["Properties"]
    return template.resolve({key: value for key, value in properties.items() if key != "ApiId"})


def receiver_env(template: Template, provider: str) -> dict[str, Any]:
    variables = template.resources[RECEIVER_IDS[provider]]["Properties"]["Environment"]["Variables"]
    return {name: template.resolve(value) for name, value in variables.items() if not _refers_to_a_resource(value)}


def _refers_to_a_resource(value: Any) -> bool:
    return isinstance(value, dict) and "Ref" in value and value["Ref"] in TEMPLATE_RESOURCE_IDS


TEMPLATE_RESOURCE_IDS = set(load_template()["Resources"])


def test_the_receivers_loop_lists_every_registered_provider_once() -> None:
    """Given the Receivers loop, then its list (the one place a user chooses providers) and the Providers mapping
    name every registered provider exactly once, each row naming its own verifier module, route and title, and the
    outputs loop reads the same list (a YAML alias of it)."""
    raw = load_raw_template()
    identifier, collection, _ = raw["Resources"]["Fn::ForEach::Receivers"]
    assert identifier == "Provider"
    assert collection == sorted(collection) and len(set(collection)) == len(collection)
    assert raw["Outputs"]["Fn::ForEach::ReceiverOutputs"][1] == collection
    rows = raw["Mappings"]["Providers"]
    assert sorted(rows) == collection
    kinds = {provider.name: provider for provider in registered_providers()}
    assert {row["Kind"] for row in rows.values()} == set(kinds), "every provider module is deployed at least once"
    for item, row in rows.items():
        assert item == logical_name(row["Id"]), item
        assert row["Path"] == f"/webhooks/{row['Id']}"
        assert row["Method"] == route_method(kinds[row["Kind"]]), item
        assert row["Title"] and row["Secret"]
        assert isinstance(json.loads(row["Options"]), dict)


def test_adding_a_provider_costs_at_most_15_template_lines() -> None:
    """Given the template, then a provider adds its Providers row and one word in the loop's list: the issue's
    target is at most 15 template lines per added provider, with no parameter or condition of its own."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    mapping = text[text.index("\n  Providers:\n") :].split("\n  # ", 1)[0].split("\n\n", 1)[0]
    rows = [line for line in mapping.splitlines()[1:] if line.strip()]
    per_provider = len(rows) / len(load_raw_template()["Mappings"]["Providers"])
    assert per_provider + 1 <= 15, per_provider
    template = load_raw_template()
    for name in PROVIDERS:
        assert not [p for p in template["Parameters"] if p.startswith(logical_name(name))], name
        # The reconciler's options name the two providers it reconciles (HasReconcilerGithub): a feature of those
        # providers' APIs, not a cost of adding a provider.
        conditions = [c for c in template.get("Conditions", {}) if not c.startswith("HasReconciler")]
        assert not [c for c in conditions if logical_name(name) in c], name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_route_takes_its_limits_from_its_item_or_the_stage_default(provider: str) -> None:
    """Given POST /webhooks/<provider>, then its route settings keep detailed metrics on (route settings replace the
    defaults as a whole) and take their limits from the provider's item of RouteBurstLimits / RouteRateLimits, else
    from the stage defaults."""
    name = logical_name(provider)
    default = webhook_event(resolved(), provider)["RouteSettings"]
    assert default == {"DetailedMetricsEnabled": True, "ThrottlingBurstLimit": "200", "ThrottlingRateLimit": "100"}
    others = "Zz=9"
    own = webhook_event(
        resolved({"RouteBurstLimits": f"{others};{name}=50", "RouteRateLimits": f"{name}=25;{others}"}), provider
    )["RouteSettings"]
    assert own == {"DetailedMetricsEnabled": True, "ThrottlingBurstLimit": "50", "ThrottlingRateLimit": "25"}
    for other in PROVIDERS:
        if other != provider:
            limits = webhook_event(resolved({"RouteBurstLimits": f"{name}=50"}), other)["RouteSettings"]
            assert limits["ThrottlingBurstLimit"] == "200", other


def test_the_api_declares_no_route_settings_of_its_own(resources: dict[str, Any]) -> None:
    """Given the HTTP API, then route settings live on each function's route only (a route key the API lacks fails
    the stage's deployment; a looped route cannot be named in the API)."""
    assert "RouteSettings" not in resources["WebhookHttpApi"]["Properties"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_route_reaches_its_own_receiver(resources: dict[str, Any], provider: str) -> None:
    """Given POST /webhooks/<provider>, when API Gateway routes it, then it reaches <Provider>ReceiverFunction, which
    runs the shared receiver handler told its provider by PROVIDER, with payload format 2.0."""
    function = resources[RECEIVER_IDS[provider]]
    assert function["Type"] == "AWS::Serverless::Function"
    props = function["Properties"]
    assert props["CodeUri"] == "functions/receiver/"
    assert props["Handler"] == "receiver_app.handler"
    assert props["Runtime"] == "python3.13"
    events = list(props["Events"].values())
    assert len(events) == 1
    assert events[0]["Type"] == "HttpApi"
    assert events[0]["Properties"]["ApiId"] == ref("WebhookHttpApi")
    event = webhook_event(resolved(), provider)
    event.pop("RouteSettings")
    assert event == {
        "Method": route_method(load_provider(provider)),
        "Path": f"/webhooks/{provider}",
        "PayloadFormatVersion": "2.0",
    }
    env = receiver_env(resolved(), provider)
    assert env["PROVIDER"] == provider
    assert env["PROVIDER_KIND"] == provider
    assert env["POWERTOOLS_SERVICE_NAME"] == f"{provider}-receiver"


def test_routes_are_exactly_one_per_provider(resources: dict[str, Any]) -> None:
    """Given every function, when their HttpApi events are listed, then the API has exactly one route per provider
    (POST, or ANY for a provider whose endpoint confirmation is a GET) and nothing else."""
    routes = sorted(
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    )
    assert routes == sorted((route_method(load_provider(p)), f"/webhooks/{p}") for p in PROVIDERS)


def route_method(provider: Provider) -> str:
    """The route a provider needs: POST, or ANY when it also sends a GET (the receiver answers 405 to the rest)."""
    return "POST" if provider.methods == ("POST",) else "ANY"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_receiver_environment_is_exactly_the_expected_keys(template: dict[str, Any], provider: str) -> None:
    """Given a receiver, when SAM merges Globals into its environment, then it holds exactly the settings the
    receiver reads (no more, no fewer), each wired to its own resources and parameters, and its items of the
    per-provider parameters are its own."""
    env = function_env(template, RECEIVER_IDS[provider])
    assert set(env) == RECEIVER_ENV
    assert env["QUEUE_URL"] == ref("WebhookQueue")
    assert env["SECRET_ID"] == ref(SECRET_IDS[provider])
    assert env["OVERFLOW_BUCKET"] == ref("OverflowBucket")
    assert env["MAX_BODY_BYTES"] == ref("MaxBodyBytes")
    assert env["SECRET_MAX_AGE_SECONDS"] == ref("SecretMaxAgeSeconds")
    assert env["SIGNATURE_TOLERANCE_SECONDS"] == ref("SignatureToleranceSeconds")
    # Signatures are kept in envelopes only where the listener tap forwards them (dev, staging).
    assert env["KEEP_SIGNATURE_HEADERS"] == {"Fn::If": ["HasListenerTap", "true", "false"]}
    name = logical_name(provider)
    defaults = receiver_env(resolved(), provider)
    assert (defaults["ALLOWED_SOURCE_CIDRS"], defaults["PUBLIC_BASE_URL"]) == ("", "")
    assert defaults["PROVIDER_OPTIONS"] == "{}"
    chosen = receiver_env(
        resolved(
            {
                "AllowedSourceCidrs": f"Zz=10.0.0.0/8;{name}=192.30.252.0/22,2a0a:a440::/29",
                "PublicBaseUrls": f"{name}=https://hooks.example.com/in;Zz=https://other.example.com",
            }
        ),
        provider,
    )
    assert chosen["ALLOWED_SOURCE_CIDRS"] == "192.30.252.0/22,2a0a:a440::/29"
    assert chosen["PUBLIC_BASE_URL"] == "https://hooks.example.com/in"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_receiver_may_only_read_its_secret_send_to_the_queue_and_put_under_its_prefix(
    resources: dict[str, Any], provider: str
) -> None:
    """Given a receiver's policies, when templates are expanded, then the only grants are GetSecretValue on its own
    secret, SendMessage on the main queue and PutObject under <provider>/ in the overflow bucket."""
    props = resources[RECEIVER_IDS[provider]]["Properties"]
    assert "Role" not in props
    pairs = grants(policy_statements(props["Policies"]))
    assert sorted(pairs) == sorted(
        [
            ("secretsmanager:GetSecretValue", as_json(ref(SECRET_IDS[provider]))),
            ("sqs:SendMessage", as_json(get_att("WebhookQueue", "Arn"))),
            ("s3:PutObject", as_json({"Fn::Sub": f"${{OverflowBucket.Arn}}/{provider}/*"})),
        ]
    )
    assert all("*" not in action for action, _ in pairs)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_has_a_generated_secret_with_instructions(resources: dict[str, Any], provider: str) -> None:
    """Given a provider secret, then the template holds no value (it is generated) and its description tells how to
    put the provider's value."""
    secret = resources[SECRET_IDS[provider]]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "put-secret-value" in as_json(secret["Properties"]["Description"])


# ----------------------------------------------------------------------------------------------- queue
def test_queue_is_encrypted_large_enough_and_redrives_to_the_dlq(template: dict[str, Any]) -> None:
    """Given the main queue, then it is encrypted, accepts 1 MiB messages and moves a message to the DLQ after
    MaxReceiveCount receives (default 20: a safety net above MaxAttempts, see the retry contract below)."""
    queue = template["Resources"]["WebhookQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MaximumMessageSize"] == 1048576
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": get_att("WebhookDeadLetterQueue", "Arn"),
        "maxReceiveCount": ref("MaxReceiveCount"),
    }
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 20
    assert "FifoQueue" not in queue


def test_dead_letter_queue_keeps_messages_14_days_encrypted(resources: dict[str, Any]) -> None:
    """Given the DLQ, then it keeps messages for the SQS maximum of 14 days, longer than the main queue, encrypted."""
    dlq = resources["WebhookDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1209600
    assert dlq["SqsManagedSseEnabled"] is True
    assert resources["WebhookQueue"]["Properties"]["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]


def test_both_queues_deny_requests_without_tls(resources: dict[str, Any]) -> None:
    """Given the queue policy, then both queues deny every request made without TLS."""
    policy = resources["WebhookQueuePolicy"]["Properties"]
    assert policy["Queues"] == [ref("WebhookQueue"), ref("WebhookDeadLetterQueue")]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_visibility_timeout_is_at_least_six_consumer_timeouts_plus_batching_window(template: dict[str, Any]) -> None:
    """Given every allowed consumer timeout, when the queue's visibility timeout is looked up for it, then it is at
    least 6 x the timeout plus the largest batching window (AWS's rule for SQS event sources)."""
    params = template["Parameters"]
    consumer = template["Resources"]["ConsumerFunction"]["Properties"]
    assert consumer["Timeout"] == ref("ConsumerTimeoutSeconds")
    # A String of digits: SAM CLI's loop expansion refuses a FindInMap key that resolves to a number (template.yaml)
    assert params["ConsumerTimeoutSeconds"]["Type"] == "String" and params["ConsumerTimeoutSeconds"]["Default"] == "30"
    visibility = template["Resources"]["WebhookQueue"]["Properties"]["VisibilityTimeout"]
    lookup = ["ConsumerTimeouts", ref("ConsumerTimeoutSeconds"), "QueueVisibilityTimeout"]
    assert visibility == {"Fn::FindInMap": lookup}
    table = template["Mappings"]["ConsumerTimeouts"]
    allowed = params["ConsumerTimeoutSeconds"]["AllowedValues"]
    assert sorted(table, key=int) == allowed
    largest_window = params["ConsumerBatchingWindowSeconds"]["MaxValue"]
    for timeout in allowed:
        assert table[timeout]["QueueVisibilityTimeout"] >= 6 * int(timeout) + largest_window
        assert table[timeout]["QueueVisibilityTimeout"] <= 43200  # SQS maximum


# ----------------------------------------------------------------------------------------------- bucket
def test_overflow_bucket_is_private_encrypted_and_expires_objects(template: dict[str, Any]) -> None:
    """Given the claim-check bucket, then it blocks all public access, enforces bucket ownership, encrypts by
    default, expires objects after OverflowExpirationDays and outlives DLQ retention by default."""
    bucket = template["Resources"]["OverflowBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    # A customer managed key would need kms permissions the receiver/consumer policies deliberately lack.
    assert "KMSMasterKeyID" not in encryption["ServerSideEncryptionByDefault"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(r["Status"] == "Enabled" and r["ExpirationInDays"] == ref("OverflowExpirationDays") for r in rules)
    assert template["Parameters"]["OverflowExpirationDays"]["Default"] * 86400 > (
        template["Resources"]["WebhookDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    )


def test_overflow_bucket_denies_requests_without_tls(resources: dict[str, Any]) -> None:
    """Given the bucket policy, then every request without TLS is denied, on the bucket and its objects."""
    policy = resources["OverflowBucketPolicy"]["Properties"]
    assert policy["Bucket"] == ref("OverflowBucket")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == [get_att("OverflowBucket", "Arn"), {"Fn::Sub": "${OverflowBucket.Arn}/*"}]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ----------------------------------------------------------------------------------------------- ledger table
def test_deliveries_table_keys_index_ttl_and_protection(template: dict[str, Any]) -> None:
    """Given the deliveries ledger, then it is keyed (provider, delivery_id), has the by-status and by-provider
    indexes, expires items
    on expires_at, has PITR and SSE, and deletion protection is a parameter."""
    table = template["Resources"]["DeliveriesTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "provider", "KeyType": "HASH"},
        {"AttributeName": "delivery_id", "KeyType": "RANGE"},
    ]
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == {"provider": "S", "delivery_id": "S", "status": "S", "last_attempt_at": "S"}
    by_status, by_provider = props["GlobalSecondaryIndexes"]
    assert by_status["IndexName"] == "by-status"
    assert by_status["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "last_attempt_at", "KeyType": "RANGE"},
    ]
    # hookctl deliveries list --provider: time-ordered per provider, no Scan.
    assert by_provider["IndexName"] == "by-provider"
    assert by_provider["KeySchema"] == [
        {"AttributeName": "provider", "KeyType": "HASH"},
        {"AttributeName": "last_attempt_at", "KeyType": "RANGE"},
    ]
    assert by_status["Projection"] == by_provider["Projection"] == {"ProjectionType": "ALL"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] == ref("TableDeletionProtection")
    assert template["Parameters"]["TableDeletionProtection"]["AllowedValues"] == ["true", "false"]


# ----------------------------------------------------------------------------------------------- consumer
def test_consumer_reads_the_queue_in_batches_with_partial_failures(template: dict[str, Any]) -> None:
    """Given the consumer's event source, then it polls WebhookQueue with parameterised batch size, batching window
    and maximum concurrency, and reports partial batch failures."""
    consumer = template["Resources"]["ConsumerFunction"]
    assert consumer["Properties"]["CodeUri"] == "functions/consumer/"
    assert consumer["Properties"]["Handler"] == "consumer_app.handler"
    (event,) = consumer["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"] == {
        "Queue": get_att("WebhookQueue", "Arn"),
        "BatchSize": ref("ConsumerBatchSize"),
        "MaximumBatchingWindowInSeconds": ref("ConsumerBatchingWindowSeconds"),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": ref("ConsumerMaxConcurrency")},
    }
    params = template["Parameters"]
    assert params["ConsumerBatchSize"]["Default"] == 10
    assert params["ConsumerMaxConcurrency"]["Default"] == 5
    assert params["ConsumerMaxConcurrency"]["MinValue"] == 2  # the SQS scaling config minimum
    assert params["DeliveryTtlDays"]["Default"] == 30


def test_consumer_environment_is_exactly_the_expected_keys(template: dict[str, Any]) -> None:
    """Given the consumer, when Globals are merged, then its environment holds exactly what the consumer reads."""
    env = function_env(template, "ConsumerFunction")
    assert set(env) == CONSUMER_ENV
    assert env["POWERTOOLS_SERVICE_NAME"] == "consumer"
    assert env["TABLE_NAME"] == ref("DeliveriesTable")
    assert env["OVERFLOW_BUCKET"] == ref("OverflowBucket")
    assert env["DELIVERY_TTL_DAYS"] == ref("DeliveryTtlDays")
    # The consumer records a delivery as dead-lettered on the receive the redrive policy makes its last.
    assert env["MAX_RECEIVE_COUNT"] == ref("MaxReceiveCount")
    redrive = template["Resources"]["WebhookQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == env["MAX_RECEIVE_COUNT"]
    assert env["AWS_ENDPOINT_URL"] == ""


def test_consumer_role_is_least_privilege(resources: dict[str, Any]) -> None:
    """Given the consumer's explicit role (SAM would add a queue policy on every queue to a generated one), then it
    may poll only WebhookQueue, only update ledger items (every ledger change is one conditional UpdateItem, and
    the processing path never reads or puts) and only read claim-check objects."""
    consumer = resources["ConsumerFunction"]["Properties"]
    assert consumer["Role"] == get_att("ConsumerFunctionRole", "Arn")
    assert "Policies" not in consumer
    role = resources["ConsumerFunctionRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert sorted(role["ManagedPolicyArns"], key=as_json) == sorted(
        [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"},
        ],
        key=as_json,
    )
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    pairs = grants(with_conditions(statements))  # EventBusName empty (the default): no PutEvents at all
    queue, table = as_json(get_att("WebhookQueue", "Arn")), as_json(get_att("DeliveriesTable", "Arn"))
    dlq = as_json(get_att("WebhookDeadLetterQueue", "Arn"))
    objects = as_json({"Fn::Sub": "${OverflowBucket.Arn}/*"})
    archive = as_json({"Fn::Sub": "${ArchiveBucket.Arn}/*"})
    assert sorted(pairs) == sorted(
        [
            ("sqs:ReceiveMessage", queue),
            ("sqs:DeleteMessage", queue),
            ("sqs:DeleteMessageBatch", queue),
            ("sqs:ChangeMessageVisibility", queue),
            ("sqs:ChangeMessageVisibilityBatch", queue),
            ("sqs:GetQueueAttributes", queue),
            ("sqs:SendMessage", dlq),  # out of attempts: the consumer dead-letters the delivery itself
            ("dynamodb:UpdateItem", table),  # ledger items and archive items alike
            ("s3:GetObject", objects),
            ("s3:GetObject", archive),  # a replayed large body
            ("s3:PutObject", archive),  # an archived large body
        ]
    )
    # With EventBusName set: PutEvents on that one bus, by its ARN as given or built from its name.
    bus = {
        "Fn::If": [
            "EventBusIsArn",
            ref("EventBusName"),
            {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"},
        ]
    }
    extra = set(grants(with_conditions(statements, frozenset({"HasEventBus"})))) - set(pairs)
    assert extra == {("events:PutEvents", as_json(bus))}


def test_the_event_bus_conditions_and_environment(template: dict[str, Any]) -> None:
    """Given the EventBridge destination's parameters, then they default to off and to everything, reach the consumer
    unchanged, and its conditions test exactly "set" and "an ARN"."""
    params = template["Parameters"]
    assert (params["EventBusName"]["Default"], params["EventBusFilter"]["Default"]) == ("", "")
    env = function_env(template, "ConsumerFunction")
    assert (env["EVENT_BUS_NAME"], env["EVENT_BUS_FILTER"]) == (ref("EventBusName"), ref("EventBusFilter"))
    conditions = template["Conditions"]
    assert conditions["HasEventBus"] == {"Fn::Not": [{"Fn::Equals": [ref("EventBusName"), ""]}]}
    assert conditions["EventBusIsArn"] == {
        "Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": [":", ref("EventBusName")]}]}, "arn"]
    }
    pattern = re.compile(params["EventBusName"]["AllowedPattern"])
    for good in ("", "org", "arn:aws:events:eu-west-1:123456789012:event-bus/org", "aws.partner/x.com/1/y"):
        assert pattern.fullmatch(good), good
    for bad in ("arn:aws:sqs:eu-west-1:123456789012:q", "bus name"):
        assert not pattern.fullmatch(bad), bad
    assert re.fullmatch(params["EventBusFilter"]["AllowedPattern"], "stripe:payment_intent.*,github:*")


# ----------------------------------------------------------------------------------------------- logs, outputs, files
@pytest.mark.parametrize("function_id", [*RECEIVER_IDS.values(), "ConsumerFunction", "ReconcilerFunction"])
def test_every_function_has_its_log_group_with_retention(resources: dict[str, Any], function_id: str) -> None:
    """Given a function, then an explicit /aws/lambda/<function> log group with the retention parameter exists, so
    logs do not live forever in a group Lambda would create on first invocation."""
    groups = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
        and r["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
    ]
    assert len(groups) == 1
    assert groups[0]["RetentionInDays"] == ref("LogRetentionDays")


def test_outputs_other_tools_read_are_present(template: dict[str, Any]) -> None:
    """Given the stack outputs, then every name the CLI and docs rely on exists, and webhook URLs point at the
    provider routes of the HTTP API."""
    outputs = template["Outputs"]
    assert outputs.keys() >= OUTPUTS
    base = "https://${WebhookHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    assert outputs["HttpApiUrl"]["Value"] == {"Fn::Sub": base}
    for provider in PROVIDERS:
        url = outputs[f"{logical_name(provider)}WebhookUrl"]["Value"]
        # Without a custom domain (the default), the execute-api URL (test_webhook_urls_use_the_custom_domain_...).
        pattern, variables = url["Fn::Sub"]
        condition, _, default = variables["Base"]["Fn::If"]
        assert pattern == f"${{Base}}/webhooks/{provider}"
        assert condition == "HasCustomDomain" and default == {"Fn::Sub": base}
        assert outputs[f"{logical_name(provider)}SecretArn"]["Value"] == ref(SECRET_IDS[provider])
    assert outputs["QueueUrl"]["Value"] == ref("WebhookQueue")
    assert outputs["DeadLetterQueueArn"]["Value"] == get_att("WebhookDeadLetterQueue", "Arn")
    assert outputs["ConsumerFunctionName"]["Value"] == ref("ConsumerFunction")


def test_checkov_skips_are_justified(resources: dict[str, Any]) -> None:
    """Given the checkov skips in resource metadata, then each names a check and says why it does not apply."""
    for logical_id, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
            assert len(skip.get("comment", "")) >= 40, (logical_id, skip)


@pytest.mark.parametrize(
    ("function_id", "module"),
    [("GithubReceiverFunction", "receiver_app"), ("ConsumerFunction", "consumer_app")],
)
def test_handler_modules_named_by_the_template_exist(resources: dict[str, Any], function_id: str, module: str) -> None:
    """Given a function's CodeUri and Handler, then the handler module exists on disk and defines the handler."""
    props = resources[function_id]["Properties"]
    module_name, function_name = props["Handler"].rsplit(".", 1)
    assert module_name == module
    source = ROOT / props["CodeUri"] / f"{module_name}.py"
    assert source.is_file(), f"{source} is missing"
    assert re.search(rf"^(def {function_name}\(|{function_name}\s*=)", source.read_text(encoding="utf-8"), re.M)


def test_samconfig_has_a_default_and_a_prod_environment() -> None:
    """Given samconfig.toml, then `default` and `prod` deploy different stacks with IAM capability and a changeset
    review, and prod protects the ledger."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    stacks = {env: config[env]["global"]["parameters"]["stack_name"] for env in ("default", "prod")}
    assert stacks == {"default": "webhook-gateway", "prod": "webhook-gateway-prod"}
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert deploy["confirm_changeset"] is True
        assert "region" not in deploy
    assert "TableDeletionProtection=true" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


def test_cfn_lint_reports_nothing() -> None:
    """Given template.yaml, when cfn-lint (the version in the test venv) checks it, then it reports no error,
    warning or informational finding."""
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE_PATH)
    assert [str(m) for m in matches] == []


CIDR_LISTS_VALID = ["", "192.0.2.0/24", "192.0.2.1, 2001:db8::/32", " 10.0.0.0/8 ,192.168.0.0/16 ", "::/0",
                    "192.30.252.0/22,185.199.108.0/22,140.82.112.0/20,2a0a:a440::/29,2606:50c0::/32", "192.0.2.0/24,"]
CIDR_LISTS_TYPOS = ["192.0.2.0/24;10.0.0.0/8", "abc", "192.0.2.0/", "192.0.2.0/33", "300.1.2.3", "192.0.2",
                    "2001:db8::/129", "2001:db8:::1", "192.0.2.0/24 10.0.0.0/8", "https://api.github.com/meta"]


def _allowed_source_cidrs_pattern(template: dict[str, Any]) -> re.Pattern[str]:
    return re.compile(template["Parameters"]["AllowedSourceCidrs"]["AllowedPattern"])


def _items(value: str) -> dict[str, str]:
    """What each receiver reads of ``Provider=cidrs;...``: its item's value (the template's Select/Split)."""
    return {item.split("=", 1)[0]: item.split("=", 1)[1] for item in value.split(";") if item}


def test_allowed_source_cidrs_reject_typos_at_deploy_time(template: dict[str, Any]) -> None:
    """Given AllowedSourceCidrs, when CloudFormation checks a value against its AllowedPattern (compiled here with
    Python's re: the pattern uses only syntax Java's regex reads the same), then valid Provider=list items pass,
    typos fail the deployment with the ConstraintDescription, and the pattern never accepts an item the receiver's
    settings refuse at cold start."""
    from webhook_gateway.settings import parse_cidr_list

    parameter = template["Parameters"]["AllowedSourceCidrs"]
    assert parameter["Default"] == "" and "CIDR" in parameter["ConstraintDescription"]
    pattern = _allowed_source_cidrs_pattern(template)
    names = [logical_name(p) for p in PROVIDERS]
    for value in CIDR_LISTS_VALID:
        for text in (f"{names[0]}={value}", f"{names[0]}={value};{names[-1]}=192.0.2.9"):
            assert pattern.fullmatch(text), text
            for cidrs in _items(text).values():
                parse_cidr_list(cidrs)
    assert pattern.fullmatch("")
    for value in [v for v in CIDR_LISTS_TYPOS if ";" not in v]:
        text = f"{names[0]}={value}"
        assert not pattern.fullmatch(text), text
        with pytest.raises(ValueError):
            parse_cidr_list(value)
    for text in ["192.0.2.0/24", "github=192.0.2.0/24", "Github:192.0.2.0/24", "Github=192.0.2.0/24;;", "=10.0.0.0/8"]:
        assert not pattern.fullmatch(text), text


def test_allowed_source_cidrs_pattern_agrees_with_the_receiver_settings(template: dict[str, Any]) -> None:
    """Given the parameter's AllowedPattern, then every list of real networks passes it as a provider's item, and any
    string it accepts (built from the characters CIDR lists are made of) gives each provider a list the receiver
    parses."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from webhook_gateway.settings import parse_cidr_list

    pattern = _allowed_source_cidrs_pattern(template)
    networks = st.one_of(
        st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=4), st.integers(0, 32)),
        st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=6), st.integers(0, 128)),
        st.ip_addresses().map(str),
    )

    @settings(max_examples=300, deadline=None)
    @given(
        items=st.lists(st.lists(networks, max_size=4), min_size=1, max_size=3),
        separator=st.sampled_from([",", ", ", " , "]),
    )
    def real_networks_pass(items: list[list[str]], separator: str) -> None:
        text = ";".join(f"P{index}={separator.join(item)}" for index, item in enumerate(items))
        assert pattern.fullmatch(text), text

    @settings(max_examples=1000, deadline=None)
    @given(text=st.text(alphabet="0123456789abcdefABCDEF:./, ;=G", max_size=40))
    def accepted_means_parsed(text: str) -> None:
        if pattern.fullmatch(text):
            for cidrs in _items(text).values():
                parse_cidr_list(cidrs)

    real_networks_pass()
    accepted_means_parsed()


# ----------------------------------------------------------------------------------------------- deploy options
def test_every_parameter_is_in_exactly_one_group_with_a_label(template: dict[str, Any]) -> None:
    """Given the AWS::CloudFormation::Interface metadata, then every parameter is in exactly one group, no group names
    a parameter the template lacks, every parameter has a label, and the groups follow the Parameters section's order
    (`sam deploy --guided` prompts in that order, the console by group: both read the same)."""
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    assert all(group["Label"]["default"] for group in interface["ParameterGroups"])
    assert sorted(grouped) == sorted(set(grouped)), "a parameter is in two groups"
    assert grouped == list(template["Parameters"])
    labels = interface["ParameterLabels"]
    assert labels.keys() == template["Parameters"].keys()
    assert all(label["default"].strip() for label in labels.values())


def evaluate_condition(template: dict[str, Any], name: str, values: dict[str, str]) -> bool:
    """A condition of the template for these parameter values (others: defaults), as CloudFormation evaluates it."""
    parameters = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()} | values

    def value(node: Any) -> Any:
        if isinstance(node, dict):
            ((function, argument),) = node.items()
            if function == "Ref":
                return parameters[argument]
            if function in ("Condition", "Fn::Condition"):  # the loader reads !Condition as Fn::Condition
                return evaluate_condition(template, argument, values)
            if function == "Fn::Equals":
                return str(value(argument[0])) == str(value(argument[1]))
            if function == "Fn::Not":
                return not value(argument[0])
            if function == "Fn::And":
                return all(value(a) for a in argument)
            if function == "Fn::Or":
                return any(value(a) for a in argument)
            raise AssertionError(f"unexpected {function} in a condition")
        return node

    return bool(value(template["Conditions"][name]))


DOMAIN = {"CustomDomainName": "hooks.example.com",
          "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0b5c7e1e-1111-2222-3333-444455556666"}


def test_custom_domain_is_off_by_default_and_complete_when_set(template: dict[str, Any]) -> None:
    """Given the custom domain parameters, then nothing is created by default; with a domain and a certificate, a
    regional TLS 1.2 domain maps the API's stage at its root, the Route 53 alias exists only with a hosted zone, a
    rule refuses a domain without a certificate, and the parameters accept what they must."""
    resources, params = template["Resources"], template["Parameters"]
    assert all(params[p]["Default"] == "" for p in ("CustomDomainName", "CertificateArn", "HostedZoneId"))
    assert not evaluate_condition(template, "HasCustomDomain", {})
    assert not evaluate_condition(template, "HasCustomDomain", {"CustomDomainName": "hooks.example.com"})
    assert evaluate_condition(template, "HasCustomDomain", DOMAIN)
    assert not evaluate_condition(template, "HasCustomDomainRecord", DOMAIN)
    assert evaluate_condition(template, "HasCustomDomainRecord", DOMAIN | {"HostedZoneId": "Z0123456789ABCDEFGHIJ"})
    assert not evaluate_condition(template, "HasCustomDomainRecord", {"HostedZoneId": "Z0123456789ABCDEFGHIJ"})

    domain = resources["WebhookDomainName"]
    assert domain["Type"] == "AWS::ApiGatewayV2::DomainName" and domain["Condition"] == "HasCustomDomain"
    assert domain["Properties"] == {
        "DomainName": ref("CustomDomainName"),
        "DomainNameConfigurations": [
            {"CertificateArn": ref("CertificateArn"), "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
        ],
    }
    mapping = resources["WebhookDomainMapping"]
    assert mapping["Type"] == "AWS::ApiGatewayV2::ApiMapping" and mapping["Condition"] == "HasCustomDomain"
    assert mapping["Properties"] == {
        "DomainName": ref("WebhookDomainName"), "ApiId": ref("WebhookHttpApi"), "Stage": ref("WebhookHttpApi.Stage")
    }
    assert "ApiMappingKey" not in mapping["Properties"], "the URLs are https://<domain>/webhooks/<provider>"
    record = resources["WebhookDomainRecord"]
    assert record["Type"] == "AWS::Route53::RecordSet" and record["Condition"] == "HasCustomDomainRecord"
    assert record["Properties"]["AliasTarget"] == {
        "DNSName": get_att("WebhookDomainName", "RegionalDomainName"),
        "HostedZoneId": get_att("WebhookDomainName", "RegionalHostedZoneId"),
        "EvaluateTargetHealth": False,
    }
    conditional = {k for k, r in resources.items() if "WebhookDomainName" in as_json(r)} - {"WebhookDomainName"}
    assert conditional == {"WebhookDomainMapping", "WebhookDomainRecord"}, "everything using the domain is conditional"

    rule = template["Rules"]["CustomDomainNeedsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [ref("CustomDomainName"), ""]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [ref("CertificateArn"), ""]}]}
    for parameter, good, bad in (
        (
            "CustomDomainName",
            ["", "hooks.example.com", "a.b.example.co.uk"],
            ["https://hooks.example.com", "hooks", "Hooks.Example.com", "hooks.example.com/"],
        ),
        ("CertificateArn", ["", DOMAIN["CertificateArn"]], ["arn:aws:iam::123456789012:role/x", "certificate"]),
        ("HostedZoneId", ["", "Z0123456789ABCDEFGHIJ", "Z1D633PJN98FT9"], ["hostedzone/Z1D633PJN98FT9", "z123"]),
    ):
        pattern = params[parameter]["AllowedPattern"]
        assert all(re.fullmatch(pattern, value) for value in good), parameter
        assert not any(re.fullmatch(pattern, value) for value in bad), parameter


def test_webhook_urls_use_the_custom_domain_when_set(template: dict[str, Any]) -> None:
    """Given the URL outputs, then each webhook URL (and WebhookBaseUrl) is the custom domain's when HasCustomDomain,
    else the execute-api endpoint; HttpApiUrl stays the API's own; the DNS target output exists only with a domain."""
    outputs = template["Outputs"]
    base = "https://${WebhookHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    assert outputs["WebhookBaseUrl"]["Value"] == {
        "Fn::If": ["HasCustomDomain", {"Fn::Sub": "https://${CustomDomainName}"}, {"Fn::Sub": base}]
    }
    for provider in PROVIDERS:
        assert outputs[f"{logical_name(provider)}WebhookUrl"]["Value"] == {
            "Fn::Sub": [
                f"${{Base}}/webhooks/{provider}",
                {
                    "Base": {
                        "Fn::If": ["HasCustomDomain", {"Fn::Sub": "https://${CustomDomainName}"}, {"Fn::Sub": base}]
                    },
                },
            ]
        }
    assert outputs["HttpApiUrl"]["Value"] == {"Fn::Sub": base}
    assert outputs["ApiDomainTarget"] == {
        "Condition": "HasCustomDomain",
        "Description": outputs["ApiDomainTarget"]["Description"],
        "Value": get_att("WebhookDomainName", "RegionalDomainName"),
    }


ROLLBACK_ALARMS = {
    **{RECEIVER_IDS[p]: ["Api5xxAlarm", "ApiLatencyAlarm"] for p in PROVIDERS},
    "ConsumerFunction": ["ConsumerErrorsAlarm", "HandlerFailuresAlarm"],
    "ReconcilerFunction": ["ReconcilerErrorsAlarm"],
}


def test_deployment_strategy_switches_codedeploy_for_every_function(template: dict[str, Any]) -> None:
    """Given DeploymentStrategy, then it defaults to AllAtOnce (no CodeDeploy), every other value is a CodeDeploy
    Lambda configuration that turns DeploymentPreference on through the DeploymentStrategies mapping (SAM resolves a
    FindInMap or a parameter Ref there, not a condition), every function publishes the `live` alias with all its
    properties, and each rolls back on its own alarms."""
    parameter = template["Parameters"]["DeploymentStrategy"]
    assert parameter["Default"] == "AllAtOnce"
    strategies = template["Mappings"]["DeploymentStrategies"]
    assert list(strategies) == parameter["AllowedValues"]
    assert {k: v["CodeDeploy"] for k, v in strategies.items() if v["CodeDeploy"] == "false"} == {"AllAtOnce": "false"}
    assert all(re.fullmatch(r"(Canary10Percent(5|10|15|30)Minutes|Linear10PercentEvery(1|2|3|10)Minutes?)", k)
               for k in strategies if k != "AllAtOnce")
    function_globals = template["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["DeploymentPreference"] == {
        "Enabled": {"Fn::FindInMap": ["DeploymentStrategies", ref("DeploymentStrategy"), "CodeDeploy"]},
        "Type": ref("DeploymentStrategy"),
    }
    functions = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == ROLLBACK_ALARMS.keys()
    for function, alarms in ROLLBACK_ALARMS.items():
        props = template["Resources"][function]["Properties"]
        assert props["AutoPublishAliasAllProperties"] is True, function
        assert props["DeploymentPreference"] == {"Alarms": [ref(a) for a in alarms]}, function
        assert all(template["Resources"][a]["Type"] == "AWS::CloudWatch::Alarm" for a in alarms)


SAM_PYTHON = ROOT / ".tools-venv/sam/bin/python"
# Runs in .tools-venv/sam (samtranslator is not a test dependency): the SAM transform of template.yaml for the given
# parameter values, offline (local code URIs replaced by S3 ones, no managed policy lookup), printed as JSON.
_RENDER = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    props = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://bucket/" + props[key].strip("/") + ".zip"
class NoManagedPolicies:
    def load(self):
        return {}
params = dict(arg.split("=", 1) for arg in sys.argv[2:])
print(json.dumps(transform(template, params, NoManagedPolicies()), default=str))
"""


def expanded_template_file() -> Path:
    """The expanded template (loops unrolled) in a file, for the SAM translator, which does not run
    AWS::LanguageExtensions itself (CloudFormation does, before SAM's transform)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="expanded-template-")) / "template.json"
    path.write_text(json.dumps(load_template()), encoding="utf-8")
    return path


def sam_transform(values: dict[str, str]) -> dict[str, Any]:
    import os
    import subprocess

    if not SAM_PYTHON.exists():
        pytest.skip("the SAM translator lives in .tools-venv/sam (make tools)")
    env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", _RENDER, str(expanded_template_file()), *(f"{k}={v}" for k, v in values.items())],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("strategy", ["AllAtOnce", "Canary10Percent5Minutes", "Linear10PercentEvery1Minute"])
def test_sam_renders_each_deployment_strategy_with_events_on_the_alias(strategy: str, template: dict[str, Any]) -> None:
    """Given a DeploymentStrategy, when SAM transforms the template with it, then every function has a `live` alias
    that the HTTP API integrations, their invoke permissions and the SQS event source target; with AllAtOnce no
    CodeDeploy resource exists and no alias has an update policy; with a gradual strategy each function has a
    deployment group of that configuration whose rollback alarms are its DeploymentPreference alarms."""
    rendered = sam_transform({"DeploymentStrategy": strategy})["Resources"]
    aliases = {k.removesuffix("Aliaslive"): v for k, v in rendered.items() if v["Type"] == "AWS::Lambda::Alias"}
    assert aliases.keys() == ROLLBACK_ALARMS.keys()
    assert all(alias["Properties"]["Name"] == "live" for alias in aliases.values())
    paths = rendered["WebhookHttpApi"]["Properties"]["Body"]["paths"]
    # One operation per path: "post", or SAM's "x-amazon-apigateway-any-method" for an ANY route (Meta's GET + POST).
    assert {path: list(ops) for path, ops in paths.items()} == {
        f"/webhooks/{p}": ["post" if route_method(load_provider(p)) == "POST" else "x-amazon-apigateway-any-method"]
        for p in PROVIDERS
    }
    uris = {path: next(iter(ops.values()))["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            for path, ops in paths.items()}
    for provider in PROVIDERS:
        assert f"${{{RECEIVER_IDS[provider]}Aliaslive}}/invocations" in uris[f"/webhooks/{provider}"]
        permission = rendered[f"{RECEIVER_IDS[provider]}WebhookPermission"]["Properties"]
        assert permission["FunctionName"] == ref(f"{RECEIVER_IDS[provider]}Aliaslive")
    assert rendered["ConsumerFunctionQueue"]["Properties"]["FunctionName"] == ref("ConsumerFunctionAliaslive")
    codedeploy = {k for k, v in rendered.items() if v["Type"].startswith("AWS::CodeDeploy::")}
    if strategy == "AllAtOnce":
        assert codedeploy == set()
        assert not any("UpdatePolicy" in alias for alias in aliases.values())
        return
    assert codedeploy == {"ServerlessDeploymentApplication"} | {f"{f}DeploymentGroup" for f in ROLLBACK_ALARMS}
    for function, alarms in ROLLBACK_ALARMS.items():
        group = rendered[f"{function}DeploymentGroup"]["Properties"]
        assert group["AlarmConfiguration"] == {"Enabled": True, "Alarms": [{"Name": ref(a)} for a in alarms]}
        assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": strategy}
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        assert "CodeDeployLambdaAliasUpdate" in aliases[function]["UpdatePolicy"]


def _with_defaults(values: dict[str, str]) -> str:
    """template.yaml with other parameter defaults: cfn-lint lints the SAM transform of the defaults."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    for name, value in values.items():
        text, count = re.subn(rf"(\n  {name}:\n    Type: \w+\n    Default: )[^\n]*", rf"\g<1>{value}", text, count=1)
        assert count == 1, name
    return text


@pytest.mark.parametrize(
    "values",
    [
        # Each variant switches on several independent options: one cfn-lint run costs ~20 s of CPU, so every
        # option's value is covered once rather than every combination.
        {
            **DOMAIN,
            "DeploymentStrategy": "Canary10Percent5Minutes",
            "ReconcilerSchedule": '"rate(1 day)"',
            "ReconcilerGithubHooks": '"repo:octocat/shop:501234567"',
            "ReconcilerGithubTokenSecretArn": '"arn:aws:secretsmanager:us-east-1:123456789012:secret:github-AbCdEf"',
            "ReconcilerStripeKeySecretArn": '"arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-AbCdEf"',
        },
        {
            **DOMAIN,
            "HostedZoneId": "Z0123456789ABCDEFGHIJ",
            "DeploymentStrategy": "Linear10PercentEvery1Minute",
            "ListenerTap": "Enabled",
            "EventBusName": '"org-events"',
        },
    ],
    ids=["custom-domain-canary-reconciler", "domain-record-linear-tap-bus"],
)
def test_cfn_lint_reports_nothing_with_the_options_on(values: dict[str, str], tmp_path: Path) -> None:
    """Given the template with gradual deployments and the custom domain (with or without its DNS record) switched
    on by default, and the reconciler's schedule, the listener tap and the event bus, when cfn-lint checks it (SAM
    transform included), then it reports nothing, as for the defaults."""
    from cfnlint.api import lint_file

    variant = tmp_path / "template.yaml"
    variant.write_text(_with_defaults(values), encoding="utf-8")
    assert [str(m) for m in lint_file(variant)] == []


# ----------------------------------------------------------------------------------------------- listener tap
def test_the_listener_tap_is_off_by_default_and_conditional_throughout(template: dict[str, Any]) -> None:
    """Given the ListenerTap parameter, then it is Disabled by default, and its topic, its policy, its outputs, the
    consumer's TAP_TOPIC_ARN and the consumer's sns:Publish grant all hang on the one HasListenerTap condition."""
    parameter = template["Parameters"]["ListenerTap"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Disabled", ["Disabled", "Enabled"])
    assert template["Conditions"]["HasListenerTap"] == {"Fn::Equals": [ref("ListenerTap"), "Enabled"]}
    resources = template["Resources"]
    assert resources["ListenerTapTopic"]["Condition"] == "HasListenerTap"
    assert resources["ListenerPolicy"]["Condition"] == "HasListenerTap"
    assert template["Outputs"]["ListenerTapTopicArn"] == {
        "Condition": "HasListenerTap",
        "Description": template["Outputs"]["ListenerTapTopicArn"]["Description"],
        "Value": ref("ListenerTapTopic"),
    }
    assert template["Outputs"]["ListenerPolicyArn"]["Condition"] == "HasListenerTap"
    env = function_env(template, "ConsumerFunction")
    assert env["TAP_TOPIC_ARN"] == {"Fn::If": ["HasListenerTap", ref("ListenerTapTopic"), ""]}
    role = resources["ConsumerFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    tap_only = [
        pair
        for pair in grants(with_conditions(statements, frozenset({"HasListenerTap"})))
        if pair not in grants(with_conditions(statements))
    ]
    assert tap_only == [("sns:Publish", as_json(ref("ListenerTapTopic")))]


def test_the_tap_topic_is_encrypted_with_the_aws_managed_sns_key(resources: dict[str, Any]) -> None:
    """Given the tap's topic, then it is encrypted at rest with aws/sns, whose key policy lets the account's principals
    use it through SNS: the consumer needs no KMS permission to publish."""
    assert resources["ListenerTapTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"


def test_the_listener_policy_is_scoped_to_the_stack_s_listener_queues_the_tap_and_claim_checks(
    resources: dict[str, Any],
) -> None:
    """Given the ListenerPolicy, then `hookctl listen` may manage only queues named <stack>-listen-*, subscribe them
    to the tap topic and manage those subscriptions, and read claim-checked bodies; nothing else (no wildcard)."""
    statements = resources["ListenerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    queues = as_json(
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-listen-*"}
    )
    topic, subscriptions = as_json(ref("ListenerTapTopic")), as_json({"Fn::Sub": "${ListenerTapTopic}:*"})
    queue_actions = [
        "sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteQueue",
    ]
    assert sorted(grants(statements)) == sorted(
        [
            *((action, queues) for action in queue_actions),
            ("sns:Subscribe", topic),
            ("sns:ListSubscriptionsByTopic", topic),
            ("sns:Unsubscribe", topic),
            ("sns:Unsubscribe", subscriptions),
            ("sns:SetSubscriptionAttributes", topic),
            ("sns:SetSubscriptionAttributes", subscriptions),
            ("s3:GetObject", as_json({"Fn::Sub": "${OverflowBucket.Arn}/*"})),
        ]
    )
