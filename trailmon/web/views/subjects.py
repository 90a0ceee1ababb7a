"""Subject search and the subject page (identifiers, windows, outcomes, qualified hits)."""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, abort, g, render_template, request

from trailmon.report._columns import ATTENDANCE, HITS, ZONES
from trailmon.web._request import (
    _field,
    _fmt,
    _hit_row,
    _iso_ns,
    _like,
    _records,
    _table,
    log,
    open_cases,
    page,
    subject_id_arg,
    trail_store,
)
from trailmon.web.auth import allowed

bp = Blueprint("subjects", __name__)


@bp.get("/subjects")
@page("subjects")
def subjects():
    """Subject search by id, CRN, PNC or NOMIS number."""
    q = _field(request.args, "q")
    with open_cases() as cases:
        if q:
            like = "%" + _like(q) + "%"
            df = cases.frame(
                "SELECT * FROM subjects WHERE subject_id LIKE ? ESCAPE '\\' OR crn LIKE ? ESCAPE '\\' "
                "OR pnc_id LIKE ? ESCAPE '\\' OR nomis_id LIKE ? ESCAPE '\\' "
                "ORDER BY subject_id LIMIT 500",
                [like] * 4,
            )
        else:
            df = cases.frame("SELECT * FROM subjects ORDER BY subject_id LIMIT 500")
    rows = _records(df)
    log(
        "subject search",
        parameters={"q": q},
        subjects=[r["subject_id"] for r in rows],
        counts={"subjects": len(rows)},
    )
    return render_template("subjects.html", rows=rows, q=q or "")


@bp.get("/subject")
@page("subject")
def subject():
    """A subject: identifiers, monitoring windows, outcomes and qualified hits."""
    sid = subject_id_arg()
    with open_cases() as cases:
        ident = _records(cases.frame("SELECT * FROM subjects WHERE subject_id = ?", [sid]))
        att = _records(cases.frame("SELECT * FROM attendance WHERE subject_id = ? ORDER BY start_ns", [sid]))
        zev = _records(cases.frame("SELECT * FROM zone_events WHERE subject_id = ? ORDER BY start_ns, zone_id", [sid]))
        hits = [
            _hit_row(h)
            for h in _records(
                cases.frame(
                    "SELECT * FROM hits WHERE subject_id = ? AND review_state = 'qualified' ORDER BY hit_id",
                    [sid],
                )
            )
        ]
    windows = trail_store().subjects()
    windows = _records(windows[windows["subject_id"].astype(str) == sid])
    if not ident and not windows:
        abort(404, description=f"no subject {sid!r} in the store or the case records")
    for w in windows:
        for k in ("monitoring_start", "monitoring_end"):
            w[k] = _fmt(k, pd.Timestamp(w[k]) if w.get(k) is not None else None) or "open"
    for a in att:
        for k in ("start", "end", "arrival", "departure"):
            a[k] = _iso_ns(a[f"{k}_ns"])
    for z in zev:
        z["start"], z["end"] = _iso_ns(z["start_ns"]), _iso_ns(z["end_ns"])
    log(
        "subject",
        parameters={"subject": sid},
        subjects=[sid],
        counts={"appointments": len(att), "zone_events": len(zev), "qualified_hits": len(hits)},
    )
    return render_template(
        "subject.html",
        sid=sid,
        ident=ident[0] if ident else {"subject_id": sid},
        windows=windows,
        attendance=_table(ATTENDANCE, att),
        zones=_table(ZONES, zev),
        hits=hits,
        hits_table=_table(["hit_id", *HITS], hits),
        can_trail=allowed(g.user.role, "trail"),
    )
