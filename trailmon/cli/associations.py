"""``trailmon associations``: episodes of two subjects together, exactly (co-location; audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, check_positive_options, common, emit, parse_period


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("associations", help="co-location episodes of pairs of subjects (audited)",
                       description="Co-location (SPEC §3): every episode of two subjects within --distance of each "
                                   "other for at least --min-duration, clipped to [--from, --to], to --out; each is "
                                   "recorded in the case store as a pending association for review. Output format "
                                   "by extension: .csv, .jsonl, .geojson, .parquet.")
    add_store(p)
    p.add_argument("--from", dest="t_from", required=True, metavar="T", help="start of the period (ISO 8601)")
    p.add_argument("--to", dest="t_to", required=True, metavar="T", help="end of the period (ISO 8601)")
    p.add_argument("--tz", metavar="ZONE", help="zone of --from/--to written without an offset")
    p.add_argument("--distance", type=float, default=50.0, metavar="M",
                   help="together means at most this far apart, metres (default 50)")
    p.add_argument("--min-duration", type=float, default=600.0, metavar="S",
                   help="shortest episode reported, seconds (default 600)")
    p.add_argument("--subject", action="append", metavar="S",
                   help="keep pairs involving this subject (repeatable)")
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S",
                   help="longest gap still interpolated, seconds (default 600)")
    p.add_argument("--max-accuracy", type=float, default=100.0, metavar="M",
                   help="fixes less accurate than this are set aside, metres (default 100)")
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    p.add_argument("--out", required=True, type=Path, metavar="F", help="episodes (.csv/.jsonl/.geojson/.parquet)")
    p.add_argument("--map", type=Path, metavar="F.html", help="also draw one episode on a map")
    p.add_argument("--episode", type=int, default=1, metavar="N", help="the episode --map draws (default 1)")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon associations``."""
    from trailmon.errors import InputError
    from trailmon.report.association_report import run_associations
    from trailmon.report.writers import check_suffix
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="associations")
    check_suffix(args.out)
    tz, t1, t2 = parse_period(args)
    check_positive_options(args, distance="metres")
    if not args.min_duration >= 0:
        raise InputError(f"--min-duration must be >= 0 seconds, got {args.min_duration!r}")
    if args.map is not None and args.map.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--map must be an .html file, got {str(args.map)!r}")
    summary = run_associations(TrailStore(args.store), t1, t2, args.out, user=user, purpose=purpose,
                               distance_m=args.distance, min_duration_s=args.min_duration, subjects=args.subject,
                               max_gap_s=args.max_gap, max_accuracy_m=args.max_accuracy, db=args.db,
                               map_out=args.map, episode=args.episode)
    r = summary["recorded"]
    emit(args, summary, [
        f"episodes: {summary['episodes']} between {summary['pairs']} pair(s)",
        f"case records: {r['new']} new, {r['updated']} updated, {r['unchanged']} unchanged",
        *[f"wrote {p}" for p in summary["outputs"]],
    ])
    return 0
