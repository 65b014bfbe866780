"""When a failed delivery is tried again: the retry schedule (exponential backoff with jitter) and its limits.

Only a failing *handler* backs off. Everything else that makes a record fail (a throttled ledger write, a claim held
by another consumer, an unreadable body, an archive write) keeps the queue's short retry, its visibility timeout:
those clear in seconds, and waiting hours for them would only delay the delivery.

A handler failure on attempt ``n`` (attempts since the delivery was received or last replayed) hides the message for
``schedule[n - 1]`` seconds (the last step repeats), each multiplied by a random factor in ``[1 - jitter,
1 + jitter]`` so that deliveries that failed together (a downstream outage) do not all come back in the same second.
SQS's ``ChangeMessageVisibility`` carries the wait: the message stays in the queue, invisible, and the consumer
holds nothing meanwhile. A step is at most 12 hours, and a wait at most :data:`MAX_DELAY_SECONDS`: SQS refuses a
visibility that ends more than 12 hours after the receive that returned the message, and the consumer changes it only
after the handler ran (a 12 h step waits 11 h 40 min). After ``max_attempts``
failed attempts the consumer dead-letters the delivery itself, so the queue's ``maxReceiveCount`` only has to be
larger than ``max_attempts`` (short retries count receives too) and its retention longer than the whole schedule;
a contract test ties them together in template.yaml.

The default, ``1m,2m,4m,8m,16m,32m,1h,2h,4h,8h,8h`` with 12 attempts, doubles from a minute and covers about 24
hours, like the providers' own retry schedules (Stripe: up to 3 days; Shopify: 48 hours).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# SQS: "the maximum is 12 hours" for a message's visibility timeout, counted from the receive that returned it.
MAX_VISIBILITY_SECONDS = 43_200
# The most time between the receive and the visibility change: the event source's longest batching window (300 s)
# plus Lambda's longest timeout (900 s). A wait above MAX_VISIBILITY_SECONDS minus this could be refused by SQS.
RECEIVE_TO_RETRY_MAX_SECONDS = 1_200
MAX_DELAY_SECONDS = MAX_VISIBILITY_SECONDS - RECEIVE_TO_RETRY_MAX_SECONDS
DEFAULT_SCHEDULE = "1m,2m,4m,8m,16m,32m,1h,2h,4h,8h,8h"
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_JITTER = 0.2

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_STEP = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``1h30m``, or plain seconds (``600``), as whole seconds."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    match = _STEP.fullmatch(value)
    if not value or match is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_schedule(text: str) -> tuple[int, ...]:
    """Comma-separated durations (see :func:`parse_duration`), each between 1 s and 12 h."""
    steps = tuple(parse_duration(item) for item in text.split(",") if item.strip())
    if not steps:
        raise ValueError("the retry schedule is empty")
    for position, step in enumerate(steps, start=1):
        if not 1 <= step <= MAX_VISIBILITY_SECONDS:
            raise ValueError(f"step {position} is {step} s; each step must be between 1 s and 12 h")
    return steps


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[int, ...]
    max_attempts: int
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not self.schedule:
            raise ValueError("the retry schedule is empty")

    def step(self, attempt: int) -> int:
        """The schedule's wait after failed attempt ``attempt`` (1-based), before jitter; the last step repeats."""
        return self.schedule[min(max(attempt, 1), len(self.schedule)) - 1]

    def delay_after(self, attempt: int, random: Callable[[], float]) -> int | None:
        """Seconds to wait after failed attempt ``attempt``, jittered; None when it was the last one allowed.

        ``random`` returns a float in [0, 1) (``random.random``; tests pass a fixed one).
        """
        if attempt >= self.max_attempts:
            return None
        factor = 1 - self.jitter + 2 * self.jitter * random()
        return max(1, min(MAX_DELAY_SECONDS, round(self.step(attempt) * factor)))

    def total_bounds(self) -> tuple[int, int]:
        """Shortest and longest time, in seconds, from the first failure to the last attempt (waits only)."""
        steps = [self.step(attempt) for attempt in range(1, self.max_attempts)]
        low = sum(max(1, min(MAX_DELAY_SECONDS, round(step * (1 - self.jitter)))) for step in steps)
        high = sum(min(MAX_DELAY_SECONDS, round(step * (1 + self.jitter))) for step in steps)
        return low, high
