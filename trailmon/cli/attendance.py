"""``trailmon attendance``: did each subject attend their appointment (a compliance check, audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, common, emit

EARLY_S = 900.0


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("attendance", help="appointment attendance from the stored trails",
                       description="One outcome per appointment: inside time, arrival, departure, coverage, status.")
    add_store(p)
    p.add_argument("--appointments", required=True, type=Path, metavar="F",
                   help="appointments CSV (circle lat/lon/radius_m or WGS84 geofence_wkt)")
    p.add_argument("--tz", metavar="ZONE", help="zone of appointment times written without an offset "
                                                 "(e.g. Europe/London)")
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S", help="seconds (default 600)")
    p.add_argument("--max-accuracy", type=float, default=100.0, metavar="M",
                   help="fixes less accurate than this are set aside, metres (default 100)")
    p.add_argument("--out", required=True, type=Path, metavar="F")
    add_identity(p, required=False)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon attendance``."""
    import pandas as pd

    from trailmon.cli._common import compliance_identity
    from trailmon.cli._run import audit_run, counts, quarantine_rejects, run_id, time_span
    from trailmon.io._time import check_tz
    from trailmon.io.appointments import read_appointments
    from trailmon.match.attendance import attendance
    from trailmon.report.writers import check_suffix, make_provenance, write_table
    from trailmon.store.trails import TrailStore

    user, purpose = compliance_identity(args)
    check_suffix(args.out)
    tz = check_tz(args.tz)
    store = TrailStore(args.store)
    appts = read_appointments(args.appointments, crs=store.crs, tz=tz)
    rid = run_id("attendance")
    qpath = quarantine_rejects(store, appts, rid)
    acc = appts.accepted
    t1, t2 = time_span(acc["start"] - pd.Timedelta(seconds=EARLY_S), acc["end"])
    trails = store.read_span(t1, t2, halo_s=max(args.max_gap, 60.0))
    out = attendance(trails, acc, max_gap_s=args.max_gap, max_accuracy_m=args.max_accuracy)
    params = {"appointments": str(args.appointments), "tz": tz, "max_gap_s": args.max_gap,
              "max_accuracy_m": args.max_accuracy, "store": str(args.store), "run_id": rid}
    prov = make_provenance("attendance", params, transformation=store.crs.info.as_dict(),
                           inputs=[args.appointments], user=user, purpose=purpose)
    write_table(out, args.out, prov)
    by_status = {str(k): int(v) for k, v in out["status"].value_counts().sort_index().items()}
    summary = {"appointments": counts(appts), "outcomes": len(out), "by_status": by_status,
               "outputs": [str(args.out)]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="attendance", kind="compliance", parameters=params,
              subjects=sorted(set(out["subject_id"])), counts={"outcomes": len(out), **by_status})
    emit(args, summary, [f"{len(out)} appointments: " + ", ".join(f"{k} {v}" for k, v in by_status.items()),
                         f"wrote {args.out}"])
    return 0
