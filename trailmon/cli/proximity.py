"""``trailmon proximity``: which tagged people were within R of each crime scene while it was committed."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("proximity", help="match crimes against the stored trails (audited)",
                       description="Exact crime-scene proximity: hits to --out, evidence to <stem>.evidence<ext>, "
                                   "gaps near scene to <stem>.gaps<ext>. Output format by extension: "
                                   ".csv, .jsonl, .geojson, .parquet.")
    add_store(p)
    p.add_argument("--crimes", required=True, type=Path, metavar="F",
                   help="crimes: generic CSV, crime-mapping 13-column CSV or data.police.uk CSV (sniffed)")
    p.add_argument("--radius", type=float, metavar="M", help="radius for crimes without one, metres (default 100)")
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S",
                   help="longest gap still interpolated, seconds (default 600)")
    p.add_argument("--include-uncertain", action="store_true",
                   help="also list 'low' candidates within R only by the fix accuracy")
    p.add_argument("--tz", metavar="ZONE", help="zone of crime times written without an offset")
    p.add_argument("--out", required=True, type=Path, metavar="F", help="hits file (.csv/.jsonl/.geojson/.parquet)")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon proximity``."""
    from trailmon.cli._run import audit_run, counts, quarantine_rejects, run_id, time_span
    from trailmon.errors import InputError
    from trailmon.io._time import check_tz
    from trailmon.io.crimes import distinct_crimes, read_crimes
    from trailmon.match.proximity import proximity
    from trailmon.report.writers import check_suffix, make_provenance, sibling, write_table
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="proximity")
    check_suffix(args.out)
    if args.radius is not None and not args.radius > 0:
        raise InputError(f"--radius must be > 0 metres, got {args.radius!r}")
    if not args.max_gap > 0:
        raise InputError(f"--max-gap must be > 0 seconds, got {args.max_gap!r}")
    tz = check_tz(args.tz)
    store = TrailStore(args.store)
    crimes = read_crimes(args.crimes, crs=store.crs, tz=tz, radius_m=args.radius)
    rid = run_id("proximity")
    qpath = quarantine_rejects(store, crimes, rid)
    accepted = distinct_crimes(crimes.accepted)
    t1, t2 = time_span(accepted["committed_from"], accepted["committed_to"])
    trails = store.read_span(t1, t2, halo_s=max(args.max_gap, 60.0))
    radius = args.radius if args.radius is not None else 100.0
    result = proximity(trails, accepted, radius_m=radius, max_gap_s=args.max_gap,
                       include_uncertain=args.include_uncertain, crs=store.crs)
    params = {"radius_m": radius, "max_gap_s": args.max_gap, "include_uncertain": args.include_uncertain,
              "crimes": str(args.crimes), "tz": tz, "store": str(args.store), "run_id": rid}
    prov = make_provenance("proximity", params, transformation=store.crs.info.as_dict(), inputs=[args.crimes],
                           user=user, purpose=purpose)
    outputs = [write_table(result.hits, args.out, prov),
               write_table(result.evidence, sibling(args.out, "evidence"), prov),
               write_table(result.gaps, sibling(args.out, "gaps"), prov)]
    summary = {"crimes": counts(crimes), "hits": len(result.hits), "evidence_rows": len(result.evidence),
               "gaps_near_scene": len(result.gaps), "outputs": [str(p) for p in outputs]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="proximity", kind="consultation", parameters=params,
              subjects=sorted(set(result.hits["subject_id"]) | set(result.gaps["subject_id"])),
              counts={k: v for k, v in summary.items() if k in ("hits", "evidence_rows", "gaps_near_scene")})
    c = summary["crimes"]
    emit(args, summary, [
        f"crimes: read {c['read']}, accepted {c['accepted']}, rejected {c['rejected']}",
        f"hits: {summary['hits']}  evidence rows: {summary['evidence_rows']}  "
        f"gaps near scene: {summary['gaps_near_scene']}",
        *[f"wrote {p}" for p in summary["outputs"]],
    ])
    return 0
