"""The trail store: layout, owner-only permissions, atomic and idempotent ingest, reads."""

from __future__ import annotations

import json
import multiprocessing as mp
import stat

import numpy as np
import pandas as pd
import pytest

from tests.conftest import held_lock
from trailmon.errors import StoreError, StoreLockedError
from trailmon.io.quarantine import ReadResult, RejectReason, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.store.trails import TrailStore
from trailmon.trail import FLAG_SPEED_JUMP

T0 = pd.Timestamp("2026-07-14T23:50:00Z").value


def fixes(rows, file="f.csv"):
    """ReadResult of accepted trail rows ``(subject, t_offset_s, x, y)``."""
    df = pd.DataFrame({
        "subject_id": [r[0] for r in rows],
        "t_ns": [T0 + int(r[1] * 1e9) for r in rows],
        "x_m": [float(r[2]) for r in rows], "y_m": [float(r[3]) for r in rows],
        "lat": 53.8, "lon": -1.55, "accuracy_m": 10.0, "fix_type": "gps", "speed_mps": np.nan,
        "heading_deg": np.nan,
    })[TRAIL_INPUT]
    df["row"] = np.arange(1, len(df) + 1)
    return ReadResult(df, empty_rejected(), len(df), files=[file])


WALK = [("S1", 60 * k, 430000 + 50 * k, 433000) for k in range(20)]  # crosses midnight UTC


def test_new_store_layout_and_permissions(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([fixes(WALK)])
    root = tmp_path / "s"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for p in root.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    days = ["2026-07-14", "2026-07-15"]
    assert sorted(p.name.split(".")[0] for p in (root / "trails").glob("*.parquet") if ".edges." not in p.name) == days
    assert sorted(p.name.split(".")[0] for p in (root / "trails").glob("*.edges.parquet")) == days
    assert json.loads((root / "store.json").read_text())["crs"] == "EPSG:27700"


def test_read_returns_sorted_contiguous_arrays(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    shuffled = WALK[::-1] + [("S0", 30, 1, 2)]
    store.ingest([fixes(shuffled)])
    tr = store.read()
    assert list(tr.subject_ids) == ["S0", "S1"]
    assert list(tr.offsets) == [0, 1, 21]
    assert np.all(np.diff(tr.t_s[1:]) > 0)
    for a in (tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m):
        assert a.flags["C_CONTIGUOUS"] and a.dtype == np.float64


def test_reingest_adds_nothing(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    first = store.ingest([fixes(WALK)])
    again = store.ingest([fixes(WALK)])
    assert (first.added, first.already_stored) == (20, 0)
    assert (again.read, again.accepted, again.added, again.already_stored, again.rejected) == (20, 20, 0, 20, 0)
    assert store.read().n_fixes == 20


def test_conflicting_fix_against_store_is_rejected_and_kept(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([fixes(WALK)])
    moved = [("S1", 0, 999999, 433000)]
    s = store.ingest([fixes(moved, file="late.csv")])
    assert (s.read, s.accepted, s.rejected) == (1, 0, 1)
    assert s.rejected_by_reason == {RejectReason.CONFLICTING_DUPLICATE.value: 1}
    q = pd.read_csv(s.quarantine)
    assert list(q["file"]) == ["late.csv"] and list(q["row"]) == [1]
    assert store.read().x_m[0] == 430000


def test_later_file_in_same_ingest_counts_as_already_stored(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    s = store.ingest([fixes(WALK[:5], "a.csv"), fixes(WALK[3:8], "b.csv")])
    assert (s.read, s.accepted, s.added, s.already_stored) == (10, 10, 8, 2)


def test_speed_jump_flagged_on_later_fix_across_days(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([fixes([("S1", 0, 430000, 433000), ("S1", 60, 430060, 433000)])])
    s = store.ingest([fixes([("S1", 660, 530000, 433000)])])  # 100 km in 10 min, after midnight
    assert s.flagged == 1
    tr = store.read()
    assert list((tr.flags & FLAG_SPEED_JUMP) != 0) == [False, False, True]


def test_lock_is_exclusive_across_processes(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    with held_lock(store.path, "nightly"), pytest.raises(StoreLockedError, match="locked by nightly"):
        store.ingest([fixes(WALK)])


def test_lock_is_reentrant_within_a_process(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    with store.lock(what="nightly"):
        assert store.ingest([fixes(WALK)]).added == 20
    with held_lock(store.path, "ingest"):  # released on exit: another process can take it
        pass


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no trail store at .*trailmon ingest"):
        TrailStore(tmp_path / "nothing")


def test_crs_fixed_at_creation(tmp_path):
    TrailStore(tmp_path / "s", create=True, crs="EPSG:32650")
    with pytest.raises(StoreError, match="uses EPSG:32650, not EPSG:27700"):
        TrailStore(tmp_path / "s", crs="27700")


def _ingest_and_die(path):
    store = TrailStore(path)
    store.ingest([fixes([("S2", 60 * k, 1000 + k, 2000) for k in range(50)])], _crash_before_commit=True)


def _snapshot(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_killed_ingest_leaves_store_as_before(tmp_path):
    path = tmp_path / "s"
    store = TrailStore(path, create=True)
    store.ingest([fixes(WALK)])
    before = _snapshot(path)
    frame_before = store.fixes_frame()
    proc = mp.get_context("fork").Process(target=_ingest_and_die, args=(path,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 17  # died after writing its files, before the commit point
    after = TrailStore(path)
    pd.testing.assert_frame_equal(after.fixes_frame(), frame_before)
    after.ingest([])  # the next writer removes the orphans
    assert _snapshot(path).keys() - before.keys() <= {"manifest.json"}
    assert {k for k in _snapshot(path) if k.startswith("trails/")} == {k for k in before if k.startswith("trails/")}


def test_subjects_windows_upserted(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    sub = pd.DataFrame({"subject_id": ["S1", "S1"], "cohort": ["flex", ""],
                        "monitoring_start": pd.to_datetime(["2026-07-01", "2026-08-01"], utc=True),
                        "monitoring_end": pd.to_datetime(["2026-07-20", None], utc=True),
                        "crn": ["A123456", None], "pnc_id": [None, None], "nomis_id": [None, None],
                        "offender_manager": ["OM One", None], "flags": ["", ""]})
    r = ReadResult(sub, empty_rejected(), 2, files=["subjects.csv"])
    s1 = store.ingest([], [r])
    s2 = store.ingest([], [r])
    assert s1.subjects["windows"] == s2.subjects["windows"] == 2
    got = store.subjects()
    assert list(got["cohort"]) == ["flex", "flex"] and list(got["crn"]) == ["A123456", "A123456"]
    w = store.windows()["S1"]
    assert w[0] == (pd.Timestamp("2026-07-01", tz="UTC").value / 1e9, pd.Timestamp("2026-07-20", tz="UTC").value / 1e9)
    assert w[1][1] == np.inf
    assert (tmp_path / "s" / "subjects.parquet").exists()


def test_earlier_day_ingested_late_reflags_next_day(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    store.ingest([fixes([("S1", 660, 530000, 433000), ("S1", 720, 530010, 433000)])])  # 00:01, 00:02 on the 15th
    s = store.ingest([fixes([("S1", 0, 430000, 433000)])])  # 23:50 on the 14th, 100 km away
    assert (s.added, s.already_stored, s.flagged) == (1, 0, 0)
    tr = store.read()
    assert tr.n_fixes == 3
    assert list((tr.flags & FLAG_SPEED_JUMP) != 0) == [False, True, False]


def test_read_brackets_a_gap_with_the_nearest_fixes_days_away(tmp_path):
    store = TrailStore(tmp_path / "s", create=True)
    day = 86_400
    rows = [("S1", -2 * day, 1, 1), ("S1", -2 * day + 60, 2, 2),        # two days before
            ("S1", 3 * day, 5, 5),                                       # three days after
            ("S2", 600, 7, 7)]                                           # inside the period
    store.ingest([fixes(rows)])
    t1 = pd.Timestamp(T0 + 0, unit="ns", tz="UTC")
    t2 = pd.Timestamp(T0 + int(3600e9), unit="ns", tz="UTC")
    tr = store.read(t1, t2)
    k = tr.subject_index("S1")
    got = tr.t_s[tr.offsets[k]:tr.offsets[k + 1]] - T0 / 1e9
    assert got.tolist() == [-2 * day + 60, 3 * day]  # the last fix before and the first after, nothing else
    assert store.read(t1, t2, brackets=False).subject_index("S1") == -1
    assert store.read(t1, t2, ["S2"]).subject_ids.tolist() == ["S2"]


def test_devices_kept_per_monitoring_window(tmp_path):
    """EM activations give each window its device; a later generic file without devices keeps them."""
    from trailmon.io.subjects import read_subjects

    act = tmp_path / "act.csv"
    act.write_text("device_activation_id,device_activation_date,device_deactivation_date,person_id,device_id,"
                   "device_serial_number\n1,2026-05-04 09:12:00,2026-07-15 10:12:31,40011,DEV-1,SN-1\n"
                   "2,2026-07-15 10:41:05,2999-12-12 23:59:59,40011,DEV-2,SN-2\n")
    gen = tmp_path / "s.csv"
    gen.write_text("subject_id,cohort,monitoring_start,monitoring_end,crn\n40011,fixed,2026-05-04T09:12:00Z,,\n")
    store = TrailStore(tmp_path / "store", create=True)
    store.ingest([], [read_subjects(act)])
    store.ingest([], [read_subjects(gen)])
    got = store.subjects()
    assert got[["device_id", "device_serial"]].values.tolist() == [["DEV-1", "SN-1"], ["DEV-2", "SN-2"]]
    assert got["cohort"].tolist() == ["fixed", "fixed"]
