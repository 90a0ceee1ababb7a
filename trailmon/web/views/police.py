"""Police data: the crime batches received, by force and day, and what became of each."""

from __future__ import annotations

import json

import pandas as pd
from flask import Blueprint, render_template, request

from trailmon.errors import InputError
from trailmon.web import _police as P
from trailmon.web._request import _field, _records, log, open_cases, page, state

bp = Blueprint("police", __name__)


def _day(text: str | None, what: str) -> str | None:
    """A ``YYYY-MM-DD`` day of the form, checked (None when empty)."""
    if text is None:
        return None
    try:
        return pd.Timestamp(text).strftime("%Y-%m-%d")
    except ValueError as exc:
        raise InputError(f"{what} must be a day such as 2026-07-14, got {text!r}") from exc


def _runs(cases, run_ids) -> dict[str, dict]:
    ids = sorted({r for r in run_ids if r})
    if not ids:
        return {}
    rows = cases.frame(
        f"SELECT run_id, command, status, started, ended, as_of FROM runs WHERE run_id IN ({','.join('?' * len(ids))})",
        ids,
    )
    return {r["run_id"]: r for r in _records(rows)}


def _breakdown(accepted: pd.DataFrame | None, crimes: pd.DataFrame) -> list[dict]:
    """Crimes of the batch by offence as received (and offence group), most first."""
    if accepted is not None and "offence" in accepted.columns:
        df = accepted.assign(offence_group=accepted.get("offence_group", ""))
    else:
        df = crimes
    if not len(df):
        return []
    df = df.assign(offence=df["offence"].map(lambda v: P.unquote_cell(str(v))), offence_group=df["offence_group"])
    got = df.fillna("").groupby(["offence", "offence_group"], sort=False).size().reset_index(name="crimes")
    got = got.sort_values(["crimes", "offence"], ascending=[False, True])
    return [
        {"offence": r.offence, "offence_group": r.offence_group or "", "crimes": int(r.crimes)}
        for r in got.itertuples(index=False)
    ]


MAX_BATCHES = 100
"""Most batches one page shows (newest first; the page says how many more match)."""

_LATEST = (
    "SELECT c.force, c.crime_ref, c.crime_version, c.offence, c.offence_group, c.matched_run, "
    "c.needs_match FROM crimes c JOIN (SELECT force, crime_ref, MAX(crime_version) AS v FROM crimes "
    "GROUP BY force, crime_ref) m ON m.force = c.force AND m.crime_ref = c.crime_ref "
    "AND m.v = c.crime_version"
)


def _batch(cases, f: dict, rec: dict | None, latest: pd.DataFrame) -> dict:
    """One inbox file of crimes: its receipt, counts, errors, breakdown and the runs that matched it."""
    accepted = errors = None
    if rec is not None:
        accepted = P.read_csv_text(rec["paths"]["accepted"])
        errors = P.read_csv_text(rec["paths"]["errors"])
    if accepted is not None and "crime_ref" in accepted.columns and len(accepted):
        forces = accepted["force"] if "force" in accepted.columns else [""] * len(accepted)
        keys = {
            (P.unquote_cell(str(fo)), P.unquote_cell(str(ref)))
            for fo, ref in zip(forces, accepted["crime_ref"], strict=True)
        }
        pairs = zip(latest["force"].astype(str), latest["crime_ref"].astype(str), strict=True)
        mine = latest[[p in keys for p in pairs]]
    else:
        mine = cases.frame(
            "SELECT force, crime_ref, crime_version, offence, offence_group, matched_run, needs_match "
            "FROM crimes WHERE received_run = ?",
            [f["run_id"]],
        )
    matched = sorted({str(r) for r in mine["matched_run"] if r is not None and not pd.isna(r)})
    waiting = int((mine["needs_match"].astype(int) == 1).sum()) if len(mine) else 0
    err_rows: list[dict] = []
    n_err = 0
    if errors is not None:
        n_err = len(errors)
        shown = errors.head(P.MAX_ERRORS_SHOWN).to_dict("records")
        err_rows = [{k: P.unquote_cell(str(v)) for k, v in r.items()} for r in shown]
    elif rec is not None:
        err_rows = [{k: "" if v is None else str(v) for k, v in e.items()} for e in rec.get("errors", [])]
        n_err = int(rec.get("counts", {}).get("rejected", len(err_rows)))
    counts = (rec or {}).get("counts") or {}
    return {
        "sha256": f["sha256"],
        "file": f["name"],
        "day": (rec or {}).get("day") or str(f.get("received") or "")[:10],
        "force": (rec or {}).get("force") or ";".join(sorted({str(x) for x in mine["force"] if x})) or "",
        "batch_id": (rec or {}).get("batch_id") or "",
        "status": (rec or {}).get("status") or f["status"],
        "reason": f.get("reason") or "",
        "received_run": f.get("run_id") or "",
        "received": f.get("received") or "",
        "read": counts.get("read", ""),
        "accepted": counts.get("accepted", len(mine)),
        "rejected": counts.get("rejected", ""),
        "by_code": counts.get("rejected_by_code") or {},
        "breakdown": _breakdown(accepted, mine),
        "errors": err_rows,
        "errors_total": n_err,
        "notes": (rec or {}).get("notes") or [],
        "matched_runs": matched,
        "waiting": waiting,
        "crimes": len(mine),
        "has_receipt": rec is not None,
    }


@bp.get("/police-data")
@page("police_data")
def police_data():
    """Crime batches by force and day: status, counts, crime types, errors with required actions, the run."""
    q = request.args
    force = _field(q, "force")
    d_from, d_to = _day(_field(q, "from"), "from"), _day(_field(q, "to"), "to")
    with open_cases() as cases:
        files = _records(
            cases.frame(
                "SELECT sha256, kind, name, status, reason, run_id, received FROM inbox_files "
                "WHERE kind = 'crimes' ORDER BY received DESC, name"
            )
        )
        recs = P.receipts(state()["store"])
        for f in files:
            rec = recs.get(f["sha256"])
            f["day"] = (rec or {}).get("day") or str(f.get("received") or "")[:10]
            f["force"] = str((rec or {}).get("force") or "")
        if d_from:
            files = [f for f in files if f["day"] >= d_from]
        if d_to:
            files = [f for f in files if f["day"] <= d_to]
        latest = cases.frame(_LATEST) if files else None
        batches = [_batch(cases, f, recs.get(f["sha256"]), latest) for f in files]
        if force:
            batches = [b for b in batches if force.lower() in b["force"].lower()]
        batches.sort(key=lambda b: (b["day"], b["force"], b["batch_id"], b["file"]), reverse=True)
        more = max(0, len(batches) - MAX_BATCHES)
        batches = batches[:MAX_BATCHES]
        runs = _runs(cases, [r for b in batches for r in [b["received_run"], *b["matched_runs"]]])
    for i, b in enumerate(batches, 1):
        b["anchor"] = f"batch-{i}"
        b["runs"] = [
            {"run_id": r, **{k: runs.get(r, {}).get(k) or "" for k in ("status", "started", "ended", "as_of")}}
            for r in b["matched_runs"]
        ]
        b["by_code_text"] = ", ".join(f"{k} {v}" for k, v in sorted(b["by_code"].items()))
        b["notes_text"] = [json.dumps(n, default=str, ensure_ascii=False) for n in b["notes"]]
    log(
        "police data",
        parameters={"force": force, "from": d_from, "to": d_to},
        counts={"batches": len(batches), "crimes": sum(int(b["crimes"]) for b in batches), "more": more},
    )
    return render_template(
        "police_data.html",
        batches=batches,
        q={"force": force or "", "from": d_from or "", "to": d_to or ""},
        max_errors=P.MAX_ERRORS_SHOWN,
        more=more,
    )
