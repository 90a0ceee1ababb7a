"""Scale-out benchmark (SPEC §6 last bullet): a month of national data on disk, matched on Dask.

1. Writes ``--subjects`` x ``--days`` of the shared workload (60 s fixes) into a trail store,
   streaming one UTC day at a time (generator -> ``TrailStore.ingest``; never more than a day
   in memory), and plants ``--crimes`` crimes per day (~30 % near a trail, windows 15 min -
   12 h, some across midnight).
2. Matches all the crimes with :func:`trailmon.distributed.proximity` on a local cluster of 1,
   then 2 single-threaded workers (after a warm-up that loads the numba kernels in every
   worker), and reports fixes/s and crimes/s per worker, peak memory per worker process, bytes
   on disk per fix, and the arithmetic that extrapolates to a year on N workers.

The month's evidence frame would hold hundreds of millions of rows on the client, so the timed
runs build hits and gaps near scene (``with_evidence=False``); ``--evidence-days`` times the
evidence on the first days' crimes apart.

Usage::

    python -m benchmarks.bench_scale --subjects 5000 --days 30 --crimes 10000 --store /tmp/month
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import machine, save
from benchmarks._workload import (
    AREA,
    SEED,
    START,
    concat_chunks,
    homes_and_hotspots,
    iter_chunks,
    lonlat,
    plant_crimes,
)
from trailmon import distributed
from trailmon.io.quarantine import ReadResult, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.store.trails import TrailStore

DAY_S = 86_400


def _day_result(fixes, day: int) -> ReadResult:
    lon, lat = lonlat(fixes.x_m, fixes.y_m)
    n = fixes.n_fixes
    df = pd.DataFrame(
        {
            "subject_id": fixes.subject_id.astype(object),
            "t_ns": (fixes.t_s * 1e9).astype(np.int64),
            "x_m": fixes.x_m,
            "y_m": fixes.y_m,
            "lat": lat,
            "lon": lon,
            "accuracy_m": fixes.accuracy_m,
            "fix_type": fixes.fix_code.astype(np.int8),
            "speed_mps": np.full(n, np.nan),
            "heading_deg": np.full(n, np.nan),
        }
    )[TRAIL_INPUT]
    df["row"] = np.arange(1, n + 1)
    return ReadResult(df, empty_rejected(), n, files=[f"day{day}"])


def write_store(
    path: Path, n_subjects: int, days: int, crimes_per_day: int
) -> tuple[TrailStore, pd.DataFrame, dict]:
    """The month on disk, one day at a time; returns the store, the crimes and timings."""
    if path.exists():
        shutil.rmtree(path)
    store = TrailStore(path, create=True)
    _, _, hot_x, hot_y = homes_and_hotspots(n_subjects, SEED, AREA)
    rng = np.random.default_rng([SEED, 99])
    day0 = pd.Timestamp(START).value // 10**9
    crimes, pending = [], []
    n_fix = 0
    t_gen = t_ingest = 0.0
    t = time.perf_counter()

    def flush(chunks):
        nonlocal n_fix, t_ingest
        fixes, _ = concat_chunks(chunks)
        d = chunks[0].day
        lo = float(day0 + d * DAY_S)
        hi = lo + DAY_S + (6 * 3600 if d + 1 < days else 0)  # windows may run into the next day
        crimes.append(
            plant_crimes(fixes, crimes_per_day, rng, (lo, hi), AREA, hot_x, hot_y, prefix=f"M{d:03d}-")
        )
        t0 = time.perf_counter()
        store.ingest([_day_result(fixes, d)])
        t_ingest += time.perf_counter() - t0
        n_fix += fixes.n_fixes
        print(f"day {d + 1}/{days}: {fixes.n_fixes:,} fixes", file=sys.stderr, flush=True)

    for chunk in iter_chunks(n_subjects, days=days):
        if pending and chunk.day != pending[0].day:
            flush(pending)
            pending = []
        pending.append(chunk)
    flush(pending)
    t_gen = time.perf_counter() - t - t_ingest
    frame = pd.concat(crimes, ignore_index=True)[
        ["crime_ref", "offence", "x_m", "y_m", "committed_from", "committed_to", "radius_m"]
    ]
    disk = sum(p.stat().st_size for p in (path / "trails").glob("*.parquet"))
    return store, frame, {"fixes": n_fix, "generate_s": t_gen, "ingest_s": t_ingest, "bytes_on_disk": disk}


def _peak_rss_bytes() -> int:
    """This process's peak RSS (ru_maxrss survives exec, so a spawned worker starts at its parent's)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _start_sampler(dask_worker) -> int:
    """Sample this worker process's RSS every 50 ms from now on; the peak is kept on the worker."""
    import threading

    import psutil

    proc = psutil.Process()
    dask_worker.bench_peak_rss = proc.memory_info().rss
    dask_worker.bench_sampling = True

    def loop():
        while dask_worker.bench_sampling:
            dask_worker.bench_peak_rss = max(dask_worker.bench_peak_rss, proc.memory_info().rss)
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    return dask_worker.bench_peak_rss


def _stop_sampler(dask_worker) -> int:
    dask_worker.bench_sampling = False
    return dask_worker.bench_peak_rss


def run_workers(store: TrailStore, crimes: pd.DataFrame, workers: int) -> dict:
    """Time the month's crimes on ``workers`` local worker processes."""
    with distributed.connect(workers=workers) as client:
        t = time.perf_counter()
        distributed.proximity(
            store, crimes.iloc[:50], client=client, progress=False
        )  # warm-up: kernels loaded
        client.run(lambda: None)
        warm = time.perf_counter() - t
        start_rss = client.run(_start_sampler)
        t = time.perf_counter()
        res = distributed.proximity(store, crimes, client=client, with_evidence=False, progress=True)
        wall = time.perf_counter() - t
        peaks = client.run(_stop_sampler)
    return {
        "workers": workers,
        "warmup_s": warm,
        "wall_s": wall,
        "hits": len(res.hits),
        "gaps": len(res.gaps),
        "worker_rss_before_gb": sorted(v / 2**30 for v in start_rss.values()),
        "worker_peak_rss_gb": sorted(v / 2**30 for v in peaks.values()),
        "client_peak_rss_gb": _peak_rss_bytes() / 2**30,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument(
        "--crimes", type=int, default=10_000, help="crimes per day (default 10,000: 300,000 a month)"
    )
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--store", type=Path, default=Path("/tmp/trailmon-month"))
    ap.add_argument(
        "--reuse", action="store_true", help="reuse the store (and crimes.parquet) written before"
    )
    ap.add_argument("--evidence-days", type=int, default=1, help="days of crimes timed with evidence too")
    args = ap.parse_args(argv)

    crimes_path = args.store.with_suffix(".crimes.parquet")
    if args.reuse and crimes_path.exists():
        store, crimes = TrailStore(args.store), pd.read_parquet(crimes_path)
        disk = sum(p.stat().st_size for p in (args.store / "trails").glob("*.parquet"))
        n_fix = int(json.loads((args.store / "bench.json").read_text())["fixes"])
        written = {"fixes": n_fix, "bytes_on_disk": disk, "reused": True}
    else:
        store, crimes, written = write_store(args.store, args.subjects, args.days, args.crimes)
        crimes.to_parquet(crimes_path)
        (args.store / "bench.json").write_text(json.dumps({"fixes": written["fixes"]}))
    n_fix, n_crimes = written["fixes"], len(crimes)
    print(
        f"store: {n_fix:,} fixes, {written['bytes_on_disk'] / n_fix:.2f} bytes/fix on disk; "
        f"{n_crimes:,} crimes",
        file=sys.stderr,
    )

    runs = [run_workers(store, crimes, w) for w in args.workers]
    for r in runs:
        w = r["workers"]
        r["fixes_per_s_per_worker"] = n_fix / r["wall_s"] / w
        r["crimes_per_s_per_worker"] = n_crimes / r["wall_s"] / w

    evidence = None
    if args.evidence_days:
        day_end = crimes.committed_from.min().floor("D") + pd.Timedelta(days=args.evidence_days)
        sub = crimes[crimes.committed_from < day_end]
        with distributed.connect(workers=max(args.workers)) as client:
            distributed.proximity(store, sub.iloc[:50], client=client, progress=False)
            t = time.perf_counter()
            res = distributed.proximity(store, sub, client=client, progress=False)
            evidence = {
                "crimes": len(sub),
                "wall_s": time.perf_counter() - t,
                "hits": len(res.hits),
                "evidence_rows": len(res.evidence),
                "workers": max(args.workers),
            }

    # a year on N workers: the same work per day of data, 365 days, spread over N workers
    for r in runs:
        r["worker_s_per_day"] = r["wall_s"] * r["workers"] / args.days  # worker-seconds per day of data
    base = min(runs, key=lambda r: r["workers"])
    best = max(runs, key=lambda r: r["workers"])
    year_fix = 365 * written["fixes"] / args.days
    extrapolation = {
        "basis": f"worker-seconds per day of data measured with {best['workers']} worker(s), linear in N",
        "worker_s_per_day": best["worker_s_per_day"],
        "scaling_efficiency": base["wall_s"] * base["workers"] / (best["wall_s"] * best["workers"]),
        "year_fixes": year_fix,
        "year_crimes": 365 * n_crimes / args.days,
        "year_bytes_on_disk": year_fix * written["bytes_on_disk"] / written["fixes"],
        "year_hours_on_N_workers": {n: 365 * best["worker_s_per_day"] / n / 3600 for n in (1, 2, 8, 32, 128)},
    }
    payload = {
        "written": written,
        "fixes": n_fix,
        "crimes": n_crimes,
        "days": args.days,
        "subjects": args.subjects,
        "runs": runs,
        "evidence": evidence,
        "extrapolation": extrapolation,
    }
    print(json.dumps(payload, indent=1, default=str))
    save("scale", payload)
    print(json.dumps(machine()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
