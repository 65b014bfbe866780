"""Provider secrets with rotation: the AWSCURRENT value, then (only when needed) the AWSPREVIOUS one.

Values are cached with Powertools Parameters (``max_age``), so a warm receiver calls Secrets Manager only when the
cache expires. The previous value is fetched lazily, only for a signature the current value did not match, and its
absence (a secret never rotated) is cached too, so forged traffic cannot turn into Secrets Manager calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate

CURRENT, PREVIOUS = "current", "previous"
_STAGES = {CURRENT: "AWSCURRENT", PREVIOUS: "AWSPREVIOUS"}


class RotatingSecret:
    def __init__(
        self,
        secret_id: str,
        *,
        max_age_seconds: int = 300,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._client = client
        # Powertools caches by secret name only, so each staging label gets its own provider (and cache).
        self._providers: dict[str, SecretsProvider] = {}
        self._previous_missing_until = float("-inf")

    def _provider(self, version: str) -> SecretsProvider:
        provider = self._providers.get(version)
        if provider is None:
            if self._client is None:
                self._client = boto3.client("secretsmanager")
            provider = self._providers[version] = SecretsProvider(boto3_client=self._client)
        return provider

    def _fetch(self, version: str) -> str:
        value = self._provider(version).get(
            self.secret_id, max_age=self.max_age_seconds, VersionStage=_STAGES[version]
        )
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str) or not value:
            raise GetParameterError(f"{version} secret value is empty")
        return value

    def candidates(self) -> Iterator[SecretCandidate]:
        """Yield the current value, then the previous one if it exists. Raises ``SECRET_UNAVAILABLE`` when the
        current value cannot be read: failing closed, never verifying against nothing."""
        try:
            current = self._fetch(CURRENT)
        except GetParameterError as error:
            raise Rejected(Reason.SECRET_UNAVAILABLE, f"cannot read AWSCURRENT ({_cause(error)})") from error
        yield SecretCandidate(CURRENT, current)

        if self._clock() < self._previous_missing_until:
            return
        try:
            previous = self._fetch(PREVIOUS)
        except GetParameterError:
            # Usually ResourceNotFound: the secret was never rotated. Cached like a value, for max_age.
            self._previous_missing_until = self._clock() + self.max_age_seconds
            return
        yield SecretCandidate(PREVIOUS, previous)


def _cause(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code or type(cause or error).__name__
