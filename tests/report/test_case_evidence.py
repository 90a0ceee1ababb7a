"""Evidence of stored hits: computed from the trail store as matched, refused when the store changed,
frozen at review (SPEC §4 evidence beside the database, §8 a verdict belongs to its evidence)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.cli.test_review_export import cli, late_fix_csv, root  # noqa: F401 (fixture)
from trailmon.errors import InputError
from trailmon.report.case_evidence import hit_evidence, review_hit, spec_evidence
from trailmon.store.cases import EVIDENCE_COLUMNS, CaseStore, evidence_digests
from trailmon.store.trails import TrailStore


def stores(root):  # noqa: F811
    return TrailStore(root / "store"), CaseStore(root / "store" / "cases.sqlite")


def test_computed_on_view_is_the_evidence_matched(root):  # noqa: F811
    ts, cases = stores(root)
    with cases:
        hits = cases.hits()
        ev = hit_evidence(cases, ts, hits["hit_id"])
        assert set(ev.status.values()) == {"computed"} and len(ev.status) == len(hits) == 2
        assert list(ev.rows.columns) == ["hit_id", *EVIDENCE_COLUMNS]
        n = ev.rows.groupby("hit_id").size()
        assert {int(k): int(v) for k, v in n.items()} == dict(
            zip(hits["hit_id"].astype(int), hits["evidence_rows"].astype(int), strict=True)
        )
        got = evidence_digests(ev.rows, by=["hit_id"])
        assert {k[0]: d for k, (d, _) in got.items()} == dict(
            zip(hits["hit_id"].astype(int), hits["evidence_digest"], strict=True)
        )
        assert not cases.frame("SELECT * FROM evidence").shape[0]  # nothing stored per night
        assert set(hit_evidence(cases, None, hits["hit_id"]).status.values()) == {"unavailable"}
    # the nightly job's evidence.csv holds the same rows
    day = sorted(p.name for p in (root / "out").iterdir() if p.is_dir())[-1]
    csv = pd.read_csv(root / "out" / day / "evidence.csv", comment="#")
    day_hits = hits[hits["report_day"] == day]
    assert len(csv) == int(day_hits["evidence_rows"].sum()) > 0
    spec = spec_evidence(ev.rows, hits)
    assert list(spec.columns) == list(csv.columns)
    assert set(spec["crime_ref"]) == {"K1", "K2"} and str(spec["time"].dtype) == "datetime64[ns, UTC]"


def test_review_refused_while_the_trail_store_changed_since_the_match(root, capsys, tmp_path):  # noqa: F811
    late = tmp_path / "late.csv"
    late.write_text(late_fix_csv())
    store = str(root / "store")
    assert cli(capsys, "ingest", "--store", store, str(late))[0] == 0  # by hand, before the next night
    ts, cases = stores(root)
    with cases:
        ids = dict(zip(cases.hits()["crime_ref"], cases.hits()["hit_id"].astype(int), strict=True))
        st = hit_evidence(cases, ts, ids.values()).status
        assert (st[ids["K1"]], st[ids["K2"]]) == ("changed", "computed")
        with pytest.raises(InputError, match="trail store changed since this hit was matched"):
            review_hit(cases, ts, ids["K1"], "qualified", user="rev")
        assert len(cases.review_history()) == 0
    code, _, err = cli(capsys, "review", "--store", store, "qualify", str(ids["K1"]), "--user", "rev")
    assert code == 1 and "the next nightly run re-matches it" in err


def test_frozen_at_review(root):  # noqa: F811
    ts, cases = stores(root)
    with cases:
        hid = int(cases.hits()["hit_id"].iloc[0])
        before = hit_evidence(cases, ts, [hid]).rows
        review_hit(cases, ts, hid, "rejected", user="rev", reason="on a bus")
        after = hit_evidence(cases, ts, [hid])
        assert after.status == {hid: "frozen"}
        cols = ["hit_id", "label", "kind", "seq", "time_ns", "easting", "northing", "distance_m"]
        pd.testing.assert_frame_equal(
            before[cols].astype(object).reset_index(drop=True),
            after.rows[cols].astype(object).reset_index(drop=True),
            check_dtype=False,
        )
        v = cases.review_history([hid]).iloc[0]
        assert int(v["evidence_frozen"]) == 1 and int(v["evidence_rows"]) == len(before)
        # a frozen verdict needs no trail store to be shown
        assert hit_evidence(cases, None, [hid]).status == {hid: "frozen"}


@pytest.mark.parametrize(("delta_m", "shown"), [(0.0005, True), (0.5, False)])
def test_export_and_pack_refuse_a_verdict_on_other_figures(root, delta_m, shown):  # noqa: F811
    """A qualified hit whose stored figures differ from its verdict's (a file edited by hand, or written
    by another tool) is neither exported nor shown in a supervision pack; within 1 mm it is."""
    from trailmon.report.subject_pack import subject_pack

    ts, cases = stores(root)
    with cases:
        hid = int(cases.hits().set_index("crime_ref").loc["K1", "hit_id"])
        review_hit(cases, ts, hid, "qualified", user="rev")
        with cases.transaction() as c:
            c.execute("UPDATE hits SET min_distance_m = min_distance_m + ? WHERE hit_id = ?", (delta_m, hid))
        assert (hid in cases.current_verdicts()) is shown
        hits = [r["record_id"] for r in cases.case_records() if r["event_type"] == "proximity_hit"]
        assert hits == ([f"hit:{hid}"] if shown else [])
        pack = subject_pack(ts, cases, "S1", pd.Timestamp("2026-07-13T00:00Z"), pd.Timestamp("2026-07-15T00:00Z"))
        assert (list(pack.hits["hit_id"]) == [hid] if shown else len(pack.hits) == 0)
        assert (len(pack.evidence) > 0) is shown


def test_computed_for_a_late_crime_reads_its_own_days_not_the_month_between(tmp_path, monkeypatch):
    """A night's hits on a crime of its day and one reported 20 days late: their evidence is read as
    the matching read it, group by group (SPEC §8 memory grows with what changed), not as one read of
    every day between the earliest and the latest window (a month-old store: all its fixes at once)."""
    from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv

    drop(tmp_path / "inbox", [("subjects", "s.csv", SUBJECTS)]
         + [("trails", f"d{d}.csv", trail_csv(d)) for d in range(1, 22)]
         + [("crimes", "c.csv", crimes_csv([daily_crime(21), daily_crime(1, "LATE")]))])
    nightly(tmp_path, 21)
    ts, cases = stores(tmp_path)
    spans = []
    read = TrailStore.read

    def spy(self, t_from=None, t_to=None, *a, **kw):
        if self._pinned is None:  # the caller's read (each opens a snapshot and reads again in it)
            spans.append((pd.Timestamp(t_from), pd.Timestamp(t_to)))
        return read(self, t_from, t_to, *a, **kw)

    monkeypatch.setattr(TrailStore, "read", spy)
    with cases:
        hits = cases.hits()
        ev = hit_evidence(cases, ts, hits["hit_id"])
    assert sorted(hits["crime_ref"]) == ["K21", "LATE"]
    assert set(ev.status.values()) == {"computed"} and len(ev.rows) == int(hits["evidence_rows"].sum())
    assert spans and max(t2 - t1 for t1, t2 in spans) <= pd.Timedelta(days=2)


def _body(path) -> bytes:
    return b"".join(line for line in path.read_bytes().splitlines(keepends=True) if not line.startswith(b"#"))


def test_nightly_evidence_csv_is_the_evidence_computed_from_the_store(tmp_path):
    """The nightly job writes its day's evidence.csv from the rows it has just matched; the same day's
    reports computed again from the trail store (as the web app and review do) give the same bytes."""
    from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv
    from trailmon.nightly import day_reports
    from trailmon.report.writers import write_table

    drop(tmp_path / "inbox", [("subjects", "s.csv", SUBJECTS)]
         + [("trails", f"d{d}.csv", trail_csv(d)) for d in range(1, 6)]
         + [("crimes", "c.csv", crimes_csv([daily_crime(5), daily_crime(5, "NEAR", de=40.0),
                                            daily_crime(2, "LATE")]))])
    summary = nightly(tmp_path, 5)
    ts, cases = stores(tmp_path)
    with cases:
        again = day_reports(cases, summary["day"], ts)
    assert len(again["evidence"]) > 0 and set(again["evidence"]["crime_ref"]) == {"K5", "NEAR", "LATE"}
    write_table(again["evidence"], tmp_path / "again.csv", {"command": "test"})
    assert _body(tmp_path / "again.csv") == _body(tmp_path / "out" / summary["day"] / "evidence.csv")
