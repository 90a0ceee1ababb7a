"""Brute-force twin of the index: every subject, every piece (no pruning at all)."""

from __future__ import annotations

import numpy as np

from tests.naive import proximity as naive_proximity


def hit_set(trails, px, py, r, t1, t2, max_gap_s=600.0):
    """Subject positions whose interpolated position is within r of (px, py) during [t1, t2]."""
    return {s for s in range(trails.n_subjects)
            if naive_proximity.evaluate(trails, s, px, py, r, t1, t2, max_gap_s) is not None}


def candidate_superset_ok(candidates, trails, px, py, r, t1, t2, max_gap_s=600.0):
    """True when ``candidates`` holds every true hit."""
    return hit_set(trails, px, py, r, t1, t2, max_gap_s) <= set(int(c) for c in candidates)


def hit_set_all_segments(trails, px, py, r, t1, t2, max_gap_s=600.0):
    """Brute force over every segment and isolated fix at once (numpy), for trails without monitoring windows.

    Closest approach of each segment clipped to [t1, t2] by the closed form, compared with r.
    """
    t, x, y = trails.t_s, trails.x_m, trails.y_m
    subj = trails.subject_of_fix()
    same = subj[1:] == subj[:-1]
    linked = same & (t[1:] - t[:-1] <= max_gap_s)
    i = np.flatnonzero(linked)
    ta, tb = np.maximum(t[i], t1), np.minimum(t[i + 1], t2)
    ok = ta <= tb
    i, ta, tb = i[ok], ta[ok], tb[ok]
    dt = t[i + 1] - t[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        vx, vy = (x[i + 1] - x[i]) / dt, (y[i + 1] - y[i]) / dt
        v2 = vx * vx + vy * vy
        tc = np.where(v2 > 0, t[i] - ((x[i] - px) * vx + (y[i] - py) * vy) / v2, ta)
    tc = np.clip(np.nan_to_num(tc, nan=0.0), ta, tb)
    f = np.where(dt > 0, (tc - t[i]) / np.where(dt > 0, dt, 1.0), 0.0)
    d = np.hypot(x[i] + f * (x[i + 1] - x[i]) - px, y[i] + f * (y[i + 1] - y[i]) - py)
    d = np.where(dt > 0, d, np.minimum(np.hypot(x[i] - px, y[i] - py), np.hypot(x[i + 1] - px, y[i + 1] - py)))
    hits = set(subj[i[d <= r]].tolist())
    has_prev = np.r_[False, linked]
    has_next = np.r_[linked, False]
    iso = np.flatnonzero(~has_prev & ~has_next & (t >= t1) & (t <= t2))
    hits |= set(subj[iso[np.hypot(x[iso] - px, y[iso] - py) <= r]].tolist())
    return hits
