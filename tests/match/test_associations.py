"""Co-location (SPEC §3): exact episodes against brute force and MEOS, and known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import strategies as S
from tests.naive import associations as naive
from tests.oracles import meos_trail, meos_window, requires_pymeos
from trailmon.errors import InputError
from trailmon.match.associations import associations
from trailmon.testing import make_trail
from trailmon.trail import make_trails

T0 = 1_784_030_400.0
E0, N0 = 530000.0, 180000.0


def _ts(s):
    return pd.Timestamp(round(s * 1000), unit="ms", tz="UTC")


def _walk(sid, dy, minutes=12, t0=T0, speed=1.4, acc=5.0):
    """A fix a minute walking east along the street at ``speed`` m/s, ``dy`` m north of its line."""
    return [(t0 + 60.0 * k, E0 + speed * 60.0 * k, N0 + dy, acc, "gps", sid) for k in range(minutes + 1)]


@pytest.mark.kernels
def test_two_walking_the_same_street_30_m_apart_for_12_min():
    tr = make_trail(_walk("A", 0.0) + _walk("B", 30.0) + _walk("C", 400.0))
    ep = associations(tr, _ts(T0 - 3600), _ts(T0 + 3600))
    assert ep[["subject_a", "subject_b"]].values.tolist() == [["A", "B"]]
    row = ep.iloc[0]
    assert row.duration_s == 720.0 and row.min_distance_m == pytest.approx(30.0, abs=1e-9)
    assert row.start == _ts(T0) and row.end == _ts(T0 + 720) and row.closest_time == _ts(T0)
    assert (row.easting, row.northing) == pytest.approx((E0, N0 + 15.0))
    assert 51.0 < row.lat < 52.0 and -0.2 < row.lon < 0.0
    # 10 min is reported at the default minimum, 13 min is not reached
    assert len(associations(tr, _ts(T0 - 3600), _ts(T0 + 3600), min_duration_s=780.0)) == 0
    # clipped to the period
    clip = associations(tr, _ts(T0 + 60), _ts(T0 + 700), min_duration_s=0)
    assert (clip.iloc[0].start, clip.iloc[0].end) == (_ts(T0 + 60), _ts(T0 + 700))


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("b_rows", "kwargs", "expected"),
    [
        # B converges: 130 m apart closing at 0.25 m/s ... within 50 m from 320 s to the end (720 s)
        ([(T0 + 60.0 * k, E0 + 84.0 * k, N0 + 130.0 - 15.0 * k, 5.0, "gps", "B") for k in range(13)],
         {"min_duration_s": 0}, [(T0 + 320.0, T0 + 720.0, 0.0)]),
        # a gap of 11 min in B's trail: unknown time splits the episode
        ([r for r in _walk("B", 10.0, minutes=24) if not (T0 + 300 < r[0] < T0 + 960)], {"min_duration_s": 0},
         [(T0, T0 + 300.0, 10.0), (T0 + 960.0, T0 + 1440.0, 10.0)]),
        # B's fixes in the middle are too inaccurate: set aside, and its neighbours join across them
        ([(*r[:3], 500.0 if 3 <= k <= 5 else 5.0, *r[4:]) for k, r in enumerate(_walk("B", 10.0, minutes=24))],
         {"min_duration_s": 0}, [(T0, T0 + 1440.0, 10.0)]),
        # D = 5 m: never together
        (_walk("B", 10.0), {"distance_m": 5.0, "min_duration_s": 0}, []),
    ],
)
def test_known_episodes(b_rows, kwargs, expected):
    tr = make_trail(_walk("A", 0.0, minutes=24) + b_rows)
    ep = associations(tr, _ts(T0 - 3600), _ts(T0 + 7200), **kwargs)
    got = [(r.start.value / 1e9, r.end.value / 1e9, round(r.min_distance_m, 6)) for r in ep.itertuples()]
    assert got == [pytest.approx(e) for e in expected]


@pytest.mark.kernels
def test_monitoring_windows_split_episodes_and_subject_filter():
    rows = _walk("A", 0.0, minutes=24) + _walk("B", 10.0, minutes=24) + _walk("C", 20.0, minutes=24)
    tr = make_trail(rows, windows={"B": [(T0, T0 + 600.0), (T0 + 900.0, T0 + 3600.0)]})
    ep = associations(tr, _ts(T0), _ts(T0 + 3600), min_duration_s=0, subjects=["B"])
    assert ep[["subject_a", "subject_b"]].values.tolist() == [["A", "B"]] * 2 + [["B", "C"]] * 2
    assert [r.duration_s for r in ep.itertuples()] == [600.0, 540.0, 600.0, 540.0]
    assert len(associations(tr, _ts(T0), _ts(T0 + 3600), min_duration_s=0, subjects=["nobody"])) == 0


def test_errors_name_the_argument():
    tr = make_trail(_walk("A", 0.0))
    with pytest.raises(InputError, match="distance_m must be a finite number > 0, got 0.0"):
        associations(tr, _ts(T0), _ts(T0 + 60), distance_m=0.0)
    with pytest.raises(InputError, match="t_to must not precede t_from"):
        associations(tr, _ts(T0 + 60), _ts(T0))


@st.composite
def close_trails(draw):
    """Up to 4 subjects near each other (mm, ms), accuracies on both sides of 100 m, optional windows."""
    tr = draw(S.trails(max_subjects=4, max_fixes=8, duplicates=False))
    acc = np.array([draw(st.sampled_from([5.0, 10.0, 50.0, 100.0, 150.0])) for _ in range(tr.n_fixes)])
    sid = tr.subject_ids[tr.subject_of_fix()]
    windows = {str(s): list(zip(tr.win_start_s[tr.win_offsets[k]:tr.win_offsets[k + 1]].tolist(),
                                tr.win_end_s[tr.win_offsets[k]:tr.win_offsets[k + 1]].tolist(), strict=True))
               for k, s in enumerate(tr.subject_ids) if tr.window_known[k]}
    scale = draw(st.sampled_from([0.1, 1.0]))  # 0.1: within +-60 m, so often together
    return make_trails(sid, tr.t_s, tr.x_m * scale, tr.y_m * scale, accuracy_m=acc, windows=windows)


def _close(a, b, tol):
    return abs(a - b) <= tol


@given(close_trails(), st.sampled_from([20.0, 50.0]), st.integers(0, 1_800_000), st.integers(0, 3_000_000))
@settings(max_examples=60)
def test_associations_match_brute_force(tr, d, lo_ms, len_ms):
    t1 = S.T0 + lo_ms / 1000.0
    t2 = t1 + len_ms / 1000.0
    got = associations(tr, _ts(t1), _ts(t2), distance_m=d, min_duration_s=1.0)
    ref = naive.episodes(tr, t1, t2, distance_m=d, min_duration_s=1.0)
    if any(abs((e[3] - e[2]) - 1.0) < 1e-3 for e in naive.episodes(tr, t1, t2, distance_m=d, min_duration_s=0.5)):
        return  # an episode at the threshold: bisection may put it either side
    assert len(got) == len(ref)
    for row, e in zip(got.itertuples(index=False), ref, strict=True):
        assert (row.subject_a, row.subject_b) == e[:2]
        assert _close(row.start.value / 1e9, e[2], 1e-3) and _close(row.end.value / 1e9, e[3], 1e-3)
        assert row.duration_s == pytest.approx(e[3] - e[2], abs=2e-3)
        assert row.min_distance_m == pytest.approx(e[4], abs=1e-5)


@requires_pymeos
@pytest.mark.oracle
@given(close_trails(), st.sampled_from([20.0, 50.0]))
@settings(max_examples=30)
def test_together_time_matches_meos_tdwithin(tr, d):
    """Total together time of each pair equals MEOS tdwithin between two TGeomPointSeqSet (SRID 27700)."""
    keep = ~(tr.accuracy_m > 100.0)
    tr = tr.select_fixes(keep)
    if tr.window_known.any():  # MEOS knows no monitoring windows: compare on subjects without them
        return
    t1, t2 = S.T0 - 1000.0, S.T0 + 4000.0
    ep = associations(tr, _ts(t1), _ts(t2), distance_m=d, min_duration_s=0.0)
    trails = {}
    for k, sid in enumerate(tr.subject_ids.tolist()):
        lo, hi = tr.offsets[k], tr.offsets[k + 1]
        if hi > lo:
            trails[sid] = meos_trail(tr.t_s[lo:hi], tr.x_m[lo:hi], tr.y_m[lo:hi])
    ids = sorted(trails)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            ta, tb = meos_window(trails[a], t1, t2), meos_window(trails[b], t1, t2)
            spans = None
            if ta is not None and tb is not None:
                tw = ta.within_distance(tb, d)
                spans = tw.when_true() if tw is not None else None
            want = 0.0 if spans is None else spans.duration().total_seconds()
            mine = ep[(ep.subject_a == a) & (ep.subject_b == b)]["duration_s"].sum()
            assert mine == pytest.approx(want, abs=2e-3)
