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


@kernel
def span_neighbours(codes, t_ns, span_offsets, span_lo, span_hi, prev_t, prev_i, next_t, next_i, inside):
    """One pass over rows in any order: which lie in a span of their subject, and each span's neighbours.

    Subject ``c``'s spans are ``span_lo/span_hi[span_offsets[c]:span_offsets[c + 1]]`` (int ns,
    closed, sorted, disjoint). Sets ``inside[i]`` for a row in a span; for a row between spans,
    offers it as the nearest row before the next span (``prev_t``/``prev_i``: the latest wins,
    the first seen on a tie) and after the previous one (``next_t``/``next_i``: the earliest wins).
    """
    for i in range(len(codes)):
        c = codes[i]
        a = span_offsets[c]
        b = span_offsets[c + 1]
        if a == b:
            continue
        t = t_ns[i]
        k = a + np.searchsorted(span_lo[a:b], t, side="right")  # the first span starting after t
        if k > a and t <= span_hi[k - 1]:
            inside[i] = True
            continue
        if k < b and (prev_i[k] < 0 or t > prev_t[k]):
            prev_t[k] = t
            prev_i[k] = i
        if k > a and (next_i[k - 1] < 0 or t < next_t[k - 1]):
            next_t[k - 1] = t
            next_i[k - 1] = i
