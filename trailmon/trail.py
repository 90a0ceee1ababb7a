"""The trail model as a struct of arrays, ready for numba kernels.

A :class:`Trails` holds the fixes of many subjects, sorted by subject then time, with
``offsets`` marking each subject's run (CSR), and each subject's monitoring windows in the
same CSR form. Kernels receive these arrays as they are: metres in the store's projected
CRS, seconds since the Unix epoch in UTC.

Between consecutive fixes at most ``max_gap_s`` apart the position is interpolated linearly
in time; across a larger gap nothing is known, and each fix is still a point at its instant.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_ACCURACY_M",
    "DEFAULT_MAX_GAP_S",
    "FIX_HALO_S",
    "FIX_TYPES",
    "FLAG_NAMES",
    "FLAG_SPEED_JUMP",
    "SPEED_JUMP_MPS",
    "Trails",
    "flags_to_text",
    "make_trails",
    "speed_heading",
]

FIX_TYPES: tuple[str, ...] = ("gps", "lbs", "wifi", "rf")
"""Fix type names; the code stored in ``Trails.fix_type`` is the position in this tuple."""

DEFAULT_ACCURACY_M = {"gps": 10.0, "lbs": 500.0, "wifi": 50.0, "rf": 50.0}
"""Supplier confidence radius when a fix carries none, metres (SPEC §2)."""

DEFAULT_MAX_GAP_S = 600.0
"""Longest gap between fixes that is still interpolated, seconds (SPEC §3)."""

FIX_HALO_S = 60.0
"""Time either side of a fix during which the position counts as known for coverage, seconds."""

SPEED_JUMP_MPS = 70.0
"""Implied speed above which the later fix is flagged ``speed_jump``, metres per second."""

FLAG_SPEED_JUMP = 1
FLAG_NAMES = {FLAG_SPEED_JUMP: "speed_jump"}

_UNBOUNDED = (-np.inf, np.inf)


class Trails(NamedTuple):
    """Fixes of many subjects as contiguous arrays (CSR by subject).

    Attributes
    ----------
    subject_ids : ndarray of object, shape (n_subject,)
        Subject identifiers, sorted.
    offsets : ndarray of int64, shape (n_subject + 1,)
        Fixes of subject ``k`` are ``offsets[k]:offsets[k + 1]``.
    t_s : ndarray of float64, shape (n_fix,)
        Fix instants, seconds since the Unix epoch, UTC; increasing within a subject.
    x_m, y_m : ndarray of float64, shape (n_fix,)
        Position in the store's projected CRS, metres.
    lat, lon : ndarray of float64, shape (n_fix,)
        Position in WGS84 degrees, for outputs.
    accuracy_m : ndarray of float64, shape (n_fix,)
        Supplier confidence radius, metres (defaults applied by fix type).
    fix_type : ndarray of int8, shape (n_fix,)
        Index into :data:`FIX_TYPES`.
    speed_mps, heading_deg : ndarray of float64, shape (n_fix,)
        Supplier speed (m/s) and heading (degrees clockwise from grid north); NaN when absent.
    flags : ndarray of int32, shape (n_fix,)
        Bit flags (:data:`FLAG_SPEED_JUMP`).
    win_offsets : ndarray of int64, shape (n_subject + 1,)
        Monitoring windows of subject ``k`` are ``win_offsets[k]:win_offsets[k + 1]``.
    win_start_s, win_end_s : ndarray of float64, shape (n_window,)
        Monitoring windows, seconds UTC, sorted and disjoint; ``(-inf, inf)`` when unknown.
    window_known : ndarray of bool, shape (n_subject,)
        False for subjects whose monitoring window is unknown (matched, and flagged
        ``monitoring_window_unknown``).
    t_ns : ndarray of int64, shape (n_fix,), optional
        The same instants as recorded, integer nanoseconds UTC (read from the store); None where
        the trails were built from seconds. Outputs take fix times from here, exactly.
    """

    subject_ids: np.ndarray
    offsets: np.ndarray
    t_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy_m: np.ndarray
    fix_type: np.ndarray
    speed_mps: np.ndarray
    heading_deg: np.ndarray
    flags: np.ndarray
    win_offsets: np.ndarray
    win_start_s: np.ndarray
    win_end_s: np.ndarray
    window_known: np.ndarray
    t_ns: np.ndarray | None = None

    @property
    def n_subjects(self) -> int:
        """Number of subjects."""
        return len(self.subject_ids)

    @property
    def n_fixes(self) -> int:
        """Number of fixes."""
        return len(self.t_s)

    def subject_index(self, subject_id: str) -> int:
        """Position of ``subject_id`` in :attr:`subject_ids`, or -1."""
        k = int(np.searchsorted(self.subject_ids, subject_id))
        if k < len(self.subject_ids) and self.subject_ids[k] == subject_id:
            return k
        return -1

    def subject_of_fix(self) -> np.ndarray:
        """Subject position of every fix, shape ``(n_fix,)``."""
        return np.repeat(np.arange(self.n_subjects, dtype=np.int64), np.diff(self.offsets))

    def select_fixes(self, keep: np.ndarray) -> Trails:
        """A new :class:`Trails` with only the fixes where ``keep`` is true (subjects kept)."""
        keep = np.asarray(keep, dtype=bool)
        counts = np.add.reduceat(keep.astype(np.int64), self.offsets[:-1]) if self.n_fixes else (
            np.zeros(self.n_subjects, dtype=np.int64))
        counts = np.where(np.diff(self.offsets) > 0, counts, 0)
        offsets = np.zeros(self.n_subjects + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        per_fix = {f: getattr(self, f)[keep] for f in _FIX_FIELDS}
        if self.t_ns is not None:
            per_fix["t_ns"] = self.t_ns[keep]
        return self._replace(offsets=offsets, **per_fix)

    def to_frame(self) -> pd.DataFrame:
        """One row per fix: ``subject_id, time`` (UTC) and the per-fix arrays."""
        return pd.DataFrame({
            "subject_id": self.subject_ids[self.subject_of_fix()] if self.n_fixes else np.array([], object),
            "time": pd.to_datetime(np.round(self.t_s * 1e6).astype("int64"), unit="us", utc=True),
            "x_m": self.x_m, "y_m": self.y_m, "lat": self.lat, "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "fix_type": np.asarray(FIX_TYPES, dtype=object)[self.fix_type.astype(np.int64)],
            "speed_mps": self.speed_mps, "heading_deg": self.heading_deg, "flags": self.flags,
        })


_FIX_FIELDS = ("t_s", "x_m", "y_m", "lat", "lon", "accuracy_m", "fix_type", "speed_mps", "heading_deg", "flags")


def flags_to_text(flags: np.ndarray) -> np.ndarray:
    """Bit flags to ``;``-joined names (``""`` when none)."""
    out = np.full(len(flags), "", dtype=object)
    for bit, name in FLAG_NAMES.items():
        has = (np.asarray(flags) & bit) != 0
        out[has] = np.where(out[has] == "", name, out[has] + ";" + name)
    return out


def make_trails(
    subject_id: np.ndarray,
    t_s: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    *,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    accuracy_m: np.ndarray | None = None,
    fix_type: np.ndarray | None = None,
    speed_mps: np.ndarray | None = None,
    heading_deg: np.ndarray | None = None,
    flags: np.ndarray | None = None,
    windows: dict[str, list[tuple[float, float]]] | None = None,
) -> Trails:
    """Build :class:`Trails` from flat per-fix arrays (any order).

    Parameters
    ----------
    subject_id : array of str, shape (n_fix,)
        Subject of each fix.
    t_s : array of float, shape (n_fix,)
        Seconds since the Unix epoch, UTC.
    x_m, y_m : array of float, shape (n_fix,)
        Projected position, metres.
    lat, lon : array of float, optional
        WGS84 degrees; NaN when not given.
    accuracy_m : array of float, optional
        Confidence radius, metres; NaN takes the fix type's default.
    fix_type : array of str or int, optional
        ``gps|lbs|wifi|rf`` or codes; default gps.
    speed_mps, heading_deg : array of float, optional
        Supplier speed (m/s) and heading (degrees); NaN when absent.
    flags : array of int, optional
        Bit flags.
    windows : dict, optional
        ``subject_id -> [(start_s, end_s), ...]`` monitoring windows, seconds UTC. Subjects
        not in it (or all, when None) have an unknown window: monitored throughout.

    Returns
    -------
    Trails
        Sorted by subject then time. Fixes are not deduplicated here (the store does that).
    """
    sid = np.asarray(subject_id, dtype=object)
    n = len(sid)
    t = np.asarray(t_s, dtype=np.float64)

    def col(v, fill, dtype):
        if v is None:
            return np.full(n, fill, dtype=dtype)
        return np.asarray(v, dtype=dtype)

    ft = np.zeros(n, dtype=np.int8) if fix_type is None else _fix_codes(np.asarray(fix_type))
    acc = col(accuracy_m, np.nan, np.float64).copy()
    defaults = np.array([DEFAULT_ACCURACY_M[f] for f in FIX_TYPES])
    missing = np.isnan(acc)
    acc[missing] = defaults[ft[missing]]
    order = np.lexsort((t, sid.astype(str))) if n else np.zeros(0, dtype=np.int64)
    sid_sorted = sid[order].astype(str)
    subjects, starts = np.unique(sid_sorted, return_index=True)
    offsets = np.append(starts, n).astype(np.int64)
    fields = {
        "t_s": t, "x_m": col(x_m, np.nan, np.float64), "y_m": col(y_m, np.nan, np.float64),
        "lat": col(lat, np.nan, np.float64), "lon": col(lon, np.nan, np.float64), "accuracy_m": acc,
        "fix_type": ft, "speed_mps": col(speed_mps, np.nan, np.float64),
        "heading_deg": col(heading_deg, np.nan, np.float64), "flags": col(flags, 0, np.int32),
    }
    fields = {k: np.ascontiguousarray(v[order]) for k, v in fields.items()}
    win_off, ws, we, known = windows_to_csr(subjects, windows)
    return Trails(subject_ids=subjects.astype(object), offsets=offsets, win_offsets=win_off,
                  win_start_s=ws, win_end_s=we, window_known=known, **fields)


def _fix_codes(fix_type: np.ndarray) -> np.ndarray:
    if fix_type.dtype.kind in "iu":
        return fix_type.astype(np.int8)
    lookup = {name: i for i, name in enumerate(FIX_TYPES)}
    return np.array([lookup[str(f).lower()] for f in fix_type], dtype=np.int8)


def windows_to_csr(
    subjects: np.ndarray, windows: dict[str, list[tuple[float, float]]] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Monitoring windows per subject as CSR arrays, merged where they overlap or touch.

    Returns ``(win_offsets, win_start_s, win_end_s, window_known)``; a subject without
    windows gets the single window ``(-inf, inf)`` and ``window_known = False``.
    """
    windows = windows or {}
    offs = [0]
    starts: list[float] = []
    ends: list[float] = []
    known = np.zeros(len(subjects), dtype=bool)
    for k, s in enumerate(subjects):
        ws = sorted((float(a), float(b)) for a, b in windows.get(str(s), []) if b >= a)
        if ws:
            known[k] = True
            merged = [list(ws[0])]
            for a, b in ws[1:]:
                if a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
        else:
            merged = [list(_UNBOUNDED)]
        for a, b in merged:
            starts.append(a)
            ends.append(b)
        offs.append(len(starts))
    return (np.asarray(offs, dtype=np.int64), np.asarray(starts, dtype=np.float64),
            np.asarray(ends, dtype=np.float64), known)


def speed_heading(trails: Trails) -> tuple[np.ndarray, np.ndarray]:
    """Speed (m/s) and heading (degrees clockwise from grid north, 0-360) of every fix.

    The supplier's values where given; otherwise from the neighbouring fixes of the same
    subject (previous to next fix; one-sided at the ends); NaN for a lone fix.
    """
    n = trails.n_fixes
    if n == 0:
        return np.zeros(0), np.zeros(0)
    sid = trails.subject_of_fix()
    prev = np.arange(n) - 1
    nxt = np.arange(n) + 1
    has_prev = np.r_[False, sid[1:] == sid[:-1]]
    has_next = np.r_[sid[1:] == sid[:-1], False]
    a = np.where(has_prev, prev, np.arange(n))
    b = np.where(has_next, nxt, np.arange(n))
    dx = trails.x_m[b] - trails.x_m[a]
    dy = trails.y_m[b] - trails.y_m[a]
    dt = trails.t_s[b] - trails.t_s[a]
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, np.hypot(dx, dy) / dt, np.nan)
    heading = np.where((dx != 0) | (dy != 0), np.degrees(np.arctan2(dx, dy)) % 360.0, np.nan)
    speed = np.where(np.isnan(trails.speed_mps), speed, trails.speed_mps)
    heading = np.where(np.isnan(trails.heading_deg), heading, trails.heading_deg)
    return speed, heading


def strictly_increasing(codes: np.ndarray, t: np.ndarray) -> bool:
    """Whether rows are ordered by (subject code, instant) with no (code, instant) twice.

    Examples
    --------
    >>> c = np.array([0, 0, 1])
    >>> strictly_increasing(c, np.array([1, 2, 0])), strictly_increasing(c, np.array([1, 1, 0]))
    (True, False)
    """
    if len(codes) < 2:
        return True
    c0, c1 = codes[:-1], codes[1:]
    if (c1 < c0).any():
        return False
    return bool(((c1 > c0) | (t[1:] > t[:-1])).all())
