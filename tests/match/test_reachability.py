"""Reachability across a gap (SPEC §3): the closed form against dense sampling, and known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.naive import reachability as naive
from trailmon.errors import InputError
from trailmon.match.proximity import proximity
from trailmon.match.reachability import gap_reachability, min_speed_mps, reachable_by
from trailmon.testing import make_trail

T0 = 1_784_030_400.0


@pytest.mark.parametrize(
    ("d_a", "d_b", "t_a", "t_b", "t1", "t2", "kmh"),
    [
        (3000.0, 1000.0, 0.0, 1200.0, 0.0, 1200.0, 12.0),  # A 3 km, B 1 km, 20 min: cross at 15 min, 3000 m / 900 s
        (3000.0, 1000.0, 0.0, 1200.0, 0.0, 600.0, 18.0),  # window ends at 10 min: 3000 m / 600 s
        (3000.0, 1000.0, 0.0, 1200.0, 1140.0, 1200.0, 60.0),  # window opens at 19 min: 1000 m / 60 s
        (0.0, 0.0, 0.0, 1200.0, 0.0, 1200.0, 0.0),  # both fixes at the scene: 0/0 = 0
        (0.0, 500.0, 0.0, 1000.0, 0.0, 1000.0, 1.8),  # A at the scene: be there at tA, then 500 m in 1000 s
        (100.0, 0.0, 0.0, 1000.0, 1000.0, 2000.0, 0.36),  # touches the window at B, which is at the scene
        (100.0, 50.0, 0.0, 1000.0, 1000.0, 2000.0, math.inf),  # touches the window only at B, away from P
        (100.0, 50.0, 0.0, 1000.0, -500.0, 0.0, math.inf),  # touches the window only at A, away from P
    ],
)
def test_known_speeds(d_a, d_b, t_a, t_b, t1, t2, kmh):
    got = float(min_speed_mps(d_a, d_b, T0 + t_a, T0 + t_b, T0 + t1, T0 + t2)) * 3.6
    assert got == pytest.approx(kmh, rel=1e-12, abs=1e-9) if math.isfinite(kmh) else got == math.inf


@given(st.floats(0, 5000), st.floats(0, 5000), st.floats(1, 7200), st.floats(0, 1), st.floats(0, 1))
def test_closed_form_matches_dense_sampling(d_a, d_b, gap_s, u, w):
    t_a, t_b = T0, T0 + gap_s
    lo, hi = sorted((t_a - 600.0 + (gap_s + 1200.0) * u, t_a - 600.0 + (gap_s + 1200.0) * w))
    if max(t_a, lo) > min(t_b, hi):
        return
    got = float(min_speed_mps(d_a, d_b, t_a, t_b, lo, hi))
    ref = naive.min_speed_mps(d_a, d_b, t_a, t_b, lo, hi)
    if math.isinf(ref) or math.isinf(got):
        assert math.isinf(ref) and math.isinf(got)
        return
    assert got <= ref * (1 + 1e-12) + 1e-12  # the exact minimum is never above a sampled value
    # samples straddle an interior minimum, and one side is at least half the gap from A or B
    assert ref == pytest.approx(got, rel=2e-4, abs=1e-9)


def test_reachable_by_classes_and_thresholds():
    v = np.array([6.0, 6.0000001, 20.0, 112.0, 112.01, np.inf]) / 3.6
    assert reachable_by(v).tolist() == ["foot", "cycle", "cycle", "vehicle", "no", "no"]
    assert reachable_by([10 / 3.6], {"foot": 10.0, "cycle": 25.0, "vehicle": 90.0}).tolist() == ["foot"]
    with pytest.raises(InputError, match="lacks"):
        reachable_by([1.0], {"foot": 5.0})
    with pytest.raises(InputError, match="increasing"):
        reachable_by([1.0], {"foot": 25.0, "cycle": 20.0, "vehicle": 112.0})


def test_errors_name_the_problem():
    with pytest.raises(InputError, match="does not meet the window"):
        min_speed_mps(1.0, 1.0, 0.0, 10.0, 20.0, 30.0)
    with pytest.raises(InputError, match=">= 0 metres"):
        min_speed_mps(-1.0, 1.0, 0.0, 10.0, 0.0, 10.0)


def test_accuracy_is_taken_off_and_missing_accuracy_counts_as_zero():
    kmh, by = gap_reachability(0.0, 0.0, [3010.0, 3000.0], [0.0, 0.0], [10.0, np.nan], [1005.0, 1000.0],
                               [0.0, 0.0], [5.0, np.nan], T0, T0 + 1200.0, T0, T0 + 1200.0)
    assert kmh.tolist() == [12.0, 12.0]
    assert by.tolist() == ["cycle", "cycle"]


def test_gaps_near_scene_carry_reachability():
    # both fixes lie within 1 km of P (a gap near scene): A 900 m west at 0 s, B 300 m east at 1200 s:
    # cross at 900 s, 900 m / 900 s = 3.6 km/h: foot
    tr = make_trail([(T0, -900.0, 0.0, 0.0), (T0 + 1200.0, 300.0, 0.0, 0.0)])
    t = pd.to_datetime([T0, T0 + 1200.0], unit="s", utc=True)
    crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [0.0], "y_m": [0.0], "committed_from": t[:1],
                           "committed_to": t[1:], "radius_m": [50.0]})
    gaps = proximity(tr, crimes).gaps
    assert list(gaps.columns[-2:]) == ["min_speed_kmh", "reachable_by"]
    assert gaps["min_speed_kmh"].tolist() == [pytest.approx(3.6, abs=1e-6)]
    assert gaps["reachable_by"].tolist() == ["foot"]
    slow = proximity(tr, crimes, speed_thresholds_kmh={"foot": 3.0, "cycle": 20.0, "vehicle": 112.0}).gaps
    assert slow["reachable_by"].tolist() == ["cycle"]
