"""Where the gateway's resources are: an explicit flag, then an environment variable, then the stack outputs.

The CloudFormation stack (``--stack-name``, ``HOOKCTL_STACK``, default ``webhook-gateway``) is only described when a
command needs a resource that was not given explicitly, so a local setup without CloudFormation (moto, a test
account) works with flags/env alone::

    StackResources.from_sources(stack_name=None, flags={"table": "deliveries"}, environ=os.environ).get("table")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hookctl.awserrors import is_problem
from webhook_gateway.verifiers import logical_name, registered_providers

DEFAULT_STACK_NAME = "webhook-gateway"
STACK_ENV = "HOOKCTL_STACK"


@dataclass(frozen=True)
class ResourceSpec:
    key: str  # attribute name on the parsed arguments and the key of StackResources.get()
    output: str  # CloudFormation output name (the template's contract)
    flag: str
    env: str
    help: str


def webhook_url_key(provider: str) -> str:
    """The resource key of a provider's webhook URL (``github_url``)."""
    return f"{provider}_url"


RESOURCE_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec("queue_url", "QueueUrl", "--queue-url", "HOOKCTL_QUEUE_URL", "main (ingest) queue URL"),
    ResourceSpec("queue_arn", "QueueArn", "--queue-arn", "HOOKCTL_QUEUE_ARN", "main queue ARN"),
    ResourceSpec("dlq_url", "DeadLetterQueueUrl", "--dlq-url", "HOOKCTL_DLQ_URL", "dead-letter queue URL"),
    ResourceSpec("dlq_arn", "DeadLetterQueueArn", "--dlq-arn", "HOOKCTL_DLQ_ARN", "dead-letter queue ARN"),
    ResourceSpec("table", "DeliveriesTableName", "--table", "HOOKCTL_TABLE", "deliveries ledger table name"),
    ResourceSpec("bucket", "OverflowBucketName", "--bucket", "HOOKCTL_BUCKET", "overflow (claim check) bucket"),
    # Each provider's webhook URL: <provider>_url, the template's <Name>WebhookUrl output.
    *(
        ResourceSpec(
            webhook_url_key(provider.name),
            f"{logical_name(provider.name)}WebhookUrl",
            f"--{provider.name.replace('_', '-')}-url",
            f"HOOKCTL_{provider.name.upper()}_URL",
            f"{provider.title or logical_name(provider.name)} webhook URL",
        )
        for provider in registered_providers()
    ),
    ResourceSpec("api_url", "HttpApiUrl", "--api-url", "HOOKCTL_API_URL", "HTTP API base URL"),
)
SPECS_BY_KEY: dict[str, ResourceSpec] = {spec.key: spec for spec in RESOURCE_SPECS}

# Where a value came from (``StackResources.lookup``).
SOURCE_FLAG, SOURCE_ENV, SOURCE_STACK = "flag", "env", "stack"


class ResourceNotFound(Exception):
    """A resource is neither given explicitly nor an output of the stack; the message says how to provide it."""


class StackResources:
    """Resolves resources by precedence: flag > environment variable > CloudFormation stack output.

    ``cloudformation`` (a client) or ``session`` (a boto3 session) is used lazily, once, for DescribeStacks.
    """

    def __init__(
        self,
        stack_name: str | None = None,
        flags: Mapping[str, str | None] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        cloudformation: Any = None,
        session: Any = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.stack_name = stack_name or environ.get(STACK_ENV) or DEFAULT_STACK_NAME
        self._flags = {key: value for key, value in (flags or {}).items() if value}
        self._env = {spec.key: environ[spec.env] for spec in RESOURCE_SPECS if environ.get(spec.env)}
        self._cloudformation = cloudformation
        self._session = session
        self._client_factory = client_factory  # e.g. CommandContext.client: the endpoint, region and profile chosen
        self._outputs: dict[str, str] | None = None
        self._stack_error: str | None = None

    # -- lookups -------------------------------------------------------------------------------------------------

    def explicit(self, key: str) -> str | None:
        """The value given by flag or environment, never the stack's."""
        _spec(key)
        return self._flags.get(key) or self._env.get(key)

    def lookup(self, key: str) -> tuple[str, str]:
        """``(value, source)``; raises :class:`ResourceNotFound` with a hint naming the flag and variable."""
        spec = _spec(key)
        if key in self._flags:
            return self._flags[key], SOURCE_FLAG
        if key in self._env:
            return self._env[key], SOURCE_ENV
        outputs = self.stack_outputs()
        if spec.output in outputs:
            return outputs[spec.output], SOURCE_STACK
        reason = self._stack_error or f"stack {self.stack_name!r} has no output {spec.output!r}"
        raise ResourceNotFound(
            f"{spec.help} is unknown: pass {spec.flag} or set {spec.env} ({reason}; use --stack-name or "
            f"{STACK_ENV} to read another stack's outputs)"
        )

    def get(self, key: str) -> str:
        return self.lookup(key)[0]

    def optional(self, key: str) -> str | None:
        try:
            return self.get(key)
        except ResourceNotFound:
            return None

    def stack_outputs(self) -> dict[str, str]:
        """The stack's outputs (empty, with the reason remembered, when the stack cannot be described).

        Missing or refused credentials, an unknown profile, no region and an unreachable endpoint are raised as they
        are (:mod:`hookctl.awserrors` names them): they are the problem, not the resource they leave unknown.
        """
        if self._outputs is None:
            try:
                stacks = self._cfn().describe_stacks(StackName=self.stack_name)["Stacks"]
            except ClientError as exc:
                if is_problem(exc):
                    raise
                self._outputs = {}
                error = exc.response.get("Error", {})
                self._stack_error = f"stack {self.stack_name!r} not readable: {error.get('Message') or exc}"
            except BotoCoreError as exc:
                if is_problem(exc):
                    raise
                self._outputs = {}
                self._stack_error = f"stack {self.stack_name!r} not readable: {exc}"
            else:
                self._outputs = {}
                if stacks:
                    self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
                else:
                    self._stack_error = f"stack {self.stack_name!r} not found"
        return self._outputs

    # -- queues: URL and ARN must describe the same queue ------------------------------------------------------

    def queue_arn(self, kind: str, sqs: Any = None) -> str:
        """ARN of ``kind`` ("queue" or "dlq"), kept consistent with its URL.

        An explicit ARN wins. Otherwise, when the URL was given explicitly, the ARN is derived from that URL
        (GetQueueAttributes) rather than taken from the stack, whose output may name another queue.
        """
        if kind not in ("queue", "dlq"):
            raise ValueError(f"unknown queue kind {kind!r}")
        explicit = self.explicit(f"{kind}_arn")
        if explicit:
            return explicit
        url, url_source = self.lookup(f"{kind}_url")
        if url_source == SOURCE_STACK:
            from_stack = self.stack_outputs().get(SPECS_BY_KEY[f"{kind}_arn"].output)
            if from_stack:
                return from_stack
        sqs = sqs or self._client("sqs")
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # -- helpers -------------------------------------------------------------------------------------------------

    def _cfn(self) -> Any:
        if self._cloudformation is None:
            self._cloudformation = self._client("cloudformation")
        return self._cloudformation

    def _client(self, service: str) -> Any:
        if self._client_factory is not None:
            return self._client_factory(service)
        if self._session is not None:
            return self._session.client(service)
        import boto3

        return boto3.client(service)


def _spec(key: str) -> ResourceSpec:
    try:
        return SPECS_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown resource {key!r}; known: {', '.join(SPECS_BY_KEY)}") from None
