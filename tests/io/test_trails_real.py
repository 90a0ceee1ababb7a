"""read_trails on the real public data in ../shared/data (PROVENANCE.md); skipped where it is absent."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_file
from trailmon.crs import StoreCRS
from trailmon.io.trails import read_trails

TCX_DIR = ("gpx_uk", "trackeR_tcx_england")

# fixes per file as PROVENANCE.md counts them: Trackpoints with a Position
TCX_FIXES = {
    "2013-06-01-183220": 3842, "2013-06-02-072348": 2677, "2013-06-03-184846": 2350,
    "2013-06-06-124422": 3503, "2013-06-08-090442": 1191, "2013-06-09-165756": 5678,
    "2013-06-11-181035": 2401, "2013-06-12-182257": 3651, "2013-06-14-095723": 591,
    "2013-06-14-100911": 2435, "2013-06-14-105252": 318, "2013-06-15-084005": 647,
    "2013-06-15-090638": 1130, "2013-06-16-124414": 4579, "2013-06-17-182443": 1851,
    "2013-06-18-063609": 3942, "2013-06-19-174449": 633, "2013-06-19-175630": 329,
    "2013-06-19-183041": 197, "2013-06-20-180628": 2048, "2013-06-21-174510": 1446,
    "2013-06-22-150811": 1458, "2013-06-23-080959": 715, "2013-06-23-100845": 2368,
    "2013-06-24-151957": 2990,
}


def _counts_add_up(r):
    assert len(r.accepted) + len(r.rejected) == r.n_read


def test_tcx_fix_counts_one_file():
    r = read_trails(shared_file(*TCX_DIR, "2013-06-14-105252.TCX.gz"))
    _counts_add_up(r)
    assert r.n_read - r.rejected_by_reason.get("BAD_COORDINATE", 0) == 318
    assert r.accepted["subject_id"].unique().tolist() == ["2013-06-14-105252"]


@pytest.mark.slow
@pytest.mark.grid
def test_every_tcx_file():
    total = 0
    for stem, fixes in TCX_FIXES.items():
        r = read_trails(shared_file(*TCX_DIR, f"{stem}.TCX.gz"))
        _counts_add_up(r)
        by = r.rejected_by_reason
        # every Trackpoint is read; those without Position are BAD_COORDINATE, the rest are the fixes
        assert r.n_read - by.get("BAD_COORDINATE", 0) == fixes, stem
        assert set(by) <= {"BAD_COORDINATE", "DUPLICATE"}, (stem, by)   # nothing OUTSIDE_GRID: all in England
        assert len(r.accepted) + by.get("DUPLICATE", 0) == fixes
        a = r.accepted
        assert a["subject_id"].unique().tolist() == [stem]
        assert np.isfinite(a[["x_m", "y_m"]].to_numpy()).all()
        assert a["lat"].between(50.80, 51.41).all()      # the PROVENANCE bounding boxes
        assert a["lon"].between(-1.74, 1.11).all()
        assert a["t_ns"].is_unique
        total += fixes
    assert total == 52970


@pytest.mark.grid
def test_liverpool_bus_csv():
    path = shared_file("bus_liverpool_bods", "route14_outbound.csv")
    columns = "subject_id=vehicle_id,lat=latitude,lon=longitude,heading_deg=bearing"
    r = read_trails(path, columns=columns, tz="UTC")
    _counts_add_up(r)
    assert r.n_read == 1533
    a = r.accepted
    assert len(a) == 1533 and r.rejected.empty
    assert sorted(a["subject_id"].unique()) == ["4716", "4720", "4722", "4733", "4803", "4836", "4841",
                                                 "4842"]
    assert a["lat"].between(53.406, 53.463).all()      # PROVENANCE's box, rounded outwards
    assert a["lon"].between(-2.985, -2.893).all()
    assert a["heading_deg"].isna().any() and a["heading_deg"].notna().any()      # bearing often empty
    assert a["t_ns"].min() == np.datetime64("2026-01-26T15:55:12", "ns").astype(np.int64)
    assert {"id", "trip_id", "route_name", "operator"} <= set(a.columns)
    assert r.info["tz"] == "UTC"


def test_geolife_outside_bng_inside_utm50n(shared_data):
    files = sorted((shared_data / "geolife" / "geolife_long_10_MB" / "000" / "Trajectory").glob("*.plt"))
    assert len(files) == 8
    n = 0
    for f in files:
        bng = read_trails(f)
        _counts_add_up(bng)
        assert bng.accepted.empty and bng.rejected_by_reason == {"OUTSIDE_GRID": bng.n_read}
        utm = read_trails(f, crs=StoreCRS("EPSG:32650"))
        _counts_add_up(utm)
        assert len(utm.accepted) == utm.n_read
        assert utm.accepted["subject_id"].unique().tolist() == ["000"]
        assert utm.accepted["x_m"].between(400e3, 500e3).all()
        assert utm.accepted["y_m"].between(4.40e6, 4.45e6).all()
        n += utm.n_read
    assert n == 3634
