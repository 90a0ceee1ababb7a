"""Appointments: a subject, a window and a geofence per row (SPEC §2, appointments).

``appointment_id, subject_id, start, end`` and a geofence, whichever form is filled: a circle
``lat, lon, radius_m`` or ``geofence_wkt`` (WGS84, x y = lon lat); the unused form's columns
may be absent; ``appointment_type`` is optional. Start and end may be local wall-clock times
with a named zone (``tz="Europe/London"``), converted to UTC across the BST/GMT changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.crs import BNG, StoreCRS
from trailmon.errors import InputError
from trailmon.io._csv import (
    EXTRA_PREFIX,
    carried,
    column,
    find_column,
    read_csv_strings,
    time_column,
    utc_series,
)
from trailmon.io._time import NAT, check_tz
from trailmon.io.geofence import Geofences, geofences_from_columns
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason
from trailmon.report._columns import APPOINTMENT_INPUT

__all__ = ["read_appointments"]

GEOFENCE_COLUMNS = {"lat", "lon", "radius_m", "geofence_wkt"}
_USED = {"appointment_id", "subject_id", "start", "end", "appointment_type"} | GEOFENCE_COLUMNS


def read_appointments(
    path: str | Path,
    *,
    crs: StoreCRS | None = None,
    tz: str | None = None,
) -> ReadResult:
    """Read an appointments CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    crs : StoreCRS, optional
        The store's projected CRS (default British National Grid, EPSG:27700, with OSTN15).
    tz : str, optional
        IANA zone of start/end values written without an offset (``Europe/London``).

    Returns
    -------
    ReadResult
        ``accepted``: the columns ``APPOINTMENT_INPUT`` (``start``/``end`` as
        ``datetime64[ns, UTC]``; a circle as ``center_x_m, center_y_m, radius_m`` in the store
        CRS with ``geometry`` None, a polygon as a shapely (Multi)Polygon in the store CRS with
        NaN circle columns), then ``row``, then the columns carried through.

    Raises
    ------
    InputError
        When a required column (``appointment_id``, ``subject_id``, ``start``, ``end``) or
        both geofence forms are missing from the header.
    TimezoneError
        When start/end carry no offset and ``tz`` is None.

    Notes
    -----
    Rules, first broken wins: ``WRONG_COLUMN_COUNT``; ``MISSING_ID`` (empty appointment_id);
    ``MISSING_SUBJECT``; ``BAD_TIMESTAMP`` / ``NO_TIMEZONE`` for start, then end;
    ``BAD_WINDOW`` (end before start); then the geofence rules of
    :func:`trailmon.io.geofence.geofences_from_columns` (``BAD_GEOFENCE``,
    ``BAD_COORDINATE``, ``BAD_RADIUS``, ``OUTSIDE_GRID``).
    """
    check_tz(tz)
    crs = crs or StoreCRS(BNG)
    table = read_csv_strings(path)
    frame = table.frame.drop(columns=[c for c in table.frame.columns if str(c).startswith(EXTRA_PREFIX)])
    for name in ("appointment_id", "subject_id", "start", "end"):
        column(frame, name, required=True, path=str(path))
    _check_geofence_columns(frame, path)
    n = len(frame)
    rej = Rejector(table.frame, path, table.row)
    rej.reject(table.ragged, RejectReason.WRONG_COLUMN_COUNT, f"expected {table.n_columns} fields as in the header")
    ident, subject = column(frame, "appointment_id"), column(frame, "subject_id")
    rej.reject(ident == "", RejectReason.MISSING_ID, "appointment_id is empty")
    rej.reject(subject == "", RejectReason.MISSING_SUBJECT, "subject_id is empty")
    start, end = np.full(n, NAT, dtype=np.int64), np.full(n, NAT, dtype=np.int64)
    time_column(frame, "start", tz, rej, start, required=True)
    time_column(frame, "end", tz, rej, end, required=True)
    rej.reject((start != NAT) & (end != NAT) & (end < start), RejectReason.BAD_WINDOW, "end is before start")
    geo = geofences_from_columns(column(frame, "lat"), column(frame, "lon"), column(frame, "radius_m"),
                                 column(frame, "geofence_wkt"), crs)
    apply_geofence_reasons(rej, geo)
    ok = rej.ok
    acc = pd.DataFrame({
        "appointment_id": ident[ok], "subject_id": subject[ok], "start": utc_series(start[ok]),
        "end": utc_series(end[ok]), "appointment_type": column(frame, "appointment_type")[ok],
        "center_x_m": geo.center_x_m[ok], "center_y_m": geo.center_y_m[ok], "radius_m": geo.radius_m[ok],
        "geometry": pd.Series(geo.geometry[ok], dtype=object),
    }, columns=APPOINTMENT_INPUT)
    acc["row"] = table.row[ok]
    extras = carried(frame, _USED)
    for c in extras.columns:
        if c not in acc.columns:
            acc[c] = extras[c].to_numpy(dtype=object)[ok]
    info = {"layout": "appointments", "tz": tz, "encoding": table.encoding,
            "transformation": crs.info.as_dict()}
    return ReadResult(acc, rej.rejected_frame(), n, [str(path)], [], info)


def _check_geofence_columns(frame: pd.DataFrame, path: str | Path) -> None:
    circle = all(find_column(frame, c) is not None for c in ("lat", "lon", "radius_m"))
    if not circle and find_column(frame, "geofence_wkt") is None:
        raise InputError(f"{str(path)!r} has no geofence columns: give lat, lon, radius_m (a circle) or "
                         f"geofence_wkt (a WGS84 polygon); its columns are {list(map(str, frame.columns))}")


def apply_geofence_reasons(rej: Rejector, geo: Geofences) -> None:
    """Reject the rows whose geofence failed, each with its own reason and detail."""
    reasons = [r for r in dict.fromkeys(geo.reason) if r is not None]
    for reason in reasons:
        rej.reject(np.equal(geo.reason, reason), reason, geo.detail)
