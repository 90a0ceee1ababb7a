"""GPX 1.1, Garmin TCX and GeoJSON point files as tables of text, one row per point.

These readers only take the points apart; :func:`trailmon.io.trails.read_trails` validates
them with the same rules as a CSV. A value that is missing comes back as None, so a
``Trackpoint`` without ``Position`` is still a row (rejected ``BAD_COORDINATE`` later).
"""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa

from trailmon.errors import InputError

__all__ = ["open_bytes", "read_geojson_points", "read_gpx_points", "read_tcx_points"]

_GZIP_MAGIC = b"\x1f\x8b"


def open_bytes(path: Path) -> bytes:
    """Return the bytes of ``path``, gunzipped when they are gzip-compressed."""
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(
                f"{str(path)!r} looks gzip-compressed but cannot be decompressed: {exc}") from exc
    return data


def _local(tag: str) -> str:
    """Tag name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _root(path: Path, what: str) -> ET.Element:
    try:
        return ET.fromstring(open_bytes(path))
    except ET.ParseError as exc:
        raise InputError(f"cannot read {str(path)!r} as {what}: {exc}; is it a complete XML file?") from exc


def _child_text(el: ET.Element, *names: str) -> str | None:
    """Text of the first descendant path ``names`` (local names), or None."""
    cur: ET.Element | None = el
    for name in names:
        nxt = None
        for ch in cur:
            if _local(ch.tag) == name:
                nxt = ch
                break
        if nxt is None:
            return None
        cur = nxt
    text = (cur.text or "").strip()
    return text or None


def _table(cols: dict[str, list]) -> pa.Table:
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})


def read_gpx_points(path: Path) -> pa.Table:
    """Points of a GPX 1.1 file (``trkpt``, ``rtept``, ``wpt``) in document order.

    Parameters
    ----------
    path : Path
        A ``.gpx`` file (gzip allowed).

    Returns
    -------
    pyarrow.Table
        Text columns ``timestamp, lat, lon, ele_m, speed_mps, heading_deg``; None where absent
        (``speed`` and ``course`` are read where a GPX 1.0 file carries them, m/s and degrees).

    Raises
    ------
    InputError
        When the file is not well-formed XML or its root is not ``gpx``.
    """
    root = _root(path, "GPX")
    if _local(root.tag) != "gpx":
        raise InputError(
            f"{str(path)!r} is not GPX: its root element is {_local(root.tag)!r}, expected 'gpx'")
    cols: dict[str, list] = {k: [] for k in ("timestamp", "lat", "lon", "ele_m", "speed_mps", "heading_deg")}
    for el in root.iter():
        if _local(el.tag) not in ("trkpt", "rtept", "wpt"):
            continue
        cols["timestamp"].append(_child_text(el, "time"))
        cols["lat"].append(el.get("lat"))
        cols["lon"].append(el.get("lon"))
        cols["ele_m"].append(_child_text(el, "ele"))
        cols["speed_mps"].append(_child_text(el, "speed"))
        cols["heading_deg"].append(_child_text(el, "course"))
    return _table(cols)


def read_tcx_points(path: Path) -> pa.Table:
    """Trackpoints of a Garmin TCX file (``.tcx`` or ``.tcx.gz``) in document order.

    Parameters
    ----------
    path : Path
        A TrainingCenterDatabase v2 file, gzip allowed.

    Returns
    -------
    pyarrow.Table
        Text columns ``timestamp, lat, lon, altitude_m, speed_mps``; None where absent
        (``speed_mps`` from the ``TPX/Speed`` extension, metres per second).

    Raises
    ------
    InputError
        When the file is not well-formed XML or its root is not ``TrainingCenterDatabase``.
    """
    root = _root(path, "TCX")
    if _local(root.tag) != "TrainingCenterDatabase":
        raise InputError(
            f"{str(path)!r} is not TCX: its root element is {_local(root.tag)!r}, "
            "expected 'TrainingCenterDatabase'"
        )
    cols: dict[str, list] = {k: [] for k in ("timestamp", "lat", "lon", "altitude_m", "speed_mps")}
    for el in root.iter():
        if _local(el.tag) != "Trackpoint":
            continue
        cols["timestamp"].append(_child_text(el, "Time"))
        cols["lat"].append(_child_text(el, "Position", "LatitudeDegrees"))
        cols["lon"].append(_child_text(el, "Position", "LongitudeDegrees"))
        cols["altitude_m"].append(_child_text(el, "AltitudeMeters"))
        cols["speed_mps"].append(_child_text(el, "Extensions", "TPX", "Speed"))
    return _table(cols)


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def read_geojson_points(path: Path) -> pa.Table:
    """Point features of a GeoJSON FeatureCollection (or a single Feature), in order.

    Parameters
    ----------
    path : Path
        A ``.geojson`` / ``.json`` file (RFC 7946: WGS84 longitude, latitude).

    Returns
    -------
    pyarrow.Table
        Text columns ``geometry_lon, geometry_lat`` (None unless the geometry is a Point with
        two numbers) followed by every property, in order of first appearance.

    Raises
    ------
    InputError
        When the file is not JSON or not a FeatureCollection / Feature.
    """
    try:
        doc = json.loads(open_bytes(path).decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as exc:
        raise InputError(f"cannot read {str(path)!r} as GeoJSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list):
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{str(path)!r} is not a GeoJSON FeatureCollection (type {kind!r}); "
                         "write the fixes as Point features with properties subject_id and timestamp")
    feats = doc["features"]
    lon: list = []
    lat: list = []
    props: dict[str, list] = {}
    for k, f in enumerate(feats):
        f = f if isinstance(f, dict) else {}
        g = f.get("geometry")
        xy = g.get("coordinates") if isinstance(g, dict) and g.get("type") == "Point" else None
        ok = isinstance(xy, list) and len(xy) >= 2
        lon.append(_text(xy[0]) if ok else None)
        lat.append(_text(xy[1]) if ok else None)
        p = f.get("properties")
        for name, v in (p.items() if isinstance(p, dict) else ()):
            col = props.get(str(name))
            if col is None:
                col = props[str(name)] = [None] * k
            col.append(_text(v))
        for col in props.values():
            if len(col) < k + 1:
                col.append(None)
    reserved = {"geometry_lon", "geometry_lat"}
    return _table({"geometry_lon": lon, "geometry_lat": lat,
                   **{(f"properties.{k}" if k in reserved else k): v for k, v in props.items()}})
