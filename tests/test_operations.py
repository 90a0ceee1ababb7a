"""Operating trailmon (SPEC §8): a settled inbox, retention that erases every copy, status and metrics."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.test_nightly import E0, N0, _ll
from trailmon.cli import main
from trailmon.nightly import run_nightly
from trailmon.report.case_evidence import review_hit
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore

DAY1 = pd.Timestamp("2026-07-14T00:00:00Z")
DAY2 = pd.Timestamp("2026-07-15T00:00:00Z")
CUTOFF = pd.Timestamp("2026-07-15T12:30:30Z")  # day 1 wholly older, day 2 cut in the middle
AS_OF = "2026-07-16T02:00:00Z"


def _iso(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _walk(day: pd.Timestamp, k0: int) -> list[tuple]:
    """S1 walks east past (E0, N0) from 12:00 to 12:59, one fix a minute; every fix a latitude of its own."""
    k = np.arange(60)
    e, n = E0 + 2.0 * (k * 60 - 1800), N0 + 30.0 + 0.37 * (k0 + k)
    lat, lon = _ll(e, n)
    t = [day + pd.Timedelta(hours=12, minutes=int(i)) for i in k]
    return [("S1", ti, f"{la:.10f}", f"{lo:.10f}") for ti, la, lo in zip(t, lat, lon, strict=True)]


def _trail_file(fixes: list[tuple], extra: str = "") -> str:
    rows = "".join(f"{s},{_iso(t)},{la},{lo},10,gps\n" for s, t, la, lo in fixes)
    return "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + rows + extra


def _crimes(rows: list[tuple], force: str = "NOT") -> str:
    out = "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m,force\n"
    return out + "".join(f"{r},TFP,{E0},{N0 + 30},{_iso(a)},{_iso(b)},100,{force}\n" for r, a, b in rows)


def _drop(inbox: Path, kind: str, name: str, text: str) -> Path:
    (inbox / kind).mkdir(parents=True, exist_ok=True)
    p = inbox / kind / name
    p.write_text(text)
    return p


# -- the inbox ------------------------------------------------------------------------------------------
def test_a_file_still_arriving_is_left_for_the_next_run(tmp_path, capsys):
    inbox, store = tmp_path / "inbox", tmp_path / "store"
    text = _trail_file(_walk(DAY1, 0))
    cut = len(text) // 2
    half = _drop(inbox, "trails", "day1.csv", text[:cut])  # a supplier's copy, half done
    _drop(inbox, "trails", "day1b.csv.part", text)  # being written under a temporary name
    _drop(inbox, "trails", ".day1c.csv", text)  # likewise, hidden
    argv = ["nightly", "--store", str(store), "--inbox", str(inbox), "--out", str(tmp_path / "out"),
            "--as-of", AS_OF, "--settle", "1", "--json"]
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["files"]["new"] == 0 and s["files"]["unsettled"] == [str(half)]
    assert half.exists() and not (inbox / "processed").exists()
    assert TrailStore(store).days() == []
    with CaseStore(store / "cases.sqlite") as cases:
        assert cases.frame("SELECT * FROM inbox_files").empty
    with open(half, "a") as f:  # the rest arrives
        f.write(text[cut:])
    time.sleep(1.2)
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["files"]["new"] == 1 and s["ingest"]["added"] == 60
    assert (inbox / "processed" / "trails" / "day1.csv").read_text() == text
    assert (inbox / "trails" / "day1b.csv.part").exists() and (inbox / "trails" / ".day1c.csv").exists()


# -- retention -------------------------------------------------------------------------------------------
@pytest.fixture
def operated(tmp_path) -> dict:
    """Two nights: day 1 and day 2 trails (with rejected rows), crimes matched on both days, a map."""
    inbox, store, out = tmp_path / "inbox", tmp_path / "store", tmp_path / "out"
    old1, day2 = _walk(DAY1, 0), _walk(DAY2, 100)
    bad = (f"S1,{_iso(DAY1 + pd.Timedelta(hours=13))},95.5000000001,-1.1,10,gps\n"  # BAD_COORDINATE, old
           f"S1,2026-07-14T13:05:00,52.9111111111,-1.1,10,gps\n"  # NO_TIMEZONE: read as UTC, old
           f"S1,yesterday,52.9222222222,-1.1,10,gps\n")  # BAD_TIMESTAMP: no time, kept by ingest date
    _drop(inbox, "subjects", "subjects.csv", "subject_id,cohort,monitoring_start,monitoring_end\n"
          "S1,fixed,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z\n")
    _drop(inbox, "trails", "day1.csv", _trail_file(old1, bad))
    _drop(inbox, "trails", "day2.csv", _trail_file(day2))
    noon = pd.Timedelta(hours=12)
    _drop(inbox, "crimes", "NOT-c1.csv", _crimes([("K1", DAY1 + noon + pd.Timedelta(minutes=20),
                                                    DAY1 + noon + pd.Timedelta(minutes=40)),
                                                   ("K2", DAY2 + noon + pd.Timedelta(minutes=20),
                                                    DAY2 + noon + pd.Timedelta(minutes=40))]))
    _drop(inbox, "crimes", "NOT-c2.csv", _crimes([("K9", DAY2, DAY1)]))  # a failed batch: every row rejected
    run_nightly(store, inbox, out, as_of=AS_OF)
    map_out = out / "maps" / "s1.html"
    assert main(["map", "--store", str(store), "--subject", "S1", "--from", "2026-07-14T12:00:30Z",
                 "--to", "2026-07-14T12:50:30Z", "--out", str(map_out), "--user", "ana", "--purpose", "t"]) == 0
    assert map_out.exists()
    return {"root": tmp_path, "inbox": inbox, "store": store, "out": out, "map": map_out,
            "old": old1 + [f for f in day2 if f[1] < CUTOFF], "new": [f for f in day2 if f[1] >= CUTOFF],
            "also_old": ["95.5000000001", "52.9111111111"], "timeless": "52.9222222222"}


def _lat_strings(fixes) -> set[str]:
    return {la for _, _, la, _ in fixes} | {repr(float(la)) for _, _, la, _ in fixes}


def _search(roots: list[Path], needles: set[str]) -> dict[str, list[str]]:
    """Every file under ``roots``: which of ``needles`` (latitudes, as text or in Parquet/SQLite) it holds."""
    found: dict[str, list[str]] = {}
    floats = {float(n) for n in needles}
    for root in roots:
        for p in sorted(q for q in root.rglob("*") if q.is_file()):
            hits: list[str] = []
            if p.suffix == ".parquet":
                t = pq.read_table(p)
                for col in ("lat", "y_m"):
                    if col in t.column_names:
                        hits += [str(v) for v in set(t.column(col).to_pylist()) & floats]
            elif p.name.endswith((".sqlite", ".sqlite-wal")):
                if p.name.endswith(".sqlite"):
                    con = sqlite3.connect(p)
                    lats = {r[0] for r in con.execute("SELECT lat FROM evidence UNION SELECT lat FROM review_evidence")}
                    con.close()
                    hits += [str(v) for v in lats & floats]
                raw = p.read_bytes()  # deleted rows left in free pages or the write-ahead log count too
                hits += [f"{v!r} (bytes)" for v in floats if struct.pack(">d", v) in raw]
            else:
                text = p.read_bytes().decode("utf-8", errors="replace")
                hits += [n for n in needles if n in text]
            if hits:
                found[str(p)] = sorted(hits)
    return found


def _cli_cutoff_arg() -> str:
    return f"{(pd.Timestamp.now(tz='UTC') - CUTOFF).total_seconds():.3f}s"


def test_purge_erases_every_copy_older_than_the_period(operated, capsys):
    o = operated
    roots = [o["store"], o["inbox"], o["out"]]
    old = _lat_strings(o["old"]) | set(o["also_old"])
    with CaseStore(o["store"] / "cases.sqlite") as cases:
        hits_before = cases.hits()
        assert len(hits_before) == 2
        for hid in hits_before["hit_id"]:  # the evidence rows the reviewer saw are frozen into the case store
            review_hit(cases, TrailStore(o["store"]), int(hid), "qualified", user="rev")
        hits_before = cases.hits()
    assert set(_search(roots, old)) >= {  # before: the old fixes are everywhere trailmon keeps them
        str(o["inbox"] / "processed" / "trails" / "day1.csv"), str(o["out"] / "2026-07-16" / "evidence.csv"),
        str(o["store"] / "cases.sqlite"), str(o["map"])}
    def listing():
        """Every data file and its bytes (locks, leases and SQLite's shared-memory files aside)."""
        return {str(p): p.read_bytes() for r in roots for p in r.rglob("*") if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(r).parts)
                and not p.name.endswith(("-shm", "-wal", ".sqlite"))}

    before = listing()
    with CaseStore(o["store"] / "cases.sqlite") as cases:
        evidence_before = cases.snapshot()["evidence"]

    args = ["purge", "--store", str(o["store"]), "--older-than", _cli_cutoff_arg(), "--user", "dpo", "--json"]
    assert main([*args, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert listing() == before
    with CaseStore(o["store"] / "cases.sqlite") as cases:
        assert cases.snapshot()["evidence"] == evidence_before
    assert dry["dry_run"] and dry["counts"]["trail_fixes"] == len(o["old"])
    assert main(args) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["counts"] == dry["counts"]
    n = done["counts"]
    assert n["trail_days"] == 2 and n["trail_fixes"] == len(o["old"]) == 91 and n["inbox_files"] == 2
    assert n["quarantine_rows"] == 3 and n["maps_and_reports"] == 1  # two trail rows, the failed crime row
    assert n["evidence_rows_case_store"] > 0 and n["evidence_csv_rows"] == n["evidence_rows_case_store"]

    # nothing older than the period is left anywhere; what is newer is still there
    assert _search(roots, old) == {}
    left = TrailStore(o["store"]).fixes_table()
    assert left.num_rows == len(o["new"]) and min(left.column("t_ns").to_pylist()) >= CUTOFF.value
    assert set(_search([o["store"]], _lat_strings(o["new"]))) >= {str(o["store"] / "cases.sqlite")}
    assert _search([o["store"] / "quarantine"], {o["timeless"]})  # no readable time: kept by its ingest date
    # case records keep their figures and review history; nothing re-matched
    with CaseStore(o["store"] / "cases.sqlite") as cases:
        pd.testing.assert_frame_equal(cases.hits(), hits_before)
    entry = [e for e in audit.entries(o["store"] / "audit.jsonl") if e["kind"] == "erasure"]
    assert len(entry) == 1 and entry[0]["counts"] == n
    assert sorted(entry[0]["parameters"]["erased"]["trail_days"]) == ["2026-07-14", "2026-07-15"]
    assert audit.verify(o["store"] / "audit.jsonl") > 0


# -- status and metrics ----------------------------------------------------------------------------------
def test_status_json_and_metrics_file(operated, capsys):
    from prometheus_client.parser import text_string_to_metric_families

    o = operated
    late = _trail_file(_walk(DAY2 + pd.Timedelta(hours=2), 300))
    _drop(o["inbox"], "trails", "late.csv", late)  # waiting for the next run
    assert main(["status", "--store", str(o["store"]), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    t = s["trail_store"]
    assert (t["days"], t["fixes"], t["subjects"], t["windows"], t["first_day"], t["last_day"]) == (
        2, 120, 1, 1, "2026-07-14", "2026-07-15")
    assert s["nightly"]["runs"]["done"] == 1 and s["nightly"]["last_run"]["status"] == "done"
    assert s["nightly"]["last_success"]["run_id"] == s["nightly"]["last_run"]["run_id"]
    assert s["queue"]["spans"] == 0
    assert s["inbox"]["backlog"] == 1 and s["inbox"]["by_kind"] == {"trails": 1}
    assert s["quarantine"]["by_code"]["BAD_COORDINATE"] == 1
    assert s["quarantine"]["by_code"]["BAD_WINDOW_ORDER"] == 1
    assert s["hits"]["pending"] == 2
    assert s["forces"]["NOT"]["batches_failed_7d"] == 1 and s["forces"]["NOT"]["last_batch"]
    entries = audit.entries(o["store"] / "audit.jsonl")
    assert s["audit"] == {"entries": len(entries), "last_seq": entries[-1]["seq"], "last_hash": entries[-1]["hash"],
                          "last_time": entries[-1]["time"]}
    assert main(["status", "--store", str(o["store"])]) == 0
    assert "last nightly run" in capsys.readouterr().out

    # every run writes OUT/metrics.prom; a failed one too
    def fail(step):
        if step == "ingest":
            raise RuntimeError("disk full")

    said = []
    with pytest.raises(RuntimeError):
        run_nightly(o["store"], o["inbox"], o["out"], as_of=AS_OF, _hook=fail, log=said.append)
    assert not [line for line in said if line.startswith("metrics")], said
    text = (o["out"] / "metrics.prom").read_text()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    assert samples[("trailmon_nightly_runs", (("outcome", "done"),))] == 1
    assert samples[("trailmon_nightly_runs", (("outcome", "failed"),))] == 1
    assert samples[("trailmon_nightly_last_run_failed", ())] == 1
    assert samples[("trailmon_nightly_last_success_timestamp_seconds", ())] == pytest.approx(
        pd.Timestamp(s["nightly"]["last_success"]["ended"]).value / 1e9)
    assert samples[("trailmon_fixes_stored", ())] == 180  # the late file was ingested before the failure
    assert samples[("trailmon_crimes_ingested", ())] == 2
    assert samples[("trailmon_rows_rejected", (("code", "BAD_COORDINATE"),))] == 1
    assert samples[("trailmon_hits", (("state", "pending"),))] == 2
    assert samples[("trailmon_queue_spans", ())] == 0  # the failed run stopped before queueing
    assert samples[("trailmon_inbox_backlog_files", ())] == 1  # not moved: the run failed
    assert samples[("trailmon_force_batches_failed", (("force", "NOT"),))] == 1
    assert samples[("trailmon_force_last_batch_timestamp_seconds", (("force", "NOT"),))] > 0
    assert samples[("trailmon_audit_entries", ())] == len(audit.entries(o["store"] / "audit.jsonl"))
    assert oct(os.stat(o["out"] / "metrics.prom").st_mode & 0o777) == "0o600"
