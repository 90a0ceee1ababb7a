"""proximity(): hand cases with known answers, acceptance cases, the index against brute force."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from tests import strategies as S
from tests.naive import index as naive_index
from tests.naive import proximity as naive_prox
from trailmon.errors import InputError, TimezoneError
from trailmon.index import TrailIndex
from trailmon.match import _proximity_kernels as K
from trailmon.match.proximity import _crime_arrays as _crime_arrays_of
from trailmon.match.proximity import crimes_near_subject, proximity
from trailmon.report._columns import EVIDENCE, GAPS, HITS
from trailmon.testing import make_trail
from trailmon.trail import make_trails

T0 = S.T0
HALF15 = math.sqrt(100**2 - 30**2) / 15.0     # seconds within R each side at 15 m/s, 30 m off
HALF75 = math.sqrt(100**2 - 30**2) / 7.5      # the same at 7.5 m/s


def crime_frame(rows):
    """rows: (ref, x, y, t1 rel s, t2 rel s[, radius])."""
    return pd.DataFrame({
        "crime_ref": [r[0] for r in rows],
        "x_m": [r[1] for r in rows], "y_m": [r[2] for r in rows],
        "committed_from": pd.to_datetime([T0 + r[3] for r in rows], unit="s", utc=True),
        "committed_to": pd.to_datetime([T0 + r[4] for r in rows], unit="s", utc=True),
        "radius_m": [r[5] if len(r) > 5 else np.nan for r in rows],
    })


def secs(ts):
    return (ts - pd.Timestamp(0, tz="UTC")).total_seconds() - T0


def trail(rows, windows=None):
    return make_trail([(T0 + r[0], *r[1:]) for r in rows],
                      windows={k: [(T0 + a, T0 + b) for a, b in v] for k, v in (windows or {}).items()})


PASS = [(0, -450.0, 30.0), (60, 450.0, 30.0)]  # a car at 15 m/s, fixes 900 m apart, 30 m from the scene

CASES = [
    # a car passing 30 m from the scene between two fixes 900 m apart: no fix within R
    ("car_between_fixes", PASS, None, (0, 60),
     dict(min_distance_m=30.0, closest_time=30.0, dwell_s=2 * HALF15, passes=1, n_fixes_within=0,
          between_fixes=True, first_within=30 - HALF15, last_within=30 + HALF15, confidence="high",
          coverage=1.0)),
    # a gap above max_gap_s: no segment, both fixes 453 m away
    ("gap_above_max_gap", [(0, -450.0, 30.0), (700, 450.0, 30.0)], None, (0, 700), None),
    # the crime window ends mid-segment: everything clipped at t = 25
    ("window_ends_mid_segment", PASS, None, (0, 25),
     dict(min_distance_m=math.hypot(75, 30), closest_time=25.0, first_within=30 - HALF15, last_within=25.0,
          dwell_s=25 - (30 - HALF15), passes=1, n_fixes_within=0, confidence="high")),
    # a stationary dweller 50 m away: first instant of the window is the closest time
    ("stationary_dweller", [(60 * k, 50.0, 0.0) for k in range(11)], None, (100, 400),
     dict(min_distance_m=50.0, closest_time=100.0, dwell_s=300.0, passes=1, n_fixes_within=5,
          between_fixes=False, first_within=100.0, last_within=400.0, coverage=1.0)),
    # zero-length segment (two fixes at the same place a minute apart) between two moving ones
    ("zero_length_segment", [(0, -450.0, 30.0), (60, 0.0, 30.0), (120, 0.0, 30.0), (180, 450.0, 30.0)], None,
     (0, 180), dict(min_distance_m=30.0, closest_time=60.0, dwell_s=60 + 2 * HALF75, passes=1, n_fixes_within=2,
                    first_within=60 - HALF75, last_within=120 + HALF75)),
    # duplicate timestamps: two positions at t = 60 (30 m and 40 m away); both fixes within R
    ("duplicate_timestamps", [(0, -450.0, 30.0), (60, 0.0, 30.0), (60, 0.0, 40.0), (120, 450.0, 40.0)], None,
     (0, 120), dict(min_distance_m=30.0, closest_time=60.0, passes=1, n_fixes_within=2,
                    first_within=60 - HALF75, last_within=60 + math.sqrt(100**2 - 40**2) / 7.5)),
    # the crime exactly at a fix; the car leaves at 10 m/s
    ("crime_at_fix", [(0, 0.0, 0.0), (60, 600.0, 0.0)], None, (0, 60),
     dict(min_distance_m=0.0, closest_time=0.0, first_within=0.0, last_within=10.0, dwell_s=10.0, passes=1,
          n_fixes_within=1, between_fixes=False)),
    # a window holding no fixes, inside a 10-minute segment at 1.5 m/s
    ("window_without_fixes", [(0, -450.0, 30.0), (600, 450.0, 30.0)], None, (250, 350),
     dict(min_distance_m=30.0, closest_time=300.0, first_within=250.0, last_within=350.0, dwell_s=100.0,
          passes=1, n_fixes_within=0, between_fixes=True, coverage=1.0)),
    # two separate passes: there and back
    ("two_passes", [(0, -450.0, 30.0), (60, 450.0, 30.0), (120, -450.0, 30.0)], None, (0, 120),
     dict(min_distance_m=30.0, closest_time=30.0, passes=2, dwell_s=4 * HALF15, first_within=30 - HALF15,
          last_within=90 + HALF15, n_fixes_within=0)),
    # a fix at exactly R, moving away: a pass of dwell 0
    ("fix_at_exactly_r", [(0, 100.0, 0.0), (60, 200.0, 0.0)], None, (0, 60),
     dict(min_distance_m=100.0, closest_time=0.0, passes=1, dwell_s=0.0, n_fixes_within=1, first_within=0.0,
          last_within=0.0, confidence="medium")),
    # a tangent at exactly R between fixes: a pass of dwell 0
    ("tangent_at_exactly_r", [(0, -100.0, 100.0), (20, 100.0, 100.0)], None, (0, 20),
     dict(min_distance_m=100.0, closest_time=10.0, passes=1, dwell_s=0.0, n_fixes_within=0,
          between_fixes=True, first_within=10.0, last_within=10.0)),
    # the monitoring window starts mid-segment (t = 35): the segment is clipped to it
    ("monitoring_starts_mid_segment", PASS, {"S1": [(35, 1000)]}, (0, 60),
     dict(min_distance_m=math.hypot(75, 30), closest_time=35.0, first_within=35.0, last_within=30 + HALF15,
          dwell_s=30 + HALF15 - 35, passes=1, coverage=25 / 60, flags="")),
    # a fix at the scene outside the monitoring window is never matched
    ("fix_outside_monitoring", [(0, 0.0, 0.0)], {"S1": [(100, 1000)]}, (0, 60), None),
]


@pytest.mark.parametrize("name, fixes, windows, window, expected", CASES, ids=[c[0] for c in CASES])
def test_hand_cases(name, fixes, windows, window, expected):
    tr = trail(fixes, windows)
    res = proximity(tr, crime_frame([("K", 0.0, 0.0, *window)]))
    assert list(res.hits.columns) == HITS
    if expected is None:
        assert res.hits.empty
        return
    assert len(res.hits) == 1
    hit = res.hits.iloc[0]
    for key, want in expected.items():
        got = hit[key]
        if key in ("closest_time", "first_within", "last_within"):
            assert secs(got) == pytest.approx(want, abs=1e-6), key
        elif isinstance(want, float):
            assert got == pytest.approx(want, abs=1e-6), key
        else:
            assert got == want, key
    # the index path and the single-subject path agree with the naive twin
    ref = naive_prox.evaluate(tr, 0, 0.0, 0.0, 100.0, T0 + window[0], T0 + window[1])
    assert hit.dwell_s == pytest.approx(ref["dwell_s"], abs=1e-3)
    assert hit.passes == ref["passes"]


# --- the public acceptance cases (shared/acceptance/make_cases.py), in British National Grid ----------

E0, N0 = 430000.0, 433000.0
TA = 1784034000.0  # 2026-07-14T13:00:00Z


def acceptance_trails():
    rows = []
    for k in range(5):  # S1 bus at 10 m/s, 45 m from the scene
        rows.append((TA + 60 * (k - 2) - 30, E0 - 1500 + 600 * k, N0 + 45, 10.0, "gps", "S1"))
    rows += [(TA - 1200, E0 + 10000, N0, 10.0, "gps", "S2"), (TA, E0 + 10000, N0, 10.0, "gps", "S2")]
    x0, y0 = E0 - 10000, N0 + 10000
    pts = [(x0 - 180 + 90 * k, y0 + 60) for k in range(3)] + [(x0, y0 + 60)] * 4
    pts += [(x0 + 90 * k, y0 + 60) for k in range(1, 4)]
    rows += [(TA + 60 * k - 120, e, n, 10.0, "gps", "S3") for k, (e, n) in enumerate(pts)]
    rows += [(TA + 60 * k, E0 + 20000 - 240 + 120 * k, N0 + 70, 10.0, "gps", "S4") for k in range(5)]
    windows = {s: [(1780272000.0, 1796083200.0)] for s in ("S1", "S2", "S3", "S4")}
    return make_trail(rows, windows=windows)


def acceptance_crimes():
    t = lambda s: pd.Timestamp(TA + s, unit="s", tz="UTC")  # noqa: E731
    return pd.DataFrame({
        "crime_ref": ["K1", "K2", "K3", "K4"], "crime_version": [1, 1, 1, 1],
        "x_m": [E0, E0 + 10000, E0 - 10000, E0 + 20000], "y_m": [N0, N0, N0 + 10000, N0],
        "committed_from": [t(-600), t(-900), t(-600), t(0)], "committed_to": [t(600), t(-300), t(900), t(600)],
        "radius_m": [100.0, 100.0, 100.0, 50.0]})


def test_acceptance_cases():
    res = proximity(acceptance_trails(), acceptance_crimes())
    hits = res.hits.set_index(["crime_ref", "subject_id"])
    assert sorted(hits.index) == [("K1", "S1"), ("K3", "S3")]
    k1 = hits.loc[("K1", "S1")]
    assert k1.min_distance_m == pytest.approx(45.0, abs=1e-9)
    assert k1.dwell_s == pytest.approx(2 * math.sqrt(100**2 - 45**2) / 10, abs=1e-6)
    assert k1.closest_time == pd.Timestamp("2026-07-14T13:00:00Z")
    assert (k1.passes, k1.n_fixes_within, bool(k1.between_fixes), k1.confidence) == (1, 0, True, "high")
    assert k1.coverage == pytest.approx(0.30)
    assert abs((k1.first_within - pd.Timestamp("2026-07-14T12:59:51.070Z")).total_seconds()) < 0.001
    k3 = hits.loc[("K3", "S3")]
    walk = math.sqrt(100**2 - 60**2) / 1.5
    assert k3.min_distance_m == pytest.approx(60.0)
    assert k3.dwell_s == pytest.approx(2 * walk + 240)
    assert (k3.passes, k3.n_fixes_within, bool(k3.between_fixes), k3.confidence) == (1, 5, False, "high")
    assert k3.coverage == pytest.approx(0.44)
    assert abs((k3.last_within - pd.Timestamp("2026-07-14T13:04:53.333Z")).total_seconds()) < 0.001
    ev = res.evidence.groupby(["crime_ref", "subject_id"]).size().to_dict()
    assert ev == {("K1", "S1"): 2, ("K3", "S3"): 9}
    assert list(res.evidence.columns) == EVIDENCE
    k3ev = res.evidence[res.evidence.crime_ref == "K3"]
    assert k3ev.label.tolist() == [f"A{k}" for k in range(1, 10)]
    # in time order: the fixes 108 m away (12:59:00, 13:05:00) lie before and after the pass
    assert k3ev.kind.tolist() == ["fix", "first", "fix", "fix", "fix", "fix", "fix", "last", "fix"]
    assert list(res.gaps.columns) == GAPS
    assert len(res.gaps) == 1
    gap = res.gaps.iloc[0]
    assert (gap.crime_ref, gap.subject_id, gap.gap_s, gap.coverage) == ("K2", "S2", 1200.0, 0.0)
    assert gap.gap_start == pd.Timestamp("2026-07-14T12:40:00Z")
    assert (gap.before_distance_m, gap.after_distance_m) == (0.0, 0.0)


def test_acceptance_files(tmp_path):
    """The shared acceptance script's own files (WGS84 trails through OSTN15), 5 cm and 0.05 s."""
    from tests.conftest import SHARED_ACCEPTANCE
    if not (SHARED_ACCEPTANCE / "make_cases.py").exists():
        pytest.skip(f"{SHARED_ACCEPTANCE} is absent (../shared is not part of this checkout)")
    import importlib.util
    import json

    from trailmon.crs import StoreCRS
    spec = importlib.util.spec_from_file_location("make_cases", SHARED_ACCEPTANCE / "make_cases.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    fixes = pd.read_csv(tmp_path / "trails.csv")
    x, y = StoreCRS().from_wgs84(fixes.lon.to_numpy(), fixes.lat.to_numpy())
    t = (pd.to_datetime(fixes.timestamp, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    tr = make_trails(fixes.subject_id.to_numpy(object), t, x, y, lat=fixes.lat.to_numpy(), lon=fixes.lon.to_numpy(),
                     accuracy_m=fixes.accuracy_m.to_numpy(float))
    cr = pd.read_csv(tmp_path / "crimes.csv").rename(columns={"easting": "x_m", "northing": "y_m"})
    cr["committed_from"] = pd.to_datetime(cr.committed_from, utc=True)
    cr["committed_to"] = pd.to_datetime(cr.committed_to, utc=True)
    exp = json.loads((tmp_path / "expected.json").read_text())
    res = proximity(tr, cr)
    got = {f"{r.crime_ref}|{r.subject_id}": r for r in res.hits.itertuples()}
    assert set(got) == set(exp["hits"])
    for key, want in exp["hits"].items():
        row = got[key]._asdict()
        for field, value in want.items():
            if field in ("closest_time", "first_within", "last_within"):
                assert abs((row[field] - pd.Timestamp(value)).total_seconds()) <= 0.05, (key, field)
            elif isinstance(value, float):
                assert row[field] == pytest.approx(value, abs=0.05), (key, field)
            else:
                assert row[field] == value, (key, field)
    counts = res.evidence.groupby(["crime_ref", "subject_id"]).size()
    assert {f"{a}|{b}": int(n) for (a, b), n in counts.items()} == exp["evidence"]
    assert [f"{r.crime_ref}|{r.subject_id}" for r in res.gaps.itertuples()] == list(exp["gaps"])


# --- evidence, gaps, uncertain candidates, the reverse question ---------------------------------


def test_evidence_labels_follow_passes():
    tr = trail([(0, -450.0, 30.0), (30, 0.0, 30.0), (60, 450.0, 30.0), (90, 0.0, 30.0), (120, -450.0, 30.0)])
    ev = proximity(tr, crime_frame([("K", 0.0, 0.0, 0, 120)])).evidence
    assert ev.label.tolist() == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert ev.kind.tolist() == ["first", "fix", "last"] * 2
    fix = ev[ev.kind == "fix"].iloc[0]
    assert (fix.distance_m, bool(fix.within_r), fix.accuracy_m, fix.fix_type) == (30.0, True, 10.0, "gps")
    assert fix.speed_kmh == pytest.approx(15 * 3.6)
    assert fix.heading_deg == pytest.approx(90.0)
    assert ev.time.dtype == "datetime64[ns, UTC]"


def test_pass_letters_go_past_z():
    from trailmon.match.proximity import _pass_letters
    assert _pass_letters(np.array([0, 25, 26, 27, 701, 702])).tolist() == ["A", "Z", "AA", "AB", "ZZ", "AAA"]


def test_include_uncertain_adds_low_candidates():
    # 120 m away with an LBS fix of 500 m accuracy: never within R, within R + accuracy
    tr = trail([(0, 120.0, 0.0, 500.0, "lbs")])
    crimes = crime_frame([("K", 0.0, 0.0, -60, 60)])
    assert proximity(tr, crimes).hits.empty
    low = proximity(tr, crimes, include_uncertain=True).hits.iloc[0]
    assert (low.confidence, low.passes, low.dwell_s, bool(low.between_fixes)) == ("low", 0, 0.0, False)
    assert pd.isna(low.first_within) and low.min_distance_m == 120.0


def test_crimes_near_subject_clips_to_period():
    tr = trail([(0, -450.0, 30.0), (60, 450.0, 30.0), (120, -450.0, 30.0)])
    crimes = crime_frame([("K1", 0.0, 0.0, 0, 120), ("K2", 5000.0, 0.0, 0, 120)])
    t = lambda s: pd.Timestamp(T0 + s, unit="s", tz="UTC")  # noqa: E731
    got = crimes_near_subject(tr, crimes, "S1", t(60), t(200))
    assert got.crime_ref.tolist() == ["K1"]
    assert got.passes.iloc[0] == 1 and secs(got.closest_time.iloc[0]) == pytest.approx(90.0)
    with pytest.raises(InputError, match="subject_id 'S9' has no fixes"):
        crimes_near_subject(tr, crimes, "S9", t(0), t(1))
    with pytest.raises(TimezoneError, match="t1 has no time zone"):
        crimes_near_subject(tr, crimes, "S1", pd.Timestamp("2026-07-14"), t(1))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(radius_m=0), InputError, r"radius_m must be a finite number > 0, got 0"),
    (dict(max_gap_s=-1), InputError, r"max_gap_s must be a finite number >= 0, got -1"),
])
def test_parameter_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        proximity(trail(PASS), crime_frame([("K", 0.0, 0.0, 0, 60)]), **kwargs)


def test_crime_frame_errors():
    tr = trail(PASS)
    with pytest.raises(InputError, match="crimes lacks column"):
        proximity(tr, pd.DataFrame({"crime_ref": ["K"]}))
    bad = crime_frame([("K", 0.0, 0.0, 60, 0)])
    with pytest.raises(InputError, match="committed_to must not precede committed_from"):
        proximity(tr, bad)
    naive_times = crime_frame([("K", 0.0, 0.0, 0, 60)])
    naive_times["committed_from"] = naive_times.committed_from.dt.tz_localize(None)
    with pytest.raises(TimezoneError, match="committed_from has no time zone"):
        proximity(tr, naive_times)
    with pytest.raises(InputError, match="index was built with max_gap_s=600.0"):
        proximity(tr, crime_frame([("K", 0.0, 0.0, 0, 60)]), max_gap_s=300.0, index=TrailIndex.build(tr))


def test_empty_inputs_give_empty_frames():
    res = proximity(trail(PASS), crime_frame([]))
    assert res.hits.empty and list(res.hits.columns) == HITS
    assert res.evidence.empty and list(res.evidence.columns) == EVIDENCE
    assert res.gaps.empty and list(res.gaps.columns) == GAPS


# --- the index path against the direct path and brute force -------------------------------------


def _direct(trails, crimes, include_uncertain=False):
    """Every (crime, subject) without the index: one subject at a time."""
    rows = {}
    for s in range(trails.n_subjects):
        tr = trails
        res = K.evaluate_subject_many(tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, int(tr.offsets[s]), int(tr.offsets[s + 1]),
                                      tr.win_start_s, tr.win_end_s, int(tr.win_offsets[s]), int(tr.win_offsets[s + 1]),
                                      *crimes, 600.0, 60.0, include_uncertain)
        for q in np.flatnonzero(res[:, K.ST_STATUS] > 0):
            rows[(int(q), s)] = res[q]
    return rows


def _frame(crimes):
    px, py, r, t1, t2 = crimes
    return pd.DataFrame({"crime_ref": [f"K{k}" for k in range(len(px))], "x_m": px, "y_m": py, "radius_m": r,
                         "committed_from": pd.to_datetime(t1 * 1e9, utc=True),
                         "committed_to": pd.to_datetime(t2 * 1e9, utc=True)})


def _check_index_against_direct(trails, crimes, include_uncertain):
    frame = _frame(crimes)
    hits = proximity(trails, frame, include_uncertain=include_uncertain, with_evidence=False).hits
    cr = _crime_arrays_of(frame, 100.0)  # the window as proximity reads it (through nanoseconds)
    direct = _direct(trails, (cr.x, cr.y, cr.r, cr.t1, cr.t2), include_uncertain)
    got = {(int(r.crime_ref[1:]), trails.subject_index(r.subject_id)): r for r in hits.itertuples()}
    assert set(got) == set(direct)
    for key, st_ in direct.items():
        row = got[key]
        assert row.min_distance_m == pytest.approx(math.sqrt(st_[K.ST_D2]), abs=1e-9)
        assert secs(row.closest_time) + T0 == pytest.approx(st_[K.ST_T], abs=1e-6)
        assert row.dwell_s == pytest.approx(st_[K.ST_DWELL], abs=1e-9)
        assert (row.passes, row.n_fixes_within) == (int(st_[K.ST_PASSES]), int(st_[K.ST_NIN]))
        assert row.coverage == st_[K.ST_COVERAGE]
    return got


def _crime_arrays(draws):
    return tuple(np.array([c[k] for c in draws], dtype=np.float64) for k in range(5))


@given(S.trails(max_subjects=4, max_fixes=12),
       S.crimes().map(lambda c: [c]) | __import__("hypothesis").strategies.lists(S.crimes(), min_size=2, max_size=5))
def test_index_matches_direct_and_brute_force(trails, crimes):
    arrays = _crime_arrays(crimes)
    got = _check_index_against_direct(trails, arrays, include_uncertain=False)
    for q, (px, py, r, t1, t2) in enumerate(crimes):
        want = naive_index.hit_set(trails, px, py, r, t1, t2)
        assert {s for (qq, s) in got if qq == q} == want


def _generated_day(n_subjects=200, hours=6, seed=7):
    """Seeded walkers, dwellers and drivers in a 6 x 5 km box at one fix a minute, with charging gaps."""
    rng = np.random.default_rng(seed)
    n = hours * 60
    sid, t, x, y = [], [], [], []
    for s in range(n_subjects):
        kind = s % 3
        step = (5.0, 60.0, 600.0)[kind] * rng.standard_normal((n, 2))
        xy = np.cumsum(step, axis=0) + rng.uniform([0, 0], [6000, 5000])
        xy = np.abs(np.mod(xy, [12000, 10000]) - [6000, 5000]) * [1, 1]  # reflect into the box
        ts = T0 + 60.0 * np.arange(n) + rng.uniform(0, 1, n).round(3)
        keep = np.ones(n, bool)
        g = rng.integers(0, n - 30)
        keep[g:g + rng.integers(5, 30)] = False  # a charging gap
        sid += [f"P{s:03d}"] * keep.sum()
        t.append(ts[keep])
        x.append(xy[keep, 0].round(3))
        y.append(xy[keep, 1].round(3))
    return make_trails(np.array(sid, dtype=object), np.concatenate(t), np.concatenate(x), np.concatenate(y))


def _generated_crimes(trails, n=150, seed=8):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, trails.n_fixes, n)
    px = trails.x_m[k] + rng.normal(0, 80, n).round(3)
    py = trails.y_m[k] + rng.normal(0, 80, n).round(3)
    t1 = (trails.t_s[k] - rng.uniform(0, 3 * 3600, n)).round(3)
    t2 = (t1 + rng.uniform(900, 6 * 3600, n)).round(3)
    return px, py, np.full(n, 100.0), t1, t2


def test_generated_day_index_matches_direct():
    trails = _generated_day()
    crimes = _generated_crimes(trails)
    got = _check_index_against_direct(trails, crimes, include_uncertain=True)
    assert sum(1 for r in got.values() if r.confidence != "low") > 100


def test_generated_day_matches_brute_force():
    trails = _generated_day(n_subjects=200, hours=6)
    crimes = _generated_crimes(trails, n=150)
    hits = proximity(trails, _frame(crimes), with_evidence=False).hits
    n_hits = 0
    for q in range(150):
        want = naive_index.hit_set_all_segments(trails, *(c[q] for c in crimes))
        got = {trails.subject_index(s) for s in hits.subject_id[hits.crime_ref == f"K{q}"]}
        assert got == want
        n_hits += len(got)
    assert n_hits > 100


def test_index_pickles_and_answers_alike():
    trails = _generated_day(n_subjects=20, hours=2)
    crimes = _frame(_generated_crimes(trails, n=30))
    idx = TrailIndex.build(trails)
    again = pickle.loads(pickle.dumps(idx.state))
    assert all(np.array_equal(a, b) for a, b in zip(idx.state, again, strict=True) if isinstance(a, np.ndarray))
    a = proximity(trails, crimes, index=idx).hits
    b = proximity(trails, crimes).hits
    pd.testing.assert_frame_equal(a, b)
    one = proximity(trails, crimes.iloc[[3]], index=idx).hits
    pd.testing.assert_frame_equal(one.reset_index(drop=True), a[a.crime_ref == "K3"].reset_index(drop=True))
