"""Read a CSV file as strings with row numbers, whatever its line endings or ragged rows.

Every reader validates values itself, so a CSV is read as text only: no type inference, no
``NA`` guessing, an empty cell is the empty string. Line endings may be LF, CRLF or a bare CR
(the data.police.uk downloads end lines with CR only); a UTF-8 byte-order mark is skipped;
a file that is not UTF-8 is read as Windows-1252 (then Latin-1, which never fails) and the
encoding used is recorded. Ragged rows are kept: each row's field count is returned so the
caller can reject it with its own code (``WRONG_COLUMN_COUNT``, ``INVALID_COLUMN_COUNT``).

Blank lines are not rows. Row numbers are 1-based and count the records after the header
(the first data row is 1), as :mod:`trailmon.io.quarantine` expects.

Rectangular UTF-8 files take a fast path through ``pyarrow.csv``; anything else (a ragged
row, bytes that are not UTF-8, a parse error) is read again with Python's :mod:`csv`, so
both paths give the same table.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.io._time import parse_times
from trailmon.io.quarantine import Rejector, RejectReason

__all__ = [
    "CsvTable", "EXTRA_PREFIX", "carried", "column", "numbers", "peek_records", "read_csv_strings", "time_column",
    "utc_series",
]

EXTRA_PREFIX = "_extra_"
"""Name prefix of the columns that hold the surplus fields of rows longer than the header."""

_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
_PEEK_BYTES = 1 << 16

csv.field_size_limit(1 << 24)


@dataclass
class CsvTable:
    """A CSV file read as strings.

    Attributes
    ----------
    path : str
        The file read.
    header : list of str or None
        Column names as written in the header row (surrounding spaces removed); None when the
        file was read without a header.
    frame : pandas.DataFrame
        One object column of ``str`` per header name (repeated names get ``.1``, ``.2``
        suffixes; without a header the columns are ``"0"``, ``"1"``, ...). Rows with fewer
        fields are padded with None; the surplus fields of longer rows go to the columns
        ``_extra_1``, ``_extra_2``, ... (present only when some row is longer).
    n_fields : ndarray of int64, shape (n_row,)
        Fields found on each row.
    row : ndarray of int64, shape (n_row,)
        1-based data-row numbers (blank lines are not counted).
    encoding : str
        The text encoding the file was decoded with.
    """

    path: str
    header: list[str] | None
    frame: pd.DataFrame
    n_fields: np.ndarray
    row: np.ndarray
    encoding: str

    @property
    def n_columns(self) -> int:
        """Fields a well-formed row has (the header's length, or the width asked for)."""
        return len(self.frame.columns) - sum(str(c).startswith(EXTRA_PREFIX) for c in self.frame.columns)

    @property
    def ragged(self) -> np.ndarray:
        """Rows whose field count differs from :attr:`n_columns`."""
        return self.n_fields != self.n_columns


def _decode(data: bytes) -> tuple[str, str]:
    for enc in _ENCODINGS:
        try:
            return data.decode(enc), ("utf-8" if enc == "utf-8-sig" else enc)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _records(text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        return [rec for rec in reader if rec]
    except csv.Error as exc:
        raise InputError(f"cannot read the file as CSV: {exc}; check its quoting") from exc


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"input file {str(path)!r} does not exist or is not a file")
    return p


def peek_records(path: str | Path, n: int = 5) -> list[list[str]]:
    """The first ``n`` non-blank records of a CSV file, for sniffing its layout.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    n : int, default 5
        Records wanted (fewer when the file is shorter).

    Returns
    -------
    list of list of str
        Each record's fields; header names are not stripped.

    Raises
    ------
    InputError
        When the file does not exist.
    """
    p = _check_path(path)
    with p.open("rb") as fh:
        data = fh.read(_PEEK_BYTES)
        more = bool(fh.read(1))
    text, _ = _decode(data) if not more else (data.decode("utf-8-sig", errors="replace"), "utf-8")
    if more:  # drop a record that may be cut short
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[:cut] if cut > 0 else text
    try:
        out = []
        for rec in csv.reader(io.StringIO(text, newline=""), strict=False):
            if rec:
                out.append(rec)
                if len(out) >= n:
                    break
        return out
    except csv.Error as exc:
        raise InputError(f"cannot read {str(path)!r} as CSV: {exc}; check its quoting") from exc


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        out.append(name if k == 0 else f"{name}.{k}")
        seen[name] = k + 1
    return out


def _fast_path(data: bytes, width: int, skip_header: bool) -> list[np.ndarray] | None:
    """Columns via pyarrow when every row has ``width`` fields and the bytes are UTF-8, else None."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if skip_header else 0),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None  # a ragged row, bytes that are not UTF-8: the slow path decides
    return [np.asarray(table.column(i).to_numpy(zero_copy_only=False), dtype=object) for i in range(width)]


def read_csv_strings(
    path: str | Path,
    *,
    header: bool = True,
    n_columns: int | None = None,
) -> CsvTable:
    """Read a CSV file as strings, keeping ragged rows and their row numbers.

    Parameters
    ----------
    path : str or Path
        The CSV file (LF, CRLF or CR line endings; UTF-8, else Windows-1252).
    header : bool, default True
        Whether the first record names the columns.
    n_columns : int, optional
        Fields a well-formed row has when there is no header; default the widest row.

    Returns
    -------
    CsvTable
        The header, the values (object columns of ``str``), field counts and row numbers.

    Raises
    ------
    InputError
        When the file does not exist, has no header row although one is expected, or cannot
        be parsed as CSV at all.
    """
    p = _check_path(path)
    data = p.read_bytes()
    if header:
        first = peek_records(p, 1)
        if not first:
            raise InputError(f"{str(path)!r} is empty; a header row is expected")
        names = [h.strip().lstrip("\ufeff").strip() for h in first[0]]
        width = len(names)
    else:
        names = None
        width = n_columns
    cols = None
    if width and data:
        cols = _fast_path(data, width, skip_header=header)
    if cols is not None:
        n = len(cols[0]) if cols else 0
        n_fields = np.full(n, width, dtype=np.int64)
        extra_cols: list[np.ndarray] = []
        encoding = "utf-8"
    else:
        text, encoding = _decode(data)
        recs = _records(text)
        if header:
            recs = recs[1:]
        n = len(recs)
        n_fields = np.fromiter((len(r) for r in recs), dtype=np.int64, count=n)
        if width is None:
            width = int(n_fields.max()) if n else 0
        widest = int(n_fields.max()) if n else width
        total = max(width, widest)
        if n and (n_fields != total).any():
            recs = [r + [None] * (total - len(r)) if len(r) < total else r for r in recs]
        if n:
            cols = [np.asarray(c, dtype=object) for c in zip(*recs, strict=True)]
        else:
            cols = [np.empty(0, dtype=object) for _ in range(total)]
        extra_cols = cols[width:]
        cols = cols[:width]
    col_names = _unique_names(names) if names is not None else [str(i) for i in range(len(cols))]
    frame = pd.DataFrame(
        {**{c: pd.Series(v, dtype=object) for c, v in zip(col_names, cols, strict=True)},
         **{f"{EXTRA_PREFIX}{i + 1}": pd.Series(v, dtype=object) for i, v in enumerate(extra_cols)}},
        index=pd.RangeIndex(len(n_fields)),
    )
    return CsvTable(str(path), names, frame, n_fields, np.arange(1, len(n_fields) + 1, dtype=np.int64),
                    encoding)


# -- helpers shared by the readers ------------------------------------------------------------


def column(frame: pd.DataFrame, name: str, *, required: bool = False, path: str = "") -> np.ndarray:
    """A column's values, stripped, as an object array of ``str`` ("" for empty or missing).

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw string values (:attr:`CsvTable.frame`).
    name : str
        Column name, matched case-insensitively; absent columns read as all "".
    required : bool, default False
        Raise when the column is absent.
    path : str
        File name for the message.

    Raises
    ------
    InputError
        When a required column is absent.
    """
    found = find_column(frame, name)
    if found is None:
        if required:
            raise InputError(
                f"{path or 'the file'} has no column {name!r}; its columns are {list(map(str, frame.columns))}"
            )
        return np.full(len(frame), "", dtype=object)
    vals = frame[found].to_numpy(dtype=object, na_value=None)
    return np.asarray([v.strip() if isinstance(v, str) else "" for v in vals], dtype=object)


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column called ``name`` (case-insensitive), or None."""
    if name in frame.columns:
        return name
    low = name.lower()
    for c in frame.columns:
        if str(c).lower() == low:
            return c
    return None


def numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse decimal text.

    Returns
    -------
    x : ndarray of float64
        The numbers; NaN where empty or unparseable.
    present : ndarray of bool
        Non-empty cells.
    bad : ndarray of bool
        Non-empty cells that are not finite numbers.
    """
    values = np.asarray(values, dtype=object)
    present = values != ""
    x = np.array(pd.to_numeric(pd.Series(values, dtype=object).where(present, None), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan), dtype=np.float64, copy=True)
    bad = present & ~np.isfinite(x)
    x[bad] = np.nan
    return x, present, bad


def utc_series(ns: np.ndarray) -> pd.Series:
    """Int64 nanoseconds UTC (``NAT`` for missing) as a ``datetime64[ns, UTC]`` Series."""
    ns = np.ascontiguousarray(ns, dtype=np.int64)
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


def carried(frame: pd.DataFrame, used: set[str], *, drop: set[str] = frozenset()) -> pd.DataFrame:
    """Columns of ``frame`` that a reader does not interpret, to carry through unchanged.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw string values.
    used : set of str
        Lower-case names the reader interprets (and so does not carry).
    drop : set of str
        Lower-case names never to carry (e.g. personal data).
    """
    keep = [c for c in frame.columns
            if str(c).lower() not in used and str(c).lower() not in drop and not str(c).startswith(EXTRA_PREFIX)]
    return frame[keep]


def time_column(frame: pd.DataFrame, name: str, tz: str | None, rej: Rejector, out: np.ndarray, *,
           required: bool = False, skip: np.ndarray | None = None) -> None:
    """Parse column ``name`` into ``out`` (int64 ns UTC), rejecting rows whose value fails.

    Empty cells stay NaT unless ``required`` (then ``BAD_TIMESTAMP``); a stray zone-less value
    among zoned ones is ``NO_TIMEZONE``; rows in ``skip`` are left alone. An all-zone-less
    column without ``tz`` raises :class:`~trailmon.errors.TimezoneError` (from ``parse_times``).
    """
    vals = column(frame, name)
    empty = vals == ""
    if skip is not None:
        vals = np.where(skip, "", vals).astype(object)
        empty |= skip
    if find_column(frame, name) is None and not required:
        return
    ns, problem = parse_times(pd.Series(vals, dtype=object), tz, what=name)
    if required:
        rej.reject(empty, RejectReason.BAD_TIMESTAMP, f"{name} is empty")
    nz = np.equal(problem, "NO_TIMEZONE")
    rej.reject(nz, RejectReason.NO_TIMEZONE, f"{name} has no UTC offset among values that have one")
    bad = np.equal(problem, "BAD_TIMESTAMP") & ~empty
    rej.reject(bad, RejectReason.BAD_TIMESTAMP, f"{name} is not an ISO 8601 time")
    good = np.equal(problem, None)
    out[good] = ns[good]
