"""Rotation without lost deliveries: which signatures a warm receiver accepts around a rotation, and what it costs.

Pure: a fake clock and a fake Secrets Manager (``fakes.FakeSecretsManager``), no AWS, no sleeping. The documented
window (README "Rotating a secret", docs/operations.md): a delivery signed with either value of a rotated secret can
get 401 only when it arrives less than ``refresh_interval_seconds`` (10 s) after the rotation.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.make_events import build_event
from webhook_gateway.receiver import Receiver
from webhook_gateway.secrets import CURRENT, PREVIOUS, RotatingSecret
from webhook_gateway.settings import ReceiverSettings
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import Reason, Rejected, first_matching_secret

from .fakes import FakeClock, FakeSecretsManager, InMemorySender

OLD, NEW, NEWER, FORGER = "old-secret-value", "new-secret-value", "newer-secret-value", "forger-secret"
INTERVAL = 10.0
MAX_AGE = 300


def wired(*, max_age: int = MAX_AGE, value: str = OLD):
    clock, secrets_manager = FakeClock(), FakeSecretsManager(value)
    secret = RotatingSecret("s", max_age_seconds=max_age, refresh_interval_seconds=INTERVAL,
                            client=secrets_manager, clock=clock)
    return clock, secrets_manager, secret


def verified_with(secret: RotatingSecret, signing_value: str) -> str | None:
    """The version a delivery signed with ``signing_value`` verifies as, or None (401); lazy like every verifier."""
    try:
        return first_matching_secret(secret.candidates(), lambda candidate: candidate.value == signing_value).version
    except Rejected as rejection:
        assert rejection.reason is Reason.SIGNATURE_MISMATCH
        return None


def github_receiver(secret: RotatingSecret, clock: FakeClock) -> tuple[Receiver, InMemorySender]:
    sender = InMemorySender()
    settings = ReceiverSettings(provider="github", queue_url="q", secret_id="s", overflow_bucket="b")
    return Receiver(load_provider("github"), settings, secret, sender, clock=clock), sender


def deliver(receiver: Receiver, signing_value: str) -> int:
    return receiver.handle(build_event("github", "push", secret=signing_value))["statusCode"]


def test_a_forgery_before_the_first_rotation_does_not_hide_the_old_secret_after_it():
    # Given a warm GitHub receiver whose secret was never rotated, and a forgery at t=0 (absence of AWSPREVIOUS cached)
    clock, secrets_manager, secret = wired()
    receiver, sender = github_receiver(secret, clock)
    assert deliver(receiver, OLD) == 202
    assert deliver(receiver, FORGER) == 401
    # When the secret is rotated at t=1, a new-secret delivery makes the receiver re-read it at t=12
    clock.advance_to(1)
    secrets_manager.put_secret_value(NEW)
    clock.advance_to(12)
    assert deliver(receiver, NEW) == 202
    # Then deliveries GitHub still signs with the old value are accepted right after, as the previous secret
    for moment in (13, 14, 30, 200):
        clock.advance_to(moment)
        assert deliver(receiver, OLD) == 202, moment
    assert sender.sent[-1].secret_version == PREVIOUS
    assert [json.loads(e.model_dump_json())["secret_version"] for e in sender.sent[1:3]] == [CURRENT, PREVIOUS]


def test_the_exact_window_a_rotation_can_reject_new_secret_deliveries_is_under_the_interval():
    # Given a receiver that re-read the secret at t=0 because of a forgery
    clock, secrets_manager, secret = wired()
    assert verified_with(secret, FORGER) is None
    # When the secret is rotated at t=3 and the provider signs with the new value at once
    clock.advance_to(3)
    secrets_manager.put_secret_value(NEW)
    # Then until the next allowed re-read (t=10, i.e. 7 s after the rotation) the new value is not known yet
    clock.advance_to(9.999)
    assert verified_with(secret, NEW) is None
    # And from t=10 on it is, without waiting for SecretMaxAgeSeconds
    clock.advance_to(10)
    assert verified_with(secret, NEW) == CURRENT
    # And the old value verified throughout (cached as current before the re-read, AWSPREVIOUS after it)
    assert verified_with(secret, OLD) == PREVIOUS


def test_old_secret_deliveries_keep_verifying_through_the_rotation_instant():
    # Given a warm receiver and a rotation at t=50
    clock, secrets_manager, secret = wired()
    assert verified_with(secret, OLD) == CURRENT
    clock.advance_to(50)
    secrets_manager.put_secret_value(NEW)
    # When the provider keeps signing with the old value for a while, new-secret deliveries mixed in
    outcomes = {}
    for moment, value in [(50.5, OLD), (51, NEW), (51.5, OLD), (52, NEW), (70, OLD), (400, OLD), (401, NEW)]:
        clock.advance_to(moment)
        outcomes[moment] = verified_with(secret, value)
    # Then not one of them is rejected
    assert None not in outcomes.values(), outcomes


def test_a_current_value_refreshed_by_expiry_does_not_hide_the_previous_one():
    # Given a forgery at t=250 cached "no AWSPREVIOUS" until t=550, then a rotation at t=280
    clock, secrets_manager, secret = wired()
    assert verified_with(secret, OLD) == CURRENT
    clock.advance_to(250)
    assert verified_with(secret, FORGER) is None
    clock.advance_to(280)
    secrets_manager.put_secret_value(NEW)
    # When the cached AWSCURRENT expires (t=300) and is read again as the new value, so a re-read finds it unchanged
    clock.advance_to(301)
    assert verified_with(secret, NEW) == CURRENT
    # Then an old-secret delivery is still accepted: the re-read refreshes AWSPREVIOUS, AWSCURRENT unchanged or not
    clock.advance_to(302)
    assert verified_with(secret, OLD) == PREVIOUS


def test_a_current_value_that_changed_on_expiry_drops_the_cached_previous_at_once():
    # Given (max_age 2 s) a re-read at t=0, then "no AWSPREVIOUS" cached at t=3, then a rotation at t=3.5
    clock, secrets_manager, secret = wired(max_age=2)
    assert verified_with(secret, FORGER) is None
    clock.advance_to(2)
    assert verified_with(secret, OLD) == CURRENT
    clock.advance_to(3)
    assert verified_with(secret, FORGER) is None
    clock.advance_to(3.5)
    secrets_manager.put_secret_value(NEW)
    # When AWSCURRENT expires and is read as the new value at t=4, before the next re-read is allowed (t=10)
    clock.advance_to(4)
    # Then the old value, now AWSPREVIOUS, still verifies: the cached absence predates the rotation
    assert verified_with(secret, OLD) == PREVIOUS
    assert verified_with(secret, NEW) == CURRENT


def test_a_failed_previous_read_during_a_rotation_is_retried_at_the_next_interval():
    # Given a rotation, and AWSPREVIOUS unreadable (throttled) when the receiver first re-reads the secret
    clock, secrets_manager, secret = wired()
    assert verified_with(secret, FORGER) is None
    clock.advance_to(20)
    secrets_manager.put_secret_value(NEW)
    secrets_manager.failing.add("AWSPREVIOUS")
    clock.advance_to(40)
    assert verified_with(secret, NEW) == CURRENT
    assert verified_with(secret, OLD) is None
    # When Secrets Manager answers again
    secrets_manager.failing.clear()
    # Then the old value verifies again at the next re-read, not after SecretMaxAgeSeconds
    clock.advance_to(49.999)
    assert verified_with(secret, OLD) is None
    clock.advance_to(50)
    assert verified_with(secret, OLD) == PREVIOUS


def test_a_removed_previous_label_stops_the_old_value_within_max_age():
    # Given a rotated secret whose previous value is in use, then its AWSPREVIOUS label removed at t=100
    clock, secrets_manager, secret = wired()
    secrets_manager.put_secret_value(NEW)
    assert verified_with(secret, OLD) == PREVIOUS
    clock.advance_to(100)
    secrets_manager.remove_previous()
    # Then the cached old value is accepted at most until it expires (SecretMaxAgeSeconds), never after
    clock.advance_to(299)
    assert verified_with(secret, OLD) == PREVIOUS
    clock.advance_to(300)
    assert verified_with(secret, OLD) is None
    assert verified_with(secret, NEW) == CURRENT


def test_forged_traffic_costs_at_most_one_read_of_each_label_per_interval():
    # Given a warm receiver (secret never rotated) that verified one genuine delivery
    clock, secrets_manager, secret = wired()
    assert verified_with(secret, OLD) == CURRENT
    assert secrets_manager.calls == ["AWSCURRENT"]
    secrets_manager.calls.clear()
    # When 100 forgeries a second arrive for 60 s
    per_interval: dict[int, list[str]] = {}
    for tick in range(6000):
        clock.advance_to(tick / 100)
        before = len(secrets_manager.calls)
        assert verified_with(secret, FORGER) is None
        per_interval.setdefault(int(clock.now // INTERVAL), []).extend(secrets_manager.calls[before:])
    # Then each 10 s interval cost one re-read of AWSCURRENT and one of AWSPREVIOUS, the first even just one lookup
    assert per_interval[0] == ["AWSPREVIOUS", "AWSCURRENT"]
    assert all(sorted(calls) == ["AWSCURRENT", "AWSPREVIOUS"] for calls in per_interval.values()), per_interval
    assert len(secrets_manager.calls) == 12
    # And genuine deliveries in between cost nothing
    secrets_manager.calls.clear()
    assert [verified_with(secret, OLD) for _ in range(50)] == [CURRENT] * 50
    assert secrets_manager.calls == []


def test_unreadable_current_secret_fails_closed():
    clock, secrets_manager, secret = wired()
    secrets_manager.failing.add("AWSCURRENT")
    with pytest.raises(Rejected) as rejected:
        list(secret.candidates())
    assert rejected.value.reason is Reason.SECRET_UNAVAILABLE
    assert "ThrottlingException" in rejected.value.detail


# A random schedule of rotations, deliveries signed with any value, forgeries and pauses, against the invariant.
steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=40, allow_nan=False),  # seconds since the previous step
        st.sampled_from(["rotate", "sign_current", "sign_previous", "forge"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(schedule=steps, max_age=st.sampled_from([0, 1, 2, 5, 30, 300]))
def test_a_rotation_never_rejects_a_correctly_signed_delivery_longer_than_the_interval(schedule, max_age):
    # Given any schedule of rotations, deliveries signed with what Secrets Manager holds, forgeries and pauses
    clock, secrets_manager, secret = wired(max_age=max_age, value="v0")
    put_at = {"v0": float("-inf")}
    for pause, action in schedule:
        clock.advance_to(clock.now + pause)
        if action == "rotate":
            value = f"v{len(put_at)}"
            secrets_manager.put_secret_value(value)
            put_at[value] = clock.now
            continue
        stage = {"sign_current": "AWSCURRENT", "sign_previous": "AWSPREVIOUS"}.get(action)
        value = secrets_manager.stages.get(stage, FORGER) if stage else FORGER
        # When it is delivered
        outcome = verified_with(secret, value)
        # Then a value Secrets Manager holds is refused only within the interval after it was put
        if value == FORGER:
            assert outcome is None
        elif outcome is None:
            assert clock.now - put_at[value] < INTERVAL, (value, clock.now, put_at)
