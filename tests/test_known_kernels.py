"""The one known-time rule (SPEC §3 trail model), shared by the index and the matchers."""

from __future__ import annotations

import numpy as np
import pytest

from trailmon._known_kernels import fix_known_interval
from trailmon.index._kernels import known_runs
from trailmon.match._kernels import known_time_window

pytestmark = pytest.mark.kernels


def test_fix_known_interval():
    t = np.array([0.0, 30.0, 700.0, 1000.0, 1100.0])
    assert fix_known_interval(t, 0, 5, 600.0, 60.0) == (-60.0, 60.0)  # next fix inside the halo
    assert fix_known_interval(t, 1, 5, 600.0, 60.0) == (-30.0, 90.0)  # next fix 670 s away: a gap
    assert fix_known_interval(t, 2, 5, 600.0, 60.0) == (640.0, 1000.0)  # a segment to the next fix
    assert fix_known_interval(t, 4, 5, 600.0, 60.0) == (1040.0, 1160.0)  # the last fix


def test_known_runs_and_known_time_window_are_one_rule():
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.choice([10.0, 90.0, 400.0, 900.0, 5000.0], 300))
    offsets = np.array([0, 120, 300], dtype=np.int64)
    ro, rs, re = known_runs(t, offsets, 600.0, 60.0)
    for s in range(2):
        lo, hi = offsets[s], offsets[s + 1]
        a, b = t[lo] - 100.0, t[hi - 1] + 100.0
        runs = sum(min(e, b) - max(x, a) for x, e in zip(rs[ro[s]:ro[s + 1]], re[ro[s]:ro[s + 1]], strict=True))
        assert known_time_window(t, lo, hi, a, b, 600.0, 60.0) == pytest.approx(runs, abs=1e-6)
