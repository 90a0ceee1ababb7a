"""Day-file writing: the streamed hour layout equals ``by_hour`` + ``_write_table``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trailmon.store import trails as st

DAY = 20_648  # 2026-07-14


def _merged(rng, n, n_subjects=30, *, day=DAY, spread_ns=st.DAY_NS):
    """A merged day as ``_merge_day`` returns it: rows by subject (sorted names) and time."""
    names = np.array(sorted(f"S{k:03d}" for k in range(n_subjects)), dtype=object)
    codes = np.sort(rng.integers(0, n_subjects, n))
    t = day * st.DAY_NS + rng.integers(0, spread_ns, n)
    order = np.lexsort((t, codes))
    codes, t = codes[order], t[order]
    return {
        "subject_id": pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names.tolist())),
        "t_ns": t, "x_m": rng.normal(390_000, 5000, n), "y_m": rng.normal(400_000, 5000, n),
        "lat": rng.normal(53.4, 0.05, n), "lon": rng.normal(-2.2, 0.05, n), "accuracy_m": rng.uniform(3, 60, n),
        "fix_type": rng.integers(0, 4, n).astype(np.int8), "speed_mps": np.full(n, np.nan),
        "heading_deg": rng.uniform(0, 360, n), "flags": rng.integers(0, 2, n).astype(np.int32),
    }


def _same_file(a, b) -> None:
    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    assert fa.metadata.num_row_groups == fb.metadata.num_row_groups
    assert [fa.metadata.row_group(i).num_rows for i in range(fa.metadata.num_row_groups)] == [
        fb.metadata.row_group(i).num_rows for i in range(fb.metadata.num_row_groups)]
    ta, tb = fa.read(), fb.read()
    assert ta.schema == tb.schema
    for c in ta.column_names:
        x, y = ta[c], tb[c]
        if pa.types.is_floating(x.type):  # bit for bit (Arrow's equals says NaN != NaN)
            assert np.array_equal(x.to_numpy().view(np.uint64), y.to_numpy().view(np.uint64)), c
        else:
            assert x.equals(y), c


@pytest.mark.parametrize(("n", "spread_ns", "day"), [
    (5000, st.DAY_NS, DAY),            # every hour, rows reordered to (hour, subject, time)
    (400, 3 * st.HOUR_NS, DAY),         # a few hours only
    (1, st.DAY_NS, DAY),                # one row: the plain path
    (300, 2 * st.DAY_NS, DAY),          # times past the day (hours >= 24): still laid out by hour
    (300, st.DAY_NS, DAY + 1),          # times before the day (negative hours): the plain path
])
def test_write_day_equals_by_hour_layout(tmp_path, n, spread_ns, day):
    merged = _merged(np.random.default_rng(n), n, spread_ns=spread_ns, day=DAY)
    st._write_day(merged, day, tmp_path / "new.parquet", tmp_path / "new.edges.parquet")
    table = st.by_hour(pa.table(merged, schema=st._DAY_WRITE_SCHEMA), day)
    st._write_table(table, tmp_path / "old.parquet", row_groups=st._hour_slices(table, day), plain_schema=True)
    st._write_table(st.day_edges(table), tmp_path / "old.edges.parquet", plain_schema=True)
    _same_file(tmp_path / "new.parquet", tmp_path / "old.parquet")
    _same_file(tmp_path / "new.edges.parquet", tmp_path / "old.edges.parquet")


def test_write_day_rows_already_in_hour_order(tmp_path):
    merged = _merged(np.random.default_rng(3), 200, n_subjects=1)  # one subject: time order is hour order
    assert st._day_layout(merged, DAY)[0] is None
    st._write_day(merged, DAY, tmp_path / "new.parquet", tmp_path / "new.edges.parquet")
    table = pa.table(merged, schema=st._DAY_WRITE_SCHEMA)
    st._write_table(table, tmp_path / "old.parquet", row_groups=st._hour_slices(table, DAY), plain_schema=True)
    _same_file(tmp_path / "new.parquet", tmp_path / "old.parquet")


