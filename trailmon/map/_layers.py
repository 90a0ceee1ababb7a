"""Plain-data content of a map, shared by the folium and the matplotlib renderers.

Nothing here imports folium or matplotlib: tracks are cut into segments with their gap class
and time colour, positions are given in the store's metres and in WGS84 degrees, and only fixes
inside the subject's monitoring windows are ever returned (SPEC §7: data outside a monitoring
window is never shown).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.crs import BNG_CRS, StoreCRS
from trailmon.errors import InputError
from trailmon.io._time import instant_s
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_TYPES, Trails

GAP_SHORT_S = 120.0
"""Segments between fixes less than this apart are drawn solid, seconds (SPEC §4: < 2 min)."""

GAP_CLASS_NAMES = ("gap < 2 min", "gap 2-10 min (interpolated)", "gap > 10 min (position unknown)")
"""Legend text of the three gap classes; class 2 starts above ``max_gap_s`` (default 600 s)."""

GAP_DASH = (None, "8 6", "2 8")
"""Leaflet ``dashArray`` of each gap class (solid, dashed, dotted)."""

GAP_WEIGHT = (4, 3, 2)
"""Line width of each gap class, pixels."""

VIRIDIS = (
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
)
"""Colour stops of the track's time scale (viridis: readable in grey and by most colour-blind readers)."""

N_TIME_BINS = 16
"""Track colours are binned into this many steps, so that runs of segments share one polyline."""

STATUS_COLOURS = {
    "attended": "#1a9850",
    "late": "#f46d43",
    "left_early": "#fdae61",
    "partial": "#fee08b",
    "not_attended": "#d73027",
    "no_data": "#969696",
    "not_monitored": "#d9d9d9",
    "": "#4575b4",
}
"""Appointment geofence colour by attendance status ("" when no status was computed)."""

ZONE_COLOURS = {"exclusion": "#b2182b", "inclusion": "#2166ac"}
"""Zone outline colour by kind."""

CRIME_COLOUR = "#e31a1c"
"""Crime scene circle colour."""

SUBJECT_COLOURS = ("#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#fb9a99", "#cab2d6")
"""Track colours of the subjects on a crime map, in hit order."""


class Segments(NamedTuple):
    """Track segments between consecutive shown fixes, clipped to the period.

    Attributes
    ----------
    t0_s, t1_s : ndarray of float64, shape (n_seg,)
        Start and end instants, seconds UTC.
    x0_m, y0_m, x1_m, y1_m : ndarray of float64, shape (n_seg,)
        End points in the store's CRS, metres.
    lon0, lat0, lon1, lat1 : ndarray of float64, shape (n_seg,)
        End points in WGS84 degrees.
    gap_s : ndarray of float64, shape (n_seg,)
        Time between the two fixes the segment joins (before clipping), seconds.
    gap_class : ndarray of int64, shape (n_seg,)
        0 (< 2 min), 1 (2 min to ``max_gap_s``, interpolated), 2 (longer: position unknown).
    """

    t0_s: np.ndarray
    t1_s: np.ndarray
    x0_m: np.ndarray
    y0_m: np.ndarray
    x1_m: np.ndarray
    y1_m: np.ndarray
    lon0: np.ndarray
    lat0: np.ndarray
    lon1: np.ndarray
    lat1: np.ndarray
    gap_s: np.ndarray
    gap_class: np.ndarray


class Fixes(NamedTuple):
    """The shown fixes of one subject (inside the period and the monitoring windows)."""

    t_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy_m: np.ndarray
    fix_type: np.ndarray
    flags: np.ndarray


def period_s(t_from, t_to) -> tuple[float, float]:
    """``(t_from, t_to)`` as seconds UTC, checked in order."""
    a = instant_s("t_from", t_from)
    b = instant_s("t_to", t_to)
    if b < a:
        raise InputError(f"t_to must not precede t_from, got t_from={t_from!r}, t_to={t_to!r}")
    return a, b


def iso(t_s: float | np.ndarray) -> str | np.ndarray:
    """Seconds UTC to ISO 8601 with milliseconds and ``Z``."""
    scalar = np.ndim(t_s) == 0
    t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    out = np.array(
        [
            pd.Timestamp(round(v * 1e3), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            if np.isfinite(v)
            else ""
            for v in t
        ],
        dtype=object,
    )
    return out[0] if scalar else out


def check_crs(crs: StoreCRS | None) -> StoreCRS:
    """The store CRS, British National Grid when None."""
    if crs is None:
        return BNG_CRS()
    if not isinstance(crs, StoreCRS):
        raise InputError(f"crs must be a trailmon.crs.StoreCRS, got {type(crs).__name__}")
    return crs


def to_wgs84(crs: StoreCRS, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Store metres to ``(lon, lat)`` degrees."""
    return crs.to_wgs84(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))


def subject_fixes(trails: Trails, subject_id: str, a_s: float, b_s: float, crs: StoreCRS) -> Fixes:
    """Fixes of ``subject_id`` in ``[a_s, b_s]`` (seconds UTC) inside its monitoring windows."""
    k = trails.subject_index(str(subject_id))
    if k < 0:
        e = np.zeros(0)
        return Fixes(e, e, e, e, e, e, np.zeros(0, dtype=object), np.zeros(0, dtype=np.int32))
    lo, hi = int(trails.offsets[k]), int(trails.offsets[k + 1])
    t = trails.t_s[lo:hi]
    keep = (t >= a_s) & (t <= b_s) & _in_windows(trails, k, t)
    sl = np.arange(lo, hi)[keep]
    lon, lat = trails.lon[sl].copy(), trails.lat[sl].copy()
    missing = ~(np.isfinite(lon) & np.isfinite(lat))
    if missing.any():
        lon[missing], lat[missing] = to_wgs84(crs, trails.x_m[sl][missing], trails.y_m[sl][missing])
    return Fixes(
        trails.t_s[sl],
        trails.x_m[sl],
        trails.y_m[sl],
        lon,
        lat,
        trails.accuracy_m[sl],
        np.asarray(FIX_TYPES, dtype=object)[trails.fix_type[sl].astype(np.int64)],
        trails.flags[sl],
    )


def _in_windows(trails: Trails, k: int, t: np.ndarray) -> np.ndarray:
    ws = trails.win_start_s[trails.win_offsets[k] : trails.win_offsets[k + 1]]
    we = trails.win_end_s[trails.win_offsets[k] : trails.win_offsets[k + 1]]
    return window_of(t, ws, we) >= 0


def window_of(t: np.ndarray, ws: np.ndarray, we: np.ndarray) -> np.ndarray:
    """Index of the (sorted, disjoint) window holding each instant, or -1."""
    j = np.searchsorted(ws, t, side="right") - 1
    ok = (j >= 0) & (t <= we[np.clip(j, 0, None)]) if len(ws) else np.zeros(len(t), dtype=bool)
    return np.where(ok, j, -1)


def subject_segments(
    trails: Trails,
    subject_id: str,
    a_s: float,
    b_s: float,
    crs: StoreCRS,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> Segments:
    """Segments of ``subject_id``'s track over ``[a_s, b_s]`` (seconds UTC), by gap class.

    Consecutive fixes inside one monitoring window are joined. A segment at most ``max_gap_s``
    long (interpolated, SPEC §3) is clipped to the period with interpolated end points; a longer
    one (nothing known in between) is drawn only when both its fixes lie in the period.
    """
    k = trails.subject_index(str(subject_id))
    if k < 0:
        return _no_segments()
    lo, hi = int(trails.offsets[k]), int(trails.offsets[k + 1])
    t, x, y = trails.t_s[lo:hi], trails.x_m[lo:hi], trails.y_m[lo:hi]
    ws = trails.win_start_s[trails.win_offsets[k] : trails.win_offsets[k + 1]]
    we = trails.win_end_s[trails.win_offsets[k] : trails.win_offsets[k + 1]]
    win = window_of(t, ws, we)
    if len(t) < 2:
        return _no_segments()
    ta, tb, xa, xb, ya, yb = t[:-1], t[1:], x[:-1], x[1:], y[:-1], y[1:]
    gap = tb - ta
    same_window = (win[:-1] >= 0) & (win[:-1] == win[1:]) & (gap > 0)
    interp = gap <= max_gap_s
    keep = same_window & np.where(interp, (tb >= a_s) & (ta <= b_s), (ta >= a_s) & (tb <= b_s))
    ta, tb, xa, xb, ya, yb, gap, interp = (v[keep] for v in (ta, tb, xa, xb, ya, yb, gap, interp))
    c0 = np.clip(a_s, ta, tb)
    c1 = np.clip(b_s, ta, tb)
    with np.errstate(invalid="ignore", divide="ignore"):
        f0 = np.where(interp, (c0 - ta) / gap, 0.0)
        f1 = np.where(interp, (c1 - ta) / gap, 1.0)
    t0 = np.where(interp, c0, ta)
    t1 = np.where(interp, c1, tb)
    x0, y0 = xa + f0 * (xb - xa), ya + f0 * (yb - ya)
    x1, y1 = xa + f1 * (xb - xa), ya + f1 * (yb - ya)
    lon0, lat0 = to_wgs84(crs, x0, y0)
    lon1, lat1 = to_wgs84(crs, x1, y1)
    cls = np.where(gap < GAP_SHORT_S, 0, np.where(interp, 1, 2)).astype(np.int64)
    return Segments(t0, t1, x0, y0, x1, y1, lon0, lat0, lon1, lat1, gap, cls)


def _no_segments() -> Segments:
    e = np.zeros(0)
    return Segments(e, e, e, e, e, e, e, e, e, e, e, np.zeros(0, dtype=np.int64))


def time_colour(t_s: np.ndarray, a_s: float, b_s: float) -> np.ndarray:
    """Hex colour of each instant on the period's time scale, in :data:`N_TIME_BINS` steps."""
    return np.asarray(VIRIDIS_BINS, dtype=object)[time_bin(t_s, a_s, b_s)]


def time_bin(t_s: np.ndarray, a_s: float, b_s: float) -> np.ndarray:
    """Bin (0 .. N_TIME_BINS - 1) of each instant on the period ``[a_s, b_s]``."""
    span = max(b_s - a_s, 1e-9)
    f = np.clip((np.asarray(t_s, dtype=np.float64) - a_s) / span, 0.0, 1.0)
    return np.minimum((f * N_TIME_BINS).astype(np.int64), N_TIME_BINS - 1)


def _interp_hex(stops: tuple[str, ...], f: float) -> str:
    rgb = np.array([[int(s[i : i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=float)
    pos = f * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    c = rgb[i] + (pos - i) * (rgb[i + 1] - rgb[i])
    return "#" + "".join(f"{int(round(v)):02x}" for v in c)


VIRIDIS_BINS = tuple(_interp_hex(VIRIDIS, (b + 0.5) / N_TIME_BINS) for b in range(N_TIME_BINS))
"""The colour of each time bin."""


def runs(keys: np.ndarray, contiguous: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of equal ``keys`` where each element joins the previous (``contiguous``)."""
    n = len(keys)
    if n == 0:
        return []
    brk = np.ones(n, dtype=bool)
    brk[1:] = (keys[1:] != keys[:-1]) | ~contiguous[1:]
    starts = np.flatnonzero(brk)
    return list(zip(starts.tolist(), np.append(starts[1:], n).tolist(), strict=True))


def crime_radius_m(crime_row, radius_m: float) -> float:
    """The crime's own ``radius_m`` when it has one, else ``radius_m`` (SPEC §2: a row's radius wins)."""
    r = crime_row.get("radius_m") if hasattr(crime_row, "get") else None
    try:
        r = float(r)
    except (TypeError, ValueError):
        r = np.nan
    if np.isfinite(r) and r > 0:
        return r
    if not (isinstance(radius_m, int | float) and np.isfinite(radius_m) and radius_m > 0):
        raise InputError(f"radius_m must be > 0 metres, got {radius_m!r}")
    return float(radius_m)


def crime_fields(crime_row, crs: StoreCRS) -> dict:
    """``crime_ref, offence, x_m, y_m, lon, lat, t1_s, t2_s`` of one crime row (Series or dict)."""
    if not hasattr(crime_row, "get"):
        raise InputError(f"crime_row must be a pandas Series or a dict, got {type(crime_row).__name__}")
    missing = [
        c for c in ("crime_ref", "x_m", "y_m", "committed_from", "committed_to") if crime_row.get(c) is None
    ]
    if missing:
        raise InputError(
            f"crime_row lacks {missing}; it needs crime_ref, x_m, y_m (metres, store CRS), "
            "committed_from and committed_to (tz-aware)"
        )
    x, y = float(crime_row["x_m"]), float(crime_row["y_m"])
    lon, lat = crime_row.get("lon"), crime_row.get("lat")
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        lon = lat = np.nan
    if not (np.isfinite(lon) and np.isfinite(lat)):
        lo, la = to_wgs84(crs, np.array([x]), np.array([y]))
        lon, lat = float(lo[0]), float(la[0])
    t1 = instant_s("committed_from", crime_row["committed_from"])
    t2 = instant_s("committed_to", crime_row["committed_to"])
    return {
        "crime_ref": str(crime_row["crime_ref"]),
        "offence": str(crime_row.get("offence") or ""),
        "crime_version": crime_row.get("crime_version", 1),
        "x_m": x,
        "y_m": y,
        "lon": lon,
        "lat": lat,
        "t1_s": t1,
        "t2_s": t2,
    }


def evidence_positions(evidence: pd.DataFrame, crs: StoreCRS) -> tuple[np.ndarray, np.ndarray]:
    """``(lon, lat)`` of evidence rows: their own where given, else from ``easting``/``northing``."""
    lon = pd.to_numeric(evidence["lon"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
    lat = pd.to_numeric(evidence["lat"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
    missing = ~(np.isfinite(lon) & np.isfinite(lat))
    if missing.any():
        e = pd.to_numeric(evidence["easting"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        n = pd.to_numeric(evidence["northing"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        lon[missing], lat[missing] = to_wgs84(crs, e[missing], n[missing])
    return lon, lat


def circle_ring(
    x_m: float, y_m: float, r_m: float, crs: StoreCRS, n: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius ``r_m`` around a store point as a WGS84 ring ``(lon, lat)``."""
    a = np.linspace(0.0, 2 * np.pi, n + 1)
    return to_wgs84(crs, x_m + r_m * np.sin(a), y_m + r_m * np.cos(a))
