"""folium drawing shared by the subject and crime maps (imported only when a map is drawn)."""

from __future__ import annotations

import html as _html

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from trailmon.crs import StoreCRS
from trailmon.map import _layers as L

MARKING = "OFFICIAL-SENSITIVE"
"""Protective marking shown on every map (SPEC §7); the same string as ``trailmon.report.writers.MARKING``."""

UK_CENTRE = (54.0, -2.5)
"""Where a map with nothing to show is centred (WGS84 lat, lon)."""


_JS_TEMPLATE = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "\r": "&#13;", "\n": "&#10;", "\x00": "\ufffd"}
)


def js_html(markup: str) -> str:
    """HTML markup made inert inside a JavaScript template literal of an inline ``<script>``.

    folium writes tooltip and popup HTML into template literals (`` `...` ``) of the page's inline
    script, escaping at most the backticks. Every backtick, ``$`` (so no ``${...}`` substitution) and
    backslash (so no escape that swallows the closing backtick) becomes its HTML character reference,
    which Leaflet renders as the same character; so do CR and LF, which the HTML parser would otherwise
    rewrite inside the script (and so change the script's hash in the page's CSP). ``markup`` must
    already be HTML-safe (its text passed through :func:`esc`), so it holds no ``</script``. Every
    map's tooltip, popup and label goes through this function.

    Examples
    --------
    >>> js_html("<b>Y${alert(1)}</b> `x` " + chr(92))
    '<b>Y&#36;{alert(1)}</b> &#96;x&#96; &#92;'
    """
    return str(markup).translate(_JS_TEMPLATE)


def esc(v) -> str:
    """Text escaped for HTML (text and quoted attributes) and for a JavaScript template literal.

    Examples
    --------
    >>> esc('</script><img src=x onerror="a`${b}`">')
    '&lt;/script&gt;&lt;img src=x onerror=&quot;a&#96;&#36;{b}&#96;&quot;&gt;'
    """
    return js_html(_html.escape("" if v is None else str(v), quote=True))


def tooltip(markup: str):
    """A folium tooltip of ready HTML, inert in its template literal (:func:`js_html`)."""
    return folium.Tooltip(js_html(markup))


def popup(markup: str, max_width: int = 360):
    """A folium popup of ready HTML, inert in its template literal (:func:`js_html`)."""
    return folium.Popup(js_html(markup), max_width=max_width)


def new_map(title: str, tiles: str | None, points: list[tuple[np.ndarray, np.ndarray]]) -> folium.Map:
    """A map without tiles unless asked, with a scale, the marking banner and a title, fitted to ``points``.

    ``points`` is a list of ``(lat, lon)`` array pairs; NaN positions are ignored.
    """
    m = folium.Map(location=UK_CENTRE, zoom_start=6, tiles=tiles, control_scale=True, prefer_canvas=False)
    root = m.get_root()
    root.title = esc(f"{MARKING} - {title}")
    root.header.add_child(
        Element(f'<meta name="protective-marking" content="{MARKING}">'), name="marking_meta"
    )
    root.html.add_child(
        Element(
            '<div class="trailmon-marking" style="position:fixed;top:0;left:50%;transform:translateX(-50%);'
            'z-index:1000;background:#fff;border:2px solid #000;padding:2px 10px;font:bold 14px sans-serif;">'
            f"{MARKING} &middot; {esc(title)}</div>"
        ),
        name="marking",
    )
    lat = np.concatenate([np.asarray(a, dtype=float) for a, _ in points]) if points else np.zeros(0)
    lon = np.concatenate([np.asarray(b, dtype=float) for _, b in points]) if points else np.zeros(0)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if ok.any():
        s, n, w, e = lat[ok].min(), lat[ok].max(), lon[ok].min(), lon[ok].max()
        pad = 0.0005
        m.fit_bounds([[s - pad, w - pad], [n + pad, e + pad]])
    return m


def draw_track(layer, seg: L.Segments, colours: np.ndarray, what: str) -> int:
    """Add the segments as polylines, one per run of equal colour and gap class; returns the count."""
    if len(seg.t0_s) == 0:
        return 0
    key = np.array([f"{c}|{g}" for c, g in zip(colours, seg.gap_class, strict=True)], dtype=object)
    contiguous = np.ones(len(key), dtype=bool)
    contiguous[1:] = seg.t0_s[1:] == seg.t1_s[:-1]
    n = 0
    for a, b in L.runs(key, contiguous):
        g = int(seg.gap_class[a])
        lats = np.append(seg.lat0[a:b], seg.lat1[b - 1])
        lons = np.append(seg.lon0[a:b], seg.lon1[b - 1])
        if not (np.isfinite(lats).all() and np.isfinite(lons).all()):
            continue
        tip = f"{esc(what)}: {L.iso(seg.t0_s[a])} to {L.iso(seg.t1_s[b - 1])}<br>{esc(L.GAP_CLASS_NAMES[g])}"
        if g == 2:
            tip += f"<br>longest gap {seg.gap_s[a:b].max() / 60:.1f} min: nothing known in between"
        folium.PolyLine(
            np.column_stack([lats, lons]).tolist(),
            color=str(colours[a]),
            weight=L.GAP_WEIGHT[g],
            dash_array=L.GAP_DASH[g],
            opacity=0.9 if g < 2 else 0.6,
            tooltip=tooltip(tip),
        ).add_to(layer)
        n += 1
    return n


def draw_fixes(dots, circles, fx: L.Fixes, colours: np.ndarray, what: str) -> None:
    """Each fix as a dot with a tooltip and, on ``circles`` unless None, its accuracy circle."""
    for k in range(len(fx.t_s)):
        if not (np.isfinite(fx.lat[k]) and np.isfinite(fx.lon[k])):
            continue
        loc = [float(fx.lat[k]), float(fx.lon[k])]
        tip = f"{esc(what)} {L.iso(fx.t_s[k])}<br>{esc(fx.fix_type[k])}, accuracy {fx.accuracy_m[k]:g} m" + (
            "<br>speed_jump" if fx.flags[k] & 1 else ""
        )
        if circles is not None:
            folium.Circle(
                loc,
                radius=float(fx.accuracy_m[k]),
                color=str(colours[k]),
                weight=1,
                opacity=0.5,
                fill=True,
                fill_opacity=0.08,
            ).add_to(circles)
        folium.CircleMarker(
            loc, radius=3, color=str(colours[k]), weight=1, fill=True, fill_opacity=1.0, tooltip=tooltip(tip)
        ).add_to(dots)


def draw_crime(layer, cf: dict, r_m: float, extra: str = "") -> None:
    """The scene as a circle of radius ``r_m`` (metres) with its window, and a label."""
    loc = [cf["lat"], cf["lon"]]
    text = (
        f"<b>crime {esc(cf['crime_ref'])}</b> {esc(cf['offence'])}<br>"
        f"window {L.iso(cf['t1_s'])} to {L.iso(cf['t2_s'])}<br>radius {r_m:g} m{extra}"
    )
    folium.Circle(
        loc,
        radius=float(r_m),
        color=L.CRIME_COLOUR,
        weight=3,
        fill=True,
        fill_opacity=0.12,
        popup=popup(text),
        tooltip=tooltip(f"crime {esc(cf['crime_ref'])}"),
    ).add_to(layer)
    folium.CircleMarker(loc, radius=4, color=L.CRIME_COLOUR, fill=True, fill_opacity=1.0).add_to(layer)
    label(layer, loc, cf["crime_ref"], L.CRIME_COLOUR)


def label(layer, loc: list[float], text: str, colour: str) -> None:
    """A text label at ``loc`` (lat, lon)."""
    folium.Marker(
        loc,
        icon=folium.DivIcon(
            html=(
                f'<div class="trailmon-label" style="font:bold 12px sans-serif;color:{colour};'
                "white-space:nowrap;"
                f'text-shadow:0 0 3px #fff,0 0 3px #fff;">{esc(text)}</div>'
            ),
            icon_size=(60, 16),
            icon_anchor=(-6, 8),
        ),
    ).add_to(layer)


def draw_evidence(layer, ev: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, colour: str) -> int:
    """Evidence points labelled ``A1``, ``A2``, …; returns the count.

    Fixes are filled and carry their confidence circle (``accuracy_m``, metres); the interpolated
    first/last points of a pass are hollow.
    """
    n = 0
    for k, row in enumerate(ev.itertuples(index=False)):
        if not (np.isfinite(lat[k]) and np.isfinite(lon[k])):
            continue
        loc = [float(lat[k]), float(lon[k])]
        kind = str(row.kind)
        tip = (
            f"<b>{esc(row.label)}</b> {esc(row.subject_id)} ({esc(kind)})<br>{esc(_iso_of(row.time))}<br>"
            f"distance {float(row.distance_m):.1f} m, accuracy {float(row.accuracy_m):g} m"
        )
        acc = float(row.accuracy_m)
        if kind == "fix" and np.isfinite(acc) and acc > 0:
            folium.Circle(
                loc, radius=acc, color=colour, weight=1, opacity=0.6, fill=True, fill_opacity=0.1
            ).add_to(layer)
        folium.CircleMarker(
            loc,
            radius=6 if kind == "fix" else 7,
            color=colour,
            weight=2,
            fill=True,
            fill_color=colour if kind == "fix" else "#ffffff",
            fill_opacity=1.0,
            tooltip=tooltip(tip),
        ).add_to(layer)
        label(layer, loc, str(row.label), colour)
        n += 1
    return n


def _iso_of(value) -> str:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if ts is pd.NaT:
        return ""
    return L.iso(ts.tz_convert("UTC").value / 1e9 if ts.tzinfo else ts.tz_localize("UTC").value / 1e9)


def draw_geofence(layer, row, crs: StoreCRS, colour: str, text: str, dash: str | None = None) -> bool:
    """A circle (``center_x_m, center_y_m, radius_m``) or a (multi)polygon ``geometry`` in store metres."""
    cx, cy, r = (_num(getattr(row, c, None)) for c in ("center_x_m", "center_y_m", "radius_m"))
    pop = popup(text)
    if np.isfinite(cx) and np.isfinite(cy) and np.isfinite(r):
        lon, lat = L.to_wgs84(crs, np.array([cx]), np.array([cy]))
        if not (np.isfinite(lon[0]) and np.isfinite(lat[0])):
            return False
        folium.Circle(
            [float(lat[0]), float(lon[0])],
            radius=r,
            color=colour,
            weight=3,
            dash_array=dash,
            fill=True,
            fill_opacity=0.15,
            popup=pop,
        ).add_to(layer)
        return True
    geom = getattr(row, "geometry", None)
    if geom is None or not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return False
    g84 = shapely.transform(geom, lambda xy: np.column_stack(L.to_wgs84(crs, xy[:, 0], xy[:, 1])))
    style = {"color": colour, "weight": 3, "fillOpacity": 0.15, "dashArray": dash}
    folium.GeoJson(shapely.geometry.mapping(g84), style_function=lambda _f, s=style: s, popup=pop).add_to(
        layer
    )
    return True


def geofence_latlon(row, crs: StoreCRS) -> tuple[np.ndarray, np.ndarray]:
    """Points of a geofence (its centre, or its polygon's vertices) as ``(lat, lon)`` for fitting."""
    cx, cy = _num(getattr(row, "center_x_m", None)), _num(getattr(row, "center_y_m", None))
    if np.isfinite(cx) and np.isfinite(cy):
        lon, lat = L.to_wgs84(crs, np.array([cx]), np.array([cy]))
        return lat, lon
    geom = getattr(row, "geometry", None)
    if geom is None or not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return np.zeros(0), np.zeros(0)
    xy = shapely.get_coordinates(geom)
    lon, lat = L.to_wgs84(crs, xy[:, 0], xy[:, 1])
    return lat, lon


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return np.nan
    return f


def legend(m: folium.Map, title: str, rows: list[str]) -> None:
    """A fixed legend box (bottom left) from ready HTML rows."""
    body = "".join(f'<div style="margin:2px 0;">{r}</div>' for r in rows)
    m.get_root().html.add_child(
        Element(
            '<div class="trailmon-legend" style="position:fixed;bottom:60px;left:10px;z-index:1000;'
            "background:#fff;"
            'border:1px solid #888;border-radius:4px;padding:6px 8px;font:12px sans-serif;max-width:320px;">'
            f"<b>{esc(title)}</b>{body}</div>"
        ),
        name="legend",
    )


def swatch_line(colour: str, dash: str | None, weight: int, text: str) -> str:
    """A legend row with a line sample."""
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<svg width="36" height="10"><line x1="0" y1="5" x2="36" y2="5" stroke="{colour}" '
        f'stroke-width="{weight}"{d}/></svg> {esc(text)}'
    )


def swatch_fill(colour: str, text: str) -> str:
    """A legend row with a filled square."""
    return (
        f'<span style="display:inline-block;width:12px;height:12px;background:{colour};opacity:0.7;'
        f'border:1px solid {colour};"></span> {esc(text)}'
    )


def time_bar(a_s: float, b_s: float) -> str:
    """A legend row: the track's time colour scale from ``a_s`` to ``b_s`` (seconds UTC)."""
    grad = ",".join(L.VIRIDIS_BINS)
    return (
        f'track time<div style="height:10px;background:linear-gradient(to right,{grad});"></div>'
        f'<div style="display:flex;justify-content:space-between;font-size:10px;">'
        f"<span>{L.iso(a_s)}</span><span>{L.iso(b_s)}</span></div>"
    )


def gap_rows(colour: str = "#555555") -> list[str]:
    """Legend rows of the three gap classes."""
    return [swatch_line(colour, L.GAP_DASH[g], L.GAP_WEIGHT[g], L.GAP_CLASS_NAMES[g]) for g in range(3)]
