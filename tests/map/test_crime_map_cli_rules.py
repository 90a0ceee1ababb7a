"""``trailmon map --crime`` under the trail rules (SPEC §9): padded window, 48 h cap, fixes audited, CSP."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from trailmon.cli import main
from trailmon.store import audit

E0, N0 = 430000.0, 433000.0
T0 = pd.Timestamp("2026-07-14T13:00:00Z")
ID = ["--user", "analyst1", "--purpose", "IOM panel"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("crimemap")
    e = E0 - 1500 + 100 * np.arange(31)
    lon, lat = convert_lonlat(e, np.full(31, N0 + 45))
    stamp = [(T0 + pd.Timedelta(minutes=k - 15)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(31)]
    rows = [f"S1,{stamp[k]},{lat[k]:.10f},{lon[k]:.10f},10,gps" for k in range(31)]
    (d / "trails.csv").write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n")
    (d / "crimes.csv").write_text(
        "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
        f"K1,TFP,{E0},{N0},2026-07-14T12:55:00Z,2026-07-14T13:05:00Z,100\n"
        f"M1,BURGLARY,{E0},{N0},2026-07-01T00:00:00Z,2026-07-31T23:59:59Z,100\n"
    )
    assert main(["ingest", "--store", str(d / "store"), str(d / "trails.csv")]) == 0
    return d


def _map(files, out, ref, *extra):
    return main(
        [
            "map",
            "--store",
            str(files / "store"),
            "--crimes",
            str(files / "crimes.csv"),
            "--crime",
            ref,
            "--out",
            str(out),
            *ID,
            *extra,
        ]
    )


def test_month_long_crime_map_needs_a_justification(files, tmp_path, capsys):
    out = tmp_path / "m1.html"
    assert _map(files, out, "M1") == 3
    assert "wider than the 48 h cap" in capsys.readouterr().err and not out.exists()
    assert _map(files, out, "M1", "--justify", "series of burglaries") == 0
    e = audit.entries(files / "store" / "audit.jsonl")[-1]
    assert e["parameters"]["justify"] == "series of burglaries" and e["counts"]["fixes"] == 31


def test_crime_map_tracks_the_padded_window_and_counts_fixes(files, tmp_path):
    out = tmp_path / "k1.html"
    assert _map(files, out, "K1", "--max-gap", "300") == 0
    e = audit.entries(files / "store" / "audit.jsonl")[-1]
    assert (e["parameters"]["from"], e["parameters"]["to"]) == (
        "2026-07-14T12:50:00+00:00",
        "2026-07-14T13:10:00+00:00",
    )
    assert e["counts"]["fixes"] == 21  # 12:50 .. 13:10, one a minute
    html = out.read_text()
    assert re.search(
        r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; script-src \'sha256-', html
    )
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
