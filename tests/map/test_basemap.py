"""Base maps beneath the tracks: XYZ tiles and offline vector files, in folium and the static PNG."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Polygon

from tests.conftest import shared_file
from tests.map.test_maps import E0, N0, T0, _trails, ts
from trailmon.demo import sample_dir
from trailmon.errors import InputError
from trailmon.map import crime_map, save_map, static_map_png, subject_map
from trailmon.map.basemap import BASEMAP_LAYER, check_tiles, read_basemap, resolve_base_layers, tile_origin
from trailmon.match.proximity import proximity

TILES = "https://tiles.example.internal/osm/{z}/{x}/{y}.png"


def _crime():
    return pd.DataFrame({"crime_ref": ["K1"], "offence": ["burglary"], "x_m": [E0], "y_m": [N0],
                         "committed_from": [ts(0)], "committed_to": [ts(600)], "radius_m": [100.0]})


@pytest.fixture
def streets(tmp_path):
    """A road through the scene and a building beside it, in WGS84 (the store is in EPSG:27700)."""
    from trailmon.crs import BNG_CRS

    lon, lat = BNG_CRS().to_wgs84(np.array([E0 - 400, E0 + 400, E0 + 40, E0 + 60]),
                                  np.array([N0 - 150, N0 - 150, N0 - 60, N0 - 40]))
    gdf = gpd.GeoDataFrame(
        {"highway": ["residential", None], "building": [None, "yes"]},
        geometry=[LineString([(lon[0], lat[0]), (lon[1], lat[1])]),
                  Polygon([(lon[2], lat[2]), (lon[3], lat[2]), (lon[3], lat[3]), (lon[2], lat[3])])],
        crs="EPSG:4326",
    )
    path = tmp_path / "streets.gpkg"
    gdf.to_file(path, layer="osm", driver="GPKG")
    return path


def test_read_basemap_transforms_and_classifies(streets):
    bm = read_basemap(streets)
    assert list(bm.store["kind"]) == ["building", "road"]  # drawing order: buildings beneath roads
    road = bm.store.geometry.iloc[1]
    assert road.coords[0] == pytest.approx((E0 - 400, N0 - 150), abs=5.0)  # WGS84 -> BNG (pyproj, metres)
    assert len(bm.near(E0 - 10, N0 - 10, E0 + 10, N0 + 10)) == 0
    assert len(bm.near(E0 - 500, N0 - 160, E0 + 500, N0 - 140)) == 1


def test_folium_maps_draw_base_layers_beneath(streets):
    tr = _trails()
    crimes = _crime()
    res = proximity(tr, crimes)
    bm = read_basemap(streets)
    m = crime_map(tr, crimes.iloc[0], res.hits, res.evidence, tiles=TILES, basemap=bm)
    names = [getattr(c, "layer_name", None) for c in m._children.values()]
    assert names.index(BASEMAP_LAYER) < names.index("Crime scene")  # added first: drawn beneath
    html = m.get_root().render()
    assert TILES in html and '"residential"' not in html and '"road"' in html and '"building"' in html
    plain = crime_map(tr, crimes.iloc[0], res.hits, res.evidence).get_root().render()
    assert BASEMAP_LAYER not in plain and "tile.openstreetmap" not in plain and "tiles.example" not in plain
    s = subject_map(tr, "S1", ts(0), ts(1800), basemap=bm)
    assert BASEMAP_LAYER in [getattr(c, "layer_name", None) for c in s._children.values()]


def _grey_pixels(png: bytes, rgb) -> int:
    """Pixels of ``rgb``'s grey or lighter anti-aliased shades of it (between it and white)."""
    from matplotlib.image import imread

    img = imread(io.BytesIO(png))[..., :3]
    neutral = (np.abs(img[..., 0] - img[..., 1]) < 0.02) & (np.abs(img[..., 1] - img[..., 2]) < 0.02)
    level = rgb[0] / 255.0
    return int((neutral & (img[..., 0] > level - 0.03) & (img[..., 0] < 0.9)).sum())


def test_static_png_draws_the_vector_base_map(streets):
    tr = _trails()
    crimes = _crime()
    res = proximity(tr, crimes)
    road = (0xB0, 0xB0, 0xB0)
    without = static_map_png(tr, crimes.iloc[0], res.hits, res.evidence, dpi=60)
    with_bm = static_map_png(tr, crimes.iloc[0], res.hits, res.evidence, dpi=60, basemap=read_basemap(streets))
    assert _grey_pixels(with_bm, road) > _grey_pixels(without, road) + 300  # the road's grey (beyond anti-aliasing)


def test_london_boroughs_as_a_base_layer(tmp_path):
    gpkg = shared_file("geofence_uk", "london_boroughs", "london_boroughs.gpkg")
    if not gpkg.exists():
        pytest.skip(f"shared data {gpkg} is absent (London boroughs GeoPackage)")
    bm = read_basemap(gpkg)
    assert len(bm) == 33 and set(bm.store["kind"]) == {"area"}
    # a walk across the nearest borough boundary to central London, with a crime on the boundary
    import shapely.ops
    from shapely.geometry import Point

    from trailmon.testing import make_trail

    edge = shapely.ops.nearest_points(shapely.union_all([g.boundary for g in bm.store.geometry]), Point(E0, N0))[0]
    bx, by = edge.x, edge.y
    tr = make_trail([(T0 + 60 * k, bx - 300 + 60 * k, by + 20) for k in range(11)])
    crimes = _crime().assign(x_m=bx, y_m=by)
    res = proximity(tr, crimes)
    assert len(res.hits) == 1
    m = crime_map(tr, crimes.iloc[0], res.hits, res.evidence, basemap=bm)
    html = save_map(m, tmp_path / "m.html").read_text()
    n_drawn = html.count('"kind": "area"') + html.count('"kind":"area"')
    assert 2 <= n_drawn < 33  # the boroughs either side of the boundary, not all of London
    png = static_map_png(tr, crimes.iloc[0], res.hits, res.evidence, dpi=60, basemap=bm)
    plain = static_map_png(tr, crimes.iloc[0], res.hits, res.evidence, dpi=60)
    grey = (0x8C, 0x8C, 0x8C)
    assert _grey_pixels(png, grey) > _grey_pixels(plain, grey) + 100  # borough boundaries drawn as outlines


def test_sample_basemap_is_small_and_covers_the_sample():
    path = sample_dir() / "basemap.geojson"
    assert path.stat().st_size < 300_000
    assert json.loads(path.read_text())["crs"]["properties"]["name"].endswith("27700")
    bm = read_basemap(path)
    x0, y0, x1, y1 = bm.store.total_bounds
    assert x0 < 454000 and x1 > 462000 and y0 < 335000 and y1 > 343000


@pytest.mark.parametrize(
    ("tiles", "match"),
    [("https://t.example/{z}/{x}.png", r"lacks \{y\}"),  # no {y}
     ("ftp://t.example/{z}/{x}/{y}.png", "must be an http"),  # not http(s)
     ("https://t.example/{z}/{x}/{y}.png with space", "must be an http")],  # not a URL
)
def test_bad_tiles(tiles, match):
    with pytest.raises(InputError, match=match):
        check_tiles(tiles)


def test_tile_origin_and_env_defaults(monkeypatch, streets):
    assert tile_origin(TILES) == "https://tiles.example.internal"
    monkeypatch.setenv("TRAILMON_TILES", TILES)
    monkeypatch.setenv("TRAILMON_BASEMAP", str(streets))
    assert resolve_base_layers(None, None) == (TILES, str(streets))
    assert resolve_base_layers("OpenStreetMap", "other.gpkg") == ("OpenStreetMap", "other.gpkg")
    monkeypatch.setenv("TRAILMON_TILES", "")
    monkeypatch.delenv("TRAILMON_BASEMAP")
    assert resolve_base_layers(None, None) == (None, None)


def test_basemap_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_basemap(tmp_path / "none.gpkg")
    # GeoJSON without a crs member is WGS84 by RFC 7946; a Shapefile without .prj has no CRS
    (tmp_path / "wgs84.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[-0.1, 51.5],
                                                                                                [-0.1, 51.6]]}}]}))
    assert read_basemap(tmp_path / "wgs84.geojson").store.crs.to_epsg() == 27700
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns that the file gets no CRS: that is the point
        gpd.GeoDataFrame({"a": [1]}, geometry=[LineString([(0, 0), (1, 1)])]).to_file(tmp_path / "nocrs.shp")
    with pytest.raises(InputError, match="declares no CRS"):
        read_basemap(tmp_path / "nocrs.shp")


def test_map_cli_takes_tiles_and_basemap_from_the_environment(tmp_path, capsys, monkeypatch, streets):
    from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv
    from trailmon.cli import main

    drop(tmp_path / "inbox", [("subjects", "s.csv", SUBJECTS), ("trails", "d1.csv", trail_csv(1)),
                              ("crimes", "c.csv", crimes_csv([daily_crime(1)]))])
    nightly(tmp_path, 1)
    monkeypatch.setenv("TRAILMON_BASEMAP", str(streets))
    out = tmp_path / "m.html"
    code = main(["map", "--store", str(tmp_path / "store"), "--crime", "K1", "--crimes",
                 str(tmp_path / "inbox" / "processed" / "crimes" / "c.csv"), "--tiles", TILES, "--out", str(out),
                 "--user", "u", "--purpose", "p"])
    assert code == 0
    html = out.read_text()
    assert TILES in html and BASEMAP_LAYER in html
    code = main(["map", "--store", str(tmp_path / "store"), "--crime", "K1", "--crimes",
                 str(tmp_path / "inbox" / "processed" / "crimes" / "c.csv"), "--tiles", "https://x/{z}", "--out",
                 str(out), "--user", "u", "--purpose", "p"])
    assert code == 1 and "lacks {x}, {y}" in capsys.readouterr().err



def test_report_crime_cli_draws_the_basemap(tmp_path, streets):
    from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv
    from trailmon.cli import main

    drop(tmp_path / "inbox", [("subjects", "s.csv", SUBJECTS), ("trails", "d1.csv", trail_csv(1)),
                              ("crimes", "c.csv", crimes_csv([daily_crime(1)]))])
    nightly(tmp_path, 1)
    out = tmp_path / "r.html"
    code = main(["report", "--store", str(tmp_path / "store"), "crime", "--crime", "K1", "--crimes",
                 str(tmp_path / "inbox" / "processed" / "crimes" / "c.csv"), "--basemap", str(streets), "--tiles",
                 TILES, "--out", str(out), "--user", "u", "--purpose", "p"])
    assert code == 0
    html = (tmp_path / "r.map.html").read_text()
    assert BASEMAP_LAYER in html and TILES in html
    from trailmon.store.audit import entries

    assert entries(tmp_path / "store" / "audit.jsonl")[-1]["parameters"]["basemap"] == str(streets)
