"""Co-location (SPEC §3): who was together (within D of each other) and for how long, exactly.

Two subjects are together at instant t when both positions are known (on a segment, or at a fix
instant) and their distance is at most D. On overlapping segments the relative motion is linear,
so the squared distance is a quadratic in t and the together time is exact. Candidate pairs come
from an occupancy index of (cell, hour) keys: a pair is evaluated only in hours in which both
occupy neighbouring cells (cells at least D wide), never all pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.crs import BNG_CRS, StoreCRS
from trailmon.errors import InputError
from trailmon.index._cast import check_positive
from trailmon.io._time import instant_s
from trailmon.match import _association_kernels as K
from trailmon.match.proximity import _times
from trailmon.report._columns import ASSOCIATIONS
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["ASSOCIATION_CELL_M", "HOUR_S", "associations", "known_pieces"]

ASSOCIATION_CELL_M = 250.0
"""Cell size of the occupancy index, metres (at least D: together subjects lie in neighbouring cells)."""

HOUR_S = 3600.0
"""Time bucket of the occupancy index, seconds."""


def known_pieces(trails: Trails, t_from_s: float, t_to_s: float, *, max_gap_s: float = DEFAULT_MAX_GAP_S,
                 max_accuracy_m: float = 100.0):
    """The known parts of each trail, clipped to the monitoring windows and ``[t_from_s, t_to_s]``.

    Returns
    -------
    tuple
        ``(trails used, fix i, fix j, start s, end s, subject, piece offsets (n_subject + 1,))``: a segment
        ``i -> j = i + 1`` between linked fixes or an isolated fix ``i == j``, CSR by subject, in time order.
        Fixes less accurate than ``max_accuracy_m`` are set aside first, so their neighbours join across them.
    """
    acc = trails.accuracy_m
    keep = ~(acc > max_accuracy_m)  # a missing accuracy is not evidence against the fix
    tr = trails if keep.all() else trails.select_fixes(keep)
    t = tr.t_s
    sof = tr.subject_of_fix() if tr.n_fixes else np.zeros(0, dtype=np.int64)
    n = tr.n_fixes
    linked = np.zeros(max(n - 1, 0), dtype=bool)
    if n > 1:
        linked = (sof[1:] == sof[:-1]) & (t[1:] - t[:-1] <= max_gap_s)
    prev = np.concatenate([[False], linked])
    nxt = np.concatenate([linked, [False]])
    # one piece per fix that starts a segment or stands alone: in fix order, so by subject and time
    pi = np.flatnonzero(nxt | ~prev).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    pj = np.where(nxt[pi], pi + 1, pi).astype(np.int64)
    ps = sof[pi] if n else np.zeros(0, dtype=np.int64)
    # every monitoring window of the piece's subject
    nwin = (tr.win_offsets[1:] - tr.win_offsets[:-1])[ps]
    rep = np.repeat(np.arange(len(pi)), nwin)
    first = np.repeat(tr.win_offsets[:-1][ps], nwin)
    within = np.arange(len(rep)) - np.repeat(np.cumsum(nwin) - nwin, nwin)
    w = first + within
    pi, pj, ps = pi[rep], pj[rep], ps[rep]
    a = np.maximum(np.maximum(t[pi], tr.win_start_s[w]), t_from_s)
    b = np.minimum(np.minimum(t[pj], tr.win_end_s[w]), t_to_s)
    ok = a <= b  # pieces stay in order: each one's clipped parts follow its subject's sorted windows
    pi, pj, ps, a, b = pi[ok], pj[ok], ps[ok], a[ok], b[ok]
    poff = np.searchsorted(ps, np.arange(tr.n_subjects + 1)).astype(np.int64)
    return tr, pi, pj, a, b, ps, poff


def associations(
    trails: Trails,
    t_from,
    t_to,
    *,
    distance_m: float = 50.0,
    min_duration_s: float = 600.0,
    subjects=None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    crs: StoreCRS | None = None,
) -> pd.DataFrame:
    """Episodes of two subjects together (within ``distance_m`` of each other) between ``t_from`` and ``t_to``.

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows, covering the period (plus ``max_gap_s``).
    t_from, t_to : datetime-like
        The period, tz-aware; episodes are clipped to it.
    distance_m : float, default 50.0
        Together means at most this far apart, metres.
    min_duration_s : float, default 600.0
        Shortest episode reported, seconds (0 reports every together instant).
    subjects : iterable of str, optional
        Keep only pairs involving at least one of these subjects.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Fixes less accurate than this are set aside before segments are built, metres.
    crs : StoreCRS, optional
        The store's CRS, for the WGS84 position of the closest approach (British National Grid when omitted).

    Returns
    -------
    DataFrame
        One row per episode (columns ``ASSOCIATIONS``), by ``subject_a``, ``subject_b``, ``start``.

    Raises
    ------
    InputError
        For a bad parameter or period.
    TimezoneError
        When ``t_from`` or ``t_to`` carries no time zone.

    Notes
    -----
    Both positions must be known (SPEC §3 trail model) and both subjects monitored; unknown time
    and time outside either's monitoring window split an episode, touching intervals merge.
    ``closest_time`` is the first instant of the least distance; the position reported is the
    midpoint of the two at that instant. The candidate pairs are exact supersets of the pairs
    ever together: at any together instant both lie in neighbouring cells of the occupancy index
    in the same hour, since cells are at least ``distance_m`` wide.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.testing import make_trail
    >>> a = [(60.0 * k, 10.0 * k, 0.0, 5.0, "gps", "A") for k in range(13)]
    >>> b = [(60.0 * k, 10.0 * k, 30.0, 5.0, "gps", "B") for k in range(13)]
    >>> ep = associations(make_trail(a + b), pd.Timestamp(0, tz="UTC"), pd.Timestamp(720, unit="s", tz="UTC"))
    >>> ep[["subject_a", "subject_b", "duration_s", "min_distance_m"]].values.tolist()
    [['A', 'B', 720.0, 30.0]]
    """
    distance_m = check_positive("distance_m", distance_m)
    min_duration_s = check_positive("min_duration_s", min_duration_s, allow_zero=True)
    max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
    max_accuracy_m = check_positive("max_accuracy_m", max_accuracy_m)
    a_s, b_s = instant_s("t_from", t_from), instant_s("t_to", t_to)
    if b_s < a_s:
        raise InputError(f"t_to must not precede t_from, got t_from={t_from!r}, t_to={t_to!r}")
    crs = crs or BNG_CRS()
    tr, pi, pj, pa, pb, ps, poff = known_pieces(trails, a_s, b_s, max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m)
    if len(pi) == 0:
        return _empty()
    cell = max(ASSOCIATION_CELL_M, float(distance_m))
    lo_x = np.minimum(tr.x_m[pi], tr.x_m[pj])
    hi_x = np.maximum(tr.x_m[pi], tr.x_m[pj])
    lo_y = np.minimum(tr.y_m[pi], tr.y_m[pj])
    hi_y = np.maximum(tr.y_m[pi], tr.y_m[pj])
    cx0 = int(np.floor(lo_x.min() / cell))
    cy0 = int(np.floor(lo_y.min() / cell))
    nx = int(np.floor(hi_x.max() / cell)) - cx0 + 1
    ny = int(np.floor(hi_y.max() / cell)) - cy0 + 1
    h0 = int(np.floor(pa.min() / HOUR_S))
    keys, ksub = K.occupancy_keys(tr.t_s, tr.x_m, tr.y_m, pi, pj, pa, pb, ps, cell, HOUR_S, cx0, cy0, h0, nx, ny)
    # distinct (key, subject), grouped by key
    order = np.lexsort((ksub, keys))
    keys, ksub = keys[order], ksub[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]) | (ksub[1:] != ksub[:-1])
    keys, ksub = keys[new], ksub[new]
    gstart = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, int)
    goff = np.append(gstart, len(keys)).astype(np.int64)
    ca, cb, ck = K.candidate_pairs(np.ascontiguousarray(keys[gstart]), goff, np.ascontiguousarray(ksub), nx, ny)
    if subjects is not None:
        wanted = np.isin(tr.subject_ids, np.asarray([str(s) for s in subjects], dtype=object))
        keep = wanted[ca] | wanted[cb]
        ca, cb, ck = ca[keep], cb[keep], ck[keep]
    if len(ca) == 0:
        return _empty()
    n_sub = max(tr.n_subjects, 1)
    span = int(ck.max()) + 1
    trip = np.unique((ca * n_sub + cb) * span + ck)  # sorted by pair, then hour
    hour = trip % span
    pair = trip // span
    w0 = np.maximum((h0 + hour) * HOUR_S, a_s)
    w1 = np.minimum((h0 + hour + 1) * HOUR_S, b_s)
    off, rows = K.together_intervals(tr.t_s, tr.x_m, tr.y_m, pi, pj, pa, pb, poff, pair // n_sub, pair % n_sub,
                                     w0, w1, float(distance_m))
    # intervals come in time order within a (pair, hour), so by pair and start overall
    ep, ev = K.merge_episodes(np.repeat(pair, np.diff(off)), rows)
    keep = ev[:, 1] - ev[:, 0] >= min_duration_s
    ep, ev = ep[keep], ev[keep]
    if len(ep) == 0:
        return _empty()
    lon, lat = crs.to_wgs84(ev[:, 4], ev[:, 5])
    start, end, closest = _times(ev[:, 0], ev[:, 1], ev[:, 3])
    return pd.DataFrame({
        "subject_a": tr.subject_ids[ep // n_sub].astype(object),
        "subject_b": tr.subject_ids[ep % n_sub].astype(object),
        "start": start,
        "end": end,
        "duration_s": ev[:, 1] - ev[:, 0],
        "min_distance_m": np.sqrt(ev[:, 2]),
        "closest_time": closest,
        "lat": lat,
        "lon": lon,
        "easting": ev[:, 4],
        "northing": ev[:, 5],
    })[ASSOCIATIONS]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in ASSOCIATIONS})
