"""Garbage rows never crash the trail CSV reader, and every row read is accounted for (SPEC §7)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailmon.io.quarantine import RejectReason
from trailmon.io.trails import read_trails

HEADER = ["subject_id", "timestamp", "lat", "lon", "accuracy_m", "fix_type", "speed_mps", "heading_deg",
          "note"]
ANCHOR = ["S0", "2026-07-14T09:00:00Z", "53.8", "-1.55", "10", "gps", "1", "90", "ok"]

plausible = st.sampled_from([
    "", " ", "S1", "S2", "2026-07-14T10:00:00Z", "2026-07-14T10:00:00", "2026-07-14 10:00:00+01:00",
    "14/07/2026", "53.8", "-1.55", "91", "-181", "nan", "inf", "-0", "1e3", "10", "0", "-5", "gps", "LBS",
    "wifi", "rf", "zz", "1,5", '"', "\t", "\\N", "NULL", "NaN",
])
cell = st.one_of(plausible, st.text(max_size=12))
row = st.lists(cell, min_size=0, max_size=12)


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerow(ANCHOR)
    w.writerows(rows)
    return buf.getvalue()


def _check(r) -> None:
    assert len(r.accepted) + len(r.rejected) == r.n_read
    assert set(r.rejected["reason"]) <= {c.value for c in RejectReason}
    rows = sorted([*r.accepted["row"], *r.rejected["row"]])
    assert rows == list(range(1, r.n_read + 1))
    assert r.accepted["row"].iloc[0] == 1 if len(r.accepted) else True


@given(st.lists(row, max_size=12), st.sampled_from([None, "UTC", "Europe/London"]))
def test_quoted_garbage_rows_never_crash(tmp_path_factory, rows, tz):
    f = tmp_path_factory.mktemp("g") / "t.csv"
    f.write_text(_csv_text(rows), encoding="utf-8")
    _check(read_trails(f, tz=tz))


@given(st.lists(st.text(max_size=60), max_size=12))
def test_raw_garbage_lines_never_crash(tmp_path_factory, lines):
    # lines written as they are: stray quotes, separators and control characters included
    f = tmp_path_factory.mktemp("g") / "t.csv"
    text = ",".join(HEADER) + "\n" + ",".join(ANCHOR) + "\n" + "\n".join(lines) + "\n"
    f.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        r = read_trails(f, tz="UTC")
    except UnicodeEncodeError:  # pragma: no cover - lone surrogates cannot be written as UTF-8
        pytest.skip("not writable")
    _check(r)


@given(st.binary(max_size=400))
def test_binary_garbage_after_the_header_never_crashes(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("g") / "t.csv"
    f.write_bytes((",".join(HEADER) + "\n" + ",".join(ANCHOR) + "\n").encode() + data)
    _check(read_trails(f, tz="UTC"))
