"""``trailmon zones``: exclusion-zone visits and curfew absences (a compliance check, audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, common, emit


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
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S")
    p.add_argument("--max-accuracy", type=float, default=100.0, metavar="M")
    p.add_argument("--min-event", type=float, default=0.0, metavar="S", help="drop shorter events, seconds")
    p.add_argument("--out", required=True, type=Path, metavar="F")
    add_identity(p, required=False)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon zones``."""
    from trailmon.cli._common import compliance_identity
    from trailmon.cli._run import audit_run, counts, quarantine_rejects, run_id
    from trailmon.errors import InputError
    from trailmon.io._time import check_tz, parse_instant
    from trailmon.io.zones import read_zones
    from trailmon.match.zones import zones
    from trailmon.report.writers import check_suffix, make_provenance, write_table
    from trailmon.store.trails import TrailStore

    user, purpose = compliance_identity(args)
    check_suffix(args.out)
    tz = check_tz(args.tz)
    t1 = parse_instant(args.t_from, tz, what="--from")
    t2 = parse_instant(args.t_to, tz, what="--to")
    if t2 < t1:
        raise InputError(f"--to ({args.t_to}) is before --from ({args.t_from})")
    store = TrailStore(args.store)
    zres = read_zones(args.zones, crs=store.crs, tz=tz)
    rid = run_id("zones")
    qpath = quarantine_rejects(store, zres, rid)
    trails = store.read(t1, t2, halo_s=max(args.max_gap, 60.0))
    out = zones(trails, zres.accepted, t1, t2, tz=tz or "Europe/London", max_gap_s=args.max_gap,
                max_accuracy_m=args.max_accuracy, min_event_s=args.min_event)
    params = {"zones": str(args.zones), "from": t1.isoformat(), "to": t2.isoformat(), "tz": tz or "Europe/London",
              "max_gap_s": args.max_gap, "max_accuracy_m": args.max_accuracy, "min_event_s": args.min_event,
              "store": str(args.store), "run_id": rid}
    prov = make_provenance("zones", params, transformation=store.crs.info.as_dict(), inputs=[args.zones],
                           user=user, purpose=purpose)
    write_table(out, args.out, prov)
    by_event = {str(k): int(v) for k, v in out["event"].value_counts().sort_index().items()}
    summary = {"zones": counts(zres), "events": len(out), "by_event": by_event, "outputs": [str(args.out)]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="zones", kind="compliance", parameters=params,
              subjects=sorted(set(out["subject_id"])), counts={"events": len(out), **by_event})
    emit(args, summary, [f"{len(out)} zone events: " + ", ".join(f"{k} {v}" for k, v in by_event.items()),
                         f"wrote {args.out}"])
    return 0
