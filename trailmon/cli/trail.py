"""``trailmon trail``: where a subject was between two times (audited, capped at 48 h)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, common, emit, parse_period
from trailmon.report.trail_rows import MAX_WINDOW_S, trail_frame


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("trail", help="a subject's stored fixes over a period (audited)",
                       description="One row per stored fix in [--from, --to] inside the monitoring windows. "
                                   "A window wider than 48 h needs --justify (audited).")
    add_store(p)
    p.add_argument("--subject", required=True, metavar="S")
    p.add_argument("--from", dest="t_from", required=True, metavar="T", help="ISO 8601 with an offset or Z")
    p.add_argument("--to", dest="t_to", required=True, metavar="T", help="ISO 8601 with an offset or Z")
    p.add_argument("--justify", metavar="TEXT", help="why a window wider than 48 h is needed")
    p.add_argument("--tz", metavar="ZONE", help="zone of --from/--to written without an offset")
    p.add_argument("--out", required=True, type=Path, metavar="F")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon trail``."""
    from trailmon.errors import AccessRefusedError
    from trailmon.report.writers import check_suffix, make_provenance, write_table
    from trailmon.store.audit import audit_run, require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="trail")
    check_suffix(args.out)
    tz, t1, t2 = parse_period(args)
    span = (t2 - t1).total_seconds()
    if span > MAX_WINDOW_S and not (args.justify and args.justify.strip()):
        raise AccessRefusedError(f"a trail over {span / 3600:.1f} h is wider than the 48 h cap; "
                                 "give --justify TEXT (it is audited) or narrow --from/--to")
    store = TrailStore(args.store)
    trails = store.read(t1, t2, [args.subject], halo_s=0.0)
    df = trail_frame(trails, args.subject)
    df = df[(df["time"] >= t1) & (df["time"] <= t2)].reset_index(drop=True)
    params = {"subject": args.subject, "from": t1.isoformat(), "to": t2.isoformat(), "justify": args.justify,
              "store": str(args.store)}
    prov = make_provenance("trail", params, transformation=store.crs.info.as_dict(), user=user, purpose=purpose)
    write_table(df, args.out, prov)
    audit_run(store, user=user, purpose=purpose, action="trail", kind="consultation", parameters=params,
              subjects=[args.subject] if len(df) else [], counts={"fixes": len(df)})
    emit(args, {"fixes": len(df), "outputs": [str(args.out)]}, [f"{len(df)} fixes -> {args.out}"])
    return 0
