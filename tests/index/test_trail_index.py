"""TrailIndex: chunk invariants, candidate superset against brute force, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tests import strategies as S
from tests.naive import index as naive_index
from trailmon.errors import InputError
from trailmon.index import TrailIndex
from trailmon.testing import make_trail


@pytest.mark.kernels
@given(S.trails(max_subjects=3, max_fixes=40))
def test_chunks_cover_every_segment_and_fix_once(trails):
    s = TrailIndex.build(trails).state
    t = trails.t_s
    segs, fixes = [], []
    for c in range(len(s.chunk_f0)):
        a, b = s.chunk_f0[c], s.chunk_f1[c]
        segs += list(range(a, b))
        fixes += list(range(a, b + 1))
        assert (np.diff(t[a:b + 1]) <= 600.0).all()
        assert s.chunk_x0[c] <= trails.x_m[a:b + 1].min() and trails.x_m[a:b + 1].max() <= s.chunk_x1[c]
        assert s.chunk_y0[c] <= trails.y_m[a:b + 1].min() and trails.y_m[a:b + 1].max() <= s.chunk_y1[c]
    subj = trails.subject_of_fix()
    linked = [i for i in range(trails.n_fixes - 1) if subj[i] == subj[i + 1] and t[i + 1] - t[i] <= 600.0]
    assert sorted(segs) == linked
    assert set(fixes) == set(range(trails.n_fixes))


@pytest.mark.kernels
@given(S.trails(max_subjects=4, max_fixes=12, with_windows=False), S.crimes())
def test_query_is_a_superset_of_true_hits(trails, crime):
    px, py, r, t1, t2 = crime
    got = TrailIndex.build(trails, cell_m=100.0, bucket_s=300.0).query(px, py, t1, t2, r)
    assert naive_index.hit_set_all_segments(trails, px, py, r, t1, t2) <= set(got.tolist())


def test_bytes_per_fix_on_a_dwelling_trail():
    tr = make_trail([(60.0 * k, 10.0 * np.sin(k), 10.0 * np.cos(k)) for k in range(1440)])
    idx = TrailIndex.build(tr)
    assert idx.state.nbytes / tr.n_fixes <= 40


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_gap_s=-5), r"max_gap_s must be a finite number >= 0, got -5"),
    (dict(cell_m=0), r"cell_m must be a finite number > 0, got 0"),
    (dict(chunk_max_fixes=1), r"chunk_max_fixes must be >= 2, got 1"),
])
def test_build_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrailIndex.build(make_trail([(0, 0.0, 0.0)]), **kwargs)


def test_unsorted_or_nan_fixes_are_refused():
    tr = make_trail([(0, 0.0, 0.0), (60, 1.0, 0.0)])
    with pytest.raises(InputError, match=r"trails.x_m must be finite, got nan at fix 1"):
        TrailIndex.build(tr._replace(x_m=np.array([0.0, np.nan])))
    with pytest.raises(InputError, match=r"trails.t_s must increase within each subject"):
        TrailIndex.build(tr._replace(t_s=np.array([60.0, 0.0])))


def test_query_errors():
    idx = TrailIndex.build(make_trail([(0, 0.0, 0.0)]))
    with pytest.raises(InputError, match=r"radius_m must be > 0, got -1.0 at position 0"):
        idx.query(0.0, 0.0, 0.0, 1.0, -1.0)
    with pytest.raises(InputError, match=r"t2_s must be >= t1_s"):
        idx.query(0.0, 0.0, 1.0, 0.0, 10.0)


@pytest.mark.kernels
@given(S.trails(max_subjects=3, max_fixes=12, with_windows=False), S.crimes())
def test_query_gaps_matches_brute_force(trails, crime):
    px, py, _, t1, t2 = crime
    got = TrailIndex.build(trails).query_gaps(px, py, t1, t2, 400.0).tolist()
    t, x, y = trails.t_s, trails.x_m, trails.y_m
    subj = trails.subject_of_fix()
    want = [i for i in range(trails.n_fixes - 1)
            if subj[i] == subj[i + 1] and t[i + 1] - t[i] > 600.0 and t[i] < t2 and t[i + 1] > t1
            and np.hypot(x[i] - px, y[i] - py) <= 400.0 and np.hypot(x[i + 1] - px, y[i + 1] - py) <= 400.0]
    assert got == want


@pytest.mark.kernels
@given(S.trails(max_subjects=3, max_fixes=12))
def test_known_runs_are_disjoint_and_hold_every_fix(trails):
    s = TrailIndex.build(trails).state
    for k in range(trails.n_subjects):
        rs = s.run_start[s.run_offsets[k]:s.run_offsets[k + 1]]
        re = s.run_end[s.run_offsets[k]:s.run_offsets[k + 1]]
        assert (rs < re).all() and (rs[1:] > re[:-1]).all()
        for ti in trails.t_s[trails.offsets[k]:trails.offsets[k + 1]]:
            assert ((rs <= ti - 60.0) & (ti + 60.0 <= re)).sum() == 1


def test_built_on_two_threads_as_on_one(monkeypatch):
    """From ``_THREADED_FIXES`` fixes the time tables are built on a second thread: the same index."""
    import trailmon.index.trail_index as ti
    from trailmon.trail import make_trails

    rng = np.random.default_rng(3)
    n_sub, n_fix = 40, 600
    t = np.tile(np.cumsum(rng.choice([30.0, 60.0, 900.0], size=n_fix, p=[0.5, 0.45, 0.05])), n_sub)
    walk = np.cumsum(rng.normal(0, 40, size=(2, n_sub * n_fix)), axis=1)
    trails = make_trails(np.repeat([f"S{k}" for k in range(n_sub)], n_fix), t, walk[0], walk[1],
                         windows={"S1": [(t[0] + 3000, t[0] + 9000)]})
    monkeypatch.setattr(ti, "_THREADED_FIXES", 10**12)
    one = TrailIndex.build(trails).state
    monkeypatch.setattr(ti, "_THREADED_FIXES", 0)
    two = TrailIndex.build(trails).state
    for name, a in one._asdict().items():
        assert np.array_equal(a, getattr(two, name)), name
    assert len(one.gap_fix) and len(one.run_start) > n_sub  # gaps and broken runs are there to compare
