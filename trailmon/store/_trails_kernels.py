"""Store read-path kernels: one pass over the rows read, against each subject's spans."""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel


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
