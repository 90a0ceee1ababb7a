"""Verdicts tied to figures (SPEC §8): review history, changed_since_review, withdrawal, frozen evidence,
the migration of a file written before evidence left the database."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from tests.store.test_cases import T0, crimes
from trailmon.errors import InputError
from trailmon.match.proximity import proximity
from trailmon.store.cases import (
    EMPTY_EVIDENCE_DIGEST,
    MIGRATIONS,
    SCHEMA_VERSION,
    CaseStore,
    evidence_digests,
    figures_changed,
)
from trailmon.testing import make_trail

T = T0.value / 1e9
CRIME = [("F", "K1", 1, 0, 0, -5, 5, 100.0)]


@pytest.fixture
def cases(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite", create=True) as c:
        yield c


def trail(y: float, *, x: float = 300.0, accuracy=None):
    """One subject passing the scene at ``y`` metres (closest approach ``y`` at T0)."""
    return make_trail([(T - 60, -x, y, accuracy), (T + 60, x, y, accuracy)])


def run(cases, tr, run_id, rows=CRIME, *, evidence_edit=None):
    """Match ``rows`` on ``tr`` and apply the result as the nightly job does; returns (summary, evidence)."""
    with cases.transaction() as c:
        cases.upsert_crimes(c, crimes(rows), run_id)
    todo = cases.crimes_to_match([(-(2**62), 2**62)], 0)
    keys = todo[["force", "crime_ref", "crime_version"]]
    out = []
    for df in proximity(tr, todo.assign(crime_ref=[str(i) for i in range(len(todo))])):
        df = df.copy()
        k = df["crime_ref"].astype(int).to_numpy() if len(df) else np.zeros(0, int)
        df["force"] = keys["force"].to_numpy()[k]
        df["crime_ref"] = keys["crime_ref"].to_numpy()[k]
        out.append(df)
    if evidence_edit is not None:
        out[1] = evidence_edit(out[1])
    with cases.transaction() as c:
        got = cases.apply_proximity(c, keys, *out, run_id=run_id, report_day="2026-07-14")
    return got, out[1]


def hit(cases) -> dict:
    return cases.hits().iloc[0].to_dict()


def test_qualified_hit_whose_figures_change_is_not_exported(cases):
    """Regression: a qualified hit re-matched with other figures was exported as qualified."""
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "qualified", user="rev", evidence=ev)
    assert [r["record_id"] for r in cases.case_records()] == [f"hit:{hid}"]
    got, _ = run(cases, trail(10.0), "r2")  # new fixes: the subject passed 10 m away, not 30 m
    assert (got["updated"], got["changed_since_review"]) == (1, 1)
    assert cases.case_records() == []
    h = hit(cases)
    assert (int(h["hit_id"]), h["review_state"], h["changed_since_review"], h["reviewer"]) == (
        hid,
        "pending",
        1,
        None,
    )
    hist = cases.review_history([hid])
    assert len(hist) == 1
    v = hist.iloc[0]
    assert (v["state"], v["reviewer"], v["ended_why"], v["ended_run"]) == (
        "qualified",
        "rev",
        "changed_since_review",
        "r2",
    )
    assert float(v["min_distance_m"]) == pytest.approx(30.0)  # the figures the reviewer saw
    changes = cases.changes_since_review([hid])[hid]
    assert changes["verdict"]["state"] == "qualified"
    assert changes["changed"]["min_distance_m"]["reviewed"] == pytest.approx(30.0)
    assert changes["changed"]["min_distance_m"]["now"] == pytest.approx(10.0)
    assert "evidence" in changes["changed"]
    # a new verdict on the new figures clears the flag and is exported again
    cases.review(hid, "qualified", user="rev2")
    assert hit(cases)["changed_since_review"] == 0
    assert [r["reviewer"] for r in cases.case_records()] == ["rev2"]
    assert list(cases.review_history([hid])["ended_why"].fillna("in force")) == [
        "changed_since_review",
        "in force",
    ]


@pytest.mark.parametrize(
    ("y", "state"),
    [
        (30.0, "rejected"),  # the same trail: nothing changed
        (30.0004, "rejected"),  # 0.4 mm further: within the 1 mm tolerance
        (30.002, "pending"),  # 2 mm: beyond it
    ],
)
def test_changed_since_review_tolerance(cases, y, state):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "rejected", user="rev", reason="on a bus", evidence=ev)
    got, _ = run(cases, trail(y), "r2")
    h = hit(cases)
    assert (h["review_state"], h["changed_since_review"], got["changed_since_review"]) == (
        state,
        int(state == "pending"),
        int(state == "pending"),
    )
    assert (hid in cases.current_verdicts()) == (state != "pending")


def test_evidence_change_alone_sends_the_hit_back(cases):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "qualified", user="rev", evidence=ev)
    got, _ = run(cases, trail(30.0), "r2", evidence_edit=lambda e: e.assign(speed_kmh=e["speed_kmh"] + 1.0))
    assert (got["unchanged"], got["updated"], got["changed_since_review"]) == (0, 1, 1)
    changes = cases.changes_since_review([hid])[hid]["changed"]
    assert list(changes) == ["evidence"]  # the figures are the same, the rows are not
    assert cases.case_records() == []


def test_withdrawn_with_its_history(cases):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "qualified", user="rev", evidence=ev)
    got, _ = run(cases, trail(3000.0), "r2")  # the subject was elsewhere
    assert got["withdrawn"] == 1 and len(cases.hits()) == 0
    w = cases.frame("SELECT * FROM withdrawn_hits")
    assert (int(w["hit_id"].iloc[0]), w["review_state"].iloc[0]) == (hid, "qualified")
    hist = cases.review_history()
    assert (int(hist["hit_id"].iloc[0]), hist["ended_why"].iloc[0], hist["ended_run"].iloc[0]) == (
        hid,
        "withdrawn",
        "r2",
    )
    frozen = cases.frozen_evidence(hist["review_id"])
    assert len(frozen) == len(ev) > 0  # the rows the verdict was given on stay
    assert cases.case_records() == []


def test_evidence_frozen_at_review_survives_a_rematch_that_changes_it(cases):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    digest = hit(cases)["evidence_digest"]
    assert cases.frame("SELECT COUNT(*) FROM evidence").iat[0, 0] == 0  # rows are not stored per night
    cases.review(hid, "qualified", user="rev", evidence=ev)
    v = cases.review_history([hid]).iloc[0]
    before = cases.frozen_evidence([v["review_id"]])
    assert (v["evidence_digest"], int(v["evidence_rows"]), int(v["evidence_frozen"])) == (digest, len(ev), 1)
    _, ev2 = run(cases, trail(12.0), "r2")
    assert hit(cases)["evidence_digest"] != digest
    after = cases.frozen_evidence([v["review_id"]])
    pd.testing.assert_frame_equal(before, after)
    assert list(after["northing"].astype(float)) == pytest.approx([30.0] * len(ev))  # not 12 m
    assert evidence_digests(after, by=["review_id"])[(int(v["review_id"]),)][0] == digest


def test_review_refuses_evidence_other_than_the_matched(cases):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    with pytest.raises(InputError, match="not the evidence its figures were matched with"):
        cases.review(hid, "qualified", user="rev", evidence=ev.assign(distance_m=ev["distance_m"] + 0.5))
    assert hit(cases)["review_state"] == "pending" and len(cases.review_history()) == 0


def test_figures_changed_tolerances():
    base = {
        "min_distance_m": 10.0,
        "closest_time_ns": 10**18,
        "first_within_ns": 10**18,
        "last_within_ns": 10**18,
        "dwell_s": 60.0,
        "passes": 1,
        "n_fixes_within": 2,
        "between_fixes": 0,
        "confidence": "high",
    }
    assert figures_changed(base, dict(base)) == []
    assert figures_changed(base, {**base, "closest_time_ns": 10**18 + 999_999, "dwell_s": 60.0009}) == []
    assert figures_changed(base, {**base, "closest_time_ns": 10**18 + 1_000_001, "dwell_s": 60.002}) == [
        "closest_time_ns",
        "dwell_s",
    ]
    assert figures_changed(base, {**base, "passes": 2, "confidence": "medium", "min_distance_m": None}) == [
        "min_distance_m",
        "passes",
        "confidence",
    ]


def _old_file(path):
    """A case store as trailmon wrote it before verdicts were tied to figures (evidence rows in SQLite)."""
    mine = next(k for k, m in enumerate(MIGRATIONS) if "CREATE TABLE review_history" in m)
    con = sqlite3.connect(path)
    for m in MIGRATIONS[:mine]:
        con.executescript(m)
    con.execute(f"PRAGMA user_version = {mine}")
    con.execute(
        "INSERT INTO crimes (force, crime_ref, crime_version, offence, x_m, y_m, committed_from_ns, "
        "committed_to_ns, radius_m, content, needs_match) VALUES ('F', 'K1', 1, 'TFP', 0, 0, ?, ?, 100, '[]', 0)",
        (T0.value - 300 * 10**9, T0.value + 300 * 10**9),
    )
    for hid, (subject, state, reviewer) in enumerate([("S1", "qualified", "rev"), ("S2", "pending", None)], 1):
        con.execute(
            "INSERT INTO hits (hit_id, force, crime_ref, crime_version, subject_id, min_distance_m, "
            "closest_time_ns, first_within_ns, last_within_ns, dwell_s, passes, n_fixes_within, between_fixes, "
            "accuracy_m, confidence, coverage, flags, review_state, reviewer, reviewed_at, run_id) "
            "VALUES (?, 'F', 'K1', 1, ?, 30.0, ?, ?, ?, 60.0, 1, 2, 0, 5.0, 'high', 1.0, '', ?, ?, ?, 'r0')",
            (hid, subject, T0.value, T0.value - 30 * 10**9, T0.value + 30 * 10**9, state, reviewer,
             "2026-07-15T09:00:00.000Z" if reviewer else None),
        )
        for seq, dt in enumerate((-60, 60), 1):
            con.execute(
                "INSERT INTO evidence VALUES (?, ?, 'fix', 'A', ?, ?, 53.0, -1.1, ?, 30.0, 301.5, 0, 5.0, 18.0, "
                "90.0, 'gps', '')",
                (hid, f"A{seq}", seq, T0.value + dt * 10**9, 300.0 * (1 if dt > 0 else -1)),
            )
    con.commit()
    con.close()


def test_migration_keeps_old_evidence_readable_and_verdicts(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_file(path)
    with CaseStore(path) as cases:
        assert cases.schema_version == SCHEMA_VERSION
        hist = cases.review_history()
        assert list(zip(hist["hit_id"], hist["state"], hist["reviewer"], strict=True)) == [(1, "qualified", "rev")]
        v = hist.iloc[0]
        frozen = cases.frozen_evidence([v["review_id"]])
        assert list(frozen["label"]) == ["A1", "A2"] and int(v["evidence_frozen"]) == 1
        assert v["evidence_digest"] == evidence_digests(frozen, by=["review_id"])[(int(v["review_id"]),)][0]
        assert v["evidence_digest"] != EMPTY_EVIDENCE_DIGEST
        # the pending hit's rows stay where they were, readable until it is re-matched
        assert len(cases.frame("SELECT * FROM evidence WHERE hit_id = 2")) == 2
        assert cases.hits().set_index("hit_id").loc[2, "evidence_rows"] == 2
        from trailmon.report.case_evidence import hit_evidence

        shown = hit_evidence(cases, None, [1, 2])  # no trail store needed for either
        assert shown.status == {1: "frozen", 2: "stored"}
        assert list(shown.rows.groupby("hit_id").size()) == [2, 2]
        assert list(shown.rows["easting"].astype(float)) == [-300.0, 300.0, -300.0, 300.0]
        # the migrated verdict is in force on the figures it was given on: still exported
        assert [r["record_id"] for r in cases.case_records()] == ["hit:1"]
        assert cases.current_verdicts() == {1}
        cases.review(2, "rejected", user="rev", reason="a neighbour")  # the stored rows are frozen with it
        v2 = cases.review_history([2]).iloc[-1]
        assert int(v2["evidence_rows"]) == 2 and len(cases.frozen_evidence([v2["review_id"]])) == 2
    with CaseStore(path) as cases:  # opening again changes nothing
        assert len(cases.review_history()) == 2


def test_cohort_counts_a_changed_hit_as_pending(cases):
    from trailmon.report.cohort import _case_events

    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "qualified", user="rev", evidence=ev)
    span = (T - 3600, T + 3600)
    assert list(_case_events(cases, *span)["hits"]["review_state"]) == ["qualified"]
    run(cases, trail(10.0), "r2")
    assert list(_case_events(cases, *span)["hits"]["review_state"]) == ["pending"]


def test_erase_evidence_keeps_verdicts(cases):
    _, ev = run(cases, trail(30.0), "r1")
    hid = int(hit(cases)["hit_id"])
    cases.review(hid, "qualified", user="rev", evidence=ev)
    with cases.transaction() as c:
        assert cases.erase_evidence(c, T0.value) == {"review_evidence": 1, "evidence": 0}  # the row before T0
    v = cases.review_history([hid]).iloc[0]
    assert len(cases.frozen_evidence([v["review_id"]])) == len(ev) - 1
    assert hid in cases.current_verdicts()  # figures and fingerprint kept: the verdict still holds
