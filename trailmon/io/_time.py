"""Timestamps: ISO 8601 with an offset, zone-less ones only with a named zone (``--tz``).

All instants become int64 nanoseconds since the Unix epoch, UTC. Local times that do not
exist (01:30 on the spring-forward Sunday) move forward by the gap; times that occur twice
take the first occurrence (SPEC §2).
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trailmon.errors import InputError, TimezoneError

__all__ = ["NAT", "check_tz", "instant_s", "iso_ms", "localize_naive", "parse_instant", "parse_times"]

NAT = np.iinfo(np.int64).min
_ZONED = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_ZONED_RE = re.compile(r".*" + _ZONED)


def check_tz(tz: str | None) -> str | None:
    """Validate an IANA zone name (``Europe/London``, ``UTC``); None passes."""
    if tz is None:
        return None
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(f"unknown time zone {tz!r}; use an IANA name such as Europe/London or UTC") from exc
    return tz


def localize_naive(naive: pd.Series | pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Wall-clock times in ``tz`` to UTC (SPEC §2).

    A time that does not exist (01:30 on the spring-forward Sunday) moves forward by the length
    of the gap (to 02:30 BST); a time that occurs twice takes the first occurrence (BST).
    """
    idx = pd.DatetimeIndex(naive)
    if tz.upper() == "UTC":
        return idx.tz_localize("UTC")
    first = np.ones(len(idx), dtype=bool)
    loc = idx.tz_localize(tz, nonexistent="NaT", ambiguous=first)
    missing = np.asarray(loc.isna()) & np.asarray(idx.notna())
    if missing.any():
        wall = idx[missing]
        after = wall.tz_localize(tz, nonexistent="shift_forward", ambiguous=first[missing])
        one = pd.Timedelta(1, "ns")
        gap = after.tz_localize(None) - ((after - one).tz_convert(tz).tz_localize(None) + one)
        moved = (wall + gap).tz_localize(tz, nonexistent="shift_forward", ambiguous=first[missing])
        out = pd.Series(loc.tz_convert("UTC"))
        out[missing] = moved.tz_convert("UTC")
        loc = pd.DatetimeIndex(out)
    return loc.tz_convert("UTC")


def parse_times(
    values: pd.Series,
    tz: str | None,
    *,
    what: str = "timestamp",
    fmt: str = "ISO8601",
) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column of timestamps to UTC nanoseconds.

    Parameters
    ----------
    values : pandas.Series of str
        Raw values; empty cells count as missing.
    tz : str or None
        Zone for values without an offset (``--tz``); None means such values are errors. Where
        some values carry an offset, the zone-less ones are stray rows (``NO_TIMEZONE``) anyway.
    what : str
        Column name for messages.
    fmt : str
        ``"ISO8601"`` or a strftime format for zone-less layouts (e.g. the EM exports).

    Returns
    -------
    ns : ndarray of int64
        Nanoseconds since the epoch, UTC; :data:`NAT` where a row failed.
    problem : ndarray of object
        ``None`` for good rows, else ``"BAD_TIMESTAMP"`` or ``"NO_TIMEZONE"``.

    Raises
    ------
    TimezoneError
        When no value carries a zone and ``tz`` is None.
    """
    n = len(values)
    ns = np.full(n, NAT, dtype=np.int64)
    problem = np.full(n, None, dtype=object)
    if n == 0:
        return ns, problem
    arr = pa.array(values.astype(object).where(values.notna(), None), type=pa.string(), from_pandas=True)
    arr = pc.utf8_trim_whitespace(arr)
    empty = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(arr), 0), True))
    zoned = np.asarray(pc.fill_null(pc.match_substring_regex(arr, _ZONED), False)) & ~empty
    naive = ~zoned & ~empty
    s = pd.Series(np.asarray(arr.to_pandas(), dtype=object), copy=False)
    if zoned.any():
        got = pd.to_datetime(s[zoned], format=fmt, utc=True, errors="coerce")
        ns[zoned] = _to_ns(got)
    if naive.any() and (tz is None or zoned.any()):
        # a zone-less value in a file whose other values carry offsets is a stray row, even with --tz:
        # the zone named for zone-less files is not evidence of what this one row meant
        parsed = pd.to_datetime(s[naive], format=fmt, errors="coerce").notna().to_numpy()
        if parsed.any() and not zoned.any():
            sample = s[naive][parsed].iloc[0]
            raise TimezoneError(
                f"{what} values carry no UTC offset (e.g. {sample!r}); name their zone with --tz "
                "(e.g. --tz Europe/London or --tz UTC), or write them with Z or +01:00"
            )
        stray = naive.copy()
        stray[naive] = parsed
        problem[stray] = "NO_TIMEZONE"
    elif naive.any():
        got = pd.to_datetime(s[naive], format=fmt, errors="coerce")
        okn = got.notna().to_numpy()
        part = np.full(int(naive.sum()), NAT, dtype=np.int64)
        if okn.any():
            part[okn] = _to_ns(pd.Series(localize_naive(got[okn], tz)))
        ns[naive] = part
    problem[empty] = "BAD_TIMESTAMP"
    problem[(ns == NAT) & np.equal(problem, None)] = "BAD_TIMESTAMP"
    return ns, problem


def _to_ns(got: pd.Series) -> np.ndarray:
    """Parsed times to int64 ns UTC; NAT where missing or outside the ns range (e.g. year -181)."""
    out = np.full(len(got), NAT, dtype=np.int64)
    ok = got.notna().to_numpy()
    if ok.any():
        s = got[ok].dt.tz_convert("UTC") if getattr(got.dt, "tz", None) is not None else got[ok]
        scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[s.dt.unit]
        v = s.dt.tz_localize(None).to_numpy().astype(np.int64) if s.dt.tz is not None else (
            s.to_numpy().astype(np.int64))
        fits = np.abs(v) < np.iinfo(np.int64).max // scale
        out[np.flatnonzero(ok)[fits]] = v[fits] * scale
    return out


def parse_instant(text: str, tz: str | None = None, *, what: str = "--from") -> pd.Timestamp:
    """One command-line time: ISO 8601 with an offset or Z; a naive one needs ``tz``.

    Raises
    ------
    TimezoneError
        For a naive time without ``tz``.
    InputError
        For text that is not a time.
    """
    text = str(text).strip()
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} must be an ISO 8601 time such as 2026-07-14T13:00:00Z, got {text!r}") from exc
    if ts.tzinfo is None:
        if tz is None:
            raise TimezoneError(f"{what} {text!r} has no UTC offset; add Z or +01:00, or name a zone with --tz")
        return pd.Timestamp(localize_naive(pd.DatetimeIndex([ts]), tz)[0])
    return ts.tz_convert("UTC")


def instant_s(name: str, value) -> float:
    """A tz-aware datetime-like as seconds since the epoch, UTC; InputError / TimezoneError naming ``name``."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a tz-aware datetime, got {value!r}") from None
    if ts is pd.NaT:
        raise InputError(f"{name} must be a tz-aware datetime, got {value!r}")
    if ts.tzinfo is None:
        raise TimezoneError(f"{name} has no time zone, got {value!r}; give an offset or Z (UTC)")
    return ts.tz_convert("UTC").value / 1e9


def iso_ms(ns) -> str | None:
    """UTC nanoseconds to ISO 8601 with ``Z`` and milliseconds (``2026-07-14T13:00:00.000Z``); None stays None."""
    if ns is None:
        return None
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
