"""Daily local-time schedules to UTC periods across the clock changes (SPEC §2 zones)."""

from __future__ import annotations

import pandas as pd
import pytest

from trailmon.errors import InputError, TimezoneError
from trailmon.match.schedule import daily_periods, parse_hhmm

LONDON = "Europe/London"


def hours(periods):
    return [(b - a) / pd.Timedelta(hours=1) for a, b in periods]


@pytest.mark.parametrize(
    ("night_of", "utc_start", "utc_end", "length_h"),
    [
        ("2026-01-10", "2026-01-10T19:00Z", "2026-01-11T07:00Z", 12.0),  # winter: GMT both ends
        ("2026-03-28", "2026-03-28T19:00Z", "2026-03-29T06:00Z", 11.0),  # clocks go forward in the night
        ("2026-07-11", "2026-07-11T18:00Z", "2026-07-12T06:00Z", 12.0),  # summer: BST both ends
        ("2026-10-24", "2026-10-24T18:00Z", "2026-10-25T07:00Z", 13.0),  # clocks go back in the night
    ],
)
def test_curfew_night_lasts_as_the_clock_says(night_of, utc_start, utc_end, length_h):
    day = pd.Timestamp(night_of, tz="UTC")
    got = daily_periods(day + pd.Timedelta(hours=12), day + pd.Timedelta(hours=36), "19:00", "07:00", LONDON)
    assert got == [(pd.Timestamp(utc_start), pd.Timestamp(utc_end))]
    assert hours(got) == [length_h]


def test_a_week_of_curfews_is_clipped_to_the_active_range():
    got = daily_periods("2026-03-25T20:00Z", "2026-04-01T05:00Z", "19:00", "07:00", LONDON)
    assert got[0] == (pd.Timestamp("2026-03-25T20:00Z"), pd.Timestamp("2026-03-26T07:00Z"))  # clipped start
    assert got[-1] == (pd.Timestamp("2026-03-31T18:00Z"), pd.Timestamp("2026-04-01T05:00Z"))  # clipped end
    assert hours(got) == [11.0, 12.0, 12.0, 11.0, 12.0, 12.0, 11.0]
    assert all(b < c for (_, b), (c, _) in zip(got, got[1:], strict=False))


def test_same_day_schedule_and_whole_day_schedule():
    got = daily_periods("2026-07-13T00:00Z", "2026-07-15T00:00Z", "09:00", "17:00", LONDON)
    assert got == [(pd.Timestamp("2026-07-13T08:00Z"), pd.Timestamp("2026-07-13T16:00Z")),
                   (pd.Timestamp("2026-07-14T08:00Z"), pd.Timestamp("2026-07-14T16:00Z"))]
    # daily_end == daily_start: ends the next day, 24 h periods that touch
    whole = daily_periods("2026-01-12T00:00Z", "2026-01-14T00:00Z", "12:00", "12:00", LONDON)
    assert hours(whole) == [12.0, 24.0, 12.0]


def test_no_schedule_is_the_whole_active_range():
    got = daily_periods("2026-07-13T00:00+01:00", "2026-07-15T00:00Z", None, None, LONDON)
    assert got == [(pd.Timestamp("2026-07-12T23:00Z"), pd.Timestamp("2026-07-15T00:00Z"))]
    assert daily_periods("2026-07-13T00:00Z", "2026-07-13T00:00Z", None, None, LONDON) == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 01:30 does not exist on 29 March: it moves forward by the gap (1 h), to 02:30 BST = 01:30 UTC
        ("01:30", "03:00", ("2026-03-29T01:30Z", "2026-03-29T02:00Z")),
        # 01:15-01:45 lies wholly in the gap: both ends move forward by 1 h, to 02:15-02:45 BST
        ("01:15", "01:45", ("2026-03-29T01:15Z", "2026-03-29T01:45Z")),
    ],
)
def test_nonexistent_local_times_move_forward(start, end, expected):
    got = daily_periods("2026-03-29T00:00Z", "2026-03-29T12:00Z", start, end, LONDON)
    assert got == ([] if expected is None else [tuple(pd.Timestamp(v) for v in expected)])


def test_repeated_local_times_take_the_first_occurrence():
    # 01:30 happens twice on 25 October (BST, then GMT): the first is 00:30 UTC
    got = daily_periods("2026-10-25T00:00Z", "2026-10-25T12:00Z", "01:30", "03:00", LONDON)
    assert got == [(pd.Timestamp("2026-10-25T00:30Z"), pd.Timestamp("2026-10-25T03:00Z"))]


def test_other_zone_and_utc():
    got = daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "09:00", "10:00", "America/New_York")
    assert got == [(pd.Timestamp("2026-07-13T13:00Z"), pd.Timestamp("2026-07-13T14:00Z"))]
    got = daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "09:00", "10:00", "UTC")
    assert got == [(pd.Timestamp("2026-07-13T09:00Z"), pd.Timestamp("2026-07-13T10:00Z"))]


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("00:00", 0), ("07:00", 420), ("7:30", 450), ("23:59", 1439), (None, None), ("", None),
     (float("nan"), None)],
)
def test_parse_hhmm(value, minutes):
    assert parse_hhmm(value) == minutes


def test_errors_name_the_argument_and_value():
    with pytest.raises(InputError, match=r"daily_end must be a local wall-clock time HH:MM .* got '25:00'"):
        daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "19:00", "25:00", LONDON)
    with pytest.raises(InputError, match=r"daily_start must be a local wall-clock time HH:MM .* got '7pm'"):
        daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "7pm", "07:00", LONDON)
    with pytest.raises(InputError, match=r"daily_start and daily_end go together, got daily_start='19:00'"):
        daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "19:00", None, LONDON)
    with pytest.raises(InputError, match=r"unknown time zone 'Mars/Olympus'"):
        daily_periods("2026-07-13T00:00Z", "2026-07-14T00:00Z", "19:00", "07:00", "Mars/Olympus")
    with pytest.raises(TimezoneError, match=r"active_from '2026-07-13 00:00' has no UTC offset"):
        daily_periods("2026-07-13 00:00", "2026-07-14T00:00Z", "19:00", "07:00", LONDON)
    with pytest.raises(InputError, match=r"active_to must not be before active_from"):
        daily_periods("2026-07-14T00:00Z", "2026-07-13T00:00Z", "19:00", "07:00", LONDON)
