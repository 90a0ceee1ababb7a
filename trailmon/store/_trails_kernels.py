"""Store write-path kernels: one pass over a day sorted by subject and time."""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel


@kernel
def speed_jump_within(codes, t_ns, x, y, limit_mps):
    """True where the speed implied from the subject's previous fix (same code, earlier row) exceeds ``limit_mps``.

    Rows are sorted by subject code, then time; the first fix of a subject has no previous fix.
    The speed is ``hypot(dx, dy) / ((t - t_prev) / 1e9)``, as the NumPy rule computes it.
    """
    n = len(codes)
    out = np.zeros(n, dtype=np.bool_)
    for i in range(1, n):
        if codes[i] != codes[i - 1]:
            continue
        dt = (t_ns[i] - t_ns[i - 1]) / 1e9
        if dt > 0:
            v = np.hypot(x[i] - x[i - 1], y[i] - y[i - 1]) / dt
            if v > limit_mps:
                out[i] = True
    return out


@kernel
def strictly_increasing(codes, t_ns):
    """True when rows are sorted by subject code, then time, with no instant twice for a subject."""
    for i in range(1, len(codes)):
        if codes[i] < codes[i - 1] or (codes[i] == codes[i - 1] and t_ns[i] <= t_ns[i - 1]):
            return False
    return True
