"""Shared trail-model kernels: where the position is known, and coverage of a window.

Seconds since the Unix epoch (UTC) throughout. Used by proximity, attendance and zones
alike, so the three agree on what "known" means (SPEC §3 trail model):

* between consecutive fixes at most ``max_gap_s`` apart the position is known (interpolated);
* within ``halo_s`` (60 s) of any fix the position counts as known *for coverage*;
* only time inside a monitoring window counts.

The interval each fix makes known is :func:`trailmon._known_kernels.fix_known_interval`, the one
rule the index's ``known_runs`` uses too.
"""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel
from trailmon._known_kernels import fix_known_interval


@kernel
def known_time_window(t_s, lo, hi, a, b, max_gap_s, halo_s):
    """Seconds of ``[a, b]`` where the position is known, fixes ``t_s[lo:hi]``; 0 when none."""
    if b <= a or hi <= lo:
        return 0.0
    reach = max_gap_s if max_gap_s > halo_s else halo_s
    i = np.searchsorted(t_s[lo:hi], a - reach) + lo - 1
    if i < lo:
        i = lo
    total = 0.0
    cur_s = 0.0
    cur_e = -np.inf
    while i < hi and t_s[i] - halo_s <= b:
        s, e = fix_known_interval(t_s, i, hi, max_gap_s, halo_s)
        if s < a:
            s = a
        if e > b:
            e = b
        if e > s:
            if s > cur_e:
                if cur_e > cur_s:
                    total += cur_e - cur_s
                cur_s = s
                cur_e = e
            elif e > cur_e:
                cur_e = e
        i += 1
    if cur_e > cur_s:
        total += cur_e - cur_s
    return total


@kernel
def known_at(t_s, lo, hi, t, max_gap_s, halo_s):
    """True when the position is known at instant ``t`` (seconds UTC), fixes ``t_s[lo:hi]``."""
    if hi <= lo:
        return False
    j = np.searchsorted(t_s[lo:hi], t) + lo  # first fix with t_s >= t
    if j < hi and t_s[j] - t <= halo_s:
        return True
    if j - 1 >= lo and t - t_s[j - 1] <= halo_s:
        return True
    if lo < j < hi and t_s[j] - t_s[j - 1] <= max_gap_s:
        return True
    return False


@kernel
def monitored_at(ws, we, wlo, whi, t):
    """True when instant ``t`` lies in one of the monitoring windows ``[ws, we][wlo:whi]``."""
    for w in range(wlo, whi):
        if ws[w] <= t <= we[w]:
            return True
    return False


@kernel
def coverage_window(t_s, lo, hi, a, b, max_gap_s, halo_s, ws, we, wlo, whi):
    """Fraction of ``[a, b]`` known and monitored, 0-1; a zero-length window is 1 or 0."""
    if b <= a:
        if monitored_at(ws, we, wlo, whi, a) and known_at(t_s, lo, hi, a, max_gap_s, halo_s):
            return 1.0
        return 0.0
    total = 0.0
    for w in range(wlo, whi):
        s = a if a > ws[w] else ws[w]
        e = b if b < we[w] else we[w]
        if e > s:
            total += known_time_window(t_s, lo, hi, s, e, max_gap_s, halo_s)
    return total / (b - a)


@kernel
def monitored_time(ws, we, wlo, whi, a, b):
    """Seconds of ``[a, b]`` inside the monitoring windows ``[wlo:whi]``."""
    total = 0.0
    for w in range(wlo, whi):
        s = a if a > ws[w] else ws[w]
        e = b if b < we[w] else we[w]
        if e > s:
            total += e - s
    return total
