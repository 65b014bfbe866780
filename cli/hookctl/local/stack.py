"""Create the template's resources in the local endpoint from their CloudFormation Properties, and describe its
functions (handler, code, layers, timeout, environment, HTTP routes, SQS event source) as the template gives them.

Created, in dependency order: ``AWS::SQS::Queue`` (every queue attribute, ``RedrivePolicy`` included),
``AWS::DynamoDB::Table`` (keys, indexes, billing, SSE, deletion protection, then TTL and point-in-time recovery),
``AWS::S3::Bucket`` (encryption, public access block, ownership controls, lifecycle rules, versioning),
``AWS::SecretsManager::Secret`` (seeded, see :func:`seed_for`), ``AWS::SNS::Topic`` (the listener tap's: moto's SNS
delivers to the SQS queues ``hookctl listen`` subscribes; a KMS key it names is recorded, not emulated),
``AWS::SQS::QueuePolicy`` and ``AWS::S3::BucketPolicy``.
Functions are not created: the runner runs them (``lambda_runtime``). Everything else
(IAM roles, log groups, alarms, the HTTP API's stage settings...) is not emulated and gets a placeholder physical id,
listed in :attr:`LocalStack.not_emulated`. moto enforces no IAM and no queue policy: a missing permission only shows
up in AWS. It does enforce bucket policies, so a bucket policy statement that denies requests without TLS
(``aws:SecureTransport`` false) is left out: every request to the plain-HTTP endpoint would be denied, where in AWS
the SDKs always use TLS. What is left out is in :attr:`Created.deviation` (the banner prints it).

A stack named like the local stack is also created in the endpoint's CloudFormation with the template's outputs
(resolved locally), so that ``hookctl`` finds the resources there as it does in AWS.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hookctl.local.template import NO_VALUE, Template, TemplateError, Unresolved, _text, as_bool

SECRET_ENV = "HOOKCTL_{provider}_SECRET"  # e.g. HOOKCTL_GITHUB_SECRET overrides the GitHub sample secret
LOCAL_API_ID = "local"

QUEUE, TABLE, BUCKET, SECRET = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
)
QUEUE_POLICY, BUCKET_POLICY = "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"
TOPIC = "AWS::SNS::Topic"
FUNCTION, LAYER, HTTP_API = "AWS::Serverless::Function", "AWS::Serverless::LayerVersion", "AWS::Serverless::HttpApi"
CREATED_TYPES = (QUEUE, TABLE, BUCKET, SECRET, TOPIC, QUEUE_POLICY, BUCKET_POLICY)
RUN_TYPES = (FUNCTION, LAYER, HTTP_API)  # emulated by running them, not created

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function: str  # logical id
    payload_format: str = "2.0"

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    """One ``Type: SQS`` event of a function: the event source mapping the poller emulates."""

    function: str
    queue: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window_seconds: int = 0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    runtime: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    timeout: int
    memory_size: int
    environment: dict[str, str]
    reserved_concurrency: int | None = None
    routes: tuple[HttpRoute, ...] = ()
    sqs_sources: tuple[SqsSource, ...] = ()
    arn: str = ""


@dataclass
class Created:
    logical_id: str
    type: str
    physical_id: str
    applied: list[str] = field(default_factory=list)  # properties sent to the service
    ignored: list[str] = field(default_factory=list)  # properties the local endpoint does not take
    note: str = ""
    deviation: str = ""  # how the local resource differs from the template's, on purpose


@dataclass
class LocalStack:
    template: Template
    created: dict[str, Created]
    functions: dict[str, FunctionSpec]
    outputs: dict[str, tuple[str, str]]
    not_emulated: dict[str, str]  # logical id -> type
    secret_sources: dict[str, str]  # secret logical id -> where its value came from

    def output(self, name: str) -> str:
        return self.outputs[name][0]

    def queue_url(self, logical_id: str) -> str:
        return str(self.template.physical(logical_id))

    def queue_arn(self, logical_id: str) -> str:
        return str(self.template.attribute(logical_id, "Arn"))

    def routes(self) -> list[HttpRoute]:
        return [route for spec in self.functions.values() for route in spec.routes]

    def sqs_sources(self) -> list[SqsSource]:
        return [source for spec in self.functions.values() for source in spec.sqs_sources]


# -- physical names --------------------------------------------------------------------------------------------------


def default_name(template: Template, logical_id: str, *, lower: bool = False, limit: int = 80) -> str:
    """``<stack>-<LogicalId>`` (CloudFormation adds a random suffix; locally the names stay predictable)."""
    name = f"{template.stack_name}-{logical_id}"[:limit]
    return name.lower() if lower else name


def queue_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    fifo = as_bool(props.get("FifoQueue", False))
    return props.get("QueueName") or default_name(template, logical_id, limit=75) + (".fifo" if fifo else "")


def topic_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    fifo = as_bool(props.get("FifoTopic", False))
    return props.get("TopicName") or default_name(template, logical_id, limit=251) + (".fifo" if fifo else "")


def table_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    return props.get("TableName") or default_name(template, logical_id, limit=255)


def bucket_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    return props.get("BucketName") or default_name(template, logical_id, lower=True, limit=63)


def secret_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    return props.get("Name") or f"{template.stack_name}/{logical_id}"


def _service(resource_type: str) -> str:
    parts = resource_type.split("::")
    return parts[1].lower() if len(parts) > 1 else "cloudformation"


def plan_placeholders(template: Template) -> dict[str, str]:
    """Give every resource that is not created a predictable Ref and Arn (functions, layers, the HTTP API, and the
    types that are not emulated), so that what refers to them resolves. Returns the not-emulated ones."""
    not_emulated: dict[str, str] = {}
    region, account = template.region, template.account_id
    for logical_id, resource in template.resources.items():
        resource_type = resource.get("Type", "")
        if resource_type in CREATED_TYPES:
            continue
        props = resource.get("Properties") or {}
        if resource_type == FUNCTION:
            name = _literal(props.get("FunctionName")) or default_name(template, logical_id, limit=64)
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            template.set_physical(logical_id, name, Arn=arn)
        elif resource_type == HTTP_API:
            template.set_physical(
                logical_id, LOCAL_API_ID, ApiEndpoint=f"https://{LOCAL_API_ID}.execute-api.{region}.amazonaws.com"
            )
        elif resource_type == LAYER:
            arn = f"arn:aws:lambda:{region}:{account}:layer:{default_name(template, logical_id, limit=64)}:1"
            template.set_physical(logical_id, arn)
        else:
            name = default_name(template, logical_id)
            arn = f"arn:aws:{_service(resource_type)}:{region}:{account}:{name}"
            template.set_physical(logical_id, name, Arn=arn)
            if template.is_active(logical_id):
                not_emulated[logical_id] = resource_type
    return not_emulated


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- secrets ---------------------------------------------------------------------------------------------------------


def secret_providers(template: Template) -> dict[str, tuple[str, str]]:
    """Secret logical id -> (provider instance, its kind), from the functions that read it: ``SECRET_ID: !Ref
    <secret>`` beside a literal ``PROVIDER`` (and ``PROVIDER_KIND``, default the same) in a function's environment
    (the receivers')."""
    found: dict[str, tuple[str, str]] = {}
    for resource in template.of_type(FUNCTION).values():
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        secret, provider, kind = variables.get("SECRET_ID"), variables.get("PROVIDER"), variables.get("PROVIDER_KIND")
        if isinstance(secret, dict) and isinstance(secret.get("Ref"), str) and isinstance(provider, str):
            found[secret["Ref"]] = (provider, kind if isinstance(kind, str) and kind else provider)
    return found


def seed_for(provider: str, environ: Mapping[str, str], kind: str | None = None) -> tuple[str, str]:
    """The secret value of a provider instance's receiver and where it comes from: ``HOOKCTL_<PROVIDER>_SECRET`` if
    set, else the sample secret of its kind (events/README.md: what ``hookctl send`` signs with by default)."""
    from hookctl.samples import sample_secret

    variable = SECRET_ENV.format(provider=provider.upper())
    if environ.get(variable):
        return environ[variable], f"${variable}"
    try:
        sample = sample_secret(kind or provider)
    except ValueError:  # no verifier module of that name
        sample = ""
    if sample:
        return sample, "sample secret (events/README.md)"
    raise TemplateError(f"no sample secret for provider {provider!r}: set {variable}")


def _generated_secret(options: Mapping[str, Any]) -> str:
    length = int(options.get("PasswordLength", 32))
    alphabet = ""
    if not as_bool(options.get("ExcludeLowercase", False)):
        alphabet += string.ascii_lowercase
    if not as_bool(options.get("ExcludeUppercase", False)):
        alphabet += string.ascii_uppercase
    if not as_bool(options.get("ExcludeNumbers", False)):
        alphabet += string.digits
    if not as_bool(options.get("ExcludePunctuation", False)):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    excluded = str(options.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded) or string.ascii_letters
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- creating resources ----------------------------------------------------------------------------------------------


class _Creator:
    def __init__(self, template: Template, client: Callable[[str], Any], environ: Mapping[str, str]) -> None:
        self.template = template
        self.client = client
        self.environ = environ
        self.providers = secret_providers(template)
        self.secret_sources: dict[str, str] = {}

    def create(self, logical_id: str) -> Created:
        resource = self.template.resources[logical_id]
        props = self.template.resolve(resource.get("Properties") or {})
        handler = {
            QUEUE: self.queue,
            TABLE: self.table,
            BUCKET: self.bucket,
            SECRET: self.secret,
            TOPIC: self.topic,
            QUEUE_POLICY: self.queue_policy,
            BUCKET_POLICY: self.bucket_policy,
        }[resource["Type"]]
        return handler(logical_id, props)

    def queue(self, logical_id: str, props: dict[str, Any]) -> Created:
        sqs = self.client("sqs")
        name = queue_name(self.template, logical_id, props)
        attributes = {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                attributes[key] = json.dumps(props[key], separators=(",", ":"))
        ignored = [key for key in props if key not in attributes and key not in ("QueueName", "Tags")]
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:  # an emulator without SSE-SQS: the queue works the same without it
            if "SqsManagedSseEnabled" not in attributes or "Attribute" not in str(error):
                raise
            attributes.pop("SqsManagedSseEnabled")
            ignored.append("SqsManagedSseEnabled")
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.template.set_physical(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
        return Created(logical_id, QUEUE, url, applied=sorted(attributes), ignored=ignored)

    def table(self, logical_id: str, props: dict[str, Any]) -> Created:
        dynamodb = self.client("dynamodb")
        name = table_name(self.template, logical_id, props)
        params: dict[str, Any] = {"TableName": name}
        for key in ("AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput", "TableClass"):
            if key in props:
                params[key] = props[key]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                params[key] = [
                    {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"} for index in props[key]
                ]
        if "StreamSpecification" in props:
            params["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        if "SSESpecification" in props:
            sse = props["SSESpecification"]
            params["SSESpecification"] = {
                "Enabled": as_bool(sse.get("SSEEnabled", False)),
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        if "DeletionProtectionEnabled" in props:
            params["DeletionProtectionEnabled"] = as_bool(props["DeletionProtectionEnabled"])
        if props.get("Tags"):
            params["Tags"] = props["Tags"]
        description = dynamodb.create_table(**params)["TableDescription"]
        applied = sorted(k for k in params if k != "TableName")
        if "TimeToLiveSpecification" in props:
            ttl = props["TimeToLiveSpecification"]
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": as_bool(ttl.get("Enabled", True)),
                },
            )
            applied.append("TimeToLiveSpecification")
        if "PointInTimeRecoverySpecification" in props:
            enabled = as_bool(props["PointInTimeRecoverySpecification"].get("PointInTimeRecoveryEnabled", False))
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled}
            )
            applied.append("PointInTimeRecoverySpecification")
        ignored = [key for key in props if key not in applied and key not in ("TableName", "SSESpecification")]
        self.template.set_physical(
            logical_id, name, Arn=description["TableArn"], StreamArn=description.get("LatestStreamArn", "")
        )
        return Created(logical_id, TABLE, name, applied=applied, ignored=ignored)

    def bucket(self, logical_id: str, props: dict[str, Any]) -> Created:
        s3 = self.client("s3")
        name = bucket_name(self.template, logical_id, props)
        if self.template.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.template.region})
        applied: list[str] = []
        if "BucketEncryption" in props:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule.get("ServerSideEncryptionByDefault", {}),
                    **({"BucketKeyEnabled": as_bool(rule["BucketKeyEnabled"])} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in props["BucketEncryption"].get("ServerSideEncryptionConfiguration", [])
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
            applied.append("BucketEncryption")
        if "PublicAccessBlockConfiguration" in props:
            block = {k: as_bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()}
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
            applied.append("PublicAccessBlockConfiguration")
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
            applied.append("OwnershipControls")
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
            applied.append("VersioningConfiguration")
        if "LifecycleConfiguration" in props:
            rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"].get("Rules", [])]
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
            applied.append("LifecycleConfiguration")
        ignored = [key for key in props if key not in applied and key != "BucketName"]
        arn = f"arn:aws:s3:::{name}"
        self.template.set_physical(
            logical_id,
            name,
            Arn=arn,
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{self.template.region}.amazonaws.com",
        )
        return Created(logical_id, BUCKET, name, applied=applied, ignored=ignored)

    def secret(self, logical_id: str, props: dict[str, Any]) -> Created:
        name = secret_name(self.template, logical_id, props)
        instance = self.providers.get(logical_id)
        if instance is not None:
            provider, kind = instance
            value, source = seed_for(provider, self.environ, kind)
            source = f"{provider}: {source}"
        elif "SecretString" in props:
            value, source = _text(props["SecretString"]), "SecretString"
        else:
            value, source = _generated_secret(props.get("GenerateSecretString") or {}), "generated"
        params: dict[str, Any] = {"Name": name, "SecretString": value}
        if props.get("Description"):
            params["Description"] = _text(props["Description"])[:2048]
        arn = self.client("secretsmanager").create_secret(**params)["ARN"]
        self.template.set_physical(logical_id, arn, Id=arn)
        self.secret_sources[logical_id] = source
        ignored = [key for key in props if key not in ("Name", "Description", "SecretString", "GenerateSecretString")]
        return Created(logical_id, SECRET, arn, applied=["SecretString"], ignored=ignored, note=source)

    def topic(self, logical_id: str, props: dict[str, Any]) -> Created:
        name = topic_name(self.template, logical_id, props)
        keys = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
        attributes = {key: _text(props[key]) for key in keys if key in props}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self.template.set_physical(logical_id, arn, TopicArn=arn, TopicName=name)
        ignored = [key for key in props if key not in attributes and key not in ("TopicName", "Tags")]
        note = "KMS not emulated (the key is recorded)" if "KmsMasterKeyId" in attributes else ""
        return Created(logical_id, TOPIC, arn, applied=sorted(attributes), ignored=ignored, note=note)

    def queue_policy(self, logical_id: str, props: dict[str, Any]) -> Created:
        policy = json.dumps(props["PolicyDocument"])
        for url in props.get("Queues", []):
            self.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        self.template.set_physical(logical_id, default_name(self.template, logical_id))
        return Created(logical_id, QUEUE_POLICY, logical_id, applied=["PolicyDocument"], note="not enforced by moto")

    def bucket_policy(self, logical_id: str, props: dict[str, Any]) -> Created:
        document = props["PolicyDocument"]
        statements = document.get("Statement") or []
        statements = [statements] if isinstance(statements, dict) else list(statements)
        kept = [statement for statement in statements if not denies_insecure_transport(statement)]
        dropped = [str(st.get("Sid") or f"statement {i + 1}") for i, st in enumerate(statements) if st not in kept]
        if kept:
            policy = json.dumps({**document, "Statement": kept})
            self.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=policy)
        self.template.set_physical(logical_id, default_name(self.template, logical_id))
        deviation = ""
        if dropped:
            deviation = (
                f"{', '.join(dropped)} not applied: it denies requests without TLS (aws:SecureTransport), and the "
                "local endpoint is plain HTTP"
            )
        note = "enforced by moto" if kept else "nothing left to apply locally"
        applied = ["PolicyDocument"]
        return Created(logical_id, BUCKET_POLICY, logical_id, applied=applied, note=note, deviation=deviation)


def denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    """A ``Deny`` whose only condition is ``aws:SecureTransport`` false: in AWS it refuses plain-HTTP requests, which
    the SDKs never make; against moto's plain-HTTP endpoint, which enforces bucket policies, it refuses every one."""
    if statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition") or {}
    if set(condition) != {"Bool"} or not isinstance(condition["Bool"], Mapping):
        return False
    keys = {str(key).lower(): value for key, value in condition["Bool"].items()}
    if set(keys) != {"aws:securetransport"}:
        return False
    value = keys["aws:securetransport"]
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() for v in values] == ["false"]


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (the two differ)."""
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif "ExpirationDate" in rule:
        converted["Expiration"] = {"Date": rule["ExpirationDate"]}
    elif "ExpiredObjectDeleteMarker" in rule:
        converted["Expiration"] = {"ExpiredObjectDeleteMarker": as_bool(rule["ExpiredObjectDeleteMarker"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    if "NoncurrentVersionExpirationInDays" in rule:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    return converted


def creation_order(template: Template) -> list[str]:
    """The created resources, each after the resources its properties refer to (CloudFormation's order)."""
    pending = {
        logical_id: (template.references(resource.get("Properties") or {}) | _depends_on(resource))
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in CREATED_TYPES and template.is_active(logical_id)
    }
    order: list[str] = []
    while pending:
        ready = [lid for lid, deps in pending.items() if not (deps & pending.keys())]
        if not ready:
            raise TemplateError(f"circular references between {', '.join(sorted(pending))}")
        for logical_id in ready:
            order.append(logical_id)
            del pending[logical_id]
    return order


def _depends_on(resource: Mapping[str, Any]) -> set[str]:
    value = resource.get("DependsOn") or []
    return {value} if isinstance(value, str) else set(value)


# -- functions -------------------------------------------------------------------------------------------------------


def function_specs(template: Template) -> dict[str, FunctionSpec]:
    """Every active ``AWS::Serverless::Function``, resolved (call after the resources exist)."""
    queue_by_arn = {template.attribute(lid, "Arn"): lid for lid in template.of_type(QUEUE)}
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template.of_type(FUNCTION).items():
        props = resource.get("Properties") or {}
        code_uri = template.resolve(props.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory to run it locally")
        layer_dirs = []
        for layer in props.get("Layers") or []:
            if isinstance(layer, dict) and isinstance(layer.get("Ref"), str) and layer["Ref"] in template.resources:
                content = (template.resources[layer["Ref"]].get("Properties") or {}).get("ContentUri")
                layer_dirs.append((template.base_dir / template.resolve(content)).resolve())
            else:
                raise TemplateError(f"{logical_id}: layer {layer!r} is not a layer of this template")
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        environment = {name: _text(template.resolve(value)) for name, value in variables.items()}
        reserved = template.resolve(props.get("ReservedConcurrentExecutions", NO_VALUE))
        routes: list[HttpRoute] = []
        sources: list[SqsSource] = []
        for event in (props.get("Events") or {}).values():
            kind, event_props = event.get("Type"), template.resolve(event.get("Properties") or {})
            if kind == "HttpApi":
                routes.append(
                    HttpRoute(
                        method=str(event_props.get("Method", "ANY")).upper(),
                        path=str(event_props.get("Path", "$default")),
                        function=logical_id,
                        payload_format=_text(event_props.get("PayloadFormatVersion", "2.0")),
                    )
                )
            elif kind == "SQS":
                queue = queue_by_arn.get(event_props.get("Queue"))
                if queue is None:
                    raise TemplateError(f"{logical_id}: SQS event on a queue that is not in the template")
                scaling = event_props.get("ScalingConfig") or {}
                response_types = event_props.get("FunctionResponseTypes") or []
                concurrency = int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None
                sources.append(
                    SqsSource(
                        function=logical_id,
                        queue=queue,
                        queue_url=str(template.physical(queue)),
                        queue_arn=str(event_props["Queue"]),
                        batch_size=int(event_props.get("BatchSize", 10)),
                        batching_window_seconds=int(event_props.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures" in response_types,
                        maximum_concurrency=concurrency,
                        enabled=as_bool(event_props.get("Enabled", True)),
                    )
                )
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=str(template.physical(logical_id)),
            handler=str(template.resolve(props.get("Handler"))),
            runtime=str(template.resolve(props.get("Runtime", ""))),
            code_dir=(template.base_dir / code_uri).resolve(),
            layer_dirs=tuple(layer_dirs),
            timeout=int(template.resolve(props.get("Timeout", 3))),
            memory_size=int(template.resolve(props.get("MemorySize", 128))),
            environment=environment,
            reserved_concurrency=None if reserved is NO_VALUE or reserved is None else int(reserved),
            routes=tuple(routes),
            sqs_sources=tuple(sources),
            arn=str(template.attribute(logical_id, "Arn")),
        )
    return specs


# -- the whole stack -------------------------------------------------------------------------------------------------


def local_outputs(template: Template, emulated: set[str], api_base_url: str) -> dict[str, tuple[str, str]]:
    """The template's outputs that name emulated resources, with the HTTP API's URL replaced by the local one."""
    api_prefix = f"https://{LOCAL_API_ID}.execute-api.{template.region}.amazonaws.com"
    found = {}
    declared = template.document.get("Outputs") or {}
    for name, (value, description) in template.outputs().items():
        if template.references(declared[name].get("Value")) - emulated:
            continue
        found[name] = (value.replace(api_prefix, api_base_url.rstrip("/")), description)
    return found


def create_stack(
    template: Template,
    client: Callable[[str], Any],
    *,
    environ: Mapping[str, str] | None = None,
    api_base_url: str = "http://127.0.0.1:3000",
    register_stack: bool = True,
) -> LocalStack:
    """Create every emulated resource of ``template`` through ``client(service)`` (boto3 clients of the local
    endpoint), then resolve the functions and outputs. With ``register_stack``, a CloudFormation stack named
    ``template.stack_name`` holds the outputs, so that ``hookctl --stack-name`` finds them."""
    environ = os.environ if environ is None else environ
    not_emulated = plan_placeholders(template)
    creator = _Creator(template, client, environ)
    created: dict[str, Created] = {}
    for logical_id in creation_order(template):
        try:
            created[logical_id] = creator.create(logical_id)
        except Unresolved as missing:
            raise TemplateError(
                f"{logical_id} refers to {missing.logical_id}, which the local runner does not create"
            ) from None
    functions = function_specs(template)
    emulated = set(created) | {lid for lid, r in template.resources.items() if r.get("Type") in RUN_TYPES}
    outputs = local_outputs(template, emulated, api_base_url)
    if register_stack:
        register_outputs(client("cloudformation"), template.stack_name, outputs)
    return LocalStack(template, created, functions, outputs, not_emulated, creator.secret_sources)


def register_outputs(cloudformation: Any, stack_name: str, outputs: Mapping[str, tuple[str, str]]) -> None:
    """A CloudFormation stack whose only content is the outputs (moto creates no resource for a wait handle)."""
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "hookctl dev: outputs of template.yaml resolved against the local endpoint",
        "Resources": {"LocalPipeline": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            name: {"Value": value, "Description": description[:1024]} for name, (value, description) in outputs.items()
        },
    }
    import warnings

    # moto in process warns that it creates nothing for a wait handle: that is the point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))


def attach_stack(template: Template, client: Callable[[str], Any]) -> dict[str, FunctionSpec]:
    """The functions of a stack that ``hookctl dev`` already created in the endpoint (same template, parameters and
    stack name): each resource is looked up by the name it was created under, nothing is created."""
    plan_placeholders(template)
    for logical_id in creation_order(template):
        resource_type = template.resources[logical_id]["Type"]
        props = template.resolve(template.resources[logical_id].get("Properties") or {})
        try:
            if resource_type == QUEUE:
                sqs = client("sqs")
                url = sqs.get_queue_url(QueueName=queue_name(template, logical_id, props))["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                template.set_physical(logical_id, url, Arn=arn)
            elif resource_type == TABLE:
                name = table_name(template, logical_id, props)
                arn = client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
                template.set_physical(logical_id, name, Arn=arn)
            elif resource_type == BUCKET:
                name = bucket_name(template, logical_id, props)
                client("s3").head_bucket(Bucket=name)
                template.set_physical(logical_id, name, Arn=f"arn:aws:s3:::{name}")
            elif resource_type == SECRET:
                arn = client("secretsmanager").describe_secret(SecretId=secret_name(template, logical_id, props))["ARN"]
                template.set_physical(logical_id, arn, Id=arn)
            elif resource_type == TOPIC:
                arn = f"arn:aws:sns:{template.region}:{template.account_id}:{topic_name(template, logical_id, props)}"
                client("sns").get_topic_attributes(TopicArn=arn)
                template.set_physical(logical_id, arn, TopicArn=arn)
            else:
                template.set_physical(logical_id, default_name(template, logical_id))
        except ClientError as error:
            raise TemplateError(f"{logical_id} is not in the endpoint ({error}): is `hookctl dev` running?") from None
    return function_specs(template)
