"""A subject's movements over a period as a folium map (SPEC §4 maps).

The track is coloured by time and styled by the gap between fixes (< 2 min solid, up to
``max_gap_s`` dashed, longer dotted: nothing known there); each fix has its confidence circle;
crime scenes show their radius and window, hits their evidence points with pass labels;
appointment geofences are coloured by attendance status, zones by kind. Only fixes inside the
subject's monitoring windows are drawn. Every layer can be switched in the layer control.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.crs import StoreCRS
from trailmon.errors import InputError
from trailmon.map import _layers as L
from trailmon.map.basemap import add_base_layers
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["LAYERS", "MAX_FIXES", "subject_map", "thin_evenly"]

MAX_FIXES = 10_000
"""Most fixes a subject map draws by default (SPEC §9); above it the track is thinned evenly."""

LAYERS = {
    "track": "Track (coloured by time)",
    "fixes": "Fixes",
    "accuracy": "Fix accuracy circles",
    "crimes": "Crime scenes",
    "hits": "Hits (evidence, pass labels)",
    "appointments": "Appointments (by status)",
    "zones": "Zones",
}
"""Names of the subject map's layers (folium ``FeatureGroup`` names), by role."""


def subject_map(
    trails: Trails,
    subject_id: str,
    t_from,
    t_to,
    *,
    crimes: pd.DataFrame | None = None,
    hits: pd.DataFrame | None = None,
    evidence: pd.DataFrame | None = None,
    appointments: pd.DataFrame | None = None,
    attendance: pd.DataFrame | None = None,
    zones: pd.DataFrame | None = None,
    tiles: str | None = None,
    basemap=None,
    crs: StoreCRS | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    radius_m: float = 100.0,
    notes: list[str] | None = None,
):
    """Draw one subject over ``[t_from, t_to]`` with the crimes, hits, appointments and zones given.

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows; only ``subject_id``'s are drawn.
    subject_id : str
        The subject.
    t_from, t_to : datetime-like
        The period, tz-aware (any offset; shown in UTC).
    crimes : DataFrame, optional
        Crime frame (``CRIME_INPUT``: ``crime_ref, x_m, y_m`` in store metres, ``committed_from,
        committed_to`` tz-aware, ``radius_m`` in metres); those whose window meets the period are drawn.
    hits : DataFrame, optional
        Hit rows (``HITS``); this subject's are shown in the crime popups.
    evidence : DataFrame, optional
        Evidence rows (``EVIDENCE``: ``lat, lon`` degrees or ``easting, northing`` metres); this
        subject's points are drawn with their labels (``A1``, ``B2``, …).
    appointments : DataFrame, optional
        Appointment frame (``APPOINTMENT_INPUT``: a circle ``center_x_m, center_y_m, radius_m`` in
        metres, or a shapely ``geometry`` in store metres); this subject's meeting the period are drawn.
    attendance : DataFrame, optional
        Attendance rows (``ATTENDANCE``); their ``status`` colours the geofences.
    zones : DataFrame, optional
        Zone frame (``ZONE_INPUT``); this subject's active in the period are drawn.
    tiles : str, optional
        A folium tile name or URL template; none by default (a map renders with no network).
    basemap : BaseMap, optional
        An offline vector base map (:func:`trailmon.map.basemap.read_basemap`), drawn beneath the
        tracks; none by default.
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted), for WGS84 positions.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds; longer gaps are drawn dotted.
    radius_m : float, default 100.0
        Radius of crimes without their own, metres.
    notes : list of str, optional
        Plain-text lines added to the legend, e.g. that the track was thinned.

    Returns
    -------
    folium.Map
        With one ``FeatureGroup`` per entry of :data:`LAYERS`, a layer control, a legend, a scale
        and the protective marking; save it with :func:`trailmon.map.save_map`.

    Raises
    ------
    InputError
        For a reversed period, a bad parameter or a frame lacking the columns it needs.
    TimezoneError
        When ``t_from`` or ``t_to`` carries no time zone.

    Notes
    -----
    Segments follow the trail model of SPEC §3: consecutive fixes at most ``max_gap_s`` apart
    are joined by an interpolated segment (clipped to the period), longer gaps are shown as
    unknown; fixes outside the monitoring windows are never drawn (SPEC §7).

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, 530000.0, 180000.0), (60, 530300.0, 180000.0)])
    >>> t = pd.to_datetime([0, 60], unit="s", utc=True)
    >>> m = subject_map(tr, "S1", t[0], t[1])
    >>> sorted(c.layer_name for c in m._children.values() if hasattr(c, "layer_name"))[:2]
    ['Appointments (by status)', 'Crime scenes']
    """
    import folium

    from trailmon.map import _draw as D

    crs = L.check_crs(crs)
    if not (isinstance(max_gap_s, int | float) and max_gap_s >= 0):
        raise InputError(f"max_gap_s must be a number >= 0 seconds, got {max_gap_s!r}")
    a_s, b_s = L.period_s(t_from, t_to)
    sid = str(subject_id)
    fx = L.subject_fixes(trails, sid, a_s, b_s, crs)
    seg = L.subject_segments(trails, sid, a_s, b_s, crs, max_gap_s)
    crimes_in = _crimes_in_period(crimes, a_s, b_s)
    ev = _rows_of(
        evidence, "evidence", sid, ("subject_id", "label", "kind", "time", "distance_m", "accuracy_m")
    )
    appts = _appointments_in_period(appointments, sid, a_s, b_s)
    zn = _zones_in_period(zones, sid, a_s, b_s)

    cfs = [L.crime_fields(row, crs) for _, row in crimes_in.iterrows()]
    ev_lon, ev_lat = L.evidence_positions(ev, crs) if len(ev) else (np.zeros(0), np.zeros(0))
    points = [(fx.lat, fx.lon), (seg.lat0, seg.lon0), (seg.lat1, seg.lon1), (ev_lat, ev_lon)]
    points += [(np.array([c["lat"]]), np.array([c["lon"]])) for c in cfs]
    points += [D.geofence_latlon(r, crs) for r in appts.itertuples(index=False)]
    title = f"subject {sid}, {L.iso(a_s)} to {L.iso(b_s)}"
    m = D.new_map(title, None, points)
    add_base_layers(m, tiles, basemap, points)
    groups = {
        k: folium.FeatureGroup(name=v, show=k != "accuracy" or len(fx.t_s) <= 2000).add_to(m)
        for k, v in LAYERS.items()
    }

    D.draw_track(groups["track"], seg, L.time_colour((seg.t0_s + seg.t1_s) / 2, a_s, b_s), sid)
    D.draw_fixes(groups["fixes"], groups["accuracy"], fx, L.time_colour(fx.t_s, a_s, b_s), sid)
    hit_rows = _rows_of(hits, "hits", sid, ("crime_ref",))
    for cf, (_, row) in zip(cfs, crimes_in.iterrows(), strict=True):
        D.draw_crime(
            groups["crimes"], cf, L.crime_radius_m(row, radius_m), _hit_text(hit_rows, cf["crime_ref"])
        )
    D.draw_evidence(groups["hits"], ev, ev_lon, ev_lat, "#000000")
    statuses = _statuses(attendance)
    seen_status = set()
    for r in appts.itertuples(index=False):
        st = statuses.get(str(r.appointment_id), "")
        seen_status.add(st)
        text = (
            f"<b>appointment {D.esc(r.appointment_id)}</b> {D.esc(getattr(r, 'appointment_type', '') or '')}"
            f"<br>{D.esc(D._iso_of(r.start))} to {D.esc(D._iso_of(r.end))}"
            f"<br>status: {D.esc(st or 'not judged')}"
        )
        D.draw_geofence(groups["appointments"], r, crs, L.STATUS_COLOURS.get(st, L.STATUS_COLOURS[""]), text)
    for r in zn.itertuples(index=False):
        kind = str(r.kind)
        daily = (
            f"<br>daily {D.esc(r.daily_start)}-{D.esc(r.daily_end)}" if getattr(r, "daily_start", "") else ""
        )
        text = (
            f"<b>zone {D.esc(r.zone_id)}</b> ({D.esc(kind)})<br>active {D.esc(D._iso_of(r.active_from))} to "
            f"{D.esc(D._iso_of(r.active_to) or 'open')}{daily}"
        )
        D.draw_geofence(groups["zones"], r, crs, L.ZONE_COLOURS.get(kind, "#000000"), text, dash="6 4")

    rows = [
        D.time_bar(a_s, b_s),
        *D.gap_rows(),
        D.swatch_line(L.CRIME_COLOUR, None, 3, "crime scene (radius R)"),
        '<span style="font-weight:bold;">A1</span> evidence fix of pass A (hollow: first/last point)',
    ]
    rows += [
        D.swatch_fill(L.STATUS_COLOURS.get(s, L.STATUS_COLOURS[""]), f"appointment: {s or 'not judged'}")
        for s in sorted(seen_status)
    ]
    rows += [
        D.swatch_line(L.ZONE_COLOURS.get(k, "#000"), "6 4", 3, f"{k} zone") for k in sorted(set(zn["kind"]))
    ]
    if len(fx.t_s) == 0:
        rows.append("<i>no fixes inside the monitoring windows in this period</i>")
    rows += [f'<i class="trailmon-note">{D.esc(n)}</i>' for n in notes or ()]
    D.legend(m, f"{sid}: {len(fx.t_s)} fixes", rows)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _rows_of(frame: pd.DataFrame | None, what: str, sid: str, needed: tuple[str, ...]) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({c: [] for c in needed})
    _require(frame, what, needed)
    return frame[frame["subject_id"].astype(str).to_numpy() == sid].reset_index(drop=True)


def _require(frame: pd.DataFrame, what: str, needed: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks the columns {missing}; its columns are {list(frame.columns)}")


def _utc_s(values) -> np.ndarray:
    s = pd.to_datetime(pd.Series(values).reset_index(drop=True), utc=True)
    return (s - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)


def _crimes_in_period(crimes: pd.DataFrame | None, a_s: float, b_s: float) -> pd.DataFrame:
    if crimes is None:
        return pd.DataFrame({c: [] for c in ("crime_ref", "x_m", "y_m", "committed_from", "committed_to")})
    _require(crimes, "crimes", ("crime_ref", "x_m", "y_m", "committed_from", "committed_to"))
    t1, t2 = _utc_s(crimes["committed_from"]), _utc_s(crimes["committed_to"])
    return crimes[(t1 <= b_s) & (t2 >= a_s)].reset_index(drop=True)


def _appointments_in_period(appts: pd.DataFrame | None, sid: str, a_s: float, b_s: float) -> pd.DataFrame:
    if appts is None:
        return pd.DataFrame({c: [] for c in ("appointment_id", "subject_id", "start", "end")})
    appts = _rows_of(appts, "appointments", sid, ("appointment_id", "subject_id", "start", "end"))
    s, e = _utc_s(appts["start"]), _utc_s(appts["end"])
    return appts[(s <= b_s) & (e >= a_s)].reset_index(drop=True)


def _zones_in_period(zones: pd.DataFrame | None, sid: str, a_s: float, b_s: float) -> pd.DataFrame:
    if zones is None:
        return pd.DataFrame({c: [] for c in ("zone_id", "subject_id", "kind", "active_from", "active_to")})
    zones = _rows_of(zones, "zones", sid, ("zone_id", "subject_id", "kind", "active_from", "active_to"))
    s, e = _utc_s(zones["active_from"]), _utc_s(zones["active_to"])
    e = np.where(np.isnan(e), np.inf, e)
    return zones[(s <= b_s) & (e >= a_s)].reset_index(drop=True)


def _statuses(attendance: pd.DataFrame | None) -> dict[str, str]:
    if attendance is None:
        return {}
    _require(attendance, "attendance", ("appointment_id", "status"))
    return {str(a): str(s) for a, s in zip(attendance["appointment_id"], attendance["status"], strict=True)}


def _hit_text(hit_rows: pd.DataFrame, ref: str) -> str:
    from trailmon.map import _draw as D

    rows = hit_rows[hit_rows["crime_ref"].astype(str).to_numpy() == ref]
    out = ""
    for r in rows.itertuples(index=False):
        out += (
            f"<br><b>hit</b>: closest {float(getattr(r, 'min_distance_m', np.nan)):.1f} m, "
            f"{D.esc(getattr(r, 'passes', ''))} pass(es), confidence {D.esc(getattr(r, 'confidence', ''))}"
        )
    return out


def thin_evenly(trails: Trails, a_s: float, b_s: float, max_fixes: int) -> tuple[Trails, int, int]:
    """``trails`` with at most about ``max_fixes`` fixes in ``[a_s, b_s]``: every k-th fix of each subject.

    Returns the trails, the fixes in the period before thinning and k (1: nothing thinned). Each
    subject's last fix is kept, so a thinned track still ends where it ended.

    Examples
    --------
    >>> import numpy as np
    >>> from trailmon.trail import make_trails
    >>> t = make_trails(np.array(["a"] * 10), np.arange(10.0), np.zeros(10), np.zeros(10))
    >>> thinned, n, k = thin_evenly(t, 0.0, 9.0, 4)
    >>> n, k, thinned.t_s.tolist()
    (10, 3, [0.0, 3.0, 6.0, 9.0])
    """
    if not max_fixes >= 1:
        raise InputError(f"the most fixes a map draws must be at least 1, got {max_fixes!r}")
    n_window = int(((trails.t_s >= a_s) & (trails.t_s <= b_s)).sum())
    if n_window <= max_fixes:
        return trails, n_window, 1
    stride = -(-n_window // max_fixes)
    rank = np.arange(trails.n_fixes) - np.repeat(trails.offsets[:-1], np.diff(trails.offsets))
    last = np.zeros(trails.n_fixes, dtype=bool)
    last[trails.offsets[1:][np.diff(trails.offsets) > 0] - 1] = True
    return trails.select_fixes((rank % stride == 0) | last), n_window, stride
