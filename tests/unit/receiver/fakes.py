"""In-memory stand-ins for the receiver's AWS side: fakes with behaviour, not mocks with expectations."""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook_gateway.envelope import Envelope
from webhook_gateway.verifiers.base import SecretCandidate


@dataclass
class InMemorySender:
    sent: list[Envelope] = field(default_factory=list)

    def send(self, envelope: Envelope, raw_body: bytes) -> Envelope:
        self.sent.append(envelope)
        return envelope


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
