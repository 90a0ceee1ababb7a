"""A subject's trail over a period (48 h cap unless justified) and its map."""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, g, render_template, request, url_for
from itsdangerous import BadSignature

from trailmon.errors import AccessRefusedError, InputError
from trailmon.report._columns import TRAIL
from trailmon.web import _request as R
from trailmon.web._request import (
    DEFAULT_TZ,
    MAP_TOKEN_S,
    MAX_FIELD,
    _field,
    _iso_ns,
    _map_response,
    _purpose_field,
    _records,
    _table,
    log,
    page,
    state,
    subject_id_arg,
    thin_trails,
    thinned_note,
    trail_store,
)

bp = Blueprint("trail", __name__)


@bp.route("/trail", methods=["GET", "POST"])
@page("trail")
def trail():
    """The trail form, and on POST the subject's fixes over the period (48 h cap unless justified)."""
    from trailmon.io._time import parse_instant
    from trailmon.report.trail_rows import MAX_WINDOW_S, trail_frame

    sid = subject_id_arg()
    form = {"from": "", "to": "", "justify": "", "purpose": ""}
    if request.method == "GET":
        return render_template("trail_form.html", sid=sid, form=form, cap_h=MAX_WINDOW_S / 3600, tz=DEFAULT_TZ)
    form = {k: request.form.get(k, "")[: MAX_FIELD[k]] for k in form}
    purpose = _purpose_field(request.form)
    try:
        t1, t2, justify = _period(parse_instant, MAX_WINDOW_S)
    except (InputError, AccessRefusedError) as exc:
        log(
            "trail refused",
            parameters={
                "subject": sid,
                "from": form["from"],
                "to": form["to"],
                "justify": form["justify"] or None,
                "refused": str(exc)[:300],
            },
            counts={"fixes": 0},
            purpose=purpose,
        )
        raise
    trails = trail_store().read(t1, t2, [sid], halo_s=0.0)
    df = trail_frame(trails, sid)
    if len(df):
        df = df[(df["time"] >= t1) & (df["time"] <= t2)].reset_index(drop=True)
    params = {"subject": sid, "from": t1.isoformat(), "to": t2.isoformat(), "justify": justify}
    log(
        "trail",
        parameters=params,
        subjects=[sid] if len(df) else [],
        counts={"fixes": len(df)},
        purpose=purpose,
    )
    token = state()["map_tokens"].dumps(
        {"u": g.user.name, "s": sid, "a": int(t1.value), "b": int(t2.value), "j": justify, "p": purpose}
    )
    return render_template(
        "trail.html",
        sid=sid,
        t1=_iso_ns(t1.value),
        t2=_iso_ns(t2.value),
        justify=justify,
        trail_purpose=purpose,
        n=len(df),
        trail_table=_table(TRAIL, _records(df)),
        map_url=url_for("trail.trail_map", t=token),
    )


@bp.get("/trail/map")
@page("trail")
def trail_map():
    """The map of a trail just shown (a signed, short-lived link)."""
    from trailmon.map import offline_html, subject_map

    token = request.args.get("t", "")[:2000]
    try:
        p = state()["map_tokens"].loads(token, max_age=MAP_TOKEN_S)
    except BadSignature:
        raise AccessRefusedError(
            "this map link is not valid or has expired; show the trail again to get a new one"
        ) from None
    if p.get("u") != g.user.name:
        raise AccessRefusedError("this map link was made for another user")
    t1 = pd.Timestamp(p["a"], unit="ns", tz="UTC")
    t2 = pd.Timestamp(p["b"], unit="ns", tz="UTC")
    sid = p["s"]
    ts = trail_store()
    trails = ts.read(t1, t2, [sid], halo_s=900.0)
    trails, n_window, stride = thin_trails(trails, t1.value / 1e9, t2.value / 1e9, R.MAP_MAX_FIXES)
    notes = [thinned_note(n_window, stride, R.MAP_MAX_FIXES)] if stride > 1 else []
    m = subject_map(
        trails, sid, t1, t2, crs=ts.crs, notes=notes, tiles=state().get("tiles"), basemap=state().get("basemap")
    )
    html = offline_html(m.get_root().render())
    from trailmon.map import _layers as L

    n = len(L.subject_fixes(trails, sid, t1.value / 1e9, t2.value / 1e9, ts.crs).t_s)  # drawn
    log(
        "map",
        parameters={
            "form": "subject",
            "subject": sid,
            "from": t1.isoformat(),
            "to": t2.isoformat(),
            "justify": p.get("j"),
            "thinned": stride > 1,
        },
        subjects=[sid] if n else [],
        counts={"fixes": n},
        purpose=p["p"],
    )
    return _map_response(html)


def _period(parse_instant, cap_s: float) -> tuple[pd.Timestamp, pd.Timestamp, str | None]:
    """The form's ``from``, ``to`` and justification, checked: real instants, in order, within the cap."""
    t1 = parse_instant(_field(request.form, "from", required=True), DEFAULT_TZ, what="from")
    t2 = parse_instant(_field(request.form, "to", required=True), DEFAULT_TZ, what="to")
    for what, t in (("from", t1), ("to", t2)):
        if t is None or pd.isna(t):
            raise InputError(f"'{what}' must be a date and time such as 2026-07-14T09:00, got no instant")
    justify = _field(request.form, "justify")
    if t2 < t1:
        raise InputError(f"'to' ({t2.isoformat()}) is before 'from' ({t1.isoformat()})")
    span = (t2 - t1).total_seconds()
    if span > cap_s and not justify:
        raise AccessRefusedError(
            f"a trail over {span / 3600:.1f} h is wider than the {cap_s / 3600:.0f} h cap; "
            "enter a justification (it is audited) or narrow the period"
        )
    return t1, t2, justify
