"""Slow, obviously right twins of the per-segment kernels: ternary search and bisection on |P(t) - C|^2."""

from __future__ import annotations

import math

ITER = 200
TOUCH_M = 1e-9  # a minimum this close to R counts as touching R


def position(t0, x0, y0, t1, x1, y1, t):
    """Linear interpolation in time; the fixes themselves at their instants."""
    if t == t0 or t1 == t0:
        return x0, y0
    if t == t1:
        return x1, y1
    f = (t - t0) / (t1 - t0)
    return x0 + f * (x1 - x0), y0 + f * (y1 - y0)


def dist(t0, x0, y0, t1, x1, y1, px, py, t):
    x, y = position(t0, x0, y0, t1, x1, y1, t)
    return math.hypot(x - px, y - py)


def _argmin(f, a, b):
    lo, hi = a, b
    for _ in range(ITER):
        m1 = lo + (hi - lo) / 3
        m2 = hi - (hi - lo) / 3
        if f(m1) <= f(m2):
            hi = m2
        else:
            lo = m1
    t = (lo + hi) / 2
    best = min((f(a), a), (f(t), t), (f(b), b), key=lambda p: (p[0], p[1]))
    return best[1], best[0]


def closest_approach_segment(t0, x0, y0, t1, x1, y1, px, py, ta, tb):
    """(distance m, time s) of the closest approach over [ta, tb]."""
    if t1 == t0:
        da = math.hypot(x0 - px, y0 - py)
        db = math.hypot(x1 - px, y1 - py)
        return (da, t0) if da <= db else (db, t0)
    dt = t1 - t0
    g = lambda f: math.hypot(x0 + f * (x1 - x0) - px, y0 + f * (y1 - y0) - py)  # noqa: E731
    f, d = _argmin(g, (ta - t0) / dt, (tb - t0) / dt)  # search the fraction: seconds since 1970 lose digits
    return d, min(max(t0 + f * dt, ta), tb)


def time_within_segment(t0, x0, y0, t1, x1, y1, px, py, r, ta, tb):
    """(lo, hi) of [ta, tb] within r of the scene, or None."""
    if t1 == t0:
        if math.hypot(x0 - px, y0 - py) <= r or math.hypot(x1 - px, y1 - py) <= r:
            return t0, t0
        return None
    f = lambda s: dist(t0, x0, y0, t1, x1, y1, px, py, s)  # noqa: E731
    tm, dm = _argmin(f, ta, tb)
    if dm > r + TOUCH_M:
        return None
    if f(ta) <= r:
        lo = ta
    else:
        a, b = ta, tm
        for _ in range(ITER):
            m = (a + b) / 2
            if f(m) <= r:
                b = m
            else:
                a = m
        lo = b
    if f(tb) <= r:
        hi = tb
    else:
        a, b = tm, tb
        for _ in range(ITER):
            m = (a + b) / 2
            if f(m) <= r:
                a = m
            else:
                b = m
        hi = a
    return min(lo, tm), max(hi, tm)
