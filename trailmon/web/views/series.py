"""The crime-series page: crimes of the case store ranked against the subjects' routine, its map and report.

An analyst picks the crimes (by reference, or by force, period and offence group), a radius, the
days either side and a purpose; the page ranks the subjects with :func:`trailmon.match.series.series`
(the function ``trailmon series`` runs, read the same way: the crime windows for everyone, then the
±days span for the subjects with a hit) and shows the ranked table, the long form, the series map
in a sandboxed frame and a link to the printable report. The map and report links carry a signed,
short-lived token of the consultation, so they show only what the page just showed; each view is
audited like ``trailmon series`` (``"interface": "web"``).
"""

from __future__ import annotations

import re

import pandas as pd
from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from trailmon.errors import AccessRefusedError, InputError
from trailmon.report._columns import SERIES, SERIES_LONG
from trailmon.web._request import (
    _CONTROL,
    DEFAULT_TZ,
    MAP_TOKEN_S,
    OFFENCE_GROUPS,
    REPORT_CSP,
    _field,
    _iso_ns,
    _map_response,
    _purpose_field,
    _records,
    _table,
    log,
    open_cases,
    page,
    trail_store,
)
from trailmon.web.auth import allowed

bp = Blueprint("series", __name__)

MAX_SERIES_CRIMES = 50
"""Most crimes in one series consulted from the web app."""

MAX_SERIES_SPAN_DAYS = 92
"""Longest span, days, from the first crime's start to the last crime's end (every subject is read over it)."""

MAX_DAYS = 28
"""Most shifted days either side the page accepts (the CLI's default, 14, is the page's)."""

SERIES_MAX_GAP_S = 600.0
"""Longest gap still interpolated, seconds (the default of ``trailmon series``)."""

SERIES_TOP = 5
"""Subjects drawn on the series map (the top of the ranking)."""

_FIELDS = {"refs": 4000, "radius": 20, "days": 10}
_SPLIT = re.compile(r"[\s,;]+")


def _text(source, name: str) -> str | None:
    """A bounded, control-free, stripped field of this page (None when empty); newlines allowed in ``refs``."""
    raw = source.get(name, "")
    limit = _FIELDS[name]
    if len(raw) > limit:
        raise InputError(f"{name} must be at most {limit} characters, got {len(raw)}")
    if _CONTROL.search(raw.replace("\t", " ").replace("\n", " ").replace("\r", " ")):
        raise InputError(f"{name} must not hold control characters, got {raw[:40]!r}")
    return raw.strip() or None


def _number(source, name: str, default, kind, lo, hi):
    text = _text(source, name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{name} must be a number from {lo} to {hi}, got {text[:20]!r}") from None
    if not (lo <= value <= hi):
        raise InputError(f"{name} must be from {lo} to {hi}, got {text[:20]!r}")
    return value


def _form(source) -> dict:
    """The checked form: refs, force, period, group, radius and days (purpose apart)."""
    refs_text = _text(source, "refs")
    refs = list(dict.fromkeys(r for r in _SPLIT.split(refs_text or "") if r))
    for r in refs:
        if len(r) > 100:
            raise InputError(f"a crime reference has at most 100 characters, got {len(r)}")
    group = _field(source, "group")
    if group is not None and group not in OFFENCE_GROUPS:
        raise InputError(f"offence group must be one of {', '.join(OFFENCE_GROUPS)}, got {group!r}")
    return {
        "refs": refs,
        "force": _field(source, "force"),
        "from": _field(source, "from"),
        "to": _field(source, "to"),
        "group": group,
        "radius_m": _number(source, "radius", 100.0, float, 1.0, 5000.0),
        "days": _number(source, "days", 14, int, 1, MAX_DAYS),
    }


def _select(form: dict) -> list[tuple[str, str, int]]:
    """The latest version of each chosen crime, as ``(force, crime_ref, crime_version)``, in a stable order."""
    from trailmon.io._time import parse_instant

    latest = (
        "SELECT force, crime_ref, crime_version, committed_from_ns FROM crimes c WHERE crime_version = "
        "(SELECT MAX(crime_version) FROM crimes d WHERE d.force = c.force AND d.crime_ref = c.crime_ref)"
    )
    where, params = [], []
    if form["force"]:
        where.append("force = ?")
        params.append(form["force"])
    if form["group"]:
        where.append("offence_group = ?")
        params.append(form["group"])
    if form["refs"]:
        if len(form["refs"]) > MAX_SERIES_CRIMES:
            raise InputError(
                f"a series has at most {MAX_SERIES_CRIMES} crimes, got {len(form['refs'])} references"
            )
        where.append(f"crime_ref IN ({', '.join('?' * len(form['refs']))})")
        params += form["refs"]
    else:
        if not (form["from"] and form["to"]):
            raise InputError("give crime references, or a period (from and to) to take the crimes of")
        t1 = parse_instant(form["from"], DEFAULT_TZ, what="from")
        t2 = parse_instant(form["to"], DEFAULT_TZ, what="to")
        if t1 is None or t2 is None or pd.isna(t1) or pd.isna(t2):
            raise InputError("from and to must be days or times such as 2026-07-14")
        if len(form["to"]) <= 10:  # a day: through its end
            t2 = t2 + pd.Timedelta(days=1)
        if t2 <= t1:
            raise InputError(f"'to' ({form['to']}) must be after 'from' ({form['from']})")
        where.append("committed_from_ns < ? AND committed_to_ns >= ?")
        params += [int(t2.value), int(t1.value)]
    sql = latest + "".join(f" AND {w}" for w in where) + " ORDER BY committed_from_ns, force, crime_ref"
    with open_cases() as cases:
        rows = _records(cases.frame(sql + f" LIMIT {MAX_SERIES_CRIMES + 1}", params))
    if form["refs"]:
        found = {r["crime_ref"] for r in rows}
        missing = [r for r in form["refs"] if r not in found]
        if missing:
            raise InputError(
                f"no crime {', '.join(repr(m) for m in missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                + " in the case records" + (f" of force {form['force']!r}" if form["force"] else "")
                + (f" in offence group {form['group']!r}" if form["group"] else "")
            )
    if not rows:
        raise InputError("no crime of the case records matches: widen the period or the filters")
    if len(rows) > MAX_SERIES_CRIMES:
        raise InputError(
            f"a series has at most {MAX_SERIES_CRIMES} crimes; more than that match: narrow the filters"
        )
    return [(str(r["force"]), str(r["crime_ref"]), int(r["crime_version"])) for r in rows]


def _rank(keys: list, radius_m: float, days: int):
    """The series of crime versions ``keys`` on the store: ``(crimes, trails, ranked, long, store)``."""
    from trailmon.match.series import hit_subjects, series
    from trailmon.runs import time_span

    with open_cases() as cases:
        crimes = cases.crime_frame(keys)
    t1, t2 = time_span(crimes["committed_from"], crimes["committed_to"])
    if (t2 - t1).total_seconds() > MAX_SERIES_SPAN_DAYS * 86_400:
        raise InputError(
            f"the crimes span {(t2 - t1).total_seconds() / 86_400:.0f} days; a series in the web app spans "
            f"at most {MAX_SERIES_SPAN_DAYS} days (use trailmon series for longer)"
        )
    store = trail_store()
    halo = max(SERIES_MAX_GAP_S, 60.0)
    near = hit_subjects(store.read(t1, t2, halo_s=halo), crimes, radius_m=radius_m, max_gap_s=SERIES_MAX_GAP_S)
    pad = pd.Timedelta(days=days + 1)  # a local day is 23-25 h: one more day covers every shifted window
    trails = store.read(t1 - pad, t2 + pad, near if near else ["\x00none"], halo_s=halo)
    result = series(trails, crimes, radius_m=radius_m, max_gap_s=SERIES_MAX_GAP_S, days=days)
    return crimes, trails, result.ranked, result.long, store


def _parameters(keys: list, radius_m: float, days: int) -> dict:
    return {
        "radius_m": radius_m,
        "max_gap_s": SERIES_MAX_GAP_S,
        "days": days,
        "crimes": [f"{f}/{r}/v{v}" if f else f"{r}/v{v}" for f, r, v in keys],
    }


def _tokens() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="trailmon-series")


def _from_token() -> dict:
    token = request.args.get("t", "")[:20000]
    try:
        p = _tokens().loads(token, max_age=MAP_TOKEN_S)
    except BadSignature:
        raise AccessRefusedError(
            "this series link is not valid or has expired; run the series again to get a new one"
        ) from None
    if p.get("u") != g.user.name:
        raise AccessRefusedError("this series link was made for another user")
    p["k"] = [(str(f), str(r), int(v)) for f, r, v in p["k"]]
    return p


@bp.route("/series", methods=["GET", "POST"])
@page("series")
def series_page():
    """The series form, and on POST the ranked subjects, the long form, the map and the report link."""
    source = request.form if request.method == "POST" else request.args
    shown = {k: source.get(k, "")[:n] for k, n in (("refs", 4000), ("force", 100), ("from", 40), ("to", 40),
                                                   ("group", 40), ("radius", 20), ("days", 10), ("purpose", 300),
                                                   ("justify", 500))}
    limits = {"crimes": MAX_SERIES_CRIMES, "span_days": MAX_SERIES_SPAN_DAYS, "max_days": MAX_DAYS,
              "max_gap_s": SERIES_MAX_GAP_S, "top": SERIES_TOP}
    if request.method == "GET":
        return render_template("series.html", form=shown, groups=OFFENCE_GROUPS, limits=limits, result=None,
                               tz=DEFAULT_TZ)
    purpose = _purpose_field(request.form)
    form = _form(request.form)
    justify = _field(request.form, "justify")
    keys = _select(form)
    crimes, _trails, ranked, long, _store = _rank(keys, form["radius_m"], form["days"])
    params = {**_parameters(keys, form["radius_m"], form["days"]),
              "refs": form["refs"] or None, "force": form["force"], "from": form["from"], "to": form["to"],
              "group": form["group"], "justify": justify}
    log("series", parameters=params, subjects=ranked["subject_id"].tolist(),
        counts={"crimes": len(keys), "subjects": len(ranked)}, purpose=purpose)
    token = _tokens().dumps({"u": g.user.name, "k": [list(k) for k in keys], "r": form["radius_m"],
                             "d": form["days"], "p": purpose, "j": justify})
    crime_rows = [
        {"no": i, "force": f, "crime_ref": r, "crime_version": v, "offence": o,
         "from": _iso_ns(pd.Timestamp(a).value), "to": _iso_ns(pd.Timestamp(b).value),
         "radius_m": rad if pd.notna(rad) else None}
        for i, ((f, r, v), o, a, b, rad) in enumerate(
            zip(keys, crimes["offence"], crimes["committed_from"], crimes["committed_to"], crimes["radius_m"],
                strict=True), start=1)
    ]
    return render_template(
        "series.html",
        form=shown,
        groups=OFFENCE_GROUPS,
        limits=limits,
        tz=DEFAULT_TZ,
        result={
            "crimes": _table(["no", "force", "crime_ref", "crime_version", "offence", "from", "to", "radius_m"],
                             crime_rows),
            "ranked": _table(SERIES, _records(ranked)),
            "long": _table(SERIES_LONG, _records(long)),
            "n_crimes": len(keys),
            "n_subjects": len(ranked),
            "radius_m": form["radius_m"],
            "days": form["days"],
            "purpose": purpose,
            "map_url": url_for("series.series_map_view", t=token),
            "report_url": url_for("series.series_report_view", t=token),
        },
    )


@bp.get("/series/map")
@page("series")
def series_map_view():
    """The series map of a series just shown (a signed, short-lived link): crimes numbered, the top tracks."""
    import time

    from trailmon.map import _layers as L
    from trailmon.map import offline_html
    from trailmon.map.series import series_map

    started = time.monotonic()
    p = _from_token()
    crimes, trails, ranked, _long, store = _rank(p["k"], float(p["r"]), int(p["d"]))
    justify = p.get("j")
    why_not = _no_tracks_reason(crimes, justify)
    top = 0 if why_not else SERIES_TOP
    drawn = [str(s) for s in ranked["subject_id"].head(top)]
    trails, note = _map_fixes(trails, crimes, drawn, started)
    if note and note.startswith("Tracks not drawn"):
        why_not, note, top, drawn = note, None, 0, []
    m = series_map(trails, crimes, ranked, top=top, radius_m=float(p["r"]), max_gap_s=SERIES_MAX_GAP_S,
                   crs=store.crs)
    for text in (why_not, note):
        if text:
            _add_note(m, text)
    n = 0
    for s in drawn:
        for a, b in zip(crimes["committed_from"], crimes["committed_to"], strict=True):
            n += len(L.subject_fixes(trails, s, pd.Timestamp(a).value / 1e9 - SERIES_MAX_GAP_S,
                                     pd.Timestamp(b).value / 1e9 + SERIES_MAX_GAP_S, store.crs).t_s)
    log("map", parameters={"form": "series", **_parameters(p["k"], float(p["r"]), int(p["d"])), "top": top,
                           "justify": justify, "tracks": not why_not, "thinned": note is not None},
        subjects=drawn, counts={"crimes": len(p["k"]), "subjects": len(drawn), "fixes": n}, purpose=p["p"])
    return _map_response(offline_html(m.get_root().render()))


def _no_tracks_reason(crimes: pd.DataFrame, justify: str | None) -> str | None:
    """Why the series map draws no tracks (SPEC §9 trail rules), or None when it may draw them."""
    from trailmon.report.trail_rows import MAX_WINDOW_S

    if not allowed(g.user.role, "trail"):
        return f"Tracks not drawn: the {g.user.role} role may not view trails; the scenes only."
    spans = [(pd.Timestamp(b) - pd.Timestamp(a)).total_seconds() + 2 * SERIES_MAX_GAP_S
             for a, b in zip(crimes["committed_from"], crimes["committed_to"], strict=True)]
    if spans and max(spans) > MAX_WINDOW_S and not justify:
        return (f"Tracks not drawn: a crime window padded by {SERIES_MAX_GAP_S:g} s is {max(spans) / 3600:.1f} h, "
                f"wider than the {MAX_WINDOW_S / 3600:.0f} h cap; give a justification on the series page to draw "
                "them.")
    return None


def _map_fixes(trails, crimes: pd.DataFrame, drawn: list[str], started: float):
    """Only the drawn subjects' fixes near the crime windows, under the map limits; and the note saying so.

    The limits are :func:`~trailmon.web._request.limit_tracks` (none drawn when ranking and reading
    took longer than ``MAP_MAX_SECONDS`` since ``started``, else thinned to ``MAP_MAX_FIXES``).

    A fix more than twice ``max_gap`` from every window cannot bound a segment drawn in a padded
    window (a longer segment is a gap), so dropping it changes nothing drawn.
    """
    import numpy as np

    from trailmon.web._request import limit_tracks

    per_fix = np.repeat(np.arange(trails.n_subjects), np.diff(trails.offsets))
    keep = np.isin(trails.subject_ids.astype(str), drawn)[per_fix] if trails.n_fixes else np.zeros(0, bool)
    pad = 2 * SERIES_MAX_GAP_S
    near = np.zeros(trails.n_fixes, dtype=bool)
    a = np.array([pd.Timestamp(t).value / 1e9 for t in crimes["committed_from"]]) - pad
    b = np.array([pd.Timestamp(t).value / 1e9 for t in crimes["committed_to"]]) + pad
    for lo, hi in zip(a, b, strict=True):
        near |= (trails.t_s >= lo) & (trails.t_s <= hi)
    trails = trails.select_fixes(keep & near)
    if not len(a):
        return trails, None
    trails, notes, _n_window, _stride, _drawn = limit_tracks(trails, started, float(a.min()), float(b.max()))
    return trails, (notes[0] if notes else None)


def _add_note(m, note: str) -> None:
    """A fixed note box (top left) on a folium map, its text escaped."""
    from html import escape

    from folium import Element

    m.get_root().html.add_child(Element(
        '<div class="trailmon-note" style="position:fixed;top:10px;left:50px;z-index:1000;background:#fff;'
        f'padding:4px 8px;border:1px solid #999;font:12px sans-serif;max-width:60%;">{escape(note)}</div>'
    ))


@bp.get("/series/report")
@page("series")
def series_report_view():
    """The printable series report of a series just shown (a signed, short-lived link)."""
    from trailmon.report.series_report import series_report_html
    from trailmon.report.writers import make_provenance

    p = _from_token()
    crimes, _trails, ranked, long, store = _rank(p["k"], float(p["r"]), int(p["d"]))
    params = {**_parameters(p["k"], float(p["r"]), int(p["d"])), "interface": "web"}
    prov = make_provenance("series", params, transformation=store.crs.info.as_dict(), user=g.user.name,
                           purpose=p["p"])
    html = series_report_html(crimes, ranked, long, prov)
    log("series report", parameters=_parameters(p["k"], float(p["r"]), int(p["d"])),
        subjects=ranked["subject_id"].tolist(), counts={"crimes": len(p["k"]), "subjects": len(ranked)},
        purpose=p["p"])
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp
