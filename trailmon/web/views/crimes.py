"""Crime search, a crime (versions, hits, evidence, gaps), its map and the review of its hits."""

from __future__ import annotations

import re

import pandas as pd
from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from trailmon.errors import InputError
from trailmon.report._columns import EVIDENCE, GAPS, HITS
from trailmon.store.cases import CaseStore
from trailmon.web import _request as R
from trailmon.web._request import (
    _HITS_OF_CRIME,
    OFFENCE_GROUPS,
    _evidence_row,
    _field,
    _hit_row,
    _iso_ns,
    _like,
    _map_response,
    _records,
    _table,
    limit_tracks,
    log,
    open_cases,
    page,
    trail_store,
)
from trailmon.web.auth import allowed

bp = Blueprint("crimes", __name__)


def _crime_evidence(cases: CaseStore, store, hits: list[dict]) -> list[dict]:
    """Evidence rows of a crime's hits (frozen at review, else computed from the trail store), with keys."""
    from trailmon.report.case_evidence import hit_evidence

    rows = hit_evidence(cases, store, [h["hit_id"] for h in hits]).rows
    by_id = {int(h["hit_id"]): h for h in hits}
    out = _records(rows)
    for e in out:
        h = by_id[int(e["hit_id"])]
        e.update(crime_ref=h["crime_ref"], crime_version=h["crime_version"], subject_id=h["subject_id"])
    return out


MAP_MAX_SECONDS = R.MAP_MAX_SECONDS
"""Most seconds a crime map may spend reading tracks before it draws none (and says so)."""


@bp.get("/crimes")
@page("crimes")
def crimes():
    """Crime search by reference, force, day and offence group."""
    q = request.args
    ref, force = _field(q, "ref"), _field(q, "force")
    group, date = _field(q, "group"), _field(q, "date")
    if group is not None and group not in OFFENCE_GROUPS:
        raise InputError(f"offence group must be one of {', '.join(OFFENCE_GROUPS)}, got {group!r}")
    where, params = [], []
    if ref:
        where.append("c.crime_ref LIKE ? ESCAPE '\\'")
        params.append("%" + _like(ref) + "%")
    if force:
        where.append("c.force LIKE ? ESCAPE '\\'")
        params.append("%" + _like(force) + "%")
    if group:
        where.append("c.offence_group = ?")
        params.append(group)
    if date:
        try:
            day = pd.Timestamp(date)
        except ValueError as exc:
            raise InputError(f"date must be a day such as 2026-07-14, got {date!r}") from exc
        if day.tzinfo is None:
            day = day.tz_localize("UTC")
        lo = day.normalize().value
        where.append("c.committed_from_ns < ? AND c.committed_to_ns >= ?")
        params += [lo + 86_400 * 10**9, lo]
    searched = bool(where) or "all" in q
    rows = []
    if searched:
        with open_cases() as cases:
            df = cases.frame(
                "SELECT c.force, c.crime_ref, c.crime_version, c.offence, c.offence_group, "
                "c.committed_from_ns, c.committed_to_ns, c.radius_m, "
                "COUNT(h.hit_id) AS hits, SUM(h.review_state = 'pending') AS pending, "
                "SUM(h.review_state = 'qualified') AS qualified "
                "FROM crimes c LEFT JOIN hits h USING (force, crime_ref, crime_version)"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " GROUP BY c.force, c.crime_ref, c.crime_version "
                "ORDER BY c.committed_from_ns DESC, c.force, c.crime_ref, c.crime_version LIMIT 500",
                params,
            )
        rows = _records(df)
        for r in rows:
            r["from"], r["to"] = _iso_ns(r["committed_from_ns"]), _iso_ns(r["committed_to_ns"])
            r["pending"], r["qualified"] = int(r["pending"] or 0), int(r["qualified"] or 0)
        log(
            "crime search",
            parameters={"ref": ref, "force": force, "group": group, "date": date},
            counts={"crimes": len(rows)},
        )
    return render_template(
        "crimes.html",
        rows=rows,
        searched=searched,
        groups=OFFENCE_GROUPS,
        q={"ref": ref or "", "force": force or "", "group": group or "", "date": date or ""},
    )


def crime_key() -> tuple[str, str, int | None]:
    """The crime's ``(force, ref, version)`` from the query string (version None: the latest)."""
    ref = _field(request.args, "ref", required=True, label="crime reference")
    force = _field(request.args, "force") or ""
    version = request.args.get("version", "")
    if version and not (version.isdigit() and len(version) <= 6):
        raise InputError(f"version must be a whole number, got {version[:20]!r}")
    return force, ref, int(version) if version else None


def load_crime(cases: CaseStore, force: str, ref: str, version: int | None):
    """Every version of a crime and the chosen one, or 404."""
    versions = _records(
        cases.frame("SELECT * FROM crimes WHERE force = ? AND crime_ref = ? ORDER BY crime_version", [force, ref])
    )
    if not versions:
        abort(404, description=f"no crime {ref!r} (force {force!r}) in the case records")
    chosen = (
        versions[-1] if version is None else next((v for v in versions if int(v["crime_version"]) == version), None)
    )
    if chosen is None:
        abort(
            404,
            description=f"crime {ref!r} has no version {version}; it has "
            + ", ".join(str(v["crime_version"]) for v in versions),
        )
    return versions, chosen


@bp.get("/crime")
@page("crime")
def crime():
    """A crime: its versions, hits with review state, evidence and gaps near the scene."""
    force, ref, version = crime_key()
    with open_cases() as cases:
        versions, c = load_crime(cases, force, ref, version)
        key = [force, ref, int(c["crime_version"])]
        hits = [
            _hit_row(h)
            for h in _records(
                cases.frame(
                    _HITS_OF_CRIME,
                    key,
                )
            )
        ]
        evidence = _crime_evidence(cases, trail_store(), hits)
        gaps = _records(
            cases.frame(
                "SELECT * FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ? "
                "ORDER BY subject_id, gap_start_ns",
                key,
            )
        )
        default_radius, _ = _run_parameters(cases, c.get("matched_run"))
        changes = cases.changes_since_review([h["hit_id"] for h in hits])
        current = cases.current_verdicts([h["hit_id"] for h in hits])
        packable = sorted(
            {h["subject_id"] for h in hits if h["review_state"] == "qualified" and int(h["hit_id"]) in current}
        )
        matched = _matched_line(cases, c, len(hits), default_radius)
        received = _as_received(cases, c)
    c["radius_shown"] = (
        f"{c['radius_m']:g} m" if c.get("radius_m") is not None else f"{default_radius:g} m (the run's default)"
    )
    for gp in gaps:
        gp["gap_start"], gp["gap_end"] = _iso_ns(gp["gap_start_ns"]), _iso_ns(gp["gap_end_ns"])
    _version_changes(versions)
    for h in hits:
        h["changes"] = _change_rows(changes.get(int(h["hit_id"])))
    by_hit: dict[int, list[dict]] = {}
    for e in evidence:
        by_hit.setdefault(int(e["hit_id"]), []).append(_evidence_row(e))
    subjects = {h["subject_id"] for h in hits} | {gp["subject_id"] for gp in gaps}
    log(
        "crime",
        parameters={"force": force, "crime_ref": ref, "crime_version": int(c["crime_version"])},
        subjects=subjects,
        counts={"hits": len(hits), "evidence_rows": len(evidence), "gaps_near_scene": len(gaps)},
    )
    return render_template(
        "crime.html",
        crime=c,
        versions=versions,
        hits=hits,
        hits_table=_table(["hit_id", *HITS, "review_state", "reviewer", "review_reason"], hits),
        evidence={h["hit_id"]: _table(EVIDENCE, by_hit.get(int(h["hit_id"]), [])) for h in hits},
        gaps_table=_table(GAPS, gaps),
        map_url=url_for("crimes.crime_map_view", force=force, ref=ref, version=int(c["crime_version"])),
        map_key={"force": force, "ref": ref, "version": int(c["crime_version"])},
        map_needs_justify=bool(hits)
        and allowed(g.user.role, "trail")
        and (int(c["committed_to_ns"]) - int(c["committed_from_ns"])) / 1e9 + 2 * _run_max_gap(c) > _cap_s(),
        can_review=allowed(g.user.role, "review"),
        can_pack=allowed(g.user.role, "evidence_pack"),
        packable=packable,
        matched=matched,
        received=received,
        done=_done_message(),
    )


VERSION_FIELDS = (
    ("offence", ("offence",)),
    ("location", ("x_m", "y_m")),
    ("committed_from", ("committed_from_ns",)),
    ("committed_to", ("committed_to_ns",)),
    ("radius_m", ("radius_m",)),
    ("batch_id", ("batch_id",)),
)
"""What the versions table compares between a crime version and the one before it."""


def _version_changes(versions: list[dict]) -> None:
    """Give each version its times, the fields changed from the version before it, and the latest mark."""
    prev = None
    for v in versions:
        v["from"], v["to"] = _iso_ns(v["committed_from_ns"]), _iso_ns(v["committed_to_ns"])
        if prev is None:
            v["changed"] = "first version"
        else:
            diff = [name for name, cols in VERSION_FIELDS if any(_differs(prev.get(k), v.get(k)) for k in cols)]
            v["changed"] = ", ".join(diff) if diff else "none"
        v["latest"] = False
        prev = v
    if versions:
        versions[-1]["latest"] = True


def _differs(a, b) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) > 1e-9
    return a != b


def _matched_line(cases: CaseStore, c: dict, n_hits: int, default_radius: float) -> dict:
    """Whether the crime version was matched: ``{"state", "text"}`` (not yet, nobody within R m, or hits)."""
    run = c.get("matched_run")
    if not run or int(c.get("needs_match") or 0):
        text = "Not yet matched: the next nightly run matches this version against the trails."
        if run:
            text = f"Not yet matched again: queued for a re-match (last matched by run {run})."
        return {"state": "unmatched", "text": text}
    row = cases.conn.execute("SELECT ended, started, as_of FROM runs WHERE run_id = ?", (run,)).fetchone()
    when = (row["ended"] or row["started"]) if row is not None else "an unknown time"
    radius = float(c["radius_m"]) if c.get("radius_m") is not None else default_radius
    if not n_hits:
        return {"state": "nobody", "text": f"Matched by run {run} at {when}: nobody within {radius:g} m."}
    return {"state": "hits", "text": f"Matched by run {run} at {when}: {n_hits} hit(s) within {radius:g} m."}


def _change_rows(change: dict | None) -> dict | None:
    """What :meth:`CaseStore.changes_since_review` says of one hit, as the page shows it."""
    if not change:
        return None
    rows = []
    for name, d in change["changed"].items():
        old, new = d["reviewed"], d["now"]
        if name == "evidence":
            old = f"{old['rows']} row(s), fingerprint {str(old['digest'])[:16]}"
            new = f"{new['rows']} row(s), fingerprint {str(new['digest'])[:16]}"
        rows.append(
            {"figure": name, "reviewed": "" if old is None else str(old), "now": "" if new is None else str(new)}
        )
    v = change["verdict"]
    return {
        "verdict": f"{v['state']} by {v['reviewer']} at {v['reviewed_at']}"
        + (f" ({v['reason']})" if v.get("reason") else "")
        + f", ended by run {v.get('ended_run') or '?'} at {v.get('ended_at') or '?'}",
        "rows": rows,
    }


def _as_received(cases: CaseStore, c: dict) -> list[tuple[str, str]]:
    """The crime's row as the force sent it (free text included), from the receipt of its file."""
    from trailmon.web import _police as P

    run = c.get("received_run")
    if not run:
        return []
    shas = [
        r[0]
        for r in cases.conn.execute("SELECT sha256 FROM inbox_files WHERE kind = 'crimes' AND run_id = ?", (run,))
    ]
    if not shas:
        return []
    row = cases.conn.execute("SELECT as_of FROM runs WHERE run_id = ?", (run,)).fetchone()
    day = str(row[0])[:10] if row is not None and row[0] else ""
    day = day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None
    recs = P.receipts(R.state()["store"], day=day)  # the nightly job writes to OUT/<UTC day of as_of>
    for sha in shas:
        rec = recs.get(sha)
        acc = P.read_csv_text(rec["paths"]["accepted"]) if rec else None
        if acc is None or "crime_ref" not in acc.columns:
            continue
        refs = acc["crime_ref"].map(P.unquote_cell)
        forces = acc["force"].map(P.unquote_cell) if "force" in acc.columns else pd.Series([""] * len(acc))
        hit = acc[(refs == str(c["crime_ref"])) & (forces == str(c.get("force") or ""))]
        if len(hit):
            row = hit.iloc[-1]
            return [
                (k, P.unquote_cell(str(v)))
                for k, v in row.items()
                if k not in P.RECEIVED_COLUMNS and str(v) != ""
            ]
    return []


def _cap_s() -> float:
    from trailmon.report.trail_rows import MAX_WINDOW_S

    return float(MAX_WINDOW_S)


def _run_max_gap(c: dict) -> float:
    with open_cases() as cases:
        return _run_parameters(cases, c.get("matched_run"))[1]


def _done_message() -> str | None:
    """The banner after a review, built from its two known parts only (never text from the URL)."""
    state, hit = request.args.get("done", ""), request.args.get("hit", "")
    if state in ("qualified", "rejected") and hit.isdigit() and len(hit) <= 12:
        return f"hit {int(hit)} {state}"
    return None


@bp.get("/crime/map")
@page("crime")
def crime_map_view():
    """The per-crime map (self-contained HTML for a sandboxed frame), under the trail rules (SPEC §9).

    Tracks are drawn only for a role that may view trails, only within the crime window padded by
    the run's ``max_gap_s``, and, when that is wider than the 48 h cap, only with a justification
    (``justify``, audited as for ``/trail``). At most ``_request.MAP_MAX_FIXES`` fixes are drawn
    (tracks are thinned evenly above that) and no tracks are drawn when reading them took longer
    than :data:`MAP_MAX_SECONDS`; the map's legend says when either happened. The audit entry counts the fixes drawn.
    """
    import time

    from trailmon.map import crime_map, offline_html
    from trailmon.report.trail_rows import MAX_WINDOW_S

    started = time.monotonic()
    force, ref, version = crime_key()
    justify = _field(request.args, "justify")
    with open_cases() as cases:
        _, c = load_crime(cases, force, ref, version)
        key = [force, ref, int(c["crime_version"])]
        hits = _records(cases.frame(_HITS_OF_CRIME, key))
        evidence = _crime_evidence(cases, trail_store(), hits)
        radius, max_gap = _run_parameters(cases, c.get("matched_run"))
        gaps = cases.frame(_GAPS_OF_CRIME, key)
    t1 = pd.Timestamp(int(c["committed_from_ns"]), unit="ns", tz="UTC")
    t2 = pd.Timestamp(int(c["committed_to_ns"]), unit="ns", tz="UTC")
    pad = pd.Timedelta(seconds=max_gap)
    a, b = t1 - pad, t2 + pad
    span = (b - a).total_seconds()
    subjects = list(dict.fromkeys(h["subject_id"] for h in hits))
    ts = trail_store()
    notes: list[str] = []
    draw = bool(subjects)
    if subjects and not allowed(g.user.role, "trail"):
        draw = False
        notes.append(
            f"Tracks not drawn: the {g.user.role} role may not view trails; the scene and the evidence points only."
        )
    elif subjects and span > MAX_WINDOW_S and not justify:
        draw = False
        notes.append(
            f"Tracks not drawn: the crime window padded by {max_gap:g} s is {span / 3600:.1f} h, wider than "
            f"the {MAX_WINDOW_S / 3600:.0f} h cap; give a justification on the crime page to draw them."
        )
    trails = ts.read(a, b, subjects if draw else ["\x00none"], halo_s=0.0)
    n_window = int(((trails.t_s >= a.value / 1e9) & (trails.t_s <= b.value / 1e9)).sum())
    if draw:
        trails, limit_notes, n_window, _stride, draw = limit_tracks(
            trails, started, a.value / 1e9, b.value / 1e9, max_seconds=MAP_MAX_SECONDS
        )
        notes.extend(limit_notes)
    n_drawn = int(((trails.t_s >= a.value / 1e9) & (trails.t_s <= b.value / 1e9)).sum()) if draw else 0
    crime_row = {
        "crime_ref": ref,
        "crime_version": int(c["crime_version"]),
        "offence": c.get("offence"),
        "x_m": c["x_m"],
        "y_m": c["y_m"],
        "lat": c.get("lat"),
        "lon": c.get("lon"),
        "committed_from": t1,
        "committed_to": t2,
        "radius_m": c.get("radius_m"),
    }
    hits_df = pd.DataFrame(
        [
            {
                "crime_ref": h["crime_ref"],
                "crime_version": h["crime_version"],
                "subject_id": h["subject_id"],
                "min_distance_m": h["min_distance_m"],
                "passes": h["passes"],
                "confidence": h["confidence"],
            }
            for h in hits
        ],
        columns=["crime_ref", "crime_version", "subject_id", "min_distance_m", "passes", "confidence"],
    )
    ev_df = pd.DataFrame([_evidence_row(e) for e in evidence], columns=EVIDENCE)
    ev_df["time"] = pd.to_datetime(ev_df["time"], utc=True)
    m = crime_map(
        trails,
        crime_row,
        hits_df,
        ev_df,
        radius_m=radius,
        max_gap_s=max_gap,
        t_from=a,
        t_to=b,
        crs=ts.crs,
        notes=notes,
        tiles=R.state().get("tiles"),
        basemap=R.state().get("basemap"),
    )
    may_prism = draw if subjects else _may_draw(span, justify, started)
    n_prisms = _prisms(m, ts, crime_row, gaps, may_prism) if len(gaps) else 0
    log(
        "map",
        parameters={
            "form": "crime",
            "force": force,
            "crime_ref": ref,
            "crime_version": int(c["crime_version"]),
            "from": a.isoformat(),
            "to": b.isoformat(),
            "justify": justify,
            "tracks": draw,
            "thinned": draw and n_drawn < n_window,
        },
        subjects=subjects,
        counts={"hits": len(hits), "evidence_rows": len(evidence), "fixes": n_drawn, "prisms": n_prisms},
    )
    return _map_response(offline_html(m.get_root().render()))


_GAPS_OF_CRIME = (
    "SELECT * FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ? ORDER BY subject_id, gap_start_ns"
)


def _may_draw(span_s: float, justify: str | None, started: float) -> bool:
    """Whether this user may see positions over a padded crime window of ``span_s`` (SPEC §9 trail rules).

    Not when more than :data:`MAP_MAX_SECONDS` passed since ``started`` (a :func:`time.monotonic` reading).
    """
    import time

    from trailmon.report.trail_rows import MAX_WINDOW_S

    if time.monotonic() - started > MAP_MAX_SECONDS:
        return False
    return allowed(g.user.role, "trail") and (span_s <= MAX_WINDOW_S or bool(justify))


def _prisms(m, ts, crime_row: dict, gaps: pd.DataFrame, may: bool) -> int:
    """The ``Reachable in gaps`` layer of the stored gaps near the scene (as ``trailmon map --crime``).

    Drawn only when the tracks may be (``may``: a role that may view trails, within the cap or
    justified, within the time limit); the fixes bracketing each gap are read for that gap alone.
    Returns the number of areas drawn.
    """
    from trailmon.map.crime import add_prism_layer

    if not may:
        return 0
    rows = gaps.assign(
        gap_start=pd.to_datetime(gaps["gap_start_ns"], unit="ns", utc=True),
        gap_end=pd.to_datetime(gaps["gap_end_ns"], unit="ns", utc=True),
    )
    subjects = sorted(set(rows["subject_id"].astype(str)))
    trails = ts.read(rows["gap_start"].min(), rows["gap_end"].max(), subjects, halo_s=1.0)
    return int(add_prism_layer(m, trails, crime_row, rows, crs=ts.crs))


@bp.post("/review/<int:hit_id>")
@page("review")
def review(hit_id: int):
    """Qualify or reject a hit (``CaseStore.review``), then back to its crime."""
    action, state, reason = R.review_decision(request.form)
    with open_cases() as cases:
        from trailmon.report.case_evidence import review_hit

        hit = review_hit(cases, trail_store(), hit_id, state, user=g.user.name, reason=reason)
    log(
        f"review {action}",
        parameters={"hit_id": hit_id, "reason": reason},
        subjects=[hit["subject_id"]],
        counts={"hits": 1},
    )
    return redirect(
        url_for(
            "crimes.crime",
            force=hit["force"],
            ref=hit["crime_ref"],
            version=hit["crime_version"],
            done=state,
            hit=hit_id,
        )
        + f"#hit-{hit_id}"
    )


def _run_parameters(cases: CaseStore, run_id: str | None) -> tuple[float, float]:
    """``radius_m`` and ``max_gap_s`` of the run that matched a crime (100 m and 600 s when unknown)."""
    import json

    radius, max_gap = 100.0, 600.0
    if run_id:
        row = cases.conn.execute("SELECT parameters FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is not None and row[0]:
            p = json.loads(row[0])
            radius = float(p.get("radius_m") or radius)
            max_gap = float(p.get("max_gap_s") or max_gap)
    return radius, max_gap
