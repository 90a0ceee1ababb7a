"""Base maps beneath the tracks (SPEC §4 "Base maps"): an XYZ tile URL, or an offline vector file.

- ``tiles``: an XYZ template such as ``https://tiles.example.internal/{z}/{x}/{y}.png`` (an
  organisation's own tile server). The map HTML stays self-contained; the browser fetches the
  tiles from that origin only when the map is viewed.
- ``basemap``: a vector file (GeoPackage, GeoJSON, Shapefile; every layer of a GeoPackage) of
  roads, buildings, water or areas, in any CRS, read with geopandas / pyogrio and transformed to
  the store's CRS (for the static PNG) and to WGS84 (for folium). Each feature gets a *kind*
  (``water``, ``building``, ``road`` or ``area``) from a ``kind`` / ``type`` / ``class`` /
  ``fclass`` / ``highway`` / ``natural`` / ``building`` / ``waterway`` column, else from the layer
  name, else from its geometry (lines are roads, polygons areas), and is drawn in that kind's
  style beneath everything else. Only the features near the map's extent are drawn, so a county
  file does not bloat a street map.

With neither the map is as before. ``TRAILMON_TILES`` and ``TRAILMON_BASEMAP`` give defaults to
the CLI, the web app and the demo (:func:`resolve_base_layers`).

The transformation of a base map is pyproj's (for British National Grid without the OSTN15 grid:
a few metres at most), which is fine for a backdrop; evidence positions never go through it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trailmon.crs import StoreCRS
from trailmon.errors import InputError

__all__ = [
    "BASEMAP_ENV",
    "BASEMAP_KINDS",
    "BASEMAP_STYLE",
    "TILES_ENV",
    "BaseMap",
    "add_base_layers",
    "check_tiles",
    "read_basemap",
    "resolve_base_layers",
    "tile_origin",
]

TILES_ENV = "TRAILMON_TILES"
BASEMAP_ENV = "TRAILMON_BASEMAP"

BASEMAP_KINDS = ("area", "water", "building", "road")
"""Kinds of base-map feature, in drawing order (bottom first)."""

BASEMAP_STYLE = {
    "area": {"color": "#8c8c8c", "fill": None, "weight": 1.0},
    "water": {"color": "#7fb7c9", "fill": "#aad3df", "weight": 0.8},
    "building": {"color": "#bfb4aa", "fill": "#d9d0c9", "weight": 0.5},
    "road": {"color": "#b0b0b0", "fill": None, "weight": 2.5},
}
"""Line colour, fill colour (None: outline only) and line weight (pixels) of each kind."""

BASEMAP_LAYER = "Base map"
"""Name of the base map's folium layer."""

_KIND_COLUMNS = ("kind", "type", "class", "fclass", "highway", "natural", "building", "waterway", "landuse")
_WORDS = {
    "water": ("water", "river", "canal", "lake", "reservoir", "stream", "riverbank", "wetland", "sea"),
    "building": ("building", "house", "yes"),
    "road": ("road", "street", "highway", "motorway", "trunk", "primary", "secondary", "tertiary",
             "residential", "footway", "path", "cycleway", "service", "track", "unclassified", "lane",
             "pedestrian", "living_street", "rail", "railway"),
}
_TILE_RE = re.compile(r"^https?://[^\s/?#]+(?:[/?#][^\s]*)?$", re.I)


@dataclass(frozen=True)
class BaseMap:
    """A vector base map read for one store CRS.

    Attributes
    ----------
    path : str
        The file read.
    store : geopandas.GeoDataFrame
        Features in the store's CRS (metres), column ``kind``.
    wgs84 : geopandas.GeoDataFrame
        The same features in WGS84 degrees.
    """

    path: str
    store: object
    wgs84: object

    def __len__(self) -> int:
        return len(self.store)

    def near(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Row positions of the features meeting the box ``[x0, x1] x [y0, y1]`` (store metres)."""
        import shapely

        if not len(self.store):
            return np.zeros(0, dtype=np.int64)
        box = shapely.box(x0, y0, x1, y1)
        return np.flatnonzero(shapely.intersects(self.store.geometry.to_numpy(), box))


def resolve_base_layers(tiles: str | None, basemap: str | Path | None) -> tuple[str | None, str | None]:
    """``tiles`` and ``basemap``, each defaulting to ``$TRAILMON_TILES`` / ``$TRAILMON_BASEMAP`` (empty: none)."""
    t = tiles if tiles is not None else (os.environ.get(TILES_ENV) or None)
    b = basemap if basemap is not None else (os.environ.get(BASEMAP_ENV) or None)
    return (check_tiles(t) if t else None), (str(b) if b else None)


def check_tiles(tiles: str) -> str:
    """An XYZ tile template (``http(s)://host/.../{z}/{x}/{y}...``), checked; or a folium tile name.

    Raises
    ------
    InputError
        For a URL without ``{z}``, ``{x}`` and ``{y}``, or not http(s).

    Examples
    --------
    >>> check_tiles("https://tiles.example.internal/{z}/{x}/{y}.png")
    'https://tiles.example.internal/{z}/{x}/{y}.png'
    """
    t = str(tiles).strip()
    if "://" not in t and "{" not in t:
        return t  # a folium tile name, e.g. "OpenStreetMap"
    if not _TILE_RE.match(t):
        raise InputError(f"--tiles must be an http(s) URL template, got {tiles!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in t]
    if missing:
        raise InputError(f"--tiles must be an XYZ template with {{z}}, {{x}} and {{y}}; {tiles!r} lacks "
                         + ", ".join(missing))
    return t


def tile_origin(tiles: str | None) -> str | None:
    """``scheme://host[:port]`` of a tile URL template (what a page's CSP must allow), else None.

    Examples
    --------
    >>> tile_origin("https://tiles.example.internal:8443/osm/{z}/{x}/{y}.png")
    'https://tiles.example.internal:8443'
    """
    if not tiles or "://" not in tiles:
        return None
    scheme, rest = tiles.split("://", 1)
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return f"{scheme.lower()}://{host.replace('{s}', '*')}"


def _kind_of(values, layer: str, geom_types) -> np.ndarray:
    n = len(geom_types)
    out = np.full(n, "", dtype=object)
    for col in values:
        v = np.asarray([str(x).lower() if x is not None else "" for x in col], dtype=object)
        for kind, words in _WORDS.items():
            hit = (out == "") & np.isin(v, words)
            out[hit] = kind
    lname = layer.lower()
    for kind, words in _WORDS.items():
        if any(w in lname for w in words if w != "yes"):
            out[out == ""] = kind
    lines = np.isin(np.asarray(geom_types, dtype=object), ["LineString", "MultiLineString"])
    out[(out == "") & lines] = "road"
    out[out == ""] = "area"
    return out


def read_basemap(path: str | Path, *, crs: StoreCRS | None = None) -> BaseMap:
    """Read a vector base map (every layer), classify its features and transform them.

    Parameters
    ----------
    path : str or Path
        GeoPackage, GeoJSON or Shapefile (any CRS the file declares).
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).

    Returns
    -------
    BaseMap

    Raises
    ------
    InputError
        When the file cannot be read, declares no CRS, or holds no line or polygon.

    Examples
    --------
    >>> from trailmon.demo import sample_dir
    >>> bm = read_basemap(sample_dir() / "basemap.geojson")
    >>> sorted(set(bm.store["kind"]))
    ['building', 'road', 'water']
    """
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    from trailmon.map._layers import check_crs

    crs = check_crs(crs)
    path = Path(path)
    if not path.exists():
        raise InputError(f"base map {str(path)!r} does not exist; give a GeoPackage, GeoJSON or Shapefile")
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputError(f"base map {str(path)!r} could not be read ({exc}); give a GeoPackage, GeoJSON or "
                         "Shapefile") from exc
    parts = []
    for layer in layers:
        df = pyogrio.read_dataframe(path, layer=layer)
        if df.crs is None:
            raise InputError(f"base map {str(path)!r} layer {layer!r} declares no CRS; save it with one "
                             "(e.g. EPSG:27700 or EPSG:4326)")
        df = df[df.geometry.notna() & ~df.geometry.is_empty]
        gt = df.geometry.geom_type.to_numpy()
        df = df[np.isin(gt, ["LineString", "MultiLineString", "Polygon", "MultiPolygon"])]
        if not len(df):
            continue
        cols = [df[c].to_numpy(dtype=object) for c in df.columns if str(c).lower() in _KIND_COLUMNS]
        kind = _kind_of(cols, layer, df.geometry.geom_type.to_numpy())
        parts.append(gpd.GeoDataFrame({"kind": kind, "layer": layer}, geometry=df.geometry.to_crs(crs.crs).values,
                                      crs=crs.crs))
    if not parts:
        raise InputError(f"base map {str(path)!r} holds no lines or polygons to draw")
    store = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs.crs)
    order = {k: i for i, k in enumerate(BASEMAP_KINDS)}
    store = store.iloc[np.argsort([order[k] for k in store["kind"]], kind="stable")].reset_index(drop=True)
    return BaseMap(str(path), store, store.to_crs("EPSG:4326"))


def add_base_layers(m, tiles: str | None, basemap: BaseMap | None, points) -> None:
    """Add the tile layer and the base map's features near ``points`` to a folium map, beneath the rest.

    Call it right after the map is made, before any other layer, so that the base map is drawn first.

    Parameters
    ----------
    m : folium.Map
        A map made without tiles.
    tiles : str, optional
        XYZ template or folium name (:func:`check_tiles`).
    basemap : BaseMap, optional
        A vector base map.
    points : list of (lat, lon) array pairs
        What the map shows; base-map features within 1 km of their box are drawn.
    """
    import folium

    if tiles:
        t = check_tiles(tiles)
        if "://" in t:
            folium.TileLayer(tiles=t, attr=f"base tiles: {tile_origin(t)}", name="Base tiles", max_zoom=20,
                             overlay=False, control=True).add_to(m)
        else:
            folium.TileLayer(t, name="Base tiles", overlay=False, control=True).add_to(m)
    if basemap is None or not len(basemap):
        return
    pick = _near_points(basemap, points)
    group = folium.FeatureGroup(name=BASEMAP_LAYER).add_to(m)
    sub = basemap.wgs84.iloc[pick]
    for kind in BASEMAP_KINDS:
        part = sub[sub["kind"].to_numpy() == kind]
        if not len(part):
            continue
        st = BASEMAP_STYLE[kind]
        style = {"color": st["color"], "weight": st["weight"], "opacity": 0.9,
                 "fill": st["fill"] is not None, "fillColor": st["fill"] or st["color"],
                 "fillOpacity": 0.6 if st["fill"] else 0.0}
        folium.GeoJson(part[["kind", "geometry"]].to_json(drop_id=True), name=f"base map: {kind}",
                       style_function=lambda _f, s=style: s, interactive=False,
                       control=False).add_to(group)


def _near_points(basemap: BaseMap, points, pad_m: float = 1000.0) -> np.ndarray:
    lat = np.concatenate([np.asarray(a, dtype=float).ravel() for a, _ in points]) if points else np.zeros(0)
    lon = np.concatenate([np.asarray(b, dtype=float).ravel() for _, b in points]) if points else np.zeros(0)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if not ok.any():
        return np.zeros(0, dtype=np.int64)
    import shapely

    box = shapely.box(lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max())
    # pad in metres around the box, in the store's CRS
    import geopandas as gpd

    b = gpd.GeoSeries([box], crs="EPSG:4326").to_crs(basemap.store.crs).total_bounds
    return basemap.near(b[0] - pad_m, b[1] - pad_m, b[2] + pad_m, b[3] + pad_m)


def draw_basemap_mpl(ax, basemap: BaseMap, x0: float, y0: float, x1: float, y1: float) -> int:
    """Draw the base map's features meeting the box (store metres) on a matplotlib axis, beneath the rest.

    Returns the number of features drawn.
    """
    import shapely
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Polygon as MplPolygon

    pick = basemap.near(x0, y0, x1, y1)
    if not len(pick):
        return 0
    sub = basemap.store.iloc[pick]
    for z, kind in enumerate(BASEMAP_KINDS):
        geoms = sub.geometry.to_numpy()[sub["kind"].to_numpy() == kind]
        if not len(geoms):
            continue
        st = BASEMAP_STYLE[kind]
        parts = shapely.get_parts(geoms)
        polys = parts[np.isin(shapely.get_type_id(parts), [3])]
        lines = list(parts[np.isin(shapely.get_type_id(parts), [1, 2])])
        if st["fill"] is not None and len(polys):
            ax.add_collection(PatchCollection(
                [MplPolygon(shapely.get_coordinates(shapely.get_exterior_ring(p)), closed=True) for p in polys],
                facecolor=st["fill"], edgecolor=st["color"], linewidth=st["weight"] * 0.4, zorder=0.1 + 0.01 * z))
        else:
            lines += list(shapely.get_parts(shapely.boundary(polys))) if len(polys) else []
        if lines:
            ax.add_collection(LineCollection([shapely.get_coordinates(g) for g in lines], colors=st["color"],
                                             linewidths=st["weight"] * 0.9, zorder=0.1 + 0.01 * z))
    return len(pick)
