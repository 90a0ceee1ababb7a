"""``trailmon purge``: remove trail data older than the retention period (logged as an erasure)."""

from __future__ import annotations

from trailmon.cli._common import add_store, common, emit, parse_duration_s


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("purge", help="remove trail days older than a retention period",
                       description="Removes whole UTC days ending before now - DURATION; the erasure is audited.")
    add_store(p)
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 365d, 12h, P90D")
    p.add_argument("--user", metavar="U", help="who orders the erasure (required)")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon purge``."""
    import time

    import pandas as pd

    from trailmon.errors import AccessRefusedError
    from trailmon.store import audit
    from trailmon.store.trails import TrailStore

    if not (args.user and args.user.strip()):
        raise AccessRefusedError("purge erases trail data: say who orders it with --user")
    seconds = parse_duration_s(args.older_than)
    cutoff = pd.Timestamp(time.time_ns(), unit="ns", tz="UTC") - pd.Timedelta(seconds=seconds)
    store = TrailStore(args.store)
    gone = store.purge(cutoff)
    audit.append(store.audit_path, user=args.user, purpose="retention purge", action="purge", kind="erasure",
                 parameters={"older_than": args.older_than, "cutoff": cutoff.isoformat()},
                 counts={"days_removed": len(gone)})
    emit(args, {"days_removed": gone, "cutoff": cutoff.isoformat()},
         [f"removed {len(gone)} day(s) before {cutoff.isoformat()}: " + ", ".join(gone)])
    return 0
