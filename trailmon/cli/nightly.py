"""``trailmon nightly``: the unattended job (inbox -> ingest -> match -> case records -> reports)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_engine, add_store, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "nightly",
        help="process the inbox: ingest, match, fill the case records, write reports",
        description="Reads INBOX/{subjects,trails,crimes,appointments,zones}/, ingests and matches what "
        "is new (and re-matches what newly ingested trail data overlaps), fills the "
        "case-record store, writes OUT/<YYYY-MM-DD>/ and moves the files to "
        "INBOX/processed/ or INBOX/quarantine/. Exit 4 when another run holds the lock.",
    )
    add_store(p)
    p.add_argument("--inbox", required=True, type=Path, metavar="DIR", help="the inbox folder")
    p.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="reports folder (one sub-folder a day)"
    )
    p.add_argument(
        "--as-of", metavar="T", help="'now' for this run, ISO 8601 with an offset or Z (default: the clock)"
    )
    p.add_argument(
        "--user",
        metavar="SERVICE",
        default=None,
        help="service identity for the audit log (default trailmon-nightly)",
    )
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    p.add_argument(
        "--radius",
        type=float,
        default=100.0,
        metavar="M",
        help="radius for crimes without one, metres (default 100)",
    )
    p.add_argument("--max-gap", type=float, default=600.0, metavar="S", help="seconds (default 600)")
    p.add_argument(
        "--tz",
        metavar="ZONE",
        help="zone of input times written without an offset, and of zones' daily schedules "
        "(default Europe/London for schedules)",
    )
    p.add_argument(
        "--manual", action="store_true", help="record the run as triggered by hand (default: auto)"
    )
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="take an inbox file only when its size and times have been still this long; names "
        "starting with . or ending .part are never taken (default 60)",
    )
    p.add_argument("--smtp", metavar="HOST:PORT",
                   help="mail each file's ingestion receipt through this SMTP relay (a relay that is down "
                   "never fails the run)")
    p.add_argument("--smtp-recipients", type=Path, metavar="F",
                   help='with --smtp: JSON addresses per force, {"<force>": [...], "default": [...]}')
    add_engine(p)
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon nightly``."""
    import sys
    import traceback

    from trailmon.errors import TrailmonError
    from trailmon.nightly import NIGHTLY_USER, run_nightly

    def log(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr)

    try:
        s = run_nightly(
            args.store,
            args.inbox,
            args.out,
            as_of=args.as_of,
            user=NIGHTLY_USER if args.user is None else args.user,
            db=args.db,
            radius_m=args.radius,
            max_gap_s=args.max_gap,
            trigger="manual" if args.manual else "auto",
            tz=args.tz,
            log=log,
            engine=args.engine,
            scheduler=args.scheduler,
            workers=args.workers,
            settle_s=args.settle,
            smtp=args.smtp,
            smtp_recipients=args.smtp_recipients,
        )
    except TrailmonError:
        raise
    except Exception as exc:  # an unattended job says what failed and exits 1, never silently
        if args.debug:
            traceback.print_exc()
        print(f"error: nightly run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    f, p, a, z = s["files"], s["proximity"], s["attendance"], s["zones"]
    emit(
        args,
        s,
        [
            f"nightly run {s['run_id']} as of {s['as_of']}",
            f"  files: {f['new']} new, {len(f['processed'])} processed, {len(f['quarantined'])} quarantined"
            + (f", {len(f['unsettled'])} still arriving (left for the next run)" if f.get("unsettled") else ""),
            f"  crimes: {s['records']['crime_versions_new']} new version(s); {p['crimes']} matched, "
            f"{p['hits']} hit(s) "
            f"({p['new']} new, {p['updated']} updated, {p['withdrawn']} withdrawn)",
            f"  appointments: {a['outcomes']} outcome(s); zones: {z['periods']} period(s), "
            f"{z['events']} event(s)",
            *[f"  quarantined {q['file']}: {q['reason']}" for q in f["quarantined"]],
            f"  reports: {Path(s['outputs'][0]).parent if s.get('outputs') else '-'}",
        ],
    )
    return 0
