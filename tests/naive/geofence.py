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
    """Interpolated positions at instants ``at`` (NaN where unknown), by brute force per instant."""
    px = np.full(len(at), np.nan)
    py = np.full(len(at), np.nan)
    for k, s in enumerate(at):
        for i in range(len(t)):
            if t[i] == s:
                px[k], py[k] = x[i], y[i]
                break
            if i + 1 < len(t) and t[i] < s < t[i + 1] and t[i + 1] - t[i] <= max_gap_s:
                f = (s - t[i]) / (t[i + 1] - t[i])
                px[k], py[k] = x[i] + f * (x[i + 1] - x[i]), y[i] + f * (y[i + 1] - y[i])
                break
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
