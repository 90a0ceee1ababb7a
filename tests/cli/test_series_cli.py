"""``trailmon series`` end to end: store, ranked and long tables, map, report, audit, refusal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from trailmon.cli import main

E0, N0 = 430000.0, 433000.0
T0 = pd.Timestamp("2026-07-14T09:00:00Z")  # 10:00 BST


def _rows(sid, day, e, n, minutes=31):
    lon, lat = convert_lonlat(np.full(minutes, e, float), np.full(minutes, n, float))
    t0 = T0 + pd.Timedelta(days=day)
    return [f"{sid},{(t0 + pd.Timedelta(minutes=m)).isoformat().replace('+00:00', 'Z')},{lat[m]:.10f},"
            f"{lon[m]:.10f},10,gps" for m in range(minutes)]


@pytest.fixture
def store(tmp_path):
    rows = []
    for d in range(-3, 4):
        rows += _rows("S_ROUTINE", d, E0, N0)  # at the scene every morning
        rows += _rows("S_LEAD", d, E0 + (0 if d == 0 else 4000), N0)  # only on the crime day
    trails = tmp_path / "trails.csv"
    trails.write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n")
    path = tmp_path / "store"
    assert main(["ingest", "--store", str(path), str(trails)]) == 0
    return path


@pytest.fixture
def crimes_csv(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
                    f"B1,BIAD,{E0},{N0},2026-07-14T09:05:00Z,2026-07-14T09:25:00Z,100\n")
    return path


def test_series_writes_ranked_long_map_report_and_audits(tmp_path, store, crimes_csv, capsys):
    out = tmp_path / "series.csv"
    code = main(["series", "--store", str(store), "--crimes", str(crimes_csv), "--days", "3", "--out", str(out),
                 "--map", str(tmp_path / "series.html"), "--report", str(tmp_path / "report.html"),
                 "--user", "analyst1", "--purpose", "burglary series op X", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["subjects"] == 2 and summary["crimes"]["accepted"] == 1
    ranked = pd.read_csv(out, comment="#")
    assert ranked["subject_id"].tolist() == ["S_LEAD", "S_ROUTINE"]
    assert ranked["p_tail"].tolist() == [0.0, 1.0]
    long = pd.read_csv(tmp_path / "series.long.csv", comment="#")
    assert long["counted_days"].tolist() == [6, 6] and long["p"].tolist() == [0.0, 1.0]
    html = (tmp_path / "series.html").read_text()
    assert "OFFICIAL-SENSITIVE" in html and "Track S_LEAD" in html and "1: B1" in html
    rep = (tmp_path / "report.html").read_text()
    assert "OFFICIAL-SENSITIVE" in rep and "S_ROUTINE" in rep and "never evidence" in rep
    entry = json.loads((store / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "series" and entry["user"] == "analyst1"
    assert sorted(entry["subjects"]) == ["S_LEAD", "S_ROUTINE"]


def test_series_without_purpose_is_refused(tmp_path, store, crimes_csv, capsys):
    code = main(["series", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "s.csv"),
                 "--user", "analyst1"])
    assert code == 3
    assert "--purpose" in capsys.readouterr().err


def test_series_bad_days_is_an_error(tmp_path, store, crimes_csv, capsys):
    code = main(["series", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "s.csv"),
                 "--days", "0", "--user", "u", "--purpose", "p"])
    assert code == 1
    assert "error: --days must be >= 1, got 0" in capsys.readouterr().err
