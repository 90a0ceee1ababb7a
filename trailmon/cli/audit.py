"""``trailmon audit``: print the audit log, or verify its hash chain."""

from __future__ import annotations

from trailmon.cli._common import add_store, common


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("audit", help="print or verify the audit log",
                       description="Entries one JSON object a line, oldest first; --verify checks the hash chain "
                                   "(exit 5 when it was tampered with).")
    add_store(p)
    p.add_argument("--since", metavar="T", help="only entries at or after T (ISO 8601 with an offset or Z)")
    p.add_argument("--verify", action="store_true", help="check the hash chain")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon audit``."""
    import json

    from trailmon.io._time import parse_instant
    from trailmon.store import audit
    from trailmon.store.trails import TrailStore

    store = TrailStore(args.store)
    if args.verify:
        n = audit.verify(store.audit_path)
        print(json.dumps({"verified": True, "entries": n}) if args.json else f"audit log verified: {n} entries")
        return 0
    since = parse_instant(args.since, None, what="--since") if args.since else None
    for e in audit.entries(store.audit_path, since):
        print(json.dumps(e, sort_keys=True))
    return 0
