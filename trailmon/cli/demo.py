"""``trailmon demo``: the whole job on the shipped sample traces."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_base_layer_args, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("demo", help="run the whole job on the shipped sample traces",
                       description="Ingest sample_traces/ into OUT/store, match its crimes, appointments and zones, "
                                   "and write the reports under OUT/reports.")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--sample", type=Path, metavar="DIR", help="sample folder (default: the shipped sample_traces/)")
    add_base_layer_args(p)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon demo``."""
    from trailmon.demo import run_demo

    summary = run_demo(args.out, sample=args.sample, tiles=args.tiles, basemap=args.basemap)
    night = summary["nightly"]
    lines = [f"demo written to {args.out}",
             f"  nightly run: {night.get('status', 'done')}; case records in {summary['case_records']}",
             f"  {len(summary['crime_reports'])} proximity reports in {args.out}/crimes, "
             f"{len(summary['subject_maps'])} subject maps in {args.out}/maps",
             f"  evidence pack: {', '.join(summary['evidence_packs']) or '-'}; "
             f"{len(summary['receipts'])} ingestion receipts",
             f"  audit log: {summary['audit_log']}",
             f"open in a browser: {summary['look_at']}"]
    emit(args, summary, lines)
    return 0
