"""The single-crime path (serial kernels, proximity_arrays) against the batch path, field by field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import strategies as S
from tests.match.test_proximity import _frame, _generated_crimes, _generated_day
from trailmon.errors import InputError
from trailmon.index import TrailIndex
from trailmon.match import _proximity_kernels as K
from trailmon.match._kernels import coverage_window
from trailmon.match.proximity import CONFIDENCE, proximity, proximity_arrays
from trailmon.testing import make_trail


def _crime_arrays(draws):
    return tuple(np.array([c[k] for c in draws], dtype=np.float64) for k in range(5))


def _assert_same_arrays(one, many, q):
    """Rows of crime ``q`` in the batch answer ``many`` equal the single answer ``one``, bit for bit."""
    for part in ("hits", "gaps"):
        a, b = getattr(one, part), getattr(many, part)
        sel = b.crime == q
        assert (a.crime == 0).all()
        for name in a._fields:
            if name == "crime":
                continue
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name)[sel], err_msg=f"{part}.{name}")


def _check_single_equals_batch(trails, crimes, include_uncertain):
    px, py, r, t1, t2 = crimes
    idx = TrailIndex.build(trails)
    many = proximity_arrays(idx, px, py, t1, t2, r, include_uncertain=include_uncertain)
    for q in range(len(px)):
        one = proximity_arrays(idx, px[q], py[q], t1[q], t2[q], r[q], include_uncertain=include_uncertain)
        _assert_same_arrays(one, many, q)
    return many


@given(S.trails(max_subjects=4, max_fixes=12), st.lists(S.crimes(), min_size=2, max_size=5), st.booleans())
def test_single_crime_path_equals_batch(trails, crimes, include_uncertain):
    _check_single_equals_batch(trails, _crime_arrays(crimes), include_uncertain)


def test_single_crime_path_equals_batch_on_generated_day():
    trails = _generated_day(n_subjects=200, hours=6)
    crimes = _generated_crimes(trails, n=150)
    many = _check_single_equals_batch(trails, crimes, include_uncertain=True)
    assert (many.hits.confidence != 2).sum() > 100 and len(many.gaps.crime) > 0
    # the frames: one crime at a time equals the batch, row for row
    frame = _frame(crimes)
    idx = TrailIndex.build(trails)
    batch = proximity(trails, frame, index=idx, with_evidence=False)
    for q in range(0, 150, 7):
        one = proximity(trails, frame.iloc[[q]], index=idx, with_evidence=False)
        ref = f"K{q}"
        for part in ("hits", "gaps"):
            want = getattr(batch, part)
            want = want[want.crime_ref == ref].reset_index(drop=True)
            got = getattr(one, part).reset_index(drop=True)
            if want.empty:
                assert got.empty
            else:
                pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_proximity_arrays_fields_and_frame_agree():
    tr = make_trail([(0, -450.0, 30.0), (60, 450.0, 30.0), (120, -450.0, 30.0)])
    idx = TrailIndex.build(tr)
    res = proximity_arrays(idx, 0.0, 0.0, 0.0, 120.0)
    h = res.hits
    assert h.subject.tolist() == [0] and h.passes.tolist() == [2] and h.n_fixes_within.tolist() == [0]
    assert bool(h.between_fixes[0]) and CONFIDENCE[h.confidence[0]] == "high"
    assert h.min_distance_m[0] == pytest.approx(30.0) and h.closest_time_s[0] == pytest.approx(30.0)
    assert len(res.gaps.crime) == 0
    crimes = pd.DataFrame({"crime_ref": ["K"], "x_m": [0.0], "y_m": [0.0],
                           "committed_from": pd.to_datetime([0], unit="s", utc=True),
                           "committed_to": pd.to_datetime([120], unit="s", utc=True)})
    frame = proximity(tr, crimes, index=idx).hits
    assert frame.dwell_s.tolist() == h.dwell_s.tolist()
    assert frame.coverage.tolist() == h.coverage.tolist()


def test_proximity_arrays_errors():
    idx = TrailIndex.build(make_trail([(0, 0.0, 0.0)]))
    with pytest.raises(InputError, match="index must be a TrailIndex, got dict"):
        proximity_arrays({}, 0.0, 0.0, 0.0, 1.0)
    with pytest.raises(InputError, match=r"t2_s must be >= t1_s"):
        proximity_arrays(idx, 0.0, 0.0, 1.0, 0.0)
    with pytest.raises(InputError, match=r"radius_m must be > 0, got 0.0 at position 0"):
        proximity_arrays(idx, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_gaps_list_candidates_that_are_not_hits():
    # 150 m from the scene before and after a 20-minute gap: a candidate of the index, never within R
    tr = make_trail([(0, 150.0, 0.0), (1200, 150.0, 10.0)])
    res = proximity_arrays(TrailIndex.build(tr), 0.0, 0.0, 0.0, 1200.0, 100.0)
    assert len(res.hits.crime) == 0
    assert res.gaps.fix.tolist() == [0] and res.gaps.coverage[0] == pytest.approx(120.0 / 1200.0)


@pytest.mark.kernels
@given(S.trails(max_subjects=2, max_fixes=10), S.crimes())
def test_coverage_from_known_runs_is_coverage_window_bit_for_bit(trails, crime):
    _, _, _, t1, t2 = crime
    s = TrailIndex.build(trails).state
    tr = trails
    for k in range(tr.n_subjects):
        lo, hi = int(tr.offsets[k]), int(tr.offsets[k + 1])
        wlo, whi = int(tr.win_offsets[k]), int(tr.win_offsets[k + 1])
        want = coverage_window(tr.t_s, lo, hi, t1, t2, 600.0, 60.0, tr.win_start_s, tr.win_end_s, wlo, whi)
        got = K.coverage_indexed(tr.t_s, lo, hi, t1, t2, 600.0, 60.0, tr.win_start_s, tr.win_end_s, wlo, whi,
                                 s.run_start, s.run_end, int(s.run_offsets[k]), int(s.run_offsets[k + 1]))
        assert got == want
