"""Kernels of the crime-series routine baseline: which shifted days count (SPEC §3 crime series)."""

from __future__ import annotations

import numpy as np

from trailmon._jit import parallel_kernel, prange
from trailmon.match._kernels import coverage_window, monitored_at, monitored_time


@parallel_kernel
def day_coverage(t_s, offsets, ws, we, win_offsets, subject, a_s, b_s, max_gap_s, halo_s):
    """Coverage of ``[a_s[j], b_s[j]]`` by subject ``subject[j]`` and whether it was monitored throughout.

    Returns ``(coverage 0-1, monitored)``, both shape ``(n,)``; seconds UTC, subject positions in the CSR arrays.
    """
    n = subject.shape[0]
    cov = np.empty(n, np.float64)
    mon = np.empty(n, np.bool_)
    for j in prange(n):
        s = subject[j]
        lo = offsets[s]
        hi = offsets[s + 1]
        wlo = win_offsets[s]
        whi = win_offsets[s + 1]
        a = a_s[j]
        b = b_s[j]
        cov[j] = coverage_window(t_s, lo, hi, a, b, max_gap_s, halo_s, ws, we, wlo, whi)
        if b > a:
            mon[j] = monitored_time(ws, we, wlo, whi, a, b) >= b - a
        else:
            mon[j] = monitored_at(ws, we, wlo, whi, a)
    return cov, mon
