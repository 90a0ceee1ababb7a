"""A slow, obviously right attendance: sample the look window every second, apply the rules."""

from __future__ import annotations

import numpy as np


def attendance_one(t, x, y, windows, start_s, end_s, inside_xy, *, max_gap_s=600.0, early_s=900.0,
                   late_s=600.0, min_inside_s=1200.0, min_inside_fraction=0.5, min_coverage=0.5,
                   step_s=1.0, halo_s=60.0):
    """Attendance of one appointment from one subject's fixes (already filtered by accuracy).

    ``inside_xy(x, y) -> bool array`` tests the geofence; ``windows`` are monitoring windows
    ``[(start_s, end_s)]``. Returns ``dict(inside_s, arrival, departure, coverage, status)``;
    figures are exact to about ``step_s`` per boundary crossing.
    """
    t = np.asarray(t, float)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    a = start_s - early_s

    def monitored(s):
        s = np.asarray(s, float)
        out = np.zeros(len(s), dtype=bool)
        for w0, w1 in windows:
            out |= (w0 <= s) & (s <= w1)
        return out

    def position(s):
        return position_at(t, x, y, max_gap_s, s)

    # inside: midpoints of 1-s steps, plus the fixes themselves (isolated fixes are instants)
    mids = a + (np.arange(int(round((end_s - a) / step_s))) + 0.5) * step_s
    px, py = position(mids)
    ok = ~np.isnan(px) & monitored(mids)
    ins = np.zeros(len(mids), dtype=bool)
    ins[ok] = inside_xy(px[ok], py[ok])
    inside_s = float(ins.sum() * step_s)
    at_fix = (t >= a) & (t <= end_s) & monitored(t)
    fix_in = np.zeros(len(t), dtype=bool)
    fix_in[at_fix] = inside_xy(x[at_fix], y[at_fix])
    times = np.concatenate([mids[ins], t[fix_in]])
    arrival = float(times.min()) if len(times) else np.nan
    departure = float(times.max()) if len(times) else np.nan
    # coverage: known (segment or within halo_s of a fix) and monitored, over [S, E]
    cm = start_s + (np.arange(int(round((end_s - start_s) / step_s))) + 0.5) * step_s
    qx, _ = position(cm)
    near = np.zeros(len(cm), dtype=bool)
    for v in t:
        near |= np.abs(cm - v) <= halo_s
    known = (~np.isnan(qx) | near) & monitored(cm)
    coverage = float(known.mean()) if len(cm) else 0.0
    mon = monitored(cm)
    if not mon.any():
        status = "not_monitored"
    elif not len(times):
        status = "no_data" if coverage < min_coverage else "not_attended"
    elif inside_s < min(min_inside_fraction * (end_s - start_s), min_inside_s):
        status = "partial"
    elif arrival > start_s + late_s:
        status = "late"
    elif departure < end_s - late_s:
        status = "left_early"
    else:
        status = "attended"
    return dict(inside_s=inside_s, arrival=arrival, departure=departure, coverage=coverage, status=status)


def position_at(t, x, y, max_gap_s, s):
    """Linear interpolation on the segment holding each instant; NaN across a gap or off the trail."""
    t, x, y = (np.asarray(v, float) for v in (t, x, y))
    s = np.asarray(s, float)
    px = np.full(len(s), np.nan)
    py = np.full(len(s), np.nan)
    if not len(t):
        return px, py
    j = np.searchsorted(t, s, side="right") - 1  # the last fix at or before each instant
    jc = np.clip(j, 0, len(t) - 1)
    nxt = np.minimum(jc + 1, len(t) - 1)
    at_fix = (j >= 0) & (t[jc] == s)
    on_seg = (j >= 0) & (j + 1 < len(t)) & (t[nxt] - t[jc] <= max_gap_s) & ~at_fix
    px[at_fix], py[at_fix] = x[jc[at_fix]], y[jc[at_fix]]
    k, k1 = jc[on_seg], nxt[on_seg]
    f = (s[on_seg] - t[k]) / (t[k1] - t[k])
    px[on_seg] = x[k] + f * (x[k1] - x[k])
    py[on_seg] = y[k] + f * (y[k1] - y[k])
    return px, py
