"""Maps of the leads: a crime series, and a co-location episode.

The series map numbers the crimes and draws the top subjects' tracks in the crime windows; the
episode map draws both subjects' tracks over the episode and the closest point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.crs import StoreCRS
from trailmon.errors import InputError
from trailmon.map import _layers as L
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["association_map", "series_map"]

SERIES_TOP = 5
"""Subjects drawn on a series map by default (the top of the ranking)."""


def series_map(
    trails: Trails,
    crimes: pd.DataFrame,
    ranked: pd.DataFrame,
    *,
    top: int = SERIES_TOP,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    crs: StoreCRS | None = None,
    tiles: str | None = None,
):
    """Draw a crime series: each crime numbered 1, 2, … in input order, and the top subjects' tracks in each window.

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows, covering the crime windows.
    crimes : DataFrame
        The series (``crime_ref, x_m, y_m, committed_from, committed_to`` and optional ``radius_m``,
        ``offence``), as given to :func:`trailmon.match.series.series`.
    ranked : DataFrame
        The ranked table (``SERIES``); its first ``top`` subjects are drawn.
    top : int, default 5
        How many subjects to draw.
    radius_m : float, default 100.0
        Radius for crimes without their own, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; each window is padded by it (SPEC §9).
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).
    tiles : str, optional
        A folium tile name or URL template; none by default.

    Returns
    -------
    folium.Map
        Layer ``Crimes``, then ``Track <subject>`` per drawn subject, a legend and a layer control.

    Raises
    ------
    InputError
        For frames lacking columns or a bad ``top``.
    """
    import folium

    from trailmon.map import _draw as D

    crs = L.check_crs(crs)
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InputError(f"top must be a whole number >= 0, got {top!r}")
    if "subject_id" not in getattr(ranked, "columns", ()):
        raise InputError("ranked must be the ranked series table with a subject_id column")
    fields = [L.crime_fields(row, crs) for _, row in crimes.iterrows()]
    radii = [L.crime_radius_m(row, radius_m) for _, row in crimes.iterrows()]
    subjects = [str(s) for s in ranked["subject_id"].head(top)]
    segs = {s: [L.subject_segments(trails, s, f["t1_s"] - max_gap_s, f["t2_s"] + max_gap_s, crs, max_gap_s)
                for f in fields] for s in subjects}
    points = [(np.array([f["lat"] for f in fields]), np.array([f["lon"] for f in fields]))]
    for s in subjects:
        points += [(g.lat0, g.lon0) for g in segs[s]] + [(g.lat1, g.lon1) for g in segs[s]]
    m = D.new_map(f"crime series of {len(fields)} crime(s)", tiles, points)
    layer = folium.FeatureGroup(name="Crimes").add_to(m)
    for k, (f, r) in enumerate(zip(fields, radii, strict=True), start=1):
        D.draw_crime(layer, {**f, "crime_ref": f"{k}: {f['crime_ref']}"}, r)
    rows = [D.swatch_line(L.CRIME_COLOUR, None, 3, "crime scene, numbered in the order given"), *D.gap_rows()]
    for i, s in enumerate(subjects):
        colour = L.SUBJECT_COLOURS[i % len(L.SUBJECT_COLOURS)]
        track = folium.FeatureGroup(name=f"Track {D.esc(s)}").add_to(m)
        for k, g in enumerate(segs[s], start=1):
            D.draw_track(track, g, np.full(len(g.t0_s), colour, dtype=object), f"{s} (crime {k})")
        rows.append(D.swatch_line(colour, None, 4, f"rank {i + 1}: {s}"))
    if not subjects:
        rows.append("<i>no subject was within R of any crime of the series</i>")
    D.legend(m, "crime series", rows)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def association_map(
    trails: Trails,
    episode,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    crs: StoreCRS | None = None,
    tiles: str | None = None,
):
    """Draw one co-location episode: both subjects' tracks over it and the closest point.

    Parameters
    ----------
    trails : Trails
        Fixes of both subjects (store metres, seconds UTC) with monitoring windows.
    episode : pandas.Series or dict
        One ``ASSOCIATIONS`` row: ``subject_a, subject_b, start, end`` (tz-aware), ``closest_time``,
        ``min_distance_m``, ``lat, lon``.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).
    tiles : str, optional
        A folium tile name or URL template; none by default.

    Returns
    -------
    folium.Map
        Layers ``Track <subject_a>``, ``Track <subject_b>`` and ``Closest approach``.
    """
    import folium

    from trailmon.map import _draw as D

    crs = L.check_crs(crs)
    if not hasattr(episode, "get"):
        raise InputError(f"episode must be a pandas Series or a dict, got {type(episode).__name__}")
    missing = [c for c in ("subject_a", "subject_b", "start", "end") if episode.get(c) is None]
    if missing:
        raise InputError(f"episode lacks {missing}; give one row of the associations table")
    a_s = L.instant_s("start", episode["start"])
    b_s = L.instant_s("end", episode["end"])
    pair = [str(episode["subject_a"]), str(episode["subject_b"])]
    segs = {s: L.subject_segments(trails, s, a_s, b_s, crs, max_gap_s) for s in pair}
    points = [(g.lat0, g.lon0) for g in segs.values()] + [(g.lat1, g.lon1) for g in segs.values()]
    m = D.new_map(f"together: {pair[0]} and {pair[1]}, {L.iso(a_s)} to {L.iso(b_s)}", tiles, points)
    rows = []
    for i, s in enumerate(pair):
        colour = L.SUBJECT_COLOURS[i]
        layer = folium.FeatureGroup(name=f"Track {D.esc(s)}").add_to(m)
        D.draw_track(layer, segs[s], np.full(len(segs[s].t0_s), colour, dtype=object), s)
        rows.append(D.swatch_line(colour, None, 4, s))
    lat, lon = episode.get("lat"), episode.get("lon")
    if lat is not None and lon is not None and np.isfinite(float(lat)) and np.isfinite(float(lon)):
        closest = folium.FeatureGroup(name="Closest approach").add_to(m)
        d = float(episode.get("min_distance_m", np.nan))
        tip = (f"closest {d:.1f} m at {D.esc(episode.get('closest_time', ''))}; "
               f"together {float(episode.get('duration_s', np.nan)) / 60:.1f} min")
        folium.CircleMarker([float(lat), float(lon)], radius=6, color=L.CRIME_COLOUR, fill=True, fill_opacity=0.8,
                            tooltip=tip).add_to(closest)
        rows.append("red dot: midpoint of the two at their closest")
    D.legend(m, "co-location episode", rows)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
