"""``trailmon series``: rank subjects against a crime series by how far their hits exceed their routine."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, check_positive_options, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("series", help="rank subjects against a crime series and their routine (audited)",
                       description="Crime series against routine (SPEC §3): the ranked subjects to --out, one row "
                                   "per (subject, crime) to <stem>.long<ext>. Output format by extension: .csv, "
                                   ".jsonl, .geojson, .parquet.")
    add_store(p)
    p.add_argument("--crimes", required=True, type=Path, metavar="F",
                   help="the series: generic CSV, crime-mapping 13-column CSV or data.police.uk CSV (sniffed)")
    p.add_argument("--radius", type=float, metavar="M", help="radius for crimes without one, metres (default 100)")
    p.add_argument("--days", type=int, default=14, metavar="N",
                   help="shifted local days either side that make the routine baseline (default 14)")
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S",
                   help="longest gap still interpolated, seconds (default 600)")
    p.add_argument("--tz", metavar="ZONE", help="zone of crime times written without an offset")
    p.add_argument("--out", required=True, type=Path, metavar="F", help="ranked table (.csv/.jsonl/.geojson/.parquet)")
    p.add_argument("--map", type=Path, metavar="F.html", help="also draw the series map (crimes numbered, top tracks)")
    p.add_argument("--report", type=Path, metavar="F.html", help="also write the printable series report")
    p.add_argument("--top", type=int, default=5, metavar="N", help="subjects drawn on the map (default 5)")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon series``."""
    from trailmon.errors import InputError
    from trailmon.io._time import check_tz
    from trailmon.report.series_report import run_series
    from trailmon.report.writers import check_suffix
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="series")
    check_suffix(args.out)
    check_positive_options(args, radius="metres")
    if args.days < 1:
        raise InputError(f"--days must be >= 1, got {args.days!r}")
    check_positive_options(args, max_gap="seconds")
    for name, path in (("--map", args.map), ("--report", args.report)):
        if path is not None and path.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"{name} must be an .html file, got {str(path)!r}")
    summary = run_series(TrailStore(args.store), args.crimes, args.out, user=user, purpose=purpose,
                         radius_m=args.radius, days=args.days, max_gap_s=args.max_gap, tz=check_tz(args.tz),
                         map_out=args.map, report_out=args.report, top=args.top)
    c = summary["crimes"]
    emit(args, summary, [
        f"crimes: read {c['read']}, accepted {c['accepted']}, rejected {c['rejected']}",
        f"subjects with a hit: {summary['subjects']}",
        *[f"wrote {p}" for p in summary["outputs"]],
    ])
    return 0
