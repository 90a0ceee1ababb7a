"""``trailmon status``: is the installation healthy? Store, nightly runs, inbox, quarantine, feeds, audit."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_store, common, emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("status", help="health: store, last nightly run, queue, inbox, quarantine, feeds, audit",
                       description="Days and fixes stored, subjects and windows, the last nightly run and its "
                       "outcome, queued spans, inbox backlog, quarantined rows per code, per-force feed health "
                       "(last batch received, batches failed in the last 7 days) and the audit head. Reads "
                       "only; shows no location data.")
    add_store(p)
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``trailmon status``."""
    from trailmon.store.health import status

    s = status(args.store, db=args.db)
    emit(args, s, lines(s))
    return 0


def lines(s: dict) -> list[str]:
    """The text form of a status object."""
    t, n, q, i, a = s["trail_store"], s["nightly"], s["quarantine"], s["inbox"], s["audit"]
    last = n["last_run"]
    out = [
        f"store {s['store']} (generation {t['generation']})",
        f"  trail store: {t['days']} day(s)"
        + (f" ({t['first_day']} to {t['last_day']})" if t["days"] else "")
        + f", {t['fixes']} fix(es); {t['subjects']} subject(s), {t['windows']} monitoring window(s)",
        "  last nightly run: "
        + (f"{last['run_id']} {last['status']} (started {last['started']}, ended {last['ended'] or '-'})"
           + (f": {last['error']}" if last["error"] else "") if last else "none"),
        "  runs: " + ", ".join(f"{k} {v}" for k, v in n["runs"].items())
        + f"; last success: {n['last_success']['ended'] if n['last_success'] else 'never'}",
        f"  queued spans: {s['queue']['spans']}; inbox backlog: {i['backlog']} file(s)"
        + (f" ({i['arriving']} still arriving)" if i["arriving"] else ""),
        f"  quarantine: {q['rows']} row(s) in {q['files']} file(s)"
        + ("; " + ", ".join(f"{k} {v}" for k, v in q["by_code"].items()) if q["by_code"] else ""),
        "  hits: " + ", ".join(f"{k} {v}" for k, v in s["hits"].items()),
    ]
    for force, f in s["forces"].items():
        out.append(f"  force {force or '-'}: last batch {f['last_batch'] or 'never'}, "
                   f"{f['batches_failed_7d']} failed in 7 days")
    out.append(f"  audit: {a['entries']} entries, last hash {a['last_hash'][:16]}…")
    return out
