"""Exclusion zones and curfews (SPEC §3 "Zones"): visits, absences, no data, schedules, real polygons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from trailmon.errors import InputError, TimezoneError
from trailmon.match.zones import ZoneEvent, ZoneKind, zones
from trailmon.report._columns import ZONES
from trailmon.testing import make_trail
from trailmon.trail import make_trails

HOME, AWAY = (0.0, 0.0), (600.0, 0.0)  # a 50 m circle at home: crossings 5 s off a 60 s fix


def ts(text):
    return pd.Timestamp(text).value / 1e9


def zone_frame(kind="inclusion", start=None, end=None, subject="S1", zid="Z1",
               active=("2026-01-01T00:00Z", "2026-12-31T00:00Z"), **geofence):
    geofence = geofence or dict(center_x_m=[0.0], center_y_m=[0.0], radius_m=[50.0])
    return pd.DataFrame({
        "zone_id": [zid], "subject_id": [subject], "kind": [kind],
        "active_from": [pd.Timestamp(active[0])], "active_to": [pd.Timestamp(active[1])],
        "daily_start": [start], "daily_end": [end], **geofence,
    })


def presence(t_from, t_to, away=(), step=60, skip=(), acc=None, subject="S1"):
    """Fixes every ``step`` s over [t_from, t_to] (ISO), away during the ``(lo, hi)`` ISO spans."""
    spans = [(ts(a), ts(b)) for a, b in away]
    holes = [(ts(a), ts(b)) for a, b in skip]
    rows = []
    for t in np.arange(ts(t_from), ts(t_to) + 1, step):
        if any(lo < t < hi for lo, hi in holes):
            continue
        pos = AWAY if any(lo <= t <= hi for lo, hi in spans) else HOME
        rows.append((float(t), *pos, (acc or {}).get(float(t), 10.0), "gps", subject))
    return rows


def events(frame):
    return [(r.event, r.start.isoformat(), r.end.isoformat(), r.duration_s) for r in frame.itertuples()]


def test_curfew_kept_gives_no_rows():
    tr = make_trail(presence("2026-01-12T12:00Z", "2026-01-13T12:00Z"))
    got = zones(tr, zone_frame(start="19:00", end="07:00"), "2026-01-12T12:00Z", "2026-01-13T12:00Z")
    assert list(got.columns) == ZONES and len(got) == 0
    assert str(got.start.dtype) == "datetime64[ns, UTC]"


@pytest.mark.kernels
def test_curfew_absence_exact_to_the_crossing():
    # away from the 22:00 fix to the 23:00 fix: out 5 s after 21:59, back 5 s before 23:01
    tr = make_trail(presence("2026-01-12T12:00Z", "2026-01-13T12:00Z", away=[("2026-01-12T22:00Z",
                                                                               "2026-01-12T23:00Z")]))
    got = zones(tr, zone_frame(start="19:00", end="07:00"), "2026-01-12T12:00Z", "2026-01-13T12:00Z")
    assert events(got) == [("absence", "2026-01-12T21:59:05+00:00", "2026-01-12T23:00:55+00:00", 3710.0)]
    assert got.kind.tolist() == ["inclusion"]
    assert (got.zone_id.tolist(), got.subject_id.tolist()) == (["Z1"], ["S1"])


@pytest.mark.parametrize(
    ("night_of", "night_s"),
    [
        ("2026-03-28", 11 * 3600.0),  # 19:00 GMT to 07:00 BST
        ("2026-10-24", 13 * 3600.0),  # 19:00 BST to 07:00 GMT
        ("2026-01-10", 12 * 3600.0),  # winter
    ],
)
def test_curfew_night_away_all_night_lasts_as_the_clock_says(night_of, night_s):
    day = pd.Timestamp(night_of, tz="UTC")
    a, b = day + pd.Timedelta(hours=12), day + pd.Timedelta(hours=36)
    tr = make_trail(presence(a, b, away=[(a, b)]))
    got = zones(tr, zone_frame(start="19:00", end="07:00"), a, b)
    assert got.event.tolist() == ["absence"]
    assert got.duration_s.iloc[0] == night_s
    assert got.start.iloc[0].tz_convert("Europe/London").strftime("%H:%M") == "19:00"
    assert got.end.iloc[0].tz_convert("Europe/London").strftime("%H:%M") == "07:00"


@pytest.mark.kernels
def test_exclusion_visits_and_no_data():
    # at "home" (= inside the exclusion zone) except 13:00-14:00 away; no fixes 15:00-15:30 (a gap)
    rows = presence("2026-07-14T12:00Z", "2026-07-14T17:00Z",
                    away=[("2026-07-14T13:00Z", "2026-07-14T14:00Z")],
                    skip=[("2026-07-14T15:00Z", "2026-07-14T15:30Z")])
    got = zones(make_trail(rows), zone_frame(kind="exclusion"), "2026-07-14T12:30Z", "2026-07-14T16:00Z")
    assert events(got) == [
        ("visit", "2026-07-14T12:30:00+00:00", "2026-07-14T12:59:05+00:00", 1745.0),  # from t_from
        ("visit", "2026-07-14T14:00:55+00:00", "2026-07-14T15:00:00+00:00", 3545.0),  # until the gap
        ("no_data", "2026-07-14T15:00:00+00:00", "2026-07-14T15:30:00+00:00", 1800.0),  # the gap, no halo
        ("visit", "2026-07-14T15:30:00+00:00", "2026-07-14T16:00:00+00:00", 1800.0),  # to t_to
    ]
    assert set(got.kind) == {"exclusion"}
    short = zones(make_trail(rows), zone_frame(kind="exclusion"), "2026-07-14T12:30Z", "2026-07-14T16:00Z",
                  min_event_s=1790.0)
    assert [e[3] for e in events(short)] == [3545.0, 1800.0, 1800.0]


@pytest.mark.kernels
def test_isolated_fix_is_an_instant_and_the_rest_no_data():
    rows = [(ts("2026-07-14T13:00Z"), *AWAY)]  # one fix, away, alone
    got = zones(make_trail(rows), zone_frame(), "2026-07-14T12:00Z", "2026-07-14T14:00Z")
    assert events(got) == [
        ("no_data", "2026-07-14T12:00:00+00:00", "2026-07-14T13:00:00+00:00", 3600.0),
        ("absence", "2026-07-14T13:00:00+00:00", "2026-07-14T13:00:00+00:00", 0.0),
        ("no_data", "2026-07-14T13:00:00+00:00", "2026-07-14T14:00:00+00:00", 3600.0),
    ]


def test_subject_without_fixes_is_no_data_for_each_night():
    tr = make_trail(presence("2026-01-12T12:00Z", "2026-01-14T12:00Z", subject="OTHER"))
    got = zones(tr, zone_frame(start="19:00", end="07:00"), "2026-01-12T12:00Z", "2026-01-14T12:00Z")
    assert got.event.tolist() == ["no_data", "no_data"]
    assert got.duration_s.tolist() == [43200.0, 43200.0]


def test_monitoring_windows_and_active_range_clip_the_evaluation():
    rows = presence("2026-07-14T00:00Z", "2026-07-15T00:00Z",
                    away=[("2026-07-14T00:00Z", "2026-07-15T00:00Z")])
    win = {"S1": [(ts("2026-07-14T10:00Z"), ts("2026-07-14T11:00Z")), (ts("2026-07-14T20:00Z"), 2e9)]}
    z = zone_frame(active=("2026-07-14T10:30Z", "2026-07-14T21:00Z"))
    got = zones(make_trail(rows, windows=win), z, "2026-07-14T00:00Z", "2026-07-15T00:00Z")
    assert events(got) == [
        ("absence", "2026-07-14T10:30:00+00:00", "2026-07-14T11:00:00+00:00", 1800.0),
        ("absence", "2026-07-14T20:00:00+00:00", "2026-07-14T21:00:00+00:00", 3600.0),
    ]
    outside = {"S1": [(ts("2026-08-01T00:00Z"), 2e9)]}
    assert len(zones(make_trail(rows, windows=outside), z, "2026-07-14T00:00Z", "2026-07-15T00:00Z")) == 0


def test_coarse_fixes_are_set_aside_and_neighbours_join():
    t_out = [ts("2026-07-14T13:00Z") + 60 * k for k in range(4)]  # 4 LBS-grade fixes "away"
    rows = presence("2026-07-14T12:00Z", "2026-07-14T14:00Z",
                    away=[("2026-07-14T13:00Z", "2026-07-14T13:03Z")], acc={t: 500.0 for t in t_out})
    assert events(zones(make_trail(rows), zone_frame(), "2026-07-14T12:00Z", "2026-07-14T14:00Z")) == []
    loose = zones(make_trail(rows), zone_frame(), "2026-07-14T12:00Z", "2026-07-14T14:00Z",
                  max_accuracy_m=600)
    assert loose.event.tolist() == ["absence"]


def test_zones_keep_input_order_and_polygons_work():
    square = shapely.box(-50, -50, 50, 50)
    poly = dict(center_x_m=[np.nan], center_y_m=[np.nan], radius_m=[np.nan], geometry=[square])
    rows = presence("2026-07-14T12:00Z", "2026-07-14T14:00Z",
                    away=[("2026-07-14T13:00Z", "2026-07-14T13:10Z")])
    frame = pd.concat([zone_frame(zid="B", **poly), zone_frame(kind="exclusion", zid="A", **poly)],
                      ignore_index=True)
    got = zones(make_trail(rows), frame, "2026-07-14T12:00Z", "2026-07-14T14:00Z")
    assert got.zone_id.tolist() == ["B", "A", "A"]
    assert got.event.tolist() == ["absence", "visit", "visit"]
    # leaving the 50 m square on the 600 m, 60 s segment: 5 s after the fix
    assert got.start.iloc[0] == pd.Timestamp("2026-07-14T12:59:05Z")


def test_errors_name_the_argument_and_value():
    tr = make_trail(presence("2026-07-14T12:00Z", "2026-07-14T13:00Z"))
    with pytest.raises(InputError, match=r"zone 'Z1': kind must be exclusion or inclusion, got 'curfew'"):
        zones(tr, zone_frame(kind="curfew"), "2026-07-14T12:00Z", "2026-07-14T13:00Z")
    with pytest.raises(TimezoneError, match=r"t_from '2026-07-14 12:00' has no UTC offset"):
        zones(tr, zone_frame(), "2026-07-14 12:00", "2026-07-14T13:00Z")
    with pytest.raises(InputError, match=r"t_to must not be before t_from"):
        zones(tr, zone_frame(), "2026-07-14T13:00Z", "2026-07-14T12:00Z")
    with pytest.raises(InputError, match=r"zone 'Z1': daily_start and daily_end go together"):
        zones(tr, zone_frame(start="19:00"), "2026-07-14T12:00Z", "2026-07-14T13:00Z")
    with pytest.raises(InputError, match=r"zone 'Z1': daily_end must be a local wall-clock time HH:MM"):
        zones(tr, zone_frame(start="19:00", end="19h"), "2026-07-14T12:00Z", "2026-07-14T13:00Z")
    with pytest.raises(InputError, match=r"zones lacks the column\(s\) kind"):
        zones(tr, zone_frame().drop(columns=["kind"]), "2026-07-14T12:00Z", "2026-07-14T13:00Z")
    with pytest.raises(InputError, match=r"min_event_s must be a finite number >= 0, got -1"):
        zones(tr, zone_frame(), "2026-07-14T12:00Z", "2026-07-14T13:00Z", min_event_s=-1)
    with pytest.raises(InputError, match=r"unknown time zone 'Nowhere'"):
        zones(tr, zone_frame(), "2026-07-14T12:00Z", "2026-07-14T13:00Z", tz="Nowhere")


def test_enums_carry_the_spec_strings():
    assert [k.value for k in ZoneKind] == ["exclusion", "inclusion"]
    assert [e.value for e in ZoneEvent] == ["visit", "absence", "no_data"]


@given(st.lists(st.tuples(st.integers(20, 900), st.integers(-120, 120), st.integers(-120, 120)),
                min_size=1, max_size=40),
       st.integers(0, 3000), st.integers(600, 20000))
def test_visits_absences_and_no_data_tile_the_active_time(steps, start, length):
    """Per instant exactly one of inside / outside / unknown: the three add up to the period."""
    t = 1_784_000_000.0 + np.cumsum([s for s, _, _ in steps])
    x = np.array([p for _, p, _ in steps], float)
    y = np.array([q for _, _, q in steps], float)
    tr = make_trails(np.full(len(t), "S1"), t, x, y)
    a = pd.Timestamp(1_784_000_000.0 + start, unit="s", tz="UTC")
    b = a + pd.Timedelta(seconds=length)
    both = pd.concat([zone_frame(kind="exclusion", zid="X"), zone_frame(kind="inclusion", zid="I")],
                     ignore_index=True)
    got = zones(tr, both, a, b)
    by = got.groupby(["zone_id", "event"]).duration_s.sum()
    visit = by.get(("X", "visit"), 0.0)
    absence = by.get(("I", "absence"), 0.0)
    assert by.get(("X", "no_data"), 0.0) == pytest.approx(by.get(("I", "no_data"), 0.0), abs=1e-6)
    assert visit + absence + by.get(("X", "no_data"), 0.0) == pytest.approx(length, abs=1e-5)
    for _, rows in got.groupby("zone_id"):  # events of a zone never overlap
        s = rows.start.to_numpy(dtype="datetime64[ns]")
        e = rows.end.to_numpy(dtype="datetime64[ns]")
        assert np.all(s[1:] >= e[:-1])


@pytest.mark.oracle
def test_exclusion_zones_on_london_boroughs_agree_with_shapely():
    from tests.conftest import shared_file

    gpd = pytest.importorskip("geopandas")
    boroughs = gpd.read_file(shared_file("geofence_uk", "london_boroughs", "london_boroughs.gpkg"))
    assert boroughs.crs.to_epsg() == 27700
    # north-west to south-east across London, one fix a minute at 20 m/s, one subject
    n = 2400
    x = np.linspace(505_000.0, 560_000.0, n)
    y = np.linspace(195_000.0, 160_000.0, n)
    t0 = ts("2026-07-14T00:00Z")
    t = t0 + 60.0 * np.arange(n)
    tr = make_trails(np.full(n, "S1"), t, x, y)
    frame = pd.DataFrame({"zone_id": boroughs.name.to_numpy(dtype=object), "subject_id": "S1",
                          "kind": "exclusion", "active_from": pd.Timestamp("2026-07-01T00:00Z"),
                          "active_to": pd.Timestamp("2026-08-01T00:00Z"), "daily_start": None,
                          "daily_end": None, "center_x_m": np.nan, "center_y_m": np.nan, "radius_m": np.nan,
                          "geometry": list(boroughs.geometry.values)})
    got = zones(tr, frame, pd.Timestamp(t0, unit="s", tz="UTC"),
                pd.Timestamp(t[-1], unit="s", tz="UTC"))
    assert set(got.event) == {"visit"}
    speed = np.hypot(x[1] - x[0], y[1] - y[0]) / 60.0
    line = shapely.LineString(np.c_[x, y])
    visited = got.groupby("zone_id").duration_s.sum()
    for name, geom in zip(boroughs.name, boroughs.geometry, strict=True):
        ref_m = shapely.length(shapely.intersection(line, geom))
        assert visited.get(name, 0.0) * speed == pytest.approx(ref_m, abs=1e-3)
    assert (visited > 0).sum() >= 5
    # visits follow each other along the line: no two overlap in time
    s = got.sort_values("start")
    assert np.all(s.start.to_numpy()[1:] >= s.end.to_numpy()[:-1])


def test_threaded_chunks_give_the_sequential_answer(monkeypatch):
    import trailmon.match.zones as zmod

    rows = presence("2026-07-14T00:00Z", "2026-07-16T00:00Z",
                    away=[("2026-07-14T21:00Z", "2026-07-15T01:00Z"),
                          ("2026-07-15T22:30Z", "2026-07-15T23:00Z")],
                    skip=[("2026-07-15T03:00Z", "2026-07-15T04:00Z")])
    tr = make_trail(rows)
    frame = pd.concat([zone_frame(kind=k, zid=f"{k}{i}", start=f"{18 + i % 5}:00", end="07:00")
                       for i in range(40) for k in ("inclusion", "exclusion")], ignore_index=True)
    args = (tr, frame, "2026-07-14T00:00Z", "2026-07-16T00:00Z")
    monkeypatch.setattr(zmod, "_MIN_PERIODS_PER_THREAD", 10**9)
    sequential = zones(*args)
    monkeypatch.setattr(zmod, "_MIN_PERIODS_PER_THREAD", 1)
    monkeypatch.setattr(zmod.numba, "get_num_threads", lambda: 3)
    threaded = zones(*args)
    pd.testing.assert_frame_equal(threaded, sequential)
    assert len(sequential) > 100 and set(sequential.event) == {"visit", "absence", "no_data"}
