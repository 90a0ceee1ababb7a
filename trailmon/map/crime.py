"""The per-crime proximity map (SPEC §4 maps): the scene, each hit subject's track, the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.crs import StoreCRS
from trailmon.errors import InputError
from trailmon.map import _layers as L
from trailmon.map.basemap import add_base_layers
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["PRISM_SPEED_KMH", "SCENE_LAYER", "add_prism_layer", "crime_hits", "crime_map", "prism_outline"]

PRISM_SPEED_KMH = 112.0
"""Speed of the reachable area drawn for each gap near the scene, km/h (the ``vehicle`` threshold)."""

SCENE_LAYER = "Crime scene"
"""Name of the scene's layer; each hit subject adds ``Track <subject>`` and ``Evidence <subject>``."""


def crime_hits(crime_row, hits: pd.DataFrame, evidence: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hit and evidence rows of one crime (and version, when both carry ``crime_version``)."""
    for name, frame, needed in (
        ("hits", hits, ("crime_ref", "subject_id")),
        ("evidence", evidence, ("crime_ref", "subject_id", "label", "kind", "time")),
    ):
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"{name} lacks the columns {missing}; its columns are {list(frame.columns)}")
    ref = str(crime_row["crime_ref"])
    version = crime_row.get("crime_version") if hasattr(crime_row, "get") else None

    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        keep = frame["crime_ref"].astype(str).to_numpy() == ref
        if version is not None and "crime_version" in frame.columns and not pd.isna(version):
            keep &= pd.to_numeric(frame["crime_version"], errors="coerce").to_numpy() == float(version)
        return frame[keep].reset_index(drop=True)

    return pick(hits), pick(evidence)


def crime_map(
    trails: Trails,
    crime_row,
    hits: pd.DataFrame,
    evidence: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    t_from=None,
    t_to=None,
    crs: StoreCRS | None = None,
    tiles: str | None = None,
    basemap=None,
    notes: list[str] | None = None,
):
    """Draw one crime: its circle, each hit subject's track within the window, evidence labelled A1 ….

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows, covering the window.
    crime_row : pandas.Series or dict
        One crime (``CRIME_INPUT``): ``crime_ref``, ``x_m, y_m`` (store metres), ``committed_from,
        committed_to`` (tz-aware), optional ``radius_m`` (metres), ``offence``, ``crime_version``.
    hits : DataFrame
        Hit rows (``HITS``); those of this crime give the subjects drawn, in order.
    evidence : DataFrame
        Evidence rows (``EVIDENCE``); those of this crime are drawn with their labels.
    radius_m : float, default 100.0
        Radius when the crime has none of its own, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; longer gaps are drawn dotted.
    t_from, t_to : datetime-like, optional
        Period of track drawn (tz-aware); the crime window when omitted.
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).
    tiles : str, optional
        A folium tile name or URL template; none by default.
    basemap : BaseMap, optional
        An offline vector base map (:func:`trailmon.map.basemap.read_basemap`), drawn beneath the
        tracks; none by default.
    notes : list of str, optional
        Plain-text lines added to the legend, e.g. that a track was thinned or not drawn.

    Returns
    -------
    folium.Map
        Layers :data:`SCENE_LAYER`, then ``Track <subject>`` and ``Evidence <subject>`` per hit
        subject, a layer control, a legend, a scale and the protective marking.

    Raises
    ------
    InputError
        For a crime row or frame lacking columns, or a bad radius.
    TimezoneError
        When a time carries no time zone.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.match.proximity import proximity
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, 529700.0, 180030.0), (60, 530300.0, 180030.0)])
    >>> t = pd.to_datetime([0, 60], unit="s", utc=True)
    >>> crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [530000.0], "y_m": [180000.0],
    ...                        "committed_from": t[:1], "committed_to": t[1:]})
    >>> res = proximity(tr, crimes)
    >>> m = crime_map(tr, crimes.iloc[0], res.hits, res.evidence)
    >>> [c.layer_name for c in m._children.values() if hasattr(c, "layer_name")]
    ['Crime scene', 'Track S1', 'Evidence S1']
    """
    import folium

    from trailmon.map import _draw as D

    crs = L.check_crs(crs)
    cf = L.crime_fields(crime_row, crs)
    r_m = L.crime_radius_m(crime_row, radius_m)
    if not (isinstance(max_gap_s, int | float) and max_gap_s >= 0):
        raise InputError(f"max_gap_s must be a number >= 0 seconds, got {max_gap_s!r}")
    a_s = cf["t1_s"] if t_from is None else L.instant_s("t_from", t_from)
    b_s = cf["t2_s"] if t_to is None else L.instant_s("t_to", t_to)
    if b_s < a_s:
        raise InputError(f"t_to must not precede t_from, got t_from={t_from!r}, t_to={t_to!r}")
    h, ev = crime_hits(crime_row, hits, evidence)
    subjects = list(dict.fromkeys(h["subject_id"].astype(str)))
    segs = {s: L.subject_segments(trails, s, a_s, b_s, crs, max_gap_s) for s in subjects}
    fixes = {s: L.subject_fixes(trails, s, a_s, b_s, crs) for s in subjects}
    ev_lon, ev_lat = L.evidence_positions(ev, crs) if len(ev) else (np.zeros(0), np.zeros(0))
    ring_lon, ring_lat = L.circle_ring(cf["x_m"], cf["y_m"], r_m, crs)
    points = [(ring_lat, ring_lon), (ev_lat, ev_lon)]
    for s in subjects:
        points += [(segs[s].lat0, segs[s].lon0), (segs[s].lat1, segs[s].lon1), (fixes[s].lat, fixes[s].lon)]
    title = f"crime {cf['crime_ref']}, {L.iso(cf['t1_s'])} to {L.iso(cf['t2_s'])}"
    m = D.new_map(title, None, points)
    add_base_layers(m, tiles, basemap, points)
    scene = folium.FeatureGroup(name=SCENE_LAYER).add_to(m)
    D.draw_crime(scene, cf, r_m, f"<br>{len(subjects)} subject(s) within R")
    rows = [D.swatch_line(L.CRIME_COLOUR, None, 3, f"crime scene, R = {r_m:g} m"), *D.gap_rows()]
    ev_subject = ev["subject_id"].astype(str).to_numpy()
    for i, s in enumerate(subjects):
        colour = L.SUBJECT_COLOURS[i % len(L.SUBJECT_COLOURS)]
        track = folium.FeatureGroup(name=f"Track {D.esc(s)}").add_to(m)
        D.draw_track(track, segs[s], np.full(len(segs[s].t0_s), colour, dtype=object), s)
        fx = fixes[s]
        # dots only: confidence circles go with the evidence fixes, where they matter
        D.draw_fixes(track, None, fx, np.full(len(fx.t_s), colour, dtype=object), s)
        pts = folium.FeatureGroup(name=f"Evidence {D.esc(s)}").add_to(m)
        mine = ev_subject == s
        D.draw_evidence(pts, ev[mine].reset_index(drop=True), ev_lon[mine], ev_lat[mine], colour)
        hr = h[h["subject_id"].astype(str).to_numpy() == s].iloc[0]
        dist = float(hr["min_distance_m"]) if "min_distance_m" in h.columns else np.nan
        rows.append(
            D.swatch_line(
                colour,
                None,
                4,
                f"{s}: closest {dist:.1f} m, {hr.get('passes', '')} pass(es), {hr.get('confidence', '')}",
            )
        )
    rows.append('<span style="font-weight:bold;">A1</span> evidence fix (hollow: first/last point of a pass)')
    if not subjects:
        rows.append("<i>no subject was within R during the window</i>")
    rows += [f'<i class="trailmon-note">{D.esc(n)}</i>' for n in notes or ()]
    D.legend(m, f"crime {cf['crime_ref']} ({cf['offence']})", rows)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _prism_excess(px, py, ax, ay, acc_a, bx, by, acc_b, t_a, t_b, a, b, v):
    """How far (s) a point misses being reachable: <= 0 inside the gap's prism clipped to ``[a, b]``."""
    d_a = np.maximum(0.0, np.hypot(px - ax, py - ay) - acc_a) / v
    d_b = np.maximum(0.0, np.hypot(px - bx, py - by) - acc_b) / v
    # reachable at t in [a, b] iff tA + dA/v <= t <= tB - dB/v: the two intervals meet
    return np.maximum.reduce([d_a + d_b - (t_b - t_a), d_a - (b - t_a), d_b - (t_b - a)])


def prism_outline(ax_m, ay_m, acc_a_m, bx_m, by_m, acc_b_m, t_a_s, t_b_s, t1_s, t2_s, speed_kmh=PRISM_SPEED_KMH,
                  n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """The area reachable during a gap at ``speed_kmh``, clipped to the crime window, as a ring in store metres.

    Parameters
    ----------
    ax_m, ay_m, bx_m, by_m : float
        Fixes A (before the gap) and B (after it), store metres.
    acc_a_m, acc_b_m : float
        Their accuracies, metres (NaN counts as 0).
    t_a_s, t_b_s, t1_s, t2_s : float
        Instants of A and B and the crime window, seconds UTC.
    speed_kmh : float, default 112.0
        Speed bound, km/h.
    n : int, default 96
        Vertices of the ring.

    Returns
    -------
    tuple of ndarray, shape (n + 1,) each
        ``(x_m, y_m)`` of a closed ring; empty arrays when nothing is reachable.

    Notes
    -----
    A point X is reachable when some t in ``[max(tA, T1), min(tB, T2)]`` has
    ``max(0, |XA| - accA) <= v (t - tA)`` and ``max(0, |XB| - accB) <= v (tB - t)``: exactly when the
    least speed of SPEC §3 for a scene at X is at most v. Without the window that is the ellipse with
    foci A and B; the window clips it by two discs. The set is convex, so each ray from a point inside
    crosses its edge once, found by bisection to 1 mm.
    """
    v = float(speed_kmh) / 3.6
    if not v > 0:
        raise InputError(f"speed_kmh must be > 0, got {speed_kmh!r}")
    acc_a = 0.0 if not np.isfinite(acc_a_m) else float(acc_a_m)
    acc_b = 0.0 if not np.isfinite(acc_b_m) else float(acc_b_m)
    a, b = max(t_a_s, t1_s) - t_a_s, min(t_b_s, t2_s) - t_a_s
    gap = float(t_b_s - t_a_s)
    args = (ax_m, ay_m, acc_a, bx_m, by_m, acc_b, 0.0, gap, a, b, v)
    empty = (np.zeros(0), np.zeros(0))
    if a > b:
        return empty
    # the least excess lies on segment AB (projecting onto the line shortens both distances)
    u = np.linspace(0.0, 1.0, 2001)
    ex = _prism_excess(ax_m + u * (bx_m - ax_m), ay_m + u * (by_m - ay_m), *args)
    k = int(np.argmin(ex))
    if ex[k] > 0:
        return empty
    cx, cy = ax_m + u[k] * (bx_m - ax_m), ay_m + u[k] * (by_m - ay_m)
    ang = np.linspace(0.0, 2 * np.pi, n + 1)
    dx, dy = np.sin(ang), np.cos(ang)
    lo = np.zeros(n + 1)
    hi = np.full(n + 1, v * gap + acc_a + acc_b + float(np.hypot(bx_m - ax_m, by_m - ay_m)) + 1.0)
    while float((hi - lo).max()) > 1e-3:
        mid = (lo + hi) / 2
        inside = _prism_excess(cx + mid * dx, cy + mid * dy, *args) <= 0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return cx + lo * dx, cy + lo * dy


def add_prism_layer(fmap, trails: Trails, crime_row, gaps: pd.DataFrame, *, speed_kmh: float = PRISM_SPEED_KMH,
                    crs: StoreCRS | None = None):
    """Add a layer ``Reachable in gaps`` drawing, per gap near this crime's scene, the area reachable at speed.

    Parameters
    ----------
    fmap : folium.Map
        The crime's map (:func:`crime_map`).
    trails : Trails
        Fixes (store metres, seconds UTC) holding the fixes that bracket the gaps.
    crime_row : pandas.Series or dict
        The crime, as for :func:`crime_map`.
    gaps : DataFrame
        Gaps near the scene (``GAPS``); those of this crime are drawn.
    speed_kmh : float, default 112.0
        Speed bound of the area, km/h (the ``vehicle`` threshold).
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).

    Returns
    -------
    int
        The number of areas drawn.

    Notes
    -----
    The area has foci A and B (the fixes bracketing the gap) and holds every point at which the
    subject could have been at some instant of the gap inside the crime window without exceeding
    ``speed_kmh`` in straight lines (:func:`prism_outline`). A bound, never evidence of presence.
    """
    import folium

    from trailmon.map import _draw as D

    crs = L.check_crs(crs)
    cf = L.crime_fields(crime_row, crs)
    gp = crime_hits(crime_row, gaps, pd.DataFrame({"crime_ref": [], "subject_id": [], "label": [], "kind": [],
                                                    "time": []}))[0]
    layer = folium.FeatureGroup(name="Reachable in gaps").add_to(fmap)
    drawn = 0
    for row in gp.itertuples(index=False):
        k = trails.subject_index(str(row.subject_id))
        if k < 0:
            continue
        lo, hi = int(trails.offsets[k]), int(trails.offsets[k + 1])
        t_a = L.instant_s("gap_start", row.gap_start)
        i = lo + int(np.searchsorted(trails.t_s[lo:hi], t_a - 1e-4))
        if i + 1 >= hi or abs(trails.t_s[i] - t_a) > 1e-3:
            continue
        xs, ys = prism_outline(trails.x_m[i], trails.y_m[i], trails.accuracy_m[i], trails.x_m[i + 1],
                               trails.y_m[i + 1], trails.accuracy_m[i + 1], trails.t_s[i], trails.t_s[i + 1],
                               cf["t1_s"], cf["t2_s"], speed_kmh)
        if not len(xs):
            continue
        lon, lat = L.to_wgs84(crs, xs, ys)
        speed = getattr(row, "min_speed_kmh", np.nan)
        text = (f"{D.esc(row.subject_id)}: gap {L.iso(trails.t_s[i])} to {L.iso(trails.t_s[i + 1])}; reachable at "
                f"{float(speed_kmh):g} km/h; least speed to the scene "
                f"{'not possible' if pd.isna(speed) else f'{float(speed):.1f} km/h'}")
        folium.Polygon(list(zip(lat.tolist(), lon.tolist(), strict=True)), color="#7b3294", weight=1,
                       dash_array="4 4", fill=True, fill_opacity=0.08, tooltip=text).add_to(layer)
        drawn += 1
    return drawn
