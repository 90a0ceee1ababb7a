"""One night on a store with a month of history (SPEC §8 "Memory and time grow with what changed").

    python benchmarks/bench_nightly.py [--subjects 5000] [--days 30] [--crimes 10000] [--late 0.05]
                                       [--engine local dask] [--work DIR] [--reuse]

Builds a trail store holding ``--days`` national days (SPEC §6 generator, ``_workload.py``: 5,000
subjects at one fix a minute by default, ~6.8 M fixes a day) and the subjects file, runs a first
nightly job that consumes the store's change journal (not timed), then times **one night** that
brings: the next day's trail file, ``--crimes`` crimes of which ``--late`` are reported late
(windows 1-30 days back, so each reads its own day of history), and the EM caseload re-sent (new
bytes, the same monitoring windows: it re-matches nothing). The night runs in a fresh process per
engine (``local``, ``dask`` with 2 workers); reported: wall time of ``run_nightly``, of its proximity
step (SPEC §6 target <= 30 s for a national night) and the case store's growth in that step (<= 100 MB),
peak RSS of the job's process and, for Dask, of its largest worker, and what the night re-matched. Between engines
the store and case store are put back as they were before the night.

The store is kept in ``--work`` (default a temporary folder); ``--reuse`` skips building it when
``--work`` already holds one of the same size.
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
from _workload import (
    AREA,
    SEED,
    START,
    concat_chunks,
    homes_and_hotspots,
    iter_chunks,
    lonlat,
    plant_crimes,
    subjects_frame,
    write_csv,
)

DAY_S = 86_400


def _read_result(fixes, file: str):
    """The generator's fixes as a reader's result (what ``read_trails`` gives for its CSV)."""
    from trailmon.io.quarantine import ReadResult, empty_rejected
    from trailmon.report._columns import TRAIL_INPUT
    from trailmon.trail import FIX_TYPES

    lon, lat = lonlat(fixes.x_m, fixes.y_m)
    n = np.diff(fixes.offsets)
    df = pd.DataFrame({
        "subject_id": np.repeat(fixes.subject_ids.astype(str), n).astype(object),
        "t_ns": (np.round(fixes.t_s * 1e3).astype(np.int64) * 10**6),
        "x_m": fixes.x_m, "y_m": fixes.y_m, "lat": lat, "lon": lon, "accuracy_m": fixes.accuracy_m,
        "fix_type": np.asarray(FIX_TYPES, dtype=object)[fixes.fix_code.astype(np.int64)],
        "speed_mps": np.nan, "heading_deg": np.nan,
    })[TRAIL_INPUT]
    df["row"] = np.arange(1, len(df) + 1)
    return ReadResult(df, empty_rejected(), len(df), files=[file])


def build(work: Path, n_subjects: int, days: int) -> dict:
    """The store with ``days`` days and the subjects, and the inbox of the night after them."""
    from trailmon.io.subjects import read_subjects
    from trailmon.nightly import run_nightly
    from trailmon.store.trails import TrailStore

    if work.exists():
        shutil.rmtree(work)
    (work / "inbox").mkdir(parents=True)
    store = TrailStore(work / "store", create=True)
    subj = subjects_frame(n_subjects)
    caseload = work / "subjects.csv"
    subj.to_csv(caseload, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    store.ingest(subjects=[read_subjects(caseload)])
    t0 = time.perf_counter()
    n_fixes = 0
    day_chunks: list = []
    for chunk in iter_chunks(n_subjects, days=days + 1):
        if day_chunks and chunk.day != day_chunks[0].day:
            n_fixes += _ingest_day(store, work, day_chunks, days)
            day_chunks = []
        day_chunks.append(chunk)
    last, _ = concat_chunks(day_chunks)
    built_s = time.perf_counter() - t0
    run_nightly(work / "store", work / "inbox", work / "out", as_of=_as_of(days))  # consumes the journal
    # the night: the next day, crimes (some late), the caseload re-sent with new bytes
    (work / "night" / "trails").mkdir(parents=True)
    write_csv(last, work / "night" / "trails" / f"day{days + 1}.csv")
    _, _, hot_x, hot_y = homes_and_hotspots(n_subjects, SEED, AREA)
    return {"fixes_stored": n_fixes, "fixes_new_day": int(len(last.t_s)), "build_s": round(built_s, 1),
            "_last": last, "_hot": (hot_x, hot_y), "_subjects": subj}


def _ingest_day(store, work: Path, chunks: list, days: int) -> int:
    fixes, _ = concat_chunks(chunks)
    if chunks[0].day >= days:
        return 0
    store.ingest([_read_result(fixes, f"day{chunks[0].day + 1}.csv")])
    print(f"  day {chunks[0].day + 1}: {len(fixes.t_s):,} fixes stored", file=sys.stderr)
    return int(len(fixes.t_s))


def _as_of(days: int) -> str:
    t = pd.Timestamp(START) + pd.Timedelta(days=days, hours=2)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def night_inbox(work: Path, info: dict, days: int, n_crimes: int, late: float) -> dict:
    """Crimes (``late`` share moved 1-30 days back) and the re-sent caseload, beside the new day."""
    rng = np.random.default_rng([SEED, 31])
    start = pd.Timestamp(START).value // 10**9 + days * DAY_S
    hot_x, hot_y = info["_hot"]
    crimes = plant_crimes(info["_last"], n_crimes, rng, (float(start), float(start + DAY_S)), AREA, hot_x, hot_y)
    n_late = int(round(late * n_crimes))
    late_rows = rng.choice(n_crimes, n_late, replace=False)
    back = pd.Series(pd.to_timedelta(rng.integers(1, min(30, days) + 1, n_late) * DAY_S, unit="s"), index=late_rows)
    for col in ("committed_from", "committed_to"):
        crimes.loc[late_rows, col] = crimes.loc[late_rows, col] - back
    out = pd.DataFrame({
        "crime_ref": crimes["crime_ref"], "offence": "TFP", "easting": crimes["x_m"], "northing": crimes["y_m"],
        "committed_from": crimes["committed_from"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "committed_to": crimes["committed_to"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "radius_m": crimes["radius_m"]})
    (work / "night" / "crimes").mkdir(parents=True, exist_ok=True)
    out.to_csv(work / "night" / "crimes" / "crimes.csv", index=False)
    resent = info["_subjects"].assign(offender_manager=lambda f: f["offender_manager"] + " (re-sent)")
    (work / "night" / "subjects").mkdir(parents=True, exist_ok=True)
    resent.to_csv(work / "night" / "subjects" / "caseload.csv", index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return {"crimes": n_crimes, "late_crimes": n_late}


_CHILD = r"""
import json, os, resource, sys, time
from trailmon.nightly import run_nightly
work, as_of, engine = sys.argv[1], sys.argv[2], sys.argv[3]
kw = {"engine": engine} if engine == "local" else {"engine": engine, "workers": 2}
steps = {}

def cases_bytes():  # the database file once its write-ahead log is copied into it
    import sqlite3
    db = work + "/store/cases.sqlite"
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(PASSIVE)")
    con.close()
    return os.path.getsize(db)

peak = [0]  # the largest resident set seen since the last step ended, bytes (sampled every 0.05 s)
step_peak = {}

def sample():
    while True:
        with open("/proc/self/statm") as f:
            peak[0] = max(peak[0], int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        time.sleep(0.05)

if os.path.exists("/proc/self/statm"):
    import threading
    threading.Thread(target=sample, daemon=True).start()

def hook(step):  # each step's end: the step's wall time, the case store's size and the step's peak memory
    steps[step] = (time.perf_counter(), cases_bytes())
    step_peak[step] = round(peak[0] / 2**30, 2)
    peak[0] = 0

t = time.perf_counter()
s = run_nightly(work + "/store", work + "/inbox", work + "/out", as_of=as_of, _hook=hook, **kw)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "proximity_s": steps["proximity"][0] - steps["records"][0],
                  "proximity_growth_mb": (steps["proximity"][1] - steps["records"][1]) / 2**20,
                  "children_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
                  "crimes_matched": s["proximity"]["crimes"], "hits": s["proximity"]["hits"],
                  "trail_spans": s["records"]["trail_spans"],
                  "step_end_s": {k: round(v[0] - t, 1) for k, v in steps.items()}, "step_peak_rss_gb": step_peak}))
"""


def run_night(work: Path, days: int, engine: str) -> dict:
    saved = work / "saved"  # the store's top-level files (manifest, subjects, case store, audit log)
    if saved.exists():  # put the store back as it was before the night (its day files are kept by then)
        for log in ("cases.sqlite-wal", "cases.sqlite-shm"):  # a night's log (one killed too) is not the copy's
            (work / "store" / log).unlink(missing_ok=True)
        for f in saved.iterdir():
            shutil.copy2(f, work / "store" / f.name)
    else:
        saved.mkdir()
        for f in (work / "store").iterdir():
            if f.is_file() and not f.name.startswith("."):
                shutil.copy2(f, saved / f.name)
    shutil.rmtree(work / "inbox", ignore_errors=True)
    shutil.copytree(work / "night", work / "inbox")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(work), _as_of(days + 1), engine], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--crimes", type=int, default=10_000)
    ap.add_argument("--late", type=float, default=0.05)
    ap.add_argument("--engine", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    ap.add_argument("--work", type=Path)
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-nightly-"))
    meta = work / "bench.json"
    key = {"subjects": args.subjects, "days": args.days, "crimes": args.crimes, "late": args.late}
    if args.reuse and meta.exists() and json.loads(meta.read_text())["key"] == key:
        info = json.loads(meta.read_text())["info"]
        print(f"reusing the store in {work}", file=sys.stderr)
    else:
        print(f"building {args.days} days x {args.subjects} subjects in {work}", file=sys.stderr)
        full = build(work, args.subjects, args.days)
        info = {k: v for k, v in full.items() if not k.startswith("_")}
        info.update(night_inbox(work, full, args.days, args.crimes, args.late))
        meta.write_text(json.dumps({"key": key, "info": info}))
    rows, results = [], {}
    for engine in args.engine:
        r = run_night(work, args.days, engine)
        results[engine] = r
        rows.append((engine, f"{r['wall_s']:.1f}", f"{r['proximity_s']:.1f}", f"{r['proximity_growth_mb']:+.1f}",
                     f"{r['rss_gb']:.2f}", f"{r['children_rss_gb']:.2f}", r["crimes_matched"], r["hits"],
                     r["trail_spans"]))
    print(table(rows, ("engine", "night wall s", "proximity step s (target <= 30)",
                       "case store growth in it MB (target <= 100)", "peak RSS GB (job)",
                       "peak RSS GB (largest child)", "crimes matched", "hits", "queued spans")))
    for engine, r in results.items():  # where the night's time and memory went
        print(f"{engine}: steps end at (s) {r['step_end_s']}; peak RSS by step (GB) {r['step_peak_rss_gb']}")
    print(json.dumps(info))
    save("nightly", {**key, **info, "results": results})


if __name__ == "__main__":
    main()
