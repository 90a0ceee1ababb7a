"""The store's read path (row groups by hour, subject codes, one gather) against a plain reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.naive import store_read
from trailmon.io.quarantine import ReadResult, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.store.trails import TrailStore
from trailmon.trail import Trails

T0 = pd.Timestamp("2026-07-10T00:00:00Z").value
HOUR = 3600 * 10**9
S = 10**9
DAY = 24 * HOUR
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


def _attendance_both_ways(store: TrailStore, appts: list[tuple], max_gap_s: float) -> tuple[pd.DataFrame, ...]:
    """Attendance on :meth:`TrailStore.read_around` and on a read of the whole period (as ``attendance`` ran before)."""
    from trailmon.match.attendance import attendance
    from trailmon.runs import EARLY_S, MATCH_COLUMNS

    frame = pd.DataFrame({
        "appointment_id": [f"A{k}" for k in range(len(appts))], "subject_id": [a[0] for a in appts],
        "start": [pd.Timestamp(T0 + a[1], unit="ns", tz="UTC") for a in appts],
        "end": [pd.Timestamp(T0 + a[1] + a[2], unit="ns", tz="UTC") for a in appts],
        "center_x_m": [a[3] for a in appts], "center_y_m": [430000.0 + a[3] / 3 for a in appts],
        "radius_m": [a[4] for a in appts]})
    halo = max(max_gap_s, 60.0)
    whole = store.read(frame["start"].min() - pd.Timedelta(seconds=EARLY_S), frame["end"].max(), halo_s=halo)
    start = pd.DatetimeIndex(frame["start"]).as_unit("ns").asi8
    end = pd.DatetimeIndex(frame["end"]).as_unit("ns").asi8
    around = store.read_around(frame["subject_id"].to_numpy(), start - int(EARLY_S * 1e9), end, halo_s=halo,
                               columns=MATCH_COLUMNS)
    return (attendance(around, frame, max_gap_s=max_gap_s, early_s=EARLY_S),
            attendance(whole, frame, max_gap_s=max_gap_s, early_s=EARLY_S))


appointment = st.tuples(st.sampled_from(["S1", "S2", "S3", "K9", "Z"]),
                        st.integers(-2 * 24 * HOUR, 3 * 24 * HOUR) | st.integers(-2 * HOUR, 5 * HOUR),
                        st.integers(0, 3 * HOUR), st.floats(0.0, 10**6), st.floats(1.0, 3 * 10**5))
dense_fix = st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.integers(-3 * 120, 6 * 120).map(lambda k: k * 30 * 10**9),
                      st.integers(0, 10**6).map(float))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(fix | dense_fix, min_size=0, max_size=40), min_size=1, max_size=2),
       windows=st.dictionaries(st.sampled_from(["S1", "S3", "K9"]),
                               st.tuples(st.integers(-5 * 24 * HOUR, 0), st.integers(1, 5 * 24 * HOUR)), max_size=2),
       appts=st.lists(appointment, min_size=1, max_size=6), max_gap_s=st.sampled_from([60.0, 600.0, 7200.0]))
def test_attendance_on_a_read_around_the_appointments_equals_a_read_of_the_whole_period(
        tmp_path_factory, batches, windows, appts, max_gap_s):
    store = TrailStore(tmp_path_factory.mktemp("s") / "store", create=True)
    for k, rows in enumerate(batches):
        rows = list({(s, t): (s, t, x) for s, t, x in rows}.values())
        store.ingest([_batch(rows, k)] if rows else [], [_subjects(windows)] if windows and k == 0 else [])
    got, want = _attendance_both_ways(store, appts, max_gap_s)
    pd.testing.assert_frame_equal(got, want)



# The appointment is [0, 600] s, so attendance looks at [-900, 600] s; the geofence is a 1 m circle
# at x 0. A fix at x 0 is inside, at x 5 outside. The fixes in the window pass through the geofence
# (an instant inside) and start and end outside it, so ``data_gap`` is flagged only when the gap to
# a far fix inside the geofence borders the window: that fix lies beyond the read's halo (60 s).
BEFORE = [("S1", -800 * S, 5.0), ("S1", -740 * S, 0.0), ("S1", -680 * S, 5.0)]
AFTER = [("S1", 400 * S, 5.0), ("S1", 460 * S, 0.0), ("S1", 520 * S, 5.0)]


@pytest.mark.parametrize(("rows", "flagged"), [
    (BEFORE, False),
    ([("S1", -2000 * S, 0.0), *BEFORE], True),             # the fix before the gap, 18 min before the window
    ([("S1", -3 * DAY, 0.0), *BEFORE], True),              # ... days before: a bracketing fix of the period
    ([("S1", -9 * DAY, 0.0), *BEFORE], False),             # ... beyond the bracketing reach of either read
    (AFTER, False),
    ([*AFTER, ("S1", 2000 * S, 0.0)], True),               # the fix after the gap, 23 min after the window
    ([*AFTER, ("S1", 4 * DAY, 0.0)], True),
    ([*AFTER, ("S1", 9 * DAY, 0.0)], False),
])
def test_attendance_sees_the_fixes_that_bracket_the_window_from_afar(tmp_path, rows, flagged):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([_batch(rows, 0)])
    got, want = _attendance_both_ways(store, [("S1", 0, 600 * S, 0.0, 1.0)], 60.0)
    pd.testing.assert_frame_equal(got, want)
    assert ("data_gap" in got["flags"].iloc[0]) is flagged


@pytest.mark.kernels
@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_sub=st.integers(1, 4), n_rows=st.integers(0, 40))
def test_span_neighbours_kernel_equals_a_plain_loop(data, n_sub, n_rows):
    """Rows in a span are marked; each span gets the nearest rows between it and its neighbour spans."""
    from trailmon.store._trails_kernels import span_neighbours

    codes = np.asarray(data.draw(st.lists(st.integers(0, n_sub - 1), min_size=n_rows, max_size=n_rows)), np.int64)
    t = np.asarray(data.draw(st.lists(st.integers(0, 100), min_size=n_rows, max_size=n_rows)), np.int64)
    spans = {c: sorted(data.draw(st.sets(st.integers(0, 10), max_size=3))) for c in range(n_sub)}
    spans = {c: [(20 * k, 20 * k + data.draw(st.integers(0, 15))) for k in ks] for c, ks in spans.items()}
    offsets = np.r_[0, np.cumsum([len(spans[c]) for c in range(n_sub)])].astype(np.int64)
    lo = np.asarray([a for c in range(n_sub) for a, _ in spans[c]], np.int64)
    hi = np.asarray([b for c in range(n_sub) for _, b in spans[c]], np.int64)
    n = len(lo)
    prev_t, next_t, prev_i, next_i = np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, -1), np.full(n, -1)
    inside = np.zeros(n_rows, dtype=bool)
    span_neighbours(codes, t, offsets, lo, hi, prev_t, prev_i, next_t, next_i, inside)
    for i in range(n_rows):  # in a span of its subject, or not
        assert inside[i] == any(a <= t[i] <= b for a, b in spans[int(codes[i])])
    for c in range(n_sub):
        for j, (a, b) in enumerate(spans[c]):
            k = offsets[c] + j
            out = [i for i in range(n_rows) if codes[i] == c and not inside[i]]
            after_last = spans[c][j - 1][1] if j > 0 else -1  # only rows between this span and its neighbours
            before_next = spans[c][j + 1][0] if j + 1 < len(spans[c]) else 10**9
            before = [i for i in out if after_last < t[i] < a]
            after = [i for i in out if b < t[i] < before_next]
            want_prev = max(before, key=lambda i: (t[i], -i)) if before else -1
            want_next = min(after, key=lambda i: (t[i], i)) if after else -1
            assert prev_i[k] == want_prev and next_i[k] == want_next


@given(spans=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 60), st.integers(0, 20)), max_size=12))
def test_spans_merged_per_subject_code(spans):
    from trailmon.store.trails import _merge_ns, _merge_spans_by_code

    code = np.asarray([c for c, _, _ in spans], np.int64)
    lo = np.asarray([a for _, a, _ in spans], np.int64)
    hi = lo + np.asarray([d for _, _, d in spans], np.int64)
    got = list(zip(*[x.tolist() for x in _merge_spans_by_code(code, lo, hi)], strict=True))
    want = [(c, a, b) for c in sorted(set(code.tolist()))
            for a, b in _merge_ns([(x, y) for k, x, y in zip(code.tolist(), lo.tolist(), hi.tolist(), strict=True)
                                   if k == c])]
    assert got == want


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(dense_fix, min_size=0, max_size=50),
       crimes=st.lists(st.tuples(st.integers(-3 * HOUR, 6 * HOUR), st.integers(0, 2 * HOUR), st.floats(0.0, 10**6),
                                 st.floats(1.0, 2 * 10**5)), min_size=1, max_size=5))
def test_proximity_without_evidence_on_the_columns_it_reads_equals_a_full_read(tmp_path_factory, rows, crimes):
    from trailmon.match.proximity import proximity
    from trailmon.runs import MATCH_COLUMNS

    store = TrailStore(tmp_path_factory.mktemp("s") / "store", create=True)
    rows = list({(s, t): (s, t, x) for s, t, x in rows}.values())
    if rows:
        store.ingest([_batch(rows, 0)])
    frame = pd.DataFrame({
        "crime_ref": [f"C{k}" for k in range(len(crimes))],
        "committed_from": [pd.Timestamp(T0 + c[0], unit="ns", tz="UTC") for c in crimes],
        "committed_to": [pd.Timestamp(T0 + c[0] + c[1], unit="ns", tz="UTC") for c in crimes],
        "x_m": [c[2] for c in crimes], "y_m": [430000.0 + c[2] / 3 for c in crimes],
        "radius_m": [c[3] for c in crimes]})
    t1, t2 = frame["committed_from"].min(), frame["committed_to"].max()
    full = proximity(store.read_span(t1, t2), frame, with_evidence=False)
    some = proximity(store.read_span(t1, t2, columns=MATCH_COLUMNS), frame, with_evidence=False)
    pd.testing.assert_frame_equal(some.hits, full.hits)
    pd.testing.assert_frame_equal(some.gaps, full.gaps)
