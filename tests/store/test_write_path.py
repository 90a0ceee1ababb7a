"""Store write path: the one-pass speed-jump kernel equals the NumPy rule; the Parquet layout reads back."""

from __future__ import annotations

import numpy as np
import pytest

from trailmon.store._trails_kernels import speed_jump_within
from trailmon.trail import SPEED_JUMP_MPS

pytestmark = pytest.mark.kernels


def _numpy_rule(codes, t, x, y):
    same = np.r_[False, codes[1:] == codes[:-1]]
    dt = np.r_[0, np.diff(t)] / 1e9
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.hypot(np.r_[0.0, np.diff(x)], np.r_[0.0, np.diff(y)]) / dt
    return same & (dt > 0) & (v > SPEED_JUMP_MPS)


def test_speed_jump_kernel_equals_numpy_rule():
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
    got = speed_jump_within(codes, t, x, y, float(SPEED_JUMP_MPS))
    want = _numpy_rule(codes, t, x, y)
    assert got.any() and (~got).any()
    assert (got == want).all()


def test_strictly_increasing_kernel():
    from trailmon.store._trails_kernels import strictly_increasing

    c = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    assert strictly_increasing(c, np.array([1, 2, 1, 5, 0], dtype=np.int64))
    assert not strictly_increasing(c, np.array([1, 1, 1, 5, 0], dtype=np.int64))  # an instant twice
    assert not strictly_increasing(c, np.array([2, 1, 1, 5, 0], dtype=np.int64))  # time backwards
    assert not strictly_increasing(c[::-1].copy(), np.arange(5, dtype=np.int64))  # subjects backwards
    assert strictly_increasing(np.zeros(0, np.int64), np.zeros(0, np.int64))
