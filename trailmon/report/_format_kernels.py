"""Text encodings of SPEC §4 written straight into byte buffers (times ISO 8601 UTC, ``Z``, milliseconds).

One formatter for every instant written as text: int64 nanoseconds UTC, floored to the
millisecond (an instant recorded to the millisecond prints exactly as recorded), as
``YYYY-MM-DDTHH:MM:SS.mmmZ`` (24 bytes).
"""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel, parallel_kernel, prange

ISO_MS_WIDTH = 24


@kernel
def _floordiv(a, b):
    q = a // b  # numba follows Python: floor division for negative numbers too
    return q


@kernel
def _iso_ms_one(ns, out, at):
    """Write one instant (int64 ns UTC) as 24 ASCII bytes at ``out[at:at + 24]``."""
    ms_all = _floordiv(ns, 1_000_000)
    days = _floordiv(ms_all, 86_400_000)
    rem = ms_all - days * 86_400_000
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719_468
    era = _floordiv(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    hh = rem // 3_600_000
    mi = (rem // 60_000) % 60
    ss = (rem // 1000) % 60
    ms = rem % 1000
    out[at + 0] = 48 + (y // 1000) % 10
    out[at + 1] = 48 + (y // 100) % 10
    out[at + 2] = 48 + (y // 10) % 10
    out[at + 3] = 48 + y % 10
    out[at + 4] = 45  # -
    out[at + 5] = 48 + m // 10
    out[at + 6] = 48 + m % 10
    out[at + 7] = 45
    out[at + 8] = 48 + d // 10
    out[at + 9] = 48 + d % 10
    out[at + 10] = 84  # T
    out[at + 11] = 48 + hh // 10
    out[at + 12] = 48 + hh % 10
    out[at + 13] = 58  # :
    out[at + 14] = 48 + mi // 10
    out[at + 15] = 48 + mi % 10
    out[at + 16] = 58
    out[at + 17] = 48 + ss // 10
    out[at + 18] = 48 + ss % 10
    out[at + 19] = 46  # .
    out[at + 20] = 48 + ms // 100
    out[at + 21] = 48 + (ms // 10) % 10
    out[at + 22] = 48 + ms % 10
    out[at + 23] = 90  # Z


@parallel_kernel
def iso_ms_bytes(ns, out):
    """Every ``ns[i]`` (int64 ns UTC) as 24 bytes at ``out[24 * i:24 * (i + 1)]`` (uint8, 24 * n)."""
    for i in prange(len(ns)):
        _iso_ms_one(ns[i], out, i * ISO_MS_WIDTH)


def iso_ms_buffer(ns: np.ndarray) -> np.ndarray:
    """``ns`` (int64 ns UTC) as one uint8 buffer of 24-byte ISO strings."""
    ns = np.ascontiguousarray(ns, dtype=np.int64)
    out = np.empty(len(ns) * ISO_MS_WIDTH, dtype=np.uint8)
    if len(ns):
        iso_ms_bytes(ns, out)
    return out


@kernel
def point_zero_text(offsets, data, whole):
    """Append ``.0`` to the texts (int64 ``offsets``, uint8 ``data``) of rows where ``whole``: ``(offsets, data)``.

    Arrow writes the float 3.0 as ``3``; the float look (``3.0``) is kept, in one pass over the bytes.
    """
    n = whole.shape[0]
    out_off = np.empty(n + 1, np.int64)
    out_off[0] = 0
    extra = 0
    for r in range(n):
        if whole[r]:
            extra += 2
        out_off[r + 1] = offsets[r + 1] - offsets[0] + extra
    out = np.empty(out_off[n], np.uint8)
    at = 0
    for r in range(n):
        for k in range(offsets[r], offsets[r + 1]):
            out[at] = data[k]
            at += 1
        if whole[r]:
            out[at] = 46  # .
            out[at + 1] = 48  # 0
            at += 2
    return out_off, out
