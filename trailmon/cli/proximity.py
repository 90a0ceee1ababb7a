"""``trailmon proximity``: which tagged people were within R of each crime scene while it was committed."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_engine, add_identity, add_store, check_positive_options, common, emit


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
    p.add_argument("--evidence", choices=("all", "none"), default="all",
                   help="'none': write hits and gaps only, no evidence file (default all)")
    add_engine(p)
    p.add_argument("--out", required=True, type=Path, metavar="F", help="hits file (.csv/.jsonl/.geojson/.parquet)")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon proximity``."""
    from trailmon.io._time import check_tz
    from trailmon.report.writers import check_suffix
    from trailmon.runs import run_proximity
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="proximity")
    check_suffix(args.out)
    check_positive_options(args, radius="metres", max_gap="seconds")
    tz = check_tz(args.tz)
    summary = run_proximity(TrailStore(args.store), args.crimes, args.out, user=user, purpose=purpose,
                            radius_m=args.radius, max_gap_s=args.max_gap, include_uncertain=args.include_uncertain,
                            tz=tz, engine=args.engine, scheduler=args.scheduler, workers=args.workers,
                            evidence=args.evidence)
    c = summary["crimes"]
    emit(args, summary, [
        f"crimes: read {c['read']}, accepted {c['accepted']}, rejected {c['rejected']}",
        f"hits: {summary['hits']}  evidence rows: "
        f"{summary['evidence_rows'] if summary['evidence_rows'] is not None else 'not built (--evidence none)'}  "
        f"gaps near scene: {summary['gaps_near_scene']}",
        *[f"wrote {p}" for p in summary["outputs"]],
    ])
    return 0
