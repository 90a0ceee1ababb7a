"""Slow, obviously right twins of the geofence kernels: ternary search, bisection, dense sampling."""

from __future__ import annotations

import math

import numpy as np
import shapely


def circle_inside_segment(ax, ay, bx, by, cx, cy, r):
    """``(u0, u1)`` of A->B inside the closed disc by ternary search and bisection; NaNs when none."""

    def dist(u):
        return math.hypot(ax + u * (bx - ax) - cx, ay + u * (by - ay) - cy)

    lo, hi = 0.0, 1.0
    for _ in range(200):  # distance along a line is unimodal
        m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if dist(m1) <= dist(m2):
            hi = m2
        else:
            lo = m1
    um = 0.5 * (lo + hi)
    if dist(um) > r:
        return math.nan, math.nan

    def edge(out, inn):  # bisection between an outside and an inside parameter
        for _ in range(200):
            mid = 0.5 * (out + inn)
            if dist(mid) <= r:
                inn = mid
            else:
                out = mid
        return inn

    u0 = 0.0 if dist(0.0) <= r else edge(0.0, um)
    u1 = 1.0 if dist(1.0) <= r else edge(1.0, um)
    return u0, u1


def inside_fraction_sampled(ax, ay, bx, by, geom, n=4001):
    """Fraction of segment A->B inside the closed ``geom``, sampling ``n`` evenly spaced points."""
    u = (np.arange(n) + 0.5) / n
    return float(shapely.intersects_xy(geom, ax + u * (bx - ax), ay + u * (by - ay)).mean())


def inside_fraction_shapely(ax, ay, bx, by, geom):
    """Fraction of segment A->B inside ``geom``: the intersection's length over the segment's."""
    line = shapely.LineString([(ax, ay), (bx, by)])
    return shapely.length(shapely.intersection(line, geom)) / line.length


def trail_position(t, x, y, max_gap_s, at):
    """Interpolated positions at instants ``at`` (NaN where unknown): the fix at or before each
    instant and the next one, joined when at most ``max_gap_s`` apart."""
    t, x, y, at = (np.asarray(v, float) for v in (t, x, y, at))
    j = np.clip(np.searchsorted(t, at, side="right") - 1, 0, len(t) - 1)
    k = np.minimum(j + 1, len(t) - 1)
    at_fix = t[j] == at
    joined = (t[j] <= at) & (at <= t[k]) & (k > j) & (t[k] - t[j] <= max_gap_s)
    f = np.where(joined & (t[k] > t[j]), (at - t[j]) / np.where(t[k] > t[j], t[k] - t[j], 1.0), 0.0)
    ok = at_fix | joined
    px = np.where(ok, x[j] + f * (x[k] - x[j]), np.nan)
    py = np.where(ok, y[j] + f * (y[k] - y[j]), np.nan)
    return px, py


def inside_time_sampled(t, x, y, a, b, max_gap_s, geom, step_s):
    """Time inside ``geom`` over ``[a, b]`` by sampling every ``step_s`` seconds (midpoint rule)."""
    at = a + (np.arange(int(np.ceil((b - a) / step_s))) + 0.5) * step_s
    at = at[at < b]
    px, py = trail_position(t, x, y, max_gap_s, at)
    known = ~np.isnan(px)
    inside = np.zeros(len(at), dtype=bool)
    inside[known] = shapely.intersects_xy(geom, px[known], py[known])
    return float(inside.sum() * step_s)
