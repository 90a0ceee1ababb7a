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
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trailmon import __version__
from trailmon._cells import safe_cell
from trailmon.errors import InputError
from trailmon.store._files import atomic_file, sha256_file, write_bytes_atomic

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
    """Times as ISO 8601 UTC strings with ``Z`` and milliseconds (the one formatter); None where missing."""
    arr = _times_text(_ns_of(pd.to_datetime(s, utc=True)))
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=s.index, dtype=object)


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


# --- Arrow text columns ---------------------------------------------------------------------------
# Every text format (CSV, JSON Lines) is built column by column with Arrow compute and written in
# row batches: no per-row Python. A column becomes one Arrow string array, null where the cell is
# empty; text cells (strings) are made spreadsheet-safe in CSV, numbers never are.

_BATCH_ROWS = 1 << 20
_DISTINCT_FIRST_ROWS = 4096
"""A string column at least this long is formatted per distinct value when it repeats enough."""
_NEEDS_QUOTES = '[,"\r\n]'
_SAFE_PREFIX = "^[=+\\-@\t\r]"
_NAT = np.iinfo(np.int64).min


def _join(*parts, sep: str = "", **kw) -> pa.Array:
    """``binary_join_element_wise`` over large strings; ``str`` parts are literals."""
    parts = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*parts, pa.scalar(sep, pa.large_string()), **kw)


def _ns_of(values) -> np.ndarray:
    """Datetime-like values as int64 ns UTC (NaT: int64 min)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        unit = values.type.unit
        scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
        raw = values.cast(pa.int64()).to_numpy(zero_copy_only=False) if values.null_count == 0 else (
            pc.fill_null(values.cast(pa.int64()), _NAT).to_numpy(zero_copy_only=False))
        return np.where(raw == _NAT, _NAT, raw * scale).astype(np.int64)
    s = pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.astype("datetime64[ns]").to_numpy().view(np.int64)


def _times_text(ns: np.ndarray) -> pa.Array:
    """int64 ns UTC as ISO 8601 strings, ``Z`` and milliseconds (floored: as recorded for ms fixes)."""
    from trailmon.report._format_kernels import ISO_MS_WIDTH, iso_ms_buffer

    ns = np.ascontiguousarray(ns, dtype=np.int64)
    n = len(ns)
    missing = ns == _NAT
    data = iso_ms_buffer(np.where(missing, 0, ns))
    offsets = np.arange(n + 1, dtype=np.int64) * ISO_MS_WIDTH
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    if missing.any():
        arr = pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), arr)
    return arr


def _float_text(arr: pa.Array, fmt: str) -> pa.Array:
    """Floats as shortest round-trip text (``12.5``, ``3.0``, ``1e-7``); NaN empty (and inf too in JSON)."""
    v = arr.to_numpy(zero_copy_only=False)
    finite = np.isfinite(v)
    empty = ~finite if fmt == "json" else np.isnan(v)
    text = pa.array(v, mask=empty).cast(pa.large_string()) if empty.any() else pa.array(v).cast(pa.large_string())
    whole = finite & (v == np.trunc(v)) & (np.abs(v) < 1e15)
    if whole.any():  # Arrow writes 3.0 as "3": keep the float look ("3.0"), as before
        from trailmon.report._format_kernels import point_zero_text

        validity, offsets, data = text.buffers()  # a cast's fresh array: offset 0, its own buffers
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
        new_off, new_data = point_zero_text(np.frombuffer(offsets, dtype=np.int64), raw, whole)
        text = pa.Array.from_buffers(pa.large_string(), len(v), [validity, pa.py_buffer(new_off),
                                                                 pa.py_buffer(new_data)], null_count=text.null_count)
    return text


def _quoted(text: pa.Array) -> pa.Array:
    """CSV quoting where a cell needs it (a comma, a quote or a line break), as RFC 4180."""
    need = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(need).as_py():
        return text
    q = _join('"', pc.replace_substring(text, '"', '""'), '"')
    return pc.if_else(need, q, text)


def _safe(text: pa.Array) -> pa.Array:
    """:func:`trailmon._cells.safe_cell` on a string array (SPEC §4)."""
    bad = pc.match_substring_regex(text, _SAFE_PREFIX)
    if not pc.any(bad).as_py():
        return text
    return pc.if_else(bad, _join("'", text), text)


_JSON_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _json_string(text: pa.Array) -> pa.Array:
    """Strings as JSON string literals (quotes, backslashes and control characters escaped)."""
    if pc.any(pc.match_substring_regex(text, _JSON_CONTROL)).as_py():
        vals = [None if v is None else json.dumps(v, ensure_ascii=False) for v in text.to_pylist()]
        return pa.array(vals, type=pa.large_string())
    t = pc.replace_substring(text, "\\", "\\\\")
    t = pc.replace_substring(t, '"', '\\"')
    t = pc.replace_substring(t, "\n", "\\n")
    t = pc.replace_substring(t, "\r", "\\r")
    t = pc.replace_substring(t, "\t", "\\t")
    return _join('"', t, '"')


def _string_text(arr: pa.Array, fmt: str) -> pa.Array:
    """A string column as CSV cells (safe, quoted) or JSON literals.

    A column with many repeats (subjects, crime references, confidence, flags of a national run) is
    formatted once per distinct value and gathered back.
    """
    arr = arr.cast(pa.large_string())
    if len(arr) >= _DISTINCT_FIRST_ROWS:
        coded = pc.dictionary_encode(arr)
        if len(coded.dictionary) * 4 <= len(arr):
            return _string_text(coded.dictionary, fmt).take(coded.indices)
    return _quoted(_safe(arr)) if fmt == "csv" else _json_string(arr)


def _object_text(values: np.ndarray, fmt: str) -> pa.Array:
    """A pandas object column: strings as text cells; anything else (numbers, bools) as it was written before."""
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None:
        return _string_text(arr, fmt)
    out = []
    for v in values.tolist():
        if fmt == "csv":
            if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NaT:
                out.append(None)
            elif isinstance(v, str):
                cell = safe_cell(v)
                out.append('"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell)
            else:
                out.append(str(v))
        else:
            out.append(json.dumps(_json_value(v), ensure_ascii=False, default=str))
    return pa.array(out, type=pa.large_string())


def _column_text(col, fmt: str) -> pa.Array:
    """One column (pandas Series or Arrow array) as text cells: null for an empty CSV cell.

    ``fmt`` is ``"csv"`` (cells) or ``"json"`` (JSON literals, ``null`` filled in later).
    """
    if isinstance(col, pd.Series):
        dt = col.dtype
        if isinstance(dt, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dt):
            text = _times_text(_ns_of(col))
            return text if fmt == "csv" else _join('"', text, '"')
        if isinstance(dt, pd.CategoricalDtype):
            cats = col.cat.categories.to_numpy(dtype=object)
            codes = col.cat.codes.to_numpy()
            dtext = _object_text(cats, fmt)
            return dtext.take(pa.array(codes, mask=codes < 0))
        if isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow":  # the Arrow strings themselves
            return _string_text(pa.array(col.array), fmt)
        if pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt):
            return _object_text(col.to_numpy(dtype=object), fmt)
        col = pa.array(col, from_pandas=True)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_dictionary(t):
        dtext = _column_text(col.dictionary, fmt)
        return dtext.take(col.indices)
    if pa.types.is_timestamp(t):
        text = _times_text(_ns_of(col))
        return text if fmt == "csv" else _join('"', text, '"')
    if pa.types.is_boolean(t):
        return col.cast(pa.large_string())
    if pa.types.is_floating(t):
        return _float_text(col.cast(pa.float64()), fmt)
    if pa.types.is_integer(t):
        return col.cast(pa.large_string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_text(col, fmt)
    return _object_text(np.asarray(col.to_pylist(), dtype=object), fmt)


def _names(data) -> list[str]:
    """Column names of a DataFrame, an Arrow table or table batches (their ``schema``)."""
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    return list(data.column_names if isinstance(data, pa.Table) else data.schema.names)


def _columns(data) -> tuple[list[str], list, int]:
    """Names, columns (Series or Arrow arrays) and row count of a DataFrame or Arrow table."""
    if isinstance(data, pa.Table):
        return list(data.column_names), list(data.columns), data.num_rows
    return [str(c) for c in data.columns], [data.iloc[:, k] for k in range(data.shape[1])], len(data)


def _slice(col, a: int, b: int):
    return col.iloc[a:b] if isinstance(col, pd.Series) else col.slice(a, b - a)


def _buffer_of(lines: pa.Array) -> memoryview:
    """The bytes of a (large) string array without nulls, all rows back to back."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    _, offsets, data = lines.buffers()
    off = np.frombuffer(offsets, dtype=np.int64 if pa.types.is_large_string(lines.type) else np.int32)
    a, b = int(off[lines.offset]), int(off[lines.offset + len(lines)])
    return memoryview(data)[a:b] if data is not None else memoryview(b"")


def _columns_text(cols: list, a: int, b: int, fmt: str) -> list[pa.Array]:
    """Rows ``a:b`` of every column as text, columns on two threads (Arrow compute runs without the GIL)."""
    if b - a < _DISTINCT_FIRST_ROWS or len(cols) < 2:
        return [_column_text(_slice(c, a, b), fmt) for c in cols]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda c: _column_text(_slice(c, a, b), fmt), cols))


def _csv_batch(cols: list, a: int, b: int) -> memoryview:
    texts = _columns_text(cols, a, b, "csv")
    line = _join(*texts, sep=",", null_handling="replace", null_replacement="")
    return _buffer_of(_join(line, "", sep="\n"))


def _jsonl_batch(names: list[str], cols: list, a: int, b: int) -> memoryview:
    parts = []
    for name, text in zip(names, _columns_text(cols, a, b, "json"), strict=True):
        text = pc.fill_null(text, pa.scalar("null", pa.large_string()))
        parts.append(_join(json.dumps(name, ensure_ascii=False) + ":", text))
    body = _join(*parts, sep=",") if parts else pa.array([""] * (b - a), pa.large_string())
    return _buffer_of(_join("{", body, "}\n"))


def _stream_atomic(path: Path, head: bytes, jobs: Iterable[Callable[[], bytes]]) -> None:
    """Write ``head`` then the bytes of each job, in order, to ``path`` atomically (temp file, fsync, rename).

    Jobs run on two threads (Arrow compute runs without the GIL), two ahead of the one written; the
    next job is taken from ``jobs`` meanwhile, so a generator may build the next rows while earlier
    ones are formatted and written.
    """
    from concurrent.futures import ThreadPoolExecutor

    with atomic_file(path) as f, ThreadPoolExecutor(max_workers=2) as pool:
        f.write(head)
        pending = []
        for job in jobs:
            pending.append(pool.submit(job))
            if len(pending) > 2:
                f.write(pending.pop(0).result())
        for fut in pending:
            f.write(fut.result())


def _row_jobs(data, batch: Callable[[list, int, int], bytes]) -> Iterator[Callable[[], bytes]]:
    """``batch(columns, a, b)`` for row batches of ``data``: a frame, a table, or tables as they are built."""
    for part in ([data] if isinstance(data, pd.DataFrame | pa.Table) else data):
        _, cols, n = _columns(part)
        for a in range(0, n, _BATCH_ROWS):
            b = min(a + _BATCH_ROWS, n)
            yield lambda cols=cols, a=a, b=b: batch(cols, a, b)


def _csv_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\r\n') else name


def _csv_stream(df, path: Path, prelude: str) -> None:
    """``prelude``, the header line and the rows of ``df``, streamed to ``path`` atomically."""
    head = prelude + ",".join(_csv_field(c) for c in _names(df)) + "\n"
    _stream_atomic(path, head.encode("utf-8"), _row_jobs(df, _csv_batch))


def _write_csv(df, path: Path, prov: dict) -> None:
    _csv_stream(df, path, "".join(f"# {k}: {_header_value(v)}\n" for k, v in prov.items()))


def write_plain_csv(df, path: str | Path) -> Path:
    """``df`` as a CSV with no provenance lines (ingestion receipts' rows), atomically, owner-only.

    The same cells as every other CSV trailmon writes (Arrow-formatted in row batches, text cells
    spreadsheet-safe, times ``Z`` with milliseconds, booleans ``true`` / ``false``).
    """
    path = Path(path)
    _csv_stream(df, path, "")
    return path


def _write_jsonl(df, path: Path, prov: dict) -> None:
    names = _names(df)
    _stream_atomic(path, b"", _row_jobs(df, lambda cols, a, b: _jsonl_batch(names, cols, a, b)))


def _write_geojson(df, path: Path, prov: dict) -> None:
    if not isinstance(df, pd.DataFrame | pa.Table):  # batches: one document, held whole anyway
        df = _whole(df)
    if isinstance(df, pa.Table):
        df = df.to_pandas()
    has_pt = {"lon", "lat"} <= set(df.columns)
    feats = []
    for rec in _records(df):
        geom = None
        if has_pt and rec.get("lon") is not None and rec.get("lat") is not None:
            geom = {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
        feats.append({"type": "Feature", "geometry": geom, "properties": rec})
    doc = {"type": "FeatureCollection", "provenance": prov, "features": feats}
    write_bytes_atomic(path, json.dumps(doc, ensure_ascii=False).encode("utf-8"))


_WGS84_PROJJSON: dict | None = None


def _point_wkb(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Points as ISO WKB (little endian), 21 bytes each; NaN coordinates give ``POINT EMPTY`` as GeoPandas does."""
    n = len(lon)
    rec = np.empty(n, dtype=np.dtype([("bo", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["bo"], rec["type"], rec["x"], rec["y"] = 1, 1, lon, lat
    offsets = np.arange(n + 1, dtype=np.int32) * 21
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.view(np.uint8))])


def _geo_metadata(bbox: list[float]) -> bytes:
    """The GeoParquet 1.1 ``geo`` metadata of a WKB point column in WGS84 with bounds ``bbox`` (none when empty)."""
    global _WGS84_PROJJSON
    if _WGS84_PROJJSON is None:
        from pyproj import CRS

        _WGS84_PROJJSON = CRS.from_epsg(4326).to_json_dict()
    col = {"encoding": "WKB", "crs": _WGS84_PROJJSON, "geometry_types": ["Point"]}
    if bbox:
        col["bbox"] = bbox
    return json.dumps({"primary_column": "geometry", "columns": {"geometry": col}, "version": "1.1.0",
                       "creator": {"library": "trailmon", "version": __version__}}).encode()


def _plain_strings(table: pa.Table) -> pa.Table:
    """Dictionary-encoded string columns as plain strings (the Parquet schema stays as it always was)."""
    for k, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(k, f.name, table.column(k).cast(f.type.value_type))
    return table


def _parquet_options(table: pa.Table) -> dict:
    """Parquet writer options for an Arrow table: Snappy for what it shrinks, floats raw.

    Dictionaries for text only (trying one on every float column costs half the write); Snappy on
    text, integers, times and WKB; no compression on floats: measured floats (positions, distances,
    speeds) barely shrink under Snappy (8.4 -> 7-8.4 MB per million rows) while compressing them
    cost a third of the write.
    """
    text = [f.name for f in table.schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)]
    compression = {f.name: "none" if pa.types.is_floating(f.type) else "snappy" for f in table.schema}
    return {"use_dictionary": text, "compression": compression}


def _write_parquet_arrow(table: pa.Table, sink) -> None:
    """An Arrow table written with its dictionary columns as they are (no string per row), read back as plain strings.

    The Arrow schema stored in the file (``ARROW:schema``, which readers restore types from) is the
    plain one, exactly as if the strings had been cast before writing: the same bytes, the same table
    when read.
    """
    import base64

    import pyarrow.parquet as pq

    meta = table.schema.metadata or {}
    plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type, f.nullable)
                       for f in table.schema], metadata=meta)
    with pq.ParquetWriter(sink, table.schema, store_schema=False, **_parquet_options(table)) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({**meta, b"ARROW:schema": base64.b64encode(plain.serialize().to_pybytes())})


def _whole(batches) -> pa.Table:
    """Table batches as one table (each text column with one dictionary)."""
    return pa.concat_tables([batches.schema.empty_table(), *batches]).unify_dictionaries()


def _with_points(table: pa.Table) -> tuple[pa.Table, tuple[float, float, float, float] | None]:
    """``table`` with its WKB ``geometry`` column from ``lon``/``lat``, and their bounds (None when none is finite)."""
    lon = table.column("lon").to_numpy().astype(np.float64)
    lat = table.column("lat").to_numpy().astype(np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    box = (float(lon[ok].min()), float(lat[ok].min()), float(lon[ok].max()), float(lat[ok].max())) if ok.any() \
        else None
    return table.append_column("geometry", _point_wkb(lon, lat)), box


def _write_parquet_batches(batches, path: Path, meta: dict) -> None:
    """Table batches as one (Geo)Parquet file, each batch written on a thread while the next is built.

    The footer gets the metadata, the GeoParquet bounds of all batches and the plain Arrow schema
    (text columns as strings, as :func:`_write_parquet_arrow` writes it).
    """
    import base64
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    points = {"lon", "lat"} <= set(batches.schema.names)
    schema = batches.schema
    if points:
        schema = schema.append(pa.field("geometry", pa.binary()))
    boxes = []
    with atomic_file(path) as f, pq.ParquetWriter(f, schema, store_schema=False,
                                                   **_parquet_options(schema.empty_table())) as writer, \
            ThreadPoolExecutor(max_workers=1) as pool:
        writing = None
        for table in batches:
            if points:
                table, box = _with_points(table)
                boxes += [box] if box else []
            if writing is not None:
                writing.result()
            writing = pool.submit(writer.write_table, table)
        if writing is not None:
            writing.result()
        extra = dict(meta)
        if points:
            box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                   max(b[3] for b in boxes)] if boxes else []
            extra[b"geo"] = _geo_metadata(box)
        plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type,
                                    f.nullable) for f in schema], metadata=extra)
        writer.add_key_value_metadata({**extra, b"ARROW:schema": base64.b64encode(plain.serialize().to_pybytes())})


def _write_parquet(df, path: Path, prov: dict) -> None:
    import pyarrow.parquet as pq

    meta = {b"trailmon:provenance": json.dumps(prov, default=str).encode(), b"marking": MARKING.encode()}
    if not isinstance(df, pd.DataFrame | pa.Table):
        _write_parquet_batches(df, path, meta)
        return
    arrow = isinstance(df, pa.Table)
    table = df if arrow else pa.Table.from_pandas(df, preserve_index=False)
    if {"lon", "lat"} <= set(table.column_names):
        table, box = _with_points(table)
        meta[b"geo"] = _geo_metadata(list(box) if box else [])
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    with atomic_file(path) as f:
        if arrow:
            _write_parquet_arrow(table, f)
        else:
            table = _plain_strings(table)
            # Parquet dictionaries for text only: trying one on every float column costs half the write
            text = [c.name for c in table.schema if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)]
            pq.write_table(table, f, use_dictionary=text)


WRITERS: dict[str, Callable[[pd.DataFrame | pa.Table, Path, dict], None]] = {
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


def write_table(df, path: str | Path, provenance: dict) -> Path:
    """Write ``df`` to ``path`` in the format its extension names, plus the sidecar.

    ``df`` is a DataFrame, an Arrow table, or Arrow tables built as they are iterated (an object with
    ``schema``, ``len()`` = all their rows, and iteration: :class:`trailmon.match.proximity.EvidenceBatches`),
    which CSV, JSON Lines and Parquet write while the next is built. Text formats are built by Arrow
    in row batches (times, floats and booleans formatted in bulk, never per row in Python) and
    streamed to a temporary file that is renamed into place.
    """
    path = Path(path)
    suffix = check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prov = {**provenance, "rows": len(df)}
    WRITERS[suffix](df, path, prov)
    write_bytes_atomic(path.with_name(path.name + ".provenance.json"),
                       (json.dumps(prov, indent=1, default=str) + "\n").encode())
    return path
