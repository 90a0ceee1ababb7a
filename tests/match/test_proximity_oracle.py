"""proximity kernels against MEOS (pymeos): nearest approach and time within R, random cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

from tests import oracles
from tests import strategies as S
from trailmon.match import _proximity_kernels as K

pytestmark = [pytest.mark.oracle, oracles.requires_pymeos]


@settings(max_examples=1000)  # the bar: >= 1,000 random cases against MEOS per run (~10 s here)
@given(S.trails(max_subjects=1, max_fixes=8, with_windows=False, duplicates=False), S.crimes())
def test_min_distance_and_dwell_match_meos(trails, crime):
    px, py, r, t1, t2 = crime
    tr = trails
    n = tr.n_fixes
    st_ = np.empty(K.ST_SIZE)
    K.evaluate_subject(tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, 0, n, tr.win_start_s, tr.win_end_s, 0, 1,
                       px, py, r, t1, t2, 600.0, st_, np.empty(0))
    seq = oracles.meos_window(oracles.meos_trail(tr.t_s, tr.x_m, tr.y_m), t1, t2)
    if seq is None:
        assert st_[K.ST_D2] == np.inf
        return
    # Kernels take float64 seconds since the epoch (a step of 2.4e-7 s in 2026); over fixes a few ms apart
    # the drawn trails move at up to km/s, so a position is good to speed x 1e-6 s, far below 1 mm at the
    # 70 m/s a real tag can show. MEOS keeps whole microseconds.
    dt = np.diff(tr.t_s)
    speed = np.hypot(np.diff(tr.x_m), np.diff(tr.y_m)) / np.where(dt > 0, dt, np.inf) if n > 1 else np.zeros(1)
    tol = 1e-3 + float(speed.max(initial=0.0)) * 1e-6
    assert math.sqrt(st_[K.ST_D2]) == pytest.approx(oracles.meos_min_distance(seq, px, py), abs=tol)
    assert st_[K.ST_DWELL] == pytest.approx(oracles.meos_time_within(seq, px, py, r), abs=1e-3)
