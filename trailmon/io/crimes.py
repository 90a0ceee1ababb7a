"""Crimes: the generic CSV, the MoJ crime-mapping request CSV and data.police.uk (SPEC §2).

The layout is told by content: a header naming ``crime_ref`` is the generic layout, a header
starting ``Crime ID`` is a data.police.uk street-level download, and no header with 13 fields
is the crime-mapping request CSV that forces send today.

Every layout gives the same accepted frame (``CRIME_INPUT``): a point in the store CRS and in
WGS84, a window ``[committed_from, committed_to]`` in UTC, a radius (NaN when the file gives
none and no default was passed: the matcher then applies its own), the offence as written and
its SPEC §1 group, a ``crime_version`` and the ``source_format``.

Rows that repeat a crime are accepted and *merged*: they stay in ``accepted`` (so that read =
accepted + rejected holds) with ``merged_into`` set to the row number of the row they merge
into, and a note ``{"kind": "merged", ...}`` counts them; callers drop rows whose
``merged_into`` is set. This applies to a data.police.uk ``Crime ID`` met again and to an
identical re-send of a crime-mapping crime within one file. A crime-mapping crime re-sent
with different content is a new version (``crime_version`` 2, 3, ...), not a merge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.crs import BNG, BNG_CRS, StoreCRS
from trailmon.errors import InputError
from trailmon.io._csv import (
    EXTRA_PREFIX,
    carried,
    column,
    find_column,
    numbers,
    peek_records,
    read_csv_strings,
    utc_series,
)
from trailmon.io._time import NAT, check_tz, parse_times
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason, empty_rejected
from trailmon.report._columns import CRIME_INPUT

__all__ = [
    "CRIME_MAPPING_COLUMNS",
    "MOJ_CRIME_TYPES",
    "PILOT_FORCES",
    "distinct_crimes",
    "offence_group",
    "read_crimes",
]

CRIME_MAPPING_COLUMNS = [
    "policeForceArea", "crimeTypeId", "crimeTypeDescription", "batchId", "crimeReference", "crimeDateTimeFrom",
    "crimeDateTimeTo", "easting", "northing", "latitude", "longitude", "datum", "crimeText",
]
"""The 13 columns of the crime-mapping request CSV, in file order (the file has no header)."""

PILOT_FORCES = {
    "Avon and Somerset": "AVS", "Bedfordshire": "BFD", "Cheshire": "CHS", "City of London": "CoLP",
    "Cumbria": "CMB", "Derbyshire": "DBY", "Durham": "DUR", "Essex": "ESX", "Gloucestershire": "GLC",
    "Gwent": "GWP", "Hampshire": "HAM", "Hertfordshire": "HRT", "Humberside": "HMB", "Kent": "KNT",
    "Metropolitan": "MPS", "North Wales": "NWL", "Nottinghamshire": "NOT", "Sussex": "SXP",
    "West Midlands": "WMP",
}
"""The 19 pilot forces of the crime-mapping service: name -> code."""

MOJ_CRIME_TYPES = ("RB", "BIAD", "AB", "BOTD", "TOMV", "TFP", "TFMV")
"""Crime types the crime-mapping service accepts (MoJ codes)."""

MAX_WINDOW_S = 12 * 3600
"""Longest crime-mapping window ``crimeDateTimeTo - crimeDateTimeFrom``, seconds."""

POLICE_UK_TZ = "Europe/London"
"""A data.police.uk month is a month of UK local time."""

_GROUPS = {
    "robbery": ("RB", "34", "ROBBERY"),
    "burglary": ("BIAD", "AB", "BOTD", "28", "29", "30", "31", "BURGLARY"),
    "vehicle": ("TOMV", "TFMV", "48", "45", "VEHICLE CRIME"),
    "theft_from_person": ("TFP", "39", "THEFT FROM THE PERSON"),
}
_GROUP_OF = {code: group for group, codes in _GROUPS.items() for code in codes}
_HO_CODE = re.compile(r"0*(\d{1,3})[A-Z]?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FORCE_BY_NAME = {re.sub(r"\s+", " ", k).lower(): v for k, v in PILOT_FORCES.items()}
_STAMP = re.compile(r"\d{14}")


def offence_group(offence: str) -> str:
    """The SPEC §1 neighbourhood-crime group of an offence, or "" for any other offence.

    Parameters
    ----------
    offence : str
        A MoJ crime-mapping code (``TFMV``), a Home Office code (``45``, ``28A``) or a
        data.police.uk category (``Vehicle crime``); case and surrounding spaces are ignored.

    Returns
    -------
    str
        ``"robbery"``, ``"burglary"``, ``"vehicle"``, ``"theft_from_person"`` or ``""``.

    Examples
    --------
    >>> offence_group("TFMV"), offence_group("28A"), offence_group("Robbery"), offence_group("Drugs")
    ('vehicle', 'burglary', 'robbery', '')
    """
    key = re.sub(r"\s+", " ", str(offence).strip()).upper()
    if key in _GROUP_OF:
        return _GROUP_OF[key]
    m = _HO_CODE.fullmatch(key)
    return _GROUP_OF.get(m.group(1), "") if m else ""


def read_crimes(
    path: str | Path,
    *,
    crs: StoreCRS | None = None,
    tz: str | None = None,
    radius_m: float | None = None,
) -> ReadResult:
    """Read a crimes file in any of the three layouts (told by content).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    crs : StoreCRS, optional
        The store's projected CRS (default British National Grid, EPSG:27700, with OSTN15).
    tz : str, optional
        IANA zone of generic-layout times written without an offset (``--tz``).
    radius_m : float, optional
        Radius for rows that give none, metres (``--radius``); None leaves NaN, and the
        matcher applies its default (100 m).

    Returns
    -------
    ReadResult
        ``accepted``: the columns ``CRIME_INPUT``, then ``row``, ``merged_into`` (nullable
        int: the row a repeated crime merges into) and the columns carried through.
        ``info["layout"]`` is ``generic``, ``police_uk`` or ``crime_mapping``.

    Raises
    ------
    InputError
        When the layout cannot be told, a required column is missing or ``radius_m`` is not
        a number > 0.
    TimezoneError
        When generic-layout times carry no offset and ``tz`` is None.

    Notes
    -----
    Generic layout, first broken rule wins: ``WRONG_COLUMN_COUNT``; ``MISSING_CRIME_REF``;
    ``MISSING_OFFENCE``; ``BAD_COORDINATE`` (no location, half a pair, not a number, latitude
    outside -90..90, longitude outside -180..180, easting outside 0..700,000, northing outside
    0..1,300,000); ``OUTSIDE_GRID``; ``BAD_TIMESTAMP`` / ``NO_TIMEZONE``;
    ``BAD_WINDOW_ORDER`` (``committed_to < committed_from``); ``BAD_RADIUS`` (a radius present
    but not a number > 0). A row with both pairs filled is placed by easting/northing.

    data.police.uk: the window is the month in UK local time, ``[1st 00:00, next 1st 00:00)``
    converted to UTC; a blank ``Crime ID`` gets ``PUK-`` and 16 hex digits of the SHA-1 of
    month, longitude, latitude, location, crime type and the occurrence number of that
    combination among blank-id rows; rules: ``WRONG_COLUMN_COUNT``, ``BAD_TIMESTAMP`` (month
    not ``YYYY-MM``), ``MISSING_OFFENCE``, ``MISSING_LOCATION_DATA``, ``BAD_COORDINATE``,
    ``OUTSIDE_GRID``. Its locations are anonymised street points: never evidence.

    Crime-mapping request CSV: every rule of the SPEC §2 table in table order (see
    :func:`_read_crime_mapping`); ``crime_ref`` is ``<force code>/<crimeReference>``.
    """
    check_tz(tz)
    if radius_m is not None:
        try:
            r = float(radius_m)
        except (TypeError, ValueError):
            r = math.nan
        if not (math.isfinite(r) and r > 0):
            raise InputError(f"radius_m must be a number > 0 (metres), got {radius_m!r}")
        radius_m = r
    crs = crs or StoreCRS(BNG)
    first = peek_records(path, 20)
    if not first:
        return _empty(path, crs)
    head = [f.strip().lstrip("\ufeff").strip() for f in first[0]]
    if any(h.lower() == "crime_ref" for h in head):
        return _read_generic(path, crs, tz, radius_m)
    if head and head[0].lower().startswith("crime id"):
        return _read_police_uk(path, crs, radius_m)
    if any(len(rec) == len(CRIME_MAPPING_COLUMNS) for rec in first):
        return _read_crime_mapping(path, crs, radius_m)
    raise InputError(
        f"cannot tell the crime layout of {str(path)!r}: its first row {first[0][:13]!r} has no crime_ref "
        "column (generic layout), does not start with 'Crime ID' (data.police.uk) and has not 13 fields "
        "(crime-mapping request CSV)"
    )


# -- shared ----------------------------------------------------------------------------------


def _empty(path: str | Path, crs: StoreCRS) -> ReadResult:
    acc = _frame(np.zeros(0, dtype=bool), {}, np.zeros(0, dtype=np.int64), None, None)
    return ReadResult(acc, empty_rejected(), 0, [str(path)], [], {"layout": "empty", **_info(crs)})


def _info(crs: StoreCRS) -> dict:
    return {"transformation": crs.info.as_dict()}


def _frame(ok: np.ndarray, cols: dict, rows: np.ndarray, merged: np.ndarray | None,
           extras: pd.DataFrame | None) -> pd.DataFrame:
    """The accepted frame: ``CRIME_INPUT``, ``row``, ``merged_into``, carried columns."""
    n = int(ok.sum())
    defaults = {
        "crime_ref": ("", object), "crime_version": (1, np.int64), "offence": ("", object),
        "offence_group": ("", object), "x_m": (np.nan, np.float64), "y_m": (np.nan, np.float64),
        "lat": (np.nan, np.float64), "lon": (np.nan, np.float64), "radius_m": (np.nan, np.float64),
        "force": ("", object), "batch_id": ("", object), "source_format": ("", object),
    }
    data: dict = {}
    for name in CRIME_INPUT:
        if name in ("committed_from", "committed_to"):
            data[name] = utc_series(cols[name][ok] if name in cols else np.full(n, NAT, dtype=np.int64))
            continue
        fill, dtype = defaults[name]
        v = cols.get(name)
        if v is None:
            data[name] = np.full(n, fill, dtype=dtype)
        elif np.ndim(v) == 0:
            data[name] = np.full(n, v, dtype=dtype)
        else:
            data[name] = np.asarray(v)[ok].astype(dtype)
    out = pd.DataFrame(data, columns=CRIME_INPUT)
    out["row"] = np.asarray(rows)[ok].astype(np.int64)
    out["merged_into"] = pd.array(merged[ok] if merged is not None else [pd.NA] * n, dtype="Int64")
    if extras is not None:
        for c in extras.columns:
            if c not in out.columns:
                out[c] = extras[c].to_numpy(dtype=object)[ok]
    return out


def _drop_extra(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith(EXTRA_PREFIX)])


def _radius(table_frame: pd.DataFrame, rej: Rejector, default: float | None) -> np.ndarray:
    r, present, bad = numbers(column(table_frame, "radius_m"))
    rej.reject(present & (bad | ~(r > 0)), RejectReason.BAD_RADIUS, "radius_m must be a number > 0 (metres)")
    out = np.where(present, r, np.nan if default is None else default)
    return out.astype(np.float64)


def _merged_note(merged: np.ndarray, ok: np.ndarray, what: str) -> list[dict]:
    m = ok & ~pd.isna(merged)
    if not m.any():
        return []
    return [{"kind": "merged", "code": RejectReason.DUPLICATE.value, "rows": int(m.sum()),
             "detail": f"{what}; accepted and merged into the first (column merged_into)"}]


# -- generic -----------------------------------------------------------------------------------

_GENERIC_USED = {"crime_ref", "offence", "lat", "lon", "easting", "northing", "committed_from", "committed_to",
                 "radius_m", "force"}


def _read_generic(path: str | Path, crs: StoreCRS, tz: str | None, radius_m: float | None) -> ReadResult:
    table = read_csv_strings(path)
    frame = _drop_extra(table.frame)
    for name in ("crime_ref", "offence", "committed_from", "committed_to"):
        column(frame, name, required=True, path=str(path))
    has_ll = find_column(frame, "lat") is not None and find_column(frame, "lon") is not None
    has_en = find_column(frame, "easting") is not None and find_column(frame, "northing") is not None
    if not (has_ll or has_en):
        raise InputError(f"{str(path)!r} has neither lat, lon nor easting, northing columns; "
                         f"its columns are {table.header}")
    n = len(frame)
    rej = Rejector(table.frame, path, table.row)
    rej.reject(table.ragged, RejectReason.WRONG_COLUMN_COUNT, f"expected {table.n_columns} fields as in the header")
    ref, offence = column(frame, "crime_ref"), column(frame, "offence")
    rej.reject(ref == "", RejectReason.MISSING_CRIME_REF, "crime_ref is empty")
    rej.reject(offence == "", RejectReason.MISSING_OFFENCE, "offence is empty")
    x, y, lat, lon = _place(frame, rej, crs)
    t = {}
    for name in ("committed_from", "committed_to"):
        ns, problem = parse_times(pd.Series(column(frame, name), dtype=object), tz, what=name)
        rej.reject(np.equal(problem, "NO_TIMEZONE"), RejectReason.NO_TIMEZONE,
                   f"{name} has no UTC offset among values that have one")
        rej.reject(np.equal(problem, "BAD_TIMESTAMP"), RejectReason.BAD_TIMESTAMP,
                   f"{name} is empty or not an ISO 8601 time")
        t[name] = ns
    both = (t["committed_from"] != NAT) & (t["committed_to"] != NAT)
    rej.reject(both & (t["committed_to"] < t["committed_from"]), RejectReason.BAD_WINDOW_ORDER,
               "committed_to is before committed_from")
    radius = _radius(frame, rej, radius_m)
    ok = rej.ok
    cols = {
        "crime_ref": ref, "offence": offence, "offence_group": np.asarray([offence_group(o) for o in offence],
                                                                           dtype=object),
        "x_m": x, "y_m": y, "lat": lat, "lon": lon, **t, "radius_m": radius, "force": column(frame, "force"),
        "source_format": "generic",
    }
    acc = _frame(ok, cols, table.row, None, carried(frame, _GENERIC_USED))
    info = {"layout": "generic", "tz": tz, "encoding": table.encoding, **_info(crs)}
    return ReadResult(acc, rej.rejected_frame(), n, [str(path)], [], info)


def _place(frame: pd.DataFrame, rej: Rejector, crs: StoreCRS):
    """Positions of generic rows from lat/lon or easting/northing (easting/northing when both)."""
    n = len(frame)
    la, la_p, la_bad = numbers(column(frame, "lat"))
    lo, lo_p, lo_bad = numbers(column(frame, "lon"))
    e, e_p, e_bad = numbers(column(frame, "easting"))
    no, no_p, no_bad = numbers(column(frame, "northing"))
    use_en = e_p | no_p
    use_ll = ~use_en & (la_p | lo_p)
    rej.reject(~use_en & ~use_ll, RejectReason.BAD_COORDINATE, "no location: fill lat, lon or easting, northing")
    rej.reject(use_en & ~(e_p & no_p), RejectReason.BAD_COORDINATE, "easting and northing go together")
    rej.reject(use_ll & ~(la_p & lo_p), RejectReason.BAD_COORDINATE, "lat and lon go together")
    rej.reject(use_en & (e_bad | no_bad), RejectReason.BAD_COORDINATE, "easting or northing is not a number")
    rej.reject(use_ll & (la_bad | lo_bad), RejectReason.BAD_COORDINATE, "lat or lon is not a number")
    rej.reject(use_en & ((e < 0) | (e > 700_000) | (no < 0) | (no > 1_300_000)), RejectReason.BAD_COORDINATE,
               "easting must be in 0..700000 and northing in 0..1300000 (metres, EPSG:27700)")
    rej.reject(use_ll & ((np.abs(la) > 90) | (np.abs(lo) > 180)), RejectReason.BAD_COORDINATE,
               "lat must be in -90..90 and lon in -180..180")
    x, y, lat, lon = (np.full(n, np.nan) for _ in range(4))
    m = use_ll & rej.ok
    if m.any():
        x[m], y[m] = crs.from_wgs84(lo[m], la[m])
        lat[m], lon[m] = la[m], lo[m]
    m = use_en & rej.ok
    if m.any():
        x[m], y[m] = crs.from_bng(e[m], no[m])
        lon[m], lat[m] = BNG_CRS().to_wgs84(e[m], no[m])
    outside = ~(np.isfinite(x) & np.isfinite(y) & np.isfinite(lat) & np.isfinite(lon))
    rej.reject(outside, RejectReason.OUTSIDE_GRID, f"location outside the grid of {crs.crs}")
    return x, y, lat, lon


# -- data.police.uk ----------------------------------------------------------------------------

_PUK_USED = {"crime id", "longitude", "latitude", "crime type", "falls within"}
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _month_window(months: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UK-local month ``YYYY-MM`` -> (start ns UTC, end ns UTC, bad)."""
    n = len(months)
    lo = np.full(n, NAT, dtype=np.int64)
    hi = np.full(n, NAT, dtype=np.int64)
    bad = np.ones(n, dtype=bool)
    cache: dict[str, tuple[int, int] | None] = {}
    for i, m in enumerate(months):
        if m not in cache:
            got = _MONTH.fullmatch(m)
            if got is None or not 1 <= int(got.group(2)) <= 12 or not 1900 <= int(got.group(1)) <= 2200:
                cache[m] = None
            else:
                y, mo = int(got.group(1)), int(got.group(2))
                a = pd.Timestamp(y, mo, 1).tz_localize(POLICE_UK_TZ).tz_convert("UTC")
                b = pd.Timestamp(y + mo // 12, mo % 12 + 1, 1).tz_localize(POLICE_UK_TZ).tz_convert("UTC")
                cache[m] = (a.value, b.value)
        got = cache[m]
        if got is not None:
            lo[i], hi[i] = got
            bad[i] = False
    return lo, hi, bad


def _read_police_uk(path: str | Path, crs: StoreCRS, radius_m: float | None) -> ReadResult:
    table = read_csv_strings(path)
    frame = _drop_extra(table.frame)
    for name in ("Crime ID", "Month", "Longitude", "Latitude", "Crime type"):
        column(frame, name, required=True, path=str(path))
    n = len(frame)
    rej = Rejector(table.frame, path, table.row)
    rej.reject(table.ragged, RejectReason.WRONG_COLUMN_COUNT, f"expected {table.n_columns} fields as in the header")
    month = column(frame, "Month")
    start, end, bad_month = _month_window(month)
    rej.reject(bad_month, RejectReason.BAD_TIMESTAMP, "Month must be YYYY-MM")
    ctype = column(frame, "Crime type")
    rej.reject(ctype == "", RejectReason.MISSING_OFFENCE, "Crime type is empty")
    lon_s, lat_s = column(frame, "Longitude"), column(frame, "Latitude")
    lo, lo_p, lo_bad = numbers(lon_s)
    la, la_p, la_bad = numbers(lat_s)
    rej.reject(~(lo_p & la_p), RejectReason.MISSING_LOCATION_DATA, "no Longitude / Latitude")
    rej.reject(lo_bad | la_bad | (np.abs(la) > 90) | (np.abs(lo) > 180), RejectReason.BAD_COORDINATE,
               "Longitude must be a number in -180..180 and Latitude in -90..90")
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    m = rej.ok
    if m.any():
        x[m], y[m] = crs.from_wgs84(lo[m], la[m])
    rej.reject(~(np.isfinite(x) & np.isfinite(y)), RejectReason.OUTSIDE_GRID, f"location outside the grid of {crs.crs}")
    ok = rej.ok
    ids = column(frame, "Crime ID")
    location = column(frame, "Location")
    ref = ids.copy()
    seen: dict[tuple, int] = {}
    for i in np.flatnonzero(ids == ""):
        key = (month[i], lon_s[i], lat_s[i], location[i], ctype[i])
        k = seen.get(key, 0) + 1
        seen[key] = k
        digest = hashlib.sha1("|".join([*key, str(k)]).encode("utf-8")).hexdigest()[:16]
        ref[i] = f"PUK-{digest}"
    merged = np.full(n, pd.NA, dtype=object)
    first: dict[str, int] = {}
    for i in np.flatnonzero(ok):
        r = ref[i]
        if r in first:
            merged[i] = first[r]
        else:
            first[r] = int(table.row[i])
    cols = {
        "crime_ref": ref, "offence": ctype,
        "offence_group": np.asarray([offence_group(c) for c in ctype], dtype=object),
        "x_m": x, "y_m": y, "lat": la, "lon": lo, "committed_from": start, "committed_to": end,
        "radius_m": np.nan if radius_m is None else radius_m, "force": column(frame, "Falls within"),
        "source_format": "police_uk",
    }
    acc = _frame(ok, cols, table.row, merged, carried(frame, _PUK_USED))
    notes = _merged_note(merged, ok, "rows repeating a Crime ID")
    info = {"layout": "police_uk", "evidence": False, "window_tz": POLICE_UK_TZ, "encoding": table.encoding,
            "note": "data.police.uk locations are anonymised street points: for demos and tests, never evidence",
            **_info(crs)}
    return ReadResult(acc, rej.rejected_frame(), n, [str(path)], notes, info)


# -- crime-mapping request CSV -----------------------------------------------------------------


def _real_date(digits: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(digits, fmt)
    except ValueError:
        return False
    return True


def _stamps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``yyyyMMddHHmmss`` UTC -> (ns, bad)."""
    n = len(values)
    ns = np.full(n, NAT, dtype=np.int64)
    form = np.asarray([_STAMP.fullmatch(v) is not None for v in values], dtype=bool)
    if form.any():
        got = pd.to_datetime(pd.Series(values[form], dtype=object), format="%Y%m%d%H%M%S", errors="coerce",
                             utc=True)
        good = got.notna().to_numpy()
        part = np.full(int(form.sum()), NAT, dtype=np.int64)
        part[good] = got[good].dt.as_unit("ns").astype("int64").to_numpy()
        ns[form] = part
    return ns, ns == NAT


def _datum(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).upper()


def _read_crime_mapping(path: str | Path, crs: StoreCRS, radius_m: float | None) -> ReadResult:
    r"""Read the crime-mapping request CSV (no header, 13 columns).

    Notes
    -----
    Rules in the SPEC §2 table's order, first broken wins: ``INVALID_COLUMN_COUNT`` (not 13
    fields); ``INVALID_POLICE_FORCE`` (not the name of one of the 19 pilot forces, case
    ignored); ``INVALID_CRIME_TYPE`` (not RB, BIAD, AB, BOTD, TOMV, TFP, TFMV, case ignored);
    ``MISSING_BATCH_ID``, ``INVALID_BATCH_ID_FORMAT`` (not ``^{force code}\\d{8}(-\\d)?(-[RAra])?$``),
    ``INVALID_BATCH_ID_DATE`` (the eight digits are not a real yyyyMMdd date);
    ``MISSING_CRIME_REFERENCE``; ``INVALID_FROM_DATE_FORMAT``, ``INVALID_TO_DATE_FORMAT`` (not a
    real ``yyyyMMddHHmmss``, UTC); ``CRIME_DATE_TIME_TO_AFTER_FROM`` (To before From);
    ``CRIME_DATE_TIME_EXCEEDS_WINDOW`` (To - From over 12 h; exactly 12 h passes);
    ``INVALID_LOCATION_DATA_RANGE`` (an easting outside 0..600,000, a northing outside
    0..1,300,000, a latitude outside 49.5..61.5 or a longitude outside -8.5..2.6, for values
    that parse); ``MISSING_LOCATION_DATA`` (no location value, or a datum that names a pair
    that is empty or is neither OSGB36 nor WGS84), ``DEPENDENT_LOCATION_DATA`` (a value
    without its partner), ``MULTIPLE_LOCATION_DATA_TYPES`` (both pairs filled);
    ``INVALID_NUMBER`` (a location value that is not a number); ``INVALID_TEXT`` (a control
    character in any field). A point that OSTN15 cannot map is ``INVALID_LOCATION_DATA_RANGE``.
    """
    width = len(CRIME_MAPPING_COLUMNS)
    table = read_csv_strings(path, header=False, n_columns=width)
    raw = table.frame.rename(columns={str(i): c for i, c in enumerate(CRIME_MAPPING_COLUMNS)})
    frame = _drop_extra(raw)
    n = len(frame)
    rej = Rejector(raw, path, table.row)
    rej.reject(table.n_fields != width, RejectReason.INVALID_COLUMN_COUNT,
               f"expected {width} fields, the crime-mapping request layout")
    c = {name: column(frame, name) for name in CRIME_MAPPING_COLUMNS}
    code = np.asarray([_FORCE_BY_NAME.get(re.sub(r"\s+", " ", f).lower(), "") for f in c["policeForceArea"]],
                      dtype=object)
    rej.reject(code == "", RejectReason.INVALID_POLICE_FORCE, "policeForceArea is not a pilot force's name")
    ctype = np.asarray([t.upper() for t in c["crimeTypeId"]], dtype=object)
    rej.reject(~np.isin(ctype, MOJ_CRIME_TYPES), RejectReason.INVALID_CRIME_TYPE,
               f"crimeTypeId must be one of {', '.join(MOJ_CRIME_TYPES)}")
    batch = c["batchId"]
    rej.reject(batch == "", RejectReason.MISSING_BATCH_ID, "batchId is empty")
    fmt_ok = np.zeros(n, dtype=bool)
    date_ok = np.zeros(n, dtype=bool)
    for i in range(n):
        if code[i] and batch[i]:
            m = re.fullmatch(re.escape(code[i]) + r"(\d{8})(-\d)?(-[RAra])?", batch[i])
            fmt_ok[i] = m is not None
            date_ok[i] = m is not None and _real_date(m.group(1), "%Y%m%d")
    rej.reject(~fmt_ok, RejectReason.INVALID_BATCH_ID_FORMAT,
               "batchId must be the force code, yyyyMMdd, optional -n and optional -R or -A")
    rej.reject(~date_ok, RejectReason.INVALID_BATCH_ID_DATE, "batchId's yyyyMMdd is not a real date")
    rej.reject(c["crimeReference"] == "", RejectReason.MISSING_CRIME_REFERENCE, "crimeReference is empty")
    t_from, bad_from = _stamps(c["crimeDateTimeFrom"])
    t_to, bad_to = _stamps(c["crimeDateTimeTo"])
    rej.reject(bad_from, RejectReason.INVALID_FROM_DATE_FORMAT, "crimeDateTimeFrom must be yyyyMMddHHmmss (UTC)")
    rej.reject(bad_to, RejectReason.INVALID_TO_DATE_FORMAT, "crimeDateTimeTo must be yyyyMMddHHmmss (UTC)")
    rej.reject(t_to < t_from, RejectReason.CRIME_DATE_TIME_TO_AFTER_FROM,
               "crimeDateTimeTo is before crimeDateTimeFrom")
    rej.reject(t_to - t_from > MAX_WINDOW_S * 10**9, RejectReason.CRIME_DATE_TIME_EXCEEDS_WINDOW,
               "crimeDateTimeTo - crimeDateTimeFrom exceeds 12 hours")
    e, e_p, e_bad = numbers(c["easting"])
    no, no_p, no_bad = numbers(c["northing"])
    la, la_p, la_bad = numbers(c["latitude"])
    lo, lo_p, lo_bad = numbers(c["longitude"])
    with np.errstate(invalid="ignore"):
        rej.reject((e < 0) | (e > 600_000) | (no < 0) | (no > 1_300_000), RejectReason.INVALID_LOCATION_DATA_RANGE,
                   "easting must be in 0..600000 and northing in 0..1300000 (OSGB36)")
        rej.reject((la < 49.5) | (la > 61.5) | (lo < -8.5) | (lo > 2.6), RejectReason.INVALID_LOCATION_DATA_RANGE,
                   "latitude must be in 49.5..61.5 and longitude in -8.5..2.6 (WGS84)")
    en_p, ll_p = e_p | no_p, la_p | lo_p
    rej.reject(~en_p & ~ll_p, RejectReason.MISSING_LOCATION_DATA, "no easting/northing or latitude/longitude")
    rej.reject((en_p & ~(e_p & no_p)) | (ll_p & ~(la_p & lo_p)), RejectReason.DEPENDENT_LOCATION_DATA,
               "easting goes with northing, latitude with longitude")
    rej.reject(en_p & ll_p, RejectReason.MULTIPLE_LOCATION_DATA_TYPES,
               "both easting/northing and latitude/longitude are filled")
    datum = np.asarray([_datum(d) for d in c["datum"]], dtype=object)
    wrong = ((datum != "") & ~np.isin(datum, ["OSGB36", "WGS84"])) | (en_p & (datum == "WGS84")) | (
        ll_p & (datum == "OSGB36"))
    rej.reject(wrong, RejectReason.MISSING_LOCATION_DATA,
               "datum must name the pair given: OSGB36 for easting/northing, WGS84 for latitude/longitude")
    rej.reject(e_bad | no_bad | la_bad | lo_bad, RejectReason.INVALID_NUMBER, "a location value is not a number")
    control = np.zeros(n, dtype=bool)
    for name in CRIME_MAPPING_COLUMNS:
        control |= np.asarray([_CONTROL.search(v) is not None for v in c[name]], dtype=bool)
    rej.reject(control, RejectReason.INVALID_TEXT, "a field holds a control character")
    x, y, lat, lon = (np.full(n, np.nan) for _ in range(4))
    m = en_p & rej.ok
    if m.any():
        x[m], y[m] = crs.from_bng(e[m], no[m])
        lon[m], lat[m] = BNG_CRS().to_wgs84(e[m], no[m])
    m = ll_p & rej.ok
    if m.any():
        x[m], y[m] = crs.from_wgs84(lo[m], la[m])
        lat[m], lon[m] = la[m], lo[m]
    rej.reject(~(np.isfinite(x) & np.isfinite(y) & np.isfinite(lat) & np.isfinite(lon)),
               RejectReason.INVALID_LOCATION_DATA_RANGE, f"location outside the grid of {crs.crs} (OSTN15)")
    ok = rej.ok
    ref = np.asarray([f"{k}/{r}" for k, r in zip(code, c["crimeReference"], strict=True)], dtype=object)
    version = np.ones(n, dtype=np.int64)
    merged = np.full(n, pd.NA, dtype=object)
    contents: dict[str, dict[tuple, tuple[int, int]]] = {}
    for i in np.flatnonzero(ok):
        content = (ctype[i], int(t_from[i]), int(t_to[i]), e[i], no[i], la[i], lo[i], c["crimeText"][i])
        content = tuple("" if isinstance(v, float) and math.isnan(v) else v for v in content)
        known = contents.setdefault(ref[i], {})
        if content in known:
            version[i], merged[i] = known[content]
        else:
            version[i] = len(known) + 1
            known[content] = (int(version[i]), int(table.row[i]))
    cols = {
        "crime_ref": ref, "crime_version": version, "offence": ctype,
        "offence_group": np.asarray([offence_group(t) for t in ctype], dtype=object),
        "x_m": x, "y_m": y, "lat": lat, "lon": lon, "committed_from": t_from, "committed_to": t_to,
        "radius_m": np.nan if radius_m is None else radius_m, "force": code, "batch_id": batch,
        "source_format": "crime_mapping",
    }
    keep = frame[["crimeTypeDescription", "crimeReference", "datum", "crimeText"]]
    acc = _frame(ok, cols, table.row, merged, keep)
    notes = _merged_note(merged, ok, "identical re-sends of a crime")
    live = ok & pd.isna(merged)
    forces = sorted(set(code[live]))
    batches = sorted(set(batch[live]))
    if len(forces) > 1:
        notes.append({"kind": "file", "code": RejectReason.MULTIPLE_POLICE_FORCES.value, "values": forces,
                      "detail": f"{len(forces)} police forces in one file"})
    if len(batches) > 1:
        notes.append({"kind": "file", "code": RejectReason.MULTIPLE_BATCH_IDS.value, "values": batches,
                      "detail": f"{len(batches)} batch ids in one file; each kept apart (column batch_id)"})
    if n and not ok.any():
        notes.append({"kind": "file", "code": RejectReason.ALL_RECORDS_FAILED.value, "rows": n,
                      "detail": "every row of the file was rejected"})
    info = {"layout": "crime_mapping", "encoding": table.encoding, **_info(crs),
            "note": "easting/northing (OSGB36) converted with OSTN15, not the crime-mapping service's "
                    "Helmert approximation"}
    return ReadResult(acc, rej.rejected_frame(), n, [str(path)], notes, info)



def distinct_crimes(accepted: pd.DataFrame) -> pd.DataFrame:
    """The crimes to match: accepted rows without those merged into an earlier row (``merged_into``)."""
    if "merged_into" not in accepted.columns:
        return accepted
    return accepted[accepted["merged_into"].isna().to_numpy()].reset_index(drop=True)
