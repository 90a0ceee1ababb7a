"""Appointment attendance: exact time inside a geofence around each appointment (SPEC §3).

An appointment is a subject, a window ``[S, E]`` (UTC) and a geofence, a circle or a polygon
(holes and multipolygons allowed) in the store's projected CRS. The trail is looked at over
``[S - early_s, E]``; the time inside is exact (circle crossings by the quadratic, polygon
crossings edge by edge), coverage is the shared trail model's (:mod:`trailmon.match._kernels`).
Status rules are a table (:data:`ATTENDANCE_OUTCOMES` gives each status's probation outcome).
"""

from __future__ import annotations

from enum import Enum, StrEnum

import numpy as np
import pandas as pd
import shapely

from trailmon.errors import InputError, TimezoneError
from trailmon.match import _geofence_kernels as gk
from trailmon.report._columns import ATTENDANCE
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S, Trails

__all__ = [
    "ATTENDANCE_OUTCOMES",
    "AttendanceFlag",
    "AttendanceStatus",
    "attendance",
]


class AttendanceStatus(StrEnum):
    """One status per appointment, with the SPEC's strings (SPEC §3 "Appointment attendance")."""

    ATTENDED = "attended"
    LATE = "late"
    LEFT_EARLY = "left_early"
    PARTIAL = "partial"
    NOT_ATTENDED = "not_attended"
    NO_DATA = "no_data"
    NOT_MONITORED = "not_monitored"

    @property
    def outcome(self) -> str:
        """The probation outcome this status supports."""
        return ATTENDANCE_OUTCOMES[self]


ATTENDANCE_OUTCOMES: dict[AttendanceStatus, str] = {
    AttendanceStatus.ATTENDED: "location consistent with attendance",
    AttendanceStatus.LATE: "arrived late",
    AttendanceStatus.LEFT_EARLY: "left early",
    AttendanceStatus.PARTIAL: "partly present",
    AttendanceStatus.NOT_ATTENDED: "no fixes at the venue",
    AttendanceStatus.NO_DATA: "insufficient data",
    AttendanceStatus.NOT_MONITORED: "not monitored",
}
"""Status -> probation outcome, defined once. GPS alone never decides acceptable absence."""


class AttendanceFlag(StrEnum):
    """Flags of an attendance row, in the order they are joined with ``;``."""

    INSIDE_AT_START = "inside_at_start"
    """Already inside at ``S - early_s``: the arrival is that instant."""
    INSIDE_AT_END = "inside_at_end"
    """Still inside at ``E``: the departure is ``E``."""
    LATE = "late"
    """Inside enough, but arrived after ``S + late_s``."""
    LEFT_EARLY = "left_early"
    """Inside enough, but left before ``E - late_s``."""
    DATA_GAP = "data_gap"
    """Unknown position bordering a fix inside the geofence: the inside time ends at the last fix."""
    PARTLY_MONITORED = "partly_monitored"
    """Only part of ``[S, E]`` lies in a monitoring window; judged on that part."""
    MONITORING_WINDOW_UNKNOWN = "monitoring_window_unknown"
    """The subject's monitoring window is unknown: counted as monitored."""


def attendance(
    trails: Trails,
    appointments: pd.DataFrame,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    early_s: float = 900.0,
    late_s: float = 600.0,
    min_inside_s: float = 1200.0,
    min_inside_fraction: float = 0.5,
    min_coverage: float = 0.5,
) -> pd.DataFrame:
    """Judge every appointment from the trail: time inside, arrival, departure, coverage, status.

    Parameters
    ----------
    trails : Trails
        Fixes of the subjects, metres in the store's projected CRS, seconds UTC, with their
        monitoring windows.
    appointments : pandas.DataFrame
        The canonical appointment frame (``APPOINTMENT_INPUT``): ``appointment_id, subject_id,
        start, end`` (time-zone aware, any zone; judged in UTC) and a geofence per row, the circle
        ``center_x_m, center_y_m, radius_m`` (metres) when all three are given, else ``geometry``,
        a shapely Polygon or MultiPolygon in the store's CRS (metres), holes allowed.
    max_gap_s : float, default 600.0
        Longest gap between fixes that is still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Fixes with a larger ``accuracy_m`` (metres) are set aside before segments are built.
    early_s : float, default 900.0
        How long before ``start`` the trail is looked at, seconds (arrival may precede ``start``).
    late_s : float, default 600.0
        Arrival after ``start + late_s`` is late, departure before ``end - late_s`` is early, seconds.
    min_inside_s : float, default 1200.0
        Time inside that is always enough, seconds.
    min_inside_fraction : float, default 0.5
        Fraction of the (monitored) appointment that is enough when shorter than ``min_inside_s``.
    min_coverage : float, default 0.5
        Coverage of ``[start, end]`` (0-1) below which "never inside" is ``no_data``.

    Returns
    -------
    pandas.DataFrame
        One row per appointment, in input order, columns ``ATTENDANCE``: ``appointment_id,
        subject_id, start, end`` (UTC), ``inside_s`` (seconds), ``arrival, departure``
        (``datetime64[ns, UTC]``, NaT when never inside), ``coverage`` (0-1), ``status``
        (:class:`AttendanceStatus`), ``flags`` (``;``-joined :class:`AttendanceFlag`) and
        ``outcome`` (:data:`ATTENDANCE_OUTCOMES`).

    Raises
    ------
    InputError
        For a missing column, a missing or reversed time, a geofence that is neither a circle nor
        a valid polygon, or a threshold out of range.
    TimezoneError
        For zone-less ``start`` / ``end``.

    See Also
    --------
    trailmon.match.zones.zones : exclusion zones and curfews with the same interval arithmetic.

    Notes
    -----
    Over ``[S - early_s, E]``: ``inside_s`` is the exact time the interpolated position is inside
    the closed geofence, within monitoring windows; ``arrival`` is its first instant (``S -
    early_s`` and flag ``inside_at_start`` when already inside), ``departure`` its last (``E`` and
    flag ``inside_at_end`` when still inside); ``coverage`` is over ``[S, E]``. Only fixes with
    ``accuracy_m <= max_accuracy_m`` count. A gap over ``max_gap_s`` ends the inside time at its
    last fix; when unknown, monitored time in the window borders a fix inside the geofence (a gap,
    or the trail starting or ending within the window) the row is flagged ``data_gap``. An
    isolated fix inside, or a touch of the boundary, is an instant inside (0 s).

    Status, first rule that applies: ``not_monitored`` when no monitoring window overlaps ``[S,
    E]``; ``no_data`` when never inside and coverage < ``min_coverage``; ``not_attended`` when never
    inside; ``partial`` when ``inside_s < min(min_inside_fraction (E - S), min_inside_s)``; ``late``
    when the arrival is after ``S + late_s``; ``left_early`` when the departure is before ``E -
    late_s``; else ``attended``. ``late`` and ``left_early`` are both flagged when both apply.

    A partly monitored appointment (flag ``partly_monitored``) is judged on its monitored part:
    ``S`` and ``E`` become the first and last monitored instants in ``[S, E]``, ``E - S`` the
    monitored time, and the coverage compared with ``min_coverage`` is the known fraction of the
    monitored time (the ``coverage`` column stays the fraction of all of ``[S, E]``). A subject
    with an unknown monitoring window, or absent from ``trails``, counts as monitored and is
    flagged ``monitoring_window_unknown``; one without fixes is ``no_data``.

    Examples
    --------
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(t, 0.0, 0.0) for t in range(0, 7201, 60)])
    >>> appts = pd.DataFrame({"appointment_id": ["A1"], "subject_id": ["S1"],
    ...     "start": pd.to_datetime([1800], unit="s", utc=True),
    ...     "end": pd.to_datetime([5400], unit="s", utc=True),
    ...     "center_x_m": [0.0], "center_y_m": [0.0], "radius_m": [50.0]})
    >>> row = attendance(tr, appts).iloc[0]
    >>> print(row.status, row.inside_s, row["flags"])
    attended 4500.0 inside_at_start;inside_at_end;monitoring_window_unknown
    """
    _check_thresholds(max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m, early_s=early_s, late_s=late_s,
                      min_inside_s=min_inside_s, min_inside_fraction=min_inside_fraction,
                      min_coverage=min_coverage)
    _require_columns(appointments, ("appointment_id", "subject_id", "start", "end"), "appointments")
    ids = appointments["appointment_id"].to_numpy(dtype=object)
    start_ns = utc_ns(appointments["start"], "start", ids, "appointment")
    end_ns = utc_ns(appointments["end"], "end", ids, "appointment")
    bad = end_ns < start_ns
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"appointment {ids[k]!r}: end must not be before start, got start "
            f"{_iso(start_ns[k])} and end {_iso(end_ns[k])}"
        )
    geo = geofence_arrays(appointments, ids, "appointment")
    subjects = appointments["subject_id"].astype(object).to_numpy()
    kept = accurate_fixes(trails, max_accuracy_m)
    lo, hi, wlo, whi, ws, we, unknown = subject_ranges(kept, subjects)
    start_s = start_ns / 1e9
    end_s = end_ns / 1e9
    out = gk.attendance_appointments(
        np.ascontiguousarray(kept.t_s, dtype=np.float64), np.ascontiguousarray(kept.x_m, dtype=np.float64),
        np.ascontiguousarray(kept.y_m, dtype=np.float64), lo, hi, ws, we, wlo, whi,
        start_s - float(early_s), start_s, end_s, geo, np.arange(len(ids), dtype=np.int64),
        float(max_gap_s), float(FIX_HALO_S),
    )
    inside_s, arrival, departure, n_inside, kflags, coverage, mon_s, mon_first, mon_last = out
    return _judge(ids, subjects, start_ns, end_ns, start_s, end_s, inside_s, arrival, departure, n_inside,
                  kflags, coverage, mon_s, mon_first, mon_last, unknown, late_s=float(late_s),
                  min_inside_s=float(min_inside_s), min_inside_fraction=float(min_inside_fraction),
                  min_coverage=float(min_coverage))


def _judge(ids, subjects, start_ns, end_ns, start_s, end_s, inside_s, arrival, departure, n_inside, kflags,
           coverage, mon_s, mon_first, mon_last, unknown, *, late_s, min_inside_s, min_inside_fraction,
           min_coverage) -> pd.DataFrame:
    """Apply the status table to the kernel's per-appointment figures."""
    length = end_s - start_s
    zero = length == 0.0
    monitored = np.where(zero, ~np.isnan(mon_first), mon_s > 0.0)
    partly = monitored & ~zero & (mon_s < length)
    with np.errstate(divide="ignore", invalid="ignore"):
        judged_cov = np.where(partly, np.minimum(coverage * length / np.where(mon_s > 0, mon_s, 1.0), 1.0),
                              coverage)
    duration = np.where(partly, mon_s, length)
    s_eff = np.where(partly, mon_first, start_s)
    e_eff = np.where(partly, mon_last, end_s)
    inside = n_inside > 0
    enough = inside & (inside_s >= np.minimum(min_inside_fraction * duration, min_inside_s))
    late = enough & (arrival > s_eff + late_s)
    early = enough & (departure < e_eff - late_s)
    S = AttendanceStatus
    rules = [  # (condition, status), first that applies
        (~monitored, S.NOT_MONITORED),
        (~inside & (judged_cov < min_coverage), S.NO_DATA),
        (~inside, S.NOT_ATTENDED),
        (~enough, S.PARTIAL),
        (late, S.LATE),
        (early, S.LEFT_EARLY),
    ]
    status = np.select([c for c, _ in rules], [s.value for _, s in rules], S.ATTENDED.value)
    flag_table = [  # (mask, flag) in output order
        ((kflags & gk.FLAG_INSIDE_AT_START) != 0, AttendanceFlag.INSIDE_AT_START),
        ((kflags & gk.FLAG_INSIDE_AT_END) != 0, AttendanceFlag.INSIDE_AT_END),
        (late, AttendanceFlag.LATE),
        (early, AttendanceFlag.LEFT_EARLY),
        ((kflags & gk.FLAG_DATA_GAP) != 0, AttendanceFlag.DATA_GAP),
        (partly, AttendanceFlag.PARTLY_MONITORED),
        (unknown, AttendanceFlag.MONITORING_WINDOW_UNKNOWN),
    ]
    flags = join_flags(len(ids), flag_table)
    outcome = np.array([ATTENDANCE_OUTCOMES[S(v)] for v in status], dtype=object)
    frame = pd.DataFrame({
        "appointment_id": ids,
        "subject_id": subjects,
        "start": ns_to_utc(start_ns),
        "end": ns_to_utc(end_ns),
        "inside_s": inside_s,
        "arrival": seconds_to_utc(arrival),
        "departure": seconds_to_utc(departure),
        "coverage": coverage,
        "status": status.astype(object),
        "flags": flags,
        "outcome": outcome,
    })
    return frame[ATTENDANCE]


# ------------------------------------------------------------------------------------ shared helpers
def accurate_fixes(trails: Trails, max_accuracy_m: float) -> Trails:
    """Set aside fixes with ``accuracy_m > max_accuracy_m`` (metres) before segments are built."""
    keep = np.asarray(trails.accuracy_m) <= max_accuracy_m
    return trails if keep.all() else trails.select_fixes(keep)


def join_flags(n: int, table: list[tuple[np.ndarray, Enum]]) -> np.ndarray:
    """Join flag names per row with ``;``, from ``(mask, flag)`` pairs in table order."""
    out = np.full(n, "", dtype=object)
    for mask, flag in table:
        has = np.asarray(mask, dtype=bool)
        if has.any():
            cur = out[has]
            out[has] = np.where(cur == "", flag.value, cur + ";" + flag.value)
    return out


def ns_to_utc(ns: np.ndarray) -> pd.DatetimeIndex:
    """Int64 nanoseconds UTC to ``datetime64[ns, UTC]``."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


def seconds_to_utc(t_s: np.ndarray) -> pd.DatetimeIndex:
    """Float seconds UTC to ``datetime64[ns, UTC]`` (NaT for NaN), rounded to the nanosecond."""
    t_s = np.asarray(t_s, dtype=np.float64)
    ns = np.full(len(t_s), np.iinfo(np.int64).min, dtype=np.int64)
    ok = np.isfinite(t_s)
    ns[ok] = np.round(t_s[ok] * 1e9).astype(np.int64)
    return ns_to_utc(ns)


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def _require_columns(frame: pd.DataFrame, names: tuple[str, ...], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} lacks the column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
        )


def _check_thresholds(**values: float) -> None:
    fractions = {"min_inside_fraction", "min_coverage"}
    positive = {"max_accuracy_m"}
    for name, value in values.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number, got {value!r}") from None
        if name in fractions:
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be a fraction between 0 and 1, got {value!r}")
        elif name in positive:
            if not v > 0.0:
                raise InputError(f"{name} must be > 0, got {value!r}")
        elif not (np.isfinite(v) and v >= 0.0):
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}")


def utc_ns(values: pd.Series, column: str, ids: np.ndarray, what: str, *, allow_missing: bool = False
           ) -> np.ndarray:
    """Convert a column of time-zone-aware instants to int64 nanoseconds UTC (NaT only if allowed)."""
    try:
        got = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} column {column!r} must hold time-zone-aware instants: {exc}") from exc
    if not isinstance(got.dtype, pd.DatetimeTZDtype):
        if got.notna().any():
            sample = got[got.notna()].iloc[0]
            raise TimezoneError(
                f"{what} column {column!r} holds times without a zone (e.g. {str(sample)!r}); "
                "give them with a UTC offset, or localize them (Series.dt.tz_localize('Europe/London'))"
            )
        got = got.dt.tz_localize("UTC")
    got = got.dt.tz_convert("UTC").dt.as_unit("ns")
    missing = got.isna().to_numpy()
    if missing.any() and not allow_missing:
        k = int(np.flatnonzero(missing)[0])
        raise InputError(f"{what} {ids[k]!r}: {column} is missing; every {what} needs one")
    ns = got.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT")).view(np.int64)
    return np.ascontiguousarray(ns)


def subject_ranges(trails: Trails, subjects: np.ndarray):
    """Fix and window ranges of each row's subject; absent subjects get no fixes and an unknown window.

    Returns ``(fix_lo, fix_hi, win_lo, win_hi, win_start_s, win_end_s, window_unknown)``; the
    window arrays gain one ``(-inf, inf)`` window at the end for absent subjects.
    """
    n = len(subjects)
    names = np.asarray(trails.subject_ids, dtype=object).astype(str)
    keys = np.asarray(subjects, dtype=object).astype(str)
    pos = np.searchsorted(names, keys)
    pos_c = np.minimum(pos, max(len(names) - 1, 0))
    found = (pos < len(names)) & (names[pos_c] == keys) if len(names) else np.zeros(n, dtype=bool)
    offsets = np.asarray(trails.offsets, dtype=np.int64)
    woff = np.asarray(trails.win_offsets, dtype=np.int64)
    n_win = len(trails.win_start_s)
    ws = np.append(np.asarray(trails.win_start_s, dtype=np.float64), -np.inf)
    we = np.append(np.asarray(trails.win_end_s, dtype=np.float64), np.inf)
    fix_lo = np.where(found, offsets[pos_c], 0) if len(names) else np.zeros(n, dtype=np.int64)
    fix_hi = np.where(found, offsets[pos_c + 1], 0) if len(names) else np.zeros(n, dtype=np.int64)
    win_lo = np.where(found, woff[pos_c], n_win) if len(names) else np.full(n, n_win, dtype=np.int64)
    win_hi = (np.where(found, woff[pos_c + 1], n_win + 1) if len(names)
              else np.full(n, n_win + 1, dtype=np.int64))
    known = np.asarray(trails.window_known, dtype=bool)
    unknown = ~found | ~(known[pos_c] if len(names) else np.zeros(n, dtype=bool))
    return (np.ascontiguousarray(fix_lo, dtype=np.int64), np.ascontiguousarray(fix_hi, dtype=np.int64),
            np.ascontiguousarray(win_lo, dtype=np.int64), np.ascontiguousarray(win_hi, dtype=np.int64),
            ws, we, unknown)


def _float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def geofence_arrays(frame: pd.DataFrame, ids: np.ndarray, what: str) -> gk.GeofenceArrays:
    """Build one geofence per row for the kernels.

    A row is a circle when ``center_x_m, center_y_m, radius_m`` are all given, else its
    ``geometry`` (shapely Polygon or MultiPolygon, metres).

    Raises
    ------
    InputError
        For a half-given circle, a radius <= 0, a missing, empty, non-polygonal or invalid geometry.
    """
    n = len(frame)
    cx = _float_column(frame, "center_x_m")
    cy = _float_column(frame, "center_y_m")
    r = _float_column(frame, "radius_m")
    given = np.isfinite(cx).astype(int) + np.isfinite(cy) + np.isfinite(r)
    circle = given == 3
    half = (given > 0) & ~circle
    if half.any():
        k = int(np.flatnonzero(half)[0])
        raise InputError(
            f"{what} {ids[k]!r}: a circle needs center_x_m, center_y_m and radius_m, got "
            f"{float(cx[k])!r}, {float(cy[k])!r}, {float(r[k])!r}"
        )
    bad_r = circle & ~(r > 0)
    if bad_r.any():
        k = int(np.flatnonzero(bad_r)[0])
        raise InputError(f"{what} {ids[k]!r}: radius_m must be > 0, got {float(r[k])!r}")
    raw = (frame["geometry"].to_numpy(dtype=object) if "geometry" in frame.columns
           else np.full(n, None, dtype=object))
    geoms = np.array([g if isinstance(g, shapely.Geometry) and not circle[i] else None
                      for i, g in enumerate(raw)], dtype=object)
    poly = ~circle
    type_id = shapely.get_type_id(geoms)
    wrong = poly & ~np.isin(type_id, (3, 6))
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        got = raw[k].geom_type if isinstance(raw[k], shapely.Geometry) else f"{raw[k]!r}"
        raise InputError(
            f"{what} {ids[k]!r}: the geofence must be a circle (center_x_m, center_y_m, radius_m) or a "
            f"Polygon / MultiPolygon geometry, got {got}"
        )
    empty = poly & shapely.is_empty(geoms)
    if empty.any():
        k = int(np.flatnonzero(empty)[0])
        raise InputError(f"{what} {ids[k]!r}: the geofence geometry is empty")
    invalid = poly & ~shapely.is_valid(geoms)
    if invalid.any():
        k = int(np.flatnonzero(invalid)[0])
        raise InputError(
            f"{what} {ids[k]!r}: the geofence geometry is not valid ({shapely.is_valid_reason(geoms[k])}); "
            "repair it, e.g. with shapely.make_valid"
        )
    kind = np.where(circle, gk.GEO_CIRCLE, gk.GEO_POLYGON).astype(np.int64)
    xmin, ymin, xmax, ymax = cx - r, cy - r, cx + r, cy + r
    counts = np.zeros(n, dtype=np.int64)
    ex0 = ey0 = ex1 = ey1 = np.zeros(0, dtype=np.float64)
    rows = np.flatnonzero(poly)
    if len(rows):
        b = shapely.bounds(geoms[rows])
        xmin[rows], ymin[rows], xmax[rows], ymax[rows] = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        parts, part_row = shapely.get_parts(geoms[rows], return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[:-1] == coord_ring[1:]
        owner = rows[part_row[ring_part[coord_ring[:-1][same]]]]
        order = np.argsort(owner, kind="stable")
        ex0 = coords[:-1, 0][same][order]
        ey0 = coords[:-1, 1][same][order]
        ex1 = coords[1:, 0][same][order]
        ey1 = coords[1:, 1][same][order]
        counts = np.bincount(owner, minlength=n).astype(np.int64)
    edge_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=edge_offsets[1:])
    c = np.ascontiguousarray
    return gk.GeofenceArrays(
        kind=c(kind), cx=c(cx), cy=c(cy), r=c(r), xmin=c(xmin), ymin=c(ymin), xmax=c(xmax), ymax=c(ymax),
        edge_offsets=edge_offsets, ex0=c(ex0, dtype=np.float64), ey0=c(ey0, dtype=np.float64),
        ex1=c(ex1, dtype=np.float64), ey1=c(ey1, dtype=np.float64),
    )
