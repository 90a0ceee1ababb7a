"""``trailmon audit``: print the audit log, or verify its hash chain."""

from __future__ import annotations

from trailmon.cli._common import add_store, common


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("audit", help="print or verify the audit log",
                       description="Entries one JSON object a line, oldest first; --verify checks the hash chain "
                                   "and the heads kept outside the log (exit 5 when it was tampered with, "
                                   "shortened, emptied or deleted); --head prints N:HASH to keep elsewhere.")
    add_store(p)
    p.add_argument("--since", metavar="T", help="only entries at or after T (ISO 8601 with an offset or Z)")
    p.add_argument("--verify", action="store_true",
                   help="check the hash chain, that the log extends the heads kept in STORE/audit.head and the "
                        "case store, and each entry's HMAC when TRAILMON_AUDIT_KEY_FILE is set (exit 5 if not)")
    p.add_argument("--expect-head", metavar="N:HASH",
                   help="with --verify: a head recorded earlier (from --head) that the log must still extend")
    p.add_argument("--head", action="store_true",
                   help="print the verified head N:HASH (entries, last hash) to record outside the store")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon audit``."""
    import json

    from trailmon.errors import InputError
    from trailmon.io._time import parse_instant
    from trailmon.store import audit
    from trailmon.store.trails import TrailStore

    store = TrailStore(args.store)
    if args.expect_head and not args.verify:
        raise InputError("--expect-head goes with --verify")
    if args.verify or args.head:
        n = audit.verify(store.audit_path, expect_head=args.expect_head)
        last = audit.entries(store.audit_path)[-1]["hash"] if n else audit.GENESIS
        head = f"{n}:{last}"
        keyed = audit.audit_key(store.audit_path) is not None
        if args.json:
            print(json.dumps({"verified": True, "entries": n, "head": head, "hmac_checked": keyed}))
        elif args.head and not args.verify:
            print(head)
        else:
            print(f"audit log verified: {n} entries, head {head}" + (" (HMAC checked)" if keyed else ""))
        return 0
    since = parse_instant(args.since, None, what="--since") if args.since else None
    for e in audit.entries(store.audit_path, since):
        print(json.dumps(e, sort_keys=True))
    return 0
