"""In-memory stand-ins for the receiver's AWS side: fakes with behaviour, not mocks with expectations."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from webhook_gateway.envelope import Envelope
from webhook_gateway.verifiers.base import SecretCandidate


@dataclass
class InMemorySender:
    sent: list[Envelope] = field(default_factory=list)

    def send(self, envelope: Envelope, raw_body: bytes) -> Envelope:
        self.sent.append(envelope)
        return envelope

    def send_batch(self, items) -> list[Envelope]:
        self.sent.extend(envelope for envelope, _ in items)
        return [envelope for envelope, _ in items]


@dataclass
class StaticSecret:
    current: str
    previous: str | None = None

    def candidates(self):
        yield SecretCandidate("current", self.current)
        if self.previous is not None:
            yield SecretCandidate("previous", self.previous)


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_to(self, moment: float) -> None:
        assert moment >= self.now, "time only moves forward"
        self.now = moment


def _client_error(code: str, operation: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeSecretsManager:
    """One secret's versions and staging labels, as Secrets Manager keeps them, with every read recorded.

    ``put_secret_value`` behaves like the real API: the new value becomes AWSCURRENT and the version that was
    current becomes AWSPREVIOUS. A label without a version answers ResourceNotFoundException, as for a secret
    never rotated.
    """

    def __init__(self, value: str) -> None:
        self.stages: dict[str, str] = {"AWSCURRENT": value}
        self.calls: list[str] = []
        self.failing: set[str] = set()  # stages whose reads fail (throttling, an outage)

    def put_secret_value(self, value: str) -> None:
        self.stages = {"AWSCURRENT": value, "AWSPREVIOUS": self.stages["AWSCURRENT"]}

    def remove_previous(self) -> None:
        self.stages.pop("AWSPREVIOUS", None)

    def get_secret_value(self, *, SecretId: str, VersionStage: str) -> dict:  # noqa: N803 (boto3's names)
        self.calls.append(VersionStage)
        if VersionStage in self.failing:
            raise _client_error("ThrottlingException", "GetSecretValue")
        if VersionStage not in self.stages:
            raise _client_error("ResourceNotFoundException", "GetSecretValue")
        return {"Name": SecretId, "SecretString": self.stages[VersionStage], "VersionStages": [VersionStage]}


# SQS's documented character set for message bodies and String attribute values (SendMessage API reference):
# #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF. Written out here on purpose, independent of
# the production code it checks.
def _sqs_allows(code_point: int) -> bool:
    return (
        code_point in (0x9, 0xA, 0xD)
        or 0x20 <= code_point <= 0xD7FF
        or 0xE000 <= code_point <= 0xFFFD
        or 0x10000 <= code_point <= 0x10FFFF
    )


SQS_MAX_MESSAGE_BYTES = 1_048_576
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


class StrictSqs:
    """An SQS client that refuses what real SQS refuses, which moto does not check.

    * every character of the body and of each String attribute value must be in SQS's set (InvalidMessageContents);
    * the body, every attribute name, type and value must be non-empty; at most 10 attributes, with valid names;
    * the body plus every attribute's name, type and value, in UTF-8 bytes, must be at most 1 MiB (1,048,576 bytes).

    Accepted messages are kept as sent (``messages``), for the consumer side of a test to read back. With
    ``forward_to`` (a boto3 SQS client, e.g. moto's) an accepted message is also sent there, and every other
    attribute (``meta``, other calls) is that client's: a strict front for an integration test.
    """

    def __init__(self, forward_to: object | None = None) -> None:
        self.messages: list[dict] = []
        self.refused: list[str] = []
        self._forward_to = forward_to

    def __getattr__(self, name: str):
        if self._forward_to is None:
            raise AttributeError(name)
        return getattr(self._forward_to, name)

    def _refuse(self, code: str, detail: str):
        self.refused.append(f"{code}: {detail}")
        return _client_error(code, "SendMessage")

    def send_message(  # noqa: N803 (boto3's names)
        self, *, QueueUrl: str, MessageBody: str, MessageAttributes: dict | None = None
    ) -> dict:
        attributes = MessageAttributes or {}
        if not MessageBody:
            raise self._refuse("InvalidParameterValue", "empty body")
        self._check_text("body", MessageBody)
        if len(attributes) > 10:
            raise self._refuse("InvalidParameterValue", f"{len(attributes)} attributes")
        size = len(MessageBody.encode("utf-8"))
        for name, attribute in attributes.items():
            if not _ATTRIBUTE_NAME.fullmatch(name) or name.lower().startswith(("aws.", "amazon.")):
                raise self._refuse("InvalidParameterValue", f"attribute name {name!r}")
            data_type, value = attribute.get("DataType", ""), attribute.get("StringValue")
            if not data_type.startswith(("String", "Number")) or not value:
                raise self._refuse("InvalidParameterValue", f"attribute {name} must have a non-empty String value")
            self._check_text(f"attribute {name}", value)
            size += len(name.encode("utf-8")) + len(data_type.encode("utf-8")) + len(value.encode("utf-8"))
        if size > SQS_MAX_MESSAGE_BYTES:
            raise self._refuse("InvalidParameterValue", f"message is {size} bytes, over {SQS_MAX_MESSAGE_BYTES}")
        if self._forward_to is not None:
            response = self._forward_to.send_message(
                QueueUrl=QueueUrl, MessageBody=MessageBody, MessageAttributes=attributes
            )
        else:
            response = {"MessageId": f"m-{len(self.messages) + 1}"}
        self.messages.append({"QueueUrl": QueueUrl, "Body": MessageBody, "MessageAttributes": attributes, "size": size})
        return response

    def _check_text(self, where: str, text: str) -> None:
        for index, character in enumerate(text):
            if not _sqs_allows(ord(character)):
                raise self._refuse("InvalidMessageContents", f"{where} holds U+{ord(character):04X} at {index}")


class InMemoryS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: object) -> dict:  # noqa: N803
        self.objects[(Bucket, Key)] = bytes(Body)
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}
