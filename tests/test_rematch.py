"""Case records that stay true night after night (SPEC §3 "Monitoring windows", §8): one regression test
per defect, each failing on the engine before monitoring windows, the change journal and the re-match
scope were made exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from trailmon.cli import main
from trailmon.io.subjects import read_subjects
from trailmon.io.trails import read_trails
from trailmon.nightly import run_nightly
from trailmon.store.cases import CaseStore
from trailmon.store.trails import BRACKET_S, TrailStore, limit_gaps, window_changes

E0, N0 = 430000.0, 433000.0
DAY1 = pd.Timestamp("2026-07-13T00:00:00Z")


def at(day: int, hh: int = 0, mm: int = 0, ss: int = 0) -> pd.Timestamp:
    return DAY1 + pd.Timedelta(days=day - 1, hours=hh, minutes=mm, seconds=ss)


def iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def ll(e: float, n: float) -> tuple[float, float]:
    lon, lat = convert_lonlat(np.array([float(e)]), np.array([float(n)]))
    return float(lat[0]), float(lon[0])


def trails_csv(fixes: list[tuple[str, pd.Timestamp, float, float]]) -> str:
    rows = []
    for sid, t, e, n in fixes:
        lat, lon = ll(e, n)
        rows.append(f"{sid},{iso(t)},{lat:.10f},{lon:.10f},10,gps")
    return "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n"


def walk(sid: str, t0: pd.Timestamp, minutes: int, e: float, n: float, de: float = 0.0) -> list:
    """A fix a minute from ``t0``, moving ``de`` metres east per minute."""
    return [(sid, t0 + pd.Timedelta(minutes=k), e + de * k, n) for k in range(minutes + 1)]


def subjects_csv(rows: list[tuple[str, str, str]], extra: str = "") -> str:
    return "subject_id,cohort,monitoring_start,monitoring_end,offender_manager\n" + "".join(
        f"{s},fixed,{a},{b},{extra}\n" for s, a, b in rows
    )


def crimes_csv(rows: list[tuple[str, float, float, pd.Timestamp, pd.Timestamp]]) -> str:
    out = "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
    for ref, e, n, t1, t2 in rows:
        out += f"{ref},TFP,{e},{n},{iso(t1)},{iso(t2)},100\n"
    return out


def appointments_csv(rows: list[tuple[str, str, pd.Timestamp, pd.Timestamp]]) -> str:
    lat, lon = ll(E0, N0)
    return "appointment_id,subject_id,start,end,lat,lon,radius_m\n" + "".join(
        f"{a},{s},{iso(t1)},{iso(t2)},{lat:.10f},{lon:.10f},50\n" for a, s, t1, t2 in rows
    )


def zones_csv(rows: list[tuple[str, str, str, pd.Timestamp, pd.Timestamp]]) -> str:
    lat, lon = ll(E0, N0)
    return "zone_id,subject_id,kind,active_from,active_to,lat,lon,radius_m\n" + "".join(
        f"{z},{s},{k},{iso(a)},{iso(b)},{lat:.10f},{lon:.10f},200\n" for z, s, k, a, b in rows
    )


def drop(root, kind: str, name: str, text: str) -> None:
    (root / "inbox" / kind).mkdir(parents=True, exist_ok=True)
    (root / "inbox" / kind / name).write_text(text)


def night(root, day: int) -> dict:
    """The nightly run as of ``day`` 02:00Z (it judges what ended by then)."""
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    return run_nightly(root / "store", root / "inbox", root / "out", as_of=iso(at(day, 2)))


def table(root, sql: str) -> pd.DataFrame:
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        return cases.frame(sql)


def snapshot(root) -> dict:
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        return cases.snapshot()


# -- 1. open starts keep their end --------------------------------------------------------------------------
def test_open_start_keeps_its_end_through_ingest(tmp_path):
    p = tmp_path / "subjects.csv"
    p.write_text(subjects_csv([("O", "", iso(at(2))), ("C", "", "")]))
    store = TrailStore(tmp_path / "store", create=True)
    store.ingest(subjects=[read_subjects(p)])
    w = store.windows()
    assert w["O"] == [(-np.inf, at(2).value / 1e9)]
    assert "C" not in w  # neither start nor end: window unknown, attributes only
    subj = store.subjects().set_index("subject_id")
    assert pd.isna(subj.loc["O", "monitoring_start"]) and subj.loc["O", "monitoring_end"] == at(2)


# -- 2. a known subject is known without fixes in the span read -------------------------------------------
def test_known_subject_without_fixes_is_not_monitored_and_zone_silent(tmp_path):
    root = tmp_path
    drop(root, "subjects", "s.csv", subjects_csv([("K", iso(at(1)), iso(at(2))), ("O", "", iso(at(2)))]))
    drop(root, "trails", "t.csv", trails_csv(walk("K", at(1, 12), 60, E0, N0) + walk("O", at(1, 12), 60, E0, N0)))
    drop(root, "appointments", "a.csv",  # over a week after the last fix: no bracketing fix is read either
         appointments_csv([("A1", "K", at(12, 10), at(12, 11)), ("A2", "O", at(12, 10), at(12, 11))]))
    drop(root, "zones", "z.csv", zones_csv([("Z", "K", "inclusion", at(1), at(12))]))
    night(root, 13)
    att = table(root, "SELECT appointment_id, status, flags FROM attendance ORDER BY appointment_id")
    assert att["status"].tolist() == ["not_monitored", "not_monitored"], att
    z = table(root, "SELECT event, start_ns, end_ns FROM zone_events")
    assert (z["end_ns"] <= at(2).value).all(), z  # nothing after the tag came off: no no_data every night
    store = TrailStore(root / "store")
    tr = store.read_span(at(12), at(12, 12))
    assert "K" in set(tr.subject_ids.astype(str)) and tr.window_known.all()


# -- 3. a subjects file re-matches only the changed window time --------------------------------------------
def _base(root):
    drop(root, "subjects", "s1.csv", subjects_csv([("S", iso(at(1)), "")], "OM1"))
    fixes = walk("S", at(1, 12), 60, E0 - 60, N0 + 20, 2.0) + walk("S", at(5, 12), 60, E0 - 60, N0 + 20, 2.0)
    drop(root, "trails", "t.csv", trails_csv(fixes))
    drop(root, "crimes", "c.csv", crimes_csv([("C1", E0, N0, at(1, 12, 25), at(1, 12, 35)),
                                              ("C5", E0, N0, at(5, 12, 25), at(5, 12, 35))]))
    night(root, 6)


def test_identical_subjects_resend_rematches_nothing(tmp_path):
    _base(tmp_path)
    drop(tmp_path, "subjects", "s2.csv", subjects_csv([("S", iso(at(1)), "")], "OM2"))  # new sha, same windows
    s = night(tmp_path, 7)
    assert s["proximity"]["crimes"] == 0 and s["records"]["trail_spans"] == 0


def test_changed_window_rematches_only_the_changed_time(tmp_path):
    _base(tmp_path)
    assert len(table(tmp_path, "SELECT * FROM hits")) == 2
    drop(tmp_path, "subjects", "s2.csv", subjects_csv([("S", iso(at(1)), iso(at(3)))], "OM1"))
    s = night(tmp_path, 7)
    assert s["proximity"]["crimes"] == 1  # C5 only: C1's window was monitored before and after
    assert table(tmp_path, "SELECT crime_ref FROM hits")["crime_ref"].tolist() == ["C1"]


def test_window_changes_is_the_symmetric_difference():
    def frame(rows):
        return pd.DataFrame({"subject_id": [r[0] for r in rows],
                             "monitoring_start": pd.to_datetime([r[1] for r in rows], utc=True),
                             "monitoring_end": pd.to_datetime([r[2] for r in rows], utc=True)})

    a = frame([("S", at(1), None), ("T", at(1), at(3))])
    assert window_changes(a, a) == []
    b = frame([("S", at(1), at(4)), ("T", at(1), at(3))])
    assert window_changes(a, b) == [(at(4).value, 2**62)]
    c = frame([("S", at(1), None), ("T", at(2), at(3)), ("U", None, at(2))])
    assert window_changes(a, c) == [(-(2**62), 2**62)]  # U becomes known: everything
    assert window_changes(a, c[:2]) == [(at(1).value, at(2).value)]


# -- 4. `trailmon ingest` and hand-loaded subjects reach the case records ----------------------------------
def test_hand_ingest_reaches_the_case_records(tmp_path):
    root = tmp_path
    drop(root, "subjects", "s.csv", subjects_csv([("S", iso(at(1)), "")]))
    drop(root, "crimes", "c.csv", crimes_csv([("C1", E0, N0, at(1, 12, 25), at(1, 12, 35))]))
    night(root, 2)
    assert len(table(root, "SELECT * FROM hits")) == 0
    f = root / "late.csv"
    f.write_text(trails_csv(walk("S", at(1, 12), 60, E0 - 60, N0 + 20, 2.0)))
    assert main(["ingest", "--store", str(root / "store"), str(f)]) == 0
    night(root, 3)
    assert table(root, "SELECT crime_ref, subject_id FROM hits").values.tolist() == [["C1", "S"]]
    # a subjects file loaded by hand: the tag came off before the crime
    g = root / "s2.csv"
    g.write_text(subjects_csv([("S", iso(at(1)), iso(at(1, 6)))]))
    assert main(["ingest", "--store", str(root / "store"), "--subjects", str(g)]) == 0
    s = night(root, 4)
    assert s["proximity"]["crimes"] == 1 and len(table(root, "SELECT * FROM hits")) == 0
    assert night(root, 5)["records"]["journal_entries"] == 0  # consumed once


# -- 5. a late fix splitting a stored gap --------------------------------------------------------------------
def test_late_fix_in_a_stored_gap_rematches_crimes_earlier_in_the_gap(tmp_path):
    nightly_root, catchup_root = tmp_path / "n", tmp_path / "c"
    first = trails_csv([("G", at(1, 10), E0 + 200, N0), ("G", at(1, 20), E0 + 200, N0)])
    late = trails_csv([("G", at(1, 19), E0 + 200, N0)])
    for root in (nightly_root, catchup_root):
        drop(root, "subjects", "s.csv", subjects_csv([("G", iso(at(1)), "")]))
        drop(root, "trails", "t1.csv", first)
        drop(root, "crimes", "c.csv", crimes_csv([("C", E0, N0, at(1, 11), at(1, 11, 10))]))
    night(nightly_root, 2)
    g = table(nightly_root, "SELECT gap_start_ns, gap_end_ns FROM gaps")
    assert g.values.tolist() == [[at(1, 10).value, at(1, 20).value]]
    drop(nightly_root, "trails", "t2.csv", late)
    night(nightly_root, 3)
    drop(catchup_root, "trails", "t2.csv", late)
    night(catchup_root, 3)
    g = table(nightly_root, "SELECT gap_start_ns, gap_end_ns FROM gaps")
    assert g.values.tolist() == [[at(1, 10).value, at(1, 19).value]]
    assert snapshot(nightly_root) == snapshot(catchup_root)


def test_resent_fixes_rematch_nothing(tmp_path):
    text = trails_csv(walk("S", at(1, 12), 60, E0 - 60, N0 + 20, 2.0))
    drop(tmp_path, "trails", "t1.csv", text)
    drop(tmp_path, "crimes", "c.csv", crimes_csv([("C1", E0, N0, at(1, 12, 25), at(1, 12, 35))]))
    night(tmp_path, 2)
    drop(tmp_path, "trails", "t2.csv", text.replace("gps", "GPS"))  # another file, the same fixes
    s = night(tmp_path, 3)
    assert s["records"]["trail_spans"] == 0 and s["proximity"]["crimes"] == 0


# -- 7. zone events are not cut at period boundaries ---------------------------------------------------------
@pytest.mark.parametrize("split", [False, True])
def test_visit_across_midnight_is_one_zone_event(tmp_path, split):
    root = tmp_path
    drop(root, "subjects", "s.csv", subjects_csv([("S", iso(at(1)), "")]))
    drop(root, "zones", "z.csv", zones_csv([("Z", "S", "exclusion", at(1), at(4))]))
    before = walk("S", at(1, 23), 60, E0, N0)
    after = walk("S", at(2), 60, E0, N0)[1:]
    if split:  # the first night sees the evening, the second the morning
        drop(root, "trails", "a.csv", trails_csv(before))
        night(root, 2)
        drop(root, "trails", "b.csv", trails_csv(after))
        night(root, 3)
    else:
        drop(root, "trails", "a.csv", trails_csv(before + after))
        night(root, 3)
    z = table(root, "SELECT event, start_ns, end_ns FROM zone_events WHERE event = 'visit'")
    assert z.values.tolist() == [["visit", at(1, 23).value, at(2, 1).value]]


# -- 9. one bracketing rule for gaps near scene in both engines ----------------------------------------------
def test_gap_bracketing_rule_is_read_independent(tmp_path):
    from trailmon.match.proximity import proximity

    root = tmp_path
    fixes = [("L", at(1, 10), E0 + 200, N0), ("L", at(11, 10), E0 + 200, N0),  # 10 days apart: beyond the limit
             ("M", at(1, 10), E0 + 300, N0), ("M", at(4, 10), E0 + 300, N0)]  # 3 days: within
    f = root / "t.csv"
    f.write_text(trails_csv(fixes))
    store = TrailStore(root / "store", create=True)
    store.ingest([read_trails(f, crs=store.crs)])
    crimes = pd.DataFrame({"crime_ref": ["C", "D"], "x_m": [E0, E0], "y_m": [N0, N0],
                           "committed_from": [at(2, 12), at(9, 12)], "committed_to": [at(2, 13), at(9, 13)]})
    whole = proximity(store.read(), crimes, crs=store.crs)  # what the Dask halo sees: every stored fix
    got = {}
    for ref in ("C", "D"):
        q = crimes[crimes.crime_ref == ref]
        r = proximity(store.read_span(q.committed_from.min(), q.committed_to.max(), halo_s=660), q, crs=store.crs)
        got[ref] = sorted(limit_gaps(r.gaps, q)["subject_id"])
    want = limit_gaps(whole.gaps, crimes)
    assert got == {"C": ["M"], "D": []}
    assert sorted(zip(want.crime_ref, want.subject_id, strict=True)) == [("C", "M")]
    assert BRACKET_S == 7 * 86_400
    # unlimited, the whole store would list L for both crimes: the rule is what makes the engines agree
    assert {("C", "L"), ("D", "L")} <= set(zip(whole.gaps.crime_ref, whole.gaps.subject_id, strict=True))


# -- purge: time a purge erased is never re-matched ----------------------------------------------------------
def test_a_change_reaching_back_past_a_purge_rematches_nothing_there(tmp_path):
    root = tmp_path
    drop(root, "trails", "t.csv", trails_csv(walk("U", at(1, 12), 60, E0 - 60, N0 + 20, 2.0)))
    drop(root, "crimes", "c.csv", crimes_csv([("C1", E0, N0, at(1, 12, 25), at(1, 12, 35))]))
    night(root, 2)
    before = table(root, "SELECT crime_ref, subject_id, min_distance_m, flags FROM hits")
    assert before["flags"].tolist() == ["monitoring_window_unknown"]
    assert main(["purge", "--store", str(root / "store"), "--older-than", "1d", "--user", "dpo"]) == 0
    # U becomes known: its whole time changes (the flag), reaching back into the erased days
    g = root / "s.csv"
    g.write_text(subjects_csv([("U", iso(at(1)), "")]))
    assert main(["ingest", "--store", str(root / "store"), "--subjects", str(g)]) == 0
    s = night(root, 3)
    assert s["proximity"]["crimes"] == 0  # C1 lies in erased time: its result stands
    pd.testing.assert_frame_equal(table(root, "SELECT crime_ref, subject_id, min_distance_m, flags FROM hits"),
                                  before)
