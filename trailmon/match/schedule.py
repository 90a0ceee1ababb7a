"""Local wall-clock daily schedules to UTC periods (SPEC §2 zones: curfews, daily exclusions).

A zone active ``daily_start``-``daily_end`` (``HH:MM`` local time in ``tz``) is active once a
local day; a ``daily_end`` at or before ``daily_start`` ends on the next day (a 19:00-07:00
curfew). Each wall-clock time is turned into UTC on its own day, so across a clock change the
night is as long as the clock says: 11 h on the spring-forward night, 13 h on the fall-back
one. Local times that do not exist move forward past the gap, repeated ones take their first
occurrence (:func:`trailmon.io._time.localize_naive`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from trailmon.errors import InputError, TimezoneError
from trailmon.io._time import check_tz, localize_naive

__all__ = ["daily_periods", "parse_hhmm"]

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_hhmm(value: object, what: str = "daily_start") -> int | None:
    """Minutes after local midnight of an ``HH:MM`` wall-clock time; None when absent.

    Parameters
    ----------
    value : str or None
        ``"19:00"``, ``"7:30"``; None, NaN or ``""`` mean absent.
    what : str, default "daily_start"
        Argument name for messages.

    Returns
    -------
    int or None
        0-1439 minutes, local wall-clock time.

    Raises
    ------
    InputError
        For anything but ``HH:MM`` with hours 00-23 and minutes 00-59.

    Examples
    --------
    >>> parse_hhmm("19:30"), parse_hhmm(None)
    (1170, None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    if not text.strip():
        return None
    m = _HHMM.match(text)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise InputError(f"{what} must be a local wall-clock time HH:MM from 00:00 to 23:59, got {value!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def daily_periods(
    active_from,
    active_to,
    daily_start: str | None,
    daily_end: str | None,
    tz: str,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """UTC periods when a zone is active: every local day's ``daily_start``-``daily_end``.

    Parameters
    ----------
    active_from, active_to : pandas.Timestamp, datetime or str
        The zone's active range, time-zone aware (any zone; an ISO 8601 string needs an offset).
    daily_start, daily_end : str or None
        Local wall-clock ``HH:MM`` in ``tz``; both None means active all along the range. A
        ``daily_end`` at or before ``daily_start`` ends on the next local day.
    tz : str
        IANA zone of the wall-clock times, e.g. ``"Europe/London"``.

    Returns
    -------
    list of (pandas.Timestamp, pandas.Timestamp)
        Sorted, non-overlapping ``(start, end)`` in UTC, clipped to ``[active_from, active_to]``;
        only periods of positive length.

    Raises
    ------
    InputError
        For one of ``daily_start`` / ``daily_end`` without the other, a time that is not
        ``HH:MM``, an unknown ``tz`` or ``active_to`` before ``active_from``.
    TimezoneError
        For zone-less ``active_from`` / ``active_to``.

    Notes
    -----
    Each local day D gives ``[D daily_start, D' daily_end]`` with ``D' = D`` when ``daily_end >
    daily_start`` else ``D + 1``, both localized on their own day: nonexistent times move
    forward past the gap, repeated ones take the first occurrence.

    Examples
    --------
    >>> p = daily_periods("2026-03-28T12:00Z", "2026-03-29T12:00Z", "19:00", "07:00", "Europe/London")
    >>> [(str(a), str(b), (b - a) / pd.Timedelta(hours=1)) for a, b in p]
    [('2026-03-28 19:00:00+00:00', '2026-03-29 06:00:00+00:00', 11.0)]
    """
    lo = _instant(active_from, "active_from")
    hi = _instant(active_to, "active_to")
    if hi < lo:
        raise InputError(f"active_to must not be before active_from, got {hi.isoformat()} < {lo.isoformat()}")
    starts, ends = periods_ns(lo.value, hi.value, daily_start, daily_end, tz)
    return [(pd.Timestamp(int(a), tz="UTC"), pd.Timestamp(int(b), tz="UTC")) for a, b in zip(starts, ends,
                                                                                            strict=True)]


def periods_ns(from_ns: int, to_ns: int, daily_start, daily_end, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Active periods in ``[from_ns, to_ns]`` as int64 nanoseconds UTC (see :func:`daily_periods`)."""
    start_min = parse_hhmm(daily_start, "daily_start")
    end_min = parse_hhmm(daily_end, "daily_end")
    if (start_min is None) != (end_min is None):
        raise InputError(
            f"daily_start and daily_end go together, got daily_start={daily_start!r} and "
            f"daily_end={daily_end!r}; give both (e.g. 19:00 and 07:00) or neither"
        )
    if from_ns > to_ns:
        raise InputError(f"the active range is reversed: {from_ns} ns > {to_ns} ns")
    if start_min is None:
        if to_ns > from_ns:
            return np.array([from_ns], dtype=np.int64), np.array([to_ns], dtype=np.int64)
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    check_tz(tz)
    first = pd.Timestamp(int(from_ns), tz="UTC").tz_convert(tz).date()
    last = pd.Timestamp(int(to_ns), tz="UTC").tz_convert(tz).date()
    s_all, e_all = _local_days(first.toordinal() - 1, last.toordinal(), start_min, end_min, tz)
    s = np.maximum(s_all, from_ns)
    e = np.minimum(e_all, to_ns)
    keep = e > s
    return s[keep], e[keep]


@lru_cache(maxsize=256)
def _local_days(first_ordinal: int, last_ordinal: int, start_min: int, end_min: int, tz: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """Unclipped periods of the local days ``first..last`` (proleptic ordinals), ns UTC; cached."""
    days = pd.to_datetime([pd.Timestamp.fromordinal(d) for d in range(first_ordinal, last_ordinal + 1)])
    start_naive = days + pd.Timedelta(minutes=start_min)
    end_naive = days + pd.Timedelta(days=0 if end_min > start_min else 1, minutes=end_min)
    s = localize_naive(start_naive, tz).as_unit("ns").asi8
    e = localize_naive(end_naive, tz).as_unit("ns").asi8
    s.setflags(write=False)
    e.setflags(write=False)
    return s, e


def _instant(value, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} must be a time-zone-aware instant, got {value!r}") from exc
    if ts is pd.NaT:
        raise InputError(f"{what} must be a time-zone-aware instant, got {value!r}")
    if ts.tzinfo is None:
        raise TimezoneError(f"{what} {value!r} has no UTC offset; give it with Z or +01:00")
    return ts.tz_convert("UTC").as_unit("ns")
