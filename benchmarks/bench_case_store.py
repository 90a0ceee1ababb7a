"""Case store growth and time of the nightly proximity step on a national night (issue: evidence at scale).

A generated night at SPEC §6 density — 10,000 crime versions, 27 hits per crime (267,000 hits),
~20 evidence rows per hit (~5.3 M rows), 20,000 gaps near scene — is applied to a case store with
:meth:`CaseStore.apply_proximity` (the nightly job's write, one transaction), and the growth of
``cases.sqlite`` measured:

- **now**: hits and gaps stored, evidence rows digested per hit (SHA-256 of the rows at the
  precision of the figures) and not stored; rows are computed from the trail store on view and
  frozen into ``review_evidence`` when a hit is reviewed;
- **before**: the same plus every evidence row in the ``evidence`` table (what the nightly job
  stored until now), for comparison;
- a second night re-matching the same crimes with unchanged figures (the update path).

Then a few hundred reviews freeze their evidence (what a day of reviewing adds). The frames are
generated directly (no trail store, no matching): this measures the case store, not proximity.

    python -m benchmarks.bench_case_store              # national night
    python -m benchmarks.bench_case_store --scale 0.1  # a tenth
    python -m benchmarks.bench_case_store --no-before  # without the slow comparison
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import save, table
from trailmon.store.cases import CaseStore

DAY = pd.Timestamp("2026-07-14T00:00:00Z")


def night(n_crimes: int, hits_per_crime: int, rows_per_hit: int, n_gaps: int, seed: int = 7):
    """Crimes, hits, evidence and gaps frames as the nightly job hands them to the case store."""
    rng = np.random.default_rng(seed)
    refs = np.array([f"CR{k:07d}" for k in range(n_crimes)], dtype=object)
    forces = np.array([f"F{k % 43:02d}" for k in range(n_crimes)], dtype=object)
    t1 = DAY.value + rng.integers(0, 86_400, n_crimes) * 10**9
    t2 = t1 + rng.integers(900, 43_200, n_crimes) * 10**9
    x = rng.uniform(375_000, 405_000, n_crimes)
    y = rng.uniform(385_000, 410_000, n_crimes)
    crimes = pd.DataFrame(
        {
            "crime_ref": refs,
            "crime_version": 1,
            "offence": "TFP",
            "offence_group": "theft_from_person",
            "x_m": x,
            "y_m": y,
            "lat": 53.0 + (y - 385_000) / 111_000,
            "lon": -1.5 + (x - 375_000) / 67_000,
            "committed_from": pd.to_datetime(t1, utc=True),
            "committed_to": pd.to_datetime(t2, utc=True),
            "radius_m": 100.0,
            "force": forces,
            "batch_id": "b1",
            "source_format": "generic",
        }
    )
    n_hits = n_crimes * hits_per_crime
    crime_of = np.repeat(np.arange(n_crimes), hits_per_crime)
    subj = np.array([f"S{k:04d}" for k in range(5000)], dtype=object)
    sub_of = np.concatenate([rng.choice(5000, hits_per_crime, replace=False) for _ in range(n_crimes)])
    closest = t1[crime_of] + rng.integers(0, 900, n_hits) * 10**9 + rng.integers(0, 10**9, n_hits)
    hits = pd.DataFrame(
        {
            "crime_ref": refs[crime_of],
            "crime_version": 1,
            "subject_id": subj[sub_of],
            "min_distance_m": rng.uniform(0, 100, n_hits),
            "closest_time": pd.to_datetime(closest, utc=True),
            "first_within": pd.to_datetime(closest - rng.integers(1, 600, n_hits) * 10**9, utc=True),
            "last_within": pd.to_datetime(closest + rng.integers(1, 600, n_hits) * 10**9, utc=True),
            "dwell_s": rng.uniform(1, 1200, n_hits),
            "passes": rng.integers(1, 3, n_hits),
            "n_fixes_within": rng.integers(0, 20, n_hits),
            "between_fixes": rng.random(n_hits) < 0.2,
            "accuracy_m": rng.choice([5.0, 8.0, 10.0, 250.0], n_hits),
            "confidence": rng.choice(np.array(["high", "medium", "low"], dtype=object), n_hits),
            "coverage": rng.uniform(0.5, 1, n_hits),
            "flags": "",
            "force": forces[crime_of],
        }
    )
    per = rng.integers(max(2, rows_per_hit // 2), rows_per_hit * 3 // 2 + 1, n_hits)
    h = np.repeat(np.arange(n_hits), per)
    seq = np.arange(len(h)) - np.repeat(np.cumsum(per) - per, per) + 1
    n_ev = len(h)
    kind = np.where(seq == 1, 1, np.where(seq == per[h], 2, 0))
    t = closest[h] + (seq - per[h] // 2) * 60 * 10**9 + rng.integers(0, 10**6, n_ev) * 1000
    e = x[crime_of[h]] + rng.normal(0, 60, n_ev)
    nn = y[crime_of[h]] + rng.normal(0, 60, n_ev)
    d = np.hypot(e - x[crime_of[h]], nn - y[crime_of[h]])
    evidence = pd.DataFrame(
        {
            "crime_ref": hits["crime_ref"].to_numpy()[h],
            "crime_version": 1,
            "subject_id": hits["subject_id"].to_numpy()[h],
            "label": pd.Categorical(["A" + str(s) for s in range(1, seq.max() + 1)])[seq - 1],
            "pass": "A",
            "seq": seq,
            "kind": pd.Categorical.from_codes(kind, ["fix", "first", "last"]),
            "time": pd.to_datetime(t, utc=True),
            "lat": 53.0 + (nn - 385_000) / 111_000,
            "lon": -1.5 + (e - 375_000) / 67_000,
            "easting": e,
            "northing": nn,
            "distance_m": d,
            "within_r": d <= 100.0,
            "accuracy_m": rng.choice([5.0, 8.0, 10.0, 250.0], n_ev),
            "speed_kmh": rng.uniform(0, 60, n_ev),
            "heading_deg": rng.uniform(0, 360, n_ev),
            "fix_type": pd.Categorical.from_codes((rng.random(n_ev) < 0.03).astype(int), ["gps", "lbs"]),
            "flags": "",
            "force": hits["force"].to_numpy()[h],
        }
    )
    g = rng.choice(n_hits, n_gaps, replace=False)
    gs = closest[g] - rng.integers(600, 3600, n_gaps) * 10**9
    gaps = pd.DataFrame(
        {
            "crime_ref": hits["crime_ref"].to_numpy()[g],
            "crime_version": 1,
            "subject_id": hits["subject_id"].to_numpy()[g],
            "gap_start": pd.to_datetime(gs, utc=True),
            "gap_end": pd.to_datetime(gs + 1200 * 10**9, utc=True),
            "gap_s": 1200.0,
            "before_distance_m": rng.uniform(0, 500, n_gaps),
            "after_distance_m": rng.uniform(0, 500, n_gaps),
            "coverage": rng.uniform(0, 1, n_gaps),
            "force": hits["force"].to_numpy()[g],
        }
    )
    return crimes, hits, evidence, gaps


def size(path: Path) -> int:
    """Bytes of the database and its journal files."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def store_old_rows(cases: CaseStore, evidence: pd.DataFrame) -> None:
    """Every evidence row in the ``evidence`` table, as the nightly job did before (for comparison)."""
    from trailmon.store.cases import _evidence_rows

    ids = {
        (f, r, int(v), s): int(i)
        for i, f, r, v, s in cases.conn.execute(
            "SELECT hit_id, force, crime_ref, crime_version, subject_id FROM hits"
        ).fetchall()
    }
    hid = [
        ids[(f, r, 1, s)]
        for f, r, s in zip(evidence["force"], evidence["crime_ref"], evidence["subject_id"], strict=True)
    ]
    with cases.transaction() as c:
        c.executemany(
            "INSERT INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ((h, *row) for h, row in zip(hid, _evidence_rows(evidence), strict=True)),
        )


def run(scale: float, folder: Path, designs=("now", "before")) -> dict:
    n_crimes = max(10, int(10_000 * scale))
    t = time.perf_counter()
    crimes, hits, evidence, gaps = night(n_crimes, 27, 20, max(10, int(20_000 * scale)))
    gen_s = time.perf_counter() - t
    print(f"generated {len(crimes):,} crimes, {len(hits):,} hits, {len(evidence):,} evidence rows, "
          f"{len(gaps):,} gaps in {gen_s:.1f} s", flush=True)
    out: dict = {"crimes": len(crimes), "hits": len(hits), "evidence_rows": len(evidence), "gaps": len(gaps)}
    results = {}
    for design in designs:
        path = folder / f"{design}.sqlite"
        with CaseStore(path, create=True) as cases:
            with cases.transaction() as c:
                cases.upsert_crimes(c, crimes, "r0")
        base = size(path)
        with CaseStore(path) as cases:
            t, cpu = time.perf_counter(), time.process_time()
            with cases.transaction() as c:
                res = cases.apply_proximity(
                    c, crimes[["force", "crime_ref", "crime_version"]], hits, evidence, gaps,
                    run_id="r1", report_day="2026-07-15",
                )
            step, step_cpu = time.perf_counter() - t, time.process_time() - cpu
            if design == "before":
                t, cpu = time.perf_counter(), time.process_time()
                store_old_rows(cases, evidence)
                step, step_cpu = step + time.perf_counter() - t, step_cpu + time.process_time() - cpu
        grown = size(path) - base
        results[design] = {"step_s": round(step, 2), "cpu_s": round(step_cpu, 2), "growth_mb": round(grown / 1e6, 1)}
        print(f"{design}: nightly proximity write {step:.1f} s (CPU {step_cpu:.1f} s), case store "
              f"+{grown / 1e6:.1f} MB ({res['new']:,} hits new)", flush=True)
        if design == "now":
            with CaseStore(path) as cases:  # a second night: the same crimes re-matched, figures unchanged
                t, cpu = time.perf_counter(), time.process_time()
                with cases.transaction() as c:
                    res2 = cases.apply_proximity(
                        c, crimes[["force", "crime_ref", "crime_version"]], hits, evidence, gaps,
                        run_id="r2", report_day="2026-07-16",
                    )
                again, again_cpu = time.perf_counter() - t, time.process_time() - cpu
            extra = (size(path) - base - grown) / 1e6
            results["rematch_unchanged"] = {"step_s": round(again, 2), "cpu_s": round(again_cpu, 2),
                                            "growth_mb": round(extra, 1)}
            print(f"re-match, unchanged: {again:.1f} s (CPU {again_cpu:.1f} s; {res2['unchanged']:,} unchanged), "
                  f"+{extra:.1f} MB", flush=True)
            # a day of reviewing: 500 verdicts, each freezing its evidence rows
            with CaseStore(path) as cases:
                before_rev = size(path)
                ids = cases.frame("SELECT hit_id, force, crime_ref, subject_id FROM hits ORDER BY hit_id LIMIT 500")
                key = evidence.set_index(["force", "crime_ref", "subject_id"]).sort_index()
                shown = [(int(hid), key.loc[(f, r, s)].reset_index()) for hid, f, r, s in ids.itertuples(index=False)]
                t = time.perf_counter()
                for hid, rows in shown:
                    cases.review(hid, "qualified", user="bench", evidence=rows)
                rev_s = time.perf_counter() - t
                results["reviews_500"] = {"s": round(rev_s, 2), "growth_mb": round((size(path) - before_rev) / 1e6, 2)}
                print(f"500 reviews freezing their evidence: {rev_s:.1f} s, +{(size(path) - before_rev) / 1e6:.2f} MB",
                      flush=True)
            from trailmon.store.cases import evidence_digests

            t, cpu = time.perf_counter(), time.process_time()
            evidence_digests(evidence)
            results["digest_s"] = round(time.perf_counter() - t, 2)
            results["digest_cpu_s"] = round(time.process_time() - cpu, 2)
            print(f"fingerprints alone: {results['digest_s']:.1f} s (CPU {results['digest_cpu_s']:.1f} s)",
                  flush=True)
        os.remove(path)
    out.update(results)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the national night (default 1)")
    ap.add_argument("--dir", type=Path, default=None, help="folder for the databases (default a temporary one)")
    ap.add_argument("--no-before", action="store_true", help="skip the comparison with every row stored (slow)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        got = run(args.scale, Path(d), ("now",) if args.no_before else ("now", "before"))
    rows = [
        ("nightly proximity write, now (fingerprints, no rows)", got["now"]["step_s"], got["now"]["cpu_s"],
         got["now"]["growth_mb"]),
        *(
            [("the same, before (every evidence row in SQLite)", got["before"]["step_s"], got["before"]["cpu_s"],
              got["before"]["growth_mb"])]
            if "before" in got
            else []
        ),
        ("a second night re-matching it unchanged", got["rematch_unchanged"]["step_s"],
         got["rematch_unchanged"]["cpu_s"], got["rematch_unchanged"]["growth_mb"]),
        ("500 reviews freezing their evidence", got["reviews_500"]["s"], "", got["reviews_500"]["growth_mb"]),
    ]
    print(table(rows, ("what", "wall s", "CPU s", "case store growth, MB")))
    print(f"path: {save('case_store', {'scale': args.scale, **got})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
