"""Ingest rate from CSV into the store (SPEC §6: >= 1 M fixes/s, validation and OSTN15 included).

    python benchmarks/bench_ingest.py [--subjects 700 5000]

For each size: the national-day generator writes a generic trail CSV (lat/lon, ISO times with Z);
then we time (a) the baseline pandas.read_csv + convertbng alone, (b) ``read_trails`` (parse,
validate, OSTN15, in-file duplicates), (c) ``TrailStore.ingest`` (dedup against the store,
speed-jump flags, Parquet by day, atomic commit), and (a)+(b) as the ingest rate.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import save, table
from _workload import concat_chunks, iter_chunks, write_csv


def baseline(path: Path) -> float:
    import pandas as pd
    from convertbng.cutil import convert_bng

    t = time.perf_counter()
    df = pd.read_csv(path, engine="pyarrow")
    convert_bng(df["lon"].to_numpy(), df["lat"].to_numpy())
    return time.perf_counter() - t


def time_ingest(n_subjects: int, work: Path) -> dict:
    from trailmon.io.trails import read_trails
    from trailmon.store.trails import TrailStore

    fixes, _ = concat_chunks(list(iter_chunks(n_subjects)))
    csv = work / f"day-{n_subjects}.csv"
    write_csv(fixes, csv)
    n = fixes.n_fixes
    t_base = baseline(csv)
    t = time.perf_counter()
    result = read_trails(csv)
    t_read = time.perf_counter() - t
    store_path = work / f"store-{n_subjects}"
    shutil.rmtree(store_path, ignore_errors=True)
    store = TrailStore(store_path, create=True)
    t = time.perf_counter()
    summary = store.ingest([result])
    t_store = time.perf_counter() - t
    t = time.perf_counter()
    again = store.ingest([result])
    t_again = time.perf_counter() - t
    disk = sum(p.stat().st_size for p in (store_path / "trails").glob("*.parquet"))
    return {"subjects": n_subjects, "fixes": n, "accepted": summary.accepted, "rejected": summary.rejected,
            "baseline_s": t_base, "read_validate_s": t_read, "store_write_s": t_store, "reingest_s": t_again,
            "reingest_added": again.added, "bytes_on_disk_per_fix": disk / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, nargs="+", default=[700, 5000])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        from trailmon.io.trails import read_trails  # warm imports outside the timings
        from trailmon.store.trails import TrailStore  # noqa: F401

        tiny = work / "warm.csv"
        tiny.write_text("subject_id,timestamp,lat,lon\nS,2026-07-14T00:00:00Z,53.8,-1.5\n")
        read_trails(tiny)
        runs = [time_ingest(n, work) for n in args.subjects]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for r in runs:
        n = r["fixes"]
        total = r["read_validate_s"] + r["store_write_s"]
        rows.append((f"{n / 1e6:.2f} M", f"{n / r['baseline_s'] / 1e6:.2f} M/s",
                     f"{n / r['read_validate_s'] / 1e6:.2f} M/s", f"{n / r['store_write_s'] / 1e6:.2f} M/s",
                     f"{n / total / 1e6:.2f} M/s", f"{r['reingest_s']:.2f} s ({r['reingest_added']} added)",
                     f"{r['bytes_on_disk_per_fix']:.1f}"))
    print(table(rows, ("fixes", "pandas+convertbng", "read+validate+OSTN15", "store write", "ingest total",
                       "re-ingest", "bytes/fix on disk")))
    save("ingest", {"runs": runs})
    _ = np


if __name__ == "__main__":
    main()
