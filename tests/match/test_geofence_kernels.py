"""Geofence kernels against their naive twins and shapely (SPEC §3 attendance and zones)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import assume, given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from tests.conftest import assert_rows_close
from tests.naive import geofence as naive
from trailmon.match import _geofence_kernels as gk
from trailmon.match.attendance import geofence_arrays

X0, Y0 = 530_000.0, 180_000.0  # a BNG-like origin, so rounding is as in real data


def geo_of(*geoms_or_circles) -> gk.GeofenceArrays:
    """GeofenceArrays from shapely polygons and ``(cx, cy, r)`` circles, one row each."""
    rows = []
    for g in geoms_or_circles:
        if isinstance(g, tuple):
            rows.append(dict(center_x_m=g[0], center_y_m=g[1], radius_m=g[2], geometry=None))
        else:
            rows.append(dict(center_x_m=np.nan, center_y_m=np.nan, radius_m=np.nan, geometry=g))
    frame = pd.DataFrame(rows)
    return geofence_arrays(frame, np.arange(len(rows)).astype(object), "zone")


def pieces(ax, ay, bx, by, geo, g=0):
    size = gk.scratch_size(geo, g)
    ubuf, o0, o1 = np.empty(size), np.empty(size), np.empty(size)
    n = gk.segment_inside_geofence(ax, ay, bx, by, geo, g, ubuf, o0, o1)
    return [(float(o0[k]), float(o1[k])) for k in range(n)]


# ------------------------------------------------------------------------------------------ circles
@pytest.mark.kernels
@pytest.mark.parametrize(
    ("seg", "circle", "expected"),
    [
        ((-2.0, 0.0, 2.0, 0.0), (0.0, 0.0, 1.0), (0.25, 0.75)),  # straight through the centre
        ((-2.0, 1.0, 2.0, 1.0), (0.0, 0.0, 1.0), (0.5, 0.5)),  # tangent at exactly r: an instant
        ((-2.0, 2.0, 2.0, 2.0), (0.0, 0.0, 1.0), None),  # passes outside
        ((0.0, 0.0, 0.5, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0)),  # wholly inside
        ((0.0, 0.0, 4.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.25)),  # starts inside, leaves
        ((3.0, 0.0, 3.0, 0.0), (0.0, 0.0, 1.0), None),  # standing still outside
        ((0.5, 0.0, 0.5, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0)),  # standing still inside
        ((1.0, 0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0)),  # standing still on the circle
        ((2.0, 0.0, 5.0, 0.0), (0.0, 0.0, 1.0), None),  # the line meets the disc, the segment does not
        ((1200.0, 0.0, 0.0, 0.0), (0.0, 0.0, 40.0), (1 - 1 / 30, 1.0)),  # the acceptance office approach
    ],
)
def test_circle_inside_segment_hand_cases(seg, circle, expected):
    u0, u1 = gk.circle_inside_segment(*seg, *circle)
    if expected is None:
        assert math.isnan(u0) and math.isnan(u1)
    else:
        assert (u0, u1) == pytest.approx(expected, abs=1e-12)


coord = st.integers(-200_000, 200_000).map(lambda v: v / 1000.0)  # mm resolution, +-200 m


@pytest.mark.kernels
@given(coord, coord, coord, coord, coord, coord, st.integers(1_000, 150_000).map(lambda v: v / 1000.0))
def test_circle_inside_segment_matches_naive(ax, ay, bx, by, cx, cy, r):
    dx, dy = bx - ax, by - ay
    dd = dx * dx + dy * dy
    u = 0.0 if dd == 0 else min(1.0, max(0.0, ((cx - ax) * dx + (cy - ay) * dy) / dd))
    dmin = math.hypot(ax + u * dx - cx, ay + u * dy - cy)
    assume(abs(dmin - r) > 1e-3)  # a graze within 1 mm is ill-conditioned in both
    got = gk.circle_inside_segment(X0 + ax, Y0 + ay, X0 + bx, Y0 + by, X0 + cx, Y0 + cy, r)
    ref = naive.circle_inside_segment(ax, ay, bx, by, cx, cy, r)
    if math.isnan(ref[0]):
        assert math.isnan(got[0])
    else:
        length = math.sqrt(dd) if dd else 1.0
        assert got[0] == pytest.approx(ref[0], abs=1e-6 / length + 1e-9)
        assert got[1] == pytest.approx(ref[1], abs=1e-6 / length + 1e-9)


# ----------------------------------------------------------------------------------------- polygons
SQUARE = box(0, 0, 10, 10)
DONUT = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(3, 3), (7, 3), (7, 7), (3, 7)]])
CUP = Polygon([(0, 0), (10, 0), (10, 10), (7, 10), (7, 3), (3, 3), (3, 10), (0, 10)])  # concave U
TWO = MultiPolygon([box(0, 0, 2, 2), box(4, 0, 6, 2)])


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("geom", "seg", "expected"),
    [
        (SQUARE, (-5, 5, 15, 5), [(0.25, 0.75)]),  # straight across
        (SQUARE, (5, 5, 6, 6), [(0.0, 1.0)]),  # wholly inside
        (SQUARE, (-5, 20, 15, 20), []),  # wholly outside
        (SQUARE, (-5, 10, 15, 10), [(0.25, 0.75)]),  # along the top edge: the boundary is inside
        (SQUARE, (5, 15, 15, 5), [(0.5, 0.5)]),  # touches a corner only: an instant
        (SQUARE, (10, 5, 20, 5), [(0.0, 0.0)]),  # leaves from the boundary: an instant at the start
        (DONUT, (-5, 5, 15, 5), [(0.25, 0.4), (0.6, 0.75)]),  # across the hole
        (DONUT, (5, 5, 6, 6), []),  # inside the hole
        (CUP, (-5, 5, 15, 5), [(0.25, 0.4), (0.6, 0.75)]),  # across both arms of the U
        (CUP, (5, 5, 5, -5), [(0.2, 0.5)]),  # from the U's bay down through its base
        (TWO, (-1, 1, 7, 1), [(0.125, 0.375), (0.625, 0.875)]),  # across both parts
        (TWO, (3, 1, 3, 1), []),  # standing between the parts
        (TWO, (5, 1, 5, 1), [(0.0, 1.0)]),  # standing in the second part
    ],
)
def test_polygon_inside_segment_hand_cases(geom, seg, expected):
    got = pieces(*seg, geo_of(geom))
    assert len(got) == len(expected)
    for (g0, g1), (e0, e1) in zip(got, expected, strict=True):
        assert g0 == pytest.approx(e0, abs=1e-12)
        assert g1 == pytest.approx(e1, abs=1e-12)


@st.composite
def star(draw, cx, cy, r_min, r_max, n_min=6):
    """A star-shaped (often concave) ring around (cx, cy), angular gaps below 0.6 pi."""
    n = draw(st.integers(n_min, 14))
    jitter = draw(st.lists(st.floats(-0.4, 0.4), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(r_min, r_max), min_size=n, max_size=n))
    ang = [2 * math.pi * (k + j) / n for k, j in enumerate(jitter)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(ang, radii, strict=True)]


@st.composite
def polygons(draw):
    """Concave polygons, with or without a hole, or multipolygons of two, near (X0, Y0)."""
    shape = draw(st.sampled_from(["concave", "hole", "multi"]))
    outer = draw(star(X0, Y0, 40.0, 100.0))
    if shape == "concave":
        geom = Polygon(outer)
    elif shape == "hole":
        geom = Polygon(outer, [draw(star(X0, Y0, 5.0, 18.0, n_min=3))])
    else:
        geom = MultiPolygon([Polygon(outer), Polygon(draw(star(X0 + 230.0, Y0, 20.0, 100.0)))])
    assume(geom.is_valid)
    return geom


@st.composite
def trails_near(draw):
    """A chain of 10-30 points at mm resolution over the polygons' area."""
    n = draw(st.integers(11, 31))
    xs = draw(st.lists(st.integers(-150_000, 400_000), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(-150_000, 150_000), min_size=n, max_size=n))
    return [(X0 + x / 1000.0, Y0 + y / 1000.0) for x, y in zip(xs, ys, strict=True)]


def _check_segment_against_references(geom, geo, a, b):
    got = pieces(a[0], a[1], b[0], b[1], geo)
    frac = sum(u1 - u0 for u0, u1 in got)
    # shapely: the segment's intersection with the polygon, measured by length fraction
    assert frac == pytest.approx(naive.inside_fraction_shapely(a[0], a[1], b[0], b[1], geom), abs=1e-7)
    # naive dense sampling: each boundary crossing costs at most one sample
    n = 2001
    sampled = naive.inside_fraction_sampled(a[0], a[1], b[0], b[1], geom, n=n)
    assert abs(frac - sampled) <= (2 * len(got) + 2) / n
    # pieces are sorted, apart, and inside at their midpoints; the gaps between them are outside
    for (_, p1), (q0, _) in zip(got, got[1:], strict=False):
        assert p1 < q0
        um = 0.5 * (p1 + q0)
        assert not shapely.intersects_xy(geom, a[0] + um * (b[0] - a[0]), a[1] + um * (b[1] - a[1]))
    for p0, p1 in got:
        um = 0.5 * (p0 + p1)
        assert shapely.intersects_xy(geom, a[0] + um * (b[0] - a[0]), a[1] + um * (b[1] - a[1]))


@pytest.mark.kernels
@pytest.mark.oracle
@given(polygons(), trails_near())
def test_polygon_inside_segment_matches_shapely_and_sampling(geom, pts):
    """10-30 segments per example: >= 1,000 segment cases at the default 100 examples."""
    geo = geo_of(geom)
    for a, b in zip(pts, pts[1:], strict=False):
        assume(a != b)
        _check_segment_against_references(geom, geo, a, b)


@pytest.mark.kernels
@pytest.mark.oracle
def test_polygon_inside_segment_seeded_thousand_cases():
    """1,000 seeded cases whatever the hypothesis profile: 50 polygons x 20 segments."""
    rng = np.random.default_rng(20261125)
    cases = 0
    for k in range(50):
        n = int(rng.integers(6, 15))
        ang = 2 * np.pi * (np.arange(n) + rng.uniform(-0.4, 0.4, n)) / n
        rad = rng.uniform(40, 100, n)
        outer = np.c_[X0 + rad * np.cos(ang), Y0 + rad * np.sin(ang)]
        if k % 3 == 0:
            geom = Polygon(outer)
        elif k % 3 == 1:
            m = int(rng.integers(3, 9))
            ah = 2 * np.pi * (np.arange(m) + rng.uniform(-0.4, 0.4, m)) / m
            rh = rng.uniform(5, 18, m)
            geom = Polygon(outer, [np.c_[X0 + rh * np.cos(ah), Y0 + rh * np.sin(ah)]])
        else:
            geom = MultiPolygon([Polygon(outer), box(X0 + 150, Y0 - 50, X0 + 250, Y0 + 50)])
        assert geom.is_valid
        geo = geo_of(geom)
        pts = np.round(np.c_[X0 + rng.uniform(-150, 300, 21), Y0 + rng.uniform(-150, 150, 21)], 3)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            _check_segment_against_references(geom, geo, tuple(a), tuple(b))
            cases += 1
    assert cases == 1000


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("geom", "point", "expected"),
    [
        (SQUARE, (5, 5), True),  # interior
        (SQUARE, (10, 5), True),  # on an edge
        (SQUARE, (10, 10), True),  # on a vertex
        (SQUARE, (10.001, 5), False),  # 1 mm outside
        (DONUT, (5, 5), False),  # in the hole
        (DONUT, (3, 5), True),  # on the hole's edge
        (TWO, (5, 1), True),  # in the second part
        (TWO, (3, 1), False),  # between the parts
    ],
)
def test_point_in_geofence_hand_cases(geom, point, expected):
    assert gk.point_in_geofence(float(point[0]), float(point[1]), geo_of(geom), 0) is expected


# ------------------------------------------------------------------------------------------ intervals
def arrays(rows):
    t = np.array([r[0] for r in rows], dtype=np.float64)
    x = np.array([r[1] for r in rows], dtype=np.float64)
    y = np.array([r[2] for r in rows], dtype=np.float64)
    return t, x, y


CIRCLE = geo_of((0.0, 0.0, 40.0))


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("rows", "window", "expected"),
    [
        # in at 2 s, out at 118 s on two 60 s segments through the centre
        ([(0, -1200, 0), (60, 0, 0), (120, 1200, 0)], (0, 120), [(58.0, 62.0)]),
        # the same, clipped to a window that starts while inside
        ([(0, -1200, 0), (60, 0, 0), (120, 1200, 0)], (60, 120), [(60.0, 62.0)]),
        # an isolated fix inside (gaps both sides): an instant
        ([(0, 500, 0), (1000, 0, 0), (2000, 500, 0)], (0, 2000), [(1000.0, 1000.0)]),
        # inside, then a gap over max_gap: inside time ends at the last fix, resumes at the next
        ([(0, 0, 0), (60, 0, 0), (1000, 0, 0), (1060, 0, 0)], (0, 1060), [(0.0, 60.0), (1000.0, 1060.0)]),
        # never inside
        ([(0, 500, 0), (60, 600, 0)], (0, 60), []),
        # no fix in or near the window
        ([(0, 0, 0), (60, 0, 0)], (5000, 6000), []),
    ],
)
def test_inside_intervals_hand_cases(rows, window, expected):
    t, x, y = arrays(rows)
    s, e = gk.inside_intervals(t, x, y, 0, len(t), float(window[0]), float(window[1]), 600.0, CIRCLE, 0)
    assert_rows_close(zip(s.tolist(), e.tolist(), strict=True), expected, abs=1e-9)


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([0, 60, 120], (0, 120), [(0.0, 120.0)]),  # one run of fixes
        ([0, 60, 1000, 1060], (0, 1060), [(0.0, 60.0), (1000.0, 1060.0)]),  # a gap splits it
        ([0, 1000, 2000], (0, 2000), [(0.0, 0.0), (1000.0, 1000.0), (2000.0, 2000.0)]),  # isolated fixes
        ([0, 60, 120], (30, 90), [(30.0, 90.0)]),  # clipped
        ([0, 60], (100, 200), []),  # nothing known
    ],
)
def test_known_intervals_hand_cases(times, window, expected):
    t = np.array(times, dtype=np.float64)
    s, e = gk.known_intervals(t, 0, len(t), float(window[0]), float(window[1]), 600.0)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == expected


@pytest.mark.kernels
def test_clip_intervals_to_windows():
    s = np.array([0.0, 50.0, 90.0])
    e = np.array([30.0, 70.0, 90.0])
    ws = np.array([-1.0, 20.0, 60.0, 90.0])
    we = np.array([-1.0, 55.0, 65.0, 100.0])
    cs, ce = gk.clip_intervals(s, e, ws, we, 1, 4)
    assert list(zip(cs.tolist(), ce.tolist(), strict=True)) == [(20.0, 30.0), (50.0, 55.0), (60.0, 65.0),
                                                                  (90.0, 90.0)]


@st.composite
def timed_trails(draw):
    """Fixes every 20-900 s (so some gaps exceed 600 s), positions over the polygons' area."""
    pts = draw(trails_near())
    steps = draw(st.lists(st.integers(20, 900), min_size=len(pts), max_size=len(pts)))
    t = np.cumsum(steps).astype(np.float64)
    return t, np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


@pytest.mark.kernels
@given(polygons(), timed_trails())
def test_inside_intervals_time_matches_sampling(geom, trail):
    t, x, y = trail
    a, b = float(t[0]) + 100.0, float(t[-1]) - 100.0
    assume(b > a)
    s, e = gk.inside_intervals(t, x, y, 0, len(t), a, b, 600.0, geo_of(geom), 0)
    got = float(np.sum(e - s))
    step = 2.0
    ref = naive.inside_time_sampled(t, x, y, a, b, 600.0, geom, step)
    assert abs(got - ref) <= step * (2 * len(s) + 2)
    assert np.all(s <= e) and np.all(e[:-1] < s[1:]) and (len(s) == 0 or (s[0] >= a and e[-1] <= b))


# ------------------------------------------------------------------------------------- real polygons
@pytest.mark.oracle
def test_straight_trail_across_london_boroughs_agrees_with_shapely():
    from tests.conftest import shared_file

    gpd = pytest.importorskip("geopandas")
    boroughs = gpd.read_file(shared_file("geofence_uk", "london_boroughs", "london_boroughs.gpkg"))
    assert boroughs.crs.to_epsg() == 27700
    geoms = list(boroughs.geometry.values)
    geo = geo_of(*geoms)
    # west to east across Greater London at N 180 km, one fix a minute at 25 m/s (1.5 km segments)
    xs = np.arange(505_000.0, 560_001.0, 1_500.0)
    t = np.arange(len(xs)) * 60.0
    y = np.full(len(xs), 180_123.456)
    crossed = 0
    for g, geom in enumerate(geoms):
        s, e = gk.inside_intervals(t, xs, y, 0, len(t), 0.0, float(t[-1]), 600.0, geo, g)
        got_m = float(np.sum(e - s)) * 25.0
        ref_m = shapely.length(shapely.intersection(shapely.LineString(np.c_[xs, y]), geom))
        assert got_m == pytest.approx(ref_m, abs=1e-5)
        crossed += ref_m > 0
    assert crossed >= 5


@pytest.mark.kernels
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        # exclusion: the visits, and the gap as no data
        (gk.KIND_EXCLUSION, [(gk.EVENT_VISIT, 58.0, 120.0), (gk.EVENT_NO_DATA, 120.0, 1000.0),
                             (gk.EVENT_VISIT, 1000.0, 1000.0)]),
        # inclusion (a curfew): known and outside, then the same gap; the isolated fix inside is no absence
        (gk.KIND_INCLUSION, [(gk.EVENT_ABSENCE, 0.0, 58.0), (gk.EVENT_NO_DATA, 120.0, 1000.0)]),
    ],
)
def test_zone_events_hand_cases(kind, expected):
    # walk in from 1.2 km (in at 58 s), stay to 120 s, a gap, an isolated fix inside at 1000 s
    t, x, y = arrays([(0, 1200, 0), (60, 0, 0), (120, 0, 0), (1000, 0, 0)])
    ws, we = np.array([-np.inf]), np.array([np.inf])
    one = np.zeros(1, dtype=np.int64)
    p, c, s, e = gk.zone_events(t, x, y, one, one + 4, ws, we, one, one + 1, np.array([0.0]),
                                np.array([1000.0]), np.array([kind], dtype=np.int64), CIRCLE, one, 600.0)
    got = sorted(zip(c.tolist(), s.tolist(), e.tolist(), strict=True), key=lambda r: (r[1], r[2]))
    assert_rows_close(got, sorted(expected, key=lambda r: (r[1], r[2])), abs=1e-9)
    assert set(p.tolist()) <= {0}


@pytest.mark.kernels
@pytest.mark.oracle
def test_segments_through_vertices_agree_with_shapely():
    """Crossings exactly at a vertex, where rounding may put both edges' parameters just outside [0, 1]."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(6, 12))
        ang = 2 * np.pi * (np.arange(n) + rng.uniform(-0.4, 0.4, n)) / n
        rad = rng.uniform(40, 100, n)
        ring = np.c_[X0 + rad * np.cos(ang), Y0 + rad * np.sin(ang)]
        geom = Polygon(ring)
        geo = geo_of(geom)
        for v in ring:
            d = rng.normal(size=2)
            d *= 70.0 / np.hypot(*d)
            a, b = v - rng.uniform(0.2, 1.5) * d, v + rng.uniform(0.2, 1.5) * d
            frac = sum(u1 - u0 for u0, u1 in pieces(a[0], a[1], b[0], b[1], geo))
            ref = naive.inside_fraction_shapely(a[0], a[1], b[0], b[1], geom)
            assert frac == pytest.approx(ref, abs=1e-7)
