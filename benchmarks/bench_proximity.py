"""Proximity on the SPEC §6 national day, side by side with GeoPandas sjoin and pymeos.

    python benchmarks/bench_proximity.py [--subjects 5000] [--crimes 10000] [--pymeos-crimes 20]

Times (best of --repeat, after a warm-up that compiles the kernels): index build; the batch of
crimes to the hits frame on 1 and 2 threads; evidence and gaps near scene apart; the end-to-end
``proximity()`` call from the loaded arrays. Peers in the same run: GeoPandas ``sjoin`` of fixes
against crime buffers (fast, not exact: we count the exact hits it misses) on the whole day, and
pymeos nearest-approach on a subsample of crimes against every subject, scaled to the full batch
(stated in the table). Agreement with pymeos is checked on the subsample.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import pandas as pd
from _common import save, table, timed
from _day import day_trails

from trailmon.index import TrailIndex
from trailmon.match import proximity as P


def hits_only(index, crimes, radius_m=100.0):
    cr = P._crime_arrays(crimes, radius_m)
    return P._hits_frame(index.trails, cr, P._hits_of(index, cr.x, cr.y, cr.r, cr.t1, cr.t2, False))


def split(index, crimes, repeat):
    """Best wall and CPU seconds of each stage of the batch: crimes, candidates, per-pair kernel, frame, gaps."""
    from trailmon.index import _kernels as IK
    from trailmon.match import _proximity_kernels as K

    tr, s = index.trails, index.state
    out = {}

    def stage(name, fn):
        best_w, best_c, res = float("inf"), float("inf"), None
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            res = fn()
            best_w, best_c = min(best_w, time.perf_counter() - t), min(best_c, time.process_time() - c)
        out[f"{name}_s"], out[f"{name}_cpu_s"] = best_w, best_c
        return res

    cr = stage("crime_arrays", lambda: P._crime_arrays(crimes, 100.0))
    offsets, cands = stage("candidates", lambda: IK.candidates_many(
        tr.t_s, s.chunk_f0, s.chunk_f1, s.chunk_x0, s.chunk_y0, s.chunk_x1, s.chunk_y1, s.slot_offsets,
        s.slot_chunks, s.cell_m, s.bucket_s, cr.x, cr.y, cr.r, cr.t1, cr.t2))
    subj = s.chunk_subject[cands]
    qall = np.repeat(np.arange(len(cr.x), dtype=np.int64), np.diff(offsets))
    new = np.ones(len(cands), dtype=bool)
    new[1:] = (subj[1:] != subj[:-1]) | (qall[1:] != qall[:-1])
    starts = np.flatnonzero(new)
    go = np.append(starts, len(cands)).astype(np.int64)
    common = (tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, tr.offsets, tr.win_start_s, tr.win_end_s, tr.win_offsets,
              s.chunk_f0, s.chunk_f1, s.chunk_x0, s.chunk_y0, s.chunk_x1, s.chunk_y1, s.run_offsets, s.run_start,
              s.run_end)
    res = stage("pair_kernel", lambda: K.evaluate_groups(*common, cands, go, qall[starts], cr.x, cr.y, cr.r, cr.t1,
                                                         cr.t2, s.max_gap_s, s.halo_s, False))
    h = P._hit_arrays(qall[starts], subj[starts], res, cr.r)
    stage("hits_frame", lambda: P._hits_frame(tr, cr, h))
    g = stage("gaps", lambda: P._gaps_of(index, cr.x, cr.y, cr.t1, cr.t2, h))
    stage("gaps_frame", lambda: P._gaps_frame(tr, cr, g))
    out["candidate_chunks"] = int(len(cands))
    out["pairs_evaluated"] = int(len(starts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--crimes", type=int, default=10000)
    ap.add_argument("--pymeos-crimes", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t = time.perf_counter()
    trails, crimes, _ = day_trails(args.subjects, args.crimes)
    gen_s = time.perf_counter() - t
    n = trails.n_fixes
    print(f"national day: {args.subjects} subjects, {n:,} fixes, {len(crimes):,} crimes (generated in {gen_s:.1f} s)")

    # warm-up: compile every kernel on a small slice
    t = time.perf_counter()
    small = TrailIndex.build(trails)
    P.proximity(trails, crimes.head(50), index=small)
    P.proximity(trails, crimes.head(1), index=small)
    compile_s = time.perf_counter() - t

    build_s, index = timed(TrailIndex.build, trails, repeat=args.repeat)
    index_bytes = index.state.nbytes if hasattr(index.state, "nbytes") else sum(
        a.nbytes for a in index.state if isinstance(a, np.ndarray))
    rows = []
    res = {"fixes": n, "crimes": len(crimes), "first_call_incl_compile_s": compile_s,
           "build_s": build_s, "build_fixes_per_s": n / build_s, "index_bytes_per_fix": index_bytes / n}
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        res[f"split_{threads}t"] = split(index, crimes, args.repeat)
        q_s, hits = timed(hits_only, index, crimes, repeat=args.repeat)
        res[f"hits_{threads}t_s"] = q_s
        e2e_s, _ = timed(lambda: hits_only(TrailIndex.build(trails), crimes), repeat=args.repeat)
        res[f"hits_incl_build_{threads}t_s"] = e2e_s
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    full_s, result = timed(P.proximity, trails, crimes, index=index, repeat=1)
    res["proximity_full_s"] = full_s
    res["hits"] = len(result.hits)
    res["evidence_rows"] = len(result.evidence)
    res["gaps_rows"] = len(result.gaps)
    exact = set(zip(result.hits["crime_ref"], result.hits["subject_id"], strict=True))

    # GeoPandas sjoin on fixes
    from peers import PymeosTrails, geopandas_sjoin_hits

    fixes = pd.DataFrame({"subject_id": np.repeat(trails.subject_ids, np.diff(trails.offsets)), "t_s": trails.t_s,
                          "x_m": trails.x_m, "y_m": trails.y_m})
    gp_s, gp_hits = timed(geopandas_sjoin_hits, fixes, crimes, repeat=1)
    res["geopandas_s"] = gp_s
    res["geopandas_hits"] = len(gp_hits)
    res["geopandas_missed_share"] = 1 - len(gp_hits & exact) / max(len(exact), 1)
    res["geopandas_false_hits"] = len(gp_hits - exact)

    # pymeos on a subsample of crimes against every subject, scaled
    sub = crimes.sample(n=min(args.pymeos_crimes, len(crimes)), random_state=1)
    t = time.perf_counter()
    pm = PymeosTrails(trails)
    pm_build_s = time.perf_counter() - t
    pm_s, pm_hits = timed(pm.hits, sub, repeat=1)
    res["pymeos_build_s"] = pm_build_s
    res["pymeos_subsample_crimes"] = len(sub)
    res["pymeos_scaled_s"] = pm_s * len(crimes) / len(sub)
    ours = hits_only(index, sub)
    ours_d = dict(zip(zip(ours["crime_ref"], ours["subject_id"], strict=True), ours["min_distance_m"], strict=True))
    res["pymeos_same_hit_set"] = set(ours_d) == set(pm_hits)
    res["pymeos_max_abs_diff_m"] = max((abs(ours_d[k] - pm_hits[k]) for k in set(ours_d) & set(pm_hits)), default=0.0)

    ours_2t = res["hits_2t_s"]
    rows = [
        ("index build", f"{build_s:.3f} s ({n / build_s / 1e6:.1f} M fixes/s)", "", "target >= 20 M fixes/s"),
        ("index size", f"{res['index_bytes_per_fix']:.1f} B/fix", "", "target <= 40 B/fix"),
        ("10k crimes -> hits, 1 thread", f"{res['hits_1t_s']:.3f} s", "", ""),
        ("10k crimes -> hits, 2 threads", f"{ours_2t:.3f} s", "", "target <= 0.5 s"),
        ("  incl. index build, 2 threads", f"{res['hits_incl_build_2t_s']:.3f} s", "", "target <= 2 s"),
        ("proximity() with evidence + gaps", f"{full_s:.3f} s", "", f"{res['evidence_rows']:,} evidence rows"),
        ("GeoPandas sjoin on fixes", f"{ours_2t:.3f} s", f"{gp_s:.2f} s", f"{gp_s / ours_2t:.0f}x; misses "
         f"{res['geopandas_missed_share']:.0%} of exact hits"),
        ("pymeos nearest approach (scaled)", f"{ours_2t:.3f} s", f"{res['pymeos_scaled_s']:.0f} s",
         f"{res['pymeos_scaled_s'] / ours_2t:.0f}x; from {len(sub)} crimes x all subjects; same hits: "
         f"{res['pymeos_same_hit_set']}, max diff {res['pymeos_max_abs_diff_m']:.1e} m"),
    ]
    print(f"hits: {res['hits']:,} ({res['hits'] / len(crimes):.1f} per crime)")
    for threads in (1, 2):
        sp = res[f"split_{threads}t"]
        print(f"split, {threads} thread(s), wall (CPU) s: " + ", ".join(
            f"{k} {sp[k + '_s']:.3f} ({sp[k + '_cpu_s']:.3f})" for k in
            ("crime_arrays", "candidates", "pair_kernel", "hits_frame", "gaps", "gaps_frame")))
    print(table(rows, ("what", "trailmon", "peer", "note")))
    save("proximity", res)


if __name__ == "__main__":
    main()
