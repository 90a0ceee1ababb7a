"""A crime series against routine on a 29-day store (SPEC §3), beside the per-window loop and the brute-force twin.

    python benchmarks/bench_series.py [--subjects 5000] [--days 14] [--crimes 20] [--naive-pairs 10]

The workload is ``_workload.py``'s national day repeated over 2 x days + 1 consecutive days (the
generator draws each day's tours afresh; homes and hotspots stay), so a routine exists: people go
home every night and revisit the shared hotspots. The series is ``--crimes`` crimes on the middle
day, each at a fix of a random subject (so each has at least one hit) with a window of 15 min to
2 h. Times (best of --repeat after a warm-up):

- the path ``trailmon series`` takes, at any size: the crime day for everyone (``hit_subjects``),
  then ``series()`` on the 2 x days + 1 days of the hit subjects only (the month is generated a
  second time keeping those subjects, block by block, so a national month never sits in memory);
- up to 1,000 subjects, also ``series()`` on everyone's month in memory (the same rows);
- the per-window loop: ``proximity()`` of the existing API called once per shift on the same
  trails with one index built beforehand (what one would write without a series function; hits
  only, so it lacks the counted days);
- the brute-force twin (``tests/naive/series.py``: §3 proximity in plain Python on each shifted
  window) on ``--naive-pairs`` (subject, crime) pairs, checked equal, scaled to every pair.

pymeos has no notion of shifted local days; the series is 28 x crimes tdwithin calls per subject
there, which the per-window loop already bounds from below.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import save, table, timed
from _workload import START, concat_chunks, iter_chunks

from trailmon.match.proximity import proximity
from trailmon.match.series import hit_subjects, series, shifted_windows
from trailmon.trail import Trails, windows_to_csr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DAY = 86_400.0


def _subjects_of(fx, keep: np.ndarray):
    """The fixes of one generated block for the subjects ``keep`` (bool over the block's subjects)."""
    counts = np.diff(fx.offsets)
    take = np.repeat(keep, counts)
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[keep], out=offsets[1:])
    return fx._replace(subject_ids=np.asarray(fx.subject_ids)[keep], offsets=offsets,
                       **{k: getattr(fx, k)[take] for k in ("t_s", "x_m", "y_m", "accuracy_m", "fix_code")})


def month_trails(n_subjects: int, days: int, *, only_day: int | None = None, keep: np.ndarray | None = None) -> Trails:
    """``2 * days + 1`` generated days with the national day's date in the middle, as one :class:`Trails`.

    ``only_day`` keeps that day (0-based) alone; ``keep`` (bool over all subjects) keeps those subjects
    alone, block by block as they are generated, so a national-size month never sits in memory.
    """
    start = (pd.Timestamp(START) - pd.Timedelta(days=days)).isoformat().replace("+00:00", "Z")
    per_day: dict[int, list] = {}
    for c in iter_chunks(n_subjects, days=2 * days + 1, start=start):
        if only_day is not None and c.day != only_day:
            continue
        fx = c.fixes
        if keep is not None:
            fx = _subjects_of(fx, keep[c.first_subject:c.first_subject + len(fx.subject_ids)])
        per_day.setdefault(c.day, []).append(c._replace(fixes=fx))
    fixes = [concat_chunks(per_day[d])[0] for d in sorted(per_day)]
    ids = np.asarray(fixes[0].subject_ids, dtype=object)
    # interleave the days per subject: subject-major, time order
    counts = np.stack([np.diff(f.offsets) for f in fixes])  # (day, subject)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=offsets[1:])
    idx = []
    for s in range(len(ids)):
        base = 0
        for f in fixes:
            idx.append(np.arange(f.offsets[s], f.offsets[s + 1]) + base)
            base += f.n_fixes
    take = np.concatenate(idx)
    cat = {k: np.concatenate([getattr(f, k) for f in fixes])[take] for k in ("t_s", "x_m", "y_m", "accuracy_m",
                                                                            "fix_code")}
    n = len(take)
    wo, ws, we, known = windows_to_csr(ids, None)
    nan = np.full(n, np.nan)
    return Trails(subject_ids=ids, offsets=offsets, t_s=np.ascontiguousarray(cat["t_s"], dtype=np.float64),
                  x_m=np.ascontiguousarray(cat["x_m"]), y_m=np.ascontiguousarray(cat["y_m"]), lat=nan, lon=nan,
                  accuracy_m=np.ascontiguousarray(cat["accuracy_m"]), fix_type=cat["fix_code"].astype(np.int8),
                  speed_mps=nan, heading_deg=nan, flags=np.zeros(n, np.int32), win_offsets=wo, win_start_s=ws,
                  win_end_s=we, window_known=known)


def series_crimes(trails: Trails, n: int, day0_s: float, seed: int = 17) -> pd.DataFrame:
    """``n`` crimes on the day starting ``day0_s``, each at a fix of a random subject, windows 15 min - 2 h."""
    rng = np.random.default_rng(seed)
    on_day = np.flatnonzero((trails.t_s >= day0_s + 7 * 3600) & (trails.t_s < day0_s + 21 * 3600))
    pick = rng.choice(on_day, n, replace=False)
    width = rng.uniform(900, 7200, n)
    t1 = trails.t_s[pick] - rng.uniform(0, 1, n) * width
    return pd.DataFrame({
        "crime_ref": [f"SER{k + 1:02d}" for k in range(n)],
        "x_m": trails.x_m[pick] + rng.normal(0, 30, n), "y_m": trails.y_m[pick] + rng.normal(0, 30, n),
        "committed_from": pd.to_datetime(np.round(t1 * 1e3).astype("int64"), unit="ms", utc=True),
        "committed_to": pd.to_datetime(np.round((t1 + width) * 1e3).astype("int64"), unit="ms", utc=True),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--crimes", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-pairs", type=int, default=10)
    args = ap.parse_args()

    day0 = pd.Timestamp(START).value / 1e9
    rows, out = [], {"subjects": args.subjects, "days": args.days, "crimes": args.crimes}

    # the path of `trailmon series` at any size: the crime day for everyone, then the month of the hit
    # subjects only (generated twice, block by block, so the month of everyone never sits in memory)
    t = time.perf_counter()
    crime_day = month_trails(args.subjects, args.days, only_day=args.days)
    crimes = series_crimes(crime_day, args.crimes, day0)
    near, t_near = None, float("inf")
    hit_subjects(crime_day.select_fixes(crime_day.t_s < day0 + 3600), crimes.head(1))  # warm-up: compile
    for _ in range(args.repeat):
        t1 = time.perf_counter()
        near = hit_subjects(crime_day, crimes)
        t_near = min(t_near, time.perf_counter() - t1)
    keep = np.isin(crime_day.subject_ids, np.asarray(near, dtype=object))
    month = month_trails(args.subjects, args.days, keep=keep)
    gen_s = time.perf_counter() - t - t_near * args.repeat
    print(f"workload: {args.subjects} subjects, crime day {crime_day.n_fixes:,} fixes; {len(near)} hit subjects x "
          f"{2 * args.days + 1} days, {month.n_fixes:,} fixes (generated in {gen_s:.0f} s), {len(crimes)} crimes",
          flush=True)
    series(month, crimes.head(2), days=2)  # warm-up: compile
    t_series, res = timed(series, month, crimes, days=args.days, repeat=args.repeat)
    best_cli = t_near + t_series
    out.update({"crime_day_fixes": crime_day.n_fixes, "hit_subjects": len(near), "month_fixes": month.n_fixes,
                "hit_subjects_s": t_near, "series_s": t_series, "ranked": len(res.ranked)})
    rows.append((f"hit subjects on the crime day ({args.subjects} subjects)", f"{t_near:.2f} s",
                 f"{len(near)} subjects", ""))
    rows.append((f"series() on their {2 * args.days + 1} days ({month.n_fixes:,} fixes)", f"{t_series:.2f} s",
                 f"{len(res.ranked)} ranked", f"total {best_cli:.2f} s"))
    trails = month

    if args.subjects <= 1000:  # everyone's month in memory: the same rows
        everyone = month_trails(args.subjects, args.days)
        best, res_all = timed(series, everyone, crimes, days=args.days, repeat=args.repeat)
        assert res_all.ranked.equals(res.ranked) and res_all.long.equals(res.long)
        out["series_all_in_memory_s"] = best
        rows.append((f"series(), everyone's month in memory ({everyone.n_fixes:,} fixes)", f"{best:.2f} s",
                     "same rows", ""))
        del everyone

    shifts = [k for k in range(-args.days, args.days + 1) if k != 0]
    a, b = shifted_windows(pd.DatetimeIndex(crimes["committed_from"]).as_unit("ns").asi8 / 1e9,
                           pd.DatetimeIndex(crimes["committed_to"]).as_unit("ns").asi8 / 1e9, shifts)
    from trailmon.index import TrailIndex

    index = TrailIndex.build(trails)  # built once: the loop re-uses it, as series() re-uses its own

    def loop():
        n = 0
        for j in range(len(shifts)):
            shifted = crimes.assign(committed_from=pd.to_datetime(np.round(a[:, j] * 1e9).astype("int64"), utc=True),
                                    committed_to=pd.to_datetime(np.round(b[:, j] * 1e9).astype("int64"), utc=True))
            n += len(proximity(trails, shifted, with_evidence=False, index=index).hits)
        return n

    t_loop, _ = timed(loop, repeat=1)
    out["per_window_loop_s"] = t_loop
    rows.append((f"per-window loop: proximity() x {len(shifts)} shifts on the same trails", f"{t_series:.2f} s",
                 f"{t_loop:.2f} s", f"{t_loop / t_series:.1f}x (and it lacks the counted days)"))

    # brute-force twin on a few (subject, crime) pairs
    from tests.naive import series as naive

    long = res.long[res.long["hit"].astype(bool)].head(args.naive_pairs)
    tn = 0.0
    equal = True
    for row in long.itertuples(index=False):
        s = trails.subject_index(row.subject_id)
        c = crimes[crimes["crime_ref"] == row.crime_ref].iloc[0]
        one = trails.select_fixes(trails.subject_of_fix() == s)
        one = one._replace(subject_ids=one.subject_ids[s:s + 1], offsets=np.array([0, one.n_fixes]),
                           win_offsets=np.array([0, 1]), win_start_s=one.win_start_s[s:s + 1],
                           win_end_s=one.win_end_s[s:s + 1], window_known=one.window_known[s:s + 1])
        crime = [(float(c.x_m), float(c.y_m), 100.0, c.committed_from.value / 1e9, c.committed_to.value / 1e9)]
        t = time.perf_counter()
        ref = naive.series(one, crime, args.days)
        tn += time.perf_counter() - t
        hit, p, n = ref[row.subject_id]["long"][0]
        equal &= hit == bool(row.hit) and n == row.counted_days and (
            (p is None and np.isnan(row.p)) or (p is not None and abs(p - row.p) < 1e-12))
    per_pair = tn / max(len(long), 1)
    scaled = per_pair * len(res.long)
    out["naive"] = {"pairs": len(long), "seconds": tn, "per_pair_s": per_pair, "scaled_s": scaled,
                    "equal": bool(equal)}
    rows.append((f"brute-force twin, {len(long)} (subject, crime) pairs", f"{t_series:.2f} s",
                 f"{tn:.1f} s (equal: {equal})", f"scaled to the {len(res.long)} pairs: {scaled:,.0f} s"))
    print(table(rows, ("what", "trailmon", "peer", "note")))
    print(save("series", out))


if __name__ == "__main__":
    main()
