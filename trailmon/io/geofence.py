"""Geofences: circles and WGS84 WKT polygons on CSV rows, polygon files in any CRS (SPEC §2).

A geofence on a row of an appointments or zones file is whichever form is filled: a circle
``lat, lon, radius_m`` (WGS84 degrees, metres) or ``geofence_wkt``, a WGS84 POLYGON or
MULTIPOLYGON (holes allowed) with axis order x y = lon lat, as in GeoJSON. Both end up in the
store's projected CRS: a circle as ``center_x_m, center_y_m, radius_m`` and no geometry, a
polygon as a shapely (Multi)Polygon with NaN circle columns.

An invalid polygon (a bow tie, a self-touching ring) is repaired with ``shapely.make_valid``
and its areal part kept; a geofence with no area left is rejected ``BAD_GEOFENCE``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from trailmon.crs import BNG, StoreCRS, normalise_crs
from trailmon.errors import CRSError, InputError
from trailmon.io._csv import numbers
from trailmon.io.quarantine import RejectReason

__all__ = ["Geofences", "geofences_from_columns", "read_geofences", "transform_geometries"]

_AREAL = ("Polygon", "MultiPolygon")


class Geofences:
    """Row geofences in the store CRS, and why rows failed.

    Attributes
    ----------
    center_x_m, center_y_m, radius_m : ndarray of float64, shape (n_row,)
        Circle centre in the store CRS and radius, metres; NaN for polygons and failed rows.
    geometry : ndarray of object, shape (n_row,)
        shapely (Multi)Polygon in the store CRS; None for circles and failed rows.
    reason : ndarray of object, shape (n_row,)
        :class:`RejectReason` of a failed row, else None.
    detail : ndarray of object, shape (n_row,)
        One line on why the row failed.
    """

    def __init__(self, n: int) -> None:
        self.center_x_m = np.full(n, np.nan)
        self.center_y_m = np.full(n, np.nan)
        self.radius_m = np.full(n, np.nan)
        self.geometry = np.full(n, None, dtype=object)
        self.reason = np.full(n, None, dtype=object)
        self.detail = np.full(n, "", dtype=object)

    def _fail(self, mask: np.ndarray, reason: RejectReason, detail: str) -> None:
        mask = mask & np.equal(self.reason, None)
        self.reason[mask] = reason
        self.detail[mask] = detail

    @property
    def ok(self) -> np.ndarray:
        """Rows whose geofence is usable."""
        return np.equal(self.reason, None)


def transform_geometries(geoms: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
    """Apply a vectorised coordinate transform ``fn(x, y) -> (x2, y2)`` to shapely geometries.

    Returns
    -------
    moved : ndarray of object
        The transformed geometries; None where some vertex became NaN (outside the grid).
    outside : ndarray of bool
        The geometries that had a vertex the transform could not map.
    """
    geoms = np.asarray(geoms, dtype=object)
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    x2, y2 = fn(coords[:, 0], coords[:, 1])
    new = np.column_stack([np.asarray(x2, dtype=np.float64), np.asarray(y2, dtype=np.float64)])
    outside = np.zeros(len(geoms), dtype=bool)
    outside[np.unique(which[~np.isfinite(new).all(1)])] = True
    moved = np.full(len(geoms), None, dtype=object)
    good = ~outside
    if good.any():
        arr = geoms[good].copy()
        moved[good] = shapely.set_coordinates(arr, new[good[which]])
    return moved, outside


def _areal(geom):
    """The areal part of a geometry after ``make_valid``; None when nothing with area is left."""
    if geom is None or shapely.is_empty(geom):
        return None
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom)
    if geom.geom_type not in _AREAL:
        parts = [p for p in shapely.get_parts(geom) if p.geom_type in _AREAL]
        if not parts:
            return None
        geom = shapely.union_all(parts)
        if geom.geom_type not in _AREAL:
            return None
    if geom.is_empty or geom.area <= 0:
        return None
    return geom


def geofences_from_columns(
    lat: np.ndarray,
    lon: np.ndarray,
    radius: np.ndarray,
    wkt: np.ndarray,
    crs: StoreCRS,
) -> Geofences:
    """Geofences from the raw text of the circle and WKT columns of a file.

    Parameters
    ----------
    lat, lon : ndarray of str, shape (n_row,)
        Circle centre, WGS84 degrees; "" when absent.
    radius : ndarray of str, shape (n_row,)
        Circle radius, metres; "" when absent.
    wkt : ndarray of str, shape (n_row,)
        WGS84 POLYGON / MULTIPOLYGON, x y = lon lat; "" when absent.
    crs : StoreCRS
        The store's projected CRS.

    Returns
    -------
    Geofences
        Circles and polygons in the store CRS, with a reason for each failed row.

    Notes
    -----
    Rules, first broken wins: both forms or neither filled (a circle counts as filled when
    ``lat`` or ``lon`` is) ``BAD_GEOFENCE``; a circle centre missing one coordinate, not a
    number or outside -90..90 / -180..180 ``BAD_COORDINATE``; a radius missing, not a number
    or not > 0 ``BAD_RADIUS``; WKT that does not parse or is not a polygon ``BAD_GEOFENCE``;
    WKT coordinates outside -180..180 / -90..90 ``BAD_COORDINATE``; a point the store's
    transformation cannot map (outside OSTN15) ``OUTSIDE_GRID``; a polygon with no area after
    ``make_valid`` ``BAD_GEOFENCE``.
    """
    n = len(lat)
    g = Geofences(n)
    lat_x, lat_p, lat_bad = numbers(lat)
    lon_x, lon_p, lon_bad = numbers(lon)
    rad_x, rad_p, rad_bad = numbers(radius)
    wkt = np.asarray(wkt, dtype=object)
    has_wkt = wkt != ""
    has_circle = lat_p | lon_p
    g._fail(has_wkt & has_circle, RejectReason.BAD_GEOFENCE,
            "both a circle (lat, lon) and geofence_wkt are filled; fill one")
    g._fail(~has_wkt & ~has_circle, RejectReason.BAD_GEOFENCE,
            "no geofence: fill lat, lon, radius_m or geofence_wkt")
    circle = has_circle & ~has_wkt
    g._fail(circle & ~(lat_p & lon_p), RejectReason.BAD_COORDINATE, "a circle needs both lat and lon")
    g._fail(circle & (lat_bad | lon_bad), RejectReason.BAD_COORDINATE, "lat or lon is not a number")
    g._fail(circle & ((np.abs(lat_x) > 90) | (np.abs(lon_x) > 180)), RejectReason.BAD_COORDINATE,
            "lat must be in -90..90 and lon in -180..180")
    g._fail(circle & ~rad_p, RejectReason.BAD_RADIUS, "a circle needs radius_m")
    g._fail(circle & (rad_bad | ~(rad_x > 0)), RejectReason.BAD_RADIUS, "radius_m must be a number > 0")
    todo = circle & g.ok
    if todo.any():
        x, y = crs.from_wgs84(lon_x[todo], lat_x[todo])
        idx = np.flatnonzero(todo)
        g.center_x_m[idx] = x
        g.center_y_m[idx] = y
        g.radius_m[idx] = rad_x[idx]
        outside = np.zeros(n, dtype=bool)
        outside[idx] = ~(np.isfinite(x) & np.isfinite(y))
        g._fail(outside, RejectReason.OUTSIDE_GRID, f"circle centre outside the grid of {crs.crs}")
        g.center_x_m[outside] = g.center_y_m[outside] = g.radius_m[outside] = np.nan
    idx = np.flatnonzero(has_wkt & g.ok)
    if len(idx):
        geoms = shapely.from_wkt(wkt[idx].astype(str), on_invalid="ignore")
        types = shapely.get_type_id(geoms)
        polygon = np.isin(types, [3, 6])  # Polygon, MultiPolygon
        not_poly = np.zeros(n, dtype=bool)
        not_poly[idx] = ~polygon
        g._fail(not_poly, RejectReason.BAD_GEOFENCE, "geofence_wkt is not a WKT POLYGON or MULTIPOLYGON")
        keep = polygon & ~shapely.is_empty(geoms)
        empty = np.zeros(n, dtype=bool)
        empty[idx] = polygon & ~keep
        g._fail(empty, RejectReason.BAD_GEOFENCE, "geofence_wkt is an empty polygon")
        idx, geoms = idx[keep], geoms[keep]
        if len(idx):
            coords, which = shapely.get_coordinates(geoms, return_index=True)
            out_range = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90) | ~np.isfinite(coords).all(1)
            bad = np.zeros(n, dtype=bool)
            bad[idx[np.unique(which[out_range])]] = True
            g._fail(bad, RejectReason.BAD_COORDINATE,
                    "geofence_wkt coordinates must be lon in -180..180, lat in -90..90 (x y = lon lat)")
            good = ~bad[idx]
            idx, geoms = idx[good], geoms[good]
        if len(idx):
            moved, off = transform_geometries(geoms, crs.from_wgs84)
            outside = np.zeros(n, dtype=bool)
            outside[idx[off]] = True
            g._fail(outside, RejectReason.OUTSIDE_GRID, f"geofence_wkt reaches outside the grid of {crs.crs}")
            for i, geom in zip(idx, moved, strict=True):
                if outside[i]:
                    continue
                areal = _areal(geom)
                if areal is None:
                    g._fail(np.arange(n) == i, RejectReason.BAD_GEOFENCE,
                            "geofence_wkt has no area, even after make_valid")
                else:
                    g.geometry[i] = areal
    return g


def read_geofences(
    path: str | Path,
    *,
    crs: StoreCRS | None = None,
    id_column: str | None = None,
):
    """Read polygon geofences from a GeoPackage, GeoJSON or Shapefile in any CRS.

    Parameters
    ----------
    path : str or Path
        The file (anything pyogrio reads); its CRS must be declared.
    crs : StoreCRS, optional
        The store's projected CRS (default British National Grid, EPSG:27700).
    id_column : str, optional
        Attribute that names each geofence; default ``geofence_id`` when the file has one,
        else the feature's position (``"0"``, ``"1"``, ...).

    Returns
    -------
    geopandas.GeoDataFrame
        ``geofence_id`` (str), the file's attributes, and ``geometry``: a valid shapely
        (Multi)Polygon in the store CRS; the frame's CRS is the store's.

    Raises
    ------
    InputError
        When the file cannot be read, ``id_column`` is not one of its columns, or a feature
        has no area (not a polygon, or nothing left after ``make_valid``).
    CRSError
        When the file declares no CRS, or a vertex falls outside the store's grid.

    Notes
    -----
    Coordinates already in British National Grid stay as they are in a BNG store. Any other
    CRS goes to WGS84 with pyproj, then into a BNG store with OSTN15 (WGS84 taken as ETRS89),
    so that geofences and trails share one transformation.
    """
    import geopandas as gpd
    from pyproj import CRS

    store = crs or StoreCRS(BNG)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError and friends
        raise InputError(f"cannot read geofences from {str(path)!r}: {exc}") from exc
    if gdf.crs is None:
        raise CRSError(f"{str(path)!r} declares no CRS; write the file with one (e.g. EPSG:27700 or EPSG:4326)")
    if id_column is not None and id_column not in gdf.columns:
        raise InputError(f"id_column {id_column!r} is not a column of {str(path)!r}; "
                         f"its columns are {[c for c in gdf.columns if c != gdf.geometry.name]}")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    src = CRS.from_user_input(gdf.crs)
    outside = np.zeros(len(geoms), dtype=bool)
    if src.equals(CRS.from_user_input(BNG)):
        if normalise_crs(store.crs) != BNG:
            geoms, outside = transform_geometries(geoms, store.from_bng)
    else:
        wgs = np.asarray(gdf.geometry.to_crs("EPSG:4326").values, dtype=object)
        geoms, outside = transform_geometries(wgs, store.from_wgs84)
    if outside.any():
        bad = np.flatnonzero(outside)
        raise CRSError(f"{len(bad)} geofence(s) of {str(path)!r} reach outside the grid of {store.crs} "
                       f"(features {bad[:10].tolist()}); use a store CRS that covers them (--crs)")
    fixed = [_areal(g) for g in geoms]
    bad = [i for i, g in enumerate(fixed) if g is None]
    if bad:
        raise InputError(f"{len(bad)} feature(s) of {str(path)!r} have no area (features {bad[:10]}); "
                         "geofences must be polygons or multipolygons")
    if id_column is None and "geofence_id" in gdf.columns:
        id_column = "geofence_id"
    ids = (gdf[id_column].astype(str).to_numpy(dtype=object) if id_column is not None
           else np.asarray([str(i) for i in range(len(gdf))], dtype=object))
    attrs = gdf.drop(columns=[gdf.geometry.name] + (["geofence_id"] if "geofence_id" in gdf.columns else []))
    out = gpd.GeoDataFrame(
        {"geofence_id": ids, **{c: attrs[c].to_numpy() for c in attrs.columns}},
        geometry=gpd.GeoSeries(fixed, crs=store.crs).values, crs=store.crs,
    )
    return out
