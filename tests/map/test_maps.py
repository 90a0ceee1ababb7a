"""Subject and crime maps: the folium objects, the rendered offline HTML, the static PNG (SPEC §4 maps)."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import folium
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from trailmon.errors import InputError, TimezoneError
from trailmon.map import _layers as L
from trailmon.map import crime_map, offline_html, save_map, static_map_png, subject_map
from trailmon.map.crime import SCENE_LAYER
from trailmon.map.subject import LAYERS
from trailmon.match.proximity import proximity
from trailmon.testing import make_trail

E0, N0 = 530000.0, 180000.0  # central London, inside OSTN15
T0 = 1_783_000_000.0  # seconds UTC


def ts(s: float) -> pd.Timestamp:
    return pd.Timestamp(round((T0 + s) * 1e3), unit="ms", tz="UTC")


def _trails():
    # S1 walks east 30 m north of the scene: 60 s steps, then a 300 s gap (interpolated), then 900 s (unknown)
    rows = [(T0 + 60 * k, E0 - 300 + 50 * k, N0 + 30) for k in range(10)]
    rows += [(T0 + 840, E0 + 250, N0 + 30), (T0 + 1740, E0 + 600, N0 + 30), (T0 + 1800, E0 + 650, N0 + 30)]
    # S2 dwells by the scene on wifi fixes (accuracy 50 m)
    rows += [(T0 + 60 * k, E0 + 20, N0 - 10, None, "wifi", "S2") for k in range(8)]
    # S3 is by the scene but outside its monitoring window: never drawn
    rows += [(T0 + 60 * k, E0, N0, None, None, "S3") for k in range(5)]
    return make_trail(rows, windows={"S3": [(T0 + 10_000, T0 + 20_000)]})


def _crimes(radius=np.nan):
    return pd.DataFrame(
        {
            "crime_ref": ["K1", "K9"],
            "offence": ["TFP", "RB"],
            "x_m": [E0, E0 + 50_000],
            "y_m": [N0, N0],
            "committed_from": [ts(0), ts(-86400 * 3)],
            "committed_to": [ts(1800), ts(-86400 * 2)],
            "radius_m": [radius, 100.0],
        }
    )


@pytest.fixture(scope="module")
def world():
    tr = _trails()
    crimes = _crimes()
    res = proximity(tr, crimes.iloc[:1])
    circle = {
        "appointment_id": "A1",
        "subject_id": "S1",
        "start": ts(0),
        "end": ts(600),
        "appointment_type": "OM",
        "center_x_m": E0 - 100,
        "center_y_m": N0 + 30,
        "radius_m": 40.0,
        "geometry": None,
    }
    square = Polygon([(E0 + 200, N0), (E0 + 300, N0), (E0 + 300, N0 + 100), (E0 + 200, N0 + 100)])
    poly = {
        "appointment_id": "A2",
        "subject_id": "S1",
        "start": ts(700),
        "end": ts(900),
        "appointment_type": "",
        "center_x_m": np.nan,
        "center_y_m": np.nan,
        "radius_m": np.nan,
        "geometry": square,
    }
    appts = pd.DataFrame([circle, poly])
    att = pd.DataFrame({"appointment_id": ["A1", "A2"], "status": ["attended", "no_data"]})
    zones = pd.DataFrame(
        {
            "zone_id": ["Z1", "Z2"],
            "subject_id": ["S1", "S1"],
            "kind": ["exclusion", "inclusion"],
            "active_from": [ts(-100), ts(-100)],
            "active_to": [pd.NaT, ts(5000)],
            "daily_start": ["", "19:00"],
            "daily_end": ["", "07:00"],
            "center_x_m": [E0, E0 - 500],
            "center_y_m": [N0, N0],
            "radius_m": [200.0, 50.0],
            "geometry": [None, None],
        }
    )
    zones["active_to"] = pd.to_datetime(zones["active_to"], utc=True)
    return {"trails": tr, "crimes": crimes, "res": res, "appts": appts, "att": att, "zones": zones}


def _groups(m: folium.Map) -> dict[str, folium.FeatureGroup]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.FeatureGroup)}


def _of(group, cls) -> list:
    return [c for c in group._children.values() if type(c) is cls]


@pytest.fixture(scope="module")
def smap(world):
    return subject_map(
        world["trails"],
        "S1",
        ts(0),
        ts(1800),
        crimes=world["crimes"],
        hits=world["res"].hits,
        evidence=world["res"].evidence,
        appointments=world["appts"],
        attendance=world["att"],
        zones=world["zones"],
    )


def test_subject_map_layers_and_controls(smap):
    assert list(_groups(smap)) == list(LAYERS.values())
    kinds = {type(c).__name__ for c in smap._children.values()}
    assert "LayerControl" in kinds
    html = smap.get_root().render()
    assert "trailmon-legend" in html and "L.control.scale" in html


def test_track_styled_by_gap_and_coloured_by_time(smap):
    lines = _of(_groups(smap)[LAYERS["track"]], folium.PolyLine)
    dashes = [pl.options["dashArray"] for pl in lines]
    assert set(dashes) == set(L.GAP_DASH)  # solid (< 2 min), dashed (<= 10 min), dotted (longer)
    assert dashes[0] is None and dashes[-2:] == ["2 8", None]
    assert lines[0].options["color"] == L.VIRIDIS_BINS[0]
    assert lines[-1].options["color"] == L.VIRIDIS_BINS[-1]


def test_fixes_have_confidence_circles(world):
    m = subject_map(world["trails"], "S2", ts(0), ts(1800))
    circles = _of(_groups(m)[LAYERS["accuracy"]], folium.Circle)
    assert [c.options["radius"] for c in circles] == [50.0] * 8  # wifi default accuracy
    assert len(_of(_groups(m)[LAYERS["fixes"]], folium.CircleMarker)) == 8


def test_only_fixes_inside_monitoring_windows_are_drawn(world):
    m = subject_map(world["trails"], "S3", ts(0), ts(1800))
    assert not _of(_groups(m)[LAYERS["fixes"]], folium.CircleMarker)
    assert not _of(_groups(m)[LAYERS["track"]], folium.PolyLine)


@pytest.mark.parametrize(
    ("row_radius", "expected"),
    [
        (np.nan, 100.0),  # no radius on the row: the default applies
        (150.0, 150.0),  # the row's radius wins
    ],
)
def test_crime_circle_radius_and_window(world, row_radius, expected):
    m = subject_map(world["trails"], "S1", ts(0), ts(1800), crimes=_crimes(row_radius))
    circles = _of(_groups(m)[LAYERS["crimes"]], folium.Circle)
    assert [c.options["radius"] for c in circles] == [expected]  # K9 lies outside the period
    popup = next(iter(circles[0]._children.values()))
    assert "1970" not in popup.html.render() and L.iso(T0) in popup.html.render()


def test_hits_carry_pass_labels(smap, world):
    ev = world["res"].evidence
    labels = [
        re.search(r">([A-Z]+\d+)<", mk.icon.options.get("html", "") or mk.icon.html).group(1)
        for mk in _of(_groups(smap)[LAYERS["hits"]], folium.Marker)
    ]
    assert labels == ev.loc[ev["subject_id"] == "S1", "label"].tolist()
    assert labels[0] == "A1"


def test_appointments_coloured_by_status_and_zones_by_kind(smap):
    appts = _groups(smap)[LAYERS["appointments"]]
    circle = _of(appts, folium.Circle)[0]
    assert circle.options["color"] == L.STATUS_COLOURS["attended"] and circle.options["radius"] == 40.0
    poly = _of(appts, folium.GeoJson)[0]
    assert poly.style_function({})["color"] == L.STATUS_COLOURS["no_data"]
    assert poly.data["features"][0]["geometry"]["type"] == "Polygon"
    zones = _of(_groups(smap)[LAYERS["zones"]], folium.Circle)
    assert [z.options["color"] for z in zones] == [L.ZONE_COLOURS["exclusion"], L.ZONE_COLOURS["inclusion"]]


def test_saved_map_is_self_contained(smap, tmp_path):
    path = save_map(smap, tmp_path / "s1.html")
    html = path.read_text()
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "OFFICIAL-SENSITIVE" in html.split("</head>")[0]
    assert "L.map(" in html and "leafletjs.com" in html  # Leaflet itself is inlined
    assert path.stat().st_mode & 0o777 == 0o600


def test_offline_html_full_inlines_everything(smap):
    lean = offline_html(smap.get_root().render())
    full = offline_html(smap.get_root().render(), lean=False)
    assert len(full) > len(lean) + 500_000  # Font Awesome, Bootstrap
    assert not re.search(r"<(script|link)[^>]*(src|href)\s*=\s*[\"'](https?:)?//", full, re.I)


def test_offline_html_refuses_unknown_assets():
    with pytest.raises(InputError, match=r"no local copy of 'https://example\.org/x\.js'"):
        offline_html('<html><script src="https://example.org/x.js"></script></html>')


def test_save_map_needs_html_suffix(smap, tmp_path):
    with pytest.raises(InputError, match=r"path must end in \.html, got '.*map\.png'"):
        save_map(smap, tmp_path / "map.png")


def test_subject_map_errors(world):
    tr = world["trails"]
    with pytest.raises(TimezoneError, match="t_from has no time zone"):
        subject_map(tr, "S1", pd.Timestamp("2026-07-14 12:00"), ts(0))
    with pytest.raises(InputError, match="t_to must not precede t_from"):
        subject_map(tr, "S1", ts(60), ts(0))
    with pytest.raises(InputError, match=r"crimes lacks the columns \['x_m'\]"):
        subject_map(tr, "S1", ts(0), ts(60), crimes=world["crimes"].drop(columns="x_m"))
    with pytest.raises(InputError, match="max_gap_s must be a number >= 0 seconds, got -1"):
        subject_map(tr, "S1", ts(0), ts(60), max_gap_s=-1)


def test_crime_map_scene_tracks_and_labels(world):
    res = world["res"]
    m = crime_map(world["trails"], world["crimes"].iloc[0], res.hits, res.evidence)
    groups = _groups(m)
    assert list(groups) == [SCENE_LAYER, "Track S1", "Evidence S1", "Track S2", "Evidence S2"]
    assert [c.options["radius"] for c in _of(groups[SCENE_LAYER], folium.Circle)] == [100.0]
    ev2 = res.evidence[res.evidence["subject_id"] == "S2"]
    assert len(_of(groups["Evidence S2"], folium.Marker)) == len(ev2)  # one label per evidence row
    radii = [c.options["radius"] for c in _of(groups["Evidence S2"], folium.Circle)]
    assert radii == ev2.loc[ev2["kind"] == "fix", "accuracy_m"].tolist() and set(radii) == {50.0}
    assert not _of(groups["Track S2"], folium.Circle)  # track fixes are dots only
    assert "OFFICIAL-SENSITIVE" in offline_html(m.get_root().render())


def test_crime_map_without_hits(world):
    empty = world["res"].hits.iloc[:0]
    m = crime_map(world["trails"], world["crimes"].iloc[1], empty, world["res"].evidence.iloc[:0])
    assert list(_groups(m)) == [SCENE_LAYER]
    assert "no subject was within R" in m.get_root().render()


def test_segments_clipped_to_period_and_classed(world):
    tr = world["trails"]
    seg = L.subject_segments(tr, "S1", T0 + 30, T0 + 1800, L.check_crs(None))
    assert seg.t0_s[0] == T0 + 30  # interpolated start at the period's beginning
    assert seg.x0_m[0] == pytest.approx(E0 - 300 + 25)
    assert seg.gap_class.tolist() == [0] * 9 + [1, 2, 0]
    assert np.isfinite(seg.lat0).all()


def test_static_png(world, tmp_path):
    from PIL import Image

    res = world["res"]
    data = static_map_png(
        world["trails"], world["crimes"].iloc[0], res.hits, res.evidence, path=tmp_path / "k1.png", dpi=60
    )
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data)).convert("RGB")
    assert img.size == (480, 420)
    assert len(img.getcolors(maxcolors=1 << 20)) > 50
    assert (tmp_path / "k1.png").read_bytes() == data
    assert (tmp_path / "k1.png").stat().st_mode & 0o777 == 0o600


def test_static_png_errors(world):
    res = world["res"]
    with pytest.raises(InputError, match="dpi must be an integer from 20 to 600, got 5"):
        static_map_png(world["trails"], world["crimes"].iloc[0], res.hits, res.evidence, dpi=5)
    with pytest.raises(InputError, match=r"crime_row lacks \['x_m'\]"):
        static_map_png(
            world["trails"],
            {"crime_ref": "K1", "y_m": N0, "committed_from": ts(0), "committed_to": ts(1)},
            res.hits,
            res.evidence,
        )


def test_map_package_imports_lightly():
    code = (
        "import sys, trailmon.map, trailmon.cli.map, trailmon.cli.report; "
        "print(sorted(m for m in ('folium', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
