"""Read GPS-tag trails from every supplier format of SPEC §2 into one validated frame.

Formats (told by the file's suffix, then by its content, unless ``fmt`` is given):

=========  ===================================================================================
``csv``    header ``subject_id, timestamp, lat|easting, lon|northing[, accuracy_m][, fix_type]
           [, speed_mps][, heading_deg]``; extra columns carried through; ``.csv.gz`` too
``em``     the EM datastore device-positions export (18 columns, Athena timestamps, UTC);
           recognised from its header whatever the suffix
``parquet`` the CSV's columns, or a GeoParquet point ``geometry``
``gpx``    GPX 1.1 ``trkpt`` / ``rtept`` / ``wpt`` with ``time``; subject from ``subject`` or
           the file name
``tcx``    Garmin TrainingCenterDatabase ``Trackpoint`` (``.tcx``, ``.tcx.gz``); subject from
           ``subject`` or the file name
``plt``    GeoLife ``.plt`` (6 header lines; GMT); subject from ``subject`` or the user
           folder (``<user>/Trajectory/x.plt``)
``geojson`` a FeatureCollection of Point features with properties ``subject_id, timestamp, ...``
=========  ===================================================================================

Every row read ends in ``accepted`` or ``rejected`` (with a :class:`RejectReason`), never
both, never neither. Rules apply in this order, the first broken one naming the row:
``WRONG_COLUMN_COUNT``, ``MISSING_SUBJECT``, ``BAD_TIMESTAMP`` / ``NO_TIMEZONE``,
``BAD_COORDINATE``, ``OUTSIDE_GRID``, ``BAD_ACCURACY``, ``BAD_FIX_TYPE``, ``BAD_SPEED``,
``BAD_HEADING``; then, among the rows still accepted, ``DUPLICATE`` and
``CONFLICTING_DUPLICATE`` (SPEC §2, fix-level rules).

The CSV happy path is columnar end to end (``pyarrow.csv`` with typed float columns, Arrow's
ISO 8601 cast, ``convertbng`` for OSTN15, numpy for the rules); a file with a ragged row,
bytes that are not UTF-8 or a value that is not a number is read again on a tolerant path
that gives the same result. (The shared text reader :mod:`trailmon.io._csv` turns every cell
into a Python string, about 0.6 M rows/s here; trails have to ingest at >= 1 M fixes/s,
SPEC §6, so they keep Arrow columns until the accepted frame is built.)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from trailmon.crs import BNG_CRS, StoreCRS
from trailmon.errors import InputError, TimezoneError
from trailmon.io._time import NAT, check_tz, localize_naive, parse_times
from trailmon.io._xml_trails import read_geojson_points, read_gpx_points, read_tcx_points
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.trail import DEFAULT_ACCURACY_M, FIX_TYPES, strictly_increasing

__all__ = ["CANONICAL_COLUMNS", "EM_POSITION_COLUMNS", "FORMATS", "parse_columns_map", "read_trails"]

FORMATS: tuple[str, ...] = ("csv", "em", "parquet", "gpx", "tcx", "plt", "geojson")
"""Values of ``read_trails(fmt=...)``."""

CANONICAL_COLUMNS: tuple[str, ...] = (
    "subject_id", "timestamp", "lat", "lon", "easting", "northing", "accuracy_m", "fix_type", "speed_mps",
    "heading_deg",
)
"""Trail columns a ``columns`` mapping may name (SPEC §2 trails)."""

EM_POSITION_COLUMNS: tuple[str, ...] = (
    "client_id", "device_id", "location_id", "person_id", "position_circulation_id", "position_direction",
    "position_geometry", "position_gps_date", "position_hdop", "position_id", "position_latitude",
    "position_lbs", "position_longitude", "position_precision", "position_recorded_date",
    "position_satellite", "position_speed", "position_uploaded_date",
)
"""The EM datastore device-positions export, in its column order."""

_EM_MAP = {
    "subject_id": "person_id", "timestamp": "position_recorded_date", "lat": "position_latitude",
    "lon": "position_longitude", "accuracy_m": "position_precision", "fix_type": "position_lbs",
    "speed_mps": "position_speed", "heading_deg": "position_direction",
}
_EM_REQUIRED = {"person_id", "position_recorded_date", "position_latitude", "position_longitude"}
_EM_FIX_CODES = {1: "gps", 4: "rf", 5: "lbs", 6: "wifi"}
"""``position_lbs`` values of the EM export and the fix type each stands for."""

_PLT_COLUMNS = ["lat", "lon", "zero", "altitude_ft", "days", "date", "time"]
_PLT_HEADER_LINES = 6

_DECIMAL = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
"""A decimal number as Arrow casts it; other text in a number column is unparseable."""
_FLOAT_COLUMNS = ("lat", "lon", "easting", "northing", "accuracy_m", "speed_mps", "heading_deg")
_KMH_TO_MPS = 1.0 / 3.6
_FIX_DEFAULT_ACC = np.array([DEFAULT_ACCURACY_M[f] for f in FIX_TYPES], dtype=np.float64)
_OUT_NAMES = frozenset(TRAIL_INPUT) | {"row"}

_SUFFIX_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".geoparquet": "parquet", ".pq": "parquet",
    ".gpx": "gpx", ".tcx": "tcx", ".plt": "plt", ".geojson": "geojson", ".json": "geojson",
}


def parse_columns_map(text: str) -> dict[str, str]:
    """Parse a ``--columns`` mapping: canonical name = the file's column name, comma-separated.

    Parameters
    ----------
    text : str
        E.g. ``"subject_id=vehicle_id,lat=latitude,lon=longitude"``; spaces around names are
        ignored; an empty text is an empty mapping.

    Returns
    -------
    dict of str to str
        Canonical name -> header name in the file.

    Raises
    ------
    InputError
        When an item is not ``name=column``, a name or column is empty, or a name repeats.

    Examples
    --------
    >>> parse_columns_map("subject_id=vehicle_id, lat=latitude")
    {'subject_id': 'vehicle_id', 'lat': 'latitude'}
    """
    out: dict[str, str] = {}
    if not str(text).strip():
        return out
    for item in str(text).split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise InputError(
                f"--columns item {item.strip()!r} is not NAME=COLUMN; write e.g. "
                "--columns subject_id=vehicle_id,lat=latitude,lon=longitude"
            )
        if key in out:
            raise InputError(
                f"--columns names {key!r} twice ({out[key]!r} and {value!r}); name each column once")
        out[key] = value
    return out


# -- the normalised source every format is turned into ---------------------------------------


@dataclass
class _Source:
    """One file's rows, before validation."""

    file: str
    fmt: str
    table: pa.Table                      # values as read (text or numbers), plus derived columns
    canon: dict[str, str]                # canonical name -> column of ``table``
    raw_columns: list[str]               # columns shown as the original values of a rejected row
    extras: list[str]                    # columns carried through into ``accepted``
    rows: np.ndarray                     # 1-based data-row numbers, shape (n,)
    tz: str | None                       # zone of zone-less timestamps
    subject: str | None = None           # subject of every row when the file has no subject column
    speed_scale: float = 1.0             # to metres per second
    heading_radians: bool = False        # heading given in radians
    fix_codes: dict[int, str] | None = None   # numeric fix-type codes (EM export)
    pre_rejected: pd.DataFrame = field(default_factory=empty_rejected)   # rows rejected while reading
    as_text: Callable[[], pa.Table] | None = None   # the same rows as text, when ``table`` holds numbers


class _Layout(NamedTuple):
    """Where a delimited file's rows are: its column names and what precedes the first row."""

    names: list[str]                 # column names used in the table (stripped)
    written: list[str] | None        # the header as written, when the file has one
    skip_rows: int = 0               # records before the data, when it has none (GeoLife)


def read_trails(
    path: str | Path,
    *,
    crs: StoreCRS | None = None,
    tz: str | None = None,
    columns: dict[str, str] | str | None = None,
    subject: str | None = None,
    fmt: str | None = None,
) -> ReadResult:
    """Read one trail file, validate every row and transform it into the store's CRS.

    Parameters
    ----------
    path : str or Path
        The file; its format is told by ``fmt``, else by its suffix and content (module docs).
    crs : StoreCRS, optional
        The store's projected CRS; default ``StoreCRS("EPSG:27700")`` (OSTN15, points outside
        its coverage rejected ``OUTSIDE_GRID``).
    tz : str, optional
        IANA zone of timestamps written without a UTC offset (``--tz Europe/London``); local
        times missing at the spring change move forward, repeated ones take the first.
        Ignored by the EM export and GeoLife, whose times are UTC by definition.
    columns : dict or str, optional
        Canonical name -> the file's column name (``--columns subject_id=vehicle_id,...``),
        for CSV, Parquet and GeoJSON properties.
    subject : str, optional
        Subject of every row of a file that names none (GPX, TCX, GeoLife, or a CSV without
        a ``subject_id`` column); a file's own subject column wins. GPX and TCX default to
        the file name, GeoLife to the user folder.
    fmt : {"csv", "em", "parquet", "gpx", "tcx", "plt", "geojson"}, optional
        Force a format.

    Returns
    -------
    ReadResult
        ``accepted``: the columns of :data:`trailmon.report._columns.TRAIL_INPUT` (``t_ns``
        int64 nanoseconds UTC, ``x_m``/``y_m`` store metres, ``lat``/``lon`` WGS84 degrees,
        ``accuracy_m`` metres with the fix type's default where empty, ``speed_mps``,
        ``heading_deg`` NaN where absent), then ``row`` (1-based data row), then the file's
        other columns as text. ``rejected``: one row per rejected row with its code.
        ``info``: ``transformation``, ``tz`` and ``format``.

    Raises
    ------
    InputError
        When the file is missing or unreadable, a required column is absent, ``columns``
        names an unknown canonical name or a column the file lacks, or ``fmt`` is unknown.
    TimezoneError
        When no timestamp of the file carries a UTC offset and ``tz`` is None.

    Notes
    -----
    A present but unparseable optional value rejects its row; an empty one is absent (the
    default applies). Within the file, a later identical copy of a fix (same subject,
    instant, position, accuracy and fix type) is rejected ``DUPLICATE``; of fixes of one
    subject at one instant that differ otherwise, the smallest ``accuracy_m`` is kept (the
    first on a tie) and the others rejected ``CONFLICTING_DUPLICATE``. Out-of-order rows
    are accepted: the store sorts.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = f.write_text(chr(10).join(["subject_id,timestamp,lat,lon", "S1,2026-07-14T10:00:00Z,53.4,-2.9"]))
    >>> r = read_trails(f)
    >>> r.n_read, list(r.accepted["fix_type"]), float(r.accepted["accuracy_m"][0])
    (1, ['gps'], 10.0)
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"trail file {str(path)!r} does not exist or is not a file")
    crs = BNG_CRS() if crs is None else crs
    tz = check_tz(tz)
    cmap = parse_columns_map(columns) if isinstance(columns, str) else dict(columns or {})
    unknown = sorted(set(cmap) - set(CANONICAL_COLUMNS))
    if unknown:
        raise InputError(f"columns names unknown trail column(s) {unknown}; "
                         f"use any of {', '.join(CANONICAL_COLUMNS)}")
    if subject is not None:
        if not str(subject).strip():
            raise InputError(f"subject must be a non-empty identifier, got {subject!r}")
        subject = str(subject).strip()
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown trail format {fmt!r}; use one of {', '.join(FORMATS)} (or None to sniff)")
    kind = fmt or _sniff(p)
    if kind in ("csv", "em"):
        src = _csv_source(p, kind, tz, cmap, subject)
    elif kind == "parquet":
        src = _parquet_source(p, tz, cmap, subject)
    elif kind == "plt":
        src = _plt_source(p, subject)
    elif kind == "geojson":
        src = _geojson_source(p, tz, cmap, subject)
    else:
        src = _xml_source(p, kind, tz, subject)
    return _validate(src, crs)


# -- sniffing ---------------------------------------------------------------------------------


def _stem(p: Path) -> str:
    """File name without ``.gz`` and its format suffix (``x.TCX.gz`` -> ``x``)."""
    name = p.name[:-3] if p.name.lower().endswith(".gz") else p.name
    return Path(name).stem


def _sniff(p: Path) -> str:
    name = p.name.lower()
    inner = name[:-3] if name.endswith(".gz") else name
    kind = _SUFFIX_FORMATS.get(Path(inner).suffix)
    if kind is not None:
        return kind
    with p.open("rb") as fh:
        head = fh.read(4096)
    if head[:2] == b"\x1f\x8b":
        import gzip

        with gzip.open(p, "rb") as fh:
            head = fh.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        if "TrainingCenterDatabase" in text:
            return "tcx"
        if "<gpx" in text:
            return "gpx"
    if text.startswith("{"):
        return "geojson"
    if text.lower().startswith("geolife trajectory"):
        return "plt"
    return "csv"


# -- delimited text ---------------------------------------------------------------------------


def _is_gzip(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _text_stream(p: Path) -> io.TextIOBase:
    """Open the file as text (gunzipped when needed): UTF-8, BOM skipped, bad bytes replaced."""
    import gzip

    raw = gzip.open(p, "rb") if _is_gzip(p) else p.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _header(p: Path) -> tuple[list[str], list[str]]:
    """Column names of the first non-blank record, stripped, and as written (for pyarrow)."""
    with _text_stream(p) as fh:
        try:
            rec = next((r for r in csv.reader(fh, strict=False) if r), None)
        except csv.Error as exc:
            raise InputError(f"cannot read the header of {str(p)!r} as CSV: {exc}") from exc
    if rec is None:
        raise InputError(f"{str(p)!r} is empty; a header row naming the columns is expected "
                         "(subject_id,timestamp,lat,lon,...)")
    names = [h.strip().lstrip("\ufeff").strip() or f"column_{i + 1}" for i, h in enumerate(rec)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{str(p)!r} names column(s) {dupes} more than once; give each column one name")
    return names, rec


def _arrow_csv(p: Path, layout: _Layout, float_cols: set[str], time_cols: frozenset[str] = frozenset()
               ) -> pa.Table:
    """Read with ``pyarrow.csv``: ``float_cols`` as float64, the rest as text, empty cells null.

    ``time_cols`` are read as ``timestamp[ns, UTC]``: Arrow's ISO 8601 parser then runs while
    the file is parsed, and accepts exactly what casting the text to that type accepts (an
    offset or ``Z`` required), with the same values.

    Raises ``pyarrow.ArrowInvalid`` for a ragged row, a value that is not a number or bytes
    that are not UTF-8. (No ``invalid_row_handler``: pyarrow decodes the row for it as UTF-8
    and fails inside the callback when the bytes are not.)
    """
    file_names = layout.written or layout.names
    types = {w: (pa.float64() if c in float_cols else pa.timestamp("ns", "UTC") if c in time_cols else pa.string())
             for c, w in zip(layout.names, file_names, strict=True)}
    opts = (pacsv.ReadOptions() if layout.written else   # pyarrow finds the header (after blank lines, a BOM)
            pacsv.ReadOptions(column_names=layout.names, skip_rows=layout.skip_rows))
    table = pacsv.read_csv(
        pa.input_stream(str(p), compression="gzip" if _is_gzip(p) else None),
        read_options=opts,
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                             quoted_strings_can_be_null=True),
    )
    return table.rename_columns(layout.names)


def _read_delimited(p: Path, layout: _Layout, float_cols: set[str], time_cols: frozenset[str] = frozenset()
                    ) -> tuple[pa.Table, np.ndarray, pd.DataFrame, Callable[[], pa.Table] | None]:
    """Rows of a delimited file as a table with ``names``; ragged rows set apart.

    Returns the table of well-formed rows, their 1-based data-row numbers, the rejected
    frame of the ragged rows (``WRONG_COLUMN_COUNT``) and, when numbers (or times) were
    parsed while reading, a function that reads the same rows again as text (for the
    original values of rejected rows). Blank lines are not rows.
    """
    tries = [(float_cols, time_cols)] if time_cols else []
    tries += [(float_cols, frozenset())] if float_cols else []
    for floats, times in [*tries, (set(), frozenset())]:
        try:
            table = _arrow_csv(p, layout, floats, times)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue  # not a number or time (then the next try), ragged or not UTF-8 (then the tolerant path)
        rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
        as_text = (lambda: _arrow_csv(p, layout, set())) if floats or times else None
        return table, rows, empty_rejected(), as_text
    return (*_read_delimited_tolerant(p, layout), None)


def _read_delimited_tolerant(p: Path, layout: _Layout) -> tuple[pa.Table, np.ndarray, pd.DataFrame]:
    """Read like the fast path, with Python's :mod:`csv`: any bytes, any row lengths."""
    names = layout.names
    width = len(names)
    good: list[list[str]] = []
    good_rows: list[int] = []
    bad_rows: list[int] = []
    bad_counts: list[int] = []
    bad_values: list[dict] = []
    with _text_stream(p) as fh:
        reader = csv.reader(fh, strict=False)
        k = 0
        try:
            for _ in range(layout.skip_rows):
                next(reader, None)
            if layout.written:  # the header: the first record that is not blank
                next((r for r in reader if r), None)
            for rec in reader:
                if not rec:
                    continue
                k += 1
                if len(rec) == width:
                    good.append(rec)
                    good_rows.append(k)
                else:
                    bad_rows.append(k)
                    bad_counts.append(len(rec))
                    vals = dict(zip(names, rec, strict=False))
                    if len(rec) > width:
                        vals["_extra"] = rec[width:]
                    bad_values.append(vals)
        except csv.Error as exc:
            raise InputError(
                f"cannot read {str(p)!r} as CSV after data row {k}: {exc}; check its quoting") from exc
    cols = list(zip(*good, strict=True)) if good else [() for _ in names]
    table = pa.table({n: pa.array([v if v != "" else None for v in c], type=pa.string())
                      for n, c in zip(names, cols, strict=True)})
    pre = empty_rejected()
    if bad_rows:
        pre = pd.DataFrame({
            "file": str(p), "row": np.asarray(bad_rows, dtype=np.int64),
            "reason": RejectReason.WRONG_COLUMN_COUNT.value,
            "detail": [f"{c} fields, the header has {width}" for c in bad_counts],
            "values": [json.dumps(v, ensure_ascii=False) for v in bad_values],
        })
    return table, np.asarray(good_rows, dtype=np.int64), pre


def _resolve(names: list[str], cmap: dict[str, str], p: Path) -> dict[str, str]:
    """Canonical name -> column, from the mapping, else by name (case-insensitive)."""
    lower = {n.lower(): n for n in names}
    canon: dict[str, str] = {}
    for key, col in cmap.items():
        found = col if col in names else lower.get(col.lower())
        if found is None:
            raise InputError(f"columns maps {key!r} to {col!r}, but {str(p)!r} has no such column; "
                             f"its columns are {names}")
        canon[key] = found
    taken = set(canon.values())
    for key in CANONICAL_COLUMNS:
        if key not in canon and key.lower() in lower and lower[key.lower()] not in taken:
            canon[key] = lower[key.lower()]
    return canon


def _check_required(canon: dict[str, str], names: list[str], p: Path, subject: str | None) -> None:
    missing = []
    if "subject_id" not in canon and subject is None:
        missing.append("subject_id (or give subject / --subject)")
    if "timestamp" not in canon:
        missing.append("timestamp")
    has_ll = "lat" in canon and "lon" in canon
    has_en = "easting" in canon and "northing" in canon
    if not (has_ll or has_en):
        missing.append("lat and lon, or easting and northing")
    if missing:
        raise InputError(f"{str(p)!r} lacks trail column(s): {'; '.join(missing)}; its columns are {names}. "
                         "Name them with --columns, e.g. --columns subject_id=vehicle_id,lat=latitude")


def _coordinate_pair(canon: dict[str, str]) -> dict[str, str]:
    """Keep one coordinate pair: lat/lon when the file has both pairs."""
    if "lat" in canon and "lon" in canon:
        return {k: v for k, v in canon.items() if k not in ("easting", "northing")}
    return {k: v for k, v in canon.items() if k not in ("lat", "lon")}


def _csv_source(p: Path, kind: str, tz: str | None, cmap: dict[str, str], subject: str | None) -> _Source:
    names, written = _header(p)
    layout = _Layout(names, written)
    lower = {n.lower(): n for n in names}
    if kind == "em" or _EM_REQUIRED <= set(lower):
        missing = sorted(_EM_REQUIRED - set(lower))
        if missing:
            raise InputError(f"{str(p)!r} is not an EM device-positions export: it lacks {missing}")
        canon = {k: lower[v] for k, v in _EM_MAP.items() if v in lower}
        floats = {canon[k] for k in ("lat", "lon", "accuracy_m", "speed_mps", "heading_deg", "fix_type")
                  if k in canon}
        table, rows, pre, as_text = _read_delimited(p, layout, floats)
        used = set(canon.values())
        return _Source(str(p), "em", table, canon, names, [n for n in names if n not in used], rows, "UTC",
                       speed_scale=_KMH_TO_MPS, heading_radians=True, fix_codes=_EM_FIX_CODES,
                       pre_rejected=pre, as_text=as_text)
    canon = _coordinate_pair(_resolve(names, cmap, p))
    _check_required(canon, names, p, subject)
    floats = {canon[k] for k in _FLOAT_COLUMNS if k in canon}
    # times with offsets parsed while reading (a file with any other time is read with them as text)
    table, rows, pre, as_text = _read_delimited(p, layout, floats, frozenset({canon["timestamp"]}))
    used = set(canon.values())
    return _Source(str(p), "csv", table, canon, names, [n for n in names if n not in used], rows, tz,
                   subject=subject, pre_rejected=pre, as_text=as_text)


def _plt_source(p: Path, subject: str | None) -> _Source:
    layout = _Layout(_PLT_COLUMNS, None, _PLT_HEADER_LINES)
    table, rows, pre, as_text = _read_delimited(p, layout, {"lat", "lon"})
    stamp = pc.binary_join_element_wise(pc.utf8_trim_whitespace(table["date"]),
                                        pc.utf8_trim_whitespace(table["time"]), "T")
    table = table.append_column("timestamp", stamp)
    if subject is None:
        user = p.parent.parent.name if p.parent.name.lower() == "trajectory" else ""
        subject = user or _stem(p)
    return _Source(str(p), "plt", table, {"timestamp": "timestamp", "lat": "lat", "lon": "lon"}, _PLT_COLUMNS,
                   ["altitude_ft"], rows, "UTC", subject=subject, pre_rejected=pre, as_text=as_text)


def _xml_source(p: Path, kind: str, tz: str | None, subject: str | None) -> _Source:
    table = read_gpx_points(p) if kind == "gpx" else read_tcx_points(p)
    names = table.column_names
    canon = {c: c for c in ("timestamp", "lat", "lon", "speed_mps", "heading_deg") if c in names}
    return _Source(str(p), kind, table, canon, names, [c for c in ("ele_m", "altitude_m") if c in names],
                   np.arange(1, table.num_rows + 1, dtype=np.int64), tz, subject=subject or _stem(p))


def _geojson_source(p: Path, tz: str | None, cmap: dict[str, str], subject: str | None) -> _Source:
    table = read_geojson_points(p)
    props = [c for c in table.column_names if c not in ("geometry_lon", "geometry_lat")]
    coords = ("lat", "lon", "easting", "northing")   # a GeoJSON point's place is its geometry
    canon = _resolve(props, {k: v for k, v in cmap.items() if k not in coords}, p)
    for k in coords:
        canon.pop(k, None)
    canon.update(lat="geometry_lat", lon="geometry_lon")
    _check_required(canon, props, p, subject)
    used = set(canon.values())
    return _Source(str(p), "geojson", table, canon, table.column_names, [c for c in props if c not in used],
                   np.arange(1, table.num_rows + 1, dtype=np.int64), tz, subject=subject)


def _parquet_source(p: Path, tz: str | None, cmap: dict[str, str], subject: str | None) -> _Source:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {str(p)!r} as Parquet: {exc}") from exc
    names = table.column_names
    canon = _resolve(names, cmap, p)
    geo = (table.schema.metadata or {}).get(b"geo")
    if not any(k in canon for k in ("lat", "lon", "easting", "northing")) and geo is not None:
        table, canon = _geoparquet_points(table, canon, geo, p)
        names = table.column_names
    canon = _coordinate_pair(canon)
    _check_required(canon, names, p, subject)
    used = set(canon.values())
    return _Source(str(p), "parquet", table, canon, names,
                   [n for n in names if n not in used and not pa.types.is_binary(table.schema.field(n).type)],
                   np.arange(1, table.num_rows + 1, dtype=np.int64), tz, subject=subject)


def _geoparquet_points(table: pa.Table, canon: dict[str, str], geo: bytes, p: Path
                       ) -> tuple[pa.Table, dict[str, str]]:
    """Replace a GeoParquet point geometry by WGS84 (or BNG) coordinate columns."""
    import shapely

    meta = json.loads(geo)
    col = meta.get("primary_column", "geometry")
    if col not in table.column_names:
        return table, canon
    enc = meta.get("columns", {}).get(col, {}).get("encoding", "WKB")
    if str(enc).upper() != "WKB":
        raise InputError(
            f"{str(p)!r}: GeoParquet geometry encoding {enc!r} is not supported; write WKB points")
    geoms = shapely.from_wkb(np.asarray(table[col].to_pylist(), dtype=object), on_invalid="ignore")
    point = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    if point.any():
        x[point] = shapely.get_x(geoms[point])
        y[point] = shapely.get_y(geoms[point])
    crs = meta.get("columns", {}).get(col, {}).get("crs")
    epsg = None
    if crs is not None:
        from pyproj import CRS

        epsg = CRS.from_user_input(crs).to_epsg()
    table = table.drop_columns([col])
    if epsg == 27700:
        table = table.append_column("geometry_x", pa.array(x)).append_column("geometry_y", pa.array(y))
        return table, {**canon, "easting": "geometry_x", "northing": "geometry_y"}
    if crs is not None and epsg != 4326:
        from pyproj import Transformer

        x, y = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    table = table.append_column("geometry_lon", pa.array(np.asarray(x, dtype=np.float64)))
    table = table.append_column("geometry_lat", pa.array(np.asarray(y, dtype=np.float64)))
    return table, {**canon, "lat": "geometry_lat", "lon": "geometry_lon"}


# -- column parsing ---------------------------------------------------------------------------


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Trimmed text; empty cells become null."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    col = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(pc.utf8_length(col), 0), pa.scalar(None, pa.string()), col)


def _present(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.is_valid(col), dtype=bool)


def _filled(col: pa.ChunkedArray, fill, dtype) -> np.ndarray:
    """Return a numeric Arrow column as a writable numpy array, nulls replaced by ``fill``."""
    if col.null_count:
        col = pc.fill_null(col, fill)
    out = col.to_numpy()
    if out.dtype != dtype or not out.flags.writeable:  # a view of Arrow's memory (one chunk): copy it
        return np.array(out, dtype=dtype, copy=True)
    return out  # already a fresh, writable array (chunks concatenated)


def _numbers(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Float values (NaN where absent or unparseable) and where a value is present."""
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        present = _present(col)
        return _filled(pc.cast(col, pa.float64()), np.nan, np.float64), present
    text = _as_text(col)
    present = _present(text)
    try:
        return _filled(pc.cast(text, pa.float64()), np.nan, np.float64), present
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # some cells are not numbers: blank them out by pattern and cast the rest (still columnar)
    decimal = pc.if_else(pc.match_substring_regex(text, _DECIMAL), text, pa.scalar(None, pa.string()))
    try:
        return _filled(pc.cast(decimal, pa.float64()), np.nan, np.float64), present
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover - the pattern is stricter
        s = pd.Series(np.asarray(text.to_pylist(), dtype=object))
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.array(x), present


def _timestamps(col: pa.ChunkedArray, tz: str | None, what: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Nanoseconds UTC (NAT where bad), where a time is bad, and where one has no zone (None: nowhere)."""
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            if tz is None:
                raise TimezoneError(f"{what} values carry no UTC offset; name their zone with --tz "
                                    "(e.g. --tz Europe/London or --tz UTC)")
            local = _filled(pc.cast(pc.cast(col, pa.timestamp("ns")), pa.int64()), NAT, np.int64)
            return _localize(local, tz)
        ns = _filled(pc.cast(pc.cast(col, pa.timestamp("ns", "UTC")), pa.int64()), NAT, np.int64)
        return ns, ns == NAT, None  # parsed while reading, offsets applied
    text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    text = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), text)
    try:  # Arrow's ISO 8601 parser accepts a strict subset of what pandas accepts, with equal results
        ns = _filled(pc.cast(pc.cast(text, pa.timestamp("ns", "UTC")), pa.int64()), NAT, np.int64)
        return ns, ns == NAT, None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if tz is not None:
        try:
            local = _filled(pc.cast(pc.cast(text, pa.timestamp("ns")), pa.int64()), NAT, np.int64)
            return _localize(local, tz)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    ns, problem = parse_times(text.to_pandas(), tz, what=what)
    return ns, np.equal(problem, "BAD_TIMESTAMP"), np.equal(problem, "NO_TIMEZONE")


def _localize(local_ns: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray, None]:
    ns = local_ns.copy()
    ok = ns != NAT
    if ok.any() and tz.upper() != "UTC":
        idx = localize_naive(pd.DatetimeIndex(local_ns[ok].view("datetime64[ns]")), tz)
        ns[ok] = idx.asi8
    return ns, ns == NAT, None


def _fix_codes(col: pa.ChunkedArray | None, n: int, codes: dict[int, str] | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Fix-type index into FIX_TYPES (-1 when unknown; gps when absent) and presence."""
    if col is None:
        return np.zeros(n, dtype=np.int8), np.zeros(n, dtype=bool)
    if codes is not None:
        x, present = _numbers(col)
        out = np.full(n, -1, dtype=np.int8)
        for value, name in codes.items():
            out[x == value] = FIX_TYPES.index(name)
        out[~present] = 0
        return out, present
    if pa.types.is_string(col.type):  # rule on the few distinct values, then spread to the rows
        enc = pc.dictionary_encode(col)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        names = _as_text(enc.dictionary)
        name_idx = _filled(pc.index_in(pc.utf8_lower(names), value_set=pa.array(FIX_TYPES)), -1, np.int64)
        name_present = _present(names)
        if not enc.indices.null_count:  # every cell has a value: one lookup per row
            rows = enc.indices.to_numpy()
            return np.where(name_present, name_idx, 0).astype(np.int8)[rows], name_present[rows]
        rows = _filled(enc.indices, -1, np.int64)
        valid = rows >= 0
        present = valid & name_present[np.where(valid, rows, 0)] if len(names) else valid
        out = (name_idx[np.where(valid, rows, 0)] if len(names) else np.full(n, -1)).astype(np.int8)
        out[~present] = 0
        return out, present
    text = _as_text(col)
    present = _present(text)
    idx = pc.index_in(pc.utf8_lower(text), value_set=pa.array(FIX_TYPES))
    out = _filled(idx, -1, np.int64).astype(np.int8)
    out[~present] = 0
    return out, present


# -- validation -------------------------------------------------------------------------------


def _validate(src: _Source, crs: StoreCRS) -> ReadResult:
    table, canon, n = src.table, src.canon, src.table.num_rows
    rej = Rejector(pd.DataFrame(index=pd.RangeIndex(n)), src.file, src.rows)

    # the coordinate transformation runs beside the Arrow work on the other columns (both release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        subject_job = pool.submit(_subject_codes, table[canon["subject_id"]]) if "subject_id" in canon else None
        times = pool.submit(_timestamps, table[canon["timestamp"]], src.tz, canon["timestamp"])
        fixes = pool.submit(_fix_codes, table[canon["fix_type"]] if "fix_type" in canon else None, n,
                            src.fix_codes)
        if "lat" in canon:
            lat, _ = _numbers(table[canon["lat"]])
            lon, _ = _numbers(table[canon["lon"]])
            # finite and in range (NaN and infinities compare False)
            good = (lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0)
            x, y = _transform(crs.from_wgs84, lon, lat, good)
            inside = np.isfinite(x) & np.isfinite(y)
            bad_coordinate = "lat/lon missing, not a number or out of range (lat -90..90, lon -180..180)"
        else:
            e, _ = _numbers(table[canon["easting"]])
            nn, _ = _numbers(table[canon["northing"]])
            good = np.isfinite(e) & np.isfinite(nn)
            lon, lat = _transform(BNG_CRS().to_wgs84, e, nn, good)
            x, y = _transform(crs.from_bng, e, nn, good)
            inside = np.isfinite(x) & np.isfinite(y) & np.isfinite(lat) & np.isfinite(lon)
            bad_coordinate = "easting/northing missing or not a number"
        subj, subj_codes = subject_job.result() if subject_job is not None else (None, None)
        ns, bad_time, no_zone = times.result()
        fix, fix_present = fixes.result()

    # subject
    if subj is not None:
        present = subj_codes >= 0 if subj_codes is not None else _present(subj)
        rej.reject(~present, RejectReason.MISSING_SUBJECT, f"{canon['subject_id']} is empty")

    # timestamp
    rej.reject(bad_time, RejectReason.BAD_TIMESTAMP, f"{canon['timestamp']} is missing or not an ISO 8601 time")
    if no_zone is not None:
        rej.reject(no_zone, RejectReason.NO_TIMEZONE,
                   f"{canon['timestamp']} has no UTC offset while the file's other times have one")

    # coordinates
    rej.reject(~good, RejectReason.BAD_COORDINATE, bad_coordinate)
    rej.reject(good & ~inside, RejectReason.OUTSIDE_GRID,
               f"outside the coverage of the store's transformation ({crs.info.method}, {crs.crs})")

    # optional values
    name = {k: canon.get(k, k) for k in ("accuracy_m", "fix_type", "speed_mps", "heading_deg")}
    acc, acc_present = _optional(table, canon, "accuracy_m", n)
    rej.reject(acc_present & ~(np.isfinite(acc) & (acc > 0)), RejectReason.BAD_ACCURACY,
               f"{name['accuracy_m']} is not a positive number of metres")
    allowed = (", ".join(f"{k}={v}" for k, v in src.fix_codes.items()) if src.fix_codes
               else "|".join(FIX_TYPES))
    rej.reject(fix_present & (fix < 0), RejectReason.BAD_FIX_TYPE,
               f"{name['fix_type']} is not one of {allowed}")
    speed, speed_present = _optional(table, canon, "speed_mps", n)
    rej.reject(speed_present & ~np.isfinite(speed), RejectReason.BAD_SPEED,
               f"{name['speed_mps']} is not a number")
    heading, heading_present = (  # neither column: one all-NaN array serves both (never written to)
        (speed, speed_present) if "speed_mps" not in canon and "heading_deg" not in canon
        else _optional(table, canon, "heading_deg", n))
    rej.reject(heading_present & ~np.isfinite(heading), RejectReason.BAD_HEADING,
               f"{name['heading_deg']} is not a number")

    fix_ok = np.where(fix < 0, 0, fix) if (fix < 0).any() else fix
    acc = np.where(acc_present, acc, _FIX_DEFAULT_ACC[fix_ok]) if not acc_present.all() else acc
    speed = speed * src.speed_scale if src.speed_scale != 1.0 else speed
    heading = np.degrees(heading) if src.heading_radians else heading

    # fix-level rules within the file
    if subj_codes is not None:
        subject_codes = subj_codes
    elif subj is not None:
        subject_codes = np.asarray(pc.dictionary_encode(pc.fill_null(subj, "")).combine_chunks().indices,
                                   dtype=np.int64)
    else:
        subject_codes = np.zeros(n, dtype=np.int64)
    _reject_duplicates(rej, subject_codes, ns, x, y, acc, fix_ok)

    every = not rej.any_rejected  # the usual file: every row accepted, the arrays are taken as they are
    keep = None if every else rej.ok
    n_keep = n if every else int(keep.sum())
    mask = None if every else pa.array(keep)

    def sel(a):
        return a if every else a[keep]

    if subj is None:  # the file names no subject: every row is ``src.subject``
        subject = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n_keep, dtype=np.int32)),
                                                 pa.array([src.subject], type=pa.string()))
    elif isinstance(subj, pa.DictionaryArray):
        subject = subj if every else subj.filter(mask)
    else:
        subject = (subj if every else subj.filter(mask)).combine_chunks()
    columns = {
        "subject_id": subject, "t_ns": sel(ns), "x_m": sel(x), "y_m": sel(y), "lat": sel(lat), "lon": sel(lon),
        "accuracy_m": sel(acc), "fix_type": sel(fix_ok).astype(np.int8, copy=False), "speed_mps": sel(speed),
        "heading_deg": sel(heading), "row": sel(np.asarray(src.rows, dtype=np.int64)),
    }
    extra = (table.select(src.extras) if every else table.select(src.extras).filter(mask)) if src.extras else None
    rejected = _rejected_frame(rej, src)
    n_read = n + len(src.pre_rejected)
    info = {"transformation": crs.info.as_dict(), "tz": src.tz, "format": src.fmt}
    return _TrailResult(columns, {"n": n_keep, "subject": src.subject if subj is None else None, "extra": extra},
                        rejected, n_read,
                        [src.file], [], info)


class _TrailResult(ReadResult):
    """A trail :class:`ReadResult` whose ``accepted`` frame is built on first use.

    The store's write path takes the validated columns (``fix_columns``: subjects as an Arrow
    array, the rest NumPy) as they are; the pandas frame, with the same values, is made only
    when something asks for ``accepted``. Assigning ``accepted`` replaces both.
    """

    def __init__(self, columns: dict, meta: dict, rejected: pd.DataFrame, n_read: int, files: list[str],
                 notes: list[dict], info: dict) -> None:
        self.fix_columns: dict | None = columns
        self._meta = meta
        self._frame: pd.DataFrame | None = None
        ReadResult.__init__(self, None, rejected, n_read, files, notes, info)

    @property
    def accepted(self) -> pd.DataFrame:
        """Validated rows (see :func:`read_trails`)."""
        if self._frame is None:
            self._frame = _accepted_frame(self.fix_columns, self._meta)
        return self._frame

    @accepted.setter
    def accepted(self, value: pd.DataFrame | None) -> None:
        if value is not None:  # None: the dataclass initialiser, the frame stays lazy
            self._frame = value
            self.fix_columns = None

    @property
    def n_accepted(self) -> int:
        """Rows accepted, without building the frame."""
        return self._meta["n"] if self._frame is None else len(self._frame)

    def __post_init__(self) -> None:
        if self.n_accepted + len(self.rejected) != self.n_read:
            raise AssertionError(  # an internal invariant, never user input
                f"read {self.n_read} rows but accepted {self.n_accepted} + rejected {len(self.rejected)}")


def _accepted_frame(columns: dict, meta: dict) -> pd.DataFrame:
    """The ``accepted`` frame of :func:`read_trails` from the validated columns."""
    n_keep = meta["n"]
    subject = columns["subject_id"]
    if meta["subject"] is None:
        if isinstance(subject, pa.DictionaryArray):
            subject = subject.cast(pa.string())
        subject_col = subject.to_pandas()
    else:  # the file names no subject
        subject_col = pd.Series(np.full(n_keep, meta["subject"], dtype=object), dtype="str")
    cols = {
        "subject_id": subject_col.reset_index(drop=True),
        **{c: columns[c] for c in ("t_ns", "x_m", "y_m", "lat", "lon", "accuracy_m")},
        "fix_type": pc.take(pa.array(FIX_TYPES), pa.array(columns["fix_type"])).to_pandas(),
        "speed_mps": columns["speed_mps"], "heading_deg": columns["heading_deg"], "row": columns["row"],
    }
    if meta["extra"] is not None:
        extra = meta["extra"].to_pandas()
        for c in extra.columns:
            cols[f"{c}_in" if c in _OUT_NAMES else c] = extra[c]
    return pd.DataFrame(cols, copy=False)  # fresh arrays: no need to copy them into one block


def _subject_codes(col: pa.ChunkedArray) -> tuple[pa.DictionaryArray | pa.ChunkedArray, np.ndarray | None]:
    """Subject text (trimmed, empty as null) and, when it came as a dictionary, its codes (-1: null)."""
    subj = _subject_dictionary(col)
    if subj is not None:  # text that needs no trimming: codes straight from Arrow's dictionary
        return subj, _filled(subj.indices, -1, np.int64)
    return _as_text(col), None


def _subject_dictionary(col: pa.ChunkedArray) -> pa.DictionaryArray | None:
    """Subject text as a dictionary array when no value needs trimming (else None: use :func:`_as_text`).

    Equal to ``_as_text(col)``, dictionary-encoded, for such columns: nothing to trim and no
    empty value (empty cells are null already), so codes come from Arrow's hash table of the
    distinct values, not from a trimmed copy of every cell.
    """
    if not pa.types.is_string(col.type):
        return None
    enc = pc.dictionary_encode(col)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    names = enc.dictionary
    if len(names) and (pc.min(pc.utf8_length(names)).as_py() == 0
                       or not pc.all(pc.equal(pc.utf8_trim_whitespace(names), names)).as_py()):
        return None
    return enc


def _optional(table: pa.Table, canon: dict[str, str], key: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if key not in canon:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    return _numbers(table[canon[key]])


def _transform(fn, a: np.ndarray, b: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a coordinate transformation to the rows in ``good``; NaN elsewhere."""
    if good.all():
        return fn(a, b)
    u = np.full(len(a), np.nan)
    v = np.full(len(a), np.nan)
    if good.any():
        u[good], v[good] = fn(a[good], b[good])
    return u, v


def _reject_duplicates(rej: Rejector, codes: np.ndarray, ns: np.ndarray, x: np.ndarray, y: np.ndarray,
                       acc: np.ndarray, fix: np.ndarray) -> None:
    """Reject later identical copies (DUPLICATE) and worse same-instant fixes (CONFLICTING_DUPLICATE)."""
    if rej.any_rejected:
        idx = np.flatnonzero(rej.ok)
        s, t = codes[idx], ns[idx]
    else:  # nothing rejected yet: the columns as they are, no copies
        idx, s, t = None, codes, ns
    if len(s) < 2:
        return
    if strictly_increasing(s, t):  # nothing repeats
        return
    if idx is None:
        idx = np.arange(len(codes))
    order = np.lexsort((idx, t, s))
    same = (s[order][1:] == s[order][:-1]) & (t[order][1:] == t[order][:-1])
    multi = np.zeros(len(idx), dtype=bool)
    multi[order[1:][same]] = True
    multi[order[:-1][same]] = True
    if not multi.any():
        return
    m = idx[multi]
    f = pd.DataFrame({"s": codes[m], "t": ns[m], "x": x[m], "y": y[m], "a": acc[m], "f": fix[m], "pos": m})
    rows = np.asarray(rej.rows)
    first = f.groupby(["s", "t", "x", "y", "a", "f"], sort=False)["pos"].transform("first").to_numpy()
    dup = first != m
    rej.reject(_mask(len(codes), m[dup]), RejectReason.DUPLICATE,
               _detail(len(codes), m[dup], "identical to row ", rows[first[dup]]))
    rest = f[~dup].sort_values(["s", "t", "a", "pos"], kind="stable")
    kept = rest.groupby(["s", "t"], sort=False)["pos"].transform("first").to_numpy()
    pos = rest["pos"].to_numpy()
    lose = kept != pos
    rej.reject(_mask(len(codes), pos[lose]), RejectReason.CONFLICTING_DUPLICATE,
               _detail(len(codes), pos[lose], "same subject and instant as row ", rows[kept[lose]],
                       " (kept: smaller accuracy_m, or first)"))


def _mask(n: int, where: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[where] = True
    return out


def _detail(n: int, where: np.ndarray, prefix: str, rows: np.ndarray, suffix: str = "") -> np.ndarray:
    out = np.full(n, None, dtype=object)
    out[where] = [f"{prefix}{r}{suffix}" for r in rows]
    return out


def _rejected_frame(rej: Rejector, src: _Source) -> pd.DataFrame:
    """Render the rejected rows with their original values (only those rows are converted)."""
    bad = ~rej.ok
    parts = [src.pre_rejected] if len(src.pre_rejected) else []
    if bad.any():
        table = src.as_text() if src.as_text is not None else src.table
        raw = table.select(src.raw_columns).filter(pa.array(bad)).to_pandas()
        out = Rejector(raw, src.file, np.asarray(src.rows)[bad])
        reasons, details = rej.reason[bad], rej.detail[bad]
        for code in dict.fromkeys(reasons):
            out.reject(np.equal(reasons, code), RejectReason(code), details)
        parts.append(out.rejected_frame())
    if not parts:
        return empty_rejected()
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame.sort_values("row", kind="stable").reset_index(drop=True)


