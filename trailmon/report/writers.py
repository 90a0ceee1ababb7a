"""Report writers chosen by the output file's extension, each carrying provenance (SPEC §4).

=========  ===========================================================================
suffix     what is written
=========  ===========================================================================
.csv       leading ``# key: value`` lines (the protective marking first), one header row
.jsonl     one JSON object per row
.geojson   a FeatureCollection (points from ``lon``/``lat`` where the table has them)
           with a top-level ``provenance`` member
.parquet   Parquet (GeoParquet where the table has ``lon``/``lat``) with the provenance
           as key-value metadata
=========  ===========================================================================

Every format also gets a sidecar ``<file>.provenance.json``. Times are ISO 8601 UTC with
``Z`` and milliseconds; booleans ``true``/``false``; distances and durations unrounded.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon import __version__
from trailmon._cells import safe_cell, safe_text_frame
from trailmon.errors import InputError
from trailmon.store._files import FILE_MODE, sha256_file, write_bytes_atomic

__all__ = ["MARKING", "WRITERS", "make_provenance", "sibling", "write_table"]

MARKING = "OFFICIAL-SENSITIVE"


def make_provenance(command: str, parameters: dict, *, transformation: dict | None = None,
                    inputs: list[str | Path] = (), user: str | None = None, purpose: str | None = None,
                    extra: dict | None = None) -> dict:
    """The provenance record every output carries (marking first)."""
    prov = {
        "marking": MARKING,
        "engine": f"trailmon {__version__}",
        "generated": pd.Timestamp(time.time_ns(), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "command": command,
        "parameters": parameters,
        "transformation": transformation or {},
        "inputs": [{"path": str(p), "sha256": sha256_file(p)} for p in inputs if Path(p).is_file()],
    }
    if user is not None:
        prov["user"] = user
    if purpose is not None:
        prov["purpose"] = purpose
    if extra:
        prov.update(extra)
    return prov


def sibling(path: str | Path, kind: str) -> Path:
    """``hits.csv`` -> ``hits.evidence.csv`` (SPEC §4)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{kind}{p.suffix}")


def _iso_ms(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, utc=True)
    out = s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "Z"
    return out.where(s.notna(), None)


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Times to ISO strings, booleans to true/false, for text formats."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
            out[c] = _iso_ms(col)
        elif pd.api.types.is_bool_dtype(col):
            out[c] = np.where(col.to_numpy(bool), "true", "false")
    return out


def _json_value(v):
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, str) and v in ("true", "false"):
        return v == "true"
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    text = _text_frame(df)
    cols = list(text.columns)
    return [{c: _json_value(v) for c, v in zip(cols, row, strict=True)} for row in text.itertuples(index=False)]


def _header_value(v) -> str:
    """A provenance value as one CSV field (SPEC §4): quoted when it needs it, never a formula or a line break."""
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    text = safe_cell(text.replace("\r", " ").replace("\n", " "))
    if any(ch in text for ch in ',"\'') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(df: pd.DataFrame, path: Path, prov: dict) -> None:
    head = "".join(f"# {k}: {_header_value(v)}\n" for k, v in prov.items())
    body = safe_text_frame(_text_frame(df)).to_csv(index=False, lineterminator="\n")
    write_bytes_atomic(path, (head + body).encode("utf-8"))


def _write_jsonl(df: pd.DataFrame, path: Path, prov: dict) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in _records(df)]
    write_bytes_atomic(path, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))


def _write_geojson(df: pd.DataFrame, path: Path, prov: dict) -> None:
    has_pt = {"lon", "lat"} <= set(df.columns)
    feats = []
    for rec in _records(df):
        geom = None
        if has_pt and rec.get("lon") is not None and rec.get("lat") is not None:
            geom = {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
        feats.append({"type": "Feature", "geometry": geom, "properties": rec})
    doc = {"type": "FeatureCollection", "provenance": prov, "features": feats}
    write_bytes_atomic(path, json.dumps(doc, ensure_ascii=False).encode("utf-8"))


def _write_parquet(df: pd.DataFrame, path: Path, prov: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {b"trailmon:provenance": json.dumps(prov, default=str).encode(), b"marking": MARKING.encode()}
    if {"lon", "lat"} <= set(df.columns):
        import geopandas as gpd
        from geopandas.io.arrow import _geopandas_to_arrow  # keeps the GeoParquet "geo" metadata

        gdf = gpd.GeoDataFrame(df.copy(), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
        table = _geopandas_to_arrow(gdf, index=False)
    else:
        table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


WRITERS: dict[str, Callable[[pd.DataFrame, Path, dict], None]] = {
    ".csv": _write_csv,
    ".jsonl": _write_jsonl,
    ".geojson": _write_geojson,
    ".parquet": _write_parquet,
}


def check_suffix(path: str | Path) -> str:
    """The writer's suffix for ``path``, or :class:`InputError` listing the allowed ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise InputError(f"unknown output extension {suffix!r} for {str(path)!r}; use one of "
                         + ", ".join(WRITERS))
    return suffix


def write_table(df: pd.DataFrame, path: str | Path, provenance: dict) -> Path:
    """Write ``df`` to ``path`` in the format its extension names, plus the provenance sidecar."""
    path = Path(path)
    suffix = check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prov = {**provenance, "rows": len(df)}
    WRITERS[suffix](df, path, prov)
    write_bytes_atomic(path.with_name(path.name + ".provenance.json"),
                       (json.dumps(prov, indent=1, default=str) + "\n").encode())
    return path
