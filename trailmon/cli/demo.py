"""``trailmon demo``: the whole job on the shipped sample traces."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("demo", help="run the whole job on the shipped sample traces",
                       description="Ingest sample_traces/ into OUT/store, match its crimes, appointments and zones, "
                                   "and write the reports under OUT/reports.")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--sample", type=Path, metavar="DIR", help="sample folder (default: the shipped sample_traces/)")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon demo``."""
    from trailmon.demo import run_demo

    summary = run_demo(args.out, sample=args.sample, quiet=args.json)
    lines = [f"demo written to {args.out}"]
    ing = summary["ingest"]
    lines.append(f"  ingest: read {ing['read']}, accepted {ing['accepted']}, rejected {ing['rejected']} "
                 f"(quarantine: {ing['quarantine']})")
    for name, info in summary.get("reports", {}).items():
        lines.append(f"  {name}: {info}")
    lines.append(f"look at: {summary['look_at']}")
    emit(args, summary, lines)
    return 0
