"""``trailmon trail``: where a subject was between two times (audited, capped at 48 h)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_identity, add_store, common, emit

MAX_WINDOW_S = 48 * 3600.0


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


def trail_frame(trails, subject: str):
    """The SPEC §5 trail rows of ``subject`` from :class:`Trails` (fixes inside monitoring windows)."""
    import numpy as np
    import pandas as pd

    from trailmon.report._columns import TRAIL
    from trailmon.trail import FIX_TYPES, flags_to_text, speed_heading

    speed, heading = speed_heading(trails)
    k = trails.subject_index(subject)
    if k < 0:
        return pd.DataFrame({c: [] for c in TRAIL})
    lo, hi = trails.offsets[k], trails.offsets[k + 1]
    t = trails.t_s[lo:hi]
    ws = trails.win_start_s[trails.win_offsets[k]:trails.win_offsets[k + 1]]
    we = trails.win_end_s[trails.win_offsets[k]:trails.win_offsets[k + 1]]
    inside = ((t[:, None] >= ws[None, :]) & (t[:, None] <= we[None, :])).any(axis=1)
    sl = np.arange(lo, hi)[inside]
    flags = flags_to_text(trails.flags[sl])
    if not trails.window_known[k]:
        flags = np.where(flags == "", "monitoring_window_unknown", flags + ";monitoring_window_unknown")
    return pd.DataFrame({
        "subject_id": subject,
        "time": pd.to_datetime(np.round(trails.t_s[sl] * 1e3).astype("int64"), unit="ms", utc=True),
        "lat": trails.lat[sl], "lon": trails.lon[sl], "easting": trails.x_m[sl], "northing": trails.y_m[sl],
        "accuracy_m": trails.accuracy_m[sl],
        "fix_type": np.asarray(FIX_TYPES, dtype=object)[trails.fix_type[sl].astype(int)],
        "speed_kmh": speed[sl] * 3.6, "heading_deg": heading[sl], "flags": flags,
    })[TRAIL]


def run(args) -> int:
    """Run ``trailmon trail``."""
    from trailmon.cli._run import audit_run
    from trailmon.errors import AccessRefusedError, InputError
    from trailmon.io._time import check_tz, parse_instant
    from trailmon.report.writers import check_suffix, make_provenance, write_table
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="trail")
    check_suffix(args.out)
    tz = check_tz(args.tz)
    t1 = parse_instant(args.t_from, tz, what="--from")
    t2 = parse_instant(args.t_to, tz, what="--to")
    if t2 < t1:
        raise InputError(f"--to ({args.t_to}) is before --from ({args.t_from})")
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
