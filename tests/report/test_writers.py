"""Writers by extension: provenance in every format, encodings of SPEC §4."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from trailmon.errors import InputError
from trailmon.report.writers import MARKING, make_provenance, sibling, write_table


@pytest.fixture
def frame():
    return pd.DataFrame({
        "subject_id": ["S1", "S2"],
        "time": pd.to_datetime([1_784_034_000_123_456_789, None], utc=True),
        "lat": [53.8, np.nan], "lon": [-1.55, np.nan], "dwell_s": [12.3456789, 0.0],
        "between_fixes": [True, False], "flags": ["speed_jump", ""],
    })


@pytest.fixture
def prov(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("x\n1\n")
    return make_provenance("test", {"radius_m": 100.0}, transformation={"crs": "EPSG:27700"}, inputs=[src])


def test_csv_header_lines_marking_first(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.csv", prov)
    lines = out.read_text().splitlines()
    assert lines[0] == f"# marking: {MARKING}"
    assert any(line.startswith("# engine: trailmon ") for line in lines)
    assert any(line.startswith("# inputs: ") and "sha256" in line for line in lines)
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "subject_id,time,lat,lon,dwell_s,between_fixes,flags"
    assert body[1] == "S1,2026-07-14T13:00:00.123Z,53.8,-1.55,12.3456789,true,speed_jump"
    assert body[2].startswith("S2,,,,0.0,false,")
    side = json.loads((tmp_path / "h.csv.provenance.json").read_text())
    assert side["marking"] == MARKING and side["rows"] == 2


def test_jsonl(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.jsonl", prov)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["between_fixes"] is True and rows[1]["lat"] is None
    assert rows[0]["time"] == "2026-07-14T13:00:00.123Z"


def test_geojson(tmp_path, frame, prov):
    doc = json.loads(write_table(frame, tmp_path / "h.geojson", prov).read_text())
    assert doc["provenance"]["marking"] == MARKING
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [-1.55, 53.8]}
    assert doc["features"][1]["geometry"] is None


def test_parquet_metadata(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.parquet", prov)
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[b"trailmon:provenance"])["marking"] == MARKING
    assert b"geo" in meta  # GeoParquet where the table has lon/lat
    back = pd.read_parquet(out)
    assert back["dwell_s"].iloc[0] == 12.3456789


def test_unknown_extension(tmp_path, frame, prov):
    with pytest.raises(InputError, match=r"unknown output extension '\.xlsx'.*use one of \.csv, \.jsonl"):
        write_table(frame, tmp_path / "h.xlsx", prov)


def test_sibling():
    assert sibling("out/hits.csv", "evidence").as_posix() == "out/hits.evidence.csv"
