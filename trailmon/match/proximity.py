"""Exact crime-scene proximity (SPEC §3): hits, their evidence, and gaps near the scene.

The public functions validate their input, hand plain arrays to the kernels in
:mod:`trailmon.match._proximity_kernels` (through :class:`~trailmon.index.TrailIndex` for the
many-crime path) and wrap the results into the frames of :mod:`trailmon.report._columns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from trailmon.crs import BNG_CRS, StoreCRS
from trailmon.errors import InputError, TimezoneError
from trailmon.index import TrailIndex
from trailmon.index import _kernels as IK
from trailmon.index._cast import check_positive, check_query
from trailmon.io._time import instant_s
from trailmon.match import _proximity_kernels as K
from trailmon.match.reachability import gap_reachability
from trailmon.report._columns import EVIDENCE, GAPS
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S, FIX_TYPES, Trails, flags_to_text

__all__ = ["CONFIDENCE", "EVIDENCE_MARGIN_M", "GAP_COVERAGE_BELOW", "GAP_NEAR_M", "GapArrays", "HitArrays",
           "EvidenceBatches", "ProximityArrays", "ProximityResult", "crimes_near_subject", "proximity",
           "proximity_arrays"]

EVIDENCE_MARGIN_M = 50.0
"""Evidence holds the fixes within R + this margin, metres (SPEC §3)."""

GAP_NEAR_M = 1000.0
"""Both fixes bracketing a gap near the scene lie within this distance of it, metres (SPEC §3)."""

GAP_COVERAGE_BELOW = 0.5
"""A gap near the scene is listed only for subjects whose coverage of the window is below this."""

CONFIDENCE: tuple[str, ...] = ("high", "medium", "low")
"""Confidence names; :attr:`HitArrays.confidence` holds the position in this tuple."""

FLAG_WINDOW_UNKNOWN = "monitoring_window_unknown"

_CONFIDENCE_OBJ = np.array(CONFIDENCE, dtype=object)

_REQUIRED = ("crime_ref", "x_m", "y_m", "committed_from", "committed_to")


class ProximityResult(NamedTuple):
    """Frames of one proximity run, columns exactly as in :mod:`trailmon.report._columns`.

    Attributes
    ----------
    hits : DataFrame
        One row per (crime, subject) hit (and ``low`` candidate), columns ``HITS``.
    evidence : DataFrame
        Supporting fixes and first/last points of each pass, columns ``EVIDENCE``.
    gaps : DataFrame
        Gaps near the scene of non-hit subjects, columns ``GAPS``.
    """

    hits: pd.DataFrame
    evidence: pd.DataFrame
    gaps: pd.DataFrame


class HitArrays(NamedTuple):
    """Hits (and ``low`` candidates) as arrays, one element per (crime, subject), by crime then subject.

    Attributes
    ----------
    crime : ndarray of int64, shape (n_hit,)
        Position of the crime in the query arrays (or the crime frame's rows).
    subject : ndarray of int64, shape (n_hit,)
        Subject position in ``trails.subject_ids``.
    min_distance_m : ndarray of float64, shape (n_hit,)
        Exact closest approach over the window, metres.
    closest_time_s : ndarray of float64, shape (n_hit,)
        First instant of the closest approach, seconds UTC.
    first_within_s, last_within_s : ndarray of float64, shape (n_hit,)
        First and last instant within R, seconds UTC; NaN for ``low`` candidates.
    dwell_s : ndarray of float64, shape (n_hit,)
        Seconds within R inside the window.
    passes, n_fixes_within : ndarray of int64, shape (n_hit,)
        Passes, and fixes within R inside the window.
    between_fixes : ndarray of bool, shape (n_hit,)
        A hit with no fix within R.
    accuracy_m : ndarray of float64, shape (n_hit,)
        Accuracy at the closest approach, metres.
    confidence : ndarray of int8, shape (n_hit,)
        Position in :data:`CONFIDENCE` (0 high, 1 medium, 2 low).
    coverage : ndarray of float64, shape (n_hit,)
        Fraction of the window known and monitored, 0-1.
    """

    crime: np.ndarray
    subject: np.ndarray
    min_distance_m: np.ndarray
    closest_time_s: np.ndarray
    first_within_s: np.ndarray
    last_within_s: np.ndarray
    dwell_s: np.ndarray
    passes: np.ndarray
    n_fixes_within: np.ndarray
    between_fixes: np.ndarray
    accuracy_m: np.ndarray
    confidence: np.ndarray
    coverage: np.ndarray


class GapArrays(NamedTuple):
    """Gaps near the scene as arrays, one element per gap, by crime (then as in the ``gaps`` frame).

    Attributes
    ----------
    crime : ndarray of int64, shape (n_gap,)
        Position of the crime.
    subject : ndarray of int64, shape (n_gap,)
        Subject position in ``trails.subject_ids``; never a hit (or reported candidate) of that crime.
    fix : ndarray of int64, shape (n_gap,)
        The gap is between fixes ``fix`` and ``fix + 1`` (global positions in the trails).
    gap_start_s, gap_end_s : ndarray of float64, shape (n_gap,)
        Instants of the bracketing fixes, seconds UTC.
    before_distance_m, after_distance_m : ndarray of float64, shape (n_gap,)
        Distance of the bracketing fixes from the scene, metres.
    coverage : ndarray of float64, shape (n_gap,)
        The subject's coverage of the crime window, 0-1 (below :data:`GAP_COVERAGE_BELOW`).
    """

    crime: np.ndarray
    subject: np.ndarray
    fix: np.ndarray
    gap_start_s: np.ndarray
    gap_end_s: np.ndarray
    before_distance_m: np.ndarray
    after_distance_m: np.ndarray
    coverage: np.ndarray


class ProximityArrays(NamedTuple):
    """The exact answer of :func:`proximity_arrays`: ``hits`` (:class:`HitArrays`) and ``gaps`` (:class:`GapArrays`)."""

    hits: HitArrays
    gaps: GapArrays


class _Crimes(NamedTuple):
    ref: np.ndarray
    version: np.ndarray
    x: np.ndarray
    y: np.ndarray
    r: np.ndarray
    t1: np.ndarray
    t2: np.ndarray


def proximity(
    trails: Trails,
    crimes: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    include_uncertain: bool = False,
    index: TrailIndex | None = None,
    with_evidence: bool = True,
    crs: StoreCRS | None = None,
    speed_thresholds_kmh: dict[str, float] | None = None,
    evidence_arrow: bool = False,
    evidence_batches: bool = False,
) -> ProximityResult:
    """Who was within R of each crime scene while it was committed, exactly.

    Parameters
    ----------
    trails : Trails
        Fixes in the store's projected CRS (metres), seconds UTC, with monitoring windows.
    crimes : DataFrame
        Canonical crime frame (``CRIME_INPUT``) or at least ``crime_ref, x_m, y_m, committed_from,
        committed_to``: scene in the store's CRS (metres), window as tz-aware datetimes (UTC).
        ``crime_version`` defaults to 1; a ``radius_m`` value (metres) wins over ``radius_m`` below.
    radius_m : float, default 100.0
        Radius around the scene for crimes without their own, metres.
    max_gap_s : float, default 600.0
        Longest gap between fixes still interpolated, seconds.
    include_uncertain : bool, default False
        Also report ``low`` candidates: never within R, but within R + accuracy.
    index : TrailIndex, optional
        An index built on these ``trails`` with the same ``max_gap_s``; built when omitted.
    with_evidence : bool, default True
        Build the evidence frame (it can be far larger than the hits).
    crs : StoreCRS, optional
        The store's CRS, for WGS84 coordinates of interpolated evidence points; British National
        Grid when omitted.
    speed_thresholds_kmh : dict, optional
        Upper speeds of ``foot``, ``cycle`` and ``vehicle`` for the gaps' ``reachable_by``, km/h
        (:data:`trailmon.match.reachability.SPEED_THRESHOLDS_KMH` by default).
    evidence_arrow : bool, default False
        Give the evidence as a :class:`pyarrow.Table` (text columns dictionary-encoded, ``time``
        as timestamp[ns, UTC]) instead of a DataFrame: the same rows and columns, built without a
        Python string per row, for writing national-scale runs (:func:`trailmon.report.writers.write_table`).
    evidence_batches : bool, default False
        Give the evidence as :class:`EvidenceBatches`: the same rows as ``evidence_arrow``, counted now
        and built batch by batch while a writer consumes them.

    Returns
    -------
    ProximityResult
        ``hits``, ``evidence`` (empty when ``with_evidence`` is false) and ``gaps``.

    Raises
    ------
    InputError
        For a bad parameter, a crime frame without the required columns or with reversed
        windows, or an index built on other trails or another ``max_gap_s``.
    TimezoneError
        When the crime window times carry no time zone.

    See Also
    --------
    crimes_near_subject : the reverse question, for one subject.

    Notes
    -----
    A subject is a hit when its interpolated position is within R of P at some instant of
    [T1, T2] inside its monitoring windows. Closest approach, time within R (the quadratic
    ``|P(t) - C|^2 = R^2`` on each segment) and passes are exact over the clipped segments;
    coverage is :func:`trailmon.match._kernels.coverage_window`.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, -300.0, 30.0), (60, 300.0, 30.0)])
    >>> t = pd.to_datetime([0, 60], unit="s", utc=True)
    >>> crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [0.0], "y_m": [0.0],
    ...                        "committed_from": t[:1], "committed_to": t[1:]})
    >>> hit = proximity(tr, crimes).hits.iloc[0]
    >>> hit.subject_id, round(float(hit.min_distance_m), 3), bool(hit.between_fixes)
    ('S1', 30.0, True)
    """
    radius_m = check_positive("radius_m", radius_m)
    max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
    cr = _crime_arrays(crimes, radius_m)
    index = _checked_index(trails, index, max_gap_s)
    arrays = _arrays(index, cr.x, cr.y, cr.r, cr.t1, cr.t2, bool(include_uncertain))
    h = arrays.hits
    hits = _hits_frame(trails, cr, h)
    if with_evidence:
        is_hit = h.confidence != 2
        qid, sid = h.crime[is_hit], h.subject[is_hit]
        if evidence_batches:
            evidence = EvidenceBatches(trails, cr, _evidence_plan(trails, cr, qid, sid, max_gap_s), crs or BNG_CRS())
        else:
            build = _evidence_arrow if evidence_arrow else _evidence_frame
            evidence = build(trails, cr, qid, sid, max_gap_s, crs or BNG_CRS())
    else:
        evidence = _evidence_arrow_empty() if evidence_arrow or evidence_batches else _empty(EVIDENCE)
    gaps = _gaps_frame(trails, cr, arrays.gaps, speed_thresholds_kmh)
    return ProximityResult(hits, evidence, gaps)


def proximity_arrays(
    index: TrailIndex,
    x_m,
    y_m,
    t1_s,
    t2_s,
    radius_m=100.0,
    *,
    include_uncertain: bool = False,
) -> ProximityArrays:
    """The exact hits and gaps near the scene of crimes as NumPy arrays, without frames.

    The lean path of an analyst's query: one crime on a built index takes well under a
    millisecond (SPEC §6). :func:`proximity` builds its frames from these same arrays.

    Parameters
    ----------
    index : TrailIndex
        An index built on the trails (:meth:`TrailIndex.build`); its ``max_gap_s`` applies.
    x_m, y_m : float or array, shape (n_crime,)
        Scenes in the store's projected CRS, metres.
    t1_s, t2_s : float or array, shape (n_crime,)
        Crime windows, seconds since the Unix epoch, UTC; ``t1_s <= t2_s``.
    radius_m : float or array, shape (n_crime,), default 100.0
        Radius around each scene, metres, > 0.
    include_uncertain : bool, default False
        Also report ``low`` candidates: never within R, but within R + accuracy.

    Returns
    -------
    ProximityArrays
        ``hits`` (:class:`HitArrays`, by crime then subject) and ``gaps`` (:class:`GapArrays`); the
        ``crime`` arrays hold positions in the query arrays.

    Raises
    ------
    InputError
        When ``index`` is not a :class:`TrailIndex`, arrays differ in length, a value is not finite,
        a radius is not positive or a window is reversed.

    See Also
    --------
    proximity : the same answer as frames, with evidence.

    Notes
    -----
    One crime runs serially (no thread start-up): the candidate chunks of the index are evaluated
    per subject by exact per-segment maths, and the gap table gives the gaps near the scene. Many
    crimes run on threads. Both paths give the same values, field by field.

    Examples
    --------
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, -300.0, 30.0), (60, 300.0, 30.0)])
    >>> res = proximity_arrays(TrailIndex.build(tr), 0.0, 0.0, 0.0, 60.0, 100.0)
    >>> res.hits.subject.tolist(), res.hits.min_distance_m.round(3).tolist(), res.hits.passes.tolist()
    ([0], [30.0], [1])
    """
    if not isinstance(index, TrailIndex):
        raise InputError(f"index must be a TrailIndex, got {type(index).__name__}; build one with TrailIndex.build")
    x, y, t1, t2, r = check_query(x_m, y_m, t1_s, t2_s, radius_m)
    return _arrays(index, x, y, r, t1, t2, bool(include_uncertain))


def crimes_near_subject(
    trails: Trails,
    crimes: pd.DataFrame,
    subject_id: str,
    t1,
    t2,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    index: TrailIndex | None = None,
) -> pd.DataFrame:
    """Which of these crimes did one subject pass near between ``t1`` and ``t2``.

    Parameters
    ----------
    trails : Trails
        Fixes in the store's projected CRS (metres), seconds UTC.
    crimes : DataFrame
        Crime frame as for :func:`proximity` (scene in metres, tz-aware window).
    subject_id : str
        The subject.
    t1, t2 : datetime-like
        The period asked about, tz-aware (UTC or any offset); each crime window is clipped to it.
    radius_m : float, default 100.0
        Radius for crimes without their own, metres.
    max_gap_s : float, default 600.0
        Longest gap between fixes still interpolated, seconds.
    index : TrailIndex, optional
        Accepted for symmetry with :func:`proximity`; one subject needs no index, but a given
        index must match ``trails`` and ``max_gap_s``.

    Returns
    -------
    DataFrame
        Hit rows (columns ``HITS``) of that subject only, in crime order.

    Raises
    ------
    InputError
        When the subject is unknown, ``t2`` precedes ``t1`` or a parameter is bad.
    TimezoneError
        When ``t1`` or ``t2`` carries no time zone.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, -300.0, 30.0), (60, 300.0, 30.0)])
    >>> t = pd.to_datetime([0, 60], unit="s", utc=True)
    >>> crimes = pd.DataFrame({"crime_ref": ["K1", "K2"], "x_m": [0.0, 5000.0], "y_m": [0.0, 0.0],
    ...                        "committed_from": t[[0, 0]], "committed_to": t[[1, 1]]})
    >>> crimes_near_subject(tr, crimes, "S1", t[0], t[1]).crime_ref.tolist()
    ['K1']
    """
    radius_m = check_positive("radius_m", radius_m)
    max_gap_s = check_positive("max_gap_s", max_gap_s, allow_zero=True)
    if index is not None:
        _checked_index(trails, index, max_gap_s)
    s = trails.subject_index(subject_id)
    if s < 0:
        raise InputError(f"subject_id {subject_id!r} has no fixes in these trails; check the identifier")
    a = instant_s("t1", t1)
    b = instant_s("t2", t2)
    if b < a:
        raise InputError(f"t2 must not precede t1, got t1={t1!r}, t2={t2!r}")
    cr = _crime_arrays(crimes, radius_m)
    lo_t = np.maximum(cr.t1, a)
    hi_t = np.minimum(cr.t2, b)
    keep = np.flatnonzero(lo_t <= hi_t)
    cr = _Crimes(cr.ref[keep], cr.version[keep], cr.x[keep], cr.y[keep], cr.r[keep], lo_t[keep], hi_t[keep])
    t = trails
    lo, hi = int(t.offsets[s]), int(t.offsets[s + 1])
    res = K.evaluate_subject_many(t.t_s, t.x_m, t.y_m, t.accuracy_m, lo, hi, t.win_start_s, t.win_end_s,
                                  int(t.win_offsets[s]), int(t.win_offsets[s + 1]), cr.x, cr.y, cr.r, cr.t1,
                                  cr.t2, max_gap_s, FIX_HALO_S, False)
    qid = np.arange(len(keep), dtype=np.int64)
    return _hits_frame(trails, cr, _hit_arrays(qid, np.full(len(keep), s, dtype=np.int64), res, cr.r))


# --- input ------------------------------------------------------------------------------------


def _checked_index(trails: Trails, index: TrailIndex | None, max_gap_s: float) -> TrailIndex:
    if index is None:
        return TrailIndex.build(trails, max_gap_s=max_gap_s)
    if not isinstance(index, TrailIndex):
        raise InputError(f"index must be a TrailIndex, got {type(index).__name__}")
    if index.trails.t_s is not trails.t_s:
        raise InputError("index was built on other trails; build it with TrailIndex.build(trails) on these")
    if index.max_gap_s != max_gap_s:
        raise InputError(f"index was built with max_gap_s={index.max_gap_s!r}, but max_gap_s={max_gap_s!r} "
                         "was asked; rebuild the index with the same max_gap_s")
    return index


def _seconds(name: str, values: pd.Series) -> np.ndarray:
    s = values
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(s.dtype):
            raise TimezoneError(f"crimes.{name} has no time zone (dtype {s.dtype}); localize it to UTC first")
        try:
            s = pd.to_datetime(s, format="ISO8601")
        except (TypeError, ValueError) as exc:
            raise InputError(f"crimes.{name} must hold tz-aware datetimes, got {s.iloc[0]!r}: {exc}") from None
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            raise TimezoneError(f"crimes.{name} has no time zone, e.g. {values.iloc[0]!r}; give an offset or Z")
    ns = s.to_numpy(dtype="datetime64[ns]").view(np.int64)  # a tz-aware column gives its UTC instants
    nat = ns == np.iinfo(np.int64).min
    if nat.any():
        k = int(np.flatnonzero(nat)[0])
        raise InputError(f"crimes.{name} must not be empty, got NaT at row {k}")
    return ns / 1e9


def _floats(values: pd.Series) -> np.ndarray:
    """A column as contiguous float64, NaN where a value is missing or not a number."""
    if values.dtype == np.float64:
        return np.ascontiguousarray(values.to_numpy())
    return np.ascontiguousarray(pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan))


def _crime_arrays(crimes: pd.DataFrame, radius_m: float) -> _Crimes:
    if not isinstance(crimes, pd.DataFrame):
        raise InputError(f"crimes must be a pandas DataFrame, got {type(crimes).__name__}")
    missing = [c for c in _REQUIRED if c not in crimes.columns]
    if missing:
        raise InputError(f"crimes lacks column(s) {', '.join(missing)}; it needs {', '.join(_REQUIRED)}")
    n = len(crimes)
    x = _floats(crimes["x_m"])
    y = _floats(crimes["y_m"])
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"crimes x_m/y_m must be finite metres, got ({float(x[k])!r}, {float(y[k])!r}) at row {k}")
    if "radius_m" in crimes.columns:
        r = _floats(crimes["radius_m"])
        r = np.where(np.isnan(r), radius_m, r)
    else:
        r = np.full(n, radius_m)
    if not (np.isfinite(r) & (r > 0)).all():
        k = int(np.flatnonzero(~(np.isfinite(r) & (r > 0)))[0])
        raise InputError(f"crimes radius_m must be > 0, got {float(r[k])!r} at row {k}")
    t1 = _seconds("committed_from", crimes["committed_from"])
    t2 = _seconds("committed_to", crimes["committed_to"])
    if (t2 < t1).any():
        k = int(np.flatnonzero(t2 < t1)[0])
        raise InputError(f"crimes committed_to must not precede committed_from, got "
                         f"{crimes['committed_from'].iloc[k]} .. {crimes['committed_to'].iloc[k]} at row {k}")
    if "crime_version" in crimes.columns:
        v = crimes["crime_version"]
        version = v.to_numpy() if v.dtype == np.int64 else pd.to_numeric(v).fillna(1).to_numpy(np.int64)
    else:
        version = np.ones(n, dtype=np.int64)
    ref = crimes["crime_ref"].astype(str).to_numpy(dtype=object)
    return _Crimes(ref, version, x, y, np.ascontiguousarray(r, dtype=np.float64), t1, t2)


# --- evaluation -------------------------------------------------------------------------------


crime_arrays = _crime_arrays
"""Crimes validated into the arrays the kernels take (public: the Dask engine validates with it)."""


def _arrays(index: TrailIndex, x: np.ndarray, y: np.ndarray, r: np.ndarray, t1: np.ndarray, t2: np.ndarray,
            include_uncertain: bool) -> ProximityArrays:
    """Hits and gaps of the crimes ``(x, y, r, t1, t2)`` (checked float64 arrays) on ``index``."""
    hits = _hits_of(index, x, y, r, t1, t2, include_uncertain)
    return ProximityArrays(hits, _gaps_of(index, x, y, t1, t2, hits))


def _hits_of(index: TrailIndex, x: np.ndarray, y: np.ndarray, r: np.ndarray, t1: np.ndarray, t2: np.ndarray,
             include_uncertain: bool) -> HitArrays:
    """Hits (and low candidates) of the crimes; one crime serially, many on threads."""
    tr, s = index.trails, index.state
    rq = r + (s.max_accuracy_m if include_uncertain else 0.0)
    common = (tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets,
              s.chunk_f0, s.chunk_f1, s.chunk_x0, s.chunk_y0, s.chunk_x1, s.chunk_y1, s.run_offsets, s.run_start,
              s.run_end)
    if len(x) == 1:  # one analyst query: serial, no thread start-up
        sid, res = K.proximity_one(*common, s.slot_offsets, s.slot_chunks, s.cell_m, s.bucket_s, x[0], y[0], r[0],
                                   rq[0], t1[0], t2[0], s.max_gap_s, s.halo_s, include_uncertain)
        return _hit_arrays(np.zeros(len(sid), dtype=np.int64), sid, res, r)
    offsets, cands = IK.candidates_many(tr.t_s, s.chunk_f0, s.chunk_f1, s.chunk_x0, s.chunk_y0, s.chunk_x1,
                                        s.chunk_y1, s.slot_offsets, s.slot_chunks, s.cell_m, s.bucket_s, x, y, rq,
                                        t1, t2)
    subj = s.chunk_subject[cands]
    qall = np.repeat(np.arange(len(x), dtype=np.int64), np.diff(offsets))
    new = np.ones(len(cands), dtype=bool)
    new[1:] = (subj[1:] != subj[:-1]) | (qall[1:] != qall[:-1])
    starts = np.flatnonzero(new)
    group_offsets = np.append(starts, len(cands)).astype(np.int64)
    qid, sid = qall[starts], subj[starts]
    res = K.evaluate_groups(*common, cands, group_offsets, qid, x, y, r, t1, t2, s.max_gap_s, s.halo_s,
                            include_uncertain)
    return _hit_arrays(qid, sid, res, r)


def _gaps_of(index: TrailIndex, x: np.ndarray, y: np.ndarray, t1: np.ndarray, t2: np.ndarray,
             hits: HitArrays) -> GapArrays:
    """Gaps near the scene of the crimes, for subjects not in ``hits``; one crime serially, many on threads."""
    tr, s = index.trails, index.state
    gap_args = (tr.t_s, tr.x_m, tr.y_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets, s.gap_offsets,
                s.gap_fix, s.gap_max_s, s.gap_cell_m, s.run_offsets, s.run_start, s.run_end)
    if len(x) == 1:
        fix, cov = K.gaps_one(*gap_args, x[0], y[0], t1[0], t2[0], s.max_gap_s, s.halo_s, GAP_NEAR_M)
        q = np.zeros(len(fix), dtype=np.int64)
    else:
        off, fix, cov = K.gaps_many(*gap_args, x, y, t1, t2, s.max_gap_s, s.halo_s, GAP_NEAR_M)
        q = np.repeat(np.arange(len(x), dtype=np.int64), np.diff(off))
    return _gap_arrays(tr, x, y, q, fix, cov, hits)


def _hit_arrays(qid: np.ndarray, sid: np.ndarray, res: np.ndarray, r: np.ndarray) -> HitArrays:
    """Reported rows of the state matrix ``res`` (hits and low candidates) as :class:`HitArrays`."""
    keep = res[:, K.ST_STATUS] > 0.0
    if not keep.all():
        qid, sid, res = qid[keep], sid[keep], res[keep]
    hit = res[:, K.ST_STATUS] == 1.0
    dmin = np.sqrt(res[:, K.ST_D2])
    acc = res[:, K.ST_ACC].copy()
    n_in = np.where(hit, res[:, K.ST_NIN], 0).astype(np.int64)
    confidence = np.where(~hit, 2, np.where(dmin + acc <= r[qid], 0, 1)).astype(np.int8)
    return HitArrays(
        crime=qid, subject=sid, min_distance_m=dmin, closest_time_s=res[:, K.ST_T].copy(),
        first_within_s=np.where(hit, res[:, K.ST_FIRST], np.nan),
        last_within_s=np.where(hit, res[:, K.ST_LAST], np.nan),
        dwell_s=np.where(hit, res[:, K.ST_DWELL], 0.0), passes=np.where(hit, res[:, K.ST_PASSES], 0).astype(np.int64),
        n_fixes_within=n_in, between_fixes=hit & (n_in == 0), accuracy_m=acc, confidence=confidence,
        coverage=res[:, K.ST_COVERAGE].copy())


def _gap_arrays(tr: Trails, x: np.ndarray, y: np.ndarray, q: np.ndarray, fix: np.ndarray, cov: np.ndarray,
                hits: HitArrays) -> GapArrays:
    """Gaps of subjects that are not reported for the crime and cover less than half its window."""
    subj = np.searchsorted(tr.offsets, fix, side="right") - 1
    keep = cov < GAP_COVERAGE_BELOW
    if len(hits.crime) and keep.any():  # hits, and low candidates where reported, are never gaps near the scene
        n_sub = max(tr.n_subjects, 1)
        keep &= ~np.isin(q * n_sub + subj, hits.crime * n_sub + hits.subject)
    if not keep.all():
        q, subj, fix, cov = q[keep], subj[keep], fix[keep], cov[keep]
    if len(fix) > 1:  # per crime, by easting of the first fix (then by fix)
        order = np.lexsort((tr.x_m[fix], q))
        q, subj, fix, cov = q[order], subj[order], fix[order], cov[order]
    return GapArrays(
        crime=q, subject=subj, fix=fix, gap_start_s=tr.t_s[fix], gap_end_s=tr.t_s[fix + 1],
        before_distance_m=np.hypot(tr.x_m[fix] - x[q], tr.y_m[fix] - y[q]),
        after_distance_m=np.hypot(tr.x_m[fix + 1] - x[q], tr.y_m[fix + 1] - y[q]), coverage=cov)


# --- frames -----------------------------------------------------------------------------------


def _computed_ns(sec: np.ndarray) -> np.ndarray:
    """Computed instants, float seconds UTC (NaN: NaT), as int64 ns rounded to the microsecond.

    A float64 of seconds since 1970 holds ~0.24 µs: rounding to the microsecond takes the float
    noise off, so an instant that falls on a fix recorded to the millisecond (or microsecond)
    comes out exactly at it.
    """
    sec = np.asarray(sec, dtype=np.float64)
    return np.where(np.isnan(sec), np.iinfo(np.int64).min,
                    np.round(np.nan_to_num(sec) * 1e6) * 1000).astype(np.int64)


def _fix_ns(trails: Trails, i: np.ndarray) -> np.ndarray:
    """Instants of fixes ``i`` exactly as recorded (int64 ns), from ``trails.t_ns`` where it is held."""
    if trails.t_ns is not None:
        return trails.t_ns[i]
    return _computed_ns(trails.t_s[i])


def _ns_times(ns: np.ndarray):
    """int64 ns UTC (NaT: int64 min) as datetime64[ns, UTC]."""
    return pd.array(np.ascontiguousarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


def _times(*seconds: np.ndarray) -> list:
    """Each array of computed seconds UTC (NaN: NaT) as datetime64[ns, UTC], converted in one call."""
    sec = np.concatenate(seconds) if len(seconds) > 1 else np.asarray(seconds[0], dtype=np.float64)
    arr = _ns_times(_computed_ns(sec))
    out = []
    a = 0
    for part in seconds:
        out.append(arr[a:a + len(part)])
        a += len(part)
    return out


_EMPTY: dict[tuple[str, ...], pd.DataFrame] = {}


def _empty(columns: list[str]) -> pd.DataFrame:
    """An empty frame with these columns (object dtype), copied from a template made once."""
    key = tuple(columns)
    if key not in _EMPTY:
        _EMPTY[key] = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return _EMPTY[key].copy()


def _subject_flags(trails: Trails, sid: np.ndarray):
    """Each row's ``flags``: ``monitoring_window_unknown`` for a subject whose window is unknown."""
    return _text(np.array(["", FLAG_WINDOW_UNKNOWN], dtype=object), (~trails.window_known[sid]).astype(np.int8))


def _text(names: np.ndarray, codes: np.ndarray):
    """``names[codes]`` as the column pandas would infer from those strings, built by one Arrow take.

    ``names`` are strings (few: subjects, crimes, confidences); a frame of hundreds of thousands of rows
    then costs no Python object per row. No rows: the object array itself (pandas keeps ``object``).
    """
    if not len(codes):
        return names[codes]
    taken = pa.array(np.asarray(names, dtype=object), pa.large_string()).take(pa.array(codes))
    return pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _hits_frame(trails: Trails, cr: _Crimes, h: HitArrays) -> pd.DataFrame:
    q = h.crime
    closest, first, last = _times(h.closest_time_s, h.first_within_s, h.last_within_s)
    return pd.DataFrame({
        "crime_ref": _text(cr.ref, q),
        "crime_version": cr.version[q],
        "subject_id": _text(trails.subject_ids, h.subject),
        "min_distance_m": h.min_distance_m,
        "closest_time": closest,
        "first_within": first,
        "last_within": last,
        "dwell_s": h.dwell_s,
        "passes": h.passes,
        "n_fixes_within": h.n_fixes_within,
        "between_fixes": h.between_fixes,
        "accuracy_m": h.accuracy_m,
        "confidence": _text(_CONFIDENCE_OBJ, h.confidence),
        "coverage": h.coverage,
        "flags": _subject_flags(trails, h.subject),
    })


def _pass_letters(k: np.ndarray) -> np.ndarray:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB (bijective base 26)."""
    out = []
    for v in np.asarray(k, dtype=np.int64).tolist():
        s = ""
        v += 1
        while v > 0:
            v, rem = divmod(v - 1, 26)
            s = chr(65 + rem) + s
        out.append(s)
    return np.array(out, dtype=object)


def _evidence_frame(trails: Trails, cr: _Crimes, qid: np.ndarray, sid: np.ndarray, max_gap_s: float,
                    crs: StoreCRS) -> pd.DataFrame:
    """The evidence rows as a DataFrame (text columns as Python strings), columns ``EVIDENCE``."""
    table = _evidence_table(trails, cr, qid, sid, max_gap_s, crs)
    if table is None:
        return _empty(EVIDENCE)
    frame = pd.DataFrame({
        name: (col.cast(col.type.value_type).to_numpy(zero_copy_only=False).astype(object)
               if pa.types.is_dictionary(col.type) else col.to_pandas())
        for name, col in zip(table.column_names, table.columns, strict=True)
    })
    return frame[EVIDENCE]


def _evidence_arrow(trails: Trails, cr: _Crimes, qid: np.ndarray, sid: np.ndarray, max_gap_s: float,
                    crs: StoreCRS) -> pa.Table:
    table = _evidence_table(trails, cr, qid, sid, max_gap_s, crs)
    return _evidence_arrow_empty() if table is None else table


def _evidence_arrow_empty() -> pa.Table:
    text = pa.dictionary(pa.int32(), pa.string())
    types = {"crime_version": pa.int64(), "seq": pa.int64(), "time": pa.timestamp("ns", tz="UTC"),
             "within_r": pa.bool_()}
    for c in ("lat", "lon", "easting", "northing", "distance_m", "accuracy_m", "speed_kmh", "heading_deg"):
        types[c] = pa.float64()
    return pa.schema([(c, types.get(c, text)) for c in EVIDENCE]).empty_table()


def _dict_column(codes: np.ndarray, names) -> pa.DictionaryArray:
    """Text by code: ``names[codes]`` kept as an Arrow dictionary (no string per row)."""
    names = pa.array(np.asarray(names, dtype=object).tolist() if not isinstance(names, pa.Array) else names,
                     type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)), names)


def _dense_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32) of non-negative int64 ``keys`` in their sorted distinct values, and those values.

    As ``np.unique(keys, return_inverse=True)`` (values, then codes), in O(n) through a table of the
    key range when the keys are small (labels, flags); by sorting otherwise.
    """
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    lo, hi = int(keys.min()), int(keys.max())
    if lo >= 0 and hi < max(4 * len(keys), 1 << 20):
        return K.dense_codes(keys, hi + 1)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return inverse.reshape(-1).astype(np.int32), uniq


class _EvidencePlan(NamedTuple):
    """The counting phase of the evidence of hits ``qid, sid``: rows per hit (CSR ``off``) and their passes."""

    qid: np.ndarray
    sid: np.ndarray
    off: np.ndarray
    npass: np.ndarray
    keep: np.ndarray
    max_gap_s: float


def _evidence_plan(trails: Trails, cr: _Crimes, qid: np.ndarray, sid: np.ndarray, max_gap_s: float) -> _EvidencePlan:
    tr = trails
    sid = np.ascontiguousarray(sid, dtype=np.int64)
    counts, npass, keep = K.evidence_counts(
        tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets,
        sid, cr.x[qid], cr.y[qid], cr.r[qid], cr.t1[qid], cr.t2[qid], max_gap_s, EVIDENCE_MARGIN_M)
    off = np.zeros(len(sid) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return _EvidencePlan(np.asarray(qid), sid, off, npass, keep, max_gap_s)


class EvidenceBatches:
    """The evidence rows of a proximity run as Arrow tables built one at a time, as they are iterated.

    The rows are counted first (so ``len()`` is known before any is built); iterating builds the
    rows of consecutive hits, about ``batch_rows`` at a time, so a writer can write one table while
    the next is built (:func:`trailmon.report.writers.write_table` does) and a national run never
    holds all its evidence at once. The tables have :attr:`schema` (text columns dictionary-encoded,
    each table its own dictionaries); together they are the rows :func:`proximity` gives with
    ``evidence_arrow``, in the same order.
    """

    def __init__(self, trails: Trails, cr: _Crimes, plan: _EvidencePlan, crs: StoreCRS, batch_rows: int = 1 << 20):
        self._trails, self._cr, self._plan, self._crs = trails, cr, plan, crs
        self._batch_rows = max(int(batch_rows), 1)

    def __len__(self) -> int:
        return int(self._plan.off[-1])

    @property
    def schema(self) -> pa.Schema:
        """The columns ``EVIDENCE`` with their Arrow types."""
        return _evidence_arrow_empty().schema

    def __iter__(self) -> Iterator[pa.Table]:
        off, n = self._plan.off, len(self._plan.sid)
        h0 = 0
        while h0 < n:
            h1 = max(int(np.searchsorted(off, off[h0] + self._batch_rows, side="right")) - 1, h0 + 1)
            if off[h1] > off[h0]:
                yield _evidence_batch(self._trails, self._cr, self._plan, h0, h1, self._crs)
            h0 = h1

    def to_table(self) -> pa.Table:
        """All the rows as one table (each text column with one dictionary)."""
        return pa.concat_tables([self.schema.empty_table(), *self]).unify_dictionaries()


def _evidence_table(trails: Trails, cr: _Crimes, qid: np.ndarray, sid: np.ndarray, max_gap_s: float,
                    crs: StoreCRS) -> pa.Table | None:
    """The evidence rows built column by column (text columns dictionary-encoded), or None when there are none."""
    plan = _evidence_plan(trails, cr, qid, sid, max_gap_s)
    return _evidence_batch(trails, cr, plan, 0, len(plan.sid), crs) if plan.off[-1] else None


def _evidence_batch(trails: Trails, cr: _Crimes, plan: _EvidencePlan, h0: int, h1: int, crs: StoreCRS) -> pa.Table:
    """The evidence rows of hits ``h0:h1`` of ``plan`` as an Arrow table (text columns dictionary-encoded)."""
    tr = trails
    max_gap_s = plan.max_gap_s
    qid, sid = plan.qid[h0:h1], plan.sid[h0:h1]
    off = plan.off[h0:h1 + 1] - plan.off[h0]
    kind, pas, t, x, y, fa, fb, d = K.evidence_fill(
        tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets,
        sid, cr.x[qid], cr.y[qid], cr.r[qid], cr.t1[qid], cr.t2[qid], max_gap_s, EVIDENCE_MARGIN_M,
        off, plan.npass[h0:h1], plan.keep[h0:h1])
    # one pass over the rows (by hit, pass, time, kind) for every per-row column
    seq, time_ns, lat, lon, acc, ftype, vx, vy, sup_speed, sup_head, fkey_rows, within = K.evidence_columns(
        off, pas, t, fa, fb, d, tr.t_s, tr.x_m, tr.y_m, tr.lat, tr.lon, tr.accuracy_m, tr.fix_type, tr.speed_mps,
        tr.heading_deg, tr.flags, tr.t_ns if tr.t_ns is not None else np.zeros(0, dtype=np.int64), tr.offsets,
        sid, ~tr.window_known[sid], cr.r[qid], max_gap_s)
    between = np.flatnonzero(fa != fb)  # interpolated first/last points: WGS84 from the grid position
    if len(between):
        lon[between], lat[between] = crs.to_wgs84(x[between], y[between])
    with np.errstate(invalid="ignore"):
        speed = np.hypot(vx, vy)
        heading = np.degrees(np.arctan2(vx, vy))
        np.remainder(heading, 360.0, out=heading)
        heading[~(speed > 0)] = np.nan
    supplied = np.isfinite(sup_speed)
    if supplied.any():
        speed[supplied] = sup_speed[supplied]
    supplied = np.isfinite(sup_head)
    if supplied.any():
        heading[supplied] = sup_head[supplied]
    speed *= 3.6
    names = _pass_letters(np.arange(pas.max() + 1))  # one string per pass number, not per row
    # one label string per distinct (pass, seq), taken for every row: few distinct labels, many rows
    width = int(seq.max()) + 1
    label_codes, uniq = _dense_codes(pas * width + seq)
    labels = [names[k // width] + str(k % width) for k in uniq.tolist()]
    # flags: the fix's flags, then the subject's; one string per distinct (flags, window unknown) pair
    flag_codes, fkey = _dense_codes(fkey_rows)
    fix_text = flags_to_text((fkey // 2).astype(np.int32))
    subj_text = np.where(fkey % 2 == 1, FLAG_WINDOW_UNKNOWN, "")
    flag_names = [a if not b else (b if not a else f"{a};{b}") for a, b in zip(fix_text, subj_text, strict=True)]
    n_rows = np.diff(off)
    q = np.repeat(qid.astype(np.int32), n_rows)
    cols = {
        "crime_ref": _dict_column(q, cr.ref),
        "crime_version": pa.array(np.repeat(cr.version[qid].astype(np.int64), n_rows)),
        "subject_id": _dict_column(np.repeat(sid.astype(np.int32), n_rows), tr.subject_ids),
        "label": _dict_column(label_codes, labels),
        "pass": _dict_column(pas, names),
        "seq": pa.array(seq),
        "kind": _dict_column(kind, ["fix", "first", "last"]),
        "time": pa.array(time_ns, type=pa.timestamp("ns", tz="UTC")),
        "lat": pa.array(lat),
        "lon": pa.array(lon),
        "easting": pa.array(x),
        "northing": pa.array(y),
        "distance_m": pa.array(d),
        "within_r": pa.array(within),
        "accuracy_m": pa.array(acc),
        "speed_kmh": pa.array(speed),
        "heading_deg": pa.array(heading),
        "fix_type": _dict_column(ftype, FIX_TYPES),
        "flags": _dict_column(flag_codes, flag_names),
    }
    return pa.table([cols[c] for c in EVIDENCE], names=EVIDENCE)


def _gaps_frame(trails: Trails, cr: _Crimes, g: GapArrays,
                speed_thresholds_kmh: dict[str, float] | None = None) -> pd.DataFrame:
    if len(g.crime) == 0:
        return _empty(GAPS)
    q = g.crime
    start, end = _ns_times(_fix_ns(trails, g.fix)), _ns_times(_fix_ns(trails, g.fix + 1))
    fa, fb = g.fix, g.fix + 1
    acc = trails.accuracy_m
    kmh, by = gap_reachability(cr.x[q], cr.y[q], trails.x_m[fa], trails.y_m[fa], acc[fa], trails.x_m[fb],
                               trails.y_m[fb], acc[fb], g.gap_start_s, g.gap_end_s, cr.t1[q], cr.t2[q],
                               speed_thresholds_kmh)
    return pd.DataFrame({
        "crime_ref": _text(cr.ref, q),
        "crime_version": cr.version[q],
        "subject_id": _text(trails.subject_ids, g.subject),
        "gap_start": start,
        "gap_end": end,
        "gap_s": g.gap_end_s - g.gap_start_s,
        "before_distance_m": g.before_distance_m,
        "after_distance_m": g.after_distance_m,
        "coverage": g.coverage,
        "min_speed_kmh": kmh,
        "reachable_by": by,
    })
