"""Readers on real public data (../shared/data; skipped with the reason when absent)."""

import csv

import numpy as np
import pandas as pd
import pytest
import shapely

from tests.conftest import shared_file
from trailmon.crs import StoreCRS
from trailmon.io.appointments import read_appointments
from trailmon.io.crimes import read_crimes
from trailmon.io.geofence import read_geofences

MERSEYSIDE = ("police_uk", "merseyside_2014", "police-uk-2014-04-merseyside-street.csv")
BOROUGHS = ("geofence_uk", "london_boroughs", "london_boroughs.gpkg")


@pytest.mark.slow
def test_police_uk_merseyside_april_2014():
    path = shared_file(*MERSEYSIDE)
    assert b"\r" in path.read_bytes()[:400] and b"\n" not in path.read_bytes()[:400]   # CR line endings
    r = read_crimes(path)
    assert r.n_read == 12_925
    assert len(r.accepted) + len(r.rejected) == r.n_read
    assert len(r.rejected) == 0                                       # every row has a location
    a = r.accepted
    derived = a["crime_ref"].str.startswith("PUK-")
    assert int(derived.sum()) == 5_430                                 # blank Crime ID
    assert a["crime_ref"].is_unique
    assert a["merged_into"].isna().all()
    # April 2014 in UK local time: 1 April 00:00 BST .. 1 May 00:00 BST
    assert a["committed_from"].unique().tolist() == [pd.Timestamp("2014-03-31T23:00:00Z")]
    assert a["committed_to"].unique().tolist() == [pd.Timestamp("2014-04-30T23:00:00Z")]
    assert set(a["source_format"]) == {"police_uk"} and r.info["evidence"] is False
    assert (a["offence_group"] == "burglary").sum() == 843
    # Merseyside in BNG metres
    assert a["x_m"].between(310_000, 370_000).all() and a["y_m"].between(370_000, 430_000).all()
    assert np.isfinite(a[["x_m", "y_m", "lat", "lon"]].to_numpy()).all()
    # the ids as written (Python's csv module, CR-aware) survive
    with path.open(newline="", encoding="utf-8") as fh:
        ids = [rec["Crime ID"] for rec in csv.DictReader(fh)]
    assert a.loc[~derived, "crime_ref"].tolist() == [i for i in ids if i]


def test_read_geofences_london_boroughs():
    g = read_geofences(shared_file(*BOROUGHS), id_column="name")
    assert len(g) == 33
    assert str(g.crs) == "EPSG:27700"
    assert g.geometry.is_valid.all() and set(g.geom_type) <= {"Polygon", "MultiPolygon"}
    assert "Croydon" in set(g["geofence_id"])
    minx, miny, maxx, maxy = g.total_bounds
    assert 500_000 < minx < maxx < 570_000 and 150_000 < miny < maxy < 205_000


def test_read_geofences_default_ids_and_errors(tmp_path):
    from trailmon.errors import InputError

    path = shared_file(*BOROUGHS)
    g = read_geofences(path)
    assert g["geofence_id"].tolist()[:3] == ["0", "1", "2"]
    with pytest.raises(InputError, match="id_column 'nope' is not a column"):
        read_geofences(path, id_column="nope")


def test_read_geofences_other_source_crs(tmp_path):
    import geopandas as gpd

    path = shared_file(*BOROUGHS)
    src = gpd.read_file(path)
    p = tmp_path / "boroughs_wgs84.geojson"
    src.iloc[:3].to_crs("EPSG:4326").to_file(p, driver="GeoJSON")
    back = read_geofences(p, id_column="name")                         # WGS84 -> BNG with OSTN15
    for a, b in zip(back.geometry, src.geometry.iloc[:3], strict=True):
        assert a.hausdorff_distance(b) < 5.0                           # pyproj (to WGS84) vs OSTN15 (back)


def test_boroughs_as_wkt_geofences_round_trip(tmp_path):
    """Boroughs written as WGS84 WKT (x y = lon lat, OSTN15) read back into the same polygons within 1 m."""
    g = read_geofences(shared_file(*BOROUGHS), id_column="name")
    crs = StoreCRS()
    wkts = []
    for geom in g.geometry:
        coords = shapely.get_coordinates(geom)
        lon, lat = crs.to_wgs84(coords[:, 0], coords[:, 1])
        wgs = shapely.set_coordinates(np.array([geom], dtype=object).copy(), np.column_stack([lon, lat]))[0]
        wkts.append(shapely.to_wkt(wgs, rounding_precision=9))
    rows = pd.DataFrame({
        "appointment_id": [f"B{i}" for i in range(len(g))], "subject_id": "S1",
        "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "geofence_wkt": wkts,
    })
    p = tmp_path / "boroughs.csv"
    rows.to_csv(p, index=False)
    r = read_appointments(p)
    assert len(r.accepted) == 33 and len(r.rejected) == 0
    for got, want in zip(r.accepted["geometry"], g.geometry, strict=True):
        assert got.hausdorff_distance(want) < 1.0
        assert abs(got.area - want.area) / want.area < 1e-6
