"""Baselines run side by side with trailmon: GeoPandas ``sjoin`` on fixes, and pymeos (MEOS).

* GeoPandas: a crime is matched to every subject with a *fix* within R inside the window
  (``sjoin_nearest``-free plain ``sjoin`` of fixes against crime buffers, then a time filter).
  It is fast but not exact: a subject who passed between fixes is missed.
* pymeos: each subject's trail as a ``TGeomPointSeqSet`` (SRID 27700, linear interpolation,
  sequences split at gaps > max_gap), restricted to the crime window, then the nearest-approach
  distance to the scene: exact, like trailmon, and the fairest exact peer available in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def geopandas_sjoin_hits(fixes_frame: pd.DataFrame, crimes: pd.DataFrame) -> set[tuple[str, str]]:
    """``(crime_ref, subject_id)`` pairs with a fix within the radius inside the window.

    ``fixes_frame`` has ``subject_id, t_s, x_m, y_m``; ``crimes`` has ``crime_ref, x_m, y_m,
    committed_from, committed_to, radius_m``.
    """
    import geopandas as gpd

    pts = gpd.GeoDataFrame(fixes_frame[["subject_id", "t_s"]],
                           geometry=gpd.points_from_xy(fixes_frame["x_m"], fixes_frame["y_m"]), crs="EPSG:27700")
    circles = gpd.GeoDataFrame({
        "crime_ref": crimes["crime_ref"].to_numpy(),
        "t1": pd.to_datetime(crimes["committed_from"], utc=True).astype("int64").to_numpy() / 1e9,
        "t2": pd.to_datetime(crimes["committed_to"], utc=True).astype("int64").to_numpy() / 1e9,
    }, geometry=gpd.points_from_xy(crimes["x_m"], crimes["y_m"]).buffer(crimes["radius_m"].to_numpy()),
        crs="EPSG:27700")
    joined = gpd.sjoin(pts, circles, predicate="within", how="inner")
    inside = joined[(joined["t_s"] >= joined["t1"]) & (joined["t_s"] <= joined["t2"])]
    return set(zip(inside["crime_ref"], inside["subject_id"], strict=True))


class PymeosTrails:
    """Each subject's trail as a MEOS temporal point (built once; building is timed apart)."""

    def __init__(self, trails, max_gap_s: float = 600.0) -> None:
        from pymeos import TGeomPointSeq, TGeomPointSeqSet, pymeos_initialize

        pymeos_initialize()
        self.seqs = {}
        iso = pd.to_datetime(np.round(trails.t_s * 1e6).astype("int64"), unit="us", utc=True).strftime(
            "%Y-%m-%d %H:%M:%S.%f+00").to_numpy()
        for k, sid in enumerate(trails.subject_ids):
            lo, hi = trails.offsets[k], trails.offsets[k + 1]
            if hi <= lo:
                continue
            cut = np.flatnonzero(np.diff(trails.t_s[lo:hi]) > max_gap_s) + 1
            parts = []
            for a, b in zip(np.r_[0, cut], np.r_[cut, hi - lo], strict=True):
                pts = ", ".join(f"POINT({trails.x_m[lo + i]:.3f} {trails.y_m[lo + i]:.3f})@{iso[lo + i]}"
                                for i in range(a, b))
                parts.append(f"[{pts}]")
            text = "SRID=27700;{" + ", ".join(parts) + "}"
            self.seqs[str(sid)] = TGeomPointSeqSet(text)
        self._seq_cls = TGeomPointSeq

    def hits(self, crimes: pd.DataFrame) -> dict[tuple[str, str], float]:
        """``(crime_ref, subject_id) -> nearest-approach distance`` for distances <= radius."""
        from pymeos import TGeomPointInst, TsTzSpan

        out = {}
        for c in crimes.itertuples():
            t1 = pd.Timestamp(c.committed_from).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            t2 = pd.Timestamp(c.committed_to).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            span = TsTzSpan(f"[{t1}, {t2}]")
            scene = TGeomPointInst(f"SRID=27700;POINT({c.x_m:.3f} {c.y_m:.3f})@{t1}")
            for sid, seq in self.seqs.items():
                part = seq.at(span)
                if part is None:
                    continue
                d = part.nearest_approach_distance(scene.values()[0] if hasattr(scene, "values") else scene)
                if d <= c.radius_m:
                    out[(c.crime_ref, sid)] = d
        return out


def subject_boxes(trails, bucket_s: float = 3600.0) -> pd.DataFrame:
    """Per subject and hour: the box of its fixes (the prefilter a pymeos user writes before ``at``).

    Each box covers the hour's fixes plus the next one (a segment leaving the hour), in metres and
    seconds UTC.
    """
    rows = []
    for k in range(trails.n_subjects):
        lo, hi = int(trails.offsets[k]), int(trails.offsets[k + 1])
        if hi <= lo:
            continue
        t = trails.t_s[lo:hi]
        b = np.floor(t / bucket_s).astype(np.int64)
        cut = np.flatnonzero(np.diff(b)) + 1
        for a, z in zip(np.r_[0, cut], np.r_[cut, hi - lo], strict=True):
            z1 = min(z + 1, hi - lo)
            rows.append((k, t[a], t[z1 - 1], trails.x_m[lo + a:lo + z1].min(), trails.x_m[lo + a:lo + z1].max(),
                         trails.y_m[lo + a:lo + z1].min(), trails.y_m[lo + a:lo + z1].max()))
    return pd.DataFrame(rows, columns=["subject", "t0", "t1", "x0", "x1", "y0", "y1"])


def pymeos_hits_prefiltered(pm: PymeosTrails, trails, boxes: pd.DataFrame,
                            crimes: pd.DataFrame) -> dict[tuple[str, str], float]:
    """As :meth:`PymeosTrails.hits`, but only for subjects whose hourly box (grown by R) meets the crime.

    This is how a pymeos user would write it: a cheap box test first, MEOS for the survivors.
    """
    from pymeos import TGeomPointInst, TsTzSpan

    bs, bt0, bt1 = boxes["subject"].to_numpy(), boxes["t0"].to_numpy(), boxes["t1"].to_numpy()
    bx0, bx1, by0, by1 = (boxes[c].to_numpy() for c in ("x0", "x1", "y0", "y1"))
    out = {}
    for c in crimes.itertuples():
        a = pd.Timestamp(c.committed_from).value / 1e9
        b = pd.Timestamp(c.committed_to).value / 1e9
        r = c.radius_m
        near = ((bt1 >= a) & (bt0 <= b) & (bx0 - r <= c.x_m) & (bx1 + r >= c.x_m) & (by0 - r <= c.y_m)
                & (by1 + r >= c.y_m))
        subjects = np.unique(bs[near])
        if not len(subjects):
            continue
        t1 = pd.Timestamp(c.committed_from).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        t2 = pd.Timestamp(c.committed_to).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        span = TsTzSpan(f"[{t1}, {t2}]")
        scene = TGeomPointInst(f"SRID=27700;POINT({c.x_m:.3f} {c.y_m:.3f})@{t1}")
        for k in subjects.tolist():
            sid = str(trails.subject_ids[k])
            seq = pm.seqs.get(sid)
            if seq is None:
                continue
            part = seq.at(span)
            if part is None:
                continue
            d = part.nearest_approach_distance(scene.values()[0] if hasattr(scene, "values") else scene)
            if d <= r:
                out[(c.crime_ref, sid)] = d
    return out


def numpy_cpa_hits(trails, crimes: pd.DataFrame, max_gap_s: float = 600.0,
                   cell_m: float = 1000.0) -> dict[tuple[str, str], float]:
    """Exact closest approach with plain NumPy, as a NumPy user would write it with a grid prefilter.

    Segments join consecutive fixes of a subject at most ``max_gap_s`` apart; a fix with no
    segment counts as a point. Each segment is filed under the ``cell_m`` grid cell of its first
    fix, by time within the cell; segments longer than ``cell_m`` are checked for every crime. A
    crime looks at the cells within R + ``cell_m`` of its scene, the segments alive in its window
    (``searchsorted``), clips them to the window and takes the point-to-segment distance, then the
    minimum per subject. Monitoring windows are not applied (the benchmark day has none).
    """
    t, x, y = trails.t_s, trails.x_m, trails.y_m
    subj = np.repeat(np.arange(trails.n_subjects), np.diff(trails.offsets))
    same = subj[:-1] == subj[1:]
    seg = np.flatnonzero(same & (np.diff(t) <= max_gap_s))
    linked = np.zeros(len(t), dtype=bool)
    linked[seg] = True
    linked[seg + 1] = True
    lone = np.flatnonzero(~linked)
    a_i = np.r_[seg, lone]
    b_i = np.r_[seg + 1, lone]
    length = np.hypot(x[b_i] - x[a_i], y[b_i] - y[a_i])
    long_ = length > cell_m
    x0, y0 = float(x.min()) if len(x) else 0.0, float(y.min()) if len(y) else 0.0
    cx_i = np.floor((x[a_i] - x0) / cell_m).astype(np.int64)
    cy_i = np.floor((y[a_i] - y0) / cell_m).astype(np.int64)
    ncx = int(cx_i.max()) + 1 if len(cx_i) else 1
    ncy = int(cy_i.max()) + 1 if len(cy_i) else 1
    cell = np.where(long_, ncx * ncy, cx_i * ncy + cy_i)  # long segments: one extra "cell" seen by all
    order = np.lexsort((t[a_i], cell))
    a_i, b_i, cell = a_i[order], b_i[order], cell[order]
    starts = np.searchsorted(cell, np.arange(ncx * ncy + 2))
    ta, tb = t[a_i], t[b_i]
    xa, ya, xb, yb = x[a_i], y[a_i], x[b_i], y[b_i]
    ss = subj[a_i]
    longest = float((tb - ta).max()) if len(ta) else 0.0
    out = {}
    refs = crimes["crime_ref"].to_numpy()
    px_all, py_all, cr = crimes["x_m"].to_numpy(), crimes["y_m"].to_numpy(), crimes["radius_m"].to_numpy()
    c1 = pd.to_datetime(crimes["committed_from"], utc=True).astype("int64").to_numpy() / 1e9
    c2 = pd.to_datetime(crimes["committed_to"], utc=True).astype("int64").to_numpy() / 1e9
    for q in range(len(refs)):
        reach = cr[q] + cell_m
        ix0 = max(int(np.floor((px_all[q] - reach - x0) / cell_m)), 0)
        ix1 = min(int(np.floor((px_all[q] + reach - x0) / cell_m)), ncx - 1)
        iy0 = max(int(np.floor((py_all[q] - reach - y0) / cell_m)), 0)
        iy1 = min(int(np.floor((py_all[q] + reach - y0) / cell_m)), ncy - 1)
        parts = []
        cells = [ix * ncy + iy for ix in range(ix0, ix1 + 1) for iy in range(iy0, iy1 + 1)] + [ncx * ncy]
        for c in cells:
            lo, hi = starts[c], starts[c + 1]
            if hi <= lo:
                continue
            a = lo + np.searchsorted(ta[lo:hi], c1[q] - longest)
            b = lo + np.searchsorted(ta[lo:hi], c2[q], side="right")
            if b > a:
                parts.append(np.arange(a, b))
        if not parts:
            continue
        k = np.concatenate(parts)
        k = k[tb[k] >= c1[q]]
        ta_, tb_ = ta[k], tb[k]
        dur = tb_ - ta_
        with np.errstate(invalid="ignore", divide="ignore"):
            u0 = np.where(dur > 0, np.clip((c1[q] - ta_) / dur, 0, 1), 0.0)
            u1 = np.where(dur > 0, np.clip((c2[q] - ta_) / dur, 0, 1), 0.0)
        dx, dy = xb[k] - xa[k], yb[k] - ya[k]
        px, py = px_all[q] - xa[k], py_all[q] - ya[k]
        l2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(l2 > 0, (px * dx + py * dy) / l2, 0.0)
        u = np.clip(u, u0, u1)
        d = np.hypot(px - u * dx, py - u * dy)
        hit = d <= cr[q]
        if hit.any():
            s_hit, d_hit = ss[k][hit], d[hit]
            o = np.lexsort((d_hit, s_hit))
            first = np.r_[True, s_hit[o][1:] != s_hit[o][:-1]]
            for s_, d_ in zip(s_hit[o][first].tolist(), d_hit[o][first].tolist(), strict=True):
                out[(refs[q], str(trails.subject_ids[s_]))] = d_
    return out
