"""Crime series against routine (SPEC §3): the batched path against brute force, and known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.naive import series as naive
from trailmon.errors import InputError
from trailmon.match.series import poisson_binomial_tail, series, shifted_windows
from trailmon.testing import make_trail
from trailmon.trail import make_trails

DAY = 86_400.0
T0 = 1_784_019_600.0  # 2026-07-14T09:00:00Z (10:00 BST), a Tuesday


def _crimes(rows):
    """Crime frame from ``(ref, x, y, t1, t2)``."""
    return pd.DataFrame({
        "crime_ref": [r[0] for r in rows], "x_m": [r[1] for r in rows], "y_m": [r[2] for r in rows],
        "committed_from": pd.to_datetime([r[3] for r in rows], unit="s", utc=True),
        "committed_to": pd.to_datetime([r[4] for r in rows], unit="s", utc=True)})


def _visit(t, x, y, minutes=31):
    """A fix a minute at (x, y) from t."""
    return [(t + 60.0 * m, x, y) for m in range(minutes)]


def _away(t, minutes=31):
    return [(t + 60.0 * m, 9000.0, 9000.0) for m in range(minutes)]


def test_every_morning_is_routine_and_crime_days_only_is_a_lead():
    # three crimes on three days at 10:00-10:30 BST at three scenes; R = 100 m
    crimes = [("C1", 0.0, 0.0, T0, T0 + 1800), ("C2", 2000.0, 0.0, T0 + 2 * DAY, T0 + 2 * DAY + 1800),
              ("C3", 0.0, 2000.0, T0 + 5 * DAY, T0 + 5 * DAY + 1800)]
    fixes = []
    for d in range(-14, 20):
        day = T0 + d * DAY
        # S_ROUTINE is at every scene every morning (in turn through the half hour)
        fixes += [(*f, 0.0, "gps", "S_ROUTINE") for f in _visit(day, 0.0, 0.0, 10)]
        fixes += [(*f, 0.0, "gps", "S_ROUTINE") for f in _visit(day + 600, 2000.0, 0.0, 10)]
        fixes += [(*f, 0.0, "gps", "S_ROUTINE") for f in _visit(day + 1200, 0.0, 2000.0, 11)]
        # S_LEAD is far away every morning except at each crime
        at = next((c for c in crimes if c[3] == day), None)
        fixes += [(*f, 0.0, "gps", "S_LEAD") for f in (_visit(day, at[1], at[2]) if at else _away(day))]
    tr = make_trail(fixes)
    res = series(tr, _crimes(crimes), days=14)
    assert res.ranked["subject_id"].tolist() == ["S_LEAD", "S_ROUTINE"]
    lead, routine = res.ranked.iloc[0], res.ranked.iloc[1]
    # the lead: hits all 3, p = 0 on each (28 counted days, never there): P(X >= 3) = 0
    assert (lead.n_hits, lead.expected_hits, lead.n_unknown, lead.p_tail, lead.routine_hits) == (3, 0.0, 0, 0.0, 0)
    # routine: p = 1 on each crime: expected 3, P(X >= 3) = 1, every hit a routine hit
    assert (routine.n_hits, routine.expected_hits, routine.p_tail, routine.routine_hits) == (3, 3.0, 1.0, 3)
    long = res.long.set_index(["subject_id", "crime_ref"])
    assert long.loc[("S_LEAD", "C2"), "counted_days"] == 28 and long.loc[("S_LEAD", "C2"), "p"] == 0.0
    assert long.loc[("S_ROUTINE", "C3"), "p"] == 1.0


@pytest.mark.kernels
def test_unknown_p_without_counted_days_and_no_claim_without_known_hits():
    # only the crime day has data: no counted day, p unknown, p_tail 1.0 (no baseline, no claim)
    tr = make_trail(_visit(T0, 0.0, 0.0))
    res = series(tr, _crimes([("C1", 0.0, 0.0, T0, T0 + 1800)]), days=3)
    row = res.ranked.iloc[0]
    assert (row.n_hits, row.expected_hits, row.n_unknown, row.p_tail) == (1, 0.0, 1, 1.0)
    assert np.isnan(res.long["p"].iloc[0]) and res.long["counted_days"].iloc[0] == 0


@pytest.mark.kernels
def test_days_not_monitored_throughout_do_not_count():
    fixes = [f for d in range(-3, 4) for f in _visit(T0 + d * DAY, 0.0, 0.0)]
    # monitored from the middle of day -2's window: day -3 and -2 do not count, days -1..3 do (5 days)
    tr = make_trail(fixes, windows={"S1": [(T0 - 2 * DAY + 900.0, T0 + 10 * DAY)]})
    res = series(tr, _crimes([("C1", 0.0, 0.0, T0, T0 + 1800)]), days=3)
    assert res.long["counted_days"].tolist() == [4]
    assert res.long["p"].tolist() == [1.0]


@pytest.mark.parametrize(
    ("utc_start", "k", "expected_utc_start"),
    [
        ("2026-03-29T08:00:00Z", -1, "2026-03-28T09:00:00Z"),  # 09:00 BST -> 09:00 GMT the day before
        ("2026-03-28T09:00:00Z", 1, "2026-03-29T08:00:00Z"),  # 09:00 GMT -> 09:00 BST
        ("2026-03-28T01:30:00Z", 1, "2026-03-29T01:30:00Z"),  # 01:30 does not exist: forward by the gap, 02:30 BST
        ("2026-10-24T00:30:00Z", 1, "2026-10-25T00:30:00Z"),  # 01:30 occurs twice: the first (BST)
        ("2026-10-26T01:30:00Z", -1, "2026-10-25T00:30:00Z"),  # 01:30 GMT -> 01:30 first occurrence (BST)
    ],
)
def test_shifted_days_follow_the_wall_clock(utc_start, k, expected_utc_start):
    t = pd.Timestamp(utc_start).value / 1e9
    a, b = shifted_windows([t], [t + 3600.0], [k])
    assert a[0, 0] == pd.Timestamp(expected_utc_start).value / 1e9
    assert naive.shifted(t, k) == a[0, 0]


def test_poisson_binomial_tail_is_exact():
    p = [0.1, 0.5, 0.25, 0.9, 0.0, 1.0]
    for k in range(-1, 8):
        assert poisson_binomial_tail(p, k) == pytest.approx(naive.tail(p, k), abs=1e-15)
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        poisson_binomial_tail([1.5], 1)


def test_bad_days_is_refused():
    tr = make_trail(_visit(T0, 0.0, 0.0))
    with pytest.raises(InputError, match="days must be a whole number of days >= 1, got 0"):
        series(tr, _crimes([("C1", 0.0, 0.0, T0, T0 + 1800)]), days=0)


@st.composite
def daily_trails(draw, days=2):
    """Up to 3 subjects with a few fixes on each of 2 * days + 1 mornings, near a scene at the origin."""
    sid, t, x, y = [], [], [], []
    for s in range(draw(st.integers(1, 3))):
        for d in range(-days, days + 1):
            n = draw(st.integers(0, 6))
            start = T0 + d * DAY + draw(st.integers(-900, 1800))
            for i in range(n):
                sid.append(f"S{s}")
                t.append(start + i * draw(st.sampled_from([30.0, 60.0, 300.0, 700.0])) * 1.0 + i * 0.001)
                x.append(float(draw(st.integers(-300, 300))))
                y.append(float(draw(st.integers(-300, 300))))
    if not sid:
        sid, t, x, y = ["S0"], [T0], [0.0], [0.0]
    windows = {}
    if draw(st.booleans()):
        windows["S0"] = [(T0 - days * DAY + draw(st.integers(0, 2 * days)) * DAY / 2, T0 + 10 * DAY)]
    return make_trails(np.array(sid, dtype=object), np.array(t), np.array(x), np.array(y),
                       accuracy_m=np.full(len(t), 10.0), windows=windows)


@given(daily_trails(), st.lists(st.tuples(st.integers(-200, 200), st.integers(-200, 200), st.integers(0, 1200),
                                          st.integers(60, 1800)), min_size=1, max_size=3))
@settings(max_examples=40)
def test_series_matches_brute_force(tr, crime_rows):
    crimes = [(float(px), float(py), 100.0, T0 + dt, T0 + dt + w) for px, py, dt, w in crime_rows]
    res = series(tr, _crimes([(f"C{i}", c[0], c[1], c[3], c[4]) for i, c in enumerate(crimes)]), days=2)
    ref = naive.series(tr, crimes, days=2)
    assert sorted(res.ranked["subject_id"]) == sorted(ref)
    for row in res.ranked.itertuples(index=False):
        r = ref[row.subject_id]
        assert (row.n_hits, row.n_unknown, row.routine_hits) == (r["n_hits"], r["n_unknown"], r["routine_hits"])
        assert row.expected_hits == pytest.approx(r["expected_hits"], abs=1e-12)
        assert row.p_tail == pytest.approx(r["p_tail"], abs=1e-12)
        mine = res.long[res.long["subject_id"] == row.subject_id]
        for (hit, p, n), got in zip(r["long"], mine.itertuples(index=False), strict=True):
            assert (bool(got.hit), int(got.counted_days)) == (hit, n)
            assert (np.isnan(got.p) if p is None else got.p == pytest.approx(p, abs=1e-12))


def test_no_hit_lists_nobody():
    tr = make_trail(_away(T0))
    res = series(tr, _crimes([("C1", 0.0, 0.0, T0, T0 + 1800)]), days=2)
    assert len(res.ranked) == len(res.long) == 0
    assert list(res.ranked.columns) == ["subject_id", "n_hits", "expected_hits", "n_unknown", "p_tail",
                                        "routine_hits"]
