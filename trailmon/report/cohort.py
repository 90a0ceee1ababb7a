"""The IOM cohort report: per cohort and per offender manager, per ISO week and calendar month.

Every figure comes from two places only, so it can be recomputed: the case-record store
(:class:`~trailmon.store.cases.CaseStore`: subjects, attendance, zone events, hits and crimes)
and the trail store (:class:`~trailmon.store.trails.TrailStore`: fixes and monitoring windows,
for coverage, gaps and LBS share). The columns are those of :data:`trailmon.report.metrics.METRICS`,
where each is defined once.

Coverage uses the shared trail-model kernels (:func:`trailmon.match._kernels.known_time_window`,
:func:`~trailmon.match._kernels.monitored_time`), so "known" means here what it means for
proximity, attendance and zones. Periods are local days, ISO weeks (Monday start) and calendar
months in Europe/London (:data:`~trailmon.report.metrics.REPORT_TZ`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.index._kernels import known_runs
from trailmon.match._kernels import known_time_window, monitored_time
from trailmon.report import _html as H
from trailmon.report.metrics import (
    APPOINTMENT_STATUSES,
    CRIME_GROUPS,
    GAP_BANDS,
    JUDGED_STATUSES,
    REPORT_TZ,
    metric_columns,
    metrics_frame,
)
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S, FIX_TYPES, Trails, windows_to_csr

__all__ = [
    "CohortTables",
    "cohort_report_html",
    "cohort_tables",
    "daily_quality",
    "report_periods",
    "subject_attributes",
    "write_cohort_report",
]

NO_MANAGER = "(not recorded)"
"""Offender manager shown for subjects without one."""

COHORTS = ("fixed", "flex", "free")
_LBS = FIX_TYPES.index("lbs")


class CohortTables(NamedTuple):
    """The cohort report's tables (frames with the :data:`METRICS` columns)."""

    cohort: pd.DataFrame
    """One row per (group_by, group, period): ``metric_columns("cohort")``; period week, month or report."""
    hits: pd.DataFrame
    """Hits by crime group: ``metric_columns("hits")``."""
    daily: pd.DataFrame
    """Data quality per subject and local day: ``metric_columns("daily")``."""
    subjects: pd.DataFrame
    """Subjects: ``subject_id, cohort, offender_manager, crn, pnc_id, window_known``."""
    t_from: pd.Timestamp
    t_to: pd.Timestamp


# -- periods --------------------------------------------------------------------------------------
def _check_period(t_from, t_to) -> tuple[pd.Timestamp, pd.Timestamp]:
    out = []
    for name, v in (("t_from", t_from), ("t_to", t_to)):
        ts = pd.Timestamp(v)
        if ts.tzinfo is None:
            raise InputError(f"{name} must carry a time zone (an offset or Z), got {str(v)!r}")
        out.append(ts.tz_convert("UTC"))
    if not out[1] > out[0]:
        raise InputError(f"t_to ({out[1].isoformat()}) must be after t_from ({out[0].isoformat()})")
    return out[0], out[1]


def report_periods(t_from, t_to, kind: str, tz: str = REPORT_TZ) -> pd.DataFrame:
    """Local periods covering ``[t_from, t_to)``: ``label, start, start_s, end_s`` (clipped, seconds UTC).

    Parameters
    ----------
    t_from, t_to : pandas.Timestamp
        The report period (tz-aware).
    kind : {"day", "week", "month", "report"}
        Local calendar days, ISO weeks (Monday start), calendar months, or the whole period.
    tz : str, default "Europe/London"
        The zone whose midnights bound the periods.

    Returns
    -------
    DataFrame
        ``label`` (``YYYY-MM-DD``, ``YYYY-Www``, ``YYYY-MM``), ``start`` (the local start, unclipped),
        ``start_s``/``end_s`` (the clipped bounds, seconds since the epoch, UTC).

    Raises
    ------
    InputError
        For an unknown ``kind`` or a period without a time zone or of zero length.

    Examples
    --------
    >>> p = report_periods(pd.Timestamp("2026-10-24T12:00Z"), pd.Timestamp("2026-10-27T00:00Z"), "day")
    >>> list(p["label"]), float(p["end_s"][1] - p["start_s"][1]) / 3600
    (['2026-10-24', '2026-10-25', '2026-10-26'], 25.0)
    """
    t0, t1 = _check_period(t_from, t_to)
    if kind not in ("day", "week", "month", "report"):
        raise InputError(f"kind must be one of 'day', 'week', 'month', 'report', got {kind!r}")
    s0, s1 = t0.value / 1e9, t1.value / 1e9
    if kind == "report":
        return pd.DataFrame(
            {
                "label": [f"{H.local_text(t0, tz)} to {H.local_text(t1, tz)}"],
                "start": [t0.tz_convert(tz)],
                "start_s": [s0],
                "end_s": [s1],
            }
        )
    first = t0.tz_convert(tz).tz_localize(None).normalize()
    last = t1.tz_convert(tz).tz_localize(None).normalize()
    if kind == "week":
        first -= pd.Timedelta(days=first.weekday())
        naive = pd.date_range(first, last + pd.Timedelta(days=7), freq="7D")
    elif kind == "month":
        naive = pd.date_range(first.replace(day=1), last + pd.offsets.MonthBegin(1), freq="MS")
    else:
        naive = pd.date_range(first, last + pd.Timedelta(days=1), freq="D")
    edges_local = naive.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    edges = edges_local.tz_convert("UTC").as_unit("ns").asi8 / 1e9
    keep = (edges[1:] > s0) & (edges[:-1] < s1)
    idx = np.flatnonzero(keep)
    if kind == "week":
        iso = naive[idx].isocalendar()
        labels = [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"], strict=True)]
    elif kind == "month":
        labels = list(naive[idx].strftime("%Y-%m"))
    else:
        labels = list(naive[idx].strftime("%Y-%m-%d"))
    return pd.DataFrame(
        {
            "label": labels,
            "start": list(edges_local[idx]),
            "start_s": np.maximum(edges[idx], s0),
            "end_s": np.minimum(edges[idx + 1], s1),
        }
    )


def _bucket(t_s: np.ndarray, periods: pd.DataFrame) -> np.ndarray:
    """Period index of each instant (seconds UTC); -1 outside every period."""
    starts = periods["start_s"].to_numpy(float)
    ends = periods["end_s"].to_numpy(float)
    k = np.searchsorted(starts, np.asarray(t_s, float), side="right") - 1
    ok = (k >= 0) & (np.asarray(t_s, float) < ends[np.clip(k, 0, len(ends) - 1)])
    return np.where(ok, k, -1)


# -- subjects ---------------------------------------------------------------------------------------
def subject_attributes(trail_store, cases, extra: list[str] = ()) -> pd.DataFrame:
    """Subjects of the case store and the trail store with their cohort and offender manager.

    Parameters
    ----------
    trail_store : TrailStore
        The trail store (subjects with monitoring windows).
    cases : CaseStore
        The case-record store (its ``subjects`` table wins where both know a subject).
    extra : list of str
        Further subject ids (seen in fixes or case records).

    Returns
    -------
    DataFrame
        ``subject_id, cohort, offender_manager, crn, pnc_id``, sorted by subject; cohort ``free``
        and offender manager ``(not recorded)`` when no source gives one.
    """
    cols = ["cohort", "offender_manager", "crn", "pnc_id"]
    cs = cases.frame("SELECT subject_id, cohort, offender_manager, crn, pnc_id FROM subjects")
    ts = trail_store.subjects()
    ts = ts[["subject_id", *cols]].drop_duplicates("subject_id", keep="last") if len(ts) else None
    ids = sorted(
        set(map(str, cs["subject_id"]))
        | set(map(str, extra))
        | (set(map(str, ts["subject_id"])) if ts is not None else set())
    )
    out = pd.DataFrame({"subject_id": pd.Series(ids, dtype=object)})
    for src in (cs, ts):
        if src is None or not len(src):
            continue
        m = src.assign(subject_id=src["subject_id"].astype(str)).set_index("subject_id")
        for c in cols:
            vals = out["subject_id"].map(m[c].astype(object).where(m[c].notna(), None).to_dict())
            out[c] = out[c].where(out[c].notna(), vals) if c in out else vals
    for c in cols:
        if c not in out:
            out[c] = None
        out[c] = out[c].astype(object).where(out[c].notna() & (out[c].astype(str) != ""), None)
    out["cohort"] = out["cohort"].where(out["cohort"].notna(), "free")
    out["offender_manager"] = out["offender_manager"].where(out["offender_manager"].notna(), NO_MANAGER)
    return out


# -- data quality -------------------------------------------------------------------------------------
def _known_spells(t: np.ndarray, max_gap_s: float, halo_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Merged intervals where the position is known (the index's ``known_runs``), seconds."""
    _, start, end = known_runs(np.ascontiguousarray(t, dtype=np.float64), np.array([0, len(t)], dtype=np.int64),
                               float(max_gap_s), float(halo_s))
    return start, end


def unknown_spells(
    t_s: np.ndarray,
    pieces: list[tuple[float, float]],
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    halo_s: float = FIX_HALO_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaps: maximal spells of ``pieces`` (monitored time) where the position is not known.

    Parameters
    ----------
    t_s : ndarray of float64, shape (n_fix,)
        One subject's fix instants, seconds UTC, sorted.
    pieces : list of (float, float)
        Disjoint monitored spans ``[a, b]``, seconds UTC.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    halo_s : float, default 60.0
        Time either side of a fix counted as known, seconds.

    Returns
    -------
    (ndarray, ndarray)
        Starts and ends of the gaps, seconds UTC; their total plus the known time of
        :func:`~trailmon.match._kernels.known_time_window` is the monitored time.
    """
    ks, ke = _known_spells(np.asarray(t_s, float), max_gap_s, halo_s)
    gs, ge = [], []
    for a, b in pieces:
        if not b > a:
            continue
        m = (ke >= a) & (ks <= b)
        cs, ce = np.clip(ks[m], a, b), np.clip(ke[m], a, b)
        st, en = np.r_[a, ce], np.r_[cs, b]
        keep = en > st
        gs.append(st[keep])
        ge.append(en[keep])
    if not gs:
        return np.empty(0), np.empty(0)
    return np.concatenate(gs), np.concatenate(ge)


def _subject_windows(subjects: np.ndarray, windows: dict, with_fixes: set[str]):
    offs, ws, we, known = windows_to_csr(subjects, windows)
    # a subject with no known window counts as monitored (SPEC §5) only where it has fixes
    keep = np.ones(len(ws), dtype=bool)
    for k, sid in enumerate(subjects):
        if not known[k] and str(sid) not in with_fixes:
            keep[offs[k] : offs[k + 1]] = False
    counts = (
        np.add.reduceat(keep.astype(np.int64), offs[:-1]) if len(ws) else np.zeros(len(subjects), np.int64)
    )
    new_offs = np.zeros(len(subjects) + 1, dtype=np.int64)
    np.cumsum(np.where(np.diff(offs) > 0, counts, 0), out=new_offs[1:])
    return new_offs, np.ascontiguousarray(ws[keep]), np.ascontiguousarray(we[keep]), known


def daily_quality(
    trails: Trails,
    windows: dict[str, list[tuple[float, float]]],
    subjects: list[str],
    t_from,
    t_to,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    tz: str = REPORT_TZ,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Data quality per subject and local day, and every gap, over ``[t_from, t_to)``.

    Parameters
    ----------
    trails : Trails
        Fixes covering the period (store metres, seconds UTC), e.g. ``TrailStore.read``.
    windows : dict
        Monitoring windows ``subject -> [(start_s, end_s)]``, seconds UTC (``TrailStore.windows``).
    subjects : list of str
        The subjects to report (those without fixes included).
    t_from, t_to : pandas.Timestamp
        The period (tz-aware).
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, default "Europe/London"
        Zone of the local days.

    Returns
    -------
    (DataFrame, DataFrame)
        ``metric_columns("daily")`` (appointment and zone columns 0, filled by the callers) with
        ``window_known``; and the gaps ``subject_id, start_s, end_s, gap_s``.

    Notes
    -----
    Monitored time is the monitoring windows inside each day; known time is
    :func:`~trailmon.match._kernels.known_time_window` over each monitored piece (the SPEC §3 rule:
    interpolated between fixes at most ``max_gap_s`` apart, or within 60 s of a fix). A gap is a
    maximal spell of monitored time in the whole period with no known position, dated by its start.
    """
    if not max_gap_s > 0:
        raise InputError(f"max_gap_s must be > 0 seconds, got {max_gap_s!r}")
    days = report_periods(t_from, t_to, "day", tz)
    d0, d1 = days["start_s"].to_numpy(float), days["end_s"].to_numpy(float)
    s0, s1 = float(d0[0]), float(d1[-1])
    subjects = np.asarray(sorted(set(map(str, subjects))), dtype=object)
    has_fix = {str(s) for k, s in enumerate(trails.subject_ids) if trails.offsets[k + 1] > trails.offsets[k]}
    offs, ws, we, known = _subject_windows(subjects, windows, has_fix)
    t_all = np.ascontiguousarray(trails.t_s, dtype=np.float64)
    n_days = len(days)
    rows, gaps = [], []
    for k, sid in enumerate(subjects):
        wlo, whi = int(offs[k]), int(offs[k + 1])
        kk = trails.subject_index(sid)
        lo, hi = (int(trails.offsets[kk]), int(trails.offsets[kk + 1])) if kk >= 0 else (0, 0)
        mon = np.zeros(n_days)
        kno = np.zeros(n_days)
        for d in range(n_days):
            a, b = float(d0[d]), float(d1[d])
            mon[d] = monitored_time(ws, we, wlo, whi, a, b)
            for w in range(wlo, whi):
                s, e = max(a, ws[w]), min(b, we[w])
                if e > s:
                    kno[d] += known_time_window(t_all, lo, hi, s, e, float(max_gap_s), float(FIX_HALO_S))
        t = t_all[lo:hi]
        inwin = np.zeros(len(t), dtype=bool)
        for w in range(wlo, whi):
            inwin |= (t >= ws[w]) & (t <= we[w])
        didx = _bucket(t, days)
        ok = inwin & (didx >= 0)
        n_fix = np.bincount(didx[ok], minlength=n_days)
        n_lbs = np.bincount(didx[ok & (trails.fix_type[lo:hi] == _LBS)], minlength=n_days)
        pieces = [(max(s0, ws[w]), min(s1, we[w])) for w in range(wlo, whi)]
        g_s, g_e = unknown_spells(t, pieces, max_gap_s, FIX_HALO_S)
        gaps.append(pd.DataFrame({"subject_id": sid, "start_s": g_s, "end_s": g_e, "gap_s": g_e - g_s}))
        band = {}
        gidx = _bucket(g_s, days)
        for name, blo, bhi in GAP_BANDS:
            sel = (gidx >= 0) & (g_e - g_s >= blo) & (g_e - g_s < bhi)
            band[name] = np.bincount(gidx[sel], minlength=n_days)
        rows.append(
            pd.DataFrame(
                {
                    "subject_id": sid,
                    "period_label": days["label"].to_numpy(),
                    "period_start": days["start"].to_numpy(),
                    "monitored_days": (mon > 0).astype(np.int64),
                    "monitored_s": mon,
                    "known_s": kno,
                    **band,
                    "n_fixes": n_fix.astype(np.int64),
                    "n_lbs": n_lbs.astype(np.int64),
                    "window_known": bool(known[k]),
                    "start_s": d0,
                }
            )
        )
    cols = metric_columns("daily")
    if rows:
        daily = pd.concat(rows, ignore_index=True)
    else:
        daily = pd.DataFrame(columns=[*cols, "n_lbs", "window_known", "start_s"])
    daily["coverage"] = _ratio(daily["known_s"], daily["monitored_s"])
    daily["lbs_share"] = _ratio(daily["n_lbs"], daily["n_fixes"])
    for c in cols:
        if c not in daily:
            daily[c] = 0
    gap_frame = (
        pd.concat(gaps, ignore_index=True)
        if gaps
        else pd.DataFrame({"subject_id": [], "start_s": [], "end_s": [], "gap_s": []})
    )
    return daily, gap_frame


def _ratio(num, den) -> pd.Series:
    num = pd.to_numeric(pd.Series(num), errors="coerce").astype(float)
    den = pd.to_numeric(pd.Series(den), errors="coerce").astype(float)
    return (num / den.where(den > 0)).astype(float)


# -- case records -------------------------------------------------------------------------------------
def _case_events(cases, s0: float, s1: float) -> dict[str, pd.DataFrame]:
    """Attendance, zone events and hits of the period from the case store (seconds UTC)."""
    from trailmon.io.crimes import offence_group

    lo, hi = int(round(s0 * 1e9)), int(round(s1 * 1e9))
    att = cases.frame(
        "SELECT appointment_id, subject_id, start_ns, end_ns, status, inside_s, arrival_ns, departure_ns, "
        "coverage, flags, outcome FROM attendance "
        "WHERE start_ns >= ? AND start_ns < ? ORDER BY appointment_id",
        [lo, hi],
    )
    zev = cases.frame(
        "SELECT zone_id, subject_id, kind, event, start_ns, end_ns, duration_s FROM zone_events "
        "WHERE start_ns >= ? AND start_ns < ? ORDER BY zone_id, subject_id, start_ns",
        [lo, hi],
    )
    hits = cases.frame(
        "SELECT h.hit_id, h.subject_id, h.review_state, h.force, h.crime_ref, h.crime_version, c.offence, "
        "c.offence_group, c.committed_from_ns, c.committed_to_ns FROM hits h JOIN crimes c "
        "USING (force, crime_ref, crime_version) WHERE c.committed_from_ns < ? AND c.committed_to_ns >= ? "
        "ORDER BY h.hit_id",
        [hi, lo],
    )
    att["t_s"] = pd.to_numeric(att["start_ns"]).astype(float) / 1e9 if len(att) else []
    zev["t_s"] = pd.to_numeric(zev["start_ns"]).astype(float) / 1e9 if len(zev) else []
    if len(zev):
        zev["breach"] = ((zev["kind"] == "exclusion") & (zev["event"] == "visit")) | (
            (zev["kind"] == "inclusion") & (zev["event"] == "absence")
        )
        zev["no_data"] = zev["event"] == "no_data"
        zev["duration_s"] = pd.to_numeric(zev["duration_s"]).astype(float)
    else:
        zev["breach"] = zev["no_data"] = []
    if len(hits):
        hits["t_s"] = np.maximum(pd.to_numeric(hits["committed_from_ns"]).astype(float) / 1e9, s0)
        grp = [
            (str(g) if g else offence_group(str(o) if o is not None else "")) or "other"
            for g, o in zip(hits["offence_group"], hits["offence"], strict=True)
        ]
        hits["crime_group"] = [g if g in CRIME_GROUPS else "other" for g in grp]
        hits["crime_key"] = (
            hits["force"].astype(str)
            + "|"
            + hits["crime_ref"].astype(str)
            + "|"
            + hits["crime_version"].astype(str)
        )
    else:
        hits["t_s"] = hits["crime_group"] = hits["crime_key"] = []
    for df in (att, zev, hits):
        df["subject_id"] = df["subject_id"].astype(str) if len(df) else df["subject_id"]
    return {"attendance": att, "zone_events": zev, "hits": hits}


# -- the tables ---------------------------------------------------------------------------------------
def cohort_tables(
    trail_store, cases, t_from, t_to, *, max_gap_s: float = DEFAULT_MAX_GAP_S, tz: str = REPORT_TZ
) -> CohortTables:
    """Compute the cohort report's tables.

    Parameters
    ----------
    trail_store : TrailStore
        Fixes and monitoring windows.
    cases : CaseStore
        Subjects, attendance outcomes, zone events, hits and crimes.
    t_from, t_to : pandas.Timestamp
        The report period ``[t_from, t_to)`` (tz-aware).
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, default "Europe/London"
        Zone of the days, ISO weeks and months.

    Returns
    -------
    CohortTables
        The cohort table (period ``week``, ``month`` and ``report``; group_by ``all``, ``cohort``,
        ``offender_manager``), the hits by crime group, the data quality per subject and day, and
        the subjects.

    Raises
    ------
    InputError
        When the period has no time zone or no length, or ``max_gap_s`` is not > 0.
    """
    t0, t1 = _check_period(t_from, t_to)
    s0, s1 = t0.value / 1e9, t1.value / 1e9
    trails = trail_store.read(t0, t1, halo_s=max(float(max_gap_s), FIX_HALO_S))
    ev = _case_events(cases, s0, s1)
    seen = set(map(str, trails.subject_ids))
    for df in ev.values():
        seen |= set(map(str, df["subject_id"]))
    subj = subject_attributes(trail_store, cases, sorted(seen))
    daily, _ = daily_quality(
        trails, trail_store.windows(), list(subj["subject_id"]), t0, t1, max_gap_s=max_gap_s, tz=tz
    )
    subj = subj.merge(
        daily.groupby("subject_id")["window_known"].first().reset_index(), on="subject_id", how="left"
    )
    subj["window_known"] = subj["window_known"].astype(object).where(subj["window_known"].notna(), False)
    daily = _add_daily_events(daily, ev, tz, t0, t1)
    rows, hit_rows = [], []
    for kind in ("week", "month", "report"):
        periods = report_periods(t0, t1, kind, tz)
        for group_by in ("all", "cohort", "offender_manager"):
            r, h = _aggregate(kind, periods, group_by, subj, daily, ev)
            rows.append(r)
            hit_rows.append(h)
    cohort = pd.concat(rows, ignore_index=True)[metric_columns("cohort")]
    hits = pd.concat(hit_rows, ignore_index=True)[metric_columns("hits")]
    daily_out = daily[[*metric_columns("daily")]].reset_index(drop=True)
    return CohortTables(cohort, hits, daily_out, subj, t0, t1)


def _add_daily_events(daily: pd.DataFrame, ev: dict, tz: str, t0, t1) -> pd.DataFrame:
    """Appointment and zone counts per subject and local day (for the per-day table)."""
    days = report_periods(t0, t1, "day", tz)
    key = daily.set_index(["subject_id", "period_label"]).index
    out = daily.copy()
    att, zev = ev["attendance"], ev["zone_events"]
    lab = days["label"].to_numpy()

    def count(df, mask, value=None):
        if not len(df):
            return np.zeros(len(out))
        d = _bucket(df["t_s"].to_numpy(float), days)
        sel = (d >= 0) & np.asarray(mask, bool)
        vals = np.ones(sel.sum()) if value is None else np.asarray(value, float)[sel]
        s = pd.Series(vals).groupby([df["subject_id"].to_numpy()[sel], lab[d[sel]]]).sum()
        return s.reindex(key, fill_value=0).to_numpy()

    out["appointments"] = count(att, np.ones(len(att), bool)).astype(np.int64)
    for st in APPOINTMENT_STATUSES:
        out[f"appt_{st}"] = count(att, (att["status"] == st).to_numpy() if len(att) else []).astype(np.int64)
    if len(zev):
        out["zone_breaches"] = count(zev, zev["breach"]).astype(np.int64)
        out["zone_breach_s"] = count(zev, zev["breach"], zev["duration_s"].fillna(0.0))
        out["zone_no_data"] = count(zev, zev["no_data"]).astype(np.int64)
        out["zone_no_data_s"] = count(zev, zev["no_data"], zev["duration_s"].fillna(0.0))
    else:
        out["zone_breaches"] = out["zone_no_data"] = 0
        out["zone_breach_s"] = out["zone_no_data_s"] = 0.0
    return out


def _group_values(group_by: str, subj: pd.DataFrame) -> tuple[dict, list]:
    if group_by == "all":
        return dict.fromkeys(subj["subject_id"], "all"), ["all"]
    m = dict(zip(subj["subject_id"], subj[group_by].astype(str), strict=True))
    present = sorted(set(m.values()))
    order = [c for c in COHORTS if group_by == "cohort"] + [g for g in present if g not in COHORTS]
    if group_by == "offender_manager":
        order = present
    return m, order


def _aggregate(kind: str, periods: pd.DataFrame, group_by: str, subj, daily, ev):
    gmap, groups = _group_values(group_by, subj)
    n_p = len(periods)
    idx = pd.MultiIndex.from_product([groups, range(n_p)], names=["group", "p"])
    base = pd.DataFrame(index=idx)
    d = daily.assign(
        group=daily["subject_id"].map(gmap), p=_bucket(daily["start_s"].to_numpy(float), periods)
    )
    d = d[d["p"] >= 0]
    sums = d.groupby(["group", "p"])[
        ["monitored_days", "monitored_s", "known_s", "n_fixes", "n_lbs", *(b[0] for b in GAP_BANDS)]
    ].sum()
    mon = d[d["monitored_s"] > 0]
    base["subjects_monitored"] = mon.groupby(["group", "p"])["subject_id"].nunique()
    base = base.join(sums)
    att = ev["attendance"]
    if len(att):
        a = att.assign(group=att["subject_id"].map(gmap), p=_bucket(att["t_s"].to_numpy(float), periods))
        a = a[a["p"] >= 0]
        base["appointments"] = a.groupby(["group", "p"]).size()
        for st in APPOINTMENT_STATUSES:
            base[f"appt_{st}"] = a[a["status"] == st].groupby(["group", "p"]).size()
    zev = ev["zone_events"]
    if len(zev):
        z = zev.assign(group=zev["subject_id"].map(gmap), p=_bucket(zev["t_s"].to_numpy(float), periods))
        z = z[z["p"] >= 0]
        base["zone_breaches"] = z[z["breach"]].groupby(["group", "p"]).size()
        base["zone_breach_s"] = z[z["breach"]].groupby(["group", "p"])["duration_s"].sum()
        base["zone_no_data"] = z[z["no_data"]].groupby(["group", "p"]).size()
        base["zone_no_data_s"] = z[z["no_data"]].groupby(["group", "p"])["duration_s"].sum()
    hits = ev["hits"]
    hit_idx = pd.MultiIndex.from_product(
        [groups, range(n_p), CRIME_GROUPS], names=["group", "p", "crime_group"]
    )
    hb = pd.DataFrame(index=hit_idx)
    if len(hits):
        h = hits.assign(group=hits["subject_id"].map(gmap), p=_bucket(hits["t_s"].to_numpy(float), periods))
        h = h[h["p"] >= 0]
        for st in ("pending", "qualified", "rejected"):
            base[f"hits_{st}"] = h[h["review_state"] == st].groupby(["group", "p"]).size()
            hb[f"hits_{st}"] = h[h["review_state"] == st].groupby(["group", "p", "crime_group"]).size()
        base["crimes_matched"] = h.groupby(["group", "p"])["crime_key"].nunique()
        hb["crimes_matched"] = h.groupby(["group", "p", "crime_group"])["crime_key"].nunique()
    cols = metric_columns("cohort")
    derived = ("coverage", "lbs_share", "attended_share", "missed_share", "appointments_judged")
    for c in cols[5:]:
        if c not in base and c not in derived:
            base[c] = 0
    base = base.fillna(0)
    base["coverage"] = _ratio(base["known_s"], base["monitored_s"]).to_numpy()
    base["lbs_share"] = _ratio(base["n_lbs"], base["n_fixes"]).to_numpy()
    base["appointments_judged"] = sum(base[f"appt_{s}"] for s in JUDGED_STATUSES)
    base["attended_share"] = _ratio(base["appt_attended"], base["appointments_judged"]).to_numpy()
    base["missed_share"] = _ratio(base["appt_not_attended"], base["appointments_judged"]).to_numpy()
    base = base.reset_index()
    _label(base, periods, kind, group_by)
    for c in cols:
        if c.endswith("_s") or c in ("coverage", "lbs_share", "attended_share", "missed_share"):
            base[c] = base[c].astype(float)
        elif c not in ("group_by", "group", "period", "period_label", "period_start"):
            base[c] = base[c].astype(np.int64)
    for c in ("hits_pending", "hits_qualified", "hits_rejected", "crimes_matched"):
        if c not in hb:
            hb[c] = 0
    hb = hb.fillna(0).reset_index()
    _label(hb, periods, kind, group_by)
    for c in ("hits_pending", "hits_qualified", "hits_rejected", "crimes_matched"):
        hb[c] = hb[c].astype(np.int64)
    return base, hb


def _label(df: pd.DataFrame, periods: pd.DataFrame, kind: str, group_by: str) -> None:
    df["group_by"] = group_by
    df["period"] = kind
    df["period_label"] = periods["label"].to_numpy()[df["p"].to_numpy(int)]
    df["period_start"] = [t.isoformat() for t in periods["start"].to_numpy()[df["p"].to_numpy(int)]]
    df["group"] = df["group"].astype(object)


# -- HTML ---------------------------------------------------------------------------------------------
_DEC = {"coverage": 3, "lbs_share": 3, "attended_share": 3, "missed_share": 3}


def num_table(df: pd.DataFrame, cols: list[str], empty: str = "None.") -> str:
    """An HTML table of report figures: counts as integers, seconds to 0.1 s, shares to 0.001."""
    if not len(df):
        return f'<p class="note">{H.esc(empty)}</p>'
    head = "".join(f"<th>{H.esc(c)}</th>" for c in cols)
    body = []
    for rec in df[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            if isinstance(v, bool | np.bool_):
                cells.append(f"<td>{'true' if v else 'false'}</td>")
            elif isinstance(v, int | np.integer):
                cells.append(f'<td class="num">{int(v)}</td>')
            elif isinstance(v, float | np.floating):
                txt = "" if not np.isfinite(v) else f"{v:.{_DEC.get(c, 1)}f}"
                cells.append(f'<td class="num">{txt}</td>')
            else:
                cells.append(f"<td>{H.esc('' if v is None else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    wide = ' class="wide"' if len(cols) > 10 else ""
    return f"<table{wide}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def definitions_html(names: list[str] | None = None) -> str:
    """The metric definitions (:data:`METRICS`) as an HTML table, optionally only ``names``."""
    m = metrics_frame()
    if names is not None:
        m = m[m["name"].isin(names)]
    return (
        '<table class="defs"><thead><tr><th>name</th><th>definition</th><th>unit</th></tr></thead><tbody>'
        + "".join(
            f"<tr><td>{H.esc(r.name)}</td><td>{H.esc(r.definition)}</td><td>{H.esc(r.unit)}</td></tr>"
            for r in m.itertuples(index=False)
        )
        + "</tbody></table>"
    )


PERIOD_NOTE = (
    "Weeks are ISO weeks (Monday to Sunday) and months calendar months, both in Europe/London local "
    "time (BST/GMT as the clock says); the first and last periods are clipped to the report period. "
    "Times in tables are local unless marked UTC."
)


def _chart_coverage(cohort: pd.DataFrame):
    fig = H.new_figure(7.0, 2.8)
    ax = fig.add_subplot()
    w = cohort[(cohort["period"] == "week") & (cohort["group_by"] == "cohort")]
    labels = list(dict.fromkeys(w["period_label"]))
    groups = list(dict.fromkeys(w["group"]))
    x = np.arange(len(labels))
    width = 0.8 / max(len(groups), 1)
    hatches = ["", "//", ".."]
    for i, g in enumerate(groups):
        vals = w[w["group"] == g].set_index("period_label").reindex(labels)["coverage"].to_numpy(float)
        ax.bar(x + i * width, np.nan_to_num(vals), width, label=g, hatch=hatches[i % 3], edgecolor="black")
    ax.set_xticks(x + width * (len(groups) - 1) / 2, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("coverage (0-1)")
    ax.set_title("Data coverage by ISO week and cohort")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _chart_stacked(df: pd.DataFrame, cols: list[str], labels: list[str], title: str, ylabel: str):
    fig = H.new_figure(7.0, 2.8)
    ax = fig.add_subplot()
    x = np.arange(len(df))
    bottom = np.zeros(len(df))
    colours = ["#2e7d32", "#f9a825", "#ef6c00", "#8d6e63", "#c62828", "#9e9e9e", "#cfd8dc"]
    for i, (c, lab) in enumerate(zip(cols, labels, strict=True)):
        vals = df[c].to_numpy(float)
        ax.bar(x, vals, 0.6, bottom=bottom, label=lab, color=colours[i % len(colours)], edgecolor="black")
        bottom += vals
    ax.set_xticks(x, list(df["period_label"]) if "period_label" in df else list(df.index))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncols=4, loc="upper left")
    ax.set_ylim(0, max(1.0, bottom.max() * 1.35 if len(bottom) else 1.0))
    return fig


def cohort_report_html(tables: CohortTables, *, provenance: dict | None = None, tz: str = REPORT_TZ) -> str:
    """The cohort report as one self-contained HTML page (charts embedded as PNG data URIs).

    Parameters
    ----------
    tables : CohortTables
        From :func:`cohort_tables`.
    provenance : dict, optional
        Printed at the end (:func:`trailmon.report.writers.make_provenance`).
    tz : str, default "Europe/London"
        Zone of the periods (stated on the page).

    Returns
    -------
    str
        The HTML document, marked ``OFFICIAL-SENSITIVE`` in its header and on every printed page.
    """
    import json

    c = tables.cohort
    prov = provenance or {}
    rep_all = c[(c["period"] == "report") & (c["group_by"] == "all")].iloc[0]
    week_all = c[(c["period"] == "week") & (c["group_by"] == "all")]
    lead = ["group", "period_label"]
    mon_cols = ["subjects_monitored", "monitored_days", "coverage", *(b[0] for b in GAP_BANDS), "lbs_share"]
    appt_cols = [
        "appointments",
        *(f"appt_{s}" for s in APPOINTMENT_STATUSES),
        "attended_share",
        "missed_share",
    ]
    zone_cols = ["zone_breaches", "zone_breach_s", "zone_no_data", "zone_no_data_s"]
    hit_cols = ["hits_pending", "hits_qualified", "hits_rejected", "crimes_matched"]
    hrep = tables.hits[(tables.hits["period"] == "report") & (tables.hits["group_by"] == "all")]
    hrep = hrep.set_index("crime_group")
    summary = [
        (
            "period",
            f"{H.local_text(tables.t_from, tz)} to {H.local_text(tables.t_to, tz)} ({tz}); "
            f"UTC {tables.t_from.isoformat()} to {tables.t_to.isoformat()}",
        ),
        ("subjects monitored", str(int(rep_all["subjects_monitored"]))),
        ("monitored subject-days", str(int(rep_all["monitored_days"]))),
        ("data coverage", "" if pd.isna(rep_all["coverage"]) else f"{rep_all['coverage']:.3f}"),
        (
            "appointments",
            f"{int(rep_all['appointments'])} ("
            + ", ".join(f"{s} {int(rep_all[f'appt_{s}'])}" for s in APPOINTMENT_STATUSES)
            + ")",
        ),
        (
            "zone breaches / no-data spells",
            f"{int(rep_all['zone_breaches'])} / {int(rep_all['zone_no_data'])}",
        ),
        (
            "proximity hits",
            f"pending {int(rep_all['hits_pending'])}, qualified {int(rep_all['hits_qualified'])}, "
            f"rejected {int(rep_all['hits_rejected'])}; crimes matched {int(rep_all['crimes_matched'])}",
        ),
        ("requested by", f"{prov.get('user', '')}: {prov.get('purpose', '')}"),
        ("generated", str(prov.get("generated", ""))),
    ]
    charts = [
        H.figure_html(_chart_coverage(c), "bar chart of data coverage by ISO week for each cohort"),
        H.figure_html(
            _chart_stacked(
                week_all,
                [f"appt_{s}" for s in APPOINTMENT_STATUSES],
                list(APPOINTMENT_STATUSES),
                "Appointments by status and ISO week (all subjects)",
                "appointments",
            ),
            "stacked bar chart of appointment statuses by week",
            "no_data and not_monitored are shown apart: never counted as missed or as attended.",
        ),
        H.figure_html(
            _chart_stacked(
                week_all,
                [b[0] for b in GAP_BANDS],
                ["< 10 min", "10-60 min", ">= 60 min"],
                "Data gaps by length and ISO week (all subjects)",
                "gaps",
            ),
            "stacked bar chart of data gaps by length band and week",
        ),
        H.figure_html(
            _chart_stacked(
                hrep.reindex(list(CRIME_GROUPS)).assign(period_label=list(CRIME_GROUPS)),
                hit_cols[:3],
                ["pending", "qualified", "rejected"],
                "Proximity hits by crime group and review state (report period)",
                "hits",
            ),
            "stacked bar chart of proximity hits by crime group and review state",
        ),
    ]

    def part(title: str, cols: list[str], period: str, group_by: tuple[str, ...]) -> str:
        df = c[(c["period"] == period) & c["group_by"].isin(group_by)]
        return f"<h3>{H.esc(title)}</h3>" + num_table(df, lead + cols)

    parts = [
        "<h1>IOM cohort report</h1>",
        f'<p class="note">{H.esc(PERIOD_NOTE)}</p>',
        H.kv(summary),
        "<h2>Charts</h2>",
        *charts,
        '<section class="part"><h2>By cohort</h2>',
        part("Monitoring and data coverage, by week", mon_cols, "week", ("all", "cohort")),
        part("Monitoring and data coverage, by month", mon_cols, "month", ("all", "cohort")),
        part("Appointments, by week", appt_cols, "week", ("all", "cohort")),
        part("Appointments, by month", appt_cols, "month", ("all", "cohort")),
        part("Zones, by week", zone_cols, "week", ("all", "cohort")),
        part("Zones, by month", zone_cols, "month", ("all", "cohort")),
        part("Proximity hits, by week", hit_cols, "week", ("all", "cohort")),
        part("Proximity hits, by month", hit_cols, "month", ("all", "cohort")),
        "</section>",
        '<section class="part"><h2>By offender manager</h2>',
        part("Monitoring and data coverage, by week", mon_cols, "week", ("offender_manager",)),
        part("Appointments, by week", appt_cols, "week", ("offender_manager",)),
        part("Appointments, by month", appt_cols, "month", ("offender_manager",)),
        part("Zones and hits, by month", zone_cols + hit_cols, "month", ("offender_manager",)),
        "</section>",
        '<section class="part"><h2>Proximity hits by crime group (SPEC §1), report period</h2>',
        num_table(
            tables.hits[
                (tables.hits["period"] == "report") & tables.hits["group_by"].isin(("all", "cohort"))
            ],
            ["group", "crime_group", *hit_cols],
        ),
        "<h3>By month</h3>",
        num_table(
            tables.hits[(tables.hits["period"] == "month") & (tables.hits["group_by"] == "all")],
            ["period_label", "crime_group", *hit_cols],
        ),
        "</section>",
        '<section class="part"><h2>Definitions</h2>',
        f'<p class="note">{H.esc(PERIOD_NOTE)} Every figure is recomputable from the case-record store '
        "(subjects, attendance, zone_events, hits, crimes) and the trail store (fixes and monitoring "
        "windows); the CSV files beside this page hold every row.</p>",
        definitions_html(),
        "<h2>Provenance</h2>",
        f'<pre class="note">{H.esc(json.dumps(prov, indent=1, default=str))}</pre>',
        "</section>",
    ]
    return H.page("IOM cohort report", parts)


# -- writing ------------------------------------------------------------------------------------------
def write_cohort_report(
    out_dir: str | Path,
    trail_store,
    cases,
    t_from,
    t_to,
    *,
    user: str | None,
    purpose: str | None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    tz: str = REPORT_TZ,
    parameters: dict | None = None,
) -> dict:
    """Write the cohort report (CSVs and one HTML page) to ``out_dir``; a consultation, audited.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``cohort.csv``, ``cohort_hits.csv``, ``cohort_daily.csv``, ``metrics.csv`` and
        ``cohort.html``.
    trail_store : TrailStore
        Fixes and monitoring windows; its audit log records the consultation.
    cases : CaseStore
        The case-record store.
    t_from, t_to : pandas.Timestamp
        The report period (tz-aware).
    user, purpose : str
        Who consults the data and why; refused without them.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, default "Europe/London"
        Zone of the days, weeks and months.
    parameters : dict, optional
        Extra parameters recorded in provenance and in the audit log.

    Returns
    -------
    dict
        ``{"outputs": {name: path}, "subjects": n, "counts": {...}}``.

    Raises
    ------
    AccessRefusedError
        Without ``user`` or ``purpose`` (exit 3 on the command line).
    InputError
        For a period without a time zone or of no length.
    """
    from trailmon.map._offline import write_private
    from trailmon.report.writers import make_provenance, write_table
    from trailmon.store._files import make_private_dir
    from trailmon.store.audit import audit_run, require_identity

    user, purpose = require_identity(user, purpose, action="report cohort")
    tables = cohort_tables(trail_store, cases, t_from, t_to, max_gap_s=max_gap_s, tz=tz)
    out = Path(out_dir)
    if not out.exists():
        make_private_dir(out)
    params = {
        "form": "cohort",
        "from": tables.t_from.isoformat(),
        "to": tables.t_to.isoformat(),
        "tz": tz,
        "max_gap_s": float(max_gap_s),
        "store": str(trail_store.path),
        "cases": str(cases.path),
        **(parameters or {}),
    }
    prov = make_provenance(
        "report cohort",
        params,
        transformation=trail_store.crs.info.as_dict(),
        user=user,
        purpose=purpose,
        extra={"periods": PERIOD_NOTE},
    )
    paths = {
        "cohort": write_table(tables.cohort, out / "cohort.csv", prov),
        "hits": write_table(tables.hits, out / "cohort_hits.csv", prov),
        "daily": write_table(tables.daily, out / "cohort_daily.csv", prov),
        "metrics": write_table(metrics_frame(), out / "metrics.csv", prov),
    }
    html_path = out / "cohort.html"
    write_private(html_path, cohort_report_html(tables, provenance=prov, tz=tz).encode("utf-8"))
    paths["html"] = html_path
    rep = tables.cohort[(tables.cohort["period"] == "report") & (tables.cohort["group_by"] == "all")].iloc[0]
    counts = {
        k: int(rep[k])
        for k in (
            "subjects_monitored",
            "appointments",
            "zone_breaches",
            "hits_pending",
            "hits_qualified",
            "hits_rejected",
        )
    }
    audit_run(
        trail_store,
        user=user,
        purpose=purpose,
        action="report",
        kind="consultation",
        parameters=params,
        subjects=list(tables.subjects["subject_id"]),
        counts=counts,
    )
    return {
        "outputs": {k: str(v) for k, v in paths.items()},
        "subjects": len(tables.subjects),
        "counts": counts,
    }
