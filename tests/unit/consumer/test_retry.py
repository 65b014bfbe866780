"""The retry schedule: durations, the schedule's limits, the jittered delay per attempt and the schedule's bounds."""

from __future__ import annotations

import pytest

from webhook_gateway.consumer.retry import (
    DEFAULT_JITTER,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SCHEDULE,
    MAX_DELAY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    RetryPolicy,
    parse_duration,
    parse_schedule,
)

# random() returns a float in [0, 1): the largest one below 1.
ALMOST_ONE = 1 - 2**-53


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h30m15s", 5415),
        ("2m5s", 125),
        ("1h5s", 3605),
        ("600", 600),
        (" 2H ", 7200),
        ("0", 0),
    ],
)
def test_a_duration_is_hours_minutes_and_seconds_or_plain_seconds(text, seconds):
    # Given a duration as the template's RetrySchedule spells it / When it is parsed / Then it is whole seconds
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "  ", "1d", "1.5h", "-5", "m", "30m1h", "1h 30m", "5sec", "h1"])
def test_anything_else_is_refused_with_the_forms_it_could_take(text):
    # Given a duration in no accepted form / When it is parsed / Then the error quotes it and names the forms
    with pytest.raises(ValueError, match=r"is not a duration such as 90s, 15m, 2h or 1h30m") as raised:
        parse_duration(text)
    assert repr(text) in str(raised.value)


def test_a_schedule_is_comma_separated_durations_and_empty_items_are_ignored():
    # Given schedules with spaces and stray commas / When parsed / Then each step is in seconds, in order
    assert parse_schedule("1m,2m,1h30m") == (60, 120, 5400)
    assert parse_schedule(" 1m , ,2m, ") == (60, 120)
    assert parse_schedule("30") == (30,)


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_an_empty_schedule_is_refused(text):
    # Given a schedule with no step / When parsed / Then it is refused
    with pytest.raises(ValueError, match="^the retry schedule is empty$"):
        parse_schedule(text)


def test_a_step_may_be_exactly_12_hours_and_1_second():
    # Given the two extremes SQS allows for a visibility timeout / When parsed / Then both are kept
    assert parse_schedule("1s,12h") == (1, MAX_VISIBILITY_SECONDS)
    assert MAX_VISIBILITY_SECONDS == 12 * 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12h1s", "step 1 is 43201 s; each step must be between 1 s and 12 h"),
        ("1m,13h", "step 2 is 46800 s; each step must be between 1 s and 12 h"),
        ("1m,2m,0s", "step 3 is 0 s; each step must be between 1 s and 12 h"),
        ("0", "step 1 is 0 s; each step must be between 1 s and 12 h"),
    ],
)
def test_a_step_outside_1_second_to_12_hours_is_refused_by_its_position(text, message):
    # Given a step SQS could not carry (over 12 h) or no wait at all / When parsed / Then the step is named
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_schedule(text)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (dict(schedule=(60,), max_attempts=0), "max_attempts must be at least 1"),
        (dict(schedule=(60,), max_attempts=3, jitter=-0.01), r"jitter must be in \[0, 1\)"),
        (dict(schedule=(60,), max_attempts=3, jitter=1.0), r"jitter must be in \[0, 1\)"),
        (dict(schedule=(), max_attempts=3), "the retry schedule is empty"),
    ],
)
def test_a_policy_that_cannot_schedule_is_refused(policy, message):
    # Given / When a policy without attempts, with jitter outside [0, 1) or without steps is made / Then it fails
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**policy)


def test_the_limits_of_a_policy_are_accepted():
    # Given the smallest valid policy values / When made / Then accepted
    assert RetryPolicy((1,), 1, 0.0).max_attempts == 1
    assert RetryPolicy((1,), 1, 0.999).jitter == 0.999


def test_each_attempt_waits_its_own_step_and_the_last_step_repeats():
    # Given a three-step schedule without jitter
    policy = RetryPolicy((60, 120, 240), max_attempts=10, jitter=0.0)

    # When the delays after attempts 1..6 are asked for
    delays = [policy.delay_after(attempt, lambda: 0.5) for attempt in range(1, 7)]

    # Then attempt n waits step n, and past the schedule the last step repeats
    assert delays == [60, 120, 240, 240, 240, 240]
    assert [policy.step(attempt) for attempt in (0, 1, 2, 3, 4, 99)] == [60, 60, 120, 240, 240, 240]


def test_jitter_spreads_a_step_over_plus_or_minus_the_jitter():
    # Given the default jitter (20 %) on a 60 s step
    policy = RetryPolicy((60, 600), max_attempts=5, jitter=0.2)

    # When random() is at its bounds and in between
    # Then the wait is 48 s at 0, 72 s as it tends to 1, the step at 0.5, and linear in between
    assert policy.delay_after(1, lambda: 0.0) == 48
    assert policy.delay_after(1, lambda: ALMOST_ONE) == 72
    assert policy.delay_after(1, lambda: 0.5) == 60
    assert policy.delay_after(1, lambda: 0.25) == 54
    assert policy.delay_after(2, lambda: 0.0) == 480
    assert policy.delay_after(2, lambda: ALMOST_ONE) == 720
    assert policy.delay_after(2, lambda: 0.75) == 660


def test_a_jittered_delay_stays_within_1_second_and_what_sqs_accepts_after_the_handler_ran():
    # Given steps at the limits and a large jitter
    # When the jitter would take them past the limits / Then they are held at 1 s and at 12 h minus the time the
    # record may have spent since its receive (batching window and function timeout at their maximums: 20 min)
    assert MAX_DELAY_SECONDS == 12 * 3600 - 20 * 60
    assert RetryPolicy((1,), max_attempts=3, jitter=0.9).delay_after(1, lambda: 0.0) == 1
    twelve_hours = RetryPolicy((MAX_VISIBILITY_SECONDS,), max_attempts=3, jitter=0.5)
    assert twelve_hours.delay_after(1, lambda: ALMOST_ONE) == MAX_DELAY_SECONDS
    assert twelve_hours.delay_after(1, lambda: 0.5) == MAX_DELAY_SECONDS
    assert twelve_hours.delay_after(1, lambda: 0.0) == 21_600
    # A step just under the limit keeps its value without jitter
    assert RetryPolicy((MAX_DELAY_SECONDS,), max_attempts=3, jitter=0.0).delay_after(1, lambda: 0.5) == (
        MAX_DELAY_SECONDS
    )


def test_there_is_no_delay_after_the_last_allowed_attempt():
    # Given three attempts allowed
    policy = RetryPolicy((60,), max_attempts=3, jitter=0.0)

    # When the delay after each attempt is asked for / Then attempts 1 and 2 wait, the 3rd and later have none
    assert [policy.delay_after(attempt, lambda: 0.5) for attempt in (1, 2, 3, 4)] == [60, 60, None, None]
    assert RetryPolicy((60,), max_attempts=1).delay_after(1, lambda: 0.5) is None


def test_total_bounds_sum_the_waits_between_the_attempts_at_both_ends_of_the_jitter():
    # Given 4 attempts (3 waits: 100, 200, 200) with 10 % jitter
    policy = RetryPolicy((100, 200), max_attempts=4, jitter=0.1)

    # When the bounds are computed / Then they are the jittered sums of the three waits
    assert policy.total_bounds() == (90 + 180 + 180, 110 + 220 + 220)
    # and without jitter they are the plain sum; with one attempt there is no wait at all
    assert RetryPolicy((100, 200), max_attempts=4, jitter=0.0).total_bounds() == (500, 500)
    assert RetryPolicy((100,), max_attempts=1).total_bounds() == (0, 0)


def test_total_bounds_apply_the_same_limits_as_each_delay():
    # Given steps whose jitter would cross 1 s and 12 h
    # When bounded / Then each wait is clamped the way delay_after clamps it
    assert RetryPolicy((1,), max_attempts=3, jitter=0.9).total_bounds() == (2, 4)
    assert RetryPolicy((MAX_VISIBILITY_SECONDS,), max_attempts=3, jitter=0.5).total_bounds() == (
        2 * 21_600,
        2 * MAX_DELAY_SECONDS,
    )
    assert RetryPolicy((MAX_VISIBILITY_SECONDS,), max_attempts=3, jitter=0.0).total_bounds() == (
        2 * MAX_DELAY_SECONDS,
        2 * MAX_DELAY_SECONDS,
    )


def test_the_default_schedule_covers_24h03m_between_19h14m_and_28h52m_with_jitter():
    """Given the default schedule (1m .. 8h, 8h) over 12 attempts with 20 % jitter
    When its bounds are computed
    Then the 11 waits add up to 86,580 s (24 h 03 m) without jitter, and to 69,264 s (19 h 14 m) .. 103,896 s
    (28 h 52 m) at the jitter's ends: about a day, as retry.py's docstring says."""
    policy = RetryPolicy(parse_schedule(DEFAULT_SCHEDULE), DEFAULT_MAX_ATTEMPTS, DEFAULT_JITTER)

    assert policy.schedule == (60, 120, 240, 480, 960, 1920, 3600, 7200, 14400, 28800, 28800)
    assert (DEFAULT_MAX_ATTEMPTS, DEFAULT_JITTER) == (12, 0.2)
    assert sum(policy.step(attempt) for attempt in range(1, DEFAULT_MAX_ATTEMPTS)) == 86_580
    assert policy.total_bounds() == (69_264, 103_896)
    low, high = policy.total_bounds()
    assert 19 * 3600 < low < 20 * 3600 and 28 * 3600 < high < 29 * 3600
