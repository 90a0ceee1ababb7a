"""Subject search and the subject page (identifiers, windows, outcomes, qualified hits, co-location records).

The subject's co-location case records (``CaseStore.associations``) are listed on the page; a
reviewer qualifies or rejects a pending one (``CaseStore.review_association``, audited as
``trailmon review --kind association``), and roles that may view trails open the episode map (both
tracks over the episode, under the 48 h trail rule) in a sandboxed frame.
"""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from trailmon.errors import AccessRefusedError, InputError
from trailmon.report._columns import ATTENDANCE, HITS, ZONES
from trailmon.web._request import (
    _field,
    _fmt,
    _hit_row,
    _iso_ns,
    _like,
    _map_response,
    _records,
    _table,
    log,
    open_cases,
    page,
    review_decision,
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
        assoc = _association_rows(cases, sid) if allowed(g.user.role, "associations") else None
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
    if not ident and not windows and not assoc:
        abort(404, description=f"no subject {sid!r} in the store or the case records")
    for w in windows:
        for k in ("monitoring_start", "monitoring_end"):
            w[k] = _fmt(k, pd.Timestamp(w[k]) if w.get(k) is not None else None) or "open"
    for a in att:
        for k in ("start", "end", "arrival", "departure"):
            a[k] = _iso_ns(a[f"{k}_ns"])
    for z in zev:
        z["start"], z["end"] = _iso_ns(z["start_ns"]), _iso_ns(z["end_ns"])
    counts = {"appointments": len(att), "zone_events": len(zev), "qualified_hits": len(hits)}
    if assoc is not None:
        counts["associations"] = len(assoc)
    episode = _episode_arg(assoc or [])
    log(
        "subject",
        parameters={"subject": sid, **({"episode": episode} if episode is not None else {})},
        subjects=[sid, *(r["other"] for r in assoc or [])],
        counts=counts,
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
        associations=assoc,
        associations_table=_table(ASSOCIATION_COLUMNS, assoc or []),
        can_review_association=allowed(g.user.role, "association_review"),
        can_map_association=allowed(g.user.role, "association_map"),
        episode=episode,
        episode_url=_episode_url(episode, assoc or []),
        episode_needs_justify=episode is not None and _episode_span_s(assoc or [], episode) > _cap_s()
        and not _field(request.args, "justify"),
        done=_done_message(),
    )


ASSOCIATION_COLUMNS = [
    "association_id",
    "other",
    "start",
    "end",
    "duration_s",
    "distance_m",
    "min_distance_m",
    "closest_time",
    "flags",
    "review_state",
    "reviewer",
    "review_reason",
    "reviewed_at",
]
"""The columns of the subject page's co-location table (``other``: the subject ``sid`` was with)."""

ASSOCIATION_MAX_GAP_S = 600.0
"""Longest gap still interpolated on an episode map, seconds (the default of ``trailmon associations``)."""


def _association_rows(cases, sid: str) -> list[dict]:
    """The co-location case records of ``sid`` (either side of the pair), by id, with times as text."""
    rows = _records(cases.associations(subject=sid))
    for r in rows:
        r["other"] = r["subject_b"] if r["subject_a"] == sid else r["subject_a"]
        r["start"], r["end"] = _iso_ns(r["start_ns"]), _iso_ns(r.get("end_ns"))
        r["closest_time"] = _iso_ns(r.get("closest_time_ns"))
        for k in ("flags", "reviewer", "review_reason", "reviewed_at"):
            r[k] = r.get(k) or ""
    return rows


def _episode_arg(assoc: list[dict]) -> int | None:
    """The ``episode`` of the query (an association id of this subject) when the role may map it, else None."""
    text = request.args.get("episode", "")
    if not text or not allowed(g.user.role, "association_map"):
        return None
    if not (text.isdigit() and len(text) <= 12) or int(text) not in {int(r["association_id"]) for r in assoc}:
        raise InputError(f"episode must be the id of one of this subject's associations, got {text[:20]!r}")
    return int(text)


def _cap_s() -> float:
    from trailmon.report.trail_rows import MAX_WINDOW_S

    return float(MAX_WINDOW_S)


def _episode_span_s(assoc: list[dict], episode: int) -> float:
    r = next(r for r in assoc if int(r["association_id"]) == episode)
    end = r.get("end_ns")
    return (int(end) - int(r["start_ns"])) / 1e9 if end is not None else float(r.get("duration_s") or 0.0)


def _episode_url(episode: int | None, assoc: list[dict]) -> str | None:
    """The episode map's address (with the justification typed on the page, if any); None without an episode."""
    if episode is None:
        return None
    justify = _field(request.args, "justify")
    if _episode_span_s(assoc, episode) > _cap_s() and not justify:
        return None
    return url_for("subjects.association_map_view", id=episode, **({"justify": justify} if justify else {}))


def _done_message() -> str | None:
    """The banner after a review, built from its two known parts only (never text from the URL)."""
    state, aid = request.args.get("done", ""), request.args.get("association", "")
    if state in ("qualified", "rejected") and aid.isdigit() and len(aid) <= 12:
        return f"association {int(aid)} {state}"
    return None


def _association(aid: int) -> dict:
    with open_cases() as cases:
        rows = _records(cases.frame("SELECT * FROM associations WHERE association_id = ?", [int(aid)]))
    if not rows:
        abort(404, description=f"no association with id {aid} in the case records")
    return rows[0]


@bp.post("/association/<int:aid>/review")
@page("association_review")
def review_association(aid: int):
    """Qualify or reject a pending co-location episode (``CaseStore.review_association``), then back."""
    action, state, reason = review_decision(request.form)
    if action == "reject" and not reason:
        raise InputError("a rejection needs a reason: say why the episode is rejected")
    back = _field(request.form, "subject")
    with open_cases() as cases:
        r = cases.review_association(aid, state, user=g.user.name, reason=reason)
    pair = [str(r["subject_a"]), str(r["subject_b"])]
    log(
        f"review {action}",
        parameters={"kind": "association", "id": aid, "reason": reason},
        subjects=pair,
        counts={"associations": 1},
    )
    sid = back if back in pair else pair[0]
    return redirect(
        url_for("subjects.subject", subject=sid, done=state, association=aid) + f"#association-{aid}"
    )


@bp.get("/association/map")
@page("association_map")
def association_map_view():
    """The map of one co-location episode (both tracks over it; self-contained HTML for a sandboxed frame).

    Under the trail rules (SPEC §9): only roles that may view trails, and an episode longer than the
    48 h cap only with a justification (``justify``, audited). At most ``_request.MAP_MAX_FIXES``
    fixes are drawn (thinned evenly above that) and none when reading them took longer than
    ``_request.MAP_MAX_SECONDS``; the map and the audit entry say when either happened.
    """
    import time

    import numpy as np

    from trailmon.map import offline_html
    from trailmon.map.series import association_map
    from trailmon.report.trail_rows import MAX_WINDOW_S
    from trailmon.web._request import limit_tracks
    from trailmon.web.views.series import _add_note

    text = request.args.get("id", "")
    if not (text.isdigit() and len(text) <= 12):
        raise InputError(f"id must be an association id (a whole number), got {text[:20]!r}")
    r = _association(int(text))
    justify = _field(request.args, "justify")
    a_ns = int(r["start_ns"])
    b_ns = int(r["end_ns"]) if r.get("end_ns") is not None else a_ns + int(float(r.get("duration_s") or 0) * 1e9)
    span = (b_ns - a_ns) / 1e9
    if span > MAX_WINDOW_S and not justify:
        raise AccessRefusedError(
            f"this episode lasts {span / 3600:.1f} h, longer than the {MAX_WINDOW_S / 3600:.0f} h trail cap; "
            "give a justification (it is audited) to map it"
        )
    t1, t2 = pd.Timestamp(a_ns, unit="ns", tz="UTC"), pd.Timestamp(b_ns, unit="ns", tz="UTC")
    pair = [str(r["subject_a"]), str(r["subject_b"])]
    started = time.monotonic()
    ts = trail_store()
    trails = ts.read(t1, t2, pair, halo_s=ASSOCIATION_MAX_GAP_S)
    trails, notes, _n_window, stride, drawn = limit_tracks(trails, started, a_ns / 1e9, b_ns / 1e9)
    episode = {
        "subject_a": pair[0],
        "subject_b": pair[1],
        "start": t1,
        "end": t2,
        "closest_time": _iso_ns(r.get("closest_time_ns")),
        "min_distance_m": r.get("min_distance_m") if r.get("min_distance_m") is not None else np.nan,
        "duration_s": r.get("duration_s") if r.get("duration_s") is not None else np.nan,
        "lat": r.get("lat"),
        "lon": r.get("lon"),
    }
    m = association_map(trails, episode, max_gap_s=ASSOCIATION_MAX_GAP_S, crs=ts.crs)
    for note in notes:
        _add_note(m, note)
    n = int(((trails.t_s >= a_ns / 1e9) & (trails.t_s <= b_ns / 1e9)).sum())
    log(
        "map",
        parameters={
            "form": "association",
            "association_id": int(r["association_id"]),
            "from": t1.isoformat(),
            "to": t2.isoformat(),
            "justify": justify,
            "thinned": stride > 1,
            "tracks": drawn,
        },
        subjects=pair if n else [],
        counts={"fixes": n},
    )
    return _map_response(offline_html(m.get_root().render()))
