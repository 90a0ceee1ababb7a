"""Store write path: the speed-jump rule over a day in one vectorised pass equals the row rule; the order check."""

from __future__ import annotations

import numpy as np

from trailmon.store.trails import _speed_jump_within
from trailmon.trail import SPEED_JUMP_MPS, strictly_increasing


def _row_rule(codes, t, x, y):
    """Row by row: the speed from the subject's previous fix exceeds the limit (rows 1..n-1)."""
    out = []
    for i in range(1, len(codes)):
        dt = (t[i] - t[i - 1]) / 1e9
        v = np.hypot(x[i] - x[i - 1], y[i] - y[i - 1]) / dt if dt > 0 else 0.0
        out.append(bool(codes[i] == codes[i - 1] and dt > 0 and v > SPEED_JUMP_MPS))
    return np.array(out, dtype=bool)


def test_speed_jump_pass_equals_the_row_rule():
    rng = np.random.default_rng(7)
    n = 5000
    codes = np.sort(rng.integers(0, 40, n)).astype(np.int64)
    t = np.zeros(n, dtype=np.int64)
    for c in np.unique(codes):
        k = codes == c
        t[k] = np.cumsum(rng.integers(0, 120, k.sum())) * 10**9  # repeats give dt == 0
    x = rng.normal(0, 3000, n)
    y = rng.normal(0, 3000, n)
    x[::7] = x[::7] + 70.0 * np.where(t[::7] > 0, 1.0, 0.0)  # edge cases near the limit
    got = _speed_jump_within(codes, t, x, y)
    want = _row_rule(codes, t, x, y)
    assert got.any() and (~got).any()
    assert (got == want).all()


def test_strictly_increasing():
    c = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    assert strictly_increasing(c, np.array([1, 2, 1, 5, 0], dtype=np.int64))
    assert not strictly_increasing(c, np.array([1, 1, 1, 5, 0], dtype=np.int64))  # an instant twice
    assert not strictly_increasing(c, np.array([2, 1, 1, 5, 0], dtype=np.int64))  # time backwards
    assert not strictly_increasing(c[::-1].copy(), np.arange(5, dtype=np.int64))  # subjects backwards
    assert strictly_increasing(np.zeros(0, np.int64), np.zeros(0, np.int64))
