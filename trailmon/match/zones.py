"""Exclusion zones and curfews: visits, absences and no-data periods, exact (SPEC §3 "Zones").

An exclusion zone reports every visit inside it while active; an inclusion zone (a curfew at
home) every absence outside it while active. Time of unknown position while active is reported
as ``no_data``, never as a breach or as compliance. Same geofences, trail model, accuracy rule
and interval arithmetic as :func:`trailmon.match.attendance.attendance`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

import numba
import numpy as np
import pandas as pd

from trailmon.errors import InputError, TimezoneError
from trailmon.io._time import check_tz
from trailmon.match import _geofence_kernels as gk
from trailmon.match.attendance import (
    _check_thresholds,
    _require_columns,
    accurate_fixes,
    geofence_arrays,
    ns_to_utc,
    seconds_to_utc,
    subject_ranges,
    utc_ns,
)
from trailmon.match.schedule import periods_ns
from trailmon.report._columns import ZONES
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["ZoneEvent", "ZoneKind", "zones"]


class ZoneKind(StrEnum):
    """What a zone asks of the subject."""

    EXCLUSION = "exclusion"
    """Keep out while active: every visit is reported."""
    INCLUSION = "inclusion"
    """Stay in while active (a curfew): every absence is reported."""


class ZoneEvent(StrEnum):
    """One row of the zones output."""

    VISIT = "visit"
    """A maximal interval inside an exclusion zone while active."""
    ABSENCE = "absence"
    """A maximal interval of known position outside an inclusion zone while active."""
    NO_DATA = "no_data"
    """A maximal interval of unknown position while active and monitored."""


_EVENT_CODES = {gk.EVENT_VISIT: ZoneEvent.VISIT, gk.EVENT_ABSENCE: ZoneEvent.ABSENCE,
                gk.EVENT_NO_DATA: ZoneEvent.NO_DATA}
_KIND_CODES = {ZoneKind.EXCLUSION.value: gk.KIND_EXCLUSION, ZoneKind.INCLUSION.value: gk.KIND_INCLUSION}


def zones(
    trails: Trails,
    zones: pd.DataFrame,
    t_from,
    t_to,
    *,
    tz: str = "Europe/London",
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    min_event_s: float = 0.0,
) -> pd.DataFrame:
    """Visits to exclusion zones, absences from inclusion zones and no-data periods while active.

    Parameters
    ----------
    trails : Trails
        Fixes of the subjects, metres in the store's projected CRS, seconds UTC, with their
        monitoring windows.
    zones : pandas.DataFrame
        The canonical zone frame (``ZONE_INPUT``): ``zone_id, subject_id, kind``
        (``exclusion|inclusion``), ``active_from, active_to`` (time-zone aware; NaT means open),
        optional ``daily_start, daily_end`` (local ``HH:MM`` in ``tz``, or None) and a geofence per
        row, the circle ``center_x_m, center_y_m, radius_m`` (metres) when all three are given,
        else ``geometry``, a shapely Polygon or MultiPolygon in the store's CRS (metres).
    t_from, t_to : pandas.Timestamp, datetime or str
        The period looked at, time-zone aware (ISO 8601 strings need an offset or ``Z``).
    tz : str, default "Europe/London"
        IANA zone of ``daily_start`` / ``daily_end``.
    max_gap_s : float, default 600.0
        Longest gap between fixes that is still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Fixes with a larger ``accuracy_m`` (metres) are set aside before segments are built.
    min_event_s : float, default 0.0
        Events shorter than this, seconds, are dropped (all kinds, ``no_data`` included).

    Returns
    -------
    pandas.DataFrame
        One row per event, columns ``ZONES``: ``zone_id, subject_id, kind, event`` (:class:`ZoneEvent`),
        ``start, end`` (``datetime64[ns, UTC]``) and ``duration_s`` (seconds); by zone in input
        order, then by start.

    Raises
    ------
    InputError
        For a missing column, an unknown ``kind``, a bad schedule or geofence, a reversed range
        or a threshold out of range.
    TimezoneError
        For zone-less ``t_from`` / ``t_to`` or active times.

    See Also
    --------
    trailmon.match.schedule.daily_periods : how a daily schedule becomes UTC periods.

    Notes
    -----
    Each zone is evaluated over ``[t_from, t_to] ∩ [active_from, active_to] ∩`` its daily periods
    ``∩`` the subject's monitoring windows; events are cut at those bounds. Within that time, the
    position is known on segments between fixes at most ``max_gap_s`` apart and at each fix's own
    instant (the 60 s halo of coverage does not count here). A visit is a maximal interval inside
    the closed geofence; an absence a maximal interval known and outside; ``no_data`` a maximal
    interval not known. An isolated fix gives an event of 0 s. A subject with an unknown window,
    or absent from ``trails``, counts as monitored.

    Examples
    --------
    >>> from trailmon.testing import make_trail
    >>> t0 = pd.Timestamp("2026-01-12T18:00Z").value / 1e9
    >>> tr = make_trail([(t0 + k * 60, 0.0 if k < 120 else 600.0, 0.0) for k in range(15 * 60)])
    >>> z = pd.DataFrame({"zone_id": ["home"], "subject_id": ["S1"], "kind": ["inclusion"],
    ...     "active_from": [pd.Timestamp("2026-01-01T00:00Z")],
    ...     "active_to": [pd.Timestamp("2026-02-01T00:00Z")],
    ...     "daily_start": ["19:00"], "daily_end": ["07:00"],
    ...     "center_x_m": [0.0], "center_y_m": [0.0], "radius_m": [50.0]})
    >>> ev = zones(tr, z, "2026-01-12T12:00Z", "2026-01-13T12:00Z")
    >>> print(ev[["event", "start", "end"]].to_string(index=False))
      event                     start                       end
    absence 2026-01-12 19:59:05+00:00 2026-01-13 07:00:00+00:00
    """
    _check_thresholds(max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m, min_event_s=min_event_s)
    check_tz(tz)
    lo_ns = _bound(t_from, "t_from")
    hi_ns = _bound(t_to, "t_to")
    if hi_ns < lo_ns:
        raise InputError(
            f"t_to must not be before t_from, got t_from={pd.Timestamp(lo_ns, tz='UTC').isoformat()} "
            f"and t_to={pd.Timestamp(hi_ns, tz='UTC').isoformat()}"
        )
    _require_columns(zones, ("zone_id", "subject_id", "kind", "active_from", "active_to"), "zones")
    ids = zones["zone_id"].to_numpy(dtype=object)
    kinds = zones["kind"].astype(object).to_numpy()
    kind_code = np.empty(len(ids), dtype=np.int64)
    for i, k in enumerate(kinds):
        code = _KIND_CODES.get(str(k).strip().lower()) if isinstance(k, str) else None
        if code is None:
            raise InputError(f"zone {ids[i]!r}: kind must be exclusion or inclusion, got {k!r}")
        kind_code[i] = code
    a_from = utc_ns(zones["active_from"], "active_from", ids, "zone", allow_missing=True)
    a_to = utc_ns(zones["active_to"], "active_to", ids, "zone", allow_missing=True)
    nat = np.iinfo(np.int64).min
    a_from = np.where(a_from == nat, lo_ns, np.maximum(a_from, lo_ns))
    a_to = np.where(a_to == nat, hi_ns, np.minimum(a_to, hi_ns))
    d_start = zones["daily_start"].astype(object).to_numpy() if "daily_start" in zones else [None] * len(ids)
    d_end = zones["daily_end"].astype(object).to_numpy() if "daily_end" in zones else [None] * len(ids)
    geo = geofence_arrays(zones, ids, "zone")
    subjects = zones["subject_id"].astype(object).to_numpy()

    per_zone: list[np.ndarray] = []
    p_from: list[np.ndarray] = []
    p_to: list[np.ndarray] = []
    for i in range(len(ids)):
        hi_i = max(int(a_to[i]), int(a_from[i]))  # empty when active only outside [t_from, t_to]
        try:
            s, e = periods_ns(int(a_from[i]), hi_i, d_start[i], d_end[i], tz)
        except InputError as exc:
            raise InputError(f"zone {ids[i]!r}: {exc}") from exc
        per_zone.append(np.full(len(s), i, dtype=np.int64))
        p_from.append(s)
        p_to.append(e)
    zone_of = np.concatenate(per_zone) if per_zone else np.zeros(0, dtype=np.int64)
    from_ns = np.concatenate(p_from) if p_from else np.zeros(0, dtype=np.int64)
    to_ns = np.concatenate(p_to) if p_to else np.zeros(0, dtype=np.int64)

    kept = accurate_fixes(trails, max_accuracy_m)
    lo, hi, wlo, whi, ws, we, _unknown = subject_ranges(kept, subjects)
    c = np.ascontiguousarray
    ev_p, ev_c, ev_s, ev_e = _zone_events_threaded(
        c(kept.t_s, dtype=np.float64), c(kept.x_m, dtype=np.float64), c(kept.y_m, dtype=np.float64),
        c(lo[zone_of]), c(hi[zone_of]), ws, we, c(wlo[zone_of]), c(whi[zone_of]),
        c(from_ns / 1e9), c(to_ns / 1e9), c(kind_code[zone_of]), geo, c(zone_of), float(max_gap_s),
    )
    duration = ev_e - ev_s
    keep = duration >= float(min_event_s)
    ev_p, ev_c, ev_s, ev_e, duration = ev_p[keep], ev_c[keep], ev_s[keep], ev_e[keep], duration[keep]
    z = zone_of[ev_p]
    order = np.lexsort((ev_e, ev_s, z))
    z, ev_c, ev_s, ev_e, duration = z[order], ev_c[order], ev_s[order], ev_e[order], duration[order]
    kind_names = np.array([ZoneKind.EXCLUSION.value, ZoneKind.INCLUSION.value], dtype=object)
    event_names = np.array([_EVENT_CODES[k].value for k in sorted(_EVENT_CODES)], dtype=object)
    frame = pd.DataFrame({
        "zone_id": ids[z],
        "subject_id": subjects[z],
        "kind": kind_names[kind_code[z]],
        "event": event_names[ev_c],
        "start": seconds_to_utc(ev_s),
        "end": seconds_to_utc(ev_e),
        "duration_s": duration.astype(np.float64),
    })
    if not len(frame):
        frame["start"] = ns_to_utc(np.zeros(0, dtype=np.int64))
        frame["end"] = ns_to_utc(np.zeros(0, dtype=np.int64))
    return frame[ZONES]


_MIN_PERIODS_PER_THREAD = 256


def _zone_events_threaded(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, from_s, to_s, kind, geo, geo_idx,
                          max_gap_s):
    """Run :func:`gk.zone_events` over chunks of periods on threads (the kernel releases the GIL).

    The kernel appends a variable number of events per period, so it runs sequentially; chunks of
    periods on ``numba.get_num_threads()`` threads give the parallelism, and their results are
    concatenated in period order, with period indices made global again.
    """
    n = len(from_s)
    n_threads = min(numba.get_num_threads(), max(1, n // _MIN_PERIODS_PER_THREAD))
    if n_threads <= 1:
        return gk.zone_events(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, from_s, to_s, kind, geo, geo_idx,
                              max_gap_s)
    bounds = np.linspace(0, n, 4 * n_threads + 1).astype(np.int64)

    def run(k: int):
        a, b = int(bounds[k]), int(bounds[k + 1])
        p, c, s, e = gk.zone_events(t_s, x_m, y_m, lo[a:b], hi[a:b], ws, we, wlo[a:b], whi[a:b], from_s[a:b],
                                    to_s[a:b], kind[a:b], geo, geo_idx[a:b], max_gap_s)
        return p + a, c, s, e

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        parts = list(pool.map(run, range(len(bounds) - 1)))
    return tuple(np.concatenate([part[j] for part in parts]) for j in range(4))


def _bound(value, what: str) -> int:
    """Convert a time-zone-aware instant to int64 nanoseconds UTC."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} must be a time such as 2026-07-14T13:00:00Z, got {value!r}") from exc
    if ts is pd.NaT:
        raise InputError(f"{what} must be a time such as 2026-07-14T13:00:00Z, got {value!r}")
    if ts.tzinfo is None:
        raise TimezoneError(f"{what} {value!r} has no UTC offset; give it with Z or +01:00")
    return int(ts.tz_convert("UTC").as_unit("ns").value)
