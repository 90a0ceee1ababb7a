"""Fix times come out exactly as recorded: integer nanoseconds end to end, one formatter (SPEC §4).

1,000 fixes recorded to the millisecond (arbitrary milliseconds) go through ``ingest``, then
``proximity`` (every fix is evidence) and ``trail --out``: every fix time written equals the stored
instant, in CSV, JSON Lines and Parquet.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from convertbng.cutil import convert_lonlat

from trailmon.cli import main
from trailmon.store.trails import TrailStore

E0, N0 = 430000.0, 433000.0
N = 1000


def _iso(ns: np.ndarray) -> list[str]:
    return [np.datetime_as_string(np.datetime64(int(v), "ns"), unit="ms") + "Z" for v in ns]


def _setup(tmp_path):
    rng = np.random.default_rng(13)
    t0 = pd.Timestamp("2026-07-14T12:00:00Z").value
    # one fix every ~3.6 s with random milliseconds, all within 20 m of the scene
    ms = np.sort(rng.choice(3_600_000, size=N, replace=False)).astype(np.int64)
    ns = t0 + ms * 1_000_000
    e = E0 + rng.uniform(-20, 20, N)
    n = N0 + rng.uniform(-20, 20, N)
    lon, lat = convert_lonlat(e, n)
    stamps = _iso(ns)
    rows = [f"S1,{stamps[k]},{lat[k]:.10f},{lon[k]:.10f},5,gps" for k in range(N)]
    src = tmp_path / "fixes.csv"
    src.write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n")
    crimes = tmp_path / "crimes.csv"
    crimes.write_text("crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
                      f"K1,TFP,{E0},{N0},2026-07-14T11:00:00Z,2026-07-14T14:00:00Z,100\n")
    store = tmp_path / "store"
    assert main(["ingest", "--store", str(store), str(src)]) == 0
    return store, crimes


def test_evidence_and_trail_fix_times_exact(tmp_path, capsys):
    store, crimes = _setup(tmp_path)
    stored = TrailStore(store).fixes_table().column("t_ns").to_numpy()
    assert len(stored) == N
    want = _iso(np.sort(stored))
    assert len({w[-5:] for w in want}) > 500  # the milliseconds really vary
    for ext in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"h{ext}"
        assert main(["proximity", "--store", str(store), "--crimes", str(crimes), "--out", str(out),
                     "--user", "a", "--purpose", "p"]) == 0
        ev = tmp_path / f"h.evidence{ext}"
        if ext == ".csv":
            got = pd.read_csv(ev, comment="#", dtype=str)
        elif ext == ".jsonl":
            got = pd.DataFrame([json.loads(line) for line in ev.read_text().splitlines()])
        else:
            got = pq.read_table(ev).to_pandas()
        fixes = got[got["kind"] == "fix"]
        times = fixes["time"]
        if ext == ".parquet":
            assert (times.astype("int64").to_numpy() == np.sort(stored)).all()
        else:
            assert times.tolist() == want, ext
        trail_out = tmp_path / f"t{ext}"
        assert main(["trail", "--store", str(store), "--subject", "S1", "--from", "2026-07-14T11:00:00Z",
                     "--to", "2026-07-14T14:00:00Z", "--out", str(trail_out), "--user", "a", "--purpose", "p"]) == 0
        if ext == ".csv":
            rows = pd.read_csv(trail_out, comment="#", dtype=str)
        elif ext == ".jsonl":
            rows = pd.DataFrame([json.loads(line) for line in trail_out.read_text().splitlines()])
        else:
            rows = pq.read_table(trail_out).to_pandas()
        if ext == ".parquet":
            assert (rows["time"].astype("int64").to_numpy() == np.sort(stored)).all()
        else:
            assert rows["time"].tolist() == want, ext
    capsys.readouterr()
