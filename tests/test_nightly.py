"""The nightly job: night by night equals one catch-up run, idempotent, resumable, locked, audited."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import held_lock
from trailmon.cli import main
from trailmon.errors import InputError, StoreLockedError
from trailmon.nightly import run_nightly, zone_periods
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore

HAVE_ZONES = importlib.util.find_spec("trailmon.match.zones") is not None
needs_zones = pytest.mark.skipif(not HAVE_ZONES, reason="trailmon.match.zones is not in this checkout yet")

E0, N0 = 430000.0, 433000.0
VENUE = (E0 + 2000.0, N0 + 2000.0)
DAY1 = pd.Timestamp("2026-07-13T00:00:00Z")
NIGHTS = 7


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ll(e, n):
    lon, lat = convert_lonlat(np.atleast_1d(np.asarray(e, float)), np.atleast_1d(np.asarray(n, float)))
    return np.asarray(lat), np.asarray(lon)


def _day(d: int) -> pd.Timestamp:
    return DAY1 + pd.Timedelta(days=d - 1)


def trail_csv(d: int) -> str:
    """Day d, 12:00-14:00 every minute: S1 walks east past (E0, N0 + 30) at 2 m/s, reaching E0 at 13:00;
    S2 stays at the venue; S3 stays 3 km away."""
    t = _day(d) + pd.Timedelta(hours=12) + pd.to_timedelta(np.arange(121) * 60, unit="s")
    rel = (t - (_day(d) + pd.Timedelta(hours=13))).total_seconds().to_numpy()
    rows = []
    for sid, e, n in (
        ("S1", E0 + 2.0 * rel, np.full(121, N0 + 30.0)),
        ("S2", np.full(121, VENUE[0]), np.full(121, VENUE[1])),
        ("S3", np.full(121, E0 - 3000.0), np.full(121, N0 - 3000.0)),
    ):
        lat, lon = _ll(e, n)
        rows += [
            f"{sid},{_iso(tk)},{la:.10f},{lo:.10f},10,gps" for tk, la, lo in zip(t, lat, lon, strict=True)
        ]
    return "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n"


def crimes_csv(rows: list[tuple]) -> str:
    out = "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
    for ref, off, e, n, t1, t2 in rows:
        out += f"{ref},{off},{e},{n},{_iso(t1)},{_iso(t2)},100\n"
    return out


def daily_crime(d: int, ref: str | None = None, de: float = 0.0) -> tuple:
    noon = _day(d) + pd.Timedelta(hours=13)
    return (
        ref or f"K{d}",
        "TFP",
        E0 + de,
        N0,
        noon - pd.Timedelta(minutes=5),
        noon + pd.Timedelta(minutes=5),
    )


SUBJECTS = (
    "subject_id,cohort,monitoring_start,monitoring_end,crn,pnc_id\n"
    "S1,fixed,2026-07-01T00:00:00Z,2027-07-01T00:00:00Z,A123456,2012/0123456Y\n"
    "S2,flex,2026-07-01T00:00:00Z,,,\n"
    "S3,free,2026-07-01T00:00:00Z,,,\n"
)


def appointments_csv() -> str:
    lat, lon = _ll(*VENUE)
    rows = []
    for k, d in enumerate((2, 4, 6), start=1):
        s = _day(d) + pd.Timedelta(hours=12, minutes=30)
        rows.append(f"A{k},S2,{_iso(s)},{_iso(s + pd.Timedelta(hours=1))},{lat[0]:.10f},{lon[0]:.10f},50")
    return "appointment_id,subject_id,start,end,lat,lon,radius_m\n" + "\n".join(rows) + "\n"


def zones_csv() -> str:
    lat, lon = _ll(E0, N0)
    return (
        "zone_id,subject_id,kind,active_from,active_to,lat,lon,radius_m\n"
        f"Z1,S1,exclusion,{_iso(_day(1))},{_iso(_day(8))},{lat[0]:.10f},{lon[0]:.10f},200\n"
    )


CRIME_MAPPING = (
    "Cheshire,TFP,Theft from the person,CHS20260714,0000001,20260714125500,20260714130500,"
    f"{E0:.0f},{N0:.0f},,,OSGB36,taken from a bag\n"
)


def police_uk() -> str:
    lat, lon = _ll(*VENUE)
    return (
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
        "Last outcome category,Context\n"
        f"pu1,2026-07,West Yorkshire Police,West Yorkshire Police,{lon[0]:.6f},{lat[0]:.6f},"
        "On or near X,E01,L,"
        "Robbery,Under investigation,\n"
    )


def week() -> dict[int, list[tuple[str, str, str]]]:
    """Files arriving each night (kind, name, text); night n as of day n + 1, 02:00Z.

    Late cases: day 4's trail file arrives on night 6 (after day 4's crime); crime K1b, committed
    on day 1, is reported on night 3; K2 is re-sent on night 5 moved 20 m (a new version) and
    re-sent unchanged on night 6 (no new version); an unreadable trail file arrives on night 3.
    """
    nights: dict[int, list[tuple[str, str, str]]] = {n: [] for n in range(1, NIGHTS + 1)}
    nights[1] += [
        ("subjects", "subjects.csv", SUBJECTS),
        ("appointments", "appointments.csv", appointments_csv()),
    ]
    if HAVE_ZONES:
        nights[1].append(("zones", "zones.csv", zones_csv()))
    for d in range(1, NIGHTS + 1):
        if d != 4:
            nights[d].append(("trails", f"day{d}.csv", trail_csv(d)))
        rows = [daily_crime(d)]
        if d == 3:
            rows.append(daily_crime(1, "K1b"))
        if d == 5:
            rows.append(daily_crime(2, "K2", de=20.0))
        if d == 6:
            rows.append(daily_crime(2, "K2", de=20.0))
        nights[d].append(("crimes", f"crimes-day{d}.csv", crimes_csv(rows)))
    nights[6].append(("trails", "day4-late.csv", trail_csv(4)))
    nights[2].append(("crimes", "cm-day2.csv", CRIME_MAPPING))
    nights[2].append(("crimes", "police-uk-2026-07.csv", police_uk()))
    nights[3].append(("trails", "broken.csv", "foo,bar\n1,2\n"))
    return nights


def as_of(n: int) -> str:
    return _iso(_day(n + 1) + pd.Timedelta(hours=2))


def drop(inbox, files) -> None:
    for kind, name, text in files:
        (inbox / kind).mkdir(parents=True, exist_ok=True)
        (inbox / kind / name).write_text(text)


def nightly(root, n, **kw):
    return run_nightly(root / "store", root / "inbox", root / "out", as_of=as_of(n), **kw)


def snapshot(root) -> dict:
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        return cases.snapshot()


@pytest.fixture(scope="module")
def week_runs(tmp_path_factory):
    """The week processed night by night, and as one catch-up run."""
    nightly_root = tmp_path_factory.mktemp("nightly")
    summaries = []
    for n, files in week().items():
        drop(nightly_root / "inbox", files)
        summaries.append(nightly(nightly_root, n))
    catchup_root = tmp_path_factory.mktemp("catchup")
    for files in week().values():
        drop(catchup_root / "inbox", files)
    catchup = nightly(catchup_root, NIGHTS)
    return nightly_root, summaries, catchup_root, catchup


def test_night_by_night_equals_catch_up(week_runs):
    nightly_root, summaries, catchup_root, _ = week_runs
    a, b = snapshot(nightly_root), snapshot(catchup_root)
    for table in a:
        assert a[table] == b[table], table
    assert len(a["hits"]) > 0 and len(a["attendance"]) == 3


def test_week_results(week_runs):
    root, summaries, _, catchup = week_runs
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        hits = cases.hits()
        crimes = cases.frame(
            "SELECT force, crime_ref, crime_version, x_m FROM crimes ORDER BY crime_ref, crime_version"
        )
        att = cases.frame("SELECT * FROM attendance ORDER BY appointment_id")
        runs = cases.runs()
    s1 = hits[hits.subject_id == "S1"]
    # every daily crime, the late-reported K1b, the crime-mapping crime and both versions of K2 are S1 hits
    assert set(zip(s1.crime_ref, s1.crime_version, strict=True)) >= {
        *[(f"K{d}", 1) for d in range(1, NIGHTS + 1)],
        ("K1b", 1),
        ("K2", 2),
        ("CHS/0000001", 1),
    }
    assert s1["min_distance_m"].astype(float).min() == pytest.approx(30.0, abs=1e-3)
    # K4 was matched on night 4 without trail data, and re-matched when day 4's trail arrived on night 6
    k4 = s1[s1.crime_ref == "K4"].iloc[0]
    assert k4["report_day"] == pd.Timestamp(as_of(6)).strftime("%Y-%m-%d")
    # the re-send moved 20 m is version 2; the identical re-send on night 6 made no version 3
    k2 = crimes[crimes.crime_ref == "K2"]
    assert k2["crime_version"].tolist() == [1, 2] and float(k2["x_m"].iloc[1]) == pytest.approx(E0 + 20.0)
    assert summaries[5]["records"]["crime_versions_new"] == 1  # K6 only
    # the police.uk month window catches S2 at the venue
    assert ((hits.crime_ref == "pu1") & (hits.subject_id == "S2")).any()
    assert att["status"].tolist() == ["attended"] * 3
    assert (runs["status"] == "done").all() and len(runs) == NIGHTS
    assert set(runs["trigger"]) == {"auto"} and runs["engine_version"].str.startswith("trailmon").all()
    # catch-up: one run
    assert catchup["files"]["new"] == sum(len(f) for f in week().values())


def test_files_moved_and_quarantined(week_runs):
    root, summaries, _, _ = week_runs
    inbox = root / "inbox"
    left = [
        p for k in ("trails", "crimes", "subjects", "appointments", "zones") for p in (inbox / k).glob("*")
    ]
    assert left == []
    assert (inbox / "processed" / "trails" / "day1.csv").exists()
    assert (inbox / "processed" / "crimes" / "cm-day2.csv").exists()
    bad = inbox / "quarantine" / "trails" / "broken.csv"
    assert bad.exists()
    assert "InputError" in (inbox / "quarantine" / "trails" / "broken.csv.reason.txt").read_text()
    assert summaries[2]["files"]["quarantined"][0]["file"] == str(bad)


def test_day_reports(week_runs):
    root, summaries, _, _ = week_runs
    day = root / "out" / "2026-07-14"
    for name in ("hits", "evidence", "gaps", "attendance", "zones"):
        text = (day / f"{name}.csv").read_text()
        assert text.startswith("# marking: OFFICIAL-SENSITIVE")
    hits = pd.read_csv(day / "hits.csv", comment="#")
    assert "K1" in set(hits["crime_ref"]) and list(hits.columns)[:3] == [
        "crime_ref",
        "crime_version",
        "subject_id",
    ]
    ev = pd.read_csv(day / "evidence.csv", comment="#")
    assert len(ev) and set(ev["crime_ref"]) <= set(hits["crime_ref"])
    summary = json.loads((day / "summary.json").read_text())
    assert summary["as_of"] == "2026-07-14T02:00:00.000Z" and summary["rows"]["hits"] == len(hits)
    assert oct(day.stat().st_mode & 0o777) == "0o700"


def test_second_run_changes_no_case_record(week_runs, tmp_path):
    root = tmp_path / "again"
    shutil.copytree(week_runs[0], root)
    before = snapshot(root)
    s = nightly(root, NIGHTS)
    assert s["files"]["new"] == 0 and s["proximity"]["crimes"] == 0
    assert snapshot(root) == before
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        assert len(cases.runs()) == NIGHTS + 1


def test_every_consultation_audited_and_chain_verifies(week_runs):
    root = week_runs[0]
    path = TrailStore(root / "store").audit_path
    entries = audit.entries(path)
    assert audit.verify(path) == len(entries)
    assert {e["user"] for e in entries} == {"trailmon-nightly"}
    assert {e["purpose"] for e in entries} == {"nightly matching run"}
    actions = {e["action"] for e in entries}
    assert {"proximity", "attendance", "nightly"} <= actions


def test_tampered_audit_line_detected(week_runs, tmp_path, capsys):
    root = tmp_path / "tamper"
    shutil.copytree(week_runs[0], root)
    path = root / "store" / "audit.jsonl"
    lines = path.read_text().splitlines()
    e = json.loads(lines[1])
    e["user"] = "someone-else"
    lines[1] = json.dumps(e, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    assert main(["audit", "--store", str(root / "store"), "--verify"]) == 5
    assert "line 2" in capsys.readouterr().err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Nights 1 and 2's files processed by one uninterrupted run."""
    ref = tmp_path_factory.mktemp("uninterrupted")
    drop(ref / "inbox", week()[1] + week()[2])
    nightly(ref, 2)
    return ref


class _Killed(BaseException):
    """Stands in for the process dying at a step (no except clause of the job catches it)."""


@pytest.mark.parametrize("step", ["read", "ingest", "records", "proximity", "attendance", "zones", "reports"])
def test_killed_run_then_rerun_equals_uninterrupted(step, tmp_path, uninterrupted):
    files = week()[1] + week()[2]
    ref = uninterrupted
    root = tmp_path / "killed"
    drop(root / "inbox", files)

    def die(at):
        if at == step:
            raise _Killed(at)

    with pytest.raises(_Killed):
        nightly(root, 2, _hook=die)
    s = nightly(root, 2)
    assert snapshot(root) == snapshot(ref)
    assert sorted(p.name for p in (root / "inbox" / "processed" / "crimes").iterdir()) == sorted(
        p.name for p in (ref / "inbox" / "processed" / "crimes").iterdir()
    )
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        runs = cases.runs()
    assert runs["status"].tolist() == ["failed", "done"]
    assert "interrupted" in runs["error"].iloc[0]
    assert s["status"] == "done"


def test_process_killed_by_exit_then_rerun(tmp_path, uninterrupted):
    """A real process death (os._exit) after the proximity commit, before reports and moves."""
    files = week()[1] + week()[2]
    ref = uninterrupted
    root = tmp_path / "killed"
    drop(root / "inbox", files)
    code = textwrap.dedent(f"""
        import os
        from trailmon.nightly import run_nightly
        def hook(step):
            if step == "proximity":
                os._exit(17)
        run_nightly({str(root / "store")!r}, {str(root / "inbox")!r}, {str(root / "out")!r},
                    as_of={as_of(2)!r},
                    _hook=hook)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr
    assert list((root / "inbox" / "crimes").iterdir())  # nothing moved yet
    nightly(root, 2)
    assert snapshot(root) == snapshot(ref)


def test_resent_crime_new_version_is_matched(tmp_path):
    drop(
        tmp_path / "inbox",
        [("trails", "d1.csv", trail_csv(1)), ("crimes", "c1.csv", crimes_csv([daily_crime(1)]))],
    )
    nightly(tmp_path, 1)
    drop(tmp_path / "inbox", [("crimes", "c2.csv", crimes_csv([daily_crime(1, de=10.0)]))])
    s = nightly(tmp_path, 2)
    assert s["records"]["crime_versions_new"] == 1 and s["proximity"]["crimes"] == 1
    drop(
        tmp_path / "inbox", [("crimes", "c3.csv", crimes_csv([daily_crime(1, de=10.0)]))]
    )  # identical re-send
    s = nightly(tmp_path, 3)
    assert s["records"]["crime_versions_new"] == 0 and s["proximity"]["crimes"] == 0
    with CaseStore(tmp_path / "store" / "cases.sqlite") as cases:
        hits = cases.hits()
    assert hits[["crime_ref", "crime_version"]].values.tolist() == [["K1", 1], ["K1", 2]]
    d = hits["min_distance_m"].astype(float).tolist()
    assert d[0] == pytest.approx(30.0, abs=1e-3) and d[1] == pytest.approx(30.0, abs=1e-3)


def test_late_reported_crime_in_earlier_partition(tmp_path):
    drop(tmp_path / "inbox", [(("trails", f"d{d}.csv", trail_csv(d))) for d in (1, 2, 3)])
    nightly(tmp_path, 3)
    drop(tmp_path / "inbox", [("crimes", "late.csv", crimes_csv([daily_crime(1, "OLD")]))])
    s = nightly(tmp_path, 4)
    assert s["proximity"]["crimes"] == 1 and s["proximity"]["hits"] == 1


def test_withdrawn_hit_when_new_fixes_show_subject_was_elsewhere(tmp_path):
    """Sparse fixes interpolate past the scene; a late file fills the gap far away: the hit is withdrawn."""
    t0 = _day(1) + pd.Timedelta(hours=13)
    lat, lon = _ll([E0 - 250, E0 + 250], [N0, N0])
    first = (
        "subject_id,timestamp,lat,lon\n"
        f"S9,{_iso(t0 - pd.Timedelta(minutes=4))},{lat[0]:.10f},{lon[0]:.10f}\n"
        f"S9,{_iso(t0 + pd.Timedelta(minutes=4))},{lat[1]:.10f},{lon[1]:.10f}\n"
    )
    drop(tmp_path / "inbox", [("trails", "a.csv", first), ("crimes", "c.csv", crimes_csv([daily_crime(1)]))])
    s = nightly(tmp_path, 1)
    assert s["proximity"]["hits"] == 1
    with CaseStore(tmp_path / "store" / "cases.sqlite") as cases:
        hid = int(cases.hits().iloc[0]["hit_id"])
        cases.review(hid, "qualified", user="rev")
    la, lo = _ll([E0], [N0 + 3000])
    late = "subject_id,timestamp,lat,lon\n" + "".join(
        f"S9,{_iso(t0 + pd.Timedelta(seconds=k))},{la[0]:.10f},{lo[0]:.10f}\n"
        for k in (-200, -100, 0, 100, 200)
    )
    drop(tmp_path / "inbox", [("trails", "b.csv", late)])
    s = nightly(tmp_path, 2)
    assert s["proximity"]["withdrawn"] == 1
    with CaseStore(tmp_path / "store" / "cases.sqlite") as cases:
        assert len(cases.hits()) == 0
        w = cases.frame("SELECT * FROM withdrawn_hits")
    assert w["hit_id"].tolist() == [hid] and w["review_state"].tolist() == ["qualified"]


def test_second_run_is_locked_out(tmp_path, capsys):
    (tmp_path / "inbox").mkdir()
    store = TrailStore(tmp_path / "store", create=True)
    with held_lock(store.path, "nightly"):
        with pytest.raises(StoreLockedError, match="locked by nightly"):
            nightly(tmp_path, 1)
        code = main(
            [
                "nightly",
                "--store",
                str(tmp_path / "store"),
                "--inbox",
                str(tmp_path / "inbox"),
                "--out",
                str(tmp_path / "out"),
                "--as-of",
                as_of(1),
            ]
        )
    assert code == 4
    assert "locked" in capsys.readouterr().err


def test_cli_json_summary_and_errors(tmp_path, capsys):
    drop(
        tmp_path / "inbox",
        [("trails", "d1.csv", trail_csv(1)), ("crimes", "c1.csv", crimes_csv([daily_crime(1)]))],
    )
    argv = [
        "nightly",
        "--settle",
        "0",  # the files were dropped just now, whole
        "--store",
        str(tmp_path / "store"),
        "--inbox",
        str(tmp_path / "inbox"),
        "--out",
        str(tmp_path / "out"),
        "--as-of",
        as_of(1),
        "--json",
    ]
    assert main(argv) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["files"]["new"] == 2 and js["proximity"]["hits"] == 1 and js["day"] == "2026-07-14"
    assert main(argv[:-3] + ["--as-of", "2026-07-14 02:00"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--as-of" in err
    assert (
        main(
            [
                "nightly",
                "--store",
                str(tmp_path / "s2"),
                "--inbox",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 1
    )
    assert "is not a folder" in capsys.readouterr().err
    assert main(argv[:-1] + ["--user", ""]) == 3


def test_purge_keeps_case_records_and_a_rerun_changes_nothing(tmp_path, capsys):
    drop(
        tmp_path / "inbox",
        [("trails", "d1.csv", trail_csv(1)), ("crimes", "c1.csv", crimes_csv([daily_crime(1)]))],
    )
    nightly(tmp_path, 1)
    db = tmp_path / "store" / "cases.sqlite"
    with CaseStore(db) as cases:
        hit = int(cases.hits()["hit_id"].iloc[0])
    assert main(["review", "--store", str(tmp_path / "store"), "qualify", str(hit), "--user", "rev"]) == 0
    frozen = "SELECT COUNT(*) FROM review_evidence"
    with CaseStore(db) as cases:
        assert cases.conn.execute(frozen).fetchone()[0] > 0  # the rows the reviewer saw, frozen with the verdict
    before = snapshot(tmp_path)
    assert main(["purge", "--store", str(tmp_path / "store"), "--older-than", "1d", "--user", "dpo"]) == 0
    assert TrailStore(tmp_path / "store").days() == []
    nightly(tmp_path, 2)
    after = snapshot(tmp_path)
    with CaseStore(db) as cases:  # evidence rows are location data: erased (SPEC §8), the verdict kept
        assert cases.conn.execute(frozen).fetchone()[0] == 0
        assert cases.hits()["review_state"].tolist()[0] == "qualified"
    assert {k: v for k, v in after.items() if k != "evidence"} == {k: v for k, v in before.items() if k != "evidence"}
    assert [e["kind"] for e in audit.entries(tmp_path / "store" / "audit.jsonl")].count("erasure") == 1


@needs_zones
def test_zone_events_stored(week_runs):
    root = week_runs[0]
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        ev = cases.frame("SELECT * FROM zone_events ORDER BY start_ns")
    assert "visit" in set(ev["event"])


@pytest.mark.parametrize(
    ("daily", "hours"),
    [
        (("19:00", "07:00"), [12.0, 11.0, 12.0]),  # spring forward on 2026-03-29: that night is 11 h
        (("", ""), [24.0, 24.0, 23.0]),  # UTC days, the last cut by active_to
    ],
)
def test_zone_periods(daily, hours):
    z = pd.Series(
        {
            "active_from": pd.Timestamp("2026-03-27T12:00Z"),
            "active_to": pd.Timestamp("2026-03-30T23:00Z"),
            "daily_start": daily[0],
            "daily_end": daily[1],
        }
    )
    ps, pe = zone_periods(z, pd.Timestamp("2026-04-05T00:00Z").value)
    got = ((pe - ps) / 3.6e12).tolist()
    if daily[0]:
        assert got[:3] == hours  # 27th-28th, 28th-29th, 29th-30th nights
    else:
        assert got[1:] == hours and got[0] == 12.0
    # a period that has not ended by the limit waits for a later run
    ps2, pe2 = zone_periods(z, pd.Timestamp("2026-03-29T12:00Z").value)
    assert pe2.max() <= pd.Timestamp("2026-03-29T12:00Z").value


# -- the shipped sample week, night by night (sample_traces/README.md) ---------------------------------------
SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "sample_traces"


def sample_plan() -> dict[str, list[tuple[str, object]]]:
    """Sample files by the night (as-of day) they arrive: day 15's trail comes late, after its crimes."""
    t = SAMPLE / "trails"
    return {
        "2026-07-14": [
            ("subjects", SAMPLE / "subjects.csv"),
            ("subjects", SAMPLE / "em" / "activations.csv"),
            ("subjects", SAMPLE / "em" / "caseload.csv"),
            ("trails", t / "day-2026-07-13.csv"),
            ("trails", t / "N12.gpx"),
            ("zones", SAMPLE / "zones.csv"),
            ("trails", t / "bad_rows.csv"),
        ],
        "2026-07-15": [
            ("trails", t / "day-2026-07-14.csv"),
            ("crimes", SAMPLE / "crimes" / "crimes.csv"),
            ("trails", t / "N13.tcx.gz"),
        ],
        "2026-07-16": [("trails", SAMPLE / "em" / "positions.csv")],
        "2026-07-17": [("trails", t / "day-2026-07-16.csv"), ("trails", t / "N14.geojson")],
        "2026-07-18": [
            ("trails", t / "day-2026-07-17.csv"),
            ("trails", t / "day-2026-07-15.csv"),
            ("appointments", SAMPLE / "appointments.csv"),
        ],
        "2026-07-19": [("trails", t / "day-2026-07-18.csv")],
        "2026-07-20": [
            ("trails", t / "day-2026-07-19.csv"),
            ("crimes", SAMPLE / "crimes" / "crime_mapping_NOT20260720.csv"),
            ("crimes", SAMPLE / "crimes" / "police_uk_street.csv"),
        ],
        "2026-10-27": [("trails", t / f"day-2026-10-{d}.csv") for d in (24, 25, 26)],
    }


def _copy_in(inbox, files) -> None:
    for kind, path in files:
        (inbox / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, inbox / kind / path.name)


@pytest.mark.slow
def test_sample_week_night_by_night_equals_catch_up(tmp_path):
    if not (SAMPLE / "expected.json").exists():
        pytest.skip(f"{SAMPLE} holds no generated sample")
    plan = sample_plan()
    for day, files in plan.items():
        _copy_in(tmp_path / "n" / "inbox", files)
        s = run_nightly(
            tmp_path / "n" / "store",
            tmp_path / "n" / "inbox",
            tmp_path / "n" / "out",
            as_of=f"{day}T02:00:00Z",
            tz="Europe/London",
        )
        assert s["files"]["quarantined"] == []
    for files in plan.values():
        _copy_in(tmp_path / "c" / "inbox", files)
    run_nightly(
        tmp_path / "c" / "store",
        tmp_path / "c" / "inbox",
        tmp_path / "c" / "out",
        as_of=f"{list(plan)[-1]}T02:00:00Z",
        tz="Europe/London",
    )
    a, b = snapshot(tmp_path / "n"), snapshot(tmp_path / "c")
    for table in a:
        assert a[table] == b[table], table

    expected = json.loads((SAMPLE / "expected.json").read_text())
    with CaseStore(tmp_path / "n" / "store" / "cases.sqlite") as cases:
        hits = cases.hits()
        att = cases.frame("SELECT appointment_id, status FROM attendance")
        zev = cases.frame("SELECT zone_id, event, end_ns FROM zone_events")
    got = set(zip(hits["crime_ref"], hits["crime_version"].astype(int), hits["subject_id"], strict=True))
    for ref, case in expected["crimes"].items():
        for subj in case["subjects"]:
            assert ((ref, 1, subj["subject_id"]) in got) == subj["hit"], (ref, subj)
    for ref, versions in expected["crime_mapping"].items():
        for version, subjects in versions.items():
            for subj in subjects:
                assert ((ref, int(version), subj["subject_id"]) in got) == subj["hit"], (ref, version, subj)
    for ref, subjects in expected["police_uk"].items():
        for subj in subjects:
            assert ((ref, 1, subj["subject_id"]) in got) == subj["hit"], (ref, subj)
    assert dict(zip(att["appointment_id"], att["status"], strict=True)) == {
        k: v["status"] for k, v in expected["appointments"].items()
    }
    assert (zev[zev.zone_id == "Z2"]["event"] == "absence").sum() == 1
    z3 = zev[(zev.zone_id == "Z3") & (zev.event == "absence")]
    assert pd.Timestamp("2026-10-25T07:00:00Z").value in set(z3["end_ns"].astype("int64"))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"radius_m": 0.0}, "InputError", r"radius_m must be a number > 0, got 0.0"),
        ({"max_gap_s": float("nan")}, "InputError", r"max_gap_s must be a number > 0, got nan"),
        ({"as_of": pd.Timestamp("2026-07-14T02:00")}, "InputError", r"as_of must carry a time zone"),
        ({"as_of": "2026-07-14T02:00"}, "TimezoneError", r"--as-of"),
        ({"tz": "Mars/Olympus"}, "InputError", r"unknown time zone 'Mars/Olympus'"),
        ({"user": " "}, "AccessRefusedError", r"service identity with --user"),
    ],
)
def test_run_nightly_argument_errors(tmp_path, kwargs, error, message):
    import trailmon.errors as errors

    (tmp_path / "inbox").mkdir()
    kw = {"as_of": as_of(1), **kwargs}
    with pytest.raises(getattr(errors, error), match=message):
        run_nightly(tmp_path / "store", tmp_path / "inbox", tmp_path / "out", **kw)


def test_killed_before_moving_quarantined_file(tmp_path):
    drop(tmp_path / "inbox", [("trails", "broken.csv", "foo,bar\n1,2\n")])

    def die(at):
        if at == "reports":
            raise _Killed(at)

    with pytest.raises(_Killed):
        nightly(tmp_path, 1, _hook=die)
    assert (tmp_path / "inbox" / "trails" / "broken.csv").exists()
    s = nightly(tmp_path, 1)
    assert s["files"] == {"new": 0, "moved_from_earlier_run": 1, "processed": [], "quarantined": []}
    reason = tmp_path / "inbox" / "quarantine" / "trails" / "broken.csv.reason.txt"
    assert "lacks trail column" in reason.read_text()


def test_catch_up_on_dask_equals_local(week_runs, tmp_path):
    """The late crimes of a catch-up run matched on Dask give the same case records as here."""
    pytest.importorskip("distributed", reason="dask[distributed] is in the test extra")
    _, _, catchup_root, _ = week_runs
    for files in week().values():
        drop(tmp_path / "inbox", files)
    summary = nightly(tmp_path, NIGHTS, engine="dask", workers=1)
    assert summary["proximity"]["crimes"] > 0
    a, b = snapshot(catchup_root), snapshot(tmp_path)
    for table in a:
        assert a[table] == b[table], table


def test_engine_arguments_checked(tmp_path):
    (tmp_path / "inbox").mkdir()
    with pytest.raises(InputError, match="engine must be 'local' or 'dask', got 'spark'"):
        nightly(tmp_path, 1, engine="spark")
    with pytest.raises(InputError, match="--scheduler and --workers need --engine dask"):
        nightly(tmp_path, 1, workers=2)


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), min_size=0, max_size=40))
def test_span_groups_partition_rows_into_bounded_overlapping_runs(spans):
    """Every row in one group; a group spans at most the cap (or is one row); groups of rows that overlap
    (within the join distance) are merged unless the cap says no; earliest first."""
    from trailmon.store.read_groups import span_groups

    lo = np.array([a for a, _ in spans], dtype=np.int64)
    hi = lo + np.array([d for _, d in spans], dtype=np.int64)
    groups = span_groups(lo, hi, max_span_ns=60, join_ns=5)
    assert sorted(np.concatenate(groups).tolist() if groups else []) == list(range(len(spans)))
    starts = [int(lo[g].min()) for g in groups]
    assert starts == sorted(starts)
    for g in groups:
        assert len(g) == 1 or int(hi[g].max()) - int(lo[g].min()) <= 60
    for a, b in zip(groups, groups[1:], strict=False):  # b's first row starts beyond a's end + join, or breaks the cap
        r = b[np.lexsort((b, lo[b]))][0]
        assert lo[r] > hi[a].max() + 5 or max(hi[a].max(), hi[r]) - lo[a].min() > 60
