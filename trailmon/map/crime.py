"""The per-crime proximity map (SPEC §4 maps): the scene, each hit subject's track, the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.crs import StoreCRS
from trailmon.errors import InputError
from trailmon.map import _layers as L
from trailmon.map.basemap import add_base_layers
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["SCENE_LAYER", "crime_hits", "crime_map"]

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
