"""Exact time inside a geofence along a trail: circles by the quadratic, polygons by edge crossings.

Metres in the store's projected CRS, seconds since the Unix epoch (UTC). A geofence is a closed
set: its boundary counts as inside, so a trail that only touches it is inside for an instant
(0 s). Polygons are stored as a flat list of directed edges (every ring of every part: exterior
rings, holes and the parts of a multipolygon alike) and tested by the even-odd rule, which is
exact for valid polygons with holes and for multipolygons whose parts do not overlap.

Along a segment ``A -> B`` the moving point is ``A + u (B - A)`` for ``u`` in ``[0, 1]``; the
crossing parameters of every edge split ``[0, 1]`` into pieces, each wholly inside or wholly
outside, decided by testing its midpoint.

The trail model is the one of :mod:`trailmon.match._kernels`: consecutive fixes at most
``max_gap_s`` apart are joined by a segment; across a larger gap nothing is known and a fix
that starts or ends no segment is a point at its own instant.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from trailmon._jit import kernel, parallel_kernel, prange
from trailmon.match._kernels import coverage_window, monitored_time

GEO_CIRCLE = 0
GEO_POLYGON = 1

ON_EDGE_M = 1e-6
"""A point within this distance of an edge is on the boundary (inside), metres.

Far below the millimetre resolution of any input, yet above the rounding of coordinates of
order 1e6 m (about 1e-10 m), so that a trail running exactly along an edge stays inside.
"""

PARAM_EPS = 1e-12
"""Slack on segment and edge parameters (dimensionless) so that a crossing exactly at a vertex or
at a fix is never lost to rounding; a spurious breakpoint only splits a piece, never misjudges it."""

EVENT_VISIT = 0
EVENT_ABSENCE = 1
EVENT_NO_DATA = 2

KIND_EXCLUSION = 0
KIND_INCLUSION = 1

FLAG_INSIDE_AT_START = 1
FLAG_INSIDE_AT_END = 2
FLAG_DATA_GAP = 4


class GeofenceArrays(NamedTuple):
    """Geofences as arrays: circles and polygons side by side (one row per geofence).

    Attributes
    ----------
    kind : ndarray of int64, shape (n_geo,)
        :data:`GEO_CIRCLE` or :data:`GEO_POLYGON`.
    cx, cy, r : ndarray of float64, shape (n_geo,)
        Circle centre and radius, metres (NaN for polygons).
    xmin, ymin, xmax, ymax : ndarray of float64, shape (n_geo,)
        Bounding box, metres.
    edge_offsets : ndarray of int64, shape (n_geo + 1,)
        Edges of geofence ``g`` are ``edge_offsets[g]:edge_offsets[g + 1]`` (none for circles).
    ex0, ey0, ex1, ey1 : ndarray of float64, shape (n_edge,)
        Edge end points, metres.
    """

    kind: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    r: np.ndarray
    xmin: np.ndarray
    ymin: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray
    edge_offsets: np.ndarray
    ex0: np.ndarray
    ey0: np.ndarray
    ex1: np.ndarray
    ey1: np.ndarray


# ----------------------------------------------------------------------------------------- circles
@kernel
def circle_inside_segment(ax, ay, bx, by, cx, cy, r):
    """Parameters ``(u0, u1)`` in [0, 1] of segment A->B inside the closed disc; NaNs when none."""
    dx = bx - ax
    dy = by - ay
    fx = ax - cx
    fy = ay - cy
    c = fx * fx + fy * fy - r * r
    a = dx * dx + dy * dy
    if a == 0.0:
        if c <= 0.0:
            return 0.0, 1.0
        return np.nan, np.nan
    b = 2.0 * (fx * dx + fy * dy)
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return np.nan, np.nan
    sq = np.sqrt(disc)
    if b >= 0.0:
        q = -0.5 * (b + sq)
    else:
        q = -0.5 * (b - sq)
    if q == 0.0:  # b == 0 and disc == 0: c == 0, a double root at 0
        u0 = 0.0
        u1 = 0.0
    else:
        u0 = q / a
        u1 = c / q
        if u0 > u1:
            u0, u1 = u1, u0
    if u0 < 0.0:
        u0 = 0.0
    if u1 > 1.0:
        u1 = 1.0
    if u0 > u1:
        return np.nan, np.nan
    return u0, u1


@kernel
def _push_piece(out0, out1, n, u0, u1):
    """Append [u0, u1] to sorted pieces, merging when it touches the last; returns the new count."""
    if n > 0 and u0 <= out1[n - 1]:
        if u1 > out1[n - 1]:
            out1[n - 1] = u1
        return n
    out0[n] = u0
    out1[n] = u1
    return n + 1


# ---------------------------------------------------------------------------------------- polygons
@kernel
def point_on_edges(px, py, ex0, ey0, ex1, ey1, elo, ehi):
    """Tell whether point P lies within :data:`ON_EDGE_M` of one of the edges ``[elo:ehi]``."""
    for k in range(elo, ehi):
        x0 = ex0[k]
        y0 = ey0[k]
        x1 = ex1[k]
        y1 = ey1[k]
        if px < min(x0, x1) - ON_EDGE_M or px > max(x0, x1) + ON_EDGE_M:
            continue
        if py < min(y0, y1) - ON_EDGE_M or py > max(y0, y1) + ON_EDGE_M:
            continue
        vx = x1 - x0
        vy = y1 - y0
        wx = px - x0
        wy = py - y0
        vv = vx * vx + vy * vy
        if vv == 0.0:
            d2 = wx * wx + wy * wy
        else:
            s = (wx * vx + wy * vy) / vv
            if s < 0.0:
                s = 0.0
            elif s > 1.0:
                s = 1.0
            qx = wx - s * vx
            qy = wy - s * vy
            d2 = qx * qx + qy * qy
        if d2 <= ON_EDGE_M * ON_EDGE_M:
            return True
    return False


@kernel
def point_in_polygon(px, py, ex0, ey0, ex1, ey1, elo, ehi):
    """Tell whether P is in the closed polygon of edges ``[elo:ehi]`` (even-odd; boundary inside)."""
    inside = False
    for k in range(elo, ehi):
        y0 = ey0[k]
        y1 = ey1[k]
        if (y0 > py) != (y1 > py):
            x0 = ex0[k]
            x1 = ex1[k]
            xc = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
            if px < xc:
                inside = not inside
    if inside:
        return True
    return point_on_edges(px, py, ex0, ey0, ex1, ey1, elo, ehi)


@kernel
def polygon_inside_segment(ax, ay, bx, by, ex0, ey0, ex1, ey1, elo, ehi, ubuf, out_u0, out_u1):
    """Pieces ``out_u0[:n], out_u1[:n]`` of segment A->B inside the closed polygon; returns n.

    ``ubuf``, ``out_u0`` and ``out_u1`` are scratch arrays of at least ``2 (ehi - elo) + 2`` items.
    Pieces are sorted, disjoint and not touching; an instant on the boundary is a piece ``u0 == u1``.
    """
    dx = bx - ax
    dy = by - ay
    dd = dx * dx + dy * dy
    if dd == 0.0:
        if point_in_polygon(ax, ay, ex0, ey0, ex1, ey1, elo, ehi):
            out_u0[0] = 0.0
            out_u1[0] = 1.0
            return 1
        return 0
    sxmin = min(ax, bx) - ON_EDGE_M
    sxmax = max(ax, bx) + ON_EDGE_M
    symin = min(ay, by) - ON_EDGE_M
    symax = max(ay, by) + ON_EDGE_M
    m = 0
    for k in range(elo, ehi):
        x0 = ex0[k]
        y0 = ey0[k]
        x1 = ex1[k]
        y1 = ey1[k]
        if max(x0, x1) < sxmin or min(x0, x1) > sxmax or max(y0, y1) < symin or min(y0, y1) > symax:
            continue
        vx = x1 - x0
        vy = y1 - y0
        wx = x0 - ax
        wy = y0 - ay
        den = dx * vy - dy * vx
        if den != 0.0:
            u = (wx * vy - wy * vx) / den
            v = (wx * dy - wy * dx) / den
            # a crossing at a vertex must not slip between its two edges by rounding
            if -PARAM_EPS <= u <= 1.0 + PARAM_EPS and -PARAM_EPS <= v <= 1.0 + PARAM_EPS:
                ubuf[m] = min(max(u, 0.0), 1.0)
                m += 1
        elif wx * dy - wy * dx == 0.0:  # collinear: the overlap's ends are breakpoints
            ua = (wx * dx + wy * dy) / dd
            ub = ((x1 - ax) * dx + (y1 - ay) * dy) / dd
            if 0.0 <= ua <= 1.0:
                ubuf[m] = ua
                m += 1
            if 0.0 <= ub <= 1.0:
                ubuf[m] = ub
                m += 1
    n = 0
    if m == 0:  # no crossing: wholly inside or wholly outside
        if point_in_polygon(ax + 0.5 * dx, ay + 0.5 * dy, ex0, ey0, ex1, ey1, elo, ehi):
            out_u0[0] = 0.0
            out_u1[0] = 1.0
            return 1
        return 0
    ubuf[m] = 0.0
    ubuf[m + 1] = 1.0
    m += 2
    ubuf[:m].sort()
    distinct = 1
    for j in range(1, m):
        if ubuf[j] != ubuf[distinct - 1]:
            ubuf[distinct] = ubuf[j]
            distinct += 1
    m = distinct
    for j in range(m):
        u = ubuf[j]
        # a crossing lies on the boundary (inside); the segment's own ends are tested
        on = True
        if u == 0.0 or u == 1.0:
            on = point_in_polygon(ax + u * dx, ay + u * dy, ex0, ey0, ex1, ey1, elo, ehi)
        if on:
            n = _push_piece(out_u0, out_u1, n, u, u)
        if j + 1 < m and ubuf[j + 1] > u:
            um = 0.5 * (u + ubuf[j + 1])
            if point_in_polygon(ax + um * dx, ay + um * dy, ex0, ey0, ex1, ey1, elo, ehi):
                n = _push_piece(out_u0, out_u1, n, u, ubuf[j + 1])
    return n


# --------------------------------------------------------------------------------------- geofences
@kernel
def point_in_geofence(px, py, geo, g):
    """Tell whether P (metres) is in the closed geofence ``g`` of ``geo`` (:class:`GeofenceArrays`)."""
    if px < geo.xmin[g] - ON_EDGE_M or px > geo.xmax[g] + ON_EDGE_M:
        return False
    if py < geo.ymin[g] - ON_EDGE_M or py > geo.ymax[g] + ON_EDGE_M:
        return False
    if geo.kind[g] == GEO_CIRCLE:
        fx = px - geo.cx[g]
        fy = py - geo.cy[g]
        return fx * fx + fy * fy <= geo.r[g] * geo.r[g]
    return point_in_polygon(px, py, geo.ex0, geo.ey0, geo.ex1, geo.ey1,
                            geo.edge_offsets[g], geo.edge_offsets[g + 1])


@kernel
def segment_inside_geofence(ax, ay, bx, by, geo, g, ubuf, out_u0, out_u1):
    """Pieces ``[u0, u1]`` of segment A->B inside geofence ``g``, into ``out_u0/out_u1``; returns n."""
    if max(ax, bx) < geo.xmin[g] - ON_EDGE_M or min(ax, bx) > geo.xmax[g] + ON_EDGE_M:
        return 0
    if max(ay, by) < geo.ymin[g] - ON_EDGE_M or min(ay, by) > geo.ymax[g] + ON_EDGE_M:
        return 0
    if geo.kind[g] == GEO_CIRCLE:
        u0, u1 = circle_inside_segment(ax, ay, bx, by, geo.cx[g], geo.cy[g], geo.r[g])
        if np.isnan(u0):
            return 0
        out_u0[0] = u0
        out_u1[0] = u1
        return 1
    return polygon_inside_segment(ax, ay, bx, by, geo.ex0, geo.ey0, geo.ex1, geo.ey1,
                                  geo.edge_offsets[g], geo.edge_offsets[g + 1], ubuf, out_u0, out_u1)


@kernel
def scratch_size(geo, g):
    """Length of the scratch arrays :func:`segment_inside_geofence` needs for geofence ``g``."""
    return 2 * (geo.edge_offsets[g + 1] - geo.edge_offsets[g]) + 4


# --------------------------------------------------------------------------------------- intervals
@kernel
def _append(starts, ends, n, s, e):
    """Append [s, e] to sorted intervals (merging when touching); returns (starts, ends, n)."""
    if n > 0 and s <= ends[n - 1]:
        if e > ends[n - 1]:
            ends[n - 1] = e
        return starts, ends, n
    if n == len(starts):
        grown_s = np.empty(2 * n + 8, dtype=np.float64)
        grown_e = np.empty(2 * n + 8, dtype=np.float64)
        grown_s[:n] = starts[:n]
        grown_e[:n] = ends[:n]
        starts = grown_s
        ends = grown_e
    starts[n] = s
    ends[n] = e
    return starts, ends, n + 1


@kernel
def _first_fix(t_s, lo, hi, a, reach):
    """First fix of ``[lo:hi]`` whose segment may reach instant ``a`` (the last one before it)."""
    i = np.searchsorted(t_s[lo:hi], a - reach) + lo - 1
    if i < lo:
        i = lo
    return i


@kernel
def inside_intervals(t_s, x_m, y_m, lo, hi, a, b, max_gap_s, geo, g):
    """Return the closed intervals of ``[a, b]`` (seconds UTC) when fixes ``[lo:hi]`` are inside ``g``.

    Sorted, disjoint and not touching; an isolated fix inside, or a touch of the boundary, is an
    instant ``start == end``. Returns ``(starts, ends)``, empty when never inside.
    """
    starts = np.empty(8, dtype=np.float64)
    ends = np.empty(8, dtype=np.float64)
    n = 0
    if hi <= lo or b < a:
        return starts[:0], ends[:0]
    size = scratch_size(geo, g)
    ubuf = np.empty(size, dtype=np.float64)
    out0 = np.empty(size, dtype=np.float64)
    out1 = np.empty(size, dtype=np.float64)
    i = _first_fix(t_s, lo, hi, a, max_gap_s)
    while i < hi and t_s[i] <= b:
        t0 = t_s[i]
        joined_next = i + 1 < hi and t_s[i + 1] - t0 <= max_gap_s
        joined_prev = i > lo and t0 - t_s[i - 1] <= max_gap_s
        if joined_next:
            t1 = t_s[i + 1]
            if t1 >= a:
                k = segment_inside_geofence(x_m[i], y_m[i], x_m[i + 1], y_m[i + 1], geo, g, ubuf, out0, out1)
                dt = t1 - t0
                for j in range(k):
                    s = t1 if out0[j] == 1.0 else t0 + out0[j] * dt
                    e = t1 if out1[j] == 1.0 else min(t0 + out1[j] * dt, t1)
                    if s < a:
                        s = a
                    if e > b:
                        e = b
                    if e >= s:
                        if n > 0 and s <= ends[n - 1]:  # touching: merge in place (the common case)
                            if e > ends[n - 1]:
                                ends[n - 1] = e
                        else:
                            starts, ends, n = _append(starts, ends, n, s, e)
        elif not joined_prev and t0 >= a:
            if point_in_geofence(x_m[i], y_m[i], geo, g):
                starts, ends, n = _append(starts, ends, n, t0, t0)
        i += 1
    return starts[:n], ends[:n]


@kernel
def known_intervals(t_s, lo, hi, a, b, max_gap_s):
    """Return the closed intervals of ``[a, b]`` where the position of ``[lo:hi]`` is known (no halo).

    Known means on a segment (fixes at most ``max_gap_s`` apart) or at a fix's own instant.
    Returns ``(starts, ends)``, sorted, disjoint and not touching.
    """
    starts = np.empty(8, dtype=np.float64)
    ends = np.empty(8, dtype=np.float64)
    n = 0
    if hi <= lo or b < a:
        return starts[:0], ends[:0]
    i = _first_fix(t_s, lo, hi, a, max_gap_s)
    while i < hi and t_s[i] <= b:
        s = t_s[i]
        e = s
        if i + 1 < hi and t_s[i + 1] - s <= max_gap_s:
            e = t_s[i + 1]
        if s < a:
            s = a
        if e > b:
            e = b
        if e >= s:
            if n > 0 and s <= ends[n - 1]:  # touching: merge in place (the common case)
                if e > ends[n - 1]:
                    ends[n - 1] = e
            else:
                starts, ends, n = _append(starts, ends, n, s, e)
        i += 1
    return starts[:n], ends[:n]


@kernel
def clip_intervals(starts, ends, ws, we, wlo, whi):
    """Intervals intersected with the sorted, disjoint windows ``[ws, we][wlo:whi]`` (closed)."""
    out_s = np.empty(len(starts) + (whi - wlo), dtype=np.float64)
    out_e = np.empty(len(starts) + (whi - wlo), dtype=np.float64)
    n = 0
    w = wlo
    for k in range(len(starts)):
        s = starts[k]
        e = ends[k]
        while w < whi and we[w] < s:
            w += 1
        v = w
        while v < whi and ws[v] <= e:
            cs = s if s > ws[v] else ws[v]
            ce = e if e < we[v] else we[v]
            if ce >= cs:
                out_s[n] = cs
                out_e[n] = ce
                n += 1
            v += 1
    return out_s[:n], out_e[:n]


# -------------------------------------------------------------------------------------- attendance
@kernel
def _gap_while_inside(t_s, x_m, y_m, lo, hi, a, b, max_gap_s, ws, we, wlo, whi, geo, g):
    """Tell whether unknown, monitored time in ``[a, b]`` borders a fix inside geofence ``g``."""
    if hi <= lo:
        return False
    if a < t_s[lo] <= b and monitored_time(ws, we, wlo, whi, a, t_s[lo]) > 0.0:
        if point_in_geofence(x_m[lo], y_m[lo], geo, g):
            return True
    if a <= t_s[hi - 1] < b and monitored_time(ws, we, wlo, whi, t_s[hi - 1], b) > 0.0:
        if point_in_geofence(x_m[hi - 1], y_m[hi - 1], geo, g):
            return True
    i = _first_fix(t_s, lo, hi, a, max_gap_s)
    while i + 1 < hi and t_s[i] < b:
        t0 = t_s[i]
        t1 = t_s[i + 1]
        if t1 - t0 > max_gap_s and t1 > a:
            s = t0 if t0 > a else a
            e = t1 if t1 < b else b
            if monitored_time(ws, we, wlo, whi, s, e) > 0.0:
                if point_in_geofence(x_m[i], y_m[i], geo, g):
                    return True
                if point_in_geofence(x_m[i + 1], y_m[i + 1], geo, g):
                    return True
        i += 1
    return False


@parallel_kernel
def attendance_appointments(t_s, x_m, y_m, fix_lo, fix_hi, ws, we, win_lo, win_hi, look_s, start_s, end_s,
                            geo, geo_idx, max_gap_s, halo_s):
    """Per appointment: time inside over ``[look_s, end_s]`` and coverage over ``[start_s, end_s]``.

    Seconds UTC. Returns ``(inside_s, arrival_s, departure_s, n_inside, flags, coverage,
    monitored_s, monitored_first_s, monitored_last_s)``; arrival, departure and the monitored
    instants are NaN when there are none. ``n_inside`` counts intervals (instants included).
    """
    n_app = len(start_s)
    inside_s = np.zeros(n_app, dtype=np.float64)
    arrival = np.full(n_app, np.nan, dtype=np.float64)
    departure = np.full(n_app, np.nan, dtype=np.float64)
    n_inside = np.zeros(n_app, dtype=np.int64)
    flags = np.zeros(n_app, dtype=np.int64)
    coverage = np.zeros(n_app, dtype=np.float64)
    mon_s = np.zeros(n_app, dtype=np.float64)
    mon_first = np.full(n_app, np.nan, dtype=np.float64)
    mon_last = np.full(n_app, np.nan, dtype=np.float64)
    for p in prange(n_app):
        lo = fix_lo[p]
        hi = fix_hi[p]
        wlo = win_lo[p]
        whi = win_hi[p]
        a = look_s[p]
        s = start_s[p]
        e = end_s[p]
        g = geo_idx[p]
        coverage[p] = coverage_window(t_s, lo, hi, s, e, max_gap_s, halo_s, ws, we, wlo, whi)
        mon_s[p] = monitored_time(ws, we, wlo, whi, s, e)
        for w in range(wlo, whi):
            cs = s if s > ws[w] else ws[w]
            ce = e if e < we[w] else we[w]
            if ce >= cs:
                if np.isnan(mon_first[p]) or cs < mon_first[p]:
                    mon_first[p] = cs
                if np.isnan(mon_last[p]) or ce > mon_last[p]:
                    mon_last[p] = ce
        raw_s, raw_e = inside_intervals(t_s, x_m, y_m, lo, hi, a, e, max_gap_s, geo, g)
        ins_s, ins_e = clip_intervals(raw_s, raw_e, ws, we, wlo, whi)
        k = len(ins_s)
        n_inside[p] = k
        if k > 0:
            total = 0.0
            for j in range(k):
                total += ins_e[j] - ins_s[j]
            inside_s[p] = total
            arrival[p] = ins_s[0]
            departure[p] = ins_e[k - 1]
            f = 0
            if ins_s[0] <= a:
                f |= FLAG_INSIDE_AT_START
            if ins_e[k - 1] >= e:
                f |= FLAG_INSIDE_AT_END
            if _gap_while_inside(t_s, x_m, y_m, lo, hi, a, e, max_gap_s, ws, we, wlo, whi, geo, g):
                f |= FLAG_DATA_GAP
            flags[p] = f
    return inside_s, arrival, departure, n_inside, flags, coverage, mon_s, mon_first, mon_last


# ------------------------------------------------------------------------------------------- zones
@kernel
def _emit(ev_p, ev_c, ev_s, ev_e, n, p, c, s, e):
    """Append one event; returns the (possibly grown) arrays and the new count."""
    if n == len(ev_p):
        m = 2 * n + 16
        gp = np.empty(m, dtype=np.int64)
        gc = np.empty(m, dtype=np.int64)
        gs = np.empty(m, dtype=np.float64)
        ge = np.empty(m, dtype=np.float64)
        gp[:n] = ev_p[:n]
        gc[:n] = ev_c[:n]
        gs[:n] = ev_s[:n]
        ge[:n] = ev_e[:n]
        ev_p, ev_c, ev_s, ev_e = gp, gc, gs, ge
    ev_p[n] = p
    ev_c[n] = c
    ev_s[n] = s
    ev_e[n] = e
    return ev_p, ev_c, ev_s, ev_e, n + 1


@kernel
def zone_events(t_s, x_m, y_m, fix_lo, fix_hi, ws, we, win_lo, win_hi, from_s, to_s, kind, geo, geo_idx,
                max_gap_s):
    """Events of every active period ``[from_s, to_s]`` clipped to the monitoring windows.

    Exclusion zones give visits (maximal intervals inside), inclusion zones absences (maximal
    intervals known and outside); both give no-data events (monitored time of unknown position).
    Returns ``(period, event, start_s, end_s)``, event :data:`EVENT_VISIT`, :data:`EVENT_ABSENCE`
    or :data:`EVENT_NO_DATA`; in period order, not sorted by time within a period.
    """
    ev_p = np.empty(16, dtype=np.int64)
    ev_c = np.empty(16, dtype=np.int64)
    ev_s = np.empty(16, dtype=np.float64)
    ev_e = np.empty(16, dtype=np.float64)
    n = 0
    for p in range(len(from_s)):
        lo = fix_lo[p]
        hi = fix_hi[p]
        g = geo_idx[p]
        for w in range(win_lo[p], win_hi[p]):
            c0 = from_s[p] if from_s[p] > ws[w] else ws[w]
            c1 = to_s[p] if to_s[p] < we[w] else we[w]
            if c1 <= c0:
                continue
            k_s, k_e = known_intervals(t_s, lo, hi, c0, c1, max_gap_s)
            cur = c0
            for j in range(len(k_s)):
                if k_s[j] > cur:
                    ev_p, ev_c, ev_s, ev_e, n = _emit(ev_p, ev_c, ev_s, ev_e, n, p,
                                                      EVENT_NO_DATA, cur, k_s[j])
                cur = k_e[j]
            if c1 > cur:
                ev_p, ev_c, ev_s, ev_e, n = _emit(ev_p, ev_c, ev_s, ev_e, n, p,
                                                      EVENT_NO_DATA, cur, c1)
            i_s, i_e = inside_intervals(t_s, x_m, y_m, lo, hi, c0, c1, max_gap_s, geo, g)
            if kind[p] == KIND_EXCLUSION:
                for j in range(len(i_s)):
                    ev_p, ev_c, ev_s, ev_e, n = _emit(ev_p, ev_c, ev_s, ev_e, n, p,
                                                      EVENT_VISIT, i_s[j], i_e[j])
                continue
            q = 0  # absences: known time minus inside time (inside time lies within known time)
            for j in range(len(k_s)):
                k0 = k_s[j]
                k1 = k_e[j]
                cur = k0
                touched = False
                while q < len(i_s) and i_s[q] <= k1:
                    if i_s[q] > cur:
                        ev_p, ev_c, ev_s, ev_e, n = _emit(ev_p, ev_c, ev_s, ev_e, n, p,
                                                      EVENT_ABSENCE, cur, i_s[q])
                    if i_e[q] > cur:
                        cur = i_e[q]
                    touched = True
                    q += 1
                if k1 > cur or (not touched and k1 == k0):
                    ev_p, ev_c, ev_s, ev_e, n = _emit(ev_p, ev_c, ev_s, ev_e, n, p,
                                                      EVENT_ABSENCE, cur, k1)
    return ev_p[:n], ev_c[:n], ev_s[:n], ev_e[:n]
