"""``trailmon export``: disclose case records (qualified hits and associations, appointment and zone outcomes)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_store, common, emit

EXPORT_SUFFIXES = (".csv", ".jsonl")


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "export",
        help="export case records (a disclosure: audited with its recipient)",
        description="Writes qualified hits and co-location episodes plus appointment and zone outcomes as "
        "case records that "
        "follow the case-record JSON Schema, to .csv or .jsonl.",
    )
    add_store(p)
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    p.add_argument("--out", required=True, type=Path, metavar="F", help="output file, .csv or .jsonl")
    p.add_argument("--subject", metavar="S", help="only this subject's records")
    p.add_argument("--recipient", metavar="R", help="who receives the records (required)")
    p.add_argument("--user", metavar="U", help="who discloses them (required)")
    p.add_argument("--purpose", metavar="TEXT", help="why (required)")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon export``."""
    import pandas as pd

    from trailmon.errors import AccessRefusedError, InputError
    from trailmon.report.writers import make_provenance, write_table
    from trailmon.store.audit import audit_run, require_identity
    from trailmon.store.cases import SCHEMA_PATH, CaseStore, default_db_path, load_schema, validate_records
    from trailmon.store.trails import TrailStore

    user, purpose = require_identity(args.user, args.purpose, action="export")
    if not (args.recipient and args.recipient.strip()):
        raise AccessRefusedError(
            "export discloses location data: name who receives it with --recipient "
            "(recorded in the audit log)"
        )
    suffix = args.out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(
            f"unknown export extension {suffix!r} for {str(args.out)!r}; use one of "
            + ", ".join(EXPORT_SUFFIXES)
        )
    store = TrailStore(args.store)
    with CaseStore(args.db or default_db_path(store.path)) as cases:
        records = cases.case_records(subject=args.subject, exportable=True)
    schema = load_schema()
    validate_records(records, schema)
    frame = pd.DataFrame.from_records(records, columns=list(schema["properties"]))
    params = {
        "subject": args.subject,
        "recipient": args.recipient,
        "schema": schema["$id"],
        "store": str(args.store),
    }
    prov = make_provenance(
        "export",
        params,
        user=user,
        purpose=purpose,
        extra={"recipient": args.recipient, "schema": schema["$id"], "schema_file": SCHEMA_PATH.name},
    )
    by_type = (
        {str(k): int(v) for k, v in frame["event_type"].value_counts().sort_index().items()}
        if len(frame)
        else {}
    )
    audit_run(  # the disclosure is recorded before the file exists (SPEC §9)
        store,
        user=user,
        purpose=purpose,
        action="export",
        kind="disclosure",
        parameters=params,
        subjects=sorted(set(frame["subject_id"])) if len(frame) else [],
        counts={"records": len(frame), **by_type},
        recipient=args.recipient,
    )
    write_table(frame.astype(object).where(frame.notna(), None), args.out, prov)
    emit(
        args,
        {
            "records": len(frame),
            "by_event_type": by_type,
            "schema": schema["$id"],
            "outputs": [str(args.out)],
        },
        [f"exported {len(frame)} case record(s) to {args.out} for {args.recipient}"],
    )
    return 0
