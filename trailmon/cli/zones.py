"""``trailmon zones``: exclusion-zone visits and curfew absences (a compliance check, audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_accuracy_rule, add_engine, add_identity, add_store, common, emit, parse_period


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("zones", help="exclusion visits and inclusion (curfew) absences",
                       description="One row per event: visit, absence or no_data (unknown position while active).")
    add_store(p)
    p.add_argument("--zones", required=True, type=Path, metavar="F", help="zones CSV")
    p.add_argument("--from", dest="t_from", required=True, metavar="T")
    p.add_argument("--to", dest="t_to", required=True, metavar="T")
    p.add_argument("--tz", metavar="ZONE", default=None,
                   help="zone of daily schedules and of times written without an offset (default Europe/London "
                        "for schedules)")
    add_accuracy_rule(p)
    p.add_argument("--min-event", type=float, default=0.0, metavar="S", help="drop shorter events, seconds")
    add_engine(p)
    p.add_argument("--out", required=True, type=Path, metavar="F")
    add_identity(p, required=False)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon zones``."""
    from trailmon.cli._common import compliance_identity
    from trailmon.report.writers import check_suffix
    from trailmon.runs import run_zones
    from trailmon.store.trails import TrailStore

    user, purpose = compliance_identity(args)
    check_suffix(args.out)
    tz, t1, t2 = parse_period(args)
    summary = run_zones(TrailStore(args.store), args.zones, args.out, t1, t2, user=user, purpose=purpose, tz=tz,
                        max_gap_s=args.max_gap, max_accuracy_m=args.max_accuracy, min_event_s=args.min_event,
                        engine=args.engine, scheduler=args.scheduler, workers=args.workers)
    by_event = summary["by_event"]
    emit(args, summary, [f"{summary['events']} zone events: " + ", ".join(f"{k} {v}" for k, v in by_event.items()),
                         f"wrote {args.out}"])
    return 0
