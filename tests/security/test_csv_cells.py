"""Quarantine files keep their cells spreadsheet-safe (SPEC §4 CSV rule): ingest, runs, nightly.

A quarantine row is ``file, row, reason, detail, values``; the raw values sit inside a JSON cell, but
the ``file`` cell is the name the file was given, which may itself start with a formula prefix.
"""

from __future__ import annotations

from pathlib import Path

from tests.security.jscheck import assert_csv_safe
from trailmon.cli import main
from trailmon.io.crimes import read_crimes
from trailmon.nightly import run_nightly
from trailmon.runs import quarantine_rejects
from trailmon.store.trails import TrailStore

TRAILS = (
    "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n"
    "S1,2026-07-14T10:00:00Z,52.95,-1.15,5,gps\n"
    "=X,=2026,+1,-1.15,5,@gps\n"
)


def _bad_crimes(path: Path) -> Path:
    path.write_text(
        "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m,force\n"
        "C1,TFP,454944.6,333869.4,2026-07-14T08:18:00Z,2026-07-14T08:49:00Z,,\n"
        "=cmd,@SUM(A1),,,2026-07-14T08:18:00Z,2026-07-14T08:49:00Z,,-1+1\n"
    )
    return path


def test_ingest_quarantine_is_safe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("=HYPERLINK(1).csv").write_text(TRAILS)
    assert main(["ingest", "--store", "store", "=HYPERLINK(1).csv"]) == 0
    (q,) = (tmp_path / "store" / "quarantine").glob("*.csv")
    text = q.read_text()
    assert "'=HYPERLINK(1).csv" in text
    assert_csv_safe(text, "ingest quarantine")


def test_run_quarantine_is_safe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = TrailStore(tmp_path / "store", create=True)
    res = read_crimes(_bad_crimes(Path("+crimes.csv")), crs=store.crs)
    assert len(res.rejected) == 1
    text = Path(quarantine_rejects(store, res, "run-1")).read_text()
    assert "'+crimes.csv" in text
    assert_csv_safe(text, "run quarantine")


def test_nightly_quarantine_is_safe_and_inbox_moves_are_owner_only(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "crimes").mkdir(parents=True)
    _bad_crimes(inbox / "crimes" / "crimes.csv").chmod(0o644)
    run_nightly(tmp_path / "store", inbox, tmp_path / "out", as_of="2026-07-16T02:00:00Z")
    files = list((tmp_path / "store" / "quarantine").glob("*crimes*.csv"))
    assert files
    for q in files:
        assert_csv_safe(q.read_text(), q.name)
    moved = list((inbox / "processed").rglob("*.csv"))
    assert moved and all(p.stat().st_mode & 0o777 == 0o600 for p in moved)
    assert all(d.stat().st_mode & 0o777 == 0o700 for d in (inbox / "processed").rglob("*") if d.is_dir())
