"""Index build rate and size (SPEC §6: >= 20 M fixes/s on one core, <= 40 bytes of index per fix).

    python benchmarks/bench_index.py [--subjects 1000 5000]
"""

from __future__ import annotations

import argparse

import numba
from _common import save, table, timed
from _day import day_trails

from trailmon.index import TrailIndex


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    numba.set_num_threads(1)  # the target is per core
    rows, runs = [], []
    for n_subjects in args.subjects:
        trails, _, _ = day_trails(n_subjects, 10)
        TrailIndex.build(trails)  # compile / warm
        s, index = timed(TrailIndex.build, trails, repeat=args.repeat)
        n = trails.n_fixes
        nbytes = index.state.nbytes if hasattr(index.state, "nbytes") else 0
        runs.append({"subjects": n_subjects, "fixes": n, "build_s": s, "fixes_per_s": n / s,
                     "index_bytes_per_fix": nbytes / n})
        rows.append((f"{n:,}", f"{s:.3f} s", f"{n / s / 1e6:.1f} M/s", f"{nbytes / n:.1f}"))
    print(table(rows, ("fixes", "build (1 thread)", "rate", "index bytes/fix")))
    save("index", {"runs": runs})


if __name__ == "__main__":
    main()
