"""A plain NumPy twin of the evidence table's per-row columns (seq, labels, velocity, accuracy, flags, times).

Row by row it is what :func:`trailmon.match.proximity._evidence_table` computes in one kernel pass:
each column built separately with NumPy, text codes through ``np.unique``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from trailmon.match import _proximity_kernels as K
from trailmon.match.proximity import (
    EVIDENCE_MARGIN_M,
    FLAG_WINDOW_UNKNOWN,
    _computed_ns,
    _dict_column,
    _fix_ns,
    _pass_letters,
)
from trailmon.report._columns import EVIDENCE
from trailmon.trail import FIX_TYPES, flags_to_text


def neighbour_velocity(trails, i, max_gap_s):
    """Velocity (m/s, grid x and y) at fix ``i`` from its linked neighbours; NaN when it has none."""
    t, x, y = trails.t_s, trails.x_m, trails.y_m
    s = np.searchsorted(trails.offsets, i, side="right") - 1
    lo, hi = trails.offsets[s], trails.offsets[s + 1]
    ip = np.maximum(i - 1, lo)
    inx = np.minimum(i + 1, hi - 1)
    has_p = (i > lo) & (t[i] - t[ip] <= max_gap_s)
    has_n = (i + 1 < hi) & (t[inx] - t[i] <= max_gap_s)
    a = np.where(has_p, ip, i)
    b = np.where(has_n, inx, i)
    dt = t[b] - t[a]
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = np.where(dt > 0, (x[b] - x[a]) / dt, np.nan)
        vy = np.where(dt > 0, (y[b] - y[a]) / dt, np.nan)
    return vx, vy


def evidence_rows(trails, cr, qid, sid, max_gap_s):
    """The rows of :func:`K.evidence_many`, one hit at a time with the unpruned kernels (passes from
    ``evaluate_subject``): ``(off, kind, pas, t, x, y, fa, fb, d)``."""
    tr = trails
    parts = []
    counts = [0]
    for h in range(len(qid)):
        q, s = int(qid[h]), int(sid[h])
        lo, hi = int(tr.offsets[s]), int(tr.offsets[s + 1])
        wlo, whi = int(tr.win_offsets[s]), int(tr.win_offsets[s + 1])
        args = (tr.t_s, tr.x_m, tr.y_m)
        k, ivs = K._evidence_passes(*args, tr.accuracy_m, lo, hi, tr.win_start_s, tr.win_end_s, wlo, whi, cr.x[q],
                                    cr.y[q], cr.r[q], cr.t1[q], cr.t2[q], max_gap_s)
        ei, ef = np.empty(0, np.int64), np.empty(0, np.float64)
        m = K._evidence_rows(*args, lo, hi, tr.win_start_s, tr.win_end_s, wlo, whi, cr.x[q], cr.y[q], cr.r[q],
                             cr.t1[q], cr.t2[q], EVIDENCE_MARGIN_M, k, ivs, ei, ei, ef, ef, ef, ei, ei, ef, False)
        out = (np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m), np.empty(m), np.empty(m),
               np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m))
        K._evidence_rows(*args, lo, hi, tr.win_start_s, tr.win_end_s, wlo, whi, cr.x[q], cr.y[q], cr.r[q],
                         cr.t1[q], cr.t2[q], EVIDENCE_MARGIN_M, k, ivs, *out, True)
        parts.append(out)
        counts.append(m)
    off = np.cumsum(counts).astype(np.int64)
    cols = [np.concatenate([p[c] for p in parts]) if parts else np.empty(0) for c in range(8)]
    return (off, *cols)


def evidence_table(trails, cr, qid, sid, max_gap_s, crs, rows=None):
    """The evidence table from the rows of :func:`K.evidence_many` (or ``rows``), column by column in NumPy."""
    tr = trails
    off, kind, pas, t, x, y, fa, fb, d = rows if rows is not None else K.evidence_many(
        tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets,
        np.ascontiguousarray(sid, dtype=np.int64), cr.x[qid], cr.y[qid], cr.r[qid], cr.t1[qid], cr.t2[qid],
        max_gap_s, EVIDENCE_MARGIN_M)
    if len(kind) == 0:
        return None
    h = np.repeat(np.arange(len(qid), dtype=np.int64), np.diff(off))
    new = np.ones(len(h), dtype=bool)
    new[1:] = (h[1:] != h[:-1]) | (pas[1:] != pas[:-1])
    starts = np.flatnonzero(new)
    seq = np.arange(len(h)) - np.repeat(starts, np.diff(np.append(starts, len(h)))) + 1
    names = _pass_letters(np.arange(pas.max() + 1))
    width = int(seq.max()) + 1
    uniq, inverse = np.unique(pas * width + seq, return_inverse=True)
    labels = [names[k // width] + str(k % width) for k in uniq.tolist()]
    at_fix = fa == fb
    lat = tr.lat[fa].copy()
    lon = tr.lon[fa].copy()
    if (~at_fix).any():
        ilon, ilat = crs.to_wgs84(x[~at_fix], y[~at_fix])
        lon[~at_fix] = ilon
        lat[~at_fix] = ilat
    acc_a, acc_b = tr.accuracy_m[fa], tr.accuracy_m[fb]
    take_b = acc_b > acc_a
    acc = np.where(take_b, acc_b, acc_a)
    ftype = np.where(take_b, tr.fix_type[fb], tr.fix_type[fa]).astype(np.int32)
    vx, vy = neighbour_velocity(tr, fa, max_gap_s)
    dts = tr.t_s[fb] - tr.t_s[fa]
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = np.where(at_fix, vx, (tr.x_m[fb] - tr.x_m[fa]) / dts)
        vy = np.where(at_fix, vy, (tr.y_m[fb] - tr.y_m[fa]) / dts)
    speed = np.hypot(vx, vy)
    with np.errstate(invalid="ignore"):
        heading = np.where(speed > 0, np.degrees(np.arctan2(vx, vy)) % 360.0, np.nan)
    sup_speed = np.where(at_fix, tr.speed_mps[fa], np.nan)
    sup_head = np.where(at_fix, tr.heading_deg[fa], np.nan)
    speed = np.where(np.isfinite(sup_speed), sup_speed, speed)
    heading = np.where(np.isfinite(sup_head), sup_head, heading)
    unknown = ~tr.window_known[sid[h]]
    fkey, finv = np.unique(tr.flags[fb].astype(np.int64) * 2 + unknown, return_inverse=True)
    fix_text = flags_to_text((fkey // 2).astype(np.int32))
    subj_text = np.where(fkey % 2 == 1, FLAG_WINDOW_UNKNOWN, "")
    flag_names = [a if not b else (b if not a else f"{a};{b}") for a, b in zip(fix_text, subj_text, strict=True)]
    q = qid[h]
    time_ns = np.where(at_fix, _fix_ns(tr, fa), _computed_ns(t))
    cols = {
        "crime_ref": _dict_column(q, cr.ref),
        "crime_version": pa.array(cr.version[q].astype(np.int64)),
        "subject_id": _dict_column(sid[h], tr.subject_ids),
        "label": _dict_column(inverse.reshape(-1), labels),
        "pass": _dict_column(pas, names),
        "seq": pa.array(seq.astype(np.int64)),
        "kind": _dict_column(kind, ["fix", "first", "last"]),
        "time": pa.array(time_ns, type=pa.timestamp("ns", tz="UTC")),
        "lat": pa.array(lat),
        "lon": pa.array(lon),
        "easting": pa.array(x),
        "northing": pa.array(y),
        "distance_m": pa.array(d),
        "within_r": pa.array(d <= cr.r[q]),
        "accuracy_m": pa.array(acc),
        "speed_kmh": pa.array(speed * 3.6),
        "heading_deg": pa.array(heading),
        "fix_type": _dict_column(ftype, FIX_TYPES),
        "flags": _dict_column(finv.reshape(-1), flag_names),
    }
    return pa.table([cols[c] for c in EVIDENCE], names=EVIDENCE)
