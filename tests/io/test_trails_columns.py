"""Trail validation on Arrow dictionaries and the lazily built ``accepted`` frame."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from trailmon.io import trails as tr
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason

ROWS = [
    "subject_id,timestamp,lat,lon,accuracy_m,fix_type",
    "S2,2026-07-14T10:00:00Z,53.40,-2.20,5,gps",
    "S1,2026-07-14T10:01:00Z,53.41,-2.21,,LBS",
    "S1,2026-07-14T10:02:00Z,53.42,-2.22,7,",
    "S1,2026-07-14T10:03:00Z,53.43,-2.23,7,sat",
    ",2026-07-14T10:04:00Z,53.44,-2.24,7,gps",
]


@pytest.mark.parametrize("values", [
    ["gps", "LBS", None, " wifi ", "sat", "", "rf", "gps"],   # case, blanks, unknown, empty
    [None, None],                                              # nothing present
    ["gps"] * 5,                                               # the usual column
    ["gps", "LBS", " wifi ", "sat", "", "rf"],                 # no null: the per-row lookup
])
def test_fix_codes_on_the_dictionary_equal_the_row_rule(values):
    col = pa.chunked_array([pa.array(values[: len(values) // 2], pa.string()),
                            pa.array(values[len(values) // 2:], pa.string())])
    got = tr._fix_codes(col, len(values), None)
    want = tr._fix_codes(col.cast(pa.large_string()), len(values), None)  # large_string: the per-row path
    assert (got[0] == want[0]).all() and (got[1] == want[1]).all()


@pytest.mark.parametrize(("values", "fast"), [
    (["S1", "S2", None, "S1"], True),       # nothing to trim: dictionary codes
    (["S1", " S1", "S2"], False),           # needs trimming: the text rule
    (["S1", "", "S2"], False),              # an empty value
])
def test_subject_dictionary_only_when_nothing_to_trim(values, fast):
    col = pa.chunked_array([pa.array(values, pa.string())])
    enc = tr._subject_dictionary(col)
    assert (enc is not None) == fast
    if fast:
        assert enc.cast(pa.string()).equals(tr._as_text(col).combine_chunks())


def test_accepted_frame_is_built_on_first_use(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("\n".join(ROWS) + "\n")
    r = tr.read_trails(f)
    assert isinstance(r, ReadResult)
    assert r.fix_columns is not None and r._frame is None
    assert r.n_accepted == 3 and r.n_read == 5 and len(r.rejected) == 2
    acc = r.accepted
    assert list(acc["subject_id"]) == ["S2", "S1", "S1"]
    assert list(acc["fix_type"]) == ["gps", "lbs", "gps"]
    assert list(acc["accuracy_m"]) == [5.0, 500.0, 7.0]
    assert list(acc["row"]) == [1, 2, 3]
    assert r.accepted is acc  # built once
    back = pickle.loads(pickle.dumps(r))
    pd.testing.assert_frame_equal(back.accepted, acc)
    r.accepted = acc.iloc[:1]  # an assigned frame replaces the columns
    assert r.fix_columns is None and r.n_accepted == 1


def test_rejector_makes_its_arrays_on_the_first_rejection():
    rej = Rejector(pd.DataFrame(index=pd.RangeIndex(4)), "f.csv")
    assert rej.ok.all() and not rej.any_rejected and rej._reason is None
    rej.reject(np.zeros(4, dtype=bool), RejectReason.BAD_SPEED, "never")
    assert rej._reason is None
    rej.reject(np.array([False, True, False, False]), RejectReason.BAD_SPEED, "speed")
    rej.reject(np.array([False, True, True, False]), RejectReason.BAD_HEADING, "heading")
    assert rej.any_rejected
    assert list(rej.ok) == [True, False, False, True]
    assert list(rej.reason) == [None, "BAD_SPEED", "BAD_HEADING", None]
    assert list(rej.detail) == [None, "speed", "heading", None]


@pytest.mark.parametrize(("stamps", "typed"), [
    (["2026-07-14T10:00:00Z", "2026-07-14T11:00:00.5+01:00", ""], True),   # offsets (and an empty cell)
    (["2026-07-14T10:00:00Z", "2026-07-14T11:00:00"], False),             # a zone-less time: read as text
    (["2026-07-14T10:00:00Z", "soon"], False),                            # not a time: read as text
])
def test_times_parsed_while_reading_equal_the_text_rule(tmp_path, stamps, typed):
    f = tmp_path / "t.csv"
    f.write_text("subject_id,timestamp,lat,lon\n" + "".join(f"S1,{s},53.4,-2.2\n" for s in stamps))
    layout = tr._Layout(*tr._header(f))
    table, _, _, as_text = tr._read_delimited(f, layout, {"lat", "lon"}, frozenset({"timestamp"}))
    assert pa.types.is_timestamp(table["timestamp"].type) == typed
    got = tr._timestamps(table["timestamp"], None, "timestamp")
    want = tr._timestamps(tr._arrow_csv(f, layout, set())["timestamp"], None, "timestamp")
    assert (got[0] == want[0]).all() and (got[1] == want[1]).all()
    if typed:
        assert as_text()["timestamp"].to_pylist() == [s or None for s in stamps]


def test_a_file_without_subjects_gives_its_subject_to_every_column(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("timestamp,lat,lon\n2026-07-14T10:00:00Z,53.4,-2.2\n2026-07-14T10:01:00Z,53.5,-2.2\n")
    r = tr.read_trails(f, subject="S9")
    assert r.fix_columns["subject_id"].cast(pa.string()).to_pylist() == ["S9", "S9"]
    assert list(r.accepted["subject_id"]) == ["S9", "S9"]
