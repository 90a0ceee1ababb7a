"""The Dask path equals the single-machine path on a store cut into many small partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

from benchmarks._workload import AREA, SEED, homes_and_hotspots, iter_chunks, lonlat, plant_crimes  # noqa: E402
from trailmon import distributed  # noqa: E402
from trailmon.errors import InputError  # noqa: E402
from trailmon.io.quarantine import ReadResult, empty_rejected  # noqa: E402
from trailmon.match.attendance import attendance as attendance_local  # noqa: E402
from trailmon.match.proximity import proximity as proximity_local  # noqa: E402
from trailmon.report._columns import TRAIL_INPUT  # noqa: E402
from trailmon.store.trails import TrailStore  # noqa: E402
from trailmon.trail import FIX_TYPES  # noqa: E402

N_SUBJECTS = 30
DAYS = 3
DAY0 = pd.Timestamp("2026-07-14T00:00:00Z").value // 10**9
P = (390_000.0, 397_000.0)  # the hand-made subjects' scene, BNG metres


def _trail_result(subject, t_s, x, y, acc, code, file="f.csv") -> ReadResult:
    lon, lat = lonlat(np.asarray(x, float), np.asarray(y, float))
    df = pd.DataFrame(
        {
            "subject_id": np.asarray(subject, dtype=object),
            "t_ns": (np.asarray(t_s) * 1e9).astype(np.int64),
            "x_m": x,
            "y_m": y,
            "lat": lat,
            "lon": lon,
            "accuracy_m": acc,
            "fix_type": np.asarray(FIX_TYPES, dtype=object)[np.asarray(code, dtype=np.int64)],
            "speed_mps": np.nan,
            "heading_deg": np.nan,
        }
    )[TRAIL_INPUT]
    df["row"] = np.arange(1, len(df) + 1)
    return ReadResult(df, empty_rejected(), len(df), files=[file])


def _hand_made() -> ReadResult:
    """Z1 walks through P across midnight, then is silent for a day; Z2 sits at P from mid-day 1."""
    t, x, y, s = [], [], [], []
    m1 = DAY0 + 86_400
    for k in range(-40, 41):  # 30 s steps, 1.4 m/s east, through P at midnight
        t.append(m1 + 30 * k)
        x.append(P[0] + 42.0 * k)
        y.append(P[1] + 20.0)
        s.append("Z1")
    t.append(DAY0 + 2 * 86_400 + 3_600.0)  # back after a gap of more than a day, near P
    x.append(P[0] + 300.0)
    y.append(P[1])
    s.append("Z1")
    t.append(DAY0 + 5 * 86_400 + 3_600.0)  # and again three days later, over days absent from the store
    x.append(P[0] + 600.0)
    y.append(P[1])
    s.append("Z1")
    for k in range(0, 2 * 86_400 - 43_200, 60):  # Z2 at P from 12:00 on day 1 to the end
        t.append(m1 + 43_200 + k)
        x.append(P[0] - 30.0 + (k % 7))
        y.append(P[1] - 10.0)
        s.append("Z2")
    n = len(t)
    return _trail_result(s, t, x, y, np.full(n, 8.0), np.zeros(n, np.int64), file="hand.csv")


def _subjects() -> ReadResult:
    """Monitoring windows: Z2 and two generated subjects start mid-partition; S00003 has none."""
    rows = [
        ("Z2", DAY0 + 86_400 + 50_000.5, None),
        ("S00001", DAY0 + 86_400 + 30_000, None),
        ("S00002", DAY0, DAY0 + 86_400 + 20_000),
        ("S00002", DAY0 + 86_400 + 40_000, None),
    ]
    df = pd.DataFrame(
        {
            "subject_id": [r[0] for r in rows],
            "cohort": "free",
            "monitoring_start": pd.to_datetime([r[1] for r in rows], unit="s", utc=True),
            "monitoring_end": pd.to_datetime(
                [np.nan if r[2] is None else r[2] for r in rows], unit="s", utc=True
            ),
        }
    )
    return ReadResult(df, empty_rejected(), len(df), files=["subjects.csv"])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("dstore") / "store"
    store = TrailStore(root, create=True)
    parts = []
    day_fixes = []
    for chunk in iter_chunks(N_SUBJECTS, days=DAYS, chunk_subjects=10):
        f = chunk.fixes
        parts.append(
            _trail_result(
                f.subject_id,
                f.t_s,
                f.x_m,
                f.y_m,
                f.accuracy_m,
                f.fix_code,
                file=f"d{chunk.day}-{chunk.first_subject}.csv",
            )
        )
        day_fixes.append(chunk)
    store.ingest(parts + [_hand_made()], [_subjects()])
    # crimes: planted near the generated trails on every day, windows up to 12 h (some across midnight)
    _, _, hot_x, hot_y = homes_and_hotspots(N_SUBJECTS, SEED, AREA)
    rng = np.random.default_rng(7)
    frames = []
    for d in range(DAYS):
        from benchmarks._workload import concat_chunks

        fixes, _ = concat_chunks([c for c in day_fixes if c.day == d])
        span = (DAY0 + d * 86_400.0 + 0.0, DAY0 + (d + 1) * 86_400.0 + 6 * 3600.0)
        frames.append(plant_crimes(fixes, 40, rng, span, AREA, hot_x, hot_y, prefix=f"D{d}-"))
    crimes = pd.concat(frames, ignore_index=True)
    m1 = DAY0 + 86_400
    special = pd.DataFrame(
        {  # at P: a pass across midnight, a day-long window, windows inside Z1's gaps (VOID: no stored day)
            "crime_ref": ["MID", "MID", "LONG", "GAP", "EDGE", "VOID"],
            "crime_version": [1, 2, 1, 1, 1, 1],
            "x_m": [P[0], P[0] + 10, P[0], P[0] + 1000, P[0], P[0] + 1000],
            "y_m": [P[1], P[1], P[1], P[1], P[1], P[1]],
            "committed_from": pd.to_datetime(
                [m1 - 6 * 3600, m1 - 600, m1 - 30_000, m1 + 36_000, m1 + 49_000, m1 + 3 * 86_400],
                unit="s",
                utc=True,
            ),
            "committed_to": pd.to_datetime(
                [
                    m1 + 6 * 3600,
                    m1 + 5,
                    m1 + 86_400 + 30_000,
                    m1 + 39_600,
                    m1 + 52_000,
                    m1 + 3 * 86_400 + 3600,
                ],
                unit="s",
                utc=True,
            ),
            "radius_m": [100.0, 50.0, 100.0, 100.0, 100.0, 100.0],
        }
    )
    crimes = pd.concat([special, crimes[special.columns.drop("crime_version")]], ignore_index=True)
    crimes["crime_version"] = crimes["crime_version"].fillna(1).astype(np.int64)
    return store, crimes


@pytest.fixture(scope="module")
def client():
    with distributed.connect(workers=2) as c:
        yield c


def _assert_same(got: pd.DataFrame, ref: pd.DataFrame, *, tol: dict[str, float]) -> None:
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        a, b = got[col].reset_index(drop=True), ref[col].reset_index(drop=True)
        if col in tol:
            np.testing.assert_allclose(
                a.to_numpy(float), b.to_numpy(float), rtol=0, atol=tol[col], err_msg=col
            )
        elif pd.api.types.is_float_dtype(b.dtype):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=1e-9, err_msg=col)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col


HIT_TOL = {"min_distance_m": 1e-9, "dwell_s": 1e-6, "coverage": 1e-9}


@pytest.mark.parametrize(
    "max_per_task",
    [
        3,  # many small tiles per day
        10_000,  # one task per day
    ],
)
def test_proximity_equals_whole_store(built, client, max_per_task):
    store, crimes = built
    ref = proximity_local(store.read(), crimes, crs=store.crs)
    got = distributed.proximity(
        store, crimes, client=client, max_crimes_per_task=max_per_task, progress=False
    )
    assert len(ref.hits) > 20 and len(ref.evidence) > 100
    _assert_same(got.hits, ref.hits, tol=HIT_TOL)
    _assert_same(got.evidence, ref.evidence, tol={"distance_m": 1e-9})
    _assert_same(got.gaps, ref.gaps, tol={"coverage": 1e-9})


def test_special_cases_are_what_one_machine_says(built, client):
    store, crimes = built
    got = distributed.proximity(store, crimes, client=client, max_crimes_per_task=2, progress=False)
    hits = got.hits.set_index(["crime_ref", "crime_version", "subject_id"])
    # Z1 passes P at midnight: one pass across the day boundary, its dwell counted once
    z1 = hits.loc[("MID", 1, "Z1")]
    assert z1.passes == 1 and z1.dwell_s == pytest.approx(2 * np.sqrt(100**2 - 20**2) / 1.4, abs=1e-6)
    assert z1.first_within < pd.Timestamp(DAY0 + 86_400, unit="s", tz="UTC") < z1.last_within
    # the window inside Z1's day-long gap: a gap near the scene found through the halo rows
    gaps = got.gaps[got.gaps.crime_ref == "GAP"]
    assert list(gaps.subject_id) == ["Z1"]
    assert gaps.gap_s.iloc[0] > 86_400
    # a day the store does not hold: both halo fixes come from other days
    void = got.gaps[got.gaps.crime_ref == "VOID"]
    assert list(void.subject_id) == ["Z1"] and void.gap_s.iloc[0] == 3 * 86_400
    # Z2's monitoring window starts inside EDGE's window (mid-partition): clipped there
    z2 = hits.loc[("EDGE", 1, "Z2")]
    assert z2.first_within == pd.Timestamp(DAY0 + 86_400 + 50_000.5, unit="s", tz="UTC")


def test_routing_sends_each_crime_to_one_task_reading_the_days_it_overlaps(built):
    store, crimes = built
    tasks = distributed.plan_proximity(store, crimes, max_crimes_per_task=5)
    pos = np.concatenate([t.positions for t in tasks])
    assert np.array_equal(np.sort(pos), np.arange(len(crimes)))
    t1 = crimes.committed_from.astype("int64").to_numpy() / 1e9
    t2 = crimes.committed_to.astype("int64").to_numpy() / 1e9
    days = {d: pd.Timestamp(d, tz="UTC").value / 1e9 for d in store.days()}
    for t in tasks:
        assert np.all(np.diff(t.positions) > 0)
        assert (
            t.t_lo_s == pytest.approx(t1[t.positions].min() - 600) and t.t_hi_s == t2[t.positions].max() + 600
        )
        want = tuple(d for d, s in days.items() if s <= t.t_hi_s and s + 86_400 > t.t_lo_s)
        assert t.days == want
    mid = next(t for t in tasks if 0 in t.positions)  # 18:00 - 06:00 across midnight: two days
    assert len(mid.days) == 2


def test_attendance_equals_whole_store(built, client):
    store, _ = built
    m1 = DAY0 + 86_400
    starts = np.array([m1 - 1800, m1 + 43_000, m1 + 50_000, m1 + 60_000, DAY0 + 3600, m1 + 86_000])
    appts = pd.DataFrame(
        {
            "appointment_id": [f"A{k}" for k in range(len(starts))],
            "subject_id": ["Z1", "Z2", "Z2", "S00001", "S00002", "Z2"],
            "start": pd.to_datetime(starts, unit="s", utc=True),
            "end": pd.to_datetime(starts + 3600, unit="s", utc=True),
            "center_x_m": [P[0], P[0], P[0], P[0], P[0], P[0]],
            "center_y_m": [P[1]] * 6,
            "radius_m": [60.0, 100.0, 100.0, 100.0, 100.0, 100.0],
        }
    )
    ref = attendance_local(store.read(), appts)
    got = distributed.attendance(store, appts, client=client, max_per_task=1, progress=False)
    _assert_same(got, ref, tol={"inside_s": 1e-6, "coverage": 1e-9})


def test_zones_equal_whole_store(built, client):
    zones_mod = pytest.importorskip("trailmon.match.zones")
    store, _ = built
    rows = pd.DataFrame(
        {
            "zone_id": ["X1", "C1", "X2"],
            "subject_id": ["Z1", "Z2", "S00004"],
            "kind": ["exclusion", "inclusion", "exclusion"],
            "active_from": pd.to_datetime([DAY0, DAY0, DAY0], unit="s", utc=True),
            "active_to": pd.to_datetime([DAY0 + 3 * 86_400] * 3, unit="s", utc=True),
            "daily_start": [None, "19:00", None],
            "daily_end": [None, "07:00", None],
            "center_x_m": [P[0], P[0], P[0]],
            "center_y_m": [P[1], P[1], P[1]],
            "radius_m": [100.0, 200.0, 3000.0],
        }
    )
    t_from = pd.Timestamp(DAY0, unit="s", tz="UTC")
    t_to = pd.Timestamp(DAY0 + 3 * 86_400, unit="s", tz="UTC")
    ref = zones_mod.zones(store.read(), rows, t_from, t_to)
    got = distributed.zones(store, rows, t_from, t_to, client=client, max_subjects_per_task=1, progress=False)
    assert len(ref) > 3
    _assert_same(got, ref, tol={"duration_s": 1e-6})


def test_lost_worker_gives_identical_results(built, client, tmp_path):
    store, crimes = built
    ref = proximity_local(store.read(), crimes, crs=store.crs)
    flag = tmp_path / "died-once"
    got = distributed.proximity(
        store, crimes, client=client, max_crimes_per_task=20, progress=False, _fail_once=str(flag)
    )
    assert flag.exists()  # a worker process really died mid-run
    _assert_same(got.hits, ref.hits, tol=HIT_TOL)
    _assert_same(got.evidence, ref.evidence, tol={"distance_m": 1e-9})
    _assert_same(got.gaps, ref.gaps, tol={"coverage": 1e-9})


def test_bad_arguments_name_the_argument(built):
    store, crimes = built
    with pytest.raises(InputError, match=r"max_crimes_per_task must be an integer >= 1, got 0"):
        distributed.plan_proximity(store, crimes, max_crimes_per_task=0)
    with pytest.raises(InputError, match=r"workers must be an integer >= 1, got -1"):
        with distributed.connect(workers=-1):
            pass
    with pytest.raises(InputError, match="crimes lacks column"):
        distributed.proximity(store, crimes.drop(columns="x_m"), progress=False)


def test_cli_engine_dask_writes_what_the_local_engine_writes(built, tmp_path, capsys):
    from trailmon.cli import main

    store, crimes = built
    sub = crimes.iloc[:12]
    csv = tmp_path / "crimes.csv"
    pd.DataFrame(
        {
            "crime_ref": sub.crime_ref,
            "offence": "RB",
            "easting": sub.x_m,
            "northing": sub.y_m,
            "committed_from": sub.committed_from.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "committed_to": sub.committed_to.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "radius_m": sub.radius_m,
        }
    ).to_csv(csv, index=False)
    outs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"hits-{engine}.csv"
        extra = ["--engine", "dask", "--workers", "1"] if engine == "dask" else []
        code = main(
            [
                "proximity",
                "--store",
                str(store.path),
                "--crimes",
                str(csv),
                "--out",
                str(out),
                "--user",
                "analyst",
                "--purpose",
                "test",
                *extra,
            ]
        )
        assert code == 0
        outs[engine] = [
            pd.read_csv(out, comment="#"),
            pd.read_csv(tmp_path / f"hits-{engine}.evidence.csv", comment="#"),
        ]
    assert len(outs["local"][0]) > 0
    _assert_same(outs["dask"][0], outs["local"][0], tol=HIT_TOL)
    _assert_same(outs["dask"][1], outs["local"][1], tol={"distance_m": 1e-9})
    assert "proximity on dask" in capsys.readouterr().err  # progress on stderr


def test_cli_workers_without_engine_dask_is_an_error(built, tmp_path, capsys):
    from trailmon.cli import main

    store, _ = built
    csv = tmp_path / "crimes.csv"
    csv.write_text(
        "crime_ref,offence,easting,northing,committed_from,committed_to\n"
        "K1,RB,390000,397000,2026-07-15T00:00:00Z,2026-07-15T01:00:00Z\n"
    )
    code = main(
        [
            "proximity",
            "--store",
            str(store.path),
            "--crimes",
            str(csv),
            "--out",
            str(tmp_path / "h.csv"),
            "--user",
            "analyst",
            "--purpose",
            "test",
            "--workers",
            "2",
        ]
    )
    assert code == 1
    assert "--scheduler and --workers need --engine dask" in capsys.readouterr().err


def test_gap_bracketing_rule_is_the_local_one(client, tmp_path):
    """Gaps near scene: the Dask halo sees any distance back, a local read 7 days; one rule for both."""
    from trailmon.store.trails import limit_gaps

    day = 86_400
    store = TrailStore(tmp_path / "store", create=True)
    t = [DAY0 + 36_000, DAY0 + 10 * day + 36_000, DAY0 + 36_000, DAY0 + 3 * day + 36_000]
    store.ingest([_trail_result(["L", "L", "M", "M"], t, [P[0] + 200] * 2 + [P[0] + 300] * 2, [P[1]] * 4,
                                [10.0] * 4, [0] * 4)])
    crimes = pd.DataFrame({
        "crime_ref": ["C", "D"], "x_m": [P[0]] * 2, "y_m": [P[1]] * 2,
        "committed_from": pd.to_datetime([DAY0 + day + 43_200, DAY0 + 8 * day + 43_200], unit="s", utc=True),
        "committed_to": pd.to_datetime([DAY0 + day + 46_800, DAY0 + 8 * day + 46_800], unit="s", utc=True),
    })
    got = distributed.proximity(store, crimes, client=client, progress=False)
    local = []
    for ref in ("C", "D"):
        q = crimes[crimes.crime_ref == ref]
        trails = store.read_span(q.committed_from.min(), q.committed_to.max(), halo_s=660.0)
        local.append(limit_gaps(proximity_local(trails, q, crs=store.crs).gaps, q))
    local = pd.concat(local, ignore_index=True)
    assert sorted(zip(got.gaps.crime_ref, got.gaps.subject_id, strict=True)) == [("C", "M")]
    _assert_same(got.gaps, local, tol={"coverage": 1e-9})
    unlimited = distributed.proximity(store, crimes, client=client, progress=False, bracket_s=None)
    assert {("C", "L"), ("D", "L")} <= set(zip(unlimited.gaps.crime_ref, unlimited.gaps.subject_id, strict=True))
