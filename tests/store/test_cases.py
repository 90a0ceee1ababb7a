"""The SQLite case-record store: schema, migrations, upserts on natural keys, review, records, schema."""

from __future__ import annotations

import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest

from trailmon.errors import InputError, StoreError
from trailmon.match.proximity import proximity
from trailmon.store.cases import (
    MIGRATIONS,
    SCHEMA_PATH,
    SCHEMA_VERSION,
    CaseStore,
    builtin_check,
    load_schema,
    merge_spans,
    validate_records,
)
from trailmon.testing import make_trail

T0 = pd.Timestamp("2026-07-14T13:00:00Z")


def crimes(rows):
    """Canonical crime rows ``(force, ref, file_version, x, y, minutes from, minutes to, radius)``."""
    return pd.DataFrame(
        {
            "force": [r[0] for r in rows],
            "crime_ref": [r[1] for r in rows],
            "crime_version": [r[2] for r in rows],
            "offence": "TFP",
            "offence_group": "theft_from_person",
            "x_m": [float(r[3]) for r in rows],
            "y_m": [float(r[4]) for r in rows],
            "lat": np.nan,
            "lon": np.nan,
            "committed_from": [T0 + pd.Timedelta(minutes=r[5]) for r in rows],
            "committed_to": [T0 + pd.Timedelta(minutes=r[6]) for r in rows],
            "radius_m": [r[7] for r in rows],
            "batch_id": "",
            "source_format": "generic",
        }
    )


@pytest.fixture
def cases(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite", create=True) as c:
        yield c


def test_created_owner_only_at_current_schema(tmp_path, cases):
    assert oct((tmp_path / "cases.sqlite").stat().st_mode & 0o777) == "0o600"
    assert cases.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert SCHEMA_PATH.is_file() and SCHEMA_PATH.parent.name == "schema"


def test_migrates_an_older_file(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("PRAGMA user_version = 1")
    con.execute("INSERT INTO subjects (subject_id, cohort) VALUES ('S1', 'fixed')")
    con.commit()
    con.close()
    with CaseStore(path) as c:
        assert c.schema_version == SCHEMA_VERSION
        names = {r[0] for r in c.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "crimes_window" in names
        assert c.frame("SELECT * FROM subjects")["cohort"].tolist() == ["fixed"]


def test_refuses_newer_schema_and_other_files(tmp_path):
    path = tmp_path / "new.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    newer = rf"schema version {SCHEMA_VERSION + 1}, newer than this trailmon .* upgrade trailmon"
    with pytest.raises(StoreError, match=newer):
        CaseStore(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="is not a trailmon case-record store"):
        CaseStore(junk)
    with pytest.raises(StoreError, match="no case-record store at .* --db"):
        CaseStore(tmp_path / "missing.sqlite")


@pytest.mark.parametrize(
    ("batches", "versions"),
    [
        # one crime, sent once
        ([[("F", "K1", 1, 0, 0, -5, 5, 100.0)]], [("F", "K1", 1)]),
        # an identical re-send on a later night changes nothing
        ([[("F", "K1", 1, 0, 0, -5, 5, 100.0)], [("F", "K1", 1, 0, 0, -5, 5, 100.0)]], [("F", "K1", 1)]),
        # moved 1 m on a later night: version 2; moved back: version 3 (differs from the latest)
        (
            [
                [("F", "K1", 1, 0, 0, -5, 5, 100.0)],
                [("F", "K1", 1, 1, 0, -5, 5, 100.0)],
                [("F", "K1", 1, 0, 0, -5, 5, 100.0)],
            ],
            [("F", "K1", 1), ("F", "K1", 2), ("F", "K1", 3)],
        ),
        # two versions in one file, rows out of order: the file's versions order them
        (
            [[("F", "K1", 2, 0, 0, -5, 9, 100.0), ("F", "K1", 1, 0, 0, -5, 5, 100.0)]],
            [("F", "K1", 1), ("F", "K1", 2)],
        ),
        # the same reference from two forces: two crimes
        (
            [[("F", "K1", 1, 0, 0, -5, 5, 100.0), ("G", "K1", 1, 0, 0, -5, 5, 100.0)]],
            [("F", "K1", 1), ("G", "K1", 1)],
        ),
        # a radius given later is a change of content; an absent radius is not a number
        (
            [[("F", "K1", 1, 0, 0, -5, 5, np.nan)], [("F", "K1", 1, 0, 0, -5, 5, 150.0)]],
            [("F", "K1", 1), ("F", "K1", 2)],
        ),
    ],
)
def test_crime_versions(cases, batches, versions):
    for k, rows in enumerate(batches):
        with cases.transaction() as c:
            cases.upsert_crimes(c, crimes(rows), f"run{k}")
    got = cases.frame(
        "SELECT force, crime_ref, crime_version FROM crimes ORDER BY force, crime_ref, crime_version"
    )
    assert [tuple(r) for r in got.itertuples(index=False)] == versions


def test_crimes_to_match_by_flag_and_overlap(cases):
    with cases.transaction() as c:
        cases.upsert_crimes(
            c, crimes([("F", "A", 1, 0, 0, 0, 10, 100.0), ("F", "B", 1, 0, 0, 600, 610, 100.0)]), "r"
        )
    assert cases.crimes_to_match([], 0)["crime_ref"].tolist() == ["A", "B"]
    with cases.transaction() as c:
        c.execute("UPDATE crimes SET needs_match = 0")
    assert len(cases.crimes_to_match([], 0)) == 0
    t = (T0 + pd.Timedelta(minutes=12)).value
    assert cases.crimes_to_match([(t, t)], 0)["crime_ref"].tolist() == []
    assert cases.crimes_to_match([(t, t)], int(121e9))["crime_ref"].tolist() == ["A"]  # padded by 2 min
    frame = cases.crimes_to_match([(t, t)], int(121e9))
    assert (
        frame["committed_from"].iloc[0] == T0 and str(frame["committed_from"].dtype) == "datetime64[ns, UTC]"
    )


def test_subjects_upsert_counts_changes_only(cases):
    subj = pd.DataFrame(
        {
            "subject_id": ["S1", "S2"],
            "cohort": ["fixed", "free"],
            "crn": ["A123456", None],
            "pnc_id": [None, None],
            "nomis_id": [None, None],
            "offender_manager": [None, None],
        }
    )
    with cases.transaction() as c:
        assert cases.upsert_subjects(c, subj) == 2
    with cases.transaction() as c:
        assert cases.upsert_subjects(c, subj) == 0
    with cases.transaction() as c:
        assert cases.upsert_subjects(c, subj.assign(cohort=["flex", "free"])) == 1


def _match(cases, trail, rows, run):
    cr = crimes(rows)
    with cases.transaction() as c:
        cases.upsert_crimes(c, cr, run)
    todo = cases.crimes_to_match([(-(2**62), 2**62)], 0)
    keys = todo[["force", "crime_ref", "crime_version"]]
    out = proximity(trail, todo.assign(crime_ref=[str(i) for i in range(len(todo))]))
    res = []
    for df in out:
        df = df.copy()
        k = df["crime_ref"].astype(int).to_numpy() if len(df) else np.zeros(0, int)
        df["force"] = keys["force"].to_numpy()[k]
        df["crime_ref"] = keys["crime_ref"].to_numpy()[k]
        res.append(df)
    with cases.transaction() as c:
        return cases.apply_proximity(c, keys, *res, run_id=run, report_day="2026-07-14")


def test_hits_upserted_keep_id_and_review_state(cases):
    t = T0.value / 1e9
    trail = make_trail([(t - 60, -300.0, 30.0), (t + 60, 300.0, 30.0)])
    got = _match(cases, trail, [("F", "K1", 1, 0, 0, -5, 5, 100.0)], "r1")
    assert (got["new"], got["evidence_rows"]) == (1, 2)
    hid = int(cases.hits()["hit_id"].iloc[0])
    cases.review(hid, "qualified", user="rev")
    got = _match(cases, trail, [("F", "K1", 1, 0, 0, -5, 5, 100.0)], "r2")
    assert (got["new"], got["unchanged"], got["updated"]) == (0, 1, 0)
    closer = make_trail([(t - 60, -300.0, 10.0), (t + 60, 300.0, 10.0)])
    got = _match(cases, closer, [("F", "K1", 1, 0, 0, -5, 5, 100.0)], "r3")
    assert got["updated"] == 1
    h = cases.hits().iloc[0]
    # new figures: the verdict was given on others, so the hit is pending again (SPEC §8)
    assert (int(h["hit_id"]), h["review_state"], h["changed_since_review"]) == (hid, "pending", 1)
    assert float(h["min_distance_m"]) == pytest.approx(10.0)
    assert len(cases.frame("SELECT * FROM evidence")) == 0  # computed on view, not stored per night
    assert int(h["evidence_rows"]) == 2
    far = make_trail([(t - 60, -300.0, 3000.0), (t + 60, 300.0, 3000.0)])
    got = _match(cases, far, [("F", "K1", 1, 0, 0, -5, 5, 100.0)], "r4")
    assert (
        got["withdrawn"] == 1 and len(cases.hits()) == 0 and len(cases.frame("SELECT * FROM evidence")) == 0
    )
    w = cases.frame("SELECT * FROM withdrawn_hits")
    assert (int(w["hit_id"].iloc[0]), w["review_state"].iloc[0]) == (hid, "pending")


@pytest.mark.parametrize(
    ("state", "reason", "message"),
    [
        ("approved", None, "'qualified' or 'rejected', got 'approved'"),
        ("rejected", None, "a rejection needs a reason"),
        ("rejected", "  ", "a rejection needs a reason"),
    ],
)
def test_review_argument_errors(cases, state, reason, message):
    with pytest.raises(InputError, match=message):
        cases.review(1, state, user="rev", reason=reason)


def test_review_unknown_and_twice(cases):
    with pytest.raises(InputError, match="no hit with id 7"):
        cases.review(7, "qualified", user="rev")
    t = T0.value / 1e9
    _match(
        cases,
        make_trail([(t - 60, -300.0, 30.0), (t + 60, 300.0, 30.0)]),
        [("F", "K1", 1, 0, 0, -5, 5, 100.0)],
        "r",
    )
    cases.review(1, "rejected", user="rev", reason="wrong person")
    with pytest.raises(InputError, match="already rejected by rev"):
        cases.review(1, "qualified", user="rev2")


def test_case_records_follow_schema_and_only_qualified_export(cases):
    t = T0.value / 1e9
    _match(
        cases,
        make_trail([(t - 60, -300.0, 30.0), (t + 60, 300.0, 30.0)]),
        [("F", "K1", 1, 0, 0, -5, 5, 100.0), ("F", "K2", 1, 0, 0, -5, 5, 100.0)],
        "r",
    )
    assert cases.case_records() == []
    cases.review(1, "qualified", user="rev")
    recs = cases.case_records()
    assert [r["crime_ref"] for r in recs] == ["K1"]
    assert len(cases.case_records(exportable=False)) == 2
    assert validate_records(cases.case_records(exportable=False)) == 2
    assert recs[0]["start"].endswith("Z") and recs[0]["force"] == "F" and recs[0]["crn"] is None


def _record(**kw):
    rec = dict.fromkeys(load_schema()["required"])
    rec.update(
        schema_version="1.0.0",
        record_id="hit:1",
        event_type="proximity_hit",
        subject_id="S1",
        status="hit",
        flags="",
        crime_ref="K1",
        crime_version=1,
        distance_m=12.5,
        review_state="qualified",
        engine="trailmon",
    )
    rec.update(kw)
    return rec


BAD_RECORDS = [
    # (changes, what the message names)
    ({"crn": "12345"}, "crn"),
    ({"pnc_id": "2012/123"}, "pnc_id"),
    ({"event_type": "sighting"}, "event_type"),
    ({"coverage": 1.5}, "coverage"),
    ({"crime_version": 0}, "crime_version"),
    ({"crime_ref": None}, "crime_ref"),
    ({"status": "attended"}, "status"),
    ({"review_state": "not_required"}, "review_state"),
    ({"passes": 1.5}, "passes"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_RECORDS)
def test_validation_with_and_without_jsonschema(monkeypatch, changes, field):
    validate_records([_record()])
    with pytest.raises(
        StoreError,
        match=f"case record 'hit:1' does not follow urn:trailmon:schema:case-record:1.1.0.*{field}",
    ):
        validate_records([_record(**changes)])
    assert builtin_check(_record(), load_schema()) is None
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import fails: the built-in check runs
    validate_records([_record()])
    with pytest.raises(StoreError, match=f"does not follow .*{field}"):
        validate_records([_record(**changes)])


def test_missing_field_builtin():
    rec = _record()
    del rec["engine"]
    assert builtin_check(rec, load_schema()) == "(record): 'engine' is a required property"


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        ([], []),
        ([(5, 9), (1, 3)], [(1, 3), (5, 9)]),
        ([(1, 5), (5, 9)], [(1, 9)]),  # touching spans merge
        ([(1, 10), (2, 3), (4, 12)], [(1, 12)]),  # nested and overlapping
    ],
)
def test_merge_spans(spans, merged):
    assert merge_spans(spans) == merged


def test_transaction_rolls_back(cases):
    with pytest.raises(RuntimeError):
        with cases.transaction() as c:
            c.execute("INSERT INTO subjects (subject_id) VALUES ('S1')")
            raise RuntimeError("boom")
    assert len(cases.frame("SELECT * FROM subjects")) == 0


def test_runs_log(cases):
    cases.start_run("r1", command="nightly", parameters={"a": 1}, as_of="2026-07-14T02:00:00.000Z")
    cases.start_run("r2", command="nightly", parameters={"a": 1}, trigger="manual")
    cases.finish_run("r2", status="done", summary={"hits": 0})
    runs = cases.runs().set_index("run_id")
    assert runs.loc["r1", "status"] == "failed" and "interrupted" in runs.loc["r1", "error"]
    assert (runs.loc["r2", "status"], runs.loc["r2", "trigger"]) == ("done", "manual")
    with pytest.raises(InputError, match="trigger must be 'auto' or 'manual', got 'cron'"):
        cases.start_run("r3", command="nightly", parameters={}, trigger="cron")
    with pytest.raises(InputError, match="status must be 'done' or 'failed', got 'ok'"):
        cases.finish_run("r2", status="ok")


def test_devices_of_monitoring_windows_on_subjects_and_hits(tmp_path):
    """EM activations: the device of each window is kept; a hit shows the device of its window."""
    import pandas as pd

    subj = pd.DataFrame({
        "subject_id": ["40011", "40011"],
        "monitoring_start": pd.to_datetime(["2026-05-04T09:12:00Z", "2026-07-15T10:41:05Z"], utc=True),
        "monitoring_end": pd.to_datetime(["2026-07-15T10:12:31Z", None], utc=True),
        "cohort": ["free", "free"], "crn": [None, None], "pnc_id": [None, None], "nomis_id": [None, None],
        "offender_manager": [None, None], "device_id": ["DEV-1", "DEV-2"], "device_serial": ["SN-1", "SN-2"],
    })
    with CaseStore(tmp_path / "c.sqlite", create=True) as c:
        with c.transaction() as conn:
            assert c.upsert_subjects(conn, subj) == 1
            for ref, t in (("K1", "2026-07-14T12:00:00Z"), ("K2", "2026-07-16T12:00:00Z")):
                conn.execute(
                    "INSERT INTO hits (force, crime_ref, crime_version, subject_id, closest_time_ns) "
                    "VALUES ('', ?, 1, '40011', ?)", (ref, pd.Timestamp(t).value))
        row = c.frame("SELECT device_id, device_serial FROM subjects").iloc[0]
        assert (row["device_id"], row["device_serial"]) == ("DEV-2", "SN-2")  # the latest window's
        hits = c.hits()
        assert hits[["crime_ref", "device_id", "device_serial"]].values.tolist() == [
            ["K1", "DEV-1", "SN-1"], ["K2", "DEV-2", "SN-2"]]


def test_gaps_keep_reachability(cases):
    import pandas as pd

    cols = {r[1] for r in cases.conn.execute("PRAGMA table_info(gaps)")}
    assert {"min_speed_kmh", "reachable_by"} <= cols
    t = pd.to_datetime([0, 1200], unit="s", utc=True)
    gaps = pd.DataFrame({"force": ["F"], "crime_ref": ["K1"], "crime_version": [1], "subject_id": ["S1"],
                         "gap_start": t[:1], "gap_end": t[1:], "gap_s": [1200.0], "before_distance_m": [900.0],
                         "after_distance_m": [300.0], "coverage": [0.1], "min_speed_kmh": [float("nan")],
                         "reachable_by": ["no"]})
    matched = pd.DataFrame({"force": ["F"], "crime_ref": ["K1"], "crime_version": [1]})
    from trailmon.report._columns import HITS

    empty = pd.DataFrame({c: [] for c in ("force", *HITS)})
    with cases.transaction() as c:
        cases.apply_proximity(c, matched, empty, pd.DataFrame(), gaps, run_id="r1", report_day="2026-01-01")
    got = cases.frame("SELECT min_speed_kmh, reachable_by FROM gaps")
    assert got["min_speed_kmh"].isna().tolist() == [True]
    assert got["reachable_by"].tolist() == ["no"]


def test_associations_are_upserted_and_a_changed_reviewed_one_goes_back_to_pending(cases):
    import pandas as pd

    t = pd.to_datetime([0, 720, 0], unit="s", utc=True)

    def episodes(duration):
        return pd.DataFrame({"subject_a": ["A"], "subject_b": ["B"], "start": t[:1], "end": t[1:2],
                             "duration_s": [duration], "min_distance_m": [30.0], "closest_time": t[2:],
                             "lat": [51.5], "lon": [-0.1], "easting": [530000.0], "northing": [180015.0]})

    with cases.transaction() as c:
        assert cases.apply_associations(c, episodes(720.0), distance_m=50.0, run_id="r1", report_day="d")["new"] == 1
    with cases.transaction() as c:
        assert cases.apply_associations(c, episodes(720.0), distance_m=50.0, run_id="r2",
                                        report_day="d")["unchanged"] == 1
    aid = int(cases.associations()["association_id"].iloc[0])
    assert cases.review_association(aid, "qualified", user="rev1")["review_state"] == "qualified"
    with pytest.raises(InputError, match="already qualified"):
        cases.review_association(aid, "rejected", user="rev1", reason="x")
    with pytest.raises(InputError, match="no association with id 999"):
        cases.review_association(999, "qualified", user="rev1")
    with cases.transaction() as c:
        assert cases.apply_associations(c, episodes(700.0), distance_m=50.0, run_id="r3",
                                        report_day="d")["updated"] == 1
    row = cases.associations(subject="B").iloc[0]
    assert (row["review_state"], row["flags"]) == ("pending", "changed_since_review")
    assert "was qualified by rev1" in row["review_reason"]
