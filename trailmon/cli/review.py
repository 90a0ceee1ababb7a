"""``trailmon review``: list proximity hits and qualify or reject them (needs --user; audited)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trailmon.cli._common import emit

REVIEW_PURPOSE = "case review"


def _shared(p: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted before and after the action (``review --user U list``, ``review list --user U``)."""
    d = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument(
        "--store", type=Path, metavar="DIR", help="trail store folder", **({"default": None} if top else d)
    )
    p.add_argument(
        "--db",
        type=Path,
        metavar="F",
        help="case-record database (default STORE/cases.sqlite)",
        **({"default": None} if top else d),
    )
    p.add_argument("--user", metavar="U", help="the reviewer (required)", **({"default": None} if top else d))
    p.add_argument(
        "--json",
        action="store_true",
        help="print exactly one JSON object on stdout",
        **({"default": False} if top else d),
    )
    p.add_argument(
        "--debug", action="store_true", help="show tracebacks on error", **({"default": False} if top else d)
    )


def _kind(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=["hit", "association"], default="hit",
                   help="proximity hits (default) or co-location associations")


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "review",
        help="list hits; qualify or reject one",
        description="Hits start pending; a reviewer qualifies or rejects each (stable integer ids). "
        "A verdict belongs to the figures and evidence it was given on: a re-match that changes them "
        "sends the hit back to pending, flagged changed_since_review (list shows what changed). "
        "Only qualified hits are exported.",
    )
    _shared(p, top=True)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="list hits with their review state")
    a.add_argument("--state", choices=["pending", "qualified", "rejected"], help="only hits in this state")
    a.add_argument("--subject", metavar="S", help="only this subject's hits")
    a.add_argument(
        "--changed",
        action="store_true",
        help="only hits whose figures or evidence changed since their last verdict (changed_since_review)",
    )
    _kind(a)
    _shared(a, top=False)
    a = actions.add_parser("qualify", help="qualify a pending hit")
    a.add_argument("id", type=int, metavar="ID")
    _kind(a)
    _shared(a, top=False)
    a = actions.add_parser("reject", help="reject a pending hit")
    a.add_argument("id", type=int, metavar="ID")
    a.add_argument("--reason", required=True, metavar="TEXT", help="why the hit is rejected")
    _kind(a)
    _shared(a, top=False)
    p.set_defaults(run=run, _parser=p)


def run(args) -> int:
    """Run ``trailmon review``."""
    from trailmon.errors import AccessRefusedError
    from trailmon.store.audit import audit_run
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.trails import TrailStore

    if args.store is None:
        args._parser.error("the following arguments are required: --store")
    if not (args.user and args.user.strip()):
        raise AccessRefusedError("review records who decided: say who you are with --user")
    user = args.user.strip()
    store = TrailStore(args.store)
    if args.kind == "association":
        return _review_associations(args, store, user)
    with CaseStore(args.db or default_db_path(store.path)) as cases:
        if args.action == "list":
            df = cases.hits(subject=args.subject, state=args.state)
            if getattr(args, "changed", False):
                df = df[df["changed_since_review"].astype(int) == 1]
            changes = cases.changes_since_review(df["hit_id"]) if len(df) else {}
            rows = [_hit_row(r, changes.get(int(r["hit_id"]))) for r in df.to_dict("records")]
            audit_run(
                store,
                user=user,
                purpose=REVIEW_PURPOSE,
                action="review list",
                kind="consultation",
                parameters={
                    "state": args.state,
                    "subject": args.subject,
                    "changed": bool(getattr(args, "changed", False)),
                },
                subjects=sorted({r["subject_id"] for r in rows}),
                counts={"hits": len(rows)},
            )
            lines = [
                f"{'id':>5}  {'state':9}  {'crime':24} {'v':>2}  {'subject':12} {'min m':>9}  confidence"
            ]
            for r in rows:
                lines.append(
                    f"{r['hit_id']:>5}  {r['review_state']:9}  {r['crime_ref']:24} {r['crime_version']:>2}  "
                    f"{r['subject_id']:12} {r['min_distance_m']:9.3f}  {r['confidence']}"
                    + ("  changed_since_review" if r["changed_since_review"] else "")
                )
                lines += _change_lines(r)
            emit(args, {"hits": rows}, lines if rows else ["no hits"])
            return 0
        from trailmon.report.case_evidence import review_hit

        state = "qualified" if args.action == "qualify" else "rejected"
        hit = review_hit(cases, store, args.id, state, user=user, reason=getattr(args, "reason", None))
    audit_run(
        store,
        user=user,
        purpose=REVIEW_PURPOSE,
        action=f"review {args.action}",
        kind="consultation",
        parameters={"hit_id": args.id, "reason": getattr(args, "reason", None)},
        subjects=[hit["subject_id"]],
        counts={"hits": 1},
    )
    row = _hit_row(hit)
    emit(
        args,
        row,
        [
            f"hit {row['hit_id']} ({row['crime_ref']} v{row['crime_version']}, {row['subject_id']}) "
            f"{state} by {user}"
        ],
    )
    return 0


def _change_lines(r: dict) -> list[str]:
    """``was qualified by rev at T; min_distance_m 30.000 -> 10.000; evidence 2 -> 3 rows``."""
    c = r.get("changes")
    if not c:
        return []
    v = c["verdict"]
    bits = [f"was {v['state']} by {v['reviewer']} at {v['reviewed_at']}"]
    for name, d in c["changed"].items():
        if name == "evidence":
            bits.append(f"evidence rows {d['reviewed']['rows']} -> {d['now']['rows']} (changed)")
        else:
            old, new = (f"{x:.3f}" if isinstance(x, float) else str(x) for x in (d["reviewed"], d["now"]))
            bits.append(f"{name} {old} -> {new}")
    return ["       " + "; ".join(bits)]


def _hit_row(r: dict, changes: dict | None = None) -> dict:
    from trailmon.store.cases import _iso

    return {
        "hit_id": int(r["hit_id"]),
        "crime_ref": r["crime_ref"],
        "crime_version": int(r["crime_version"]),
        "force": r["force"] or None,
        "subject_id": r["subject_id"],
        "min_distance_m": r["min_distance_m"],
        "closest_time": _iso(r["closest_time_ns"]),
        "dwell_s": r["dwell_s"],
        "passes": r["passes"],
        "confidence": r["confidence"],
        "coverage": r["coverage"],
        "review_state": r["review_state"],
        "reviewer": r["reviewer"],
        "review_reason": r["review_reason"],
        "reviewed_at": r["reviewed_at"],
        "device_id": r.get("device_id") or None,  # of the monitoring window holding the closest approach
        "device_serial": r.get("device_serial") or None,
        "changed_since_review": bool(r.get("changed_since_review")),
        "changes": changes,
    }


def _review_associations(args, store, user: str) -> int:
    """``review --kind association``: list, qualify or reject co-location case records."""
    from trailmon.store.audit import audit_run
    from trailmon.store.cases import CaseStore, _iso, default_db_path

    with CaseStore(args.db or default_db_path(store.path)) as cases:
        if args.action == "list":
            df = cases.associations(subject=args.subject, state=args.state)
        else:
            state = "qualified" if args.action == "qualify" else "rejected"
            df = [cases.review_association(args.id, state, user=user, reason=getattr(args, "reason", None))]
    recs = df.to_dict("records") if hasattr(df, "to_dict") else df
    rows = [{"association_id": int(r["association_id"]), "subject_a": r["subject_a"], "subject_b": r["subject_b"],
             "distance_m": r["distance_m"], "start": _iso(r["start_ns"]), "end": _iso(r["end_ns"]),
             "duration_s": r["duration_s"], "min_distance_m": r["min_distance_m"], "flags": r["flags"] or "",
             "review_state": r["review_state"], "reviewer": r["reviewer"], "review_reason": r["review_reason"],
             "reviewed_at": r["reviewed_at"]} for r in recs]
    audit_run(store, user=user, purpose=REVIEW_PURPOSE, action=f"review {args.action}", kind="consultation",
              parameters={"kind": "association", "id": getattr(args, "id", None),
                          "reason": getattr(args, "reason", None)},
              subjects=sorted({s for r in rows for s in (r["subject_a"], r["subject_b"])}),
              counts={"associations": len(rows)})
    if args.action == "list":
        lines = [f"{r['association_id']:>5}  {r['review_state']:9}  {r['subject_a']:12} {r['subject_b']:12} "
                 f"{r['start']}  {r['duration_s']:8.1f} s  {r['min_distance_m']:7.2f} m" for r in rows]
        emit(args, {"associations": rows}, lines or ["no associations"])
    else:
        r = rows[0]
        emit(args, r, [f"association {r['association_id']} ({r['subject_a']}, {r['subject_b']}) "
                       f"{r['review_state']} by {user}"])
    return 0
