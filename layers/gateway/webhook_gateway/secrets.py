"""Provider secrets with rotation: the AWSCURRENT value, then (only when needed) the AWSPREVIOUS one.

Values are cached with Powertools Parameters (``max_age``), so a warm receiver calls Secrets Manager only when the
cache expires. The previous value is fetched lazily, only for a signature the current value did not match, and its
absence (a secret never rotated) is cached too, so forged traffic cannot turn into Secrets Manager calls.

A rotation must not lose deliveries while values are cached: when neither cached value matches, the secret is
read again (at most once per ``refresh_interval_seconds``), so a provider that switched to a value put a moment ago
is accepted at once instead of after ``max_age``. The interval bounds what a flood of forgeries can cost.
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
        refresh_interval_seconds: float = 10.0,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds
        self.refresh_interval_seconds = refresh_interval_seconds
        self._clock = clock
        self._client = client
        # Powertools caches by secret name only, so each staging label gets its own provider (and cache).
        self._providers: dict[str, SecretsProvider] = {}
        self._previous_missing_until = float("-inf")
        self._next_refresh_at = float("-inf")

    def _provider(self, version: str) -> SecretsProvider:
        provider = self._providers.get(version)
        if provider is None:
            if self._client is None:
                self._client = boto3.client("secretsmanager")
            provider = self._providers[version] = SecretsProvider(boto3_client=self._client)
        return provider

    def _fetch(self, version: str, *, force: bool = False) -> str:
        value = self._provider(version).get(
            self.secret_id, max_age=self.max_age_seconds, force_fetch=force, VersionStage=_STAGES[version]
        )
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str) or not value:
            raise GetParameterError(f"{version} secret value is empty")
        return value

    def _previous(self, *, force: bool = False) -> str | None:
        if not force and self._clock() < self._previous_missing_until:
            return None
        try:
            return self._fetch(PREVIOUS, force=force)
        except GetParameterError:
            # Usually ResourceNotFound: the secret was never rotated. Cached like a value, for max_age.
            self._previous_missing_until = self._clock() + self.max_age_seconds
            return None

    def candidates(self) -> Iterator[SecretCandidate]:
        """Yield the current value, then the previous one if it exists, then freshly read values if they changed.

        Raises ``SECRET_UNAVAILABLE`` when the current value cannot be read: failing closed, never verifying against
        nothing. Consumers stop iterating at the first match, so the later (costlier) steps run only on a mismatch.
        """
        try:
            current = self._fetch(CURRENT)
        except GetParameterError as error:
            raise Rejected(Reason.SECRET_UNAVAILABLE, f"cannot read AWSCURRENT ({_cause(error)})") from error
        yield SecretCandidate(CURRENT, current)

        previous = self._previous()
        if previous is not None:
            yield SecretCandidate(PREVIOUS, previous)

        if self._clock() < self._next_refresh_at:
            return
        self._next_refresh_at = self._clock() + self.refresh_interval_seconds
        try:
            fresh_current = self._fetch(CURRENT, force=True)
        except GetParameterError:
            return
        if fresh_current != current:
            # Rotated since we cached it: the old current is now AWSPREVIOUS, so refresh that cache as well.
            self._previous(force=True)
            yield SecretCandidate(CURRENT, fresh_current)


def _cause(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code or type(cause or error).__name__
