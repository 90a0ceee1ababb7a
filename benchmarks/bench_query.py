"""One analyst query: one crime against a built index (warm), and from the on-disk store in a fresh process.

    python benchmarks/bench_query.py [--subjects 5000] [--queries 2000]

Warm: ``proximity()`` for one crime at a time on a built index, hits and gaps frames included
(median and p95 over --queries crimes of the national day), and ``proximity_arrays()`` alone (the
exact hits and gaps near the scene as NumPy arrays, no frames). Cold: a fresh Python process
opens a store holding the national day, reads the crime's window (with its halo), builds the index
over it and answers (CLI start-up and imports timed apart; file cache warm).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import save, table
from _day import day_trails

from trailmon.index import TrailIndex
from trailmon.match import proximity as P

COLD = r"""
import sys, time, json
t0 = time.perf_counter()
import pandas as pd
import pyarrow.dataset  # noqa: F401 - imported by the first filtered Parquet read: an import, timed apart
from trailmon.store.trails import TrailStore
from trailmon.match.proximity import proximity
t1 = time.perf_counter()
store = TrailStore(sys.argv[1])
crime = pd.read_json(sys.argv[2], orient="records", convert_dates=False)
crime["committed_from"] = pd.to_datetime(crime["committed_from"], utc=True)
crime["committed_to"] = pd.to_datetime(crime["committed_to"], utc=True)
trails = store.read(crime["committed_from"].iloc[0], crime["committed_to"].iloc[0], halo_s=600.0)
t2 = time.perf_counter()
res = proximity(trails, crime)
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "read_s": t2 - t1, "match_s": t3 - t2, "total_after_imports_s": t3 - t1,
                  "fixes_read": int(trails.n_fixes), "hits": len(res.hits)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--cold", type=int, default=5)
    args = ap.parse_args()
    trails, crimes, _ = day_trails(args.subjects, max(args.queries, 100))
    index = TrailIndex.build(trails)
    P.proximity(trails, crimes.head(1), index=index)  # compile
    cr = P._crime_arrays(crimes, 100.0)
    P.proximity_arrays(index, cr.x[0], cr.y[0], cr.t1[0], cr.t2[0], cr.r[0])  # compile
    lat = []
    kern = []
    for k in range(args.queries):
        one = crimes.iloc[k:k + 1]
        t = time.perf_counter()
        P.proximity(trails, one, index=index, with_evidence=False)
        lat.append(time.perf_counter() - t)
        x, y, t1, t2, r = float(cr.x[k]), float(cr.y[k]), float(cr.t1[k]), float(cr.t2[k]), float(cr.r[k])
        t = time.perf_counter()
        P.proximity_arrays(index, x, y, t1, t2, r)
        kern.append(time.perf_counter() - t)
    lat, kern = np.array(lat) * 1e3, np.array(kern) * 1e3

    # cold: a store on disk holding the whole day, a fresh process per query
    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        from trailmon.io.quarantine import ReadResult, empty_rejected
        from trailmon.store.trails import TrailStore

        frame = trails.to_frame()
        acc = pd.DataFrame({"subject_id": frame["subject_id"].astype(str), "t_ns": (trails.t_s * 1e9).astype(np.int64),
                            "x_m": trails.x_m, "y_m": trails.y_m, "lat": 0.0, "lon": 0.0,
                            "accuracy_m": trails.accuracy_m, "fix_type": frame["fix_type"], "speed_mps": np.nan,
                            "heading_deg": np.nan})
        store = TrailStore(work / "store", create=True)
        store.ingest([ReadResult(acc, empty_rejected(), len(acc), files=["day"])])
        colds = []
        for k in range(args.cold):
            one = crimes.iloc[[k]][["crime_ref", "x_m", "y_m", "committed_from", "committed_to", "radius_m"]].copy()
            one["committed_from"] = one["committed_from"].astype(str)
            one["committed_to"] = one["committed_to"].astype(str)
            path = work / f"crime{k}.json"
            one.to_json(path, orient="records")
            out = subprocess.run([sys.executable, "-c", COLD, str(work / "store"), str(path)], capture_output=True,
                                 text=True, check=True).stdout
            colds.append(json.loads(out.strip().splitlines()[-1]))
        cold = pd.DataFrame(colds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("warm, proximity() one crime (hits frame)",
         f"median {np.median(lat):.2f} ms, p95 {np.percentile(lat, 95):.2f} ms",
         "target <= 1 ms"),
        ("warm, proximity_arrays() one crime (hits + gaps arrays)",
         f"median {np.median(kern) * 1e3:.0f} us, p95 {np.percentile(kern, 95) * 1e3:.0f} us", "target <= 1 ms"),
        ("cold, fresh process: read + index + match", f"median {cold['total_after_imports_s'].median():.2f} s "
         f"({cold['fixes_read'].median():,.0f} fixes read)", "target <= 1 s"),
        ("cold, imports", f"median {cold['imports_s'].median():.2f} s", "timed apart"),
    ]
    print(table(rows, ("what", "time", "note")))
    save("query", {"warm_ms": {"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95))},
                   "arrays_ms": {"median": float(np.median(kern)), "p95": float(np.percentile(kern, 95))},
                   "cold": cold.to_dict("list")})


if __name__ == "__main__":
    main()
