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
