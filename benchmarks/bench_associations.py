"""Co-location over the SPEC §6 national day, side by side with the brute-force twin and pymeos.

    python benchmarks/bench_associations.py [--subjects 5000] [--hours 24] [--sample 40] [--pymeos-pairs 200]

Times (best of --repeat, after a warm-up that compiles the kernels) ``associations()`` over the
whole day at D = 50 m, min duration 600 s (and at 0 s: every together interval), with the number of
candidate (pair, hour) triples the occupancy index leaves. Peers in the same run:

- the brute-force twin (``tests/naive/associations.py``: every pair of subjects, every pair of
  pieces, bisection) on the first ``--sample`` subjects over the first ``--sample-hours`` hours,
  checked equal to trailmon on that subsample and scaled by pairs x hours to the whole day;
- pymeos ``tdwithin`` (``TGeomPointSeqSet.within_distance`` between two trails, SRID 27700) on
  ``--pymeos-pairs`` random pairs, checked equal in together time, scaled to every pair of the day
  (MEOS has no index to find candidates: an all-pairs scan is what it can express).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import save, table, timed
from _day import day_trails

from trailmon.match.associations import associations, known_pieces

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ts(s: float) -> pd.Timestamp:
    return pd.Timestamp(round(s * 1000), unit="ms", tz="UTC")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sample", type=int, default=40, help="subjects of the brute-force subsample")
    ap.add_argument("--sample-hours", type=float, default=2.0, help="hours of the brute-force subsample")
    ap.add_argument("--pymeos-pairs", type=int, default=200)
    args = ap.parse_args()

    t = time.perf_counter()
    trails, _, day = day_trails(n_subjects=args.subjects, n_crimes=10, hours=args.hours)
    gen_s = time.perf_counter() - t
    t0, t1 = float(trails.t_s.min()), float(trails.t_s.max())
    print(f"workload: {args.subjects} subjects, {trails.n_fixes:,} fixes, built in {gen_s:.1f} s", flush=True)

    # warm-up: compile the kernels on a small slice
    small = trails.select_fixes(trails.t_s < t0 + 3600)
    associations(small, _ts(t0), _ts(t0 + 3600))

    rows, out = [], {"subjects": args.subjects, "fixes": trails.n_fixes}
    for min_dur in (600.0, 0.0):
        best, ep = timed(associations, trails, _ts(t0), _ts(t1), distance_m=50.0, min_duration_s=min_dur,
                         repeat=args.repeat)
        pairs = len(ep[["subject_a", "subject_b"]].drop_duplicates())
        out[f"min_duration_{int(min_dur)}"] = {"seconds": best, "episodes": len(ep), "pairs": pairs,
                                               "together_s": float(ep["duration_s"].sum())}
        rows.append((f"associations(), D 50 m, min {min_dur:g} s", f"{best:.2f} s", f"{len(ep):,} episodes, "
                     f"{pairs:,} pairs", ""))

    # the brute-force twin on a subsample, checked equal, scaled by pairs x hours
    from tests.naive import associations as naive

    # the subsample: a window of --sample-hours around the busiest hour of together time, and the
    # subjects together in it first (so the check compares episodes, not only empty answers)
    ep0 = associations(trails, _ts(t0), _ts(t1), distance_m=50.0, min_duration_s=0.0)
    starts = np.array([v.value / 1e9 for v in ep0["start"]]) if len(ep0) else np.array([t0])
    busy = float(np.median(starts))
    w0 = max(t0, busy - args.sample_hours * 1800)
    s1 = min(t1, w0 + args.sample_hours * 3600)
    inside = ep0[(starts >= w0) & (starts <= s1)] if len(ep0) else ep0
    ids = {s: k for k, s in enumerate(trails.subject_ids.tolist())}
    chosen = list(dict.fromkeys(ids[s] for s in inside[["subject_a", "subject_b"]].to_numpy().ravel()))
    chosen = chosen[: args.sample]
    chosen += [k for k in range(trails.n_subjects) if k not in set(chosen)][: args.sample - len(chosen)]
    sub = np.array(sorted(chosen))
    keep = np.isin(trails.subject_of_fix(), sub)
    part = trails.select_fixes(keep)
    nfix = np.diff(part.offsets)[sub]
    offs = np.zeros(len(sub) + 1, dtype=np.int64)
    np.cumsum(nfix, out=offs[1:])
    part = part._replace(subject_ids=part.subject_ids[sub], offsets=offs,
                         win_offsets=np.arange(len(sub) + 1, dtype=np.int64),
                         win_start_s=part.win_start_s[sub], win_end_s=part.win_end_s[sub],
                         window_known=part.window_known[sub])
    t0s = w0
    tw, ref = timed(naive.episodes, part, t0s, s1, 50.0, 0.0)
    tm, got = timed(associations, part, _ts(t0s), _ts(s1), distance_m=50.0, min_duration_s=0.0, repeat=args.repeat)
    same = len(got) == len(ref) and all(
        (r.subject_a, r.subject_b) == e[:2] and abs(r.start.value / 1e9 - e[2]) < 1e-3
        and abs(r.end.value / 1e9 - e[3]) < 1e-3 for r, e in zip(got.itertuples(), ref, strict=True))
    n = trails.n_subjects
    scale = (n * (n - 1) / 2) / (len(sub) * (len(sub) - 1) / 2) * ((t1 - t0) / (s1 - t0s))
    out["naive"] = {"subjects": len(sub), "hours": args.sample_hours, "seconds": tw, "trailmon_seconds": tm,
                    "episodes": len(ref), "equal": bool(same), "scaled_seconds": tw * scale}
    rows.append((f"brute-force twin, {len(sub)} subjects x {args.sample_hours:g} h", f"{tm:.4f} s",
                 f"{tw:.2f} s ({len(ref)} intervals, equal: {same})", f"scaled to the day: {tw * scale:,.0f} s"))

    # pymeos tdwithin on random pairs, scaled to every pair of the day
    try:
        from tests.oracles import meos_trail
    except ImportError:  # pragma: no cover - pymeos absent
        meos_trail = None
    if meos_trail is not None and args.pymeos_pairs > 0:
        tr, pi, pj, pa, pb, ps, poff = known_pieces(trails, t0, t1)
        rng = np.random.default_rng(7)
        pairs = [tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(args.pymeos_pairs)]
        # plant pairs that are together, so the check compares non-zero times too
        pairs[: min(len(ep0), args.pymeos_pairs // 2)] = [
            (ids[a], ids[b]) for a, b in ep0[["subject_a", "subject_b"]].drop_duplicates().values[
                : args.pymeos_pairs // 2]]

        def meos(k):
            lo, hi = tr.offsets[k], tr.offsets[k + 1]
            return meos_trail(tr.t_s[lo:hi], tr.x_m[lo:hi], tr.y_m[lo:hi])

        worst = 0.0
        tstart = time.perf_counter()
        for a, b in pairs:
            tw_ = meos(a).within_distance(meos(b), 50.0)
            spans = tw_.when_true() if tw_ is not None else None
            want = 0.0 if spans is None else spans.duration().total_seconds()
            mine = ep0[(ep0.subject_a == tr.subject_ids[a]) & (ep0.subject_b == tr.subject_ids[b])]["duration_s"]
            worst = max(worst, abs(float(mine.sum()) - want))
        tp = time.perf_counter() - tstart
        scaled = tp / len(pairs) * n * (n - 1) / 2
        out["pymeos"] = {"pairs": len(pairs), "seconds": tp, "scaled_seconds": scaled, "max_abs_diff_s": worst}
        best600 = out["min_duration_600"]["seconds"]
        rows.append((f"pymeos tdwithin, {len(pairs)} pairs (half of them together)", f"{best600:.2f} s",
                     f"{tp:.2f} s, max |diff| {worst:.2e} s", f"scaled to all pairs: {scaled:,.0f} s "
                     f"({scaled / best600:,.0f}x)"))
    print(table(rows, ("what", "trailmon", "peer", "note")))
    print(save("associations", out))


if __name__ == "__main__":
    main()
