"""``trailmon attendance``: did each subject attend their appointment (a compliance check, audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_accuracy_rule, add_engine, add_identity, add_store, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("attendance", help="appointment attendance from the stored trails",
                       description="One outcome per appointment: inside time, arrival, departure, coverage, status.")
    add_store(p)
    p.add_argument("--appointments", required=True, type=Path, metavar="F",
                   help="appointments CSV (circle lat/lon/radius_m or WGS84 geofence_wkt)")
    p.add_argument("--tz", metavar="ZONE", help="zone of appointment times written without an offset "
                                                 "(e.g. Europe/London)")
    add_accuracy_rule(p)
    add_engine(p)
    p.add_argument("--out", required=True, type=Path, metavar="F")
    add_identity(p, required=False)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon attendance``."""
    from trailmon.cli._common import compliance_identity
    from trailmon.io._time import check_tz
    from trailmon.report.writers import check_suffix
    from trailmon.runs import run_attendance
    from trailmon.store.trails import TrailStore

    user, purpose = compliance_identity(args)
    check_suffix(args.out)
    summary = run_attendance(TrailStore(args.store), args.appointments, args.out, user=user, purpose=purpose,
                             tz=check_tz(args.tz), max_gap_s=args.max_gap, max_accuracy_m=args.max_accuracy,
                             engine=args.engine, scheduler=args.scheduler, workers=args.workers)
    by_status = summary["by_status"]
    emit(args, summary, [f"{summary['outcomes']} appointments: " + ", ".join(f"{k} {v}" for k, v in by_status.items()),
                         f"wrote {args.out}"])
    return 0
