"""A subject's trail over a period (48 h cap unless justified) and its map."""

from __future__ import annotations

import re

import pandas as pd
from flask import Blueprint, Response, g, render_template, request, url_for
from itsdangerous import BadSignature

from trailmon.errors import AccessRefusedError, InputError
from trailmon.report._columns import TRAIL
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
    limit_tracks,
    log,
    page,
    state,
    subject_id_arg,
    trail_store,
)

bp = Blueprint("trail", __name__)

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


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
    df = _rows(trail_frame, sid, t1, t2)
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
        t1_local=_local_text(t1),
        t2_local=_local_text(t2),
        justify=justify,
        trail_purpose=purpose,
        n=len(df),
        trail_table=_table(_with_local(TRAIL), _records(_local_times(df))),
        map_url=url_for("trail.trail_map", t=token),
        form=form,
        modes=CSV_MODES,
        local_col=LOCAL_TIME,
    )


LOCAL_TIME = "time_europe_london"
"""The column that gives each fix's time in Europe/London (BST or GMT, with its offset) beside UTC ``time``."""

CSV_MODES = {
    "condensed": ["subject_id", "time", LOCAL_TIME, "lat", "lon", "accuracy_m", "flags"],
    "full": None,  # every SPEC §5 trail column, and the local time
}
"""The trail CSV downloads: condensed (where and when) or full (every trail column)."""


def _with_local(cols: list[str]) -> list[str]:
    i = cols.index("time") + 1
    return [*cols[:i], LOCAL_TIME, *cols[i:]]


def _rows(trail_frame, sid: str, t1: pd.Timestamp, t2: pd.Timestamp) -> pd.DataFrame:
    """The subject's trail rows in ``[t1, t2]`` (inside its monitoring windows), as ``trailmon trail`` gives them."""
    trails = trail_store().read(t1, t2, [sid], halo_s=0.0)
    df = trail_frame(trails, sid)
    if len(df):
        df = df[(df["time"] >= t1) & (df["time"] <= t2)].reset_index(drop=True)
    return df


def _local_text(t: pd.Timestamp) -> str:
    """``t`` in Europe/London as ISO 8601 with its offset, to the millisecond."""
    t = t.tz_convert(DEFAULT_TZ)
    z = t.strftime("%z")
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + z[:3] + ":" + z[3:]


def _local_times(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :data:`LOCAL_TIME` after ``time``: ISO 8601 in Europe/London with its offset, to the ms."""
    out = df.copy()
    local = out["time"].dt.tz_convert(DEFAULT_TZ) if len(out) else out["time"]
    text = [_local_text(t) for t in local]
    out.insert(out.columns.get_loc("time") + 1, LOCAL_TIME, pd.Series(text, index=out.index, dtype=object))
    return out


@bp.post("/trail/csv")
@page("trail")
def trail_csv():
    """The trail as a CSV download, under the rules of ``trailmon trail --out``.

    The same period checks (48 h cap unless justified), a stated purpose, and an audit entry
    (``trail csv``) naming the rows written; the file is written by the same writer as the CLI's
    (provenance header, text cells that could start a formula prefixed with ``'``).
    """
    import tempfile
    from pathlib import Path

    from trailmon.io._time import parse_instant
    from trailmon.report.trail_rows import MAX_WINDOW_S, trail_frame
    from trailmon.report.writers import make_provenance, write_table

    sid = subject_id_arg()
    purpose = _purpose_field(request.form)
    mode = _field(request.form, "rows") or "condensed"
    if mode not in CSV_MODES:
        raise InputError(f"rows must be one of {', '.join(CSV_MODES)}, got {mode!r}")
    try:
        t1, t2, justify = _period(parse_instant, MAX_WINDOW_S)
    except (InputError, AccessRefusedError) as exc:
        log(
            "trail refused",
            parameters={
                "subject": sid,
                "from": request.form.get("from", "")[: MAX_FIELD["from"]],
                "to": request.form.get("to", "")[: MAX_FIELD["to"]],
                "justify": request.form.get("justify", "")[: MAX_FIELD["justify"]] or None,
                "download": "csv",
                "refused": str(exc)[:300],
            },
            counts={"fixes": 0},
            purpose=purpose,
        )
        raise
    df = _local_times(_rows(trail_frame, sid, t1, t2))
    cols = CSV_MODES[mode] or _with_local(TRAIL)
    df = df[cols]
    params = {"subject": sid, "from": t1.isoformat(), "to": t2.isoformat(), "justify": justify, "rows": mode}
    ts = trail_store()
    prov = make_provenance("trail", params, transformation=ts.crs.info.as_dict(), user=g.user.name, purpose=purpose)
    stamp = f"{t1.strftime('%Y%m%dT%H%M%SZ')}-{t2.strftime('%Y%m%dT%H%M%SZ')}"
    name = f"trail-{_SAFE.sub('_', sid)[:40]}-{stamp}-{mode}.csv"
    with tempfile.TemporaryDirectory(prefix="trailmon-trail-") as tmp:
        data = write_table(df, Path(tmp) / name, prov).read_bytes()
    log(
        "trail csv",
        parameters={**params, "file": name},
        subjects=[sid] if len(df) else [],
        counts={"fixes": len(df)},
        purpose=purpose,
    )
    resp = Response(data, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


@bp.get("/trail/map")
@page("trail")
def trail_map():
    """The map of a trail just shown (a signed, short-lived link), under the SPEC §9 map limits.

    At most ``_request.MAP_MAX_FIXES`` fixes are drawn (thinned evenly above that) and none when
    reading them took longer than ``_request.MAP_MAX_SECONDS``; the map says when either happened.
    """
    import time

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
    started = time.monotonic()
    ts = trail_store()
    trails = ts.read(t1, t2, [sid], halo_s=900.0)
    trails, notes, _n_window, stride, drawn = limit_tracks(trails, started, t1.value / 1e9, t2.value / 1e9)
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
            "tracks": drawn,
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
