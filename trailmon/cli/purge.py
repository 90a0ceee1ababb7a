"""``trailmon purge``: erase every copy of location data older than the retention period (SPEC §8)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_store, common, emit, parse_duration_s


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("purge", help="erase location data older than a retention period, every copy",
                       description="Erases location data older than now - DURATION wherever trailmon keeps it: "
                       "trail days, quarantined rows, raw trail files under INBOX/processed/, evidence rows in "
                       "the case store and in OUT/<day>/evidence.csv, maps and reports it wrote. Case records "
                       "keep their figures and review history; nothing is re-matched. The erasure is audited "
                       "with what went and how much; --dry-run only says what would go.")
    add_store(p)
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 365d, 12h, P90D")
    p.add_argument("--user", metavar="U", help="who orders the erasure (required)")
    p.add_argument("--dry-run", action="store_true", help="show what would be erased; change nothing")
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon purge``."""
    import time

    import pandas as pd

    from trailmon.errors import AccessRefusedError
    from trailmon.store import audit, retention
    from trailmon.store.trails import TrailStore

    if not (args.user and args.user.strip()):
        raise AccessRefusedError("purge erases trail data: say who orders it with --user")
    seconds = parse_duration_s(args.older_than)
    cutoff = pd.Timestamp(time.time_ns(), unit="ns", tz="UTC") - pd.Timedelta(seconds=seconds)
    store = TrailStore(args.store)
    report = retention.purge(store.path, cutoff, dry_run=args.dry_run, db=args.db)
    n = retention.counts(report)
    if not args.dry_run:
        audit.append(store.audit_path, user=args.user.strip(), purpose="retention purge", action="purge",
                     kind="erasure",
                     parameters={"older_than": args.older_than, "cutoff": report["cutoff"],
                                 "erased": {k: report[k] for k in ("trail_days", "quarantine_rows", "inbox_files",
                                                                   "evidence_csv_rows", "outputs")}},
                     counts=n)
    verb = "would erase" if args.dry_run else "erased"
    lines = [f"{verb} location data before {report['cutoff']}:",
             f"  trail store: {n['trail_fixes']} fix(es) of {n['trail_days']} day(s)"
             + (" (" + ", ".join(sorted(report["trail_days"])) + ")" if report["trail_days"] else ""),
             f"  quarantine: {n['quarantine_rows']} row(s) in {n['quarantine_files']} file(s)",
             f"  inbox: {n['inbox_files']} raw trail file(s)",
             f"  evidence: {n['evidence_rows_case_store']} row(s) in the case store, {n['evidence_csv_rows']} in "
             f"{n['evidence_csv_files']} OUT/<day>/evidence.csv file(s)",
             f"  maps and reports: {n['maps_and_reports']} file(s)"]
    lines += [f"    {p}" for p in report["inbox_files"] + report["outputs"]]
    emit(args, {**report, "counts": n, "days_removed": sorted(report["trail_days"])}, lines)
    return 0
