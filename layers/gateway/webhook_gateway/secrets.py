"""Provider secrets with rotation: the AWSCURRENT value, then (only when needed) the AWSPREVIOUS one.

Both values are cached for ``max_age_seconds``, so a warm receiver calls Secrets Manager only when a cache entry
expires. The previous value is read lazily, only for a signature the current value did not match, and its absence (a
secret never rotated) is cached too, so forged traffic cannot turn into Secrets Manager calls.

A rotation must not lose deliveries while values are cached:

* when no cached value matches, both staging labels are read again (at most once per ``refresh_interval_seconds``)
  and whatever is new is tried. AWSPREVIOUS is re-read even when AWSCURRENT looks unchanged: a cached "no previous
  value" (or a failed read) must not hide the old secret the provider still signs with for ``max_age``;
* whenever AWSCURRENT is read as a new value (a re-read or a max_age expiry), the cached previous entry is dropped:
  it predates the rotation, and the value just demoted to AWSPREVIOUS is the one the provider may still sign with.

The resulting window: a value Secrets Manager holds (as AWSCURRENT or AWSPREVIOUS) is refused only by an environment
that re-read the secret before that value was put, and only less than ``refresh_interval_seconds`` after it was put.
So after a rotation the new value may be refused for less than ``refresh_interval_seconds``, and the old one (now
AWSPREVIOUS) is not refused at all. The interval also bounds what a flood of forgeries can cost: one read of each
label per interval.

The cache runs on the injected clock (not Powertools' wall-clock cache), so that window is tested exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import boto3

from webhook_gateway.verifiers.base import Reason, Rejected, SecretCandidate

CURRENT: Final = "current"
PREVIOUS: Final = "previous"
_STAGES = {CURRENT: "AWSCURRENT", PREVIOUS: "AWSPREVIOUS"}


class SecretReadError(Exception):
    """A staging label could not be read or holds no usable value. The message names the cause, never the value."""


@dataclass(frozen=True)
class _Entry:
    value: str | None  # None: the label does not exist or could not be read
    expires_at: float


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
        self._cache: dict[str, _Entry] = {}
        self._next_refresh_at = float("-inf")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("secretsmanager")
        return self._client

    def _read(self, version: str) -> str:
        try:
            response = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=_STAGES[version])
        except Exception as error:  # any failure is "not readable"; callers decide what that means
            raise SecretReadError(_error_code(error)) from error
        value = response.get("SecretString")
        if value is None and response.get("SecretBinary") is not None:
            try:
                value = bytes(response["SecretBinary"]).decode("utf-8")
            except UnicodeDecodeError:
                raise SecretReadError("SecretBinary is not UTF-8") from None
        if not isinstance(value, str) or not value:
            raise SecretReadError(f"{version} secret value is empty")
        return value

    def _get(self, version: str, *, force: bool = False) -> tuple[str | None, bool]:
        """The value of ``version`` (None when absent) and whether Secrets Manager was asked for it just now."""
        now = self._clock()
        entry = self._cache.get(version)
        if not force and entry is not None and now < entry.expires_at:
            return entry.value, False
        try:
            value: str | None = self._read(version)
        except SecretReadError:
            if version == CURRENT:
                # Never cached: a current value that cannot be read fails closed on every request until it can.
                raise
            # Usually ResourceNotFound: the secret was never rotated. Cached like a value; a mismatch re-checks it.
            value = None
        if version == CURRENT and entry is not None and entry.value != value:
            # A new AWSCURRENT means a rotation: the cached AWSPREVIOUS (or its absence) predates it, and the value
            # just demoted to AWSPREVIOUS is the one the provider may still sign with. Read it again when needed.
            self._cache.pop(PREVIOUS, None)
        self._cache[version] = _Entry(value, now + self.max_age_seconds)
        return value, True

    def candidates(self) -> Iterator[SecretCandidate]:
        """Yield the current value, then the previous one if it exists, then freshly read values not tried yet.

        Raises ``SECRET_UNAVAILABLE`` when the current value cannot be read: failing closed, never verifying against
        nothing. Consumers stop iterating at the first match, so the later (costlier) steps run only on a mismatch.
        """
        try:
            current, _ = self._get(CURRENT)
        except SecretReadError as error:
            raise Rejected(Reason.SECRET_UNAVAILABLE, f"cannot read AWSCURRENT ({error})") from error
        assert current is not None
        tried = {current}
        yield SecretCandidate(CURRENT, current)

        previous, previous_just_read = self._get(PREVIOUS)
        if previous is not None and previous not in tried:
            tried.add(previous)
            yield SecretCandidate(PREVIOUS, previous)

        if self._clock() < self._next_refresh_at:
            return
        self._next_refresh_at = self._clock() + self.refresh_interval_seconds
        try:
            fresh_current, _ = self._get(CURRENT, force=True)
        except SecretReadError:
            fresh_current = None  # keep the cached value; the previous label may still hold the signing secret
        # AWSPREVIOUS read a moment ago in this very call is as fresh as a re-read (unless the current value changed
        # and dropped it): no second call for it.
        fresh_previous, _ = self._get(PREVIOUS, force=not previous_just_read)
        if fresh_current is not None and fresh_current not in tried:
            tried.add(fresh_current)
            yield SecretCandidate(CURRENT, fresh_current)
        if fresh_previous is not None and fresh_previous not in tried:
            yield SecretCandidate(PREVIOUS, fresh_previous)


def _error_code(error: Exception) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code or type(error).__name__
