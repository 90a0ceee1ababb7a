"""The index path equals brute force on the whole national day (issue: "hits equal the brute-force
reference on the whole national-day workload").

    python benchmarks/check_equality.py [--subjects 5000] [--crimes 10000]

Brute force here means no index at all: every subject is evaluated against every crime with the
same exact per-segment kernels (``evaluate_subject_many``), so any difference is the index missing
or inventing a candidate. The per-segment maths itself is checked against naive twins and MEOS in
the tests. Prints the hit counts, the symmetric difference (must be empty) and the largest
difference in min_distance_m and dwell_s over the common hits.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import save, table
from _day import day_trails

from trailmon.index import TrailIndex
from trailmon.match import _proximity_kernels as K
from trailmon.match import proximity as P
from trailmon.trail import FIX_HALO_S


def brute_force(trails, crimes) -> dict:
    cr = P._crime_arrays(crimes, 100.0)
    out = {}
    for s in range(trails.n_subjects):
        lo, hi = int(trails.offsets[s]), int(trails.offsets[s + 1])
        res = K.evaluate_subject_many(trails.t_s, trails.x_m, trails.y_m, trails.accuracy_m, lo, hi,
                                      trails.win_start_s, trails.win_end_s, int(trails.win_offsets[s]),
                                      int(trails.win_offsets[s + 1]), cr.x, cr.y, cr.r, cr.t1, cr.t2, 600.0,
                                      FIX_HALO_S, False)
        for q in np.flatnonzero(res[:, K.ST_STATUS] == 1.0):
            out[(str(cr.ref[q]), str(trails.subject_ids[s]))] = (float(np.sqrt(res[q, K.ST_D2])), res[q, K.ST_DWELL])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--crimes", type=int, default=10000)
    args = ap.parse_args()
    trails, crimes, _ = day_trails(args.subjects, args.crimes)
    t = time.perf_counter()
    hits = P.proximity(trails, crimes, index=TrailIndex.build(trails), with_evidence=False).hits
    idx_s = time.perf_counter() - t
    ours = {(r.crime_ref, r.subject_id): (r.min_distance_m, r.dwell_s) for r in hits.itertuples()}
    t = time.perf_counter()
    ref = brute_force(trails, crimes)
    bf_s = time.perf_counter() - t
    common = set(ours) & set(ref)
    d_min = max((abs(ours[k][0] - ref[k][0]) for k in common), default=0.0)
    d_dwell = max((abs(ours[k][1] - ref[k][1]) for k in common), default=0.0)
    rows = [("fixes / crimes", f"{trails.n_fixes:,} / {len(crimes):,}"),
            ("hits: index / brute force", f"{len(ours):,} / {len(ref):,}"),
            ("only in index / only in brute force", f"{len(set(ours) - set(ref))} / {len(set(ref) - set(ours))}"),
            ("max |d min_distance_m| / |d dwell_s|", f"{d_min:.2e} m / {d_dwell:.2e} s"),
            ("time: index path / brute force", f"{idx_s:.1f} s / {bf_s:.1f} s")]
    print(table(rows, ("check", "result")))
    same = set(ours) == set(ref) and d_min <= 1e-9 and d_dwell <= 1e-6
    print("EQUAL" if same else "DIFFERENT")
    save("equality", {"fixes": trails.n_fixes, "crimes": len(crimes), "hits_index": len(ours), "hits_brute": len(ref),
                      "only_index": len(set(ours) - set(ref)), "only_brute": len(set(ref) - set(ours)),
                      "max_d_min_m": d_min, "max_d_dwell_s": d_dwell, "equal": same})
    raise SystemExit(0 if same else 1)


if __name__ == "__main__":
    main()
