"""Coordinates: WGS84 (taken as ETRS89) <-> British National Grid with OSTN15, other CRSs via pyproj.

The default store CRS is EPSG:27700 and uses ``convertbng`` (the Ordnance Survey's OSTN15
transformation, vectorised); a point outside OSTN15 coverage comes back as NaN and is
rejected by the readers (``OUTSIDE_GRID``). Any other projected CRS (``--crs EPSG:32650``)
goes through pyproj. Every result records the :class:`TransformInfo` that made it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from trailmon.errors import CRSError

__all__ = ["BNG", "TransformInfo", "StoreCRS", "to_store", "to_wgs84"]

BNG = "EPSG:27700"

OSTN15_DESCRIPTION = (
    "WGS84 taken as ETRS89; ETRS89 <-> OSGB36 / British National Grid (EPSG:27700) with the "
    "OSTN15 transformation (convertbng)"
)


@dataclass(frozen=True)
class TransformInfo:
    """How coordinates were transformed: recorded with every result.

    Parameters
    ----------
    crs : str
        The store's projected CRS, e.g. ``"EPSG:27700"``.
    method : str
        ``"OSTN15"`` for BNG, else ``"pyproj"``.
    description : str
        One sentence for provenance headers.
    """

    crs: str
    method: str
    description: str

    def as_dict(self) -> dict[str, str]:
        """Plain dict for provenance."""
        return asdict(self)


class StoreCRS:
    """The projected metric CRS of a store and the transformations into and out of it.

    Parameters
    ----------
    crs : str, default "EPSG:27700"
        Any projected CRS pyproj knows, in metres.

    Raises
    ------
    CRSError
        When the CRS is unknown or not projected in metres.
    """

    def __init__(self, crs: str = BNG) -> None:
        crs = normalise_crs(crs)
        self.crs = crs
        if crs == BNG:
            self.info = TransformInfo(BNG, "OSTN15", OSTN15_DESCRIPTION)
            self._fwd = self._inv = None
        else:
            from pyproj import CRS, Transformer

            try:
                target = CRS.from_user_input(crs)
            except Exception as exc:  # pyproj raises its own CRSError subclasses
                raise CRSError(f"unknown CRS {crs!r}: {exc}; use e.g. EPSG:27700 or EPSG:32650") from exc
            if not target.is_projected or target.axis_info[0].unit_name not in ("metre", "meter"):
                raise CRSError(f"CRS {crs!r} is not projected in metres; distances need a metric CRS")
            self._fwd = Transformer.from_crs("EPSG:4326", target, always_xy=True)
            self._inv = Transformer.from_crs(target, "EPSG:4326", always_xy=True)
            self.info = TransformInfo(crs, "pyproj", f"WGS84 -> {crs} with pyproj {target.name!r}")

    def __repr__(self) -> str:
        return f"StoreCRS({self.crs!r})"

    def from_wgs84(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 degrees to store metres; NaN where the point is outside the grid."""
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        if lon.size == 0:
            return lon.copy(), lat.copy()
        if self._fwd is None:
            from convertbng.cutil import convert_bng

            x, y = convert_bng(lon, lat)
            return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        x, y = self._fwd.transform(lon, lat)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        bad = ~(np.isfinite(x) & np.isfinite(y))
        x[bad] = np.nan
        y[bad] = np.nan
        return x, y

    def to_wgs84(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store metres to WGS84 ``(lon, lat)`` degrees; NaN outside the grid."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if x.size == 0:
            return x.copy(), y.copy()
        if self._inv is None:
            from convertbng.cutil import convert_lonlat

            lon, lat = convert_lonlat(x, y)
            return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        lon, lat = self._inv.transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def from_bng(self, easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """British National Grid metres to store metres (identity in a BNG store)."""
        if self._fwd is None:
            return (np.ascontiguousarray(easting, dtype=np.float64),
                    np.ascontiguousarray(northing, dtype=np.float64))
        lon, lat = BNG_CRS().to_wgs84(easting, northing)
        return self.from_wgs84(lon, lat)


_BNG_SINGLETON: StoreCRS | None = None


def BNG_CRS() -> StoreCRS:  # noqa: N802 - reads like a constant
    """The shared British National Grid :class:`StoreCRS`."""
    global _BNG_SINGLETON
    if _BNG_SINGLETON is None:
        _BNG_SINGLETON = StoreCRS(BNG)
    return _BNG_SINGLETON


def normalise_crs(crs: str | int) -> str:
    """``27700``, ``"epsg:27700"`` -> ``"EPSG:27700"``."""
    s = str(crs).strip()
    if s.isdigit():
        return f"EPSG:{s}"
    if s.lower().startswith("epsg:"):
        return "EPSG:" + s[5:]
    return s


def to_store(lon: np.ndarray, lat: np.ndarray, crs: str = BNG) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees to ``crs`` metres (OSTN15 for EPSG:27700); NaN outside the grid."""
    return (BNG_CRS() if normalise_crs(crs) == BNG else StoreCRS(crs)).from_wgs84(lon, lat)


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: str = BNG) -> tuple[np.ndarray, np.ndarray]:
    """``crs`` metres to WGS84 ``(lon, lat)`` degrees."""
    return (BNG_CRS() if normalise_crs(crs) == BNG else StoreCRS(crs)).to_wgs84(x, y)
