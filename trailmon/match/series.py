"""Crime series against routine (SPEC §3): who turns up near a series of crimes more than their routine explains.

For a subject s and a crime c, ``hit`` is the §3 proximity hit. The routine probability p(s, c)
asks how often s is near that place at that time of day anyway: c's window is shifted by k whole
local days (Europe/London wall clock) for k in -14..-1, 1..14, and p is the share of *counted*
shifted days (s monitored throughout, coverage >= 50 %) on which s is a hit. The subject's
surprise over the series is the Poisson-binomial tail P(X >= k) of its hits on crimes with a
known p.

A shifted crime is a crime: every shifted window of every crime goes through the same batched
proximity path on one index (built on the subjects with at least one hit only), and one parallel
kernel gives the coverage of the shifted windows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.index import TrailIndex
from trailmon.index._cast import check_positive
from trailmon.io._time import localize_naive
from trailmon.match import _series_kernels as SK
from trailmon.match.proximity import _checked_index, _crime_arrays, _hits_of
from trailmon.report._columns import SERIES, SERIES_LONG
from trailmon.trail import _FIX_FIELDS, DEFAULT_MAX_GAP_S, FIX_HALO_S, Trails

__all__ = ["COUNTED_COVERAGE", "ROUTINE_P", "SERIES_TZ", "SeriesResult", "hit_subjects", "poisson_binomial_tail",
           "series", "shifted_windows"]

SERIES_TZ = "Europe/London"
"""Wall clock of the shifted days."""

COUNTED_COVERAGE = 0.5
"""A shifted day counts when the subject's coverage of the shifted window is at least this."""

ROUTINE_P = 0.5
"""A hit on a crime with p at least this is a ``routine_hits`` hit."""


class SeriesResult(NamedTuple):
    """The ranked subjects (columns ``SERIES``) and the long form per (subject, crime) (``SERIES_LONG``)."""

    ranked: pd.DataFrame
    long: pd.DataFrame


def poisson_binomial_tail(p, k: int) -> float:
    """P(X >= k) for X a sum of independent Bernoulli(p_i), exactly by convolution.

    Parameters
    ----------
    p : array-like of float, shape (n,)
        Success probabilities, each in [0, 1].
    k : int
        Threshold; ``k <= 0`` gives 1.0 (no claim).

    Returns
    -------
    float
        The upper tail probability.

    Examples
    --------
    >>> poisson_binomial_tail([0.5, 0.5], 2)
    0.25
    >>> poisson_binomial_tail([0.1, 0.2, 0.9], 0)
    1.0
    """
    p = np.asarray(p, dtype=np.float64)
    if not ((p >= 0) & (p <= 1)).all():
        raise InputError(f"probabilities must lie in [0, 1], got {p[~((p >= 0) & (p <= 1))][:3].tolist()}")
    if k <= 0:
        return 1.0
    if k > len(p):
        return 0.0
    dist = np.zeros(len(p) + 1)
    dist[0] = 1.0
    for i, pi in enumerate(p.tolist()):
        dist[1:i + 2] = dist[1:i + 2] * (1.0 - pi) + dist[0:i + 1] * pi
        dist[0] *= 1.0 - pi
    return float(min(1.0, dist[k:].sum()))


def shifted_windows(t1_s, t2_s, shifts, tz: str = SERIES_TZ) -> tuple[np.ndarray, np.ndarray]:
    """Crime windows moved by whole local days, seconds UTC, shape ``(n_crime, n_shift)`` each.

    Parameters
    ----------
    t1_s, t2_s : array, shape (n_crime,)
        Windows, seconds UTC.
    shifts : sequence of int
        Whole days to move each window by, on the wall clock of ``tz``.
    tz : str, default "Europe/London"
        The wall clock.

    Returns
    -------
    tuple of ndarray
        Shifted starts and ends, seconds UTC.

    Notes
    -----
    09:00-10:00 stays 09:00-10:00 across a clock change; a shifted local time that does not exist
    moves forward by the gap and one that occurs twice takes the first occurrence (SPEC §2).

    Examples
    --------
    >>> a, b = shifted_windows([1774774800.0], [1774778400.0], [-1])  # 2026-03-29 09:00-10:00 BST
    >>> float(b[0, 0] - a[0, 0]), float(a[0, 0] - 1774774800.0) / 3600  # 2026-03-28 09:00-10:00 GMT
    (3600.0, -23.0)
    """
    t1 = np.asarray(t1_s, dtype=np.float64)
    t2 = np.asarray(t2_s, dtype=np.float64)
    shifts = np.asarray(list(shifts), dtype=np.int64)
    out = []
    for t in (t1, t2):
        ns = np.round(t * 1e9).astype(np.int64)
        wall = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz).tz_localize(None)
        moved = np.repeat(wall.to_numpy(), len(shifts)) + np.tile(shifts * 86_400_000_000_000, len(t)).astype(
            "timedelta64[ns]")
        utc = localize_naive(pd.DatetimeIndex(moved), tz)
        out.append(utc.asi8.astype(np.float64).reshape(len(t), len(shifts)) / 1e9)
    a, b = out
    return a, np.maximum(a, b)


def _subset(trails: Trails, subjects: np.ndarray) -> Trails:
    """The trails of these subject positions only (sorted, unique), windows included."""
    off = trails.offsets
    counts = off[subjects + 1] - off[subjects]
    fix = np.concatenate([np.arange(off[s], off[s + 1]) for s in subjects.tolist()]) if len(subjects) else (
        np.zeros(0, dtype=np.int64))
    woff = trails.win_offsets
    win = np.concatenate([np.arange(woff[s], woff[s + 1]) for s in subjects.tolist()]) if len(subjects) else (
        np.zeros(0, dtype=np.int64))
    offsets = np.zeros(len(subjects) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    win_offsets = np.zeros(len(subjects) + 1, dtype=np.int64)
    np.cumsum(woff[subjects + 1] - woff[subjects], out=win_offsets[1:])
    return trails._replace(subject_ids=trails.subject_ids[subjects], offsets=offsets,
                           **{f: np.ascontiguousarray(getattr(trails, f)[fix]) for f in _FIX_FIELDS},
                           win_offsets=win_offsets, win_start_s=trails.win_start_s[win],
                           win_end_s=trails.win_end_s[win], window_known=trails.window_known[subjects])


def hit_subjects(trails: Trails, crimes: pd.DataFrame, *, radius_m: float = 100.0,
                 max_gap_s: float = DEFAULT_MAX_GAP_S) -> list[str]:
    """The subjects with a §3 hit on at least one of the crimes (the only ones :func:`series` lists), sorted.

    A reader of a large store reads the crime windows for everyone, then the ±days span for these
    subjects only: :func:`series` on those trails gives the same rows.
    """
    radius_m = check_positive("radius_m", radius_m)
    max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
    cr = _crime_arrays(crimes, radius_m)
    if not len(cr.ref) or not trails.n_fixes:
        return []
    h = _hits_of(TrailIndex.build(trails, max_gap_s=max_gap_s), cr.x, cr.y, cr.r, cr.t1, cr.t2, False)
    return sorted(str(s) for s in trails.subject_ids[np.unique(h.subject)])


def series(
    trails: Trails,
    crimes: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    days: int = 14,
    tz: str = SERIES_TZ,
    index: TrailIndex | None = None,
) -> SeriesResult:
    """Rank subjects by how far their hits on a crime series exceed their routine.

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows, covering the crime windows
        and ``days`` local days either side (plus ``max_gap_s``).
    crimes : DataFrame
        The series, as for :func:`trailmon.match.proximity.proximity` (scene in store metres,
        tz-aware window, optional ``radius_m`` and ``crime_version``).
    radius_m : float, default 100.0
        Radius for crimes without their own, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    days : int, default 14
        Shifts of -days..-1 and 1..days whole local days make the routine baseline.
    tz : str, default "Europe/London"
        Wall clock of the shifts.
    index : TrailIndex, optional
        An index on ``trails`` with this ``max_gap_s``, for the crimes themselves.

    Returns
    -------
    SeriesResult
        ``ranked``: one row per subject with at least one hit (``SERIES``), by ``p_tail``
        ascending, then ``n_hits`` descending, then ``subject_id``; ``long``: one row per
        (listed subject, crime) (``SERIES_LONG``), subjects in rank order, crimes in input order.

    Raises
    ------
    InputError
        For a bad parameter or crime frame (as :func:`~trailmon.match.proximity.proximity`).

    Notes
    -----
    A shifted day counts when s is monitored throughout the shifted window and covers at least
    50 % of it; p = (counted days with a §3 hit) / (counted days), unknown with no counted day.
    ``expected_hits`` sums p over the crimes with p known, ``n_unknown`` counts the others,
    ``p_tail`` = P(X >= k) with k the hits on crimes with p known and X Poisson-binomial over those
    crimes (1.0 when k = 0), ``routine_hits`` counts hits with p >= 0.5. Results depend on each
    subject's own trail only, so trails holding only some subjects give their rows unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.testing import make_trail
    >>> t0 = 1784030400.0  # a Tuesday, 12:00 UTC
    >>> fixes = [(t0 + d * 86400 + m * 60, 0.0 if d == 0 else 5000.0, 0.0) for d in range(-3, 4) for m in range(11)]
    >>> tr = make_trail(fixes)
    >>> t = pd.to_datetime([t0, t0 + 600], unit="s", utc=True)
    >>> crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [0.0], "y_m": [0.0],
    ...                        "committed_from": t[:1], "committed_to": t[1:]})
    >>> res = series(tr, crimes, days=3)
    >>> res.ranked[["subject_id", "n_hits", "expected_hits", "p_tail"]].values.tolist()
    [['S1', 1, 0.0, 0.0]]
    >>> res.long[["hit", "p", "counted_days"]].values.tolist()
    [[True, 0.0, 6]]
    """
    radius_m = check_positive("radius_m", radius_m)
    max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise InputError(f"days must be a whole number of days >= 1, got {days!r}")
    cr = _crime_arrays(crimes, radius_m)
    index = _checked_index(trails, index, max_gap_s)
    n_crime = len(cr.ref)
    h0 = _hits_of(index, cr.x, cr.y, cr.r, cr.t1, cr.t2, False) if n_crime else None
    hit_subjects = np.unique(h0.subject) if n_crime else np.zeros(0, dtype=np.int64)
    if not len(hit_subjects):
        return SeriesResult(_empty(SERIES), _empty(SERIES_LONG))
    n_sub = len(hit_subjects)
    pos = {int(s): k for k, s in enumerate(hit_subjects.tolist())}
    hit = np.zeros((n_sub, n_crime), dtype=bool)
    hit[[pos[int(s)] for s in h0.subject.tolist()], h0.crime] = True

    # every shifted window of every crime, on an index of the hit subjects only
    shifts = [k for k in range(-days, days + 1) if k != 0]
    n_shift = len(shifts)
    a, b = shifted_windows(cr.t1, cr.t2, shifts, tz)
    sub = _subset(trails, hit_subjects)
    sub_index = TrailIndex.build(sub, max_gap_s=max_gap_s)
    rep = np.repeat
    qa, qb = a.ravel(), b.ravel()
    hs = _hits_of(sub_index, rep(cr.x, n_shift), rep(cr.y, n_shift), rep(cr.r, n_shift), qa, qb, False)
    day_hit = np.zeros((n_sub, n_crime * n_shift), dtype=bool)
    day_hit[hs.subject, hs.crime] = True

    # which shifted days count: monitored throughout, coverage >= 50 %
    subj = rep(np.arange(n_sub, dtype=np.int64), n_crime * n_shift)
    cov, mon = SK.day_coverage(sub.t_s, sub.offsets, sub.win_start_s, sub.win_end_s, sub.win_offsets, subj,
                               np.tile(qa, n_sub), np.tile(qb, n_sub), float(max_gap_s), FIX_HALO_S)
    counted = (mon & (cov >= COUNTED_COVERAGE)).reshape(n_sub, n_crime, n_shift)
    counted_days = counted.sum(axis=2)
    hit_days = (counted & day_hit.reshape(n_sub, n_crime, n_shift)).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(counted_days > 0, hit_days / np.maximum(counted_days, 1), np.nan)

    known = ~np.isnan(p)
    n_hits = hit.sum(axis=1)
    k_known = (hit & known).sum(axis=1)
    expected = np.where(known, p, 0.0).sum(axis=1)
    tail = np.array([poisson_binomial_tail(p[i][known[i]], int(k_known[i])) for i in range(n_sub)])
    routine = (hit & known & (p >= ROUTINE_P)).sum(axis=1)
    sid = trails.subject_ids[hit_subjects].astype(object)
    order = np.lexsort((sid.astype(str), -n_hits, tail))
    ranked = pd.DataFrame({
        "subject_id": sid[order],
        "n_hits": n_hits[order].astype(np.int64),
        "expected_hits": expected[order],
        "n_unknown": (~known).sum(axis=1)[order].astype(np.int64),
        "p_tail": tail[order],
        "routine_hits": routine[order].astype(np.int64),
    })[SERIES]
    rows = np.repeat(order, n_crime)
    cols = np.tile(np.arange(n_crime), n_sub)
    long = pd.DataFrame({
        "subject_id": sid[rows],
        "crime_ref": cr.ref[cols],
        "crime_version": cr.version[cols],
        "hit": hit[rows, cols],
        "p": p[rows, cols],
        "counted_days": counted_days[rows, cols].astype(np.int64),
    })[SERIES_LONG]
    return SeriesResult(ranked.reset_index(drop=True), long.reset_index(drop=True))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
