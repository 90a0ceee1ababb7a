"""Reachability across a gap by dense sampling of the instant t (the obviously right twin)."""

from __future__ import annotations

import math


def min_speed_mps(d_a, d_b, t_a, t_b, t1, t2, n=20001):
    """min over t in [max(tA, T1), min(tB, T2)] of max(dA/(t - tA), dB/(tB - t)), sampled at n instants."""
    a, b = max(t_a, t1), min(t_b, t2)

    def ratio(d, dt):
        if dt > 0:
            return d / dt
        return math.inf if d > 0 else 0.0

    best = math.inf
    for k in range(n):
        u = (a - t_a) + (b - a) * k / (n - 1) if n > 1 else a - t_a  # seconds after tA
        best = min(best, max(ratio(d_a, u), ratio(d_b, (t_b - t_a) - u)))
    return best
