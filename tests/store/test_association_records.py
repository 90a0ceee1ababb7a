"""Co-location episodes as case records: one per subject of the pair, qualified on current figures only."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from trailmon.errors import StoreError
from trailmon.store.cases import CaseStore, builtin_check, load_schema, validate_records

T0 = pd.Timestamp("2026-07-14T13:00:00Z")


def episodes(min_distance_m=30.0, duration_s=720.0):
    return pd.DataFrame(
        {
            "subject_a": ["A"],
            "subject_b": ["B"],
            "start": [T0],
            "end": [T0 + pd.Timedelta(seconds=duration_s)],
            "duration_s": [duration_s],
            "min_distance_m": [min_distance_m],
            "closest_time": [T0 + pd.Timedelta(seconds=60)],
            "lat": [53.8],
            "lon": [-1.5],
            "easting": [430000.0],
            "northing": [433000.0],
        }
    )


@pytest.fixture
def cases(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite", create=True) as c:
        with c.transaction() as conn:
            conn.execute("INSERT INTO subjects (subject_id, crn, cohort) VALUES ('A', 'A123456', 'fixed')")
            c.apply_associations(conn, episodes(), distance_m=50.0, run_id="r1", report_day="2026-07-14")
        yield c


def _aid(cases) -> int:
    return int(cases.associations().iloc[0]["association_id"])


def test_pending_not_exported_qualified_gives_one_record_per_subject(cases):
    assert cases.case_records() == []
    every = cases.case_records(exportable=False)
    assert [(r["subject_id"], r["review_state"]) for r in every] == [("A", "pending"), ("B", "pending")]
    cases.review_association(_aid(cases), "qualified", user="rev1")
    recs = cases.case_records()
    aid = _aid(cases)
    assert [r["record_id"] for r in recs] == [f"association:{aid}:A", f"association:{aid}:B"]
    a, b = recs
    assert (a["subject_id"], a["other_subject_id"], b["subject_id"], b["other_subject_id"]) == ("A", "B", "B", "A")
    assert (a["crn"], a["cohort"], b["crn"]) == ("A123456", "fixed", None)
    assert a["event_type"] == "association" and a["status"] == "together" and a["schema_version"] == "1.1.0"
    assert a["start"] == "2026-07-14T13:00:00.000Z" and a["end"] == "2026-07-14T13:12:00.000Z"
    assert a["closest_time"] == "2026-07-14T13:01:00.000Z"
    assert (a["distance_m"], a["duration_s"], a["within_m"], a["association_id"]) == (30.0, 720.0, 50.0, aid)
    assert (a["review_state"], a["reviewer"]) == ("qualified", "rev1") and a["crime_ref"] is None
    assert validate_records(recs) == 2
    # keyed by subject: the filter keeps that subject's record only, whichever side of the pair
    assert [r["record_id"] for r in cases.case_records(subject="B")] == [f"association:{aid}:B"]


def test_rejected_not_exported(cases):
    cases.review_association(_aid(cases), "rejected", user="rev1", reason="same household")
    assert cases.case_records() == []
    assert [r["review_state"] for r in cases.case_records(exportable=False)] == ["rejected", "rejected"]


def test_changed_since_review_is_not_exported_until_reviewed_again(cases):
    cases.review_association(_aid(cases), "qualified", user="rev1")
    assert len(cases.case_records()) == 2
    with cases.transaction() as conn:
        out = cases.apply_associations(conn, episodes(min_distance_m=12.0), distance_m=50.0, run_id="r2",
                                       report_day="2026-07-15")
    assert out["updated"] == 1
    assert cases.case_records() == []
    cases.review_association(_aid(cases), "qualified", user="rev2")
    recs = cases.case_records()
    assert [(r["reviewer"], r["distance_m"]) for r in recs] == [("rev2", 12.0), ("rev2", 12.0)]


def _assoc(**kw):
    rec = dict.fromkeys(load_schema()["properties"])
    rec.update(schema_version="1.1.0", record_id="association:1:A", event_type="association", subject_id="A",
               status="together", flags="", distance_m=30.0, duration_s=720.0, review_state="qualified",
               engine="trailmon", other_subject_id="B", association_id=1, within_m=50.0)
    rec.update(kw)
    return rec


BAD = [
    ({"other_subject_id": None}, "other_subject_id"),
    ({"association_id": None}, "association_id"),
    ({"status": "hit"}, "status"),
    ({"schema_version": "1.0.0"}, "schema_version"),
    ({"review_state": "not_required"}, "review_state"),
    ({"within_m": -1.0}, "within_m"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
def test_association_schema_rules_with_and_without_jsonschema(monkeypatch, changes, field):
    validate_records([_assoc()])
    with pytest.raises(StoreError, match=f"urn:trailmon:schema:case-record:1.1.0.*{field}"):
        validate_records([_assoc(**changes)])
    assert builtin_check(_assoc(), load_schema()) is None
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    validate_records([_assoc()])
    with pytest.raises(StoreError, match=f"does not follow .*{field}"):
        validate_records([_assoc(**changes)])


def test_old_records_stay_valid_new_ones_carry_the_new_fields(monkeypatch):
    old = dict.fromkeys(load_schema()["required"])  # a 1.0.0 record has none of the new fields
    old.update(schema_version="1.0.0", record_id="hit:1", event_type="proximity_hit", subject_id="S1",
               status="hit", flags="", crime_ref="K1", crime_version=1, distance_m=1.0,
               review_state="qualified", engine="trailmon")
    new = {**old, "schema_version": "1.1.0"}
    assert validate_records([old]) == 1
    with pytest.raises(StoreError, match="other_subject_id"):
        validate_records([new])
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    assert builtin_check(old, load_schema()) is None
    assert "other_subject_id" in builtin_check(new, load_schema())
    assert builtin_check({**new, "other_subject_id": None, "association_id": None, "within_m": None},
                         load_schema()) is None
