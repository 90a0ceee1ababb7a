"""The store's read path (row groups by hour, subject codes, one gather) against a plain reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.naive import store_read
from trailmon.io.quarantine import ReadResult, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.store.trails import TrailStore
from trailmon.trail import Trails

T0 = pd.Timestamp("2026-07-10T00:00:00Z").value
HOUR = 3600 * 10**9
FIELDS = ("subject_ids", "offsets", "t_ns", "t_s", "x_m", "y_m", "lat", "lon", "accuracy_m", "fix_type", "speed_mps",
          "heading_deg", "flags", "win_offsets", "win_start_s", "win_end_s", "window_known")


def _batch(rows: list[tuple[str, int, float]], k: int) -> ReadResult:
    df = pd.DataFrame({
        "subject_id": [r[0] for r in rows], "t_ns": [T0 + r[1] for r in rows],
        "x_m": [r[2] for r in rows], "y_m": [430000.0 + r[2] / 3 for r in rows],
        "lat": [53.8 + r[2] * 1e-6 for r in rows], "lon": -1.55, "accuracy_m": [5.0 + r[2] % 7 for r in rows],
        "fix_type": [("gps", "lbs")[int(r[2]) % 2] for r in rows],
        "speed_mps": [np.nan if r[2] % 3 else 1.5 for r in rows],
        "heading_deg": np.nan,
    })[TRAIL_INPUT]
    df["row"] = np.arange(1, len(df) + 1)
    return ReadResult(df, empty_rejected(), len(df), files=[f"b{k}.csv"])


def _subjects(windows: dict[str, tuple[int, int]]) -> ReadResult:
    df = pd.DataFrame({"subject_id": list(windows),
                       "monitoring_start": [pd.Timestamp(T0 + a, unit="ns", tz="UTC") for a, _ in windows.values()],
                       "monitoring_end": [pd.Timestamp(T0 + b, unit="ns", tz="UTC") for _, b in windows.values()]})
    return ReadResult(df, empty_rejected(), len(df), files=["subjects.csv"])


def assert_same(got: Trails, want: Trails) -> None:
    for f in FIELDS:
        a, b = getattr(got, f), getattr(want, f)
        assert a.dtype == b.dtype, f
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f


fix = st.tuples(st.sampled_from(["S1", "S2", "S3", "S10", "A7"]),
                st.integers(-9 * 24 * HOUR, 12 * 24 * HOUR).map(lambda t: t // 10**9 * 10**9),
                st.integers(0, 10**6).map(float))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(fix, min_size=0, max_size=25), min_size=1, max_size=3),
       windows=st.dictionaries(st.sampled_from(["S1", "S3", "K9"]),
                               st.tuples(st.integers(-5 * 24 * HOUR, 0), st.integers(1, 5 * 24 * HOUR)), max_size=2),
       start=st.integers(-2 * 24 * HOUR, 3 * 24 * HOUR), length=st.integers(0, 30 * HOUR),
       halo=st.sampled_from([0.0, 60.0, 600.0]), only=st.none() | st.sets(st.sampled_from(["S1", "S2", "K9", "Z"])))
def test_read_equals_a_plain_reading(tmp_path_factory, batches, windows, start, length, halo, only):
    store = TrailStore(tmp_path_factory.mktemp("s") / "store", create=True)
    for k, rows in enumerate(batches):
        seen = {(s, t) for s, t, _ in rows}
        rows = list({(s, t): (s, t, x) for s, t, x in rows}.values())  # one position per subject and instant
        assert len(rows) == len(seen)
        store.ingest([_batch(rows, k)] if rows else [], [_subjects(windows)] if windows and k == 0 else [])
    t1 = pd.Timestamp(T0 + start, unit="ns", tz="UTC")
    t2 = pd.Timestamp(T0 + start + length, unit="ns", tz="UTC")
    assert_same(store.read(t1, t2, only, halo_s=halo), store_read.read(store, t1, t2, only, halo_s=halo))


def test_read_of_a_store_with_no_fixes_in_the_period(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([_batch([("S1", 0, 1.0), ("S1", 60 * 10**9, 2.0)], 0)], [_subjects({"K9": (0, HOUR)})])
    t1 = pd.Timestamp(T0 + 40 * 24 * HOUR, unit="ns", tz="UTC")
    got = store.read(t1, t1 + pd.Timedelta(hours=1))
    assert got.subject_ids.tolist() == ["K9"] and got.n_fixes == 0
    assert_same(got, store_read.read(store, t1, t1 + pd.Timedelta(hours=1)))


def test_brackets_reach_back_and_forward_exactly_bracket_days(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    day = 24 * HOUR
    rows = [("S1", -7 * day + HOUR, 1.0), ("S2", -8 * day + 23 * HOUR, 2.0),   # day -7 is reached, day -8 not
            ("S1", 7 * day + 22 * HOUR, 3.0), ("S2", 8 * day + HOUR, 4.0)]     # day +7 is reached, day +8 not
    store.ingest([_batch(rows, 0)])
    t1 = pd.Timestamp(T0 + 12 * HOUR, unit="ns", tz="UTC")
    got = store.read(t1, t1 + pd.Timedelta(hours=1))
    assert got.subject_ids.tolist() == ["S1"]
    assert (got.t_ns - T0).tolist() == [-7 * day + HOUR, 7 * day + 22 * HOUR]
    assert_same(got, store_read.read(store, t1, t1 + pd.Timedelta(hours=1)))
