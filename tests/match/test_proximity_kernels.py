"""Per-segment and per-subject proximity kernels against their naive twins (tests/naive)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import strategies as S
from tests.naive import proximity as naive_prox
from tests.naive import segment as naive_seg
from trailmon.match import _proximity_kernels as K

pytestmark = pytest.mark.kernels

MM = 1e-3
MS = 1e-3


def _window(seg, fa, fb):
    t0, t1 = seg[0], seg[3]
    fa, fb = sorted((fa, fb))
    return t0 + fa * (t1 - t0), t0 + fb * (t1 - t0)


@given(S.segments(), S.crime_windows())
def test_closest_approach_matches_naive(seg, win):
    px, py, fa, fb = win
    ta, tb = _window(seg, fa, fb)
    d, t = K.closest_approach_segment(*seg, px, py, ta, tb)
    ref_d, ref_t = naive_seg.closest_approach_segment(*seg, px, py, ta, tb)
    assert d == pytest.approx(ref_d, abs=MM)
    assert ta <= t <= tb
    if seg[0] == seg[3]:
        return  # two positions at one instant: the time says nothing more
    # the instant returned attains the minimum, and none earlier does (first instant on ties)
    assert naive_seg.dist(*seg, px, py, t) == pytest.approx(ref_d, abs=MM)
    assert t <= ref_t + MS or naive_seg.dist(*seg, px, py, ref_t) > d + 1e-9


@given(S.segments(), S.crime_windows(), st.sampled_from([1.0, 50.0, 100.0, 333.3]))
def test_time_within_matches_naive(seg, win, r):
    px, py, fa, fb = win
    ta, tb = _window(seg, fa, fb)
    lo, hi = K.time_within_segment(*seg, px, py, r, ta, tb)
    ref = naive_seg.time_within_segment(*seg, px, py, r, ta, tb)
    if ref is None:
        assert math.isnan(lo) or naive_seg.dist(*seg, px, py, lo) == pytest.approx(r, abs=MM)
    else:
        assert lo == pytest.approx(ref[0], abs=MS)
        assert hi == pytest.approx(ref[1], abs=MS)


@pytest.mark.parametrize(
    "seg, scene, r, expected",
    [
        # passing 30 m from the scene at 15 m/s: within R for 2*sqrt(100^2-30^2)/15 s around t = 30
        ((0.0, -450.0, 30.0, 60.0, 450.0, 30.0), (0.0, 0.0), 100.0,
         (30 - math.sqrt(100**2 - 30**2) / 15, 30 + math.sqrt(100**2 - 30**2) / 15)),
        # tangent at exactly R: one instant
        ((0.0, -100.0, 100.0, 20.0, 100.0, 100.0), (0.0, 0.0), 100.0, (10.0, 10.0)),
        # starts exactly at R, moving away: the start instant only
        ((0.0, 100.0, 0.0, 60.0, 200.0, 0.0), (0.0, 0.0), 100.0, (0.0, 0.0)),
        # stationary inside R: the whole segment
        ((0.0, 50.0, 0.0, 60.0, 50.0, 0.0), (0.0, 0.0), 100.0, (0.0, 60.0)),
        # two fixes at one instant, one within R: that instant
        ((5.0, 500.0, 0.0, 5.0, 20.0, 0.0), (0.0, 0.0), 100.0, (5.0, 5.0)),
        # never within R
        ((0.0, -450.0, 130.0, 60.0, 450.0, 130.0), (0.0, 0.0), 100.0, (math.nan, math.nan)),
    ],
)
def test_time_within_hand_cases(seg, scene, r, expected):
    lo, hi = K.time_within_segment(*seg, *scene, r, seg[0], seg[3])
    np.testing.assert_allclose([lo, hi], expected, atol=1e-9)


def _state(trails, s, px, py, r, t1, t2):
    st_ = np.empty(K.ST_SIZE)
    tr = trails
    K.evaluate_subject(tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, int(tr.offsets[s]), int(tr.offsets[s + 1]),
                       tr.win_start_s, tr.win_end_s, int(tr.win_offsets[s]), int(tr.win_offsets[s + 1]),
                       px, py, r, t1, t2, 600.0, st_, np.empty(0))
    return st_


@given(S.trails(max_subjects=1, max_fixes=8), S.crimes())
def test_evaluate_subject_matches_naive(trails, crime):
    px, py, r, t1, t2 = crime
    st_ = _state(trails, 0, px, py, r, t1, t2)
    ref = naive_prox.evaluate(trails, 0, px, py, r, t1, t2)
    assert (st_[K.ST_PASSES] > 0) == (ref is not None)
    if ref is None:
        return
    assert min(math.sqrt(st_[K.ST_D2]), r) == pytest.approx(ref["min_distance_m"], abs=MM)
    assert st_[K.ST_T] <= ref["closest_time"] + MS
    assert st_[K.ST_DWELL] == pytest.approx(ref["dwell_s"], abs=MS)
    assert st_[K.ST_FIRST] == pytest.approx(ref["first_within"], abs=MS)
    assert st_[K.ST_LAST] == pytest.approx(ref["last_within"], abs=MS)
    assert st_[K.ST_PASSES] == ref["passes"]
    assert st_[K.ST_NIN] == ref["n_fixes_within"]
