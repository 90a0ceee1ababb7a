"""The seeded workload generator (benchmarks/_workload.py) and the committed sample (sample_traces/)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import _workload as wl
from trailmon.trail import FIX_TYPES

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_traces"
SMALL = dict(n_subjects=60, hours=24, n_crimes=200, n_appointments=40, seed=7, chunk_subjects=25)


@pytest.fixture(scope="module")
def day() -> wl.NationalDay:
    return wl.national_day(**SMALL)


def secs(col: pd.Series) -> np.ndarray:
    return col.dt.as_unit("s").astype("int64").to_numpy()


def subject_of(fixes: wl.Fixes) -> np.ndarray:
    return np.repeat(np.arange(len(fixes.subject_ids)), np.diff(fixes.offsets))


# ------------------------------------------------------------------------------------ determinism
def test_same_seed_same_arrays(day):
    again = wl.national_day(**SMALL)
    for name in wl.Fixes._fields:
        np.testing.assert_array_equal(getattr(day.fixes, name), getattr(again.fixes, name), err_msg=name)
    pd.testing.assert_frame_equal(day.crimes, again.crimes)
    pd.testing.assert_frame_equal(day.appointments, again.appointments)
    pd.testing.assert_frame_equal(day.subjects, again.subjects)


def test_other_seed_other_arrays(day):
    other = wl.national_day(**{**SMALL, "seed": 8})
    assert not np.array_equal(day.fixes.x_m[:100], other.fixes.x_m[:100])


def test_chunks_make_the_day(day):
    chunks = list(
        wl.iter_chunks(SMALL["n_subjects"], seed=SMALL["seed"], chunk_subjects=SMALL["chunk_subjects"])
    )
    assert [c.first_subject for c in chunks] == [0, 25, 50]
    fixes, _ = wl.concat_chunks(chunks)
    np.testing.assert_array_equal(fixes.t_s, day.fixes.t_s)
    np.testing.assert_array_equal(fixes.x_m, day.fixes.x_m)


def test_days_are_outermost_and_join_at_home():
    chunks = list(wl.iter_chunks(6, days=2, seed=3, chunk_subjects=4))
    assert [(c.day, c.first_subject) for c in chunks] == [(0, 0), (0, 4), (1, 0), (1, 4)]
    first, second = chunks[0], chunks[2]
    assert second.fixes.t_s.min() >= first.fixes.t_s.max()
    # everyone is home at midnight: the noise-free position at the end of day 0 is the home of day 1
    t_end = first.truth.paths.wp_t_s[0] + wl.DAY_S - 1
    x, y = wl.truth_position(first.truth.paths, np.arange(4), np.full(4, t_end))
    np.testing.assert_allclose(x, second.schedule.home_x_m)
    np.testing.assert_allclose(y, second.schedule.home_y_m)


# ------------------------------------------------------------------------------ shapes and dtypes
def test_fix_arrays(day):
    f = day.fixes
    n = f.n_fixes
    assert 60 * 1440 * 0.85 < n <= 60 * 1440
    for name in ("t_s", "x_m", "y_m", "accuracy_m"):
        arr = getattr(f, name)
        assert arr.dtype == np.float64 and arr.shape == (n,) and np.isfinite(arr).all(), name
    assert f.fix_code.dtype == np.int8
    assert f.offsets[0] == 0 and f.offsets[-1] == n and np.all(np.diff(f.offsets) > 0)
    assert list(f.subject_ids) == sorted(f.subject_ids) and len(set(f.subject_ids)) == 60
    assert f.subject_id.shape == (n,) and f.subject_id[0] == "S00001"
    assert set(np.unique(f.fix_type)) <= set(FIX_TYPES)
    same = subject_of(f)[1:] == subject_of(f)[:-1]
    assert np.all(np.diff(f.t_s)[same] > 0), "times increase within each subject"
    assert np.all(f.t_s == np.round(f.t_s)), "whole seconds"
    start = pd.Timestamp(wl.START).timestamp()
    assert f.t_s.min() >= start and f.t_s.max() < start + 86400
    e0, n0, e1, n1 = wl.AREA
    assert np.all(
        (day.truth.x_m >= e0) & (day.truth.x_m <= e1) & (day.truth.y_m >= n0) & (day.truth.y_m <= n1)
    )
    frame = f.to_frame()
    assert list(frame.columns) == ["subject_id", "t_s", "x_m", "y_m", "accuracy_m", "fix_type"]


def test_fix_mix_and_noise(day):
    f, tr = day.fixes, day.truth
    share = np.bincount(f.fix_code, minlength=4) / f.n_fixes
    assert share[FIX_TYPES.index("lbs")] == pytest.approx(0.03, abs=0.004)
    assert share[FIX_TYPES.index("wifi")] == pytest.approx(0.01, abs=0.003)
    assert tr.outlier.mean() == pytest.approx(0.01, abs=0.003)
    assert np.all(f.fix_code[tr.outlier] == 0), "multipath outliers still say gps"
    err = np.hypot(f.x_m - tr.x_m, f.y_m - tr.y_m)
    gps = (f.fix_code == 0) & ~tr.outlier
    dx = (f.x_m - tr.x_m)[gps]
    assert dx.std() == pytest.approx(5.0, rel=0.05), "GPS noise sigma 5 m"
    assert err[tr.outlier].min() > 20 and err[tr.outlier].max() < 550, (
        "outliers tens to hundreds of metres off"
    )
    lbs = f.fix_code == 1
    assert np.median(f.accuracy_m[lbs]) == pytest.approx(500, rel=0.1)
    assert 0.3 < np.median(err[lbs] / f.accuracy_m[lbs]) < 1.0, "LBS error matches its accuracy"
    assert np.all(f.accuracy_m[gps] <= 12) and np.all(f.accuracy_m[gps] >= 4)


def test_one_charging_gap_per_subject_day(day):
    f, tr = day.fixes, day.truth
    subj = subject_of(f)
    same = subj[1:] == subj[:-1]
    gap = np.diff(f.t_s)
    long = same & (gap >= 1800)
    assert np.array_equal(np.bincount(subj[:-1][long], minlength=60), np.ones(60, dtype=np.int64))
    i = np.flatnonzero(long)
    # the long gap is the charging gap: it spans the drawn charging interval
    assert np.all(f.t_s[i] < tr.charge_start_s) and np.all(f.t_s[i + 1] >= tr.charge_end_s)
    dur = tr.charge_end_s - tr.charge_start_s
    assert dur.min() >= 1800 and dur.max() <= 7200
    # other gaps (signal loss, dropped fixes) stay well under that
    assert gap[same & ~long].max() < 1800


def test_trips_have_walk_bus_and_car_speeds(day):
    f, tr = day.fixes, day.truth
    subj = subject_of(f)
    same = subj[1:] == subj[:-1]
    speed = (np.hypot(np.diff(tr.x_m), np.diff(tr.y_m)) / np.diff(f.t_s))[same & (np.diff(f.t_s) < 120)]
    moving = speed[speed > 0.5]
    assert 0.02 < len(moving) / len(speed) < 0.3, "most of the day is spent in stays"
    assert np.any((moving > 1.0) & (moving < 1.8)), "walking"
    assert np.any(moving > 10.0), "driving"
    assert moving.max() < 16.0
    modes = day.truth.paths.leg_mode
    assert set(np.unique(modes[modes >= 0])) == {0, 1, 2}


# ----------------------------------------------------------------------------------------- crimes
def test_crime_frame(day):
    c = day.crimes
    assert len(c) == 200 and c["crime_ref"].is_unique
    assert set(c["offence"]) <= set(wl.MOJ_CODES)
    assert str(c["committed_from"].dt.tz) == "UTC"
    w = (c["committed_to"] - c["committed_from"]).dt.total_seconds()
    assert w.min() >= 900 - 1 and w.max() <= 43200 + 2
    assert (c["radius_m"] == 100).all()
    assert c["planted"].mean() == pytest.approx(0.3, abs=0.01)


def test_planted_crimes_are_near_an_interpolated_position(day):
    """Brute force: every planted scene is within 150 m of the subject's interpolated position at tc."""
    f, c = day.fixes, day.crimes
    ids = list(f.subject_ids)
    t0, t1 = secs(c["committed_from"]), secs(c["committed_to"])
    planted = c["planted"].to_numpy()
    between = 0
    for row, a, b in zip(c[planted].itertuples(), t0[planted], t1[planted], strict=True):
        k = ids.index(row.planted_subject)
        sl = slice(f.offsets[k], f.offsets[k + 1])
        t, x, y = f.t_s[sl], f.x_m[sl], f.y_m[sl]
        tc = row.planted_t_s
        assert a <= tc <= b
        j = np.searchsorted(t, tc, side="right") - 1
        assert t[j + 1] - t[j] <= 600, "tc lies on an interpolated segment"
        px, py = np.interp(tc, t, x), np.interp(tc, t, y)
        d = np.hypot(px - row.x_m, py - row.y_m)
        assert d <= 150 and d == pytest.approx(row.planted_distance_m, abs=2e-3)
        between += tc not in t
    assert between > 0.5 * c["planted"].sum(), "most planted instants fall between fixes"


def test_a_third_of_crimes_are_within_150_m_of_some_trail(day):
    """Brute force over every subject and segment, clipped to each window (not only the planted ones)."""
    f, c = day.fixes, day.crimes
    t0, t1 = secs(c["committed_from"]), secs(c["committed_to"])
    near = np.zeros(len(c), dtype=bool)
    for k in range(len(f.subject_ids)):
        sl = slice(f.offsets[k], f.offsets[k + 1])
        t, x, y = f.t_s[sl], f.x_m[sl], f.y_m[sl]
        for i in np.flatnonzero(~near):
            near[i] = wl.trail_min_distance(t, x, y, c["x_m"].iat[i], c["y_m"].iat[i], t0[i], t1[i]) <= 150.0
    assert near[c["planted"].to_numpy()].all()
    assert 0.3 <= near.mean() < 0.6


@pytest.mark.parametrize(
    ("t", "xy", "point", "window", "expected"),
    [
        ([0, 60], [(0, 0), (600, 0)], (300, 40), (0, 60), 40.0),  # between the fixes
        ([0, 60], [(0, 0), (600, 0)], (300, 40), (0, 20), np.hypot(100, 40)),  # clipped at t = 20 (x = 200)
        ([0, 700], [(0, 0), (600, 0)], (300, 40), (0, 700), np.hypot(300, 40)),  # gap > 600 s: fixes only
        ([0, 60], [(0, 0), (600, 0)], (300, 40), (100, 200), np.inf),  # nothing known in the window
    ],
)
def test_trail_min_distance(t, xy, point, window, expected):
    x, y = np.array(xy, dtype=float).T
    assert wl.trail_min_distance(np.array(t, float), x, y, *point, *window) == pytest.approx(expected)


# ------------------------------------------------------------------------------- appointments etc.
def test_appointments(day):
    a = day.appointments
    assert list(a.columns[:7]) == [
        "appointment_id",
        "subject_id",
        "start",
        "end",
        "center_x_m",
        "center_y_m",
        "radius_m",
    ]
    assert len(a) == 40 and a["appointment_id"].is_unique
    assert set(a["subject_id"]) <= set(day.fixes.subject_ids)
    dur = (a["end"] - a["start"]).dt.total_seconds()
    assert dur.min() >= 900 and dur.max() <= 3600
    assert a["planted"].sum() > 0
    # a planted appointment is at a real visit: the noise-free subject is at the centre during it
    p = day.truth.paths
    ids = list(day.fixes.subject_ids)
    for row in a[a["planted"]].itertuples():
        mid = (row.start.timestamp() + row.end.timestamp()) / 2
        k = ids.index(row.subject_id)
        x, y = wl.truth_position(p, k, mid)
        assert np.hypot(x - row.center_x_m, y - row.center_y_m) < 1.0


def test_subjects_frame(day):
    s = day.subjects
    assert list(s.columns) == [
        "subject_id",
        "cohort",
        "monitoring_start",
        "monitoring_end",
        "crn",
        "pnc_id",
        "nomis_id",
        "offender_manager",
    ]
    assert list(s["subject_id"]) == list(day.fixes.subject_ids)
    assert set(s["cohort"]) <= {"fixed", "flex", "free"}
    start = pd.Timestamp(wl.START)
    assert (s["monitoring_start"] < start).all() and (s["monitoring_end"] > start + pd.Timedelta("1D")).all()
    assert s["crn"].str.fullmatch(r"[A-Z]\d{6}").all()
    assert s["nomis_id"].str.fullmatch(r"[A-Z]\d{4}[A-Z]{2}").all()
    for pnc in s["pnc_id"]:
        m = re.fullmatch(r"(\d{4})/(\d{7})([A-Z])", pnc)
        assert m, pnc
        assert m[3] == "ZABCDEFGHJKLMNPQRTUVWXY"[int(m[1][2:] + m[2]) % 23]


def test_make_pnc_check_letter():
    assert wl.make_pnc(2003, 1234567) == "2003/1234567Q"  # 31234567 % 23 = 14 -> Q
    assert (
        wl.make_pnc(1999, 42) == "1999/0000042" + "ZABCDEFGHJKLMNPQRTUVWXY"[990000042 % 23]
    )  # "99" + "0000042"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hours": 0}, r"hours must be in \(0, 24\], got 0"),
        ({"chunk_subjects": 0}, "must be >= 1"),
        ({"start": "2026-07-14T00:00:00"}, "start must carry a UTC offset or Z"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        next(wl.iter_chunks(5, **kwargs))


# ----------------------------------------------------------------------------------------- files
def test_write_csv_round_trip(day, tmp_path):
    from convertbng.cutil import convert_bng

    sub = wl.Fixes(
        day.fixes.subject_ids[:3],
        day.fixes.offsets[:4],
        *(getattr(day.fixes, n)[: day.fixes.offsets[3]] for n in wl.Fixes._fields[2:]),
    )
    path = wl.write_csv(sub, tmp_path / "t.csv")
    text = path.read_text()
    assert text.startswith("subject_id,timestamp,lat,lon,accuracy_m,fix_type\nS00001,2026-07-14T00:00:0")
    assert '"' not in text
    got = pd.read_csv(path, dtype={"subject_id": str, "fix_type": str, "timestamp": str})
    assert len(got) == sub.n_fixes
    assert got["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    np.testing.assert_array_equal(secs(pd.to_datetime(got["timestamp"], utc=True)), sub.t_s.astype("int64"))
    np.testing.assert_array_equal(got["subject_id"].to_numpy(), sub.subject_id)
    np.testing.assert_array_equal(got["fix_type"].to_numpy(), sub.fix_type)
    np.testing.assert_array_equal(got["accuracy_m"].to_numpy(), sub.accuracy_m)
    x, y = convert_bng(got["lon"].to_numpy(), got["lat"].to_numpy())
    assert np.max(np.hypot(np.asarray(x) - sub.x_m, np.asarray(y) - sub.y_m)) < 0.02, (
        "OSTN15 round trip ~1 cm"
    )
    wl.write_csv(sub, path, append=True)
    assert len(pd.read_csv(path)) == 2 * sub.n_fixes


# ----------------------------------------------------------------------------------------- sample
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sample_is_reproduced_byte_for_byte(tmp_path):
    out = tmp_path / "sample"
    run = subprocess.run(
        [sys.executable, str(SAMPLE / "generate.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    made = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(SAMPLE)
        for p in SAMPLE.rglob("*")
        if p.is_file() and p.name not in ("generate.py", "README.md") and "__pycache__" not in p.parts
    )
    assert made == committed
    for rel in made:
        assert sha(out / rel) == sha(SAMPLE / rel), rel


def test_sample_size_and_layouts():
    files = [p for p in SAMPLE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) <= 10 * 2**20
    head = (SAMPLE / "trails" / "day-2026-07-13.csv").read_text().splitlines()[0]
    assert head == "subject_id,timestamp,lat,lon,accuracy_m,fix_type"
    em = (SAMPLE / "em" / "positions.csv").read_text().splitlines()
    assert len(em[0].split(",")) == 18 and all(len(r.split(",")) == 18 for r in em[1:50])
    assert len((SAMPLE / "em" / "caseload.csv").read_text().splitlines()[0].split(",")) == 23
    assert len((SAMPLE / "em" / "activations.csv").read_text().splitlines()[0].split(",")) == 6
    cm = (SAMPLE / "crimes" / "crime_mapping_NOT20260720.csv").read_text().splitlines()
    exp = json.loads((SAMPLE / "expected.json").read_text())
    counts = [len(r.split(",")) for r in cm]
    bad = {r["row"]: r["code"] for r in exp["crime_mapping_file"]["rows"]}
    assert all((n == 13) == (bad[i + 1] != "INVALID_COLUMN_COUNT") for i, n in enumerate(counts))
    pu = (SAMPLE / "crimes" / "police_uk_street.csv").read_text().splitlines()
    assert pu[0].split(",")[0] == "Crime ID" and all(len(r.split(",")) == 12 for r in pu)


def test_sample_bad_rows_name_every_trail_code():
    rows = (SAMPLE / "trails" / "bad_rows.csv").read_text().splitlines()[1:]
    exp = json.loads((SAMPLE / "trails" / "bad_rows.expected.json").read_text())
    assert exp["read"] == len(rows) == exp["accepted"] + exp["rejected"]
    codes = {r["code"] for r in exp["rows"]} - {None}
    assert codes == {
        "MISSING_SUBJECT",
        "BAD_TIMESTAMP",
        "NO_TIMEZONE",
        "BAD_COORDINATE",
        "OUTSIDE_GRID",
        "BAD_ACCURACY",
        "BAD_FIX_TYPE",
        "WRONG_COLUMN_COUNT",
        "DUPLICATE",
        "CONFLICTING_DUPLICATE",
    }
    from trailmon.io.quarantine import RejectReason

    assert codes <= {r.value for r in RejectReason}


def test_sample_expectations_cover_every_planted_outcome():
    exp = json.loads((SAMPLE / "expected.json").read_text())
    statuses = {v["status"] for v in exp["appointments"].values()}
    assert statuses == {"attended", "late", "left_early", "partial", "not_attended", "no_data"}
    assert any(v["hit"] for c in exp["crimes"].values() for v in c["subjects"])
    assert any(not v["hit"] for c in exp["crimes"].values() for v in c["subjects"])
    assert set(exp["crime_mapping"]["NOT/0000003"]) == {"1", "2"}
    events = [e["event"] for z in exp["zones"].values() for e in z["events"]]
    assert events.count("visit") == 1 and events.count("absence") == 2
