"""The reachable area of a gap near the scene (the prism's ellipse) drawn on the crime map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from trailmon.map.crime import add_prism_layer, crime_map, prism_outline
from trailmon.match.proximity import proximity
from trailmon.match.reachability import min_speed_mps
from trailmon.testing import make_trail

T0 = 1_784_030_400.0


def test_outline_without_window_clip_is_the_ellipse():
    # foci 1200 m apart, 10 min at 36 km/h (10 m/s): |XA| + |XB| <= 6000 m: semi-axes 3000 and sqrt(3000^2 - 600^2)
    x, y = prism_outline(0.0, 0.0, 0.0, 1200.0, 0.0, 0.0, T0, T0 + 600.0, T0 - 10.0, T0 + 700.0, 36.0, n=720)
    poly = shapely.Polygon(np.column_stack([x, y]))
    assert poly.area == pytest.approx(np.pi * 3000.0 * np.sqrt(3000.0**2 - 600.0**2), rel=1e-3)
    assert x.max() == pytest.approx(3600.0, abs=0.01) and x.min() == pytest.approx(-2400.0, abs=0.01)


def test_a_scene_is_inside_exactly_when_its_least_speed_is_below_the_bound():
    rng = np.random.default_rng(7)
    ax, ay, bx, by = 0.0, 0.0, 900.0, 300.0
    t1, t2 = T0 + 100.0, T0 + 400.0
    x, y = prism_outline(ax, ay, 10.0, bx, by, 5.0, T0, T0 + 600.0, t1, t2, 20.0, n=720)
    poly = shapely.Polygon(np.column_stack([x, y]))
    px, py = rng.uniform(-2000, 3000, 400), rng.uniform(-2000, 2000, 400)
    d_a = np.maximum(0, np.hypot(px - ax, py - ay) - 10.0)
    d_b = np.maximum(0, np.hypot(px - bx, py - by) - 5.0)
    v = min_speed_mps(d_a, d_b, T0, T0 + 600.0, t1, t2) * 3.6
    inside = shapely.contains_xy(poly, px, py)
    clear = np.abs(v - 20.0) > 0.5  # away from the edge, which the ring approximates by chords
    assert (inside[clear] == (v[clear] <= 20.0)).all()


def test_nothing_reachable_gives_an_empty_ring():
    x, y = prism_outline(0.0, 0.0, 0.0, 10_000.0, 0.0, 0.0, T0, T0 + 60.0, T0, T0 + 60.0, 112.0)
    assert len(x) == len(y) == 0


def test_crime_map_gets_a_reachable_layer_per_gap():
    tr = make_trail([(T0, 529100.0, 180000.0, 0.0), (T0 + 1200.0, 530300.0, 180000.0, 0.0)])
    t = pd.to_datetime([T0, T0 + 1200.0], unit="s", utc=True)
    crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [530000.0], "y_m": [180000.0], "committed_from": t[:1],
                           "committed_to": t[1:], "radius_m": [50.0]})
    res = proximity(tr, crimes)
    assert len(res.gaps) == 1
    m = crime_map(tr, crimes.iloc[0], res.hits, res.evidence)
    assert add_prism_layer(m, tr, crimes.iloc[0], res.gaps) == 1
    html = m.get_root().render()
    assert "Reachable in gaps" in html and "least speed to the scene 3.6 km/h" in html
